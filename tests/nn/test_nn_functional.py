"""nn.functional against torch.nn.functional: every function under torch's name, the same
values and gradients for the same inputs (float32 and float64), and gradchecks of the
composites in float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn.functional as F

if torch is not None:  # torch-side definitions of the parity tests
    TF = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def close(ours, theirs, dtype, what=""):
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def parity(fo, ft, arrays, dtype, rng, grads=None):
    """fo(*ours) vs ft(*torch's) for float arrays (cast to dtype, all differentiable unless
    `grads` says which) and any other arguments passed through."""
    grads = (
        grads
        if grads is not None
        else [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    )
    ours, theirs = [], []
    for a, g in zip(arrays, grads, strict=True):
        if isinstance(a, np.ndarray):
            a = a.astype(dtype) if a.dtype.kind == "f" else a
            ours.append(at.tensor(a, requires_grad=g))
            theirs.append(torch.tensor(a, requires_grad=g))
        else:
            ours.append(a)
            theirs.append(a)
    yo, yt = fo(*ours), ft(*theirs)
    close(yo, yt, dtype, "output")
    up = rng.normal(size=tuple(yt.shape)).astype(dtype)
    yo.backward(at.tensor(up))
    yt.backward(torch.tensor(up))
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            close(o.grad, t.grad, dtype, f"grad of argument {i}")


def x_with_kinks(rng, shape=(4, 6)):
    x = rng.normal(scale=2.0, size=shape)
    x.reshape(-1)[:5] = [0.0, 1.0, -1.0, 25.0, -25.0]
    return x


UNARY = [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.3}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("elu", {"alpha": 0.7}), ("tanh", {}), ("sigmoid", {}),
    ("silu", {}), ("softplus", {"beta": 0.5, "threshold": 5.0}), ("hardtanh", {}),
    ("relu6", {}), ("logsigmoid", {}), ("selu", {}), ("softmax", {"dim": 1}),
    ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1}),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", UNARY, ids=[f"{n}{k}" for n, k in UNARY])
def test_unary_parity(name, kw, dtype, rng):
    parity(
        lambda x: getattr(F, name)(x, **kw),
        lambda x: getattr(TF, name)(x, **kw),
        [x_with_kinks(rng)],
        dtype,
        rng,
    )


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype, rng):
    parity(
        F.linear,
        TF.linear,
        [rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)],
        dtype,
        rng,
    )
    parity(F.linear, TF.linear, [rng.normal(size=(3, 4)), rng.normal(size=(5, 4))], dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(dtype, rng):
    x = rng.normal(loc=3, scale=2, size=(2, 3, 4))
    w, b = rng.uniform(0.5, 1.5, size=(3, 4)), rng.normal(size=(3, 4))
    parity(
        lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-3),
        lambda x, w, b: TF.layer_norm(x, (3, 4), w, b, 1e-3),
        [x, w, b],
        dtype,
        rng,
    )
    parity(lambda x: F.layer_norm(x, [4]), lambda x: TF.layer_norm(x, [4]), [x], dtype, rng)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.layer_norm(at.randn(2, 3), (4,))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (2, 3, 2, 2)])
def test_batch_norm(shape, training, dtype, rng):
    x = rng.normal(loc=1, scale=2, size=shape)
    w, b = rng.uniform(0.5, 1.5, size=3), rng.normal(size=3)
    rm, rv = rng.normal(size=3).astype(dtype), rng.uniform(0.5, 2, size=3).astype(dtype)
    rm_o, rv_o = at.tensor(rm), at.tensor(rv)
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    parity(
        lambda x, w, b: F.batch_norm(x, rm_o, rv_o, w, b, training, 0.2, 1e-4),
        lambda x, w, b: TF.batch_norm(x, rm_t, rv_t, w, b, training, 0.2, 1e-4),
        [x, w, b],
        dtype,
        rng,
    )
    close(rm_o, rm_t, dtype, "running_mean")
    close(rv_o, rv_t, dtype, "running_var")


def test_batch_norm_gradcheck(rng):
    x = at.tensor(rng.normal(size=(4, 3, 2)), requires_grad=True)
    w = at.tensor(rng.uniform(0.5, 1.5, size=3), requires_grad=True)
    b = at.tensor(rng.normal(size=3), requires_grad=True)
    assert at.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (x, w, b))
    assert at.gradgradcheck(lambda x: F.batch_norm(x, None, None, None, None, True), (x,))
    ln_w = at.tensor(rng.uniform(0.5, 1.5, size=2), requires_grad=True)
    assert at.gradcheck(lambda x, w: F.layer_norm(x, (2,), w), (x, ln_w))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(dtype, rng):
    idx = rng.integers(0, 6, size=(2, 4))
    idx[0, :2] = [2, 2]
    parity(
        lambda w: F.embedding(at.tensor(idx), w, padding_idx=2),
        lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=2),
        [rng.normal(size=(6, 3))],
        dtype,
        rng,
    )


@needs_torch
def test_embedding_max_norm(rng):
    w = rng.normal(scale=3, size=(6, 3)).astype(np.float32)
    idx = np.array([[0, 1], [1, 5]])
    wo, wt = at.tensor(w.copy()), torch.tensor(w.copy())
    yo = F.embedding(at.tensor(idx), wo, max_norm=1.0)
    yt = TF.embedding(torch.tensor(idx), wt, max_norm=1.0)
    close(yo, yt, np.float32)
    close(wo, wt, np.float32, "weight renormalised in place")


@needs_torch
def test_one_hot_and_pad(rng):
    idx = rng.integers(0, 5, size=(3, 4))
    oh = F.one_hot(at.tensor(idx), 6)
    toh = TF.one_hot(torch.tensor(idx), 6)
    assert oh.dtype == np.int64 and oh.numpy().tolist() == toh.numpy().tolist()
    assert F.one_hot(at.tensor([0, 2])).shape == (2, 3)
    for mode, p in [
        ("constant", (1, 2, 0, 1)),
        ("reflect", (2, 1, 1, 2)),
        ("replicate", (1, 1, 2, 0)),
        ("circular", (1, 2, 2, 1)),
    ]:
        x = rng.normal(size=(1, 2, 3, 4))
        parity(
            lambda x, m=mode, p=p: F.pad(x, p, mode=m),
            lambda x, m=mode, p=p: TF.pad(x, p, mode=m),
            [x],
            np.float64,
            rng,
        )


def test_dropout_functional():
    x = at.ones(100, 100, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    y = F.dropout(x, 0.5, generator=at.Generator().manual_seed(0))
    y2 = F.dropout(x, 0.5, generator=at.Generator().manual_seed(0))
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())
    assert set(np.unique(y.detach().numpy())) == {0.0, 2.0}
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)
    z = F.dropout2d(at.ones(4, 8, 3, 3), 0.5).numpy().reshape(4, 8, 9)
    assert np.all((z == 0).all(-1) | (z == 2).all(-1))
    z1 = F.dropout1d(at.ones(4, 8, 5), 0.5).numpy()
    assert np.all((z1 == 0).all(-1) | (z1 == 2).all(-1))


LOSS_FNS = [
    ("mse_loss", {}), ("l1_loss", {"reduction": "sum"}), ("huber_loss", {"delta": 0.5}),
    ("smooth_l1_loss", {"beta": 0.5, "reduction": "none"}),
    ("binary_cross_entropy_with_logits", {}),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", LOSS_FNS, ids=[n for n, _ in LOSS_FNS])
def test_loss_functions_under_torch_names(name, kw, dtype, rng):
    x, y = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4))
    parity(
        lambda a, b: getattr(F, name)(a, b, **kw),
        lambda a, b: getattr(TF, name)(a, b, **kw),
        [x, y],
        dtype,
        rng,
    )


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_nll_bce_functions(dtype, rng):
    x = rng.normal(size=(5, 4))
    t = rng.integers(0, 4, size=5)
    parity(
        lambda x: F.cross_entropy(x, at.tensor(t), label_smoothing=0.1),
        lambda x: TF.cross_entropy(x, torch.tensor(t), label_smoothing=0.1),
        [x],
        dtype,
        rng,
    )
    parity(
        lambda x: F.nll_loss(F.log_softmax(x, 1), at.tensor(t), reduction="sum"),
        lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(t), reduction="sum"),
        [x],
        dtype,
        rng,
    )
    p, y = rng.uniform(0.1, 0.9, size=(5, 4)), rng.uniform(size=(5, 4))
    parity(F.binary_cross_entropy, TF.binary_cross_entropy, [p, y], dtype, rng)


@needs_torch
@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    fn=st.sampled_from(["gelu", "elu", "leaky_relu", "softplus", "silu", "logsigmoid"]),
    seed=st.integers(0, 2**16),
)
def test_activations_any_shape(shape, fn, seed):
    rng = np.random.default_rng(seed)
    parity(getattr(F, fn), getattr(TF, fn), [rng.normal(scale=3, size=shape)], np.float64, rng)


def test_activation_composites_gradcheck(rng):
    x = at.tensor(rng.normal(scale=2, size=(3, 4)) + 0.01, requires_grad=True)
    for fn in [
        F.gelu,
        lambda x: F.gelu(x, approximate="tanh"),
        F.elu,
        F.softplus,
        F.silu,
        F.logsigmoid,
        lambda x: F.leaky_relu(x, 0.2),
        F.selu,
    ]:
        assert at.gradcheck(fn, (x,))
        assert at.gradgradcheck(fn, (x,))


@needs_torch
def test_convolution_functions_are_exported():
    for name in [
        "conv1d",
        "conv2d",
        "conv_transpose2d",
        "max_pool1d",
        "max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
    ]:
        assert callable(getattr(F, name)), name
    x, w = np.ones((1, 1, 4, 4), np.float32), np.ones((2, 1, 3, 3), np.float32)
    out = F.conv2d(at.tensor(x), at.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(out, TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy())

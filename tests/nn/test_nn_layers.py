"""Layers against torch: the same weights (copied with load_state_dict from numpy) and inputs
give the same outputs, input gradients, parameter gradients and buffers, in float32 and
float64; default initialisations follow torch's; composite layers pass gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
if torch is not None:  # torch-side definitions of the parity tests
    tnn = torch.nn
    TDT = {np.float32: torch.float32, np.float64: torch.float64}


def close(ours, theirs, dtype, what=""):
    a = ours.detach().numpy() if isinstance(ours, at.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def run_both(ours, theirs, x, dtype, rng, train=True, steps=1):
    """Copy torch's state into ours, run forward and backward (with a random upstream
    gradient) `steps` times, and compare outputs, grads and the final state."""
    theirs = theirs.to(TDT[dtype])
    ours.to(dtype)
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd, strict=True)
    ours.train(train)
    theirs.train(train)
    for step in range(steps):
        xa = x.astype(dtype) if x.dtype.kind == "f" else x
        xo = at.tensor(xa, requires_grad=xa.dtype.kind == "f")
        xt = torch.tensor(xa, requires_grad=xa.dtype.kind == "f")
        yo, yt = ours(xo), theirs(xt)
        close(yo, yt, dtype, f"output, step {step}")
        g = rng.normal(size=tuple(yt.shape)).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        yo.backward(at.tensor(g))
        yt.backward(torch.tensor(g))
        if xa.dtype.kind == "f":
            close(xo.grad, xt.grad, dtype, "input grad")
        tp = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            if tp[name].grad is None:
                assert p.grad is None or not p.grad.numpy().any(), name
            else:
                close(p.grad, tp[name].grad, dtype, f"grad of {name}")
    tsd = theirs.state_dict()
    for k, v in ours.state_dict().items():
        if v.dtype.kind == "f":
            close(v, tsd[k], dtype, f"state {k}")
        else:
            assert v.numpy().tolist() == tsd[k].numpy().tolist(), k


DTYPES = [np.float32, np.float64]


# -- Linear ----------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4)])
def test_linear_parity(dtype, bias, shape, rng):
    run_both(
        nn.Linear(4, 3, bias=bias), tnn.Linear(4, 3, bias=bias), rng.normal(size=shape), dtype, rng
    )


@needs_torch
def test_linear_dense_alias_and_default_init():
    assert nn.Dense is nn.Linear
    at.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives exactly this bound
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert w.shape == (300, 400) and b.shape == (300,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.95 * bound
    tw = tnn.Linear(400, 300).weight.detach().numpy()
    assert abs(w.std() - tw.std()) < 0.02 * tw.std()


def test_linear_wrong_feature_size_names_layer_and_sizes():
    lin = nn.Linear(4, 3)
    with pytest.raises(RuntimeError) as e:
        lin(at.randn(2, 5))
    msg = str(e.value)
    assert "Linear(in_features=4, out_features=3)" in msg and "5" in msg and "4" in msg
    with pytest.raises(RuntimeError, match="Linear.*expected 4"):
        lin(at.randn(2, 3, 7))


# -- activations -----------------------------------------------------------------------------
ACTS = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("Sigmoid", {}),
    ("Tanh", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("ELU", {}),
    ("ELU", {"alpha": 0.5}), ("Softmax", {"dim": 1}), ("Softmax", {"dim": 0}),
    ("LogSoftmax", {"dim": 1}), ("LogSoftmax", {"dim": -1}), ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}), ("SiLU", {}), ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("ReLU6", {}), ("SELU", {}),
    ("LogSigmoid", {}), ("Identity", {}),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTS, ids=[f"{n}{k}" for n, k in ACTS])
def test_activation_parity(name, kw, dtype, rng):
    x = rng.normal(scale=3.0, size=(4, 7))
    x[0, :4] = [0.0, -1.0, 1.0, 6.0]  # kinks and clamp bounds, where gradients are conventions
    x[1, :2] = [40.0, -40.0]  # saturation
    run_both(getattr(nn, name)(**kw), getattr(tnn, name)(**kw), x, dtype, rng)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("GELU", {}),
        ("GELU", {"approximate": "tanh"}),
        ("ELU", {}),
        ("Softplus", {"beta": 2.0}),
        ("SiLU", {}),
        ("LogSigmoid", {}),
        ("SELU", {}),
    ],
)
def test_activation_gradcheck(name, kw, rng):
    x = at.tensor(rng.normal(size=(3, 4)) * 2 + 0.05, requires_grad=True)
    m = getattr(nn, name)(**kw)
    assert at.gradcheck(m, (x,))
    assert at.gradgradcheck(m, (x,))


@needs_torch
def test_softmax_implicit_dim_warns_like_torch():
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(at.tensor(x))
    with pytest.warns(UserWarning):
        ty = tnn.Softmax()(torch.tensor(x))
    close(y, ty, np.float32)


# -- dropout ---------------------------------------------------------------------------------
def test_dropout_train_and_eval():
    at.manual_seed(0)
    d = nn.Dropout(0.25)
    x = at.ones(200, 100, requires_grad=True)
    y = d(x)
    v = y.detach().numpy()
    kept = v != 0
    assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(kept.mean() - 0.75) < 0.01
    assert v.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), kept / np.float32(0.75))  # grad = mask / (1-p)
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).detach().numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout2d_drops_whole_channels():
    at.manual_seed(1)
    x = at.ones(8, 16, 5, 5)
    v = nn.Dropout2d(0.5)(x).numpy()
    per_channel = v.reshape(8, 16, 25)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    d = nn.Dropout2d(0.5).eval()
    assert d(x) is x


# -- embedding -------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_parity(dtype, padding_idx, rng):
    idx = rng.integers(0, 10, size=(3, 5))
    idx[0, :3] = [0, 9, 0]  # padding rows (0 and 9) present, 0 repeated
    run_both(
        nn.Embedding(10, 4, padding_idx=padding_idx),
        tnn.Embedding(10, 4, padding_idx=padding_idx),
        idx,
        dtype,
        rng,
    )


def test_embedding_init_padding_and_errors():
    at.manual_seed(0)
    e = nn.Embedding(1000, 20, padding_idx=3)
    w = e.weight.detach().numpy()
    assert not w[3].any()
    assert abs(w.std() - 1.0) < 0.02 and abs(w.mean()) < 0.02  # N(0, 1), as torch
    out = e(at.tensor([[3, 4]]))
    out.sum().backward()
    assert not e.weight.grad.numpy()[3].any() and e.weight.grad.numpy()[4].all()
    with pytest.raises(IndexError, match="index 1000 is out of range.*1000 rows"):
        e(at.tensor([1000]))
    with pytest.raises(TypeError, match="integer"):
        e(at.tensor([1.0]))
    pre = nn.Embedding.from_pretrained(at.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(at.tensor([1])).tolist() == [[3.0, 4.0]]


# -- normalisation ---------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"momentum": None},
        {"affine": False},
        {"bias": False},
        {"track_running_stats": False},
        {"momentum": 0.3, "eps": 1e-3},
    ],
)
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm1d_parity(dtype, kw, shape, rng):
    x = rng.normal(loc=2.0, scale=3.0, size=shape)
    ours, theirs = nn.BatchNorm1d(3, **kw), tnn.BatchNorm1d(3, **kw)
    if kw.get("affine", True):
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    run_both(ours, theirs, x, dtype, rng, train=True, steps=3)
    # eval mode uses the running statistics (or the batch ones when none are tracked)
    run_both(ours, theirs, x * 0.5 + 1, dtype, rng, train=False)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm2d_parity(dtype, rng):
    ours, theirs = nn.BatchNorm2d(4), tnn.BatchNorm2d(4)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    x = rng.normal(loc=-1.0, scale=2.0, size=(3, 4, 5, 6))
    run_both(ours, theirs, x, dtype, rng, train=True, steps=2)
    run_both(ours, theirs, x, dtype, rng, train=False)


def test_batchnorm_errors_and_buffers():
    bn = nn.BatchNorm1d(3)
    assert [n for n, _ in bn.named_buffers()] == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    assert bn.num_batches_tracked.dtype == np.int64
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(at.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="BatchNorm1d\\(3\\).*4 channels"):
        bn(at.randn(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(at.randn(1, 3))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(at.randn(2, 3))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-2}])
@pytest.mark.parametrize("norm_shape,shape", [((5,), (3, 5)), ((4, 5), (2, 3, 4, 5)), (5, (5,))])
def test_layernorm_parity(dtype, kw, norm_shape, shape, rng):
    ours, theirs = nn.LayerNorm(norm_shape, **kw), tnn.LayerNorm(norm_shape, **kw)
    if kw.get("elementwise_affine", True):
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    run_both(ours, theirs, rng.normal(loc=1.0, scale=2.0, size=shape), dtype, rng)


def test_norm_layers_gradcheck(rng):
    ln = nn.LayerNorm((3, 4)).double()
    with at.no_grad():
        ln.weight.copy_(rng.uniform(0.5, 1.5, (3, 4)))
        ln.bias.copy_(rng.normal(size=(3, 4)))
    x = at.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    assert at.gradcheck(lambda x, w, b: ln(x), (x, ln.weight, ln.bias))
    assert at.gradgradcheck(lambda x: ln(x), (x,))
    bn = nn.BatchNorm2d(2).double()
    x4 = at.tensor(rng.normal(size=(3, 2, 2, 2)), requires_grad=True)
    assert at.gradcheck(lambda x, w, b: bn(x), (x4, bn.weight, bn.bias))
    bn1 = nn.BatchNorm1d(3, affine=False).double()
    assert at.gradcheck(bn1, (at.tensor(rng.normal(size=(4, 3)), requires_grad=True),))


@needs_torch
@settings(max_examples=15, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    tail=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_layernorm_parity_any_shape(lead, tail, seed):
    rng = np.random.default_rng(seed)
    run_both(
        nn.LayerNorm(tail),
        tnn.LayerNorm(tail),
        rng.normal(size=tuple(lead + tail)),
        np.float64,
        rng,
    )


# -- flatten ---------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("kw", [{}, {"start_dim": 0}, {"start_dim": 1, "end_dim": 2}])
def test_flatten_parity(kw, rng):
    run_both(nn.Flatten(**kw), tnn.Flatten(**kw), rng.normal(size=(2, 3, 4, 5)), np.float32, rng)


@needs_torch
def test_unflatten_parity(rng):
    run_both(
        nn.Unflatten(1, (2, 3)),
        tnn.Unflatten(1, (2, 3)),
        rng.normal(size=(4, 6, 2)),
        np.float32,
        rng,
    )
    run_both(
        nn.Unflatten(-1, (2, -1)),
        tnn.Unflatten(-1, (2, -1)),
        rng.normal(size=(4, 6)),
        np.float32,
        rng,
    )
    with pytest.raises(RuntimeError, match="Unflatten"):
        nn.Unflatten(1, (4, 4))(at.randn(2, 6))


# -- a whole model ---------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_model_parity(dtype, rng):
    def build(lib):
        return lib.Sequential(
            lib.Flatten(),
            lib.Linear(12, 16),
            lib.BatchNorm1d(16),
            lib.GELU(),
            lib.LayerNorm(16),
            lib.Linear(16, 8),
            lib.Tanh(),
            lib.Linear(8, 3),
        )

    run_both(build(nn), build(tnn), rng.normal(size=(6, 3, 4)), dtype, rng, steps=2)


@needs_torch
def test_linear_double_backward_matches_torch(rng):
    """A gradient penalty: d/dW of |d(loss)/dx|^2 needs the differentiable backward path."""
    x = rng.normal(size=(4, 3))
    tl = tnn.Linear(3, 2).double()
    ol = nn.Linear(3, 2).double()
    ol.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
    xo, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (go,) = at.autograd.grad(ol(xo).tanh().sum(), [xo], create_graph=True)
    (gt,) = torch.autograd.grad(tl(xt).tanh().sum(), [xt], create_graph=True)
    close(go, gt, np.float64, "first-order grad")
    (go * go).sum().backward()
    (gt * gt).sum().backward()
    close(ol.weight.grad, tl.weight.grad, np.float64, "weight grad of the penalty")
    close(ol.bias.grad, tl.bias.grad, np.float64, "bias grad of the penalty")
    close(xo.grad, xt.grad, np.float64, "input grad of the penalty")


@needs_torch
def test_batchnorm_load_without_num_batches_tracked_keeps_count():
    # torch treats a plain state dict that lacks num_batches_tracked (an old checkpoint) as
    # complete and keeps the module's current count
    t = torch.nn.Sequential(torch.nn.BatchNorm1d(3))
    o = nn.Sequential(nn.BatchNorm1d(3))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    t(torch.tensor(x))
    o(at.tensor(x))
    sd = {k: v for k, v in t.state_dict().items() if "num_batches" not in k}
    t_keys = t.load_state_dict(sd)
    o_keys = o.load_state_dict({k: at.tensor(v.numpy()) for k, v in sd.items()})
    assert list(o_keys.missing_keys) == list(t_keys.missing_keys) == []
    assert int(o[0].num_batches_tracked.item()) == int(t[0].num_batches_tracked.item()) == 1
    part = {"0.weight": torch.ones(3)}
    t_keys = t.load_state_dict(part, strict=False)
    o_keys = o.load_state_dict({"0.weight": at.ones(3)}, strict=False)
    assert sorted(o_keys.missing_keys) == sorted(t_keys.missing_keys)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_scale_grad_by_freq_matches_torch(dtype):
    # each occurrence's gradient is divided by its index's count in the batch; the padding
    # row still gets none, and the looked-up values are exact
    rng = np.random.default_rng(3)
    w = rng.standard_normal((5, 3)).astype(dtype)
    idx = np.array([[0, 2, 2, 4], [4, 4, 1, 0]])
    g = rng.standard_normal((2, 4, 3)).astype(dtype)
    t = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, padding_idx=1,
                                           scale_grad_by_freq=True)  # fmt: skip
    o = nn.Embedding.from_pretrained(at.tensor(w), freeze=False, padding_idx=1,
                                     scale_grad_by_freq=True)  # fmt: skip
    to, oo = t(torch.tensor(idx)), o(at.tensor(idx))
    np.testing.assert_array_equal(oo.detach().numpy(), to.detach().numpy())
    to.backward(torch.tensor(g))
    oo.backward(at.tensor(g))
    assert o.weight.grad.dtype == o.weight.dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(o.weight.grad.numpy(), t.weight.grad.numpy(), **tol)

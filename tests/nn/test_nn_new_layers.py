"""The layers and functions modern models use beside attention, against torch: values and
gradients (inputs and parameters) over their options, float32 and float64; gradcheck of
the composites; hypothesis over shapes for the normalisations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
import nn.functional as F

if torch is not None:  # torch-side definitions of the parity tests
    TF = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
if torch is not None:  # torch-side definitions of the parity tests
    TDT = {np.float32: torch.float32, np.float64: torch.float64}
DTYPES = [np.float32, np.float64]


def close(a, b, dtype, what=""):
    a = a.detach().numpy()
    b = b.detach().numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def fn_both(ours, theirs, arrays, dtype, rng, grad=(0,)):
    """ours(*tensors) vs theirs(*tensors): value, and gradients of the float arrays whose
    positions are in `grad`."""
    ao = [at.tensor(a.astype(dtype) if a.dtype.kind == "f" else a, requires_grad=i in grad)
          for i, a in enumerate(arrays)]  # fmt: skip
    tt = [torch.tensor(a.astype(dtype) if a.dtype.kind == "f" else a, requires_grad=i in grad)
          for i, a in enumerate(arrays)]  # fmt: skip
    yo, yt = ours(*ao), theirs(*tt)
    close(yo, yt, dtype, "value")
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    (yo * at.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for i in grad:
        close(ao[i].grad, tt[i].grad, dtype, f"grad {i}")


def module_both(am, tm, x, dtype, rng):
    tm = tm.to(TDT[dtype])
    am = am.to(dtype)
    am.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()}, strict=True)
    fn_both(am, tm, [x], dtype, rng)
    tp = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        close(p.grad, tp[name].grad, dtype, name)


# -- activations -----------------------------------------------------------------------------
X = np.array([-30.0, -3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.5, 15.0, 30.0])


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.GELU(),
        lambda m: m.GELU(approximate="tanh"),
        lambda m: m.SiLU(),
        lambda m: m.Mish(),
        lambda m: m.Softplus(),
        lambda m: m.Softplus(beta=2.0, threshold=5.0),
        lambda m: m.Hardtanh(-0.5, 2.0),
        lambda m: m.PReLU(),
        lambda m: m.PReLU(init=0.1),
    ],
)
def test_activation_modules_parity(dtype, make, rng):
    module_both(make(nn), make(torch.nn), X, dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_per_channel(dtype, rng):
    tm = torch.nn.PReLU(3)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor([0.1, -0.2, 0.5]))
    module_both(nn.PReLU(3), tm, rng.normal(size=(2, 3, 4)), dtype, rng)
    with pytest.raises(RuntimeError, match="channel size"):  # torch: a 1-D input is 1 channel
        nn.PReLU(3).to(dtype)(at.tensor(rng.normal(size=(3,)).astype(dtype)))


@needs_torch
def test_activation_reprs():
    assert repr(nn.PReLU(3)) == repr(torch.nn.PReLU(3))
    assert repr(nn.Mish()) == repr(torch.nn.Mish())
    assert repr(nn.RMSNorm(4)) == repr(torch.nn.RMSNorm(4))
    assert repr(nn.GroupNorm(2, 4)) == repr(torch.nn.GroupNorm(2, 4))
    assert list(nn.GroupNorm(2, 4, bias=False).state_dict()) == ["weight"]


# -- normalisation ---------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(eps=1e-3), dict(elementwise_affine=False)])
@pytest.mark.parametrize("shape,norm", [((3, 5), 5), ((2, 3, 4), (3, 4))])
def test_rmsnorm_parity(dtype, kw, shape, norm, rng):
    tm = torch.nn.RMSNorm(norm, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(rng.normal(size=tm.weight.shape)))
    module_both(nn.RMSNorm(norm, **kw), tm, rng.normal(size=shape), dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups,affine", [(1, True), (2, True), (6, False), (3, True)])
@pytest.mark.parametrize("shape", [(2, 6), (2, 6, 5), (2, 6, 3, 4)])
def test_groupnorm_parity(dtype, groups, affine, shape, rng):
    if shape == (2, 6) and groups == 6:
        pytest.skip("groups of one element: the true gradient is 0, torch's float32 one is noise")
    tm = torch.nn.GroupNorm(groups, 6, affine=affine)
    if affine:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(rng.normal(size=6)))
            tm.bias.copy_(torch.tensor(rng.normal(size=6)))
    module_both(nn.GroupNorm(groups, 6, affine=affine), tm, rng.normal(size=shape), dtype, rng)


def test_groupnorm_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(at.randn(2, 6), 4)


@needs_torch
@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), c=st.sampled_from([2, 4, 6]), rest=st.integers(2, 4),
       seed=st.integers(0, 9999))  # fmt: skip
def test_group_and_rms_norm_hypothesis_vs_torch(n, c, rest, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, rest))
    fn_both(lambda t: F.group_norm(t, 2), lambda t: TF.group_norm(t, 2), [x], np.float64, rng)
    fn_both(lambda t: F.rms_norm(t, (rest,)), lambda t: TF.rms_norm(t, (rest,)), [x],
            np.float64, rng)  # fmt: skip


def test_norm_composites_gradcheck(rng):
    x = at.tensor(rng.normal(size=(2, 4, 3)), requires_grad=True)
    w = at.tensor(rng.normal(size=4), requires_grad=True)
    b = at.tensor(rng.normal(size=4), requires_grad=True)
    assert at.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
    assert at.gradgradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
    w3 = at.tensor(rng.normal(size=3), requires_grad=True)
    assert at.gradcheck(lambda x, w: F.rms_norm(x, 3, w), (x, w3))
    a = at.tensor(np.array([0.2, -0.3, 0.4, 0.1]), requires_grad=True)
    assert at.gradcheck(lambda x, a: F.prelu(x, a), (x, a))
    assert at.gradcheck(lambda x: F.mish(x), (x,))


# -- embedding options -----------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw", [dict(padding_idx=1), dict(max_norm=1.0), dict(scale_grad_by_freq=True),
           dict(max_norm=0.5, norm_type=1.0, padding_idx=0)],
)  # fmt: skip
def test_embedding_options_parity(dtype, kw, rng):
    w = rng.normal(size=(6, 3)).astype(dtype)
    idx = np.array([[0, 1, 1, 4], [5, 1, 0, 0]])
    tm = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, **kw)
    am = nn.Embedding.from_pretrained(at.tensor(w), freeze=False, **kw)
    yt, yo = tm(torch.tensor(idx)), am(at.tensor(idx))
    close(yo, yt, dtype)
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    (yt * torch.tensor(g)).sum().backward()
    (yo * at.tensor(g)).sum().backward()
    close(am.weight.grad, tm.weight.grad, dtype, "weight grad")
    close(am.weight, tm.weight, dtype, "weight after max_norm renorm")


def test_embedding_from_pretrained_freeze_and_sparse_refused():
    e = nn.Embedding.from_pretrained(at.randn(4, 2))
    assert not e.weight.requires_grad
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(4, 2, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(at.tensor([0]), at.randn(4, 2), sparse=True)


# -- functions -------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_normalize_and_cosine_similarity_parity(dtype, rng):
    x = rng.normal(size=(3, 4))
    x[1] = 1e-9  # a (nearly) zero row: the eps branch
    for kw in (dict(), dict(p=1.0, dim=0), dict(eps=1e-3)):
        fn_both(
            lambda t, kw=kw: F.normalize(t, **kw),
            lambda t, kw=kw: TF.normalize(t, **kw),
            [x],
            dtype,
            rng,
        )
    y = rng.normal(size=(3, 4))
    for kw in (dict(), dict(dim=0), dict(eps=1e-4)):
        fn_both(lambda a, b, kw=kw: F.cosine_similarity(a, b, **kw),
                lambda a, b, kw=kw: TF.cosine_similarity(a, b, **kw), [x, y], dtype, rng,
                grad=(0, 1))  # fmt: skip
    fn_both(lambda a, b: F.cosine_similarity(a, b, dim=-1),
            lambda a, b: TF.cosine_similarity(a, b, dim=-1),
            [rng.normal(size=(2, 1, 4)), rng.normal(size=(3, 4))], dtype, rng,
            grad=(0, 1))  # fmt: skip


INTERP = [
    dict(size=(5, 7), mode="nearest"),
    dict(scale_factor=2, mode="nearest"),
    dict(scale_factor=1.7, mode="nearest"),
    dict(size=(3, 2), mode="nearest"),
    dict(size=(5, 7), mode="nearest-exact"),
    dict(scale_factor=0.6, mode="nearest-exact"),
    dict(size=(5, 7), mode="bilinear", align_corners=False),
    dict(size=(5, 7), mode="bilinear", align_corners=True),
    dict(scale_factor=1.5, mode="bilinear"),
    dict(scale_factor=(0.5, 2.5), mode="bilinear", align_corners=True),
    dict(size=(1, 1), mode="bilinear", align_corners=True),
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", INTERP)
def test_interpolate_2d_parity(dtype, kw, rng):
    x = rng.normal(size=(2, 3, 4, 5))
    fn_both(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw", [dict(size=9), dict(scale_factor=3), dict(size=7, mode="linear"),
           dict(scale_factor=0.5, mode="linear", align_corners=True)],
)  # fmt: skip
def test_interpolate_1d_parity(dtype, kw, rng):
    x = rng.normal(size=(2, 3, 6))
    fn_both(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], dtype, rng)


def test_interpolate_errors():
    x = at.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="align_corners"):
        F.interpolate(x, size=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, size=2, mode="bilinear", antialias=True)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_parity(dtype, reduction, log_target, rng):
    x = np.log(rng.dirichlet(np.ones(5), size=3))
    y = rng.dirichlet(np.ones(5), size=3)
    y[0, 2] = 0.0  # 0 log 0 = 0
    if log_target:
        y = np.log(rng.dirichlet(np.ones(5), size=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn_both(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
                [x, y], dtype, rng, grad=(0, 1) if log_target else (0,))  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_class_weights_with_ignore_and_smoothing(
    dtype, ignore_index, smoothing, reduction, rng
):
    x = rng.normal(size=(6, 4))
    t = np.array([0, 2, 3, 2, 1, 3])
    w = rng.uniform(0.2, 2.0, size=4)
    kw = dict(ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)
    fn_both(lambda a, wt: F.cross_entropy(a, at.tensor(t), weight=wt, **kw),
            lambda a, wt: TF.cross_entropy(a, torch.tensor(t), weight=wt, **kw),
            [x, w], dtype, rng)  # fmt: skip
    x4 = rng.normal(size=(2, 4, 3))
    t4 = np.array([[0, 2, 1], [3, 2, 2]])
    fn_both(lambda a, wt: F.cross_entropy(a, at.tensor(t4), weight=wt, **kw),
            lambda a, wt: TF.cross_entropy(a, torch.tensor(t4), weight=wt, **kw),
            [x4, w], dtype, rng)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_activations_parity(dtype, rng):
    for ours, theirs in (
        (F.silu, TF.silu), (F.mish, TF.mish), (lambda t: F.softplus(t, 0.5, 3.0),
                                               lambda t: TF.softplus(t, 0.5, 3.0)),
        (lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh")),
        (lambda t: F.hardtanh(t, -2.0, 1.0), lambda t: TF.hardtanh(t, -2.0, 1.0)),
    ):  # fmt: skip
        fn_both(ours, theirs, [X], dtype, rng)

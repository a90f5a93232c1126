"""Losses against torch: value and gradients (input, and weights where they are learnable
inputs) for every reduction and option, in float32 and float64; gradcheck in float64;
stability on extreme logits; clear errors on bad targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
import nn.functional as F

if torch is not None:  # torch-side definitions of the parity tests
    tnn = torch.nn
    TF = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def close(ours, theirs, dtype, what=""):
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def both(x, dtype=None, grad=False):
    """The same array as (ours, torch's) tensors; float arrays are cast to dtype."""
    if dtype is not None and x.dtype.kind == "f":
        x = x.astype(dtype)
    return at.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def compare_loss(ours_mod, torch_mod, x, target, dtype, rng, diff_target=False):
    """Value and gradients of input (and float target when diff_target) against torch."""
    xo, xt = both(x, dtype, grad=True)
    to, tt = both(target, dtype, grad=diff_target)
    lo, lt = ours_mod(xo, to), torch_mod(xt, tt)
    close(lo, lt, dtype, "loss")
    g = rng.normal(size=tuple(lt.shape)).astype(dtype)
    lo.backward(at.tensor(g))
    lt.backward(torch.tensor(g))
    close(xo.grad, xt.grad, dtype, "input grad")
    if diff_target:
        close(to.grad, tt.grad, dtype, "target grad")


# -- regression losses -----------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name,kw",
    [
        ("MSELoss", {}),
        ("L1Loss", {}),
        ("HuberLoss", {}),
        ("HuberLoss", {"delta": 0.5}),
        ("SmoothL1Loss", {}),
        ("SmoothL1Loss", {"beta": 0.3}),
        ("SmoothL1Loss", {"beta": 0.0}),
    ],
)
def test_regression_losses(name, kw, reduction, dtype, rng):
    x = rng.normal(size=(4, 5))
    y = rng.normal(size=(4, 5))
    y[0, :3] = x[0, :3] + np.array([0.5, -0.5, 0.3])  # on the Huber/SmoothL1 switch points
    compare_loss(
        getattr(nn, name)(reduction=reduction, **kw),
        getattr(tnn, name)(reduction=reduction, **kw),
        x,
        y,
        dtype,
        rng,
        diff_target=True,
    )


@needs_torch
def test_mse_broadcast_warns_like_torch(rng):
    x, y = rng.normal(size=(4, 1)), rng.normal(size=(4,))
    with pytest.warns(UserWarning, match="target size"):
        lo = F.mse_loss(at.tensor(x), at.tensor(y))
    with pytest.warns(UserWarning):
        lt = TF.mse_loss(torch.tensor(x), torch.tensor(y))
    close(lo, lt, np.float64)


# -- binary cross-entropy --------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(weighted, reduction, dtype, rng):
    p = rng.uniform(0.02, 0.98, size=(6, 3))
    y = rng.uniform(0, 1, size=(6, 3))
    w = rng.uniform(0.5, 2, size=(3,)).astype(dtype) if weighted else None
    ours = nn.BCELoss(weight=None if w is None else at.tensor(w), reduction=reduction)
    theirs = tnn.BCELoss(weight=None if w is None else torch.tensor(w), reduction=reduction)
    compare_loss(ours, theirs, p, y, dtype, rng, diff_target=True)


@needs_torch
def test_bce_clamps_log_like_torch():
    p = np.array([0.0, 1.0, 0.5, 1e-30], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    lo = F.binary_cross_entropy(at.tensor(p), at.tensor(y), reduction="none")
    lt = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none")
    close(lo, lt, np.float32)  # 100 where the log would be -inf
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(at.tensor([1.5]), at.tensor([1.0]))
    with pytest.raises(ValueError, match="target size"):
        nn.BCELoss()(at.tensor([0.5, 0.5]), at.tensor([1.0]))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits(opts, reduction, dtype, rng):
    x = rng.normal(scale=3, size=(5, 4))
    x[0, :3] = [0.0, 60.0, -60.0]  # the kink of |x| and saturation
    y = rng.uniform(0, 1, size=(5, 4))
    w = rng.uniform(0.5, 2, size=(4,)).astype(dtype) if opts in ("weight", "both") else None
    pw = rng.uniform(0.5, 3, size=(4,)).astype(dtype) if opts in ("pos_weight", "both") else None
    ours = nn.BCEWithLogitsLoss(
        weight=None if w is None else at.tensor(w),
        reduction=reduction,
        pos_weight=None if pw is None else at.tensor(pw),
    )
    theirs = tnn.BCEWithLogitsLoss(
        weight=None if w is None else torch.tensor(w),
        reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw),
    )
    compare_loss(ours, theirs, x, y, dtype, rng, diff_target=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# -- cross-entropy and NLL -------------------------------------------------------------------
CE_OPTS = [
    {}, {"ignore_index": 2}, {"label_smoothing": 0.1}, {"weight": True},
    {"weight": True, "ignore_index": 1}, {"weight": True, "label_smoothing": 0.25},
    {"weight": True, "ignore_index": 0, "label_smoothing": 0.2},
    {"ignore_index": 3, "label_smoothing": 0.3},
]  # fmt: skip


if torch is not None:  # torch-side definitions of the parity tests

    def _ce_modules(
        opts,
        dtype,
        rng,
        c,
        cls_ours=nn.CrossEntropyLoss,
        cls_torch=tnn.CrossEntropyLoss,
        reduction="mean",
    ):
        kw = dict(opts)
        kw.pop("weight", None)
        w = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype) if opts.get("weight") else None
        ours = cls_ours(weight=None if w is None else at.tensor(w), reduction=reduction, **kw)
        theirs = cls_torch(weight=None if w is None else torch.tensor(w), reduction=reduction, **kw)
        return ours, theirs


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", CE_OPTS, ids=[str(o) for o in CE_OPTS])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 2, 3), (5,)], ids=["NC", "NCd1d2", "C"])
def test_cross_entropy_class_indices(shape, opts, reduction, dtype, rng):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = rng.normal(scale=2, size=shape)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = rng.integers(0, c, size=tshape).astype(np.int64)
    if t.ndim:
        t.reshape(-1)[:2] = [opts.get("ignore_index", 0), 1]  # make sure ignored entries occur
    ours, theirs = _ce_modules(opts, dtype, rng, c, reduction=reduction)
    compare_loss(ours, theirs, x, t, dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [{}, {"label_smoothing": 0.2}, {"weight": True}, {"weight": True, "label_smoothing": 0.1}],
    ids=str,
)
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3), (4,)], ids=["NC", "NCd", "C"])
def test_cross_entropy_class_probabilities(shape, opts, reduction, dtype, rng):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = rng.normal(scale=2, size=shape)
    p = rng.uniform(size=shape)
    p = p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    ours, theirs = _ce_modules(opts, dtype, rng, c, reduction=reduction)
    compare_loss(ours, theirs, x, p, dtype, rng, diff_target=True)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [{}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": 0}],
    ids=str,
)
def test_nll_loss(opts, reduction, dtype, rng):
    x = np.log(rng.dirichlet(np.ones(4), size=7))
    t = rng.integers(0, 4, size=7)
    t[:2] = [0, 1]
    ours, theirs = _ce_modules(opts, dtype, rng, 4, nn.NLLLoss, tnn.NLLLoss, reduction)
    compare_loss(ours, theirs, x, t, dtype, rng)
    x3 = rng.normal(size=(2, 4, 3))
    t3 = rng.integers(0, 4, size=(2, 3))
    compare_loss(ours, theirs, x3, t3, dtype, rng)


@needs_torch
def test_cross_entropy_extreme_logits_stay_finite():
    x = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 1e3], [88.0, 89.0, -104.0]], np.float32)
    t = np.array([1, 0, 2])
    xo, xt = both(x, grad=True)
    lo = F.cross_entropy(xo, at.tensor(t))
    lt = TF.cross_entropy(xt, torch.tensor(t))
    lo.backward()
    lt.backward()
    assert np.isfinite(lo.item()) and np.isfinite(xo.grad.numpy()).all()
    close(lo, lt, np.float32)
    close(xo.grad, xt.grad, np.float32)


def test_cross_entropy_bad_targets():
    x = at.randn(4, 3)
    with pytest.raises(IndexError) as e:
        nn.CrossEntropyLoss()(x, at.tensor([0, 1, 3, 2]))
    msg = str(e.value)
    assert "CrossEntropyLoss" in msg and "index 3" in msg and "3 classes" in msg
    with pytest.raises(IndexError, match="cross_entropy.*index -2"):
        F.cross_entropy(x, at.tensor([0, 1, -2, 2]))
    # ignore_index entries are exempt from the range check
    assert np.isfinite(F.cross_entropy(x, at.tensor([0, -100, 1, 2])).item())
    with pytest.raises(ValueError, match="expected target of shape"):
        F.cross_entropy(x, at.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, at.tensor([0.0, 1.0, 1.0, 2.0]))
    with pytest.raises(IndexError, match="NLLLoss.*index 5"):
        nn.NLLLoss()(x, at.tensor([0, 1, 5, 2]))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


@needs_torch
@pytest.mark.filterwarnings("ignore:size_average and reduce args")
def test_loss_legacy_flags_and_buffers():
    w = at.tensor([1.0, 2.0, 3.0])
    ce = nn.CrossEntropyLoss(weight=w, size_average=False)
    tce = tnn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0]), size_average=False)
    assert ce.reduction == tce.reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"
    assert list(ce.state_dict()) == list(tce.state_dict()) == ["weight"]


def test_losses_gradcheck(rng):
    x = at.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    t = at.tensor(rng.integers(0, 3, size=4))
    w = at.tensor(rng.uniform(0.5, 2, size=3))
    p = at.tensor(rng.dirichlet(np.ones(3), size=4), requires_grad=True)
    y = at.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    prob = at.tensor(rng.uniform(0.1, 0.9, size=(4, 3)), requires_grad=True)
    tgt01 = at.tensor(rng.uniform(size=(4, 3)), requires_grad=True)
    checks = [
        (lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.2), (x,)),
        (lambda x: F.cross_entropy(x, t, reduction="none", ignore_index=1), (x,)),
        (lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), (x, p)),
        (lambda x: F.nll_loss(x, t, weight=w), (x,)),
        (lambda x, y: F.mse_loss(x, y), (x, y)),
        (lambda x, y: F.huber_loss(x, y, delta=0.7), (x, y)),
        (lambda x, y: F.smooth_l1_loss(x, y, beta=0.7, reduction="sum"), (x, y)),
        (lambda x, y: F.l1_loss(x, y), (x, y)),
        (lambda p, y: F.binary_cross_entropy(p, y), (prob, tgt01)),
        (lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=w), (x, tgt01)),
    ]
    for fn, inputs in checks:
        assert at.gradcheck(fn, inputs)
    assert at.gradgradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), (x,))


@needs_torch
@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 5),
    c=st.integers(1, 6),
    extra=st.lists(st.integers(1, 3), max_size=2),
    reduction=st.sampled_from(REDUCTIONS),
    smoothing=st.sampled_from([0.0, 0.15]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_any_shape(n, c, extra, reduction, smoothing, seed):
    rng = np.random.default_rng(seed)
    shape = (n, c, *extra)
    x = rng.normal(size=shape)
    t = rng.integers(0, c, size=(n, *extra))
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    theirs = tnn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)
    compare_loss(ours, theirs, x, t, np.float64, rng)


def test_float32_loss_gradients_stay_float32(rng):
    x = at.tensor(rng.normal(size=(8, 5)).astype(np.float32), requires_grad=True)
    t = at.tensor(rng.integers(0, 5, size=8))
    w = at.tensor(rng.uniform(size=5).astype(np.float32))
    for loss in [
        F.cross_entropy(x, t, weight=w, label_smoothing=0.1),
        F.cross_entropy(x, at.tensor(rng.dirichlet(np.ones(5), 8).astype(np.float32))),
        F.nll_loss(x, t),
        F.mse_loss(x, at.zeros(8, 5)),
        F.binary_cross_entropy_with_logits(x, at.ones(8, 5), pos_weight=w),
    ]:
        x.grad = None
        assert loss.dtype == np.float32
        loss.backward()
        assert x.grad.dtype == np.float32


@needs_torch
def test_cross_entropy_probability_targets_reject_nonnegative_ignore_index(rng):
    # torch rejects a class to ignore (ignore_index >= 0) with probability targets and
    # accepts a negative one (nothing can match it)
    x = rng.standard_normal((2, 3, 4))
    p = rng.random((2, 3, 4))
    for ii in (0, 2):
        with pytest.raises(RuntimeError):
            TF.cross_entropy(torch.tensor(x), torch.tensor(p), ignore_index=ii)
        with pytest.raises(RuntimeError, match="ignore_index"):
            F.cross_entropy(at.tensor(x), at.tensor(p), ignore_index=ii)
    ours = F.cross_entropy(at.tensor(x), at.tensor(p), ignore_index=-5, label_smoothing=0.1)
    theirs = TF.cross_entropy(
        torch.tensor(x), torch.tensor(p), ignore_index=-5, label_smoothing=0.1
    )
    close(ours, theirs, np.float64)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_gradients_at_saturated_probabilities_match_torch(dtype):
    # torch's input gradient is (x - y) / max(x (1 - x), 1e-12): huge (not 0) where x is
    # exactly 0 or 1 and y differs, and 0 where x == y == 1; the target gets -logit(x)
    p = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1e-30, 0.5, 0.3], dtype)
    y = np.array([1.0, 0.0, 0.5, 0.0, 1.0, 1.0, 0.2, 0.7], dtype)
    w = np.linspace(0.5, 2.0, p.size).astype(dtype)
    for reduction in REDUCTIONS:
        op, oy = at.tensor(p, requires_grad=True), at.tensor(y, requires_grad=True)
        tp, ty = torch.tensor(p, requires_grad=True), torch.tensor(y, requires_grad=True)
        lo = F.binary_cross_entropy(op, oy, weight=at.tensor(w), reduction=reduction)
        lt = TF.binary_cross_entropy(tp, ty, weight=torch.tensor(w), reduction=reduction)
        close(lo, lt, dtype, "value")
        lo.sum().backward()
        lt.sum().backward()
        close(op.grad, tp.grad, dtype, "input grad")
        np.testing.assert_array_equal(np.isinf(oy.grad.numpy()), np.isinf(ty.grad.numpy()))
        fin = np.isfinite(ty.grad.numpy())
        np.testing.assert_allclose(oy.grad.numpy()[fin], ty.grad.numpy()[fin], **TOL[dtype])

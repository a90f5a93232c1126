"""The fused MSE loss (one `MseLoss` node) against its composite reference.

`nn.functional.mse_loss` records a single node for the common case (same shape and dtype,
'mean' or 'sum', no weight). The composite it replaced is kept here as the reference: both
must give the same values, first and second derivatives; torch is the oracle for the values
and gradients. (`check_function(MseLoss)` runs with every other primitive in
test_primitives.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at
import nn.functional as F


def mse_loss_reference(input: at.Tensor, target: at.Tensor, reduction: str = "mean") -> at.Tensor:
    """The composite: sub, mul, then sum (and a division by the count for 'mean')."""
    d = input - target
    loss = d * d
    return loss.mean() if reduction == "mean" else loss.sum()


SHAPES = [(), (1,), (7,), (5, 1), (4, 3), (2, 3, 4), (0, 3)]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fused_matches_composite_values_and_gradients(rng, shape, reduction) -> None:
    x = rng.normal(size=shape)
    y = rng.normal(size=shape)
    v = rng.normal(size=shape)  # direction of the second-order check
    results = []
    for fn in (F.mse_loss, mse_loss_reference):
        a = at.tensor(x, dtype=at.float64, requires_grad=True)
        b = at.tensor(y, dtype=at.float64, requires_grad=True)
        loss = fn(a, b, reduction=reduction)
        ga, gb = at.grad(loss, (a, b), create_graph=True)
        # second order: d/da of sum(ga * v), through the first derivative
        (gga,) = at.grad((ga * at.tensor(v)).sum(), (a,), allow_unused=True,
                         materialize_grads=True)  # fmt: skip
        results.append((loss, ga, gb, gga))
    fused, ref = results
    assert fused[0].grad_fn.name() == "MseLossBackward"
    for f, r in zip(fused, ref):
        np.testing.assert_allclose(f.detach().numpy(), r.detach().numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fused_float32_matches_torch(rng, reduction) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    x = rng.normal(size=(100, 1)).astype(np.float32)
    y = rng.normal(size=(100, 1)).astype(np.float32)
    a, b = at.tensor(x, requires_grad=True), at.tensor(y, requires_grad=True)
    loss = F.mse_loss(a, b, reduction=reduction)
    loss.backward()
    ta = torch.tensor(x, requires_grad=True)
    tb = torch.tensor(y, requires_grad=True)
    tl = torch.nn.functional.mse_loss(ta, tb, reduction=reduction)
    tl.backward()
    assert loss.dtype == np.float32 and a.grad.dtype == np.float32 and b.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_fused_loss_is_one_node_with_leaf_edges(rng) -> None:
    a = at.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    b = at.tensor(rng.normal(size=(6, 2)))  # a target that needs no gradient
    loss = F.mse_loss(a, b)
    (first, _), (second, _) = loss.grad_fn.next_functions
    assert first.name() == "AccumulateGrad" and first.variable is a
    assert second is None
    loss.backward()
    assert b.grad is None
    np.testing.assert_allclose(
        a.grad.numpy(), 2 * (a.detach().numpy() - b.numpy()) / a.numel(), rtol=1e-6
    )


def test_cases_the_fused_node_does_not_take_use_the_composite(rng) -> None:
    a = at.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    with pytest.warns(UserWarning, match="target size"):
        broadcast = F.mse_loss(a, at.tensor(rng.normal(size=(3,))))
    assert broadcast.grad_fn.name() != "MseLossBackward"
    assert F.mse_loss(a, a.detach() * 0, reduction="none").shape == (4, 3)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(a, a.detach(), reduction="average")


# -- the fused cross-entropy (one `CrossEntropy` node) ----------------------------------------
def cross_entropy_reference(input: at.Tensor, target: at.Tensor) -> at.Tensor:
    """The composite the fused node stands in for: nll_loss of log_softmax ('mean')."""
    return F.nll_loss(F.log_softmax(input, 1), target)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 3), (32, 10)], ids=str)
def test_fused_cross_entropy_matches_composite(rng, shape) -> None:
    x = rng.normal(size=shape) * 3
    t = at.tensor(rng.integers(0, shape[1], shape[0]))
    v = rng.normal(size=shape)  # direction of the second-order check
    results = []
    for fn in (F.cross_entropy, cross_entropy_reference):
        a = at.tensor(x, dtype=at.float64, requires_grad=True)
        loss = fn(a, t)
        (ga,) = at.grad(loss, (a,), create_graph=True)
        (gga,) = at.grad((ga * at.tensor(v)).sum(), (a,))
        b = at.tensor(x, dtype=at.float64, requires_grad=True)
        fn(b, t).backward()  # the plain backward (rules on arrays)
        results.append((loss, ga, gga, b.grad))
    fused, ref = results
    assert fused[0].grad_fn.name() == "CrossEntropyBackward"
    assert ref[0].grad_fn.name() != "CrossEntropyBackward"
    for f, r in zip(fused, ref):
        np.testing.assert_allclose(f.detach().numpy(), r.detach().numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_cross_entropy_matches_torch(rng, dtype) -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    x = (rng.normal(size=(64, 10)) * 4).astype(dtype)
    t = rng.integers(0, 10, 64)
    a = at.tensor(x, requires_grad=True)
    loss = F.cross_entropy(a, at.tensor(t))
    loss.backward()
    ta = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(ta, torch.tensor(t))
    tl.backward()
    assert loss.grad_fn is not None and loss.dtype == dtype and a.grad.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=tol)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=tol, atol=tol * 1e-2)


def test_cross_entropy_cases_outside_the_fused_node(rng) -> None:
    a = at.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    t = at.tensor([0, 2, 1, 2])
    for kwargs in ({"reduction": "sum"}, {"weight": at.ones(3)}, {"label_smoothing": 0.1},
                   {"ignore_index": 2}):  # fmt: skip
        assert F.cross_entropy(a, t, **kwargs).grad_fn.name() != "CrossEntropyBackward"
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(a, at.tensor([0, 3, 1, 2]))
    with pytest.raises(RuntimeError, match="second time"):
        loss = F.cross_entropy(a, t)
        loss.backward()
        loss.backward()


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (128, 10), (3, 64), (5, 65), (40, 200)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_column_layout_matches_row_layout(rng, shape, dtype) -> None:
    from autotensor.ops.loss import _ce_columns, _ce_rows

    x = (rng.normal(size=shape) * 5).astype(dtype)
    t = rng.integers(0, shape[1], shape[0])
    for logits in (x, np.asfortranarray(x)):
        (s_col, p_col), (s_row, p_row) = _ce_columns(logits, t), _ce_rows(logits, t)
        assert s_col.dtype == s_row.dtype == dtype and p_col.shape == p_row.shape == shape
        tol = 1e-5 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(s_col, s_row, rtol=tol)
        np.testing.assert_allclose(p_col, p_row, rtol=tol, atol=tol * 1e-3)


@pytest.mark.parametrize("classes", [10, 100], ids=["columns", "rows"])
def test_cross_entropy_plain_backward_matches_differentiable_rule(rng, classes) -> None:
    x = rng.normal(size=(9, classes)) * 3
    t = at.tensor(rng.integers(0, classes, 9))
    a = at.tensor(x, requires_grad=True)
    F.cross_entropy(a, t).backward()
    b = at.tensor(x, requires_grad=True)
    (gb,) = at.grad(F.cross_entropy(b, t), (b,), create_graph=True)  # the Tensor-op rule
    assert a.grad.numpy().flags.c_contiguous
    np.testing.assert_allclose(a.grad.numpy(), gb.detach().numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (0, 2)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_plain_backward_matches_differentiable_rule(rng, shape, reduction) -> None:
    x, y = rng.normal(size=shape), rng.normal(size=shape)
    grads = []
    for create_graph in (False, True):
        a = at.tensor(x, dtype=at.float32, requires_grad=True)
        b = at.tensor(y, dtype=at.float32, requires_grad=True)
        loss = F.mse_loss(a, b, reduction=reduction)
        grads.append([g.detach().numpy() for g in at.grad(loss, (a, b), create_graph=create_graph)])
    (pa, pb), (ra, rb) = grads
    assert isinstance(pa, np.ndarray) and pa.dtype == np.float32 and pa.shape == shape
    np.testing.assert_array_equal(pa, ra)  # the same float32 operations, bit for bit
    np.testing.assert_array_equal(pb, rb)

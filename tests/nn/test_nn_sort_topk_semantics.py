"""sort(stable=...) and topk(sorted=...) against torch, where ties make the contract subtle.

sort: values and indices equal torch's, stable or not (with stable=True the order of equal
elements is their input order, descending too). topk: the values equal torch's; with ties
at the k-th place torch may pick any of the equal elements and, for sorted=False, return
them in any order; autotensor always returns them sorted, ties by lowest index (a
deliberate difference, docs/design.md). So the indices are checked by what they must be:
distinct, pointing at the returned values, and the lowest-index choice among ties.
"""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
hyp = pytest.importorskip("hypothesis")
st = hyp.strategies
hnp = pytest.importorskip("hypothesis.extra.numpy")

# small integers as floats: many ties
tied = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
                  elements=st.integers(-2, 2).map(float))  # fmt: skip


@hyp.settings(max_examples=40)
@hyp.given(x=tied, descending=st.booleans(), stable=st.booleans(), data=st.data())
def test_sort_matches_torch_with_ties(x, descending, stable, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    va, ia = at.sort(at.tensor(x), dim=dim, descending=descending, stable=stable)
    vt, it = torch.sort(torch.tensor(x), dim=dim, descending=descending, stable=stable)
    np.testing.assert_array_equal(va.numpy(), vt.numpy())
    if stable:
        np.testing.assert_array_equal(ia.numpy(), it.numpy())
    assert ia.dtype == at.int64
    np.testing.assert_array_equal(np.take_along_axis(x, ia.numpy(), dim), va.numpy())
    sa = at.argsort(at.tensor(x), dim=dim, descending=descending, stable=True)
    st_ = torch.argsort(torch.tensor(x), dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(sa.numpy(), st_.numpy())


def test_sort_gradient_matches_torch(rng):
    x = rng.normal(size=(3, 5))
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = rng.normal(size=(3, 5))
    at.sort(xa, dim=1, descending=True, stable=True)[0].backward(at.tensor(g))
    torch.sort(xt, dim=1, descending=True, stable=True)[0].backward(torch.tensor(g))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@hyp.settings(max_examples=40)
@hyp.given(x=tied, largest=st.booleans(), sorted_=st.booleans(), data=st.data())
def test_topk_values_match_torch_and_indices_are_valid(x, largest, sorted_, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(0, x.shape[dim]))
    va, ia = at.topk(at.tensor(x), k, dim=dim, largest=largest, sorted=sorted_)
    vt, it = torch.topk(torch.tensor(x), k, dim=dim, largest=largest, sorted=sorted_)
    vals, idx = va.numpy(), ia.numpy()
    # torch's sorted=False order is unspecified: compare as sorted multisets
    want = np.sort(vt.numpy(), axis=dim)
    np.testing.assert_array_equal(np.sort(vals, axis=dim), want)
    np.testing.assert_array_equal(np.take_along_axis(x, idx, dim), vals)
    # ours: always sorted, ties by lowest index (stable order of the selection)
    order = np.argsort(-x if largest else x, axis=dim, kind="stable")
    np.testing.assert_array_equal(idx, np.take(order, np.arange(k), axis=dim))
    if sorted_:
        np.testing.assert_array_equal(vals, vt.numpy())


def test_topk_gradient_without_ties_matches_torch(rng):
    x = rng.normal(size=(4, 7))
    for sorted_ in (True, False):
        xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        va, _ = at.topk(xa, 3, dim=1, sorted=sorted_)
        vt, _ = torch.topk(xt, 3, dim=1, sorted=sorted_)
        (va * va).sum().backward()
        (vt * vt).sum().backward()
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12)

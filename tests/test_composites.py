"""block_diag, cartesian_prod, combinations, vander, trapezoid, cumulative_trapezoid, inner,
vdot, renorm and narrow_copy: values, dtypes and gradients against torch, gradcheck in
float64, and properties over shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autotensor as at

torch = pytest.importorskip("torch", reason="torch not installed: oracle tests skipped")


def _both(fn, *arrays, grad: bool = True, **kw):
    """fn on torch and on autotensor from the same arrays; values, dtypes and the gradients
    of a weighted sum of the result agree."""
    rng = np.random.default_rng(0)
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    xs = [at.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    rt, ra = fn(torch, *ts, **kw), fn(at, *xs, **kw)
    assert tuple(rt.shape) == tuple(ra.shape)
    assert str(rt.dtype).split(".")[-1] == str(ra.dtype).split(".")[-1]
    np.testing.assert_allclose(ra.detach().numpy(), rt.detach().numpy(), rtol=1e-12, atol=1e-12)
    if grad and rt.requires_grad and rt.numel():
        w = rng.normal(size=tuple(rt.shape))
        (rt * torch.tensor(w)).sum().backward()
        (ra * at.tensor(w)).sum().backward()
        for t, x in zip(ts, xs):
            if t.requires_grad:
                gt = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
                ga = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
                np.testing.assert_allclose(ga, gt, rtol=1e-12, atol=1e-12)


R = np.random.default_rng(1)


def test_block_diag() -> None:
    _both(lambda T, a, b, c: T.block_diag(a, b, c), R.normal(size=(2, 3)), np.array(1.5),
          R.normal(size=4))  # fmt: skip
    _both(lambda T, a, b: T.block_diag(a, b), np.array([1, 2]), R.normal(size=(0, 2)))
    _both(lambda T: T.block_diag())


def test_cartesian_prod_and_combinations() -> None:
    _both(lambda T, a, b, c: T.cartesian_prod(a, b, c), R.normal(size=2), R.normal(size=3),
          R.normal(size=1))  # fmt: skip
    _both(lambda T, a: T.cartesian_prod(a), R.normal(size=3))
    for r in (0, 1, 2, 3, 5):
        for rep in (False, True):
            _both(lambda T, a: T.combinations(a, r, rep), R.normal(size=4))  # noqa: B023
    _both(lambda T, a: T.combinations(a, 2), np.array([3, 1, 2]))


@pytest.mark.parametrize("N", [None, 0, 1, 4])
@pytest.mark.parametrize("increasing", [False, True])
def test_vander(N, increasing) -> None:
    # (torch's own backward of vander raises on a version check: values only; the gradient
    # is checked by gradcheck below)
    _both(lambda T, a: T.vander(a, N, increasing), np.array([0.0, -1.5, 2.0]), grad=False)
    _both(lambda T, a: T.vander(a, N, increasing), np.array([2, 0, 3]))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_trapezoid_and_cumulative_trapezoid(dim) -> None:
    y = R.normal(size=(3, 4))
    for name in ("trapezoid", "cumulative_trapezoid"):
        _both(lambda T, a: getattr(T, name)(a, dim=dim), y)  # noqa: B023
        _both(lambda T, a: getattr(T, name)(a, dx=0.5, dim=dim), y)  # noqa: B023
        xs = np.sort(R.normal(size=y.shape[dim]))
        _both(lambda T, a, x: getattr(T, name)(a, x, dim=dim), y, xs)  # noqa: B023
        _both(lambda T, a, x: getattr(T, name)(a, x, dim=dim), y, R.normal(size=y.shape))  # noqa: B023
    _both(lambda T, a: T.trapz(a, dim=dim), y)
    _both(lambda T, a: T.trapezoid(a), np.array([1, 4, 9]))
    _both(lambda T, a: T.trapezoid(a), np.zeros((2, 0)))


def test_inner_vdot_renorm_narrow_copy() -> None:
    _both(lambda T, a, b: T.inner(a, b), R.normal(size=(2, 3)), R.normal(size=(4, 1, 3)))
    _both(lambda T, a, b: T.inner(a, b), np.array(2.0), R.normal(size=3))
    _both(lambda T, a, b: T.vdot(a, b), R.normal(size=5), R.normal(size=5))
    x = R.normal(size=(3, 4, 2)) * np.array([0.1, 1.0, 10.0])[:, None, None]
    for p, dim, m in ((2, 0, 1.0), (1, 1, 2.0), (3.0, -1, 0.5), (2, 2, 100.0)):
        _both(lambda T, a: T.renorm(a, p, dim, m), x)  # noqa: B023
    _both(lambda T, a: a.narrow_copy(1, 1, 2), R.normal(size=(3, 4)))
    assert at.ones(3, 4).t().narrow_copy(0, 1, 2).is_contiguous()
    y = at.tensor(x.copy())
    assert np.allclose(y.renorm_(2, 0, 1.0).numpy(), torch.renorm(torch.tensor(x), 2, 0, 1.0))


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.block_diag(L.ones(2, 2, 2)),
        lambda L: L.cartesian_prod(L.ones(2, 2)),
        lambda L: L.combinations(L.ones(2, 2)),
        lambda L: L.vander(L.ones(2, 2)),
        lambda L: L.inner(L.ones(2, 3), L.ones(2, 2)),
        lambda L: L.vdot(L.ones(2), L.ones(3)),
        lambda L: L.vdot(L.ones(2), L.ones(2, dtype=L.float64)),
        lambda L: L.trapezoid(L.ones(3), L.ones(3), dx=1.0),
        lambda L: L.trapezoid(L.ones(3), dim=1),
    ],
)
def test_errors_as_torch(call) -> None:
    with pytest.raises(Exception) as et:
        call(torch)
    with pytest.raises(type(et.value)) as ea:
        call(at)
    # torch's text (after any "op:" prefix of its own), in autotensor's message
    tail = str(et.value).split(" : ")[-1].split("\n")[0][:24]
    assert tail.split("(")[0] in str(ea.value)


def test_gradcheck_float64() -> None:
    x = at.tensor(R.normal(size=(3, 4)), requires_grad=True)
    v = at.tensor(R.normal(size=4), requires_grad=True)
    assert at.gradcheck(lambda a: at.renorm(a, 2, 0, 0.5), (x,))
    assert at.gradcheck(lambda a, b: at.block_diag(a, b), (x, v))
    assert at.gradcheck(lambda a: at.vander(a, 4), (v,))
    assert at.gradcheck(lambda a, b: at.trapezoid(a, b), (x, v))
    assert at.gradcheck(lambda a, b: at.cumulative_trapezoid(a, b, dim=1), (x, v))
    assert at.gradcheck(lambda a: at.combinations(a, 3, True), (v,))
    assert at.gradcheck(lambda a, b: at.inner(a, b), (x, v))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2**31 - 1))
def test_trapezoid_is_exact_for_lines_and_sums_its_cumulative(shape, seed) -> None:
    rng = np.random.default_rng(seed)
    n = shape[-1]
    xs = np.cumsum(rng.uniform(0.1, 1.0, size=n))
    a, b = rng.normal(size=tuple(shape[:-1]) + (1,)), rng.normal(size=tuple(shape[:-1]) + (1,))
    y = at.tensor(a * xs + b)  # a straight line: the rule is exact
    exact = (a * (xs[-1] ** 2 - xs[0] ** 2) / 2 + b * (xs[-1] - xs[0]))[..., 0]
    np.testing.assert_allclose(at.trapezoid(y, at.tensor(xs)).numpy(), exact, atol=1e-10)
    if n > 1:
        c = at.cumulative_trapezoid(y, at.tensor(xs)).numpy()
        np.testing.assert_allclose(c[..., -1], exact, atol=1e-10)

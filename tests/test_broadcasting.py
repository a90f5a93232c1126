"""Property tests: broadcasting, reductions and indexing hold for all shapes, not just the
few in the samples.

- every primitive with `broadcasts = True` (found by itself, as in test_primitives.py) gives
  the values and gradients it gives on explicitly pre-broadcast copies of its inputs, with
  the gradient summed back by numpy; the ones torch has are also compared with torch;
- reductions over random dims, with and without keepdim, agree with torch;
- indexing with random basic indices, integer arrays and masks agrees with numpy, and its
  gradient with numpy's unbuffered `np.add.at`.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import autotensor as at  # noqa: E402
import autotensor.ops  # noqa: E402
from autotensor.function import Function  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

for _mod in pkgutil.walk_packages(autotensor.ops.__path__, "autotensor.ops."):
    importlib.import_module(_mod.name)


def _subclasses(cls: type) -> list[type]:
    out, stack = [], [cls]
    while stack:
        for s in stack.pop().__subclasses__():
            out.append(s)
            stack.append(s)
    return out


BROADCASTING = sorted(
    {
        c
        for c in _subclasses(Function)
        if c.__module__.startswith("autotensor.ops")
        and c.broadcasts
        and c.forward is not Function.forward
    },
    key=lambda c: c.__name__,
)

TORCH_OPS = {
    "Add": lambda a, b: torch.add(a, b),
    "Sub": lambda a, b: torch.sub(a, b),
    "Mul": lambda a, b: torch.mul(a, b),
    "Div": lambda a, b: torch.div(a, b),
    "Pow": lambda a, b: torch.pow(a, b),
    "Maximum": lambda a, b: torch.maximum(a, b),
    "Minimum": lambda a, b: torch.minimum(a, b),
    "Where": lambda c, a, b: torch.where(c, a, b),
}


def _layout(op: type) -> list[str]:
    """Per positional argument of the op's first (canonical) sample: 'bool', 'pos' (a float
    array that is all positive there: kept so, e.g. Pow's base) or 'real'."""
    first = next(iter(op.sample_inputs(np.random.default_rng(0))))
    kinds = []
    for a in first.args:
        if isinstance(a, np.ndarray) and a.dtype == bool:
            kinds.append("bool")
        else:
            kinds.append("pos" if np.all(np.asarray(a) > 0) else "real")
    return kinds


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reduce a gradient of the broadcast shape back to `shape` (numpy only)."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def test_broadcasting_primitives_are_found() -> None:
    names = {c.__name__ for c in BROADCASTING}
    assert {"Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Where"} <= names


@pytest.mark.parametrize("op", BROADCASTING, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_broadcast_values_and_gradients(op: type, data: st.DataObject) -> None:
    kinds = _layout(op)
    shapes, out_shape = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=len(kinds), max_dims=4, max_side=3),
        label="shapes",
    )
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    arrays = []
    for kind, shape in zip(kinds, shapes):
        if kind == "bool":
            arrays.append(rng.random(shape) > 0.5)
        else:
            mag = rng.uniform(0.5, 2.0, shape)
            arrays.append(mag if kind == "pos" else mag * rng.choice([-1.0, 1.0], shape))
    w = rng.normal(size=out_shape)

    def run(arrs):
        ins = [at.tensor(a, dtype=at.float64, requires_grad=True) if a.dtype != bool else a
               for a in arrs]  # fmt: skip
        y = op.apply(*ins)
        y.backward(at.tensor(w, dtype=at.float64))
        return y, [t.grad.numpy() if isinstance(t, at.Tensor) else None for t in ins]

    y, grads = run(arrays)
    assert y.shape == out_shape
    # Oracle 1: the same op on explicitly broadcast copies, gradients summed back by numpy.
    y_ref, grads_full = run([np.broadcast_to(a, out_shape).copy() for a in arrays])
    np.testing.assert_allclose(y.detach().numpy(), y_ref.detach().numpy(), rtol=1e-12)
    for a, g, gf in zip(arrays, grads, grads_full):
        if g is not None:
            assert g.shape == a.shape
            np.testing.assert_allclose(g, _sum_to(gf, a.shape), rtol=1e-10, atol=1e-12)
    # Oracle 2: torch, for the ops it has.
    if torch is not None and op.__name__ in TORCH_OPS:
        tins = [torch.tensor(a, dtype=torch.float64, requires_grad=True) if a.dtype != bool
                else torch.tensor(a) for a in arrays]  # fmt: skip
        ty = TORCH_OPS[op.__name__](*tins)
        ty.backward(torch.tensor(w))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
        for g, t in zip(grads, tins):
            if g is not None:
                np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@settings(max_examples=20, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
def test_operators_broadcast_and_keep_dtype(dtype: str, shapes) -> None:
    (sa, sb), out = shapes
    rng = np.random.default_rng(0)
    a = at.tensor(rng.uniform(0.5, 2, sa), dtype=dtype, requires_grad=True)
    b = at.tensor(rng.uniform(0.5, 2, sb), dtype=dtype, requires_grad=True)
    y = (a + b) * a / b - b**a
    assert y.shape == out and y.dtype == np.dtype(dtype)
    y.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert a.grad.dtype == np.dtype(dtype) and b.grad.dtype == np.dtype(dtype)


# -- reductions ------------------------------------------------------------------------------
REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda t, d, k: t.sum(d, keepdim=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda t, d, k: t.mean(d, keepdim=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda t, d, k: t.amax(d, keepdim=k)),
    "amin": (lambda x, d, k: x.amin(d, keepdim=k), lambda t, d, k: t.amin(d, keepdim=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda t, d, k: t.var(d, keepdim=k)),
    "std0": (
        lambda x, d, k: x.std(d, keepdim=k, correction=0),
        lambda t, d, k: t.std(d, keepdim=k, correction=0),
    ),
    "logsumexp": (
        lambda x, d, k: x.logsumexp(d, keepdim=k),
        lambda t, d, k: t.logsumexp(d, keepdim=k),
    ),
    "norm": (
        # p=2 given: the default 'fro' over three or more dims is refused, as torch's
        lambda x, d, k: x.norm(p=2, dim=d, keepdim=k),
        lambda t, d, k: t.norm(p=2, dim=d, keepdim=k),
    ),
}
SINGLE_DIM = {
    "max": (lambda x, d, k: x.max(d, keepdim=k)[0], lambda t, d, k: t.max(d, keepdim=k)[0]),
    "min": (lambda x, d, k: x.min(d, keepdim=k)[0], lambda t, d, k: t.min(d, keepdim=k)[0]),
    "prod": (lambda x, d, k: x.prod(d, keepdim=k), lambda t, d, k: t.prod(d, keepdim=k)),
    "softmax": (lambda x, d, k: x.softmax(d), lambda t, d, k: t.softmax(d)),
    "log_softmax": (lambda x, d, k: x.log_softmax(d), lambda t, d, k: t.log_softmax(d)),
    "cumsum": (lambda x, d, k: x.cumsum(d), lambda t, d, k: t.cumsum(d)),
}


@st.composite
def _reduction_case(draw, single: bool):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=2, max_side=4))
    nd = len(shape)
    if single:
        dim = draw(st.integers(-nd, nd - 1))
    else:
        dims = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        neg = draw(st.booleans())
        dim = tuple(d - nd if neg else d for d in dims)
        if len(dim) == 1 and draw(st.booleans()):
            dim = dim[0]
    return shape, dim, draw(st.booleans()), draw(st.integers(0, 2**32 - 1))


def _compare_reduction(fns, shape, dim, keepdim, seed) -> None:
    ours, theirs = fns
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)  # continuous values: no ties for max/min
    x = at.tensor(a, dtype=at.float64, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, ty = ours(x, dim, keepdim), theirs(t, dim, keepdim)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.normal(size=y.shape)
    y.backward(at.tensor(w, dtype=at.float64))
    ty.backward(torch.tensor(w))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed: parity tests skipped")
@pytest.mark.parametrize("name", list(REDUCTIONS))
@settings(max_examples=20, deadline=None)
@given(case=_reduction_case(single=False))
def test_reductions_over_random_dims_match_torch(name: str, case) -> None:
    _compare_reduction(REDUCTIONS[name], *case)


@pytest.mark.skipif(torch is None, reason="torch not installed: parity tests skipped")
@pytest.mark.parametrize("name", list(SINGLE_DIM))
@settings(max_examples=15, deadline=None)
@given(case=_reduction_case(single=True))
def test_single_dim_reductions_match_torch(name: str, case) -> None:
    _compare_reduction(SINGLE_DIM[name], *case)


# -- indexing --------------------------------------------------------------------------------
def _check_index(a: np.ndarray, index, w_seed: int) -> None:
    x = at.tensor(a, dtype=at.float64, requires_grad=True)
    y = x[index]
    expected = a[index]
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    w = np.random.default_rng(w_seed).normal(size=expected.shape)
    y.backward(at.tensor(w, dtype=at.float64))
    g = np.zeros_like(a)
    np.add.at(g, index, w)
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_basic_indexing(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    # torch has no negative slice steps, so neither do we
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    assume_positive_steps = all(
        not isinstance(i, slice) or i.step is None or i.step > 0
        for i in (index if isinstance(index, tuple) else (index,))
    )
    hypothesis.assume(assume_positive_steps)
    a = np.random.default_rng(0).normal(size=shape)
    _check_index(a, index, 1)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_integer_array_indexing(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2)))
    a = np.random.default_rng(0).normal(size=shape)
    _check_index(a, index, 2)  # repeated indices must accumulate


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_mask_indexing(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    k = data.draw(st.integers(1, len(shape)), label="mask dims")
    mask = data.draw(hnp.arrays(bool, shape[:k]))
    a = np.random.default_rng(0).normal(size=shape)
    _check_index(a, mask, 3)
    _check_index(a, (Ellipsis, mask) if k == len(shape) else mask, 4)

"""autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp) against torch, its finite
differences and its own identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autotensor as at
from autotensor.autograd import functional as AF

torch = pytest.importorskip("torch", reason="torch not installed: oracle tests skipped")
TF = torch.autograd.functional


def _flat(r):
    return [r] if not isinstance(r, tuple) else [y for x in r for y in _flat(x)]


def _same(rt, ra) -> None:
    """Same nesting, shapes and values (float64 to 1e-12)."""
    assert type(rt) is type(ra) or (isinstance(rt, torch.Tensor) and isinstance(ra, at.Tensor))
    ft, fa = _flat(rt), _flat(ra)
    assert len(ft) == len(fa)
    for a, b in zip(ft, fa):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-12, atol=1e-12)


def _args(T, arrays):
    return tuple(T.tensor(a) for a in arrays) if isinstance(arrays, tuple) else T.tensor(arrays)


# functions written once for both libraries: T is torch or autotensor
FUNCS = {
    "one_to_one": (lambda T: lambda a: a.sin() * a, "x"),
    "to_scalar": (lambda T: lambda a: (a**3).sum(), "x"),
    "two_to_two": (lambda T: lambda a, b: (a * b.sum(), a.exp()), ("x", "m")),
    "two_to_one": (lambda T: lambda a, b: T.tanh(a).sum() * (b * b).mean(), ("x", "m")),
    "unused_input": (lambda T: lambda a, b: a * 2.0, ("x", "m")),
    "tuple_of_one": (lambda T: lambda a: (a.cumsum(0),), "x"),
}


def _inputs(spec, rng):
    shapes = {"x": (3,), "m": (2, 2)}
    if isinstance(spec, tuple):
        return tuple(rng.normal(size=shapes[s]) for s in spec)
    return rng.normal(size=shapes[spec])


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_jacobian_matches_torch(name: str) -> None:
    make, spec = FUNCS[name]
    arrays = _inputs(spec, np.random.default_rng(1))
    _same(TF.jacobian(make(torch), _args(torch, arrays)), AF.jacobian(make(at), _args(at, arrays)))


@pytest.mark.parametrize("name", ["to_scalar", "two_to_one"])
def test_hessian_hvp_vhp_match_torch(name: str) -> None:
    make, spec = FUNCS[name]
    rng = np.random.default_rng(2)
    arrays = _inputs(spec, rng)
    _same(TF.hessian(make(torch), _args(torch, arrays)), AF.hessian(make(at), _args(at, arrays)))
    v = _inputs(spec, rng)
    for fn in ("hvp", "vhp"):
        rt = getattr(TF, fn)(make(torch), _args(torch, arrays), _args(torch, v))
        ra = getattr(AF, fn)(make(at), _args(at, arrays), _args(at, v))
        _same(rt, ra)


@pytest.mark.parametrize("name", ["one_to_one", "two_to_two", "tuple_of_one", "unused_input"])
def test_vjp_jvp_match_torch(name: str) -> None:
    make, spec = FUNCS[name]
    rng = np.random.default_rng(3)
    arrays = _inputs(spec, rng)
    outs = make(at)(*_args(at, arrays if isinstance(arrays, tuple) else (arrays,)))
    u = tuple(rng.normal(size=np.shape(o)) for o in outs) if isinstance(outs, tuple) else (
        rng.normal(size=np.shape(outs)))  # fmt: skip
    _same(TF.vjp(make(torch), _args(torch, arrays), _args(torch, u)),
          AF.vjp(make(at), _args(at, arrays), _args(at, u)))  # fmt: skip
    v = _inputs(spec, rng)
    _same(TF.jvp(make(torch), _args(torch, arrays), _args(torch, v)),
          AF.jvp(make(at), _args(at, arrays), _args(at, v)))  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=3), st.integers(0, 2**31 - 1))
def test_jacobian_is_finite_differences_and_jvp_vjp_are_its_products(shape, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=tuple(shape))
    W = rng.normal(size=(2,) + tuple(shape))

    def f(a):
        return (at.tensor(W) * a.unsqueeze(0).tanh()).reshape(2, -1).sum(1)

    J = AF.jacobian(f, at.tensor(x)).numpy()
    assert J.shape == (2,) + tuple(shape)
    Jm = J.reshape(2, -1)
    eps = 1e-6
    for k in range(x.size):  # central differences, column by column
        d = np.zeros(x.size)
        d[k] = eps
        up = f(at.tensor(x + d.reshape(x.shape))).numpy()
        dn = f(at.tensor(x - d.reshape(x.shape))).numpy()
        np.testing.assert_allclose(Jm[:, k], (up - dn) / (2 * eps), rtol=1e-6, atol=1e-8)
    v, u = rng.normal(size=x.shape), rng.normal(size=2)
    _, jv = AF.jvp(f, at.tensor(x), at.tensor(v))
    _, uj = AF.vjp(f, at.tensor(x), at.tensor(u))
    np.testing.assert_allclose(jv.numpy(), Jm @ v.reshape(-1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(uj.numpy().reshape(-1), u @ Jm, rtol=1e-10, atol=1e-12)


def test_create_graph_keeps_the_result_differentiable() -> None:
    x = at.tensor([0.3, -1.2, 0.7], dtype=at.float64, requires_grad=True)
    assert not AF.jacobian(lambda a: a**3, x).requires_grad  # detached by default
    assert at.gradcheck(lambda a: AF.jacobian(lambda b: b.sin() * b, a, create_graph=True), (x,))
    assert at.gradcheck(lambda a: AF.hvp(lambda b: (b**4).sum(), a, a, create_graph=True)[1],
                        (x,))  # fmt: skip


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.autograd.functional.jacobian(lambda a: a * 2, [L.ones(2)]),
        lambda L: L.autograd.functional.jacobian(lambda a: 3, L.ones(2)),
        lambda L: L.autograd.functional.jacobian(
            lambda a, b: a * 2, (L.ones(2), L.ones(3)), strict=True
        ),  # fmt: skip
        lambda L: L.autograd.functional.vjp(lambda a: a * 2, L.ones(2)),
        lambda L: L.autograd.functional.vjp(lambda a: a * 2, L.ones(2), L.ones(3)),
        lambda L: L.autograd.functional.hessian(lambda a: a * 2, L.ones(2)),
        lambda L: L.autograd.functional.jacobian(lambda a: a, L.ones(2), strategy="sideways"),
    ],
)
def test_errors_are_torchs(call) -> None:
    with pytest.raises(Exception) as et:
        call(torch)
    with pytest.raises(type(et.value)) as ea:
        call(at)
    assert str(ea.value).split(" ")[:4] == str(et.value).split(" ")[:4]

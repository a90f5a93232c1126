"""torch's further elementwise math (logit, xlogy, lgamma, digamma, polygamma, i0, ...) and
the autotensor.special namespace, against torch: values, dtypes and gradients on random and
edge inputs (0, negative integers, +-inf, NaN), broadcast, 0-d, empty and non-contiguous
shapes, integer and bool inputs, in-place forms and errors; then properties of the functions
themselves (hypothesis) and the numpy-only kernels against scipy.

Tolerances: float64 values agree with torch to a few ulps (the kernels follow torch's
algorithms); where a result is a tiny difference of larger numbers (lgamma near its roots 1
and 2, ndtri near 1/2) the absolute tolerance is a few ulps of the inputs' scale instead.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import autotensor.special as S
from autotensor.ops import gamma as G

try:
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError:  # pragma: no cover
    given = None

try:
    import scipy.special as sc
except ImportError:  # pragma: no cover
    sc = None

needs_hypothesis = pytest.mark.skipif(given is None, reason="hypothesis not installed")
needs_scipy = pytest.mark.skipif(sc is None, reason="scipy not installed")

F64 = dict(rtol=4e-15, atol=1e-300)
F32 = dict(rtol=2e-6, atol=1e-30)
INF, NAN = math.inf, math.nan


def _same(a: at.Tensor, t, rtol: float, atol: float, what: str = "") -> None:
    """a equals torch's t: dtype, shape, NaN pattern, infinities, finite values to tolerance."""
    ta = a.detach().numpy()
    if t._is_zerotensor():  # torch's symbolic zero gradient (sgn)
        t = torch.zeros_like(t)
    tt = t.detach().numpy()
    assert str(a.dtype).removeprefix("autotensor.") == str(t.dtype).removeprefix("torch."), what
    assert ta.shape == tt.shape, what
    np.testing.assert_allclose(ta, tt, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _pair(arr: np.ndarray, dtype: str = "float64", grad: bool = False):
    a = at.tensor(arr, dtype=getattr(at, dtype), requires_grad=grad)
    t = torch.tensor(arr, dtype=getattr(torch, dtype), requires_grad=grad)
    return a, t


RNG = np.random.default_rng(1234)
WIDE = np.concatenate(
    [RNG.uniform(-30, 30, 300), RNG.uniform(-3, 3, 300), 10.0 ** RNG.uniform(-12, 3, 100)]
)
EDGES = np.array(
    [0.0, -0.0, 1.0, 2.0, -1.0, -2.0, -2.5, 10.0, 0.5, 1e-300, 5e-324, INF, -INF, NAN, 1e17, 1e300]
)
POS = np.concatenate([RNG.uniform(0.01, 30, 300), [0.5, 1.0, 2.0, 10.0, 1e-8]])
UNIT = np.concatenate([RNG.uniform(0, 1, 300), [0.0, 1.0, 0.5, 1e-300, 1 - 1e-16, -0.1, 1.1]])

# name: (autotensor function, torch function, inputs, float64 tolerance)
UNARY = {
    "lgamma": (at.lgamma, torch and torch.lgamma, np.r_[WIDE, EDGES], dict(rtol=1e-13, atol=2e-16)),
    "digamma": (at.digamma, torch and torch.digamma, np.r_[WIDE, EDGES], F64),
    "polygamma1": (
        lambda x: at.polygamma(1, x),
        lambda x: torch.polygamma(1, x),
        np.r_[WIDE, EDGES],
        F64,
    ),
    "polygamma2": (
        lambda x: at.polygamma(2, x),
        lambda x: torch.polygamma(2, x),
        np.r_[WIDE, EDGES],
        dict(rtol=1e-14, atol=1e-300),
    ),
    "polygamma5": (
        lambda x: at.polygamma(5, x),
        lambda x: torch.polygamma(5, x),
        np.r_[WIDE, EDGES],
        dict(rtol=1e-14, atol=1e-300),
    ),
    "i0": (
        at.i0,
        torch and torch.i0,
        np.r_[WIDE, EDGES, 700.0, 709.0, 712.0],
        F64 | dict(rtol=5e-15),
    ),
    "i0e": (S.i0e, torch and torch.special.i0e, np.r_[WIDE, EDGES], dict(rtol=5e-15, atol=1e-300)),
    "i1": (
        S.i1,
        torch and torch.special.i1,
        np.r_[WIDE, EDGES, -700.0],
        dict(rtol=5e-15, atol=1e-300),
    ),
    "i1e": (S.i1e, torch and torch.special.i1e, np.r_[WIDE, EDGES], dict(rtol=5e-15, atol=1e-300)),
    "erfcx": (
        S.erfcx,
        torch and torch.special.erfcx,
        np.r_[WIDE, EDGES, 40.0, 1e10],
        dict(rtol=3e-14, atol=1e-300),
    ),
    "erfc": (
        S.erfc,
        torch and torch.special.erfc,
        np.r_[WIDE, EDGES],
        dict(rtol=2e-14, atol=1e-300),
    ),
    # ndtr = (1 + erf) / 2: erf's last bit (numpy's kernel, not C's) shows as an absolute ulp
    "ndtr": (
        S.ndtr,
        torch and torch.special.ndtr,
        np.r_[WIDE, EDGES],
        dict(rtol=1e-15, atol=6e-17),
    ),
    "log_ndtr": (
        S.log_ndtr,
        torch and torch.special.log_ndtr,
        np.r_[WIDE, EDGES],
        dict(rtol=1e-14, atol=1e-300),
    ),
    "ndtri": (S.ndtri, torch and torch.special.ndtri, UNIT, dict(rtol=1e-14, atol=1e-16)),
    "entr": (S.entr, torch and torch.special.entr, np.r_[WIDE, EDGES], F64),
    "sinc": (at.sinc, torch and torch.sinc, np.r_[WIDE, EDGES], F64),
    "logit": (at.logit, torch and torch.logit, UNIT, F64),
    "logit_eps": (lambda x: at.logit(x, eps=0.1), lambda x: torch.logit(x, eps=0.1), UNIT, F64),
    "frac": (at.frac, torch and torch.frac, np.r_[WIDE, EDGES], dict(rtol=0, atol=0)),
    "deg2rad": (at.deg2rad, torch and torch.deg2rad, np.r_[WIDE, EDGES], dict(rtol=0, atol=0)),
    "rad2deg": (at.rad2deg, torch and torch.rad2deg, np.r_[WIDE, EDGES], dict(rtol=0, atol=0)),
    "sgn": (at.sgn, torch and torch.sgn, np.r_[WIDE, EDGES], dict(rtol=0, atol=0)),
    "mvlgamma3": (
        lambda x: at.mvlgamma(x, 3),
        lambda x: torch.mvlgamma(x, 3),
        np.r_[POS, 1.0],
        dict(rtol=1e-13, atol=1e-15),
    ),
    "expit": (S.expit, torch and torch.special.expit, np.r_[WIDE, EDGES], dict(rtol=1e-15, atol=0)),
}
# where torch's gradient is to be compared (finite, away from the poles and kinks)
GRAD_POINTS = {
    "lgamma": np.r_[POS, -2.5, -0.3, 0.0, -1.0],
    "digamma": np.r_[POS, -2.5, -0.3, 0.0],
    "polygamma1": np.r_[POS, -2.5],
    "polygamma2": np.r_[POS, -2.5],
    "polygamma5": POS,
    "i0": np.r_[WIDE[:50], 0.0],
    "i0e": np.r_[WIDE[:50], 0.0],
    "i1": np.r_[WIDE[:50], 0.0, 1e-20],
    "i1e": np.r_[WIDE[:50], 0.0, 1e-20],
    "erfcx": np.r_[WIDE[:50], 0.0, 30.0],
    "erfc": np.r_[WIDE[:50], 0.0],
    "ndtr": np.r_[WIDE[:50], 0.0],
    "log_ndtr": np.r_[WIDE[:50], 0.0, -1.0, -40.0, 40.0],
    "ndtri": np.r_[RNG.uniform(0.01, 0.99, 50), 0.5],
    "entr": np.r_[POS, 0.0, -1.0],
    "sinc": np.r_[WIDE[:50], 0.0],
    "logit": np.r_[UNIT, -0.5, 1.5],
    "logit_eps": np.r_[UNIT, 0.05, 0.95],
    "frac": WIDE,
    "deg2rad": WIDE,
    "rad2deg": WIDE,
    "sgn": WIDE,
    "mvlgamma3": np.r_[POS[POS > 1.05]],
    "expit": WIDE,
}


@needs_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_float64(name: str) -> None:
    fa, ft, xs, tol = UNARY[name]
    a, t = _pair(xs)
    _same(fa(a), ft(t), what=name, **tol)


@needs_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_float32(name: str) -> None:
    fa, ft, xs, _ = UNARY[name]
    with np.errstate(all="ignore"):
        xs = xs[np.abs(xs) < 3e38].astype(np.float32)
    a, t = _pair(xs, "float32")
    tol = F32 if name not in ("sinc", "entr", "ndtr") else dict(rtol=2e-6, atol=6e-8)
    if name == "ndtri":  # float32's 1 - p near 1 and near 1/2 (where the result is tiny)
        tol = dict(rtol=2e-6, atol=1e-7)
    if name.startswith("polygamma") or name in ("lgamma", "digamma", "mvlgamma3"):
        tol = dict(rtol=1e-5, atol=1e-6)  # torch's float kernels round every step to float32
    _same(fa(a), ft(t), what=name, **tol)


@needs_torch
@pytest.mark.parametrize("name", sorted(GRAD_POINTS))
def test_unary_gradients(name: str) -> None:
    fa, ft, _, _ = UNARY[name]
    xs = GRAD_POINTS[name]
    a, t = _pair(xs, grad=True)
    w = RNG.uniform(0.5, 1.5, xs.shape)
    (fa(a) * at.tensor(w)).sum().backward()
    (ft(t) * torch.tensor(w)).sum().backward()
    _same(a.grad, t.grad, rtol=1e-12, atol=1e-300, what=name)


@needs_torch
@pytest.mark.parametrize(
    "name",
    [
        "lgamma",
        "digamma",
        "polygamma2",
        "i0",
        "i1",
        "sinc",
        "logit",
        "entr",
        "erfcx",
        "log_ndtr",
        "ndtri",
        "mvlgamma3",
    ],
)
def test_unary_second_derivatives(name: str) -> None:
    fa, ft, _, _ = UNARY[name]
    xs = GRAD_POINTS[name]
    xs = xs[np.isfinite(xs) & (xs != 0) & (xs > -1.5) & (xs < 0.99 if name == "logit" else True)]
    if name == "erfcx":  # for large x its derivatives are differences of nearly equal terms
        xs = xs[np.abs(xs) < 5]
    a, t = _pair(xs, grad=True)
    (ga,) = at.autograd.grad(fa(a).sum(), a, create_graph=True)
    (gt,) = torch.autograd.grad(ft(t).sum(), t, create_graph=True)
    ga.sum().backward()
    gt.sum().backward()
    _same(a.grad, t.grad, rtol=1e-10, atol=1e-300, what=name)


@needs_torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_shapes_and_integer_inputs(name: str) -> None:
    """0-d, empty and transposed inputs keep torch's shapes and values; integer and bool
    inputs give what torch gives (the default float dtype, or torch's error)."""
    fa, ft, _, _ = UNARY[name]
    base = RNG.uniform(0.1, 0.9, (4, 3))
    for arr in (np.asarray(0.3), np.zeros((0, 3)), base.T, base[:, :1]):
        a, t = _pair(arr)
        _same(fa(a), ft(t), rtol=1e-13, atol=1e-15, what=f"{name} {arr.shape}")
    for arr in (np.array([[0, 1, 3], [2, 5, 7]]), np.array([True, False])):
        a, t = at.tensor(arr), torch.tensor(arr)
        try:
            expected = ft(t)
        except (RuntimeError, NotImplementedError) as e:
            with pytest.raises(type(e), match=str(e).split(" for ")[0].strip('"')):
                fa(a)
            continue
        _same(fa(a), expected, rtol=2e-6, atol=1e-7, what=f"{name} {arr.dtype}")


@needs_torch
def test_lgamma_digamma_edge_values_exactly() -> None:
    a, t = _pair(EDGES)
    for fa, ft in ((at.lgamma, torch.lgamma), (at.digamma, torch.digamma)):
        ra, rt = fa(a).numpy(), ft(t).numpy()
        same = (ra == rt) | (np.isnan(ra) & np.isnan(rt))
        assert same[np.isinf(rt) | np.isnan(rt)].all()
    assert at.digamma(at.tensor([0.0, -0.0])).tolist() == [-INF, INF]
    assert math.isnan(at.digamma(at.tensor([-3.0])).item())
    assert at.lgamma(at.tensor([-3.0, 0.0])).tolist() == [INF, INF]


# -- binary functions ------------------------------------------------------------------------
SHAPES = [((3, 4), (3, 4)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((), (2, 2)), ((0, 3), (3,))]


def _binary_inputs(kind: str, shape: tuple) -> np.ndarray:
    if kind == "pos":
        return RNG.uniform(0.1, 3.0, shape)
    return RNG.uniform(-3.0, 3.0, shape)


BINARY = {
    "xlogy": (at.xlogy, torch and torch.xlogy, "real", "pos"),
    "xlog1py": (S.xlog1py, torch and torch.special.xlog1py, "real", "pos"),
    "special.xlogy": (S.xlogy, torch and torch.special.xlogy, "real", "pos"),
    "logaddexp": (at.logaddexp, torch and torch.logaddexp, "real", "real"),
    "logaddexp2": (at.logaddexp2, torch and torch.logaddexp2, "real", "real"),
    "copysign": (at.copysign, torch and torch.copysign, "real", "real"),
    "nextafter": (at.nextafter, torch and torch.nextafter, "real", "real"),
    "ldexp": (at.ldexp, torch and torch.ldexp, "real", "real"),
    "float_power": (at.float_power, torch and torch.float_power, "pos", "real"),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_values_and_gradients(name: str, shapes: tuple, dtype: str) -> None:
    fa, ft, kx, ky = BINARY[name]
    x, y = _binary_inputs(kx, shapes[0]), _binary_inputs(ky, shapes[1])
    if name == "ldexp":
        y = np.round(y)
    ax, tx = _pair(x, dtype, grad=True)
    ay, ty = _pair(y, dtype, grad=True)
    ra, rt = fa(ax, ay), ft(tx, ty)
    tol = dict(rtol=1e-14, atol=1e-300) if dtype == "float64" else F32
    _same(ra, rt, what=name, **tol)
    if rt.numel():
        ra.sum().backward()
        rt.sum().backward()
        _same(ax.grad, tx.grad, what=name + " dx", **tol)
        if ty.grad is not None:
            _same(ay.grad, ty.grad, what=name + " dy", **tol)


@needs_torch
def test_binary_transposed_and_mixed_dtypes() -> None:
    x = RNG.uniform(0.1, 2, (4, 3))
    y = RNG.uniform(0.1, 2, (3, 4))
    for name, (fa, ft, _, _) in BINARY.items():
        if name == "ldexp":
            continue
        a1, t1 = _pair(x.T)
        a2, t2 = _pair(y, "float32")
        _same(fa(a1, a2), ft(t1, t2), rtol=1e-14, atol=1e-300, what=name)


@needs_torch
def test_xlogy_edge_values_and_gradients() -> None:
    xs = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, -1.0])
    ys = np.array([0.0, NAN, 2.0, 0.0, INF, -1.0, INF, 3.0])
    for fa, ft in ((at.xlogy, torch.xlogy), (S.xlog1py, torch.special.xlog1py)):
        ax, tx = _pair(xs, grad=True)
        ay, ty = _pair(ys - (fa is S.xlog1py), grad=True)
        ra, rt = fa(ax, ay), ft(tx, ty)
        _same(ra, rt, rtol=1e-15, atol=0)
        ra.sum().backward()
        rt.sum().backward()
        _same(ax.grad, tx.grad, rtol=1e-15, atol=0)
        _same(ay.grad, ty.grad, rtol=1e-15, atol=0)


@needs_torch
def test_binary_python_scalars_and_integer_promotion() -> None:
    ti, ai = torch.tensor([1, 2, 3]), at.tensor([1, 2, 3])
    tf, af = torch.tensor([0.5, 2.0]), at.tensor([0.5, 2.0])
    cases = [
        (lambda L, t: L.xlogy(t, 2), ai, ti),
        (lambda L, t: L.xlogy(2, t), ai, ti),
        (lambda L, t: L.xlogy(t, 2.5), af, tf),
        (lambda L, t: L.xlogy(t, t), ai, ti),
        (lambda L, t: L.copysign(t, -1), ai, ti),
        (lambda L, t: L.copysign(t, t), at.tensor([True]), torch.tensor([True])),
        (lambda L, t: L.float_power(t, 2), ai, ti),
        (lambda L, t: L.float_power(2, t), ai, ti),
        (lambda L, t: L.float_power(t, t), at.tensor([True]), torch.tensor([True])),
        (lambda L, t: L.ldexp(t, t), ai, ti),
        (lambda L, t: L.nextafter(t, t.double()), af, tf),
        (lambda L, t: L.special.xlog1py(t, 1), ai, ti),
    ]
    for i, (f, a, t) in enumerate(cases):
        _same(f(at, a), f(torch, t), rtol=1e-6, atol=0, what=f"case {i}")


@needs_torch
def test_logaddexp_infinities_and_gradients() -> None:
    xs = np.array([INF, -INF, INF, NAN, 1.0, 0.0, -INF])
    ys = np.array([INF, -INF, -INF, 1.0, 1.0, -800.0, 3.0])
    for fa, ft in ((at.logaddexp, torch.logaddexp), (at.logaddexp2, torch.logaddexp2)):
        ax, tx = _pair(xs, grad=True)
        ay, ty = _pair(ys, grad=True)
        ra, rt = fa(ax, ay), ft(tx, ty)
        _same(ra, rt, rtol=1e-15, atol=0)
        ra.sum().backward()
        rt.sum().backward()
        _same(ax.grad, tx.grad, rtol=1e-15, atol=0)
        _same(ay.grad, ty.grad, rtol=1e-15, atol=0)


@needs_torch
def test_copysign_and_signbit_edges() -> None:
    xs = np.array([0.0, -0.0, 2.0, NAN, -3.0, INF])
    ys = np.array([-1.0, -1.0, -0.0, -1.0, 2.0, NAN])
    ax, tx = _pair(xs, grad=True)
    ay, ty = _pair(ys, grad=True)
    ra, rt = at.copysign(ax, ay), torch.copysign(tx, ty)
    assert np.array_equal(np.signbit(ra.detach().numpy()), np.signbit(rt.detach().numpy()))
    ra.sum().backward()
    rt.sum().backward()
    _same(ax.grad, tx.grad, rtol=0, atol=0)
    _same(ay.grad, ty.grad, rtol=0, atol=0)
    for arr in (
        np.array([-0.0, 0.0, -NAN, NAN, -INF, 1.0]),
        np.array([-1, 0, 5]),
        np.array([True, False]),
    ):
        a, t = at.tensor(arr), torch.tensor(arr)
        assert at.signbit(a).tolist() == torch.signbit(t).tolist()
        assert at.signbit(a).dtype == at.bool
    x = at.tensor([-1.0, 2.0], requires_grad=True)
    assert not at.signbit(x).requires_grad


@needs_torch
def test_heaviside() -> None:
    x = np.array([-2.0, 0.0, -0.0, 3.0, NAN, INF])
    v = np.array([0.5])
    _same(
        at.heaviside(at.tensor(x), at.tensor(v)),
        torch.heaviside(torch.tensor(x), torch.tensor(v)),
        rtol=0,
        atol=0,
    )
    xi = np.array([1, 0, -2])
    assert at.heaviside(at.tensor(xi), at.tensor([7])).tolist() == [1, 7, 0]
    with pytest.raises(
        RuntimeError, match="heaviside is not yet implemented for tensors with different dtypes"
    ):
        at.heaviside(at.tensor([1.0]), at.tensor([1.0], dtype=at.float64))
    xg = at.tensor([0.5, 0.0], requires_grad=True)
    out = at.heaviside(xg, at.tensor([0.5, 0.5]))
    assert out.requires_grad  # as torch: recorded, but it has no derivative
    with pytest.raises(RuntimeError, match="derivative for aten::heaviside is not implemented"):
        out.sum().backward()


@needs_torch
def test_nextafter_steps_one_ulp_and_its_gradient() -> None:
    x = np.array([1.0, 0.0, -1.0, INF, 1e-320])
    y = np.array([2.0, -1.0, -2.0, 0.0, 0.0])
    for dt in ("float32", "float64"):
        ax, tx = _pair(x, dt, grad=True)
        ay, ty = _pair(y, dt, grad=True)
        ra, rt = at.nextafter(ax, ay), torch.nextafter(tx, ty)
        _same(ra, rt, rtol=0, atol=0)
        ra.sum().backward()
        rt.sum().backward()
        _same(ax.grad, tx.grad, rtol=0, atol=0)
        _same(ay.grad, ty.grad, rtol=0, atol=0)


@needs_torch
def test_gcd_lcm() -> None:
    x = np.array([0, -4, 6, 12, 7, 0])
    y = np.array([0, 6, -9, 18, 0, 5])
    for dt in ("int64", "int32", "int16", "uint8"):
        xx, yy = np.abs(x) if dt == "uint8" else x, np.abs(y) if dt == "uint8" else y
        a = (at.tensor(xx, dtype=getattr(at, dt)), at.tensor(yy, dtype=getattr(at, dt)))
        t = (torch.tensor(xx, dtype=getattr(torch, dt)), torch.tensor(yy, dtype=getattr(torch, dt)))
        _same(at.gcd(*a), torch.gcd(*t), rtol=0, atol=0, what=dt)
        _same(at.lcm(*a), torch.lcm(*t), rtol=0, atol=0, what=dt)
    a = at.tensor([[4], [6]])
    t = torch.tensor([[4], [6]])
    _same(at.gcd(a, at.tensor([6, 9, 10])), torch.gcd(t, torch.tensor([6, 9, 10])), rtol=0, atol=0)
    _same(
        at.gcd(at.tensor([4], dtype=at.int32), at.tensor([6])),
        torch.gcd(torch.tensor([4], dtype=torch.int32), torch.tensor([6])),
        rtol=0,
        atol=0,
    )


@needs_torch
def test_float_power_is_float64() -> None:
    for base, exp in ((np.array([2.0, 3.0]), 2.5), (np.array([2, 3]), np.array([0.5]))):
        a, t = at.tensor(base), torch.tensor(base)
        ea = at.tensor(exp, dtype=at.float32) if isinstance(exp, np.ndarray) else exp
        et = torch.tensor(exp, dtype=torch.float32) if isinstance(exp, np.ndarray) else exp
        _same(at.float_power(a, ea), torch.float_power(t, et), rtol=0, atol=0)
    x = at.tensor([2.0, 3.0], requires_grad=True)  # float32 in, float64 out, float32 grad
    tx = torch.tensor([2.0, 3.0], requires_grad=True)
    at.float_power(x, 2.5).sum().backward()
    torch.float_power(tx, 2.5).sum().backward()
    _same(x.grad, tx.grad, rtol=1e-7, atol=0)


@needs_torch
def test_polygamma_and_mvlgamma_arguments() -> None:
    x = at.tensor([1.5, 2.0], dtype=at.float64)
    t = torch.tensor([1.5, 2.0], dtype=torch.float64)
    _same(at.polygamma(0, x), torch.polygamma(0, t), rtol=0, atol=0)
    _same(x.polygamma(3), t.polygamma(3), rtol=1e-15, atol=0)
    for p in (1, 2, 4):
        _same(at.mvlgamma(x + 2, p), torch.mvlgamma(t + 2, p), rtol=1e-14, atol=0)
        _same(S.multigammaln(x + 2, p), torch.special.multigammaln(t + 2, p), rtol=1e-14, atol=0)
    _same(
        at.mvlgamma(at.tensor([2, 3]), 2),
        torch.mvlgamma(torch.tensor([2, 3]), 2),
        rtol=1e-6,
        atol=0,
    )


# -- in-place forms --------------------------------------------------------------------------
INPLACE = [
    ("logit_", (), lambda: np.array([0.2, 0.7])),
    ("logit_", (0.3,), lambda: np.array([0.2, 0.7])),
    ("frac_", (), lambda: np.array([-1.5, 2.25])),
    ("deg2rad_", (), lambda: np.array([180.0, 1.0])),
    ("rad2deg_", (), lambda: np.array([1.0, 2.0])),
    ("lgamma_", (), lambda: np.array([0.5, 3.0])),
    ("digamma_", (), lambda: np.array([0.5, 3.0])),
    ("polygamma_", (2,), lambda: np.array([0.5, 3.0])),
    ("mvlgamma_", (2,), lambda: np.array([1.5, 3.0])),
    ("sinc_", (), lambda: np.array([0.0, 0.3])),
    ("i0_", (), lambda: np.array([0.5, -3.0])),
    ("sgn_", (), lambda: np.array([-0.5, 0.0])),
    ("xlogy_", ("T", np.array([2.0, 0.5])), lambda: np.array([0.0, 3.0])),
    ("copysign_", ("T", np.array([-1.0, 1.0])), lambda: np.array([2.0, -3.0])),
    ("nextafter_", ("T", np.array([2.0, 0.0])), lambda: np.array([1.0, 1.0])),
    ("ldexp_", ("T", np.array([2.0, -1.0])), lambda: np.array([1.0, 3.0])),
    ("heaviside_", ("T", np.array([0.5, 0.5])), lambda: np.array([0.0, -1.0])),
]


def _args(lib, args: tuple) -> tuple:
    if args and args[0] == "T":
        return (lib.tensor(args[1], dtype=lib.float64),)
    return args


@needs_torch
@pytest.mark.parametrize("name,args,make", INPLACE, ids=[f"{n}{a[:1]}" for n, a, _ in INPLACE])
def test_inplace_forms(name: str, args: tuple, make) -> None:
    a = at.tensor(make(), dtype=at.float64)
    t = torch.tensor(make(), dtype=torch.float64)
    ra = getattr(a, name)(*_args(at, args))
    rt = getattr(t, name)(*_args(torch, args))
    assert ra is a
    _same(a, t, rtol=1e-15, atol=0, what=name)
    _same(ra, rt, rtol=1e-15, atol=0, what=name)


@needs_torch
def test_inplace_refuses_float_results_in_integer_tensors() -> None:
    for name, args in (("lgamma_", ()), ("xlogy_", (2.0,)), ("deg2rad_", ())):
        with pytest.raises(RuntimeError) as ours:
            getattr(at.tensor([1, 2]), name)(*args)
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.tensor([1, 2]), name)(*args)
        assert "can't be cast to the desired output type Long" in str(theirs.value)
        assert "can't be cast to the desired output type Long" in str(ours.value)
    with pytest.raises(
        RuntimeError,
        match="the base given to float_power_ has dtype Float but the "
        "operation's result requires dtype Double",
    ):
        at.tensor([2.0]).float_power_(2)
    x = at.tensor([2.0], dtype=at.float64)
    assert x.float_power_(at.tensor([2.0])) is x and x.tolist() == [4.0]


@needs_torch
def test_inplace_gradient_flows() -> None:
    a = at.tensor([0.5, 1.5], dtype=at.float64, requires_grad=True)
    t = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    ya = (a * 2).lgamma_().digamma_()
    yt = (t * 2).lgamma_().digamma_()
    _same(ya, yt, rtol=1e-14, atol=0)
    ya.sum().backward()
    yt.sum().backward()
    _same(a.grad, t.grad, rtol=1e-12, atol=0)


# -- errors ----------------------------------------------------------------------------------
ERRORS = [
    ("gcd of floats", lambda L: L.gcd(L.tensor([1.0]), L.tensor([2.0]))),
    ("gcd of bools", lambda L: L.gcd(L.tensor([True]), L.tensor([False]))),
    ("lcm of floats", lambda L: L.lcm(L.tensor([1.0]), L.tensor([2.0]))),
    ("gcd scalar", lambda L: L.gcd(L.tensor([4]), 6)),
    ("frac of ints", lambda L: L.frac(L.tensor([1, 2]))),
    ("frac of bools", lambda L: L.frac(L.tensor([True]))),
    ("logaddexp of ints", lambda L: L.logaddexp(L.tensor([1]), L.tensor([2]))),
    ("logaddexp2 of ints", lambda L: L.logaddexp2(L.tensor([1]), L.tensor([2]))),
    ("logaddexp scalar", lambda L: L.logaddexp(L.tensor([1.0]), 2)),
    ("nextafter of ints", lambda L: L.nextafter(L.tensor([1]), L.tensor([2]))),
    ("polygamma negative n", lambda L: L.polygamma(-1, L.tensor([1.0]))),
    ("polygamma float n", lambda L: L.polygamma(1.5, L.tensor([1.0]))),
    ("mvlgamma p = 0", lambda L: L.mvlgamma(L.tensor([2.5]), 0)),
    ("ldexp scalar", lambda L: L.ldexp(L.tensor([1.0]), 3)),
    ("heaviside dtypes", lambda L: L.heaviside(L.tensor([1.0]), L.tensor([1], dtype=L.int64))),
]


@needs_torch
@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_error_parity(case) -> None:
    _, f = case
    with pytest.raises(Exception) as theirs:
        f(torch)
    with pytest.raises(type(theirs.value)) as ours:
        f(at)
    gist = str(theirs.value).split("\n")[0][:40]
    assert gist in str(ours.value), (str(ours.value), str(theirs.value))


# -- the namespace ---------------------------------------------------------------------------
@needs_torch
def test_special_namespace_aliases() -> None:
    x = RNG.uniform(0.2, 3.0, (3, 4))
    a, t = _pair(x)
    cases = [
        "gammaln",
        "psi",
        "digamma",
        "erf",
        "erfinv",
        "expm1",
        "exp2",
        "log1p",
        "i0",
        "sinc",
        "round",
        "logit",
        "expit",
    ]
    for name in cases:
        arg_a = a / 4 if name == "erfinv" else a
        arg_t = t / 4 if name == "erfinv" else t
        _same(
            getattr(S, name)(arg_a),
            getattr(torch.special, name)(arg_t),
            rtol=1e-13,
            atol=1e-15,
            what=name,
        )
    _same(S.polygamma(2, a), torch.special.polygamma(2, t), rtol=1e-14, atol=0)
    _same(S.softmax(a, 1), torch.special.softmax(t, 1), rtol=1e-13, atol=0)
    _same(S.log_softmax(a, 0), torch.special.log_softmax(t, 0), rtol=1e-13, atol=0)
    _same(
        S.softmax(a, 1, dtype=at.float32),
        torch.special.softmax(t, 1, dtype=torch.float32),
        rtol=1e-6,
        atol=0,
    )
    _same(
        S.logsumexp(a, 1, keepdim=True),
        torch.special.logsumexp(t, 1, keepdim=True),
        rtol=1e-13,
        atol=0,
    )
    _same(S.round(a * 10, decimals=1), torch.special.round(t * 10, decimals=1), rtol=0, atol=0)
    assert set(S.__all__) <= {n for n in dir(torch.special) if not n.startswith("_")}


def test_import_paths() -> None:
    import importlib

    assert importlib.import_module("autotensor.special") is at.special
    for name in (
        "logit",
        "xlogy",
        "frac",
        "logaddexp",
        "logaddexp2",
        "copysign",
        "signbit",
        "float_power",
        "deg2rad",
        "rad2deg",
        "heaviside",
        "lgamma",
        "digamma",
        "polygamma",
        "mvlgamma",
        "sinc",
        "nextafter",
        "ldexp",
        "gcd",
        "lcm",
        "i0",
        "sgn",
    ):
        assert callable(getattr(at, name)), name
        assert callable(getattr(at.Tensor, name)), name


# -- gradchecks of the composed functions ----------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: at.mvlgamma(x + 2.0, 3),
        lambda x: S.log_ndtr(x * 3.0),
        lambda x: S.ndtr(x),
        lambda x: at.frac(x * 3.0),
        lambda x: at.ldexp(x, at.tensor([[1.0, -2.0, 3.0]], dtype=at.float64)),
        lambda x: at.float_power(x.abs() + 0.5, 1.5),
        lambda x: at.deg2rad(x) + at.rad2deg(x),
        lambda x: S.xlogy(x, x.abs() + 0.1),
        lambda x: S.logsumexp(x, 1),
    ],
    ids=[
        "mvlgamma",
        "log_ndtr",
        "ndtr",
        "frac",
        "ldexp",
        "float_power",
        "deg_rad",
        "xlogy",
        "logsumexp",
    ],
)
def test_composed_gradcheck(fn) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.5, 1.5, (2, 3))
    x = np.where(np.abs(x * 3 - np.round(x * 3)) < 0.1, x + 0.05, x)  # clear of frac's jumps
    t = at.tensor(x, dtype=at.float64, requires_grad=True)
    assert at.gradcheck(fn, (t,))
    assert at.gradgradcheck(fn, (t,))


def test_log_ndtr_gradient_has_no_nan_from_the_unused_branch() -> None:
    x = at.tensor([-40.0, -1.0, 0.0, 40.0], dtype=at.float64, requires_grad=True)
    S.log_ndtr(x).sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all() and g[0] > 39.0 and g[-1] == 0.0


# -- properties ------------------------------------------------------------------------------
if given is not None:
    _arrays = hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=st.floats(0.05, 40.0),
    )

    @needs_hypothesis
    @given(_arrays)
    def test_lgamma_recurrence(x: np.ndarray) -> None:
        """lgamma(x + 1) = lgamma(x) + log x."""
        t = at.tensor(x)
        lhs = at.lgamma(t + 1.0).numpy()
        rhs = (at.lgamma(t) + t.log()).numpy()
        # both sides round terms of size |lgamma(x)| + |log x|
        scale = np.abs(at.lgamma(t).numpy()) + np.abs(np.log(x)) + 1.0
        assert (np.abs(lhs - rhs) <= 1e-14 * scale).all()

    @needs_hypothesis
    @given(_arrays)
    def test_digamma_and_polygamma_recurrences(x: np.ndarray) -> None:
        """psi(x + 1) = psi(x) + 1/x and psi'(x + 1) = psi'(x) - 1/x^2."""
        t = at.tensor(x)
        lhs = at.digamma(t + 1.0).numpy()
        rhs = (at.digamma(t) + 1.0 / t).numpy()
        scale = np.abs(at.digamma(t).numpy()) + 1.0 / x + 1.0
        assert (np.abs(lhs - rhs) <= 1e-14 * scale).all()
        # torch's trigamma stops its asymptotic series at x^-7 (about 1e-9 relative)
        lhs = at.polygamma(1, t + 1.0).numpy()
        rhs = (at.polygamma(1, t) - 1.0 / (t * t)).numpy()
        assert (np.abs(lhs - rhs) <= 1e-8 * (np.abs(lhs) + 1.0 / x**2)).all()

    @needs_hypothesis
    @given(_arrays, st.floats(-50, 50))
    def test_logaddexp_symmetric_and_above_max(x: np.ndarray, c: float) -> None:
        a, b = at.tensor(x - 20.0), at.tensor(c, dtype=at.float64)
        r1, r2 = at.logaddexp(a, b).numpy(), at.logaddexp(b, a).numpy()
        assert np.array_equal(r1, r2)
        assert (r1 >= np.maximum(x - 20.0, c)).all()
        assert (r1 <= np.maximum(x - 20.0, c) + math.log(2.0) + 1e-12).all()

    @needs_hypothesis
    @given(_arrays)
    def test_i0_is_even_i1_odd_and_scaled_forms_agree(x: np.ndarray) -> None:
        t = at.tensor(x)
        assert np.array_equal(at.i0(-t).numpy(), at.i0(t).numpy())
        assert np.array_equal(S.i1(-t).numpy(), -S.i1(t).numpy())
        np.testing.assert_allclose(S.i0e(t).numpy(), (at.i0(t) * (-t).exp()).numpy(), rtol=1e-14)

    @needs_hypothesis
    @given(
        hnp.arrays(
            np.float64, hnp.array_shapes(max_dims=2, max_side=5), elements=st.floats(1e-6, 1 - 1e-6)
        )
    )
    def test_ndtri_inverts_ndtr(p: np.ndarray) -> None:
        x = S.ndtri(at.tensor(p))
        np.testing.assert_allclose(S.ndtr(x).numpy(), p, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(at.logit(S.expit(at.tensor(p))).numpy(), p, rtol=1e-8)


# -- the numpy-only kernels ------------------------------------------------------------------
def test_numpy_lgamma_matches_the_scipy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    xs = np.r_[WIDE, EDGES]
    with_default = G.lgamma_kernel(xs)
    monkeypatch.setattr(G, "_scipy_gammaln", None)
    numpy_only = G.lgamma_kernel(xs)
    # Python's lgamma loses a few more ulps than C's next to the roots 1 and 2
    np.testing.assert_allclose(numpy_only, with_default, rtol=1e-13, atol=1e-15)
    assert np.array_equal(np.isinf(numpy_only), np.isinf(with_default))


@needs_scipy
def test_kernels_against_scipy() -> None:
    xs = np.r_[WIDE, EDGES]
    finite = np.isfinite(xs)
    pairs = [
        (G.digamma_kernel(xs[xs > 0]), sc.digamma(xs[xs > 0]), 1e-13, 1e-15),
        (G.polygamma_kernel(3, xs[finite]), sc.polygamma(3, xs[finite]), 1e-12, 0),
        (G.i0_kernel(xs), sc.i0(xs), 5e-15, 0),
        (G.i1e_kernel(xs), sc.i1e(xs), 5e-15, 1e-300),
        (G.erfcx_kernel(xs), sc.erfcx(xs), 3e-14, 0),
        (G.ndtri_kernel(UNIT), sc.ndtri(UNIT), 1e-14, 1e-16),
        # Python's lgamma: a few more ulps than C's next to the roots 1 and 2
        (G.lgamma_numpy(xs), sc.gammaln(np.where(np.isneginf(xs), INF, xs)), 1e-13, 1e-15),
    ]
    for i, (mine, ref, rtol, atol) in enumerate(pairs):
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(ref)
        np.testing.assert_allclose(mine[ok], ref[ok], rtol=rtol, atol=atol, err_msg=str(i))


def test_erfc_keeps_its_right_tail() -> None:
    """erfc is C's (torch's) erfc, not 1 - erf, which is 0 beyond x ~ 6."""
    xs = np.array([5.0, 10.0, 20.0, 26.0])
    assert (G.erfc_kernel(xs) == np.array([math.erfc(v) for v in xs])).all()
    assert (G.erfc_kernel(xs) > 0).all()


@pytest.mark.parametrize(
    "name",
    ["lgamma", "digamma", "i0", "special.i1", "special.i0e", "special.erfcx", "special.ndtri",
     "special.entr", "erfc", "special.i1e"],
)  # fmt: skip
def test_backward_saves_what_torchs_saves(name: str) -> None:
    # an in-place change of what torch's backward saved is refused at backward; of the other
    # one (input or result), it is no error
    def outcome(L, change: str) -> str:
        x = L.tensor([0.3, 0.6], requires_grad=True)
        y = x * 1
        fn = L
        for part in name.split("."):
            fn = getattr(fn, part)
        o = fn(y)
        with L.no_grad():
            (y if change == "input" else o).mul_(1.0)
        try:
            o.sum().backward()
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            return "refused"
        return "ok"

    for change in ("input", "result"):
        assert outcome(at, change) == outcome(torch, change)

"""Further elementwise primitives: atan2, the inverse error function, and the trigonometric,
hyperbolic, exponential and logarithmic functions of one tensor."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from autotensor import _views
from autotensor.function import Function
from autotensor.ops.elementwise import _unary_layout, _unary_samples
from autotensor.testing.sample import Sample


class Atan2(Function):
    """out = atan2(y, x), the angle of the point (x, y) in (-pi, pi];
    dy = g x / (x^2 + y^2), dx = -g y / (x^2 + y^2).  Shapes: y, x broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return _views.iterator_layout(np.arctan2(y, x), y, x)  # torch's elementwise layout

    @staticmethod
    def backward(ctx, g):
        y, x = ctx.saved_tensors
        r2 = x * x + y * y
        return g * x / r2, -g * y / r2

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(-2, 2, (3, 4)), u(0.5, 2, (3, 4)))
        yield Sample(u(-2, 2, (2, 3)), u(-2, -0.5, (3,)), note="broadcast, left half-plane")
        yield Sample(u(0.5, 2, ()), u(0.5, 2, (2, 2)), note="0-d")
        yield Sample(u(-2, 2, (4, 3)).T, u(0.5, 2, (3, 1)), note="transposed, size-1")
        yield Sample(u(-2, 2, (0, 3)), u(0.5, 2, (3,)), note="empty")


def _erfinv(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erfinv
    except ImportError:  # without scipy: Newton's method on math.erf from a rational guess
        return _erfinv_newton(x)
    return np.asarray(erfinv(x)).astype(x.dtype, copy=False)


def _erfinv_newton(x: np.ndarray) -> np.ndarray:
    xd = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    # Giles' single-precision approximation as the starting point
    w = -np.log(np.clip((1.0 - xd) * (1.0 + xd), 1e-300, None))
    y = xd * np.where(w < 5, 1.5 + 0.25 * (w - 2.5), 3.0 + 0.1 * (np.sqrt(w) - 3.0))
    for _ in range(60):
        step = (erf(y) - xd) / (2.0 / math.sqrt(math.pi) * np.exp(-y * y))
        y = y - np.nan_to_num(step)
    y = np.where(np.abs(xd) == 1, np.sign(xd) * np.inf, y)
    y = np.where(np.abs(xd) > 1, np.nan, y)
    return y.astype(x.dtype)


class Erfinv(Function):
    """out = erfinv(x) on (-1, 1) (erf(out) = x);  dx = g sqrt(pi)/2 exp(out^2)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = _unary_layout(_erfinv(x), x)  # torch's elementwise layout
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * ((out * out).exp() * (math.sqrt(math.pi) / 2.0))

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, -0.9, 0.9)


# -- trigonometric, hyperbolic, exponential and logarithmic functions -------------------------
class _Elementwise(Function):
    """out = fn(x) for a numpy function `fn`, laid out as torch's; dx = g * derivative(x, out),
    in Tensor ops so that it is itself differentiable. Only what torch's backward saves is
    kept (`saves`: "x", "out" or both), so that an in-place change of the other is no error,
    as in torch; the one not saved reaches `derivative` as None. Each subclass names its
    function, its derivative and the interval its samples are drawn from."""

    takes_arrays = True
    fn: Callable[[np.ndarray], Any]
    saves: tuple[str, ...] = ("x",)
    domain: tuple[float, float] = (-2.0, 2.0)

    @classmethod
    def compute(cls, x: np.ndarray) -> np.ndarray:
        return np.asarray(cls.fn(x))

    @staticmethod
    def forward(ctx, x):
        cls = type(ctx)
        out = _unary_layout(cls.compute(x), x)
        ctx.save_for_backward(x if "x" in cls.saves else None,
                              out if "out" in cls.saves else None)  # fmt: skip
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return g * type(ctx).derivative(x, out)

    @staticmethod
    def derivative(x, out):
        raise NotImplementedError

    @classmethod
    def sample_inputs(cls, rng):
        return _unary_samples(rng, *cls.domain)


class Tan(_Elementwise):
    """out = tan(x);  dx = g (1 + out^2)."""

    fn = np.tan
    saves = ("out",)
    domain = (-1.2, 1.2)

    @staticmethod
    def derivative(x, out):
        return out * out + 1.0


class Sinh(_Elementwise):
    """out = sinh(x);  dx = g cosh(x)."""

    fn = np.sinh

    @staticmethod
    def derivative(x, out):
        return Cosh.apply(x)


class Cosh(_Elementwise):
    """out = cosh(x);  dx = g sinh(x)."""

    fn = np.cosh

    @staticmethod
    def derivative(x, out):
        return Sinh.apply(x)


class Asin(_Elementwise):
    """out = asin(x) on [-1, 1];  dx = g / sqrt(1 - x^2)."""

    fn = np.arcsin
    domain = (-0.9, 0.9)

    @staticmethod
    def derivative(x, out):
        return (1.0 - x * x).rsqrt()


class Acos(_Elementwise):
    """out = acos(x) on [-1, 1];  dx = -g / sqrt(1 - x^2)."""

    fn = np.arccos
    domain = (-0.9, 0.9)

    @staticmethod
    def derivative(x, out):
        return -(1.0 - x * x).rsqrt()


class Atan(_Elementwise):
    """out = atan(x);  dx = g / (1 + x^2)."""

    fn = np.arctan

    @staticmethod
    def derivative(x, out):
        return (x * x + 1.0).reciprocal()


class Asinh(_Elementwise):
    """out = asinh(x);  dx = g / sqrt(x^2 + 1)."""

    fn = np.arcsinh

    @staticmethod
    def derivative(x, out):
        return (x * x + 1.0).rsqrt()


class Acosh(_Elementwise):
    """out = acosh(x) for x >= 1;  dx = g / sqrt(x^2 - 1)."""

    fn = np.arccosh
    domain = (1.1, 3.0)

    @staticmethod
    def derivative(x, out):
        return (x * x - 1.0).rsqrt()


class Atanh(_Elementwise):
    """out = atanh(x) on (-1, 1);  dx = g / (1 - x^2)."""

    fn = np.arctanh
    domain = (-0.9, 0.9)

    @staticmethod
    def derivative(x, out):
        return (1.0 - x * x).reciprocal()


class Expm1(_Elementwise):
    """out = exp(x) - 1 (exact for small x);  dx = g (out + 1)."""

    fn = np.expm1
    saves = ("out",)

    @staticmethod
    def derivative(x, out):
        return out + 1.0


class Exp2(_Elementwise):
    """out = 2^x;  dx = g out ln 2."""

    fn = np.exp2
    saves = ("out",)

    @staticmethod
    def derivative(x, out):
        return out * math.log(2.0)


class Log2(_Elementwise):
    """out = log2(x);  dx = g / (x ln 2)."""

    fn = np.log2
    domain = (0.5, 3.0)

    @staticmethod
    def derivative(x, out):
        return (x * math.log(2.0)).reciprocal()


class Log10(_Elementwise):
    """out = log10(x);  dx = g / (x ln 10)."""

    fn = np.log10
    domain = (0.5, 3.0)

    @staticmethod
    def derivative(x, out):
        return (x * math.log(10.0)).reciprocal()

"""Elementwise primitives of two further functions: atan2 and the inverse error function."""

from __future__ import annotations

import math

import numpy as np

from autotensor import _views
from autotensor.function import Function
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
        out = _views.iterator_layout(_erfinv(x), x)  # torch's elementwise layout
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * ((out * out).exp() * (math.sqrt(math.pi) / 2.0))

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(-0.9, 0.9, (3, 4)))
        yield Sample(u(-0.9, 0.9, ()), note="0-d")
        yield Sample(u(-0.9, 0.9, (1, 3, 1)), note="size-1 dims")
        yield Sample(u(-0.9, 0.9, (4, 3)).T, note="transposed")
        yield Sample(u(-0.9, 0.9, (0, 2)), note="empty")

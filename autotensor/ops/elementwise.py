"""Elementwise primitives. Binary ones set `broadcasts = True`: their forward and backward see
inputs of one shape (Note [Broadcasting] in function.py); a Python scalar operand is 'weak'
and keeps the tensor's dtype, as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from autotensor.function import Function
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample


def _mask(cond: np.ndarray, like: Tensor) -> np.ndarray:
    """A 0/1 (or weight) array in the gradient's dtype: keeps float32 graphs float32."""
    return cond.astype(like._data.dtype, copy=False)


def _binary_samples(rng: np.random.Generator, lo: float = -2.0, hi: float = 2.0) -> Iterator:
    u = rng.uniform
    yield Sample(u(lo, hi, (3, 4)), u(lo, hi, (3, 4)))
    yield Sample(u(lo, hi, (2, 3)), u(lo, hi, (3,)), note="broadcast")
    yield Sample(u(lo, hi, (2, 1, 3)), u(lo, hi, (4, 1)), note="broadcast both")
    yield Sample(u(lo, hi, ()), u(lo, hi, (2, 2)), note="0-d")
    yield Sample(u(lo, hi, (4, 3)).T, u(lo, hi, (3, 4)), note="transposed")
    yield Sample(u(lo, hi, (0, 3)), u(lo, hi, (3,)), note="empty")
    yield Sample(u(lo, hi, (2, 3)), 1.5, note="python scalar")


def _unary_samples(rng: np.random.Generator, lo: float = -2.0, hi: float = 2.0) -> Iterator:
    u = rng.uniform
    yield Sample(u(lo, hi, (3, 4)))
    yield Sample(u(lo, hi, ()), note="0-d")
    yield Sample(u(lo, hi, (1, 3, 1)), note="size-1 dims")
    yield Sample(u(lo, hi, (4, 3)).T, note="transposed")
    yield Sample(u(lo, hi, (0, 2)), note="empty")


class Add(Function):
    """out = x + y.  Shapes: x, y broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, g):
        return g, g

    sample_inputs = staticmethod(_binary_samples)


class Sub(Function):
    """out = x - y.  Shapes: x, y broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)

    sample_inputs = staticmethod(_binary_samples)


class Mul(Function):
    """out = x * y;  dx = g * y, dy = g * x.  Shapes: x, y broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        nx, ny = ctx.needs_input_grad
        ctx.save_for_backward(x if ny else None, y if nx else None)  # only what backward uses
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        return (g * y if nx else None), (g * x if ny else None)

    sample_inputs = staticmethod(_binary_samples)


class Div(Function):
    """out = x / y;  dx = g / y, dy = -g * x / y**2.  Shapes: x, y broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, y)  # only what is used
        return x / y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = g / y
        return (gx if ctx.needs_input_grad[0] else None), (
            -gx * x / y if ctx.needs_input_grad[1] else None
        )

    @staticmethod
    def sample_inputs(rng):
        for s in _binary_samples(rng):
            a, b = s.args
            b = np.where(np.abs(b) < 0.5, 0.5, b) if isinstance(b, np.ndarray) else b
            yield Sample(a, b, note=s.note)


class Pow(Function):
    """out = x ** y;  dx = g * y * x**(y-1), dy = g * out * log(x) (0 where x == 0, y >= 0)."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        out = np.power(x, y)
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, y, out = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            if isinstance(y, Tensor):
                gx = g * y * x ** (y - 1.0)
                zero = y._data == 0
                if zero.any():  # torch: 0 where y == 0 (x == 0 would give 0 * inf = nan)
                    gx = Where.apply(zero, 0.0, gx)
            elif y == 0:
                gx = g * 0.0
            else:
                gx = g * float(y) * x ** (float(y) - 1.0)
        if ctx.needs_input_grad[1]:
            if isinstance(x, Tensor):
                safe = (x._data == 0) & (y._data >= 0)
                logx = Where.apply(safe, 1.0, x).log() if safe.any() else x.log()  # log 1 = 0
                gy = g * out * logx
            else:
                gy = g * out * (math.log(x) if x > 0 else float("nan"))
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(0.5, 2, (3, 4)), u(-2, 2, (3, 4)))
        yield Sample(u(0.5, 2, (2, 3)), u(-2, 2, (3,)), note="broadcast")
        yield Sample(u(-2, 2, (2, 3)), 2.0, note="square")
        yield Sample(u(0.5, 2, (2, 3)), -0.5, note="rsqrt")
        yield Sample(u(0.5, 2, ()), u(-1, 1, ()), note="0-d")
        yield Sample(2.0, u(-1, 1, (3,)), note="scalar base")
        yield Sample(u(0.5, 2, (4, 3)).T, u(-2, 2, (3, 1)), note="transposed, size-1")
        yield Sample(u(0.5, 2, (0, 3)), u(-2, 2, (3,)), note="empty")


class Maximum(Function):
    """out = max(x, y); ties split the gradient evenly (as torch)."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return np.maximum(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xd, yd = (v._data if isinstance(v, Tensor) else v for v in (x, y))
        w = _mask(xd > yd, g) + _mask(xd == yd, g) * 0.5
        return (g * w if ctx.needs_input_grad[0] else None), (
            g * (1.0 - w) if ctx.needs_input_grad[1] else None
        )

    @staticmethod
    def sample_inputs(rng):
        yield from _binary_samples(rng)
        a = rng.uniform(-1, 1, (3, 3))
        # The first derivative jumps at a tie, so only the first order is checked there.
        yield Sample(a, a.copy(), note="ties", gradgrad=False)


class Minimum(Function):
    """out = min(x, y); ties split the gradient evenly (as torch)."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return np.minimum(x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xd, yd = (v._data if isinstance(v, Tensor) else v for v in (x, y))
        w = _mask(xd < yd, g) + _mask(xd == yd, g) * 0.5
        return (g * w if ctx.needs_input_grad[0] else None), (
            g * (1.0 - w) if ctx.needs_input_grad[1] else None
        )

    sample_inputs = Maximum.sample_inputs


class Where(Function):
    """out = cond ? x : y.  Shapes: cond, x, y broadcast -> out; cond gets no gradient."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.cond = cond
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        c = ctx.cond
        gx = Where.apply(c, g, 0.0) if ctx.needs_input_grad[1] else None
        gy = Where.apply(c, 0.0, g) if ctx.needs_input_grad[2] else None
        return None, gx, gy

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.random((3, 4)) > 0.5, rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
        yield Sample(rng.random((3, 1)) > 0.5, rng.normal(size=(1, 4)), rng.normal(size=(3, 4)))
        yield Sample(rng.random((2, 3)) > 0.5, rng.normal(size=(2, 3)), 0.0, note="scalar")
        yield Sample(np.array(True), rng.normal(size=()), rng.normal(size=()), note="0-d")
        yield Sample(rng.random((4, 3)) > 0.5, rng.normal(size=(3, 4)).T, rng.normal(size=(4, 3)),
                     note="transposed")  # fmt: skip
        yield Sample(np.zeros((0, 3), bool), rng.normal(size=(0, 3)), rng.normal(size=(3,)),
                     note="empty")  # fmt: skip


# -- unary -----------------------------------------------------------------------------------
class Neg(Function):
    """out = -x."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g

    sample_inputs = staticmethod(_unary_samples)


class Exp(Function):
    """out = exp(x);  dx = g * out."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out

    sample_inputs = staticmethod(_unary_samples)


class Log(Function):
    """out = log(x);  dx = g / x."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, 0.5, 2.0)


class Log1p(Function):
    """out = log(1 + x);  dx = g / (1 + x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log1p(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (x + 1.0)

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, -0.5, 2.0)


class Sqrt(Function):
    """out = sqrt(x);  dx = g / (2 out)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (out * 2.0)

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, 0.5, 2.0)


class Sin(Function):
    """out = sin(x);  dx = g cos(x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.cos()

    sample_inputs = staticmethod(_unary_samples)


class Cos(Function):
    """out = cos(x);  dx = -g sin(x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -(g * x.sin())

    sample_inputs = staticmethod(_unary_samples)


class Tanh(Function):
    """out = tanh(x);  dx = g (1 - out**2)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1.0 - out * out)

    sample_inputs = staticmethod(_unary_samples)


class Sigmoid(Function):
    """out = 1 / (1 + exp(-x)) (computed without overflow);  dx = g out (1 - out)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        # exp of a non-positive number never overflows: use the form that keeps it so.
        e = np.exp(-np.abs(x))
        out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1.0 - out)

    sample_inputs = staticmethod(_unary_samples)


class ReLU(Function):
    """out = max(x, 0);  dx = g where x > 0 (0 at x == 0, as torch)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * _mask(out._data > 0, g)

    @staticmethod
    def sample_inputs(rng):
        for s in _unary_samples(rng):
            (x,) = s.args
            yield Sample(np.where(np.abs(x) < 0.1, 0.5, x), note=s.note)  # away from the kink


try:  # scipy is optional: its vectorised erf is much faster than a loop over math.erf
    from scipy.special import erf as _scipy_erf
except ImportError:
    _scipy_erf = None


def _erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise: scipy's vectorised erf when installed, else libm's via math.erf."""
    if _scipy_erf is None:
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=x.dtype)
    return np.asarray(_scipy_erf(x), dtype=x.dtype)


class Erf(Function):
    """out = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt;  dx = g * 2/sqrt(pi) exp(-x^2)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x * x).neg().exp() * (2.0 / math.sqrt(math.pi)))

    sample_inputs = staticmethod(_unary_samples)


class Abs(Function):
    """out = |x|;  dx = g sign(x) (0 at x == 0, as torch)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.sign(x._data).astype(g._data.dtype, copy=False)

    sample_inputs = ReLU.sample_inputs


class Clamp(Function):
    """out = min(max(x, lo), hi) for scalar bounds;  dx = g where lo <= x <= hi (as torch)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = min, max
        return np.clip(x, min, max)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        keep = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            keep &= x._data >= ctx.lo
        if ctx.hi is not None:
            keep &= x._data <= ctx.hi
        return g * _mask(keep, g)

    @staticmethod
    def sample_inputs(rng):
        x = rng.uniform(-2, 2, (4, 5))
        x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, 0.0, x)  # away from the bounds
        yield Sample(x, min=-0.5, max=0.5)
        yield Sample(x, min=-0.5)
        yield Sample(x, max=0.5)
        yield Sample(np.array(x[0, 0]), min=-0.5, max=0.5, note="0-d")
        yield Sample(x.T, min=-0.5, max=0.5, note="transposed")
        yield Sample(x[:, :1], min=-0.5, note="size-1")
        yield Sample(x[:0], max=0.5, note="empty")


class Cast(Function):
    """out = x converted to `dtype`;  dx = g converted back to x's dtype."""

    takes_arrays = True
    preserves_dtype = False

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype_in = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.dtype_in)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), np.dtype(np.float64))
        yield Sample(rng.normal(size=()), np.dtype(np.float64), note="0-d")
        yield Sample(rng.normal(size=(4, 1, 2)).T, np.dtype(np.float64), note="transposed, size-1")
        yield Sample(rng.normal(size=(0, 2)), np.dtype(np.float64), note="empty")


class Clone(Function):
    """out = a copy of x;  dx = g."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g

    sample_inputs = staticmethod(_unary_samples)


class _ZeroGrad(Function):
    """Piecewise-constant functions: the gradient is zero almost everywhere (as torch)."""

    takes_arrays = True

    @staticmethod
    def backward(ctx, g):
        return _new(np.zeros_like(g._data))

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.uniform(-3, 3, (3, 4)) + 0.25)
        yield Sample(np.asarray(1.3), note="0-d")
        yield Sample(rng.uniform(-3, 3, (4, 1, 2)).T + 0.25, note="transposed, size-1")
        yield Sample(rng.uniform(-3, 3, (0, 2)), note="empty")


class Sign(_ZeroGrad):
    """out = sign(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        if x.dtype == np.bool_:  # torch: sign of a bool tensor is itself
            return x.copy()
        out = np.sign(x)
        if out.dtype.kind == "f":  # torch's sign(nan) is 0, numpy's is nan
            out = np.nan_to_num(out, nan=0.0)
        return out


class Floor(_ZeroGrad):
    """out = floor(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        return np.floor(x)


class Ceil(_ZeroGrad):
    """out = ceil(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        return np.ceil(x)


class Trunc(_ZeroGrad):
    """out = trunc(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        return np.trunc(x)


class Round(_ZeroGrad):
    """out = x rounded half to even (as torch);  dx = 0."""

    @staticmethod
    def forward(ctx, x, decimals=0):
        return np.round(x, decimals)

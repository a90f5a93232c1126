"""Elementwise primitives. Binary ones set `broadcasts = True`: their forward and backward see
inputs of one shape (Note [Broadcasting] in function.py); a Python scalar operand is 'weak'
and keeps the tensor's dtype, as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from autotensor import _views, dtypes
from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import Tensor, _new, _wrap
from autotensor.testing.sample import Sample


def _mask(cond: np.ndarray, like: Tensor) -> np.ndarray:
    """A 0/1 (or weight) array in the gradient's dtype: keeps float32 graphs float32."""
    return cond.astype(like._data.dtype, copy=False)


def _dtype(x: Any, y: Any) -> np.dtype:
    """The dtype of a binary op's tensor operand (the other may be a Python scalar; a 0-d
    tensor arrives as an array or a numpy scalar)."""
    for v in (x, y):
        if isinstance(v, (np.ndarray, np.generic)):
            return v.dtype
    return np.asarray(x).dtype


def _unary_layout(out: Any, x: Any) -> Any:
    """out, numpy's result of an elementwise op on x alone, laid out as torch's (its
    TensorIterator over x, Note [Result layouts]): they can differ only when x is not
    C-contiguous, in the strides of size-1 and expanded dims and in tie-breaks."""
    if x.__class__ is not np.ndarray or x.flags.c_contiguous or out.__class__ is not np.ndarray:
        return out
    return _views.iterator_layout(out, x)


def _keep(cond: np.ndarray, g: Tensor) -> Tensor:
    """g where cond, else exactly 0: a gradient that is not selected stays 0 even where g is
    inf or NaN (multiplying by a 0/1 mask would turn those into NaN), as torch's where-based
    backward rules do."""
    if cond.all():
        return g
    d = g._data
    if not _grad_state.enabled and d.dtype.kind == "f" and _same_shape(cond, d):
        return _new(_select(cond, d))  # a plain backward: nothing to record
    return Where.apply(cond, g, 0.0)


def _keep_unless(drop: np.ndarray, g: Tensor) -> Tensor:
    """_keep(~drop, g): the plain backward selects with `drop` itself (two passes fewer
    than forming ~drop and testing it for all-true: ReLU's backward, once per layer)."""
    d = g._data
    if not _grad_state.enabled and d.dtype.kind == "f" and _same_shape(drop, d):
        return _new(_select(drop, d, invert=True))
    return _keep(~drop, g)


def _times(gd: np.ndarray, v: Any) -> Any:
    """g * v on the arrays, for the plain backward of a product, when v is a Python number
    or a tensor of g's dtype; NotImplemented otherwise (the Tensor-op rule then promotes as
    torch does). The Tensor-op rule is the reference (test_primitives, test_fast_paths)."""
    if v.__class__ is Tensor:
        d = v._data
        if d.dtype is not gd.dtype:
            return NotImplemented
        return _wrap(gd * d)
    if v.__class__ is float or v.__class__ is int:
        return _wrap(gd * v)
    return NotImplemented


_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _same_shape(cond: Any, d: np.ndarray) -> bool:
    return cond.__class__ is np.ndarray and cond.shape == d.shape  # not a numpy bool scalar


def _select(cond: np.ndarray, d: np.ndarray, invert: bool = False) -> np.ndarray:
    """np.where(cond, d, 0) for a float array d of cond's shape, without branches
    (np.where(cond, 0, d) with invert=True, which saves forming ~cond).

    np.where branches on every element, and on the random masks of ReLU it costs about seven
    times a multiply; masking d's bits with all-ones or all-zeros words gives the same array
    (+0.0 wherever cond is false, whatever d holds there) at the cost of a multiply.
    `tests/test_fast_paths.py` checks it against np.where."""
    u = _BITS[d.itemsize]
    m = np.empty(cond.shape, u)
    if invert:  # 1 - 1 or 0 - 1: all zeros or (wrapping) all ones
        np.subtract(cond.view(np.uint8), 1, out=m, dtype=u)
    else:  # -1 or -0: all ones or all zeros
        np.negative(cond.view(np.uint8), out=m, dtype=u)
    np.bitwise_and(m, d.view(u), out=m)
    return m.view(d.dtype)


def _sgn(x: np.ndarray) -> np.ndarray:
    """sign with sign(NaN) = 0, as torch's sgn in the backward of abs."""
    out = np.sign(x)
    return np.nan_to_num(out, nan=0.0) if out.dtype.kind == "f" else out


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
        return _views.iterator_layout(x + y, x, y)

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
        dtypes.check_sub(x, y)
        return _views.iterator_layout(x - y, x, y)

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
        return _views.iterator_layout(x * y, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        if not _grad_state.enabled:  # a plain backward: the products on the arrays
            gx = _times(g._data, y) if nx else None
            gy = _times(g._data, x) if ny else None
            if gx is not NotImplemented and gy is not NotImplemented:
                return gx, gy
        return (g * y if nx else None), (g * x if ny else None)

    sample_inputs = staticmethod(_binary_samples)


class Div(Function):
    """out = x / y;  dx = g / y, dy = -g * x / y**2.  Shapes: x, y broadcast -> out."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, y)  # only what is used
        return _views.iterator_layout(x / y, x, y)

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
        dtypes.check_supported("pow", _dtype(x, y))  # the base's (a bool exponent is fine)
        out = _int_power(x, y) if _dtype(x, y).kind in "iu" else _float_power(x, y)
        if x.__class__ is not np.ndarray and out.ndim > 1 and not out.flags.c_contiguous:
            out = np.ascontiguousarray(out)  # torch's number ** tensor is contiguous
        else:
            out = _views.iterator_layout(out, x, y)
        # the output as torch's pow does: with a tensor exponent (its gradient uses it)
        keep = ctx.needs_input_grad[1] or y.__class__ is np.ndarray
        ctx.save_for_backward(x, y, out if keep else None)
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
            elif y == 0 and not isinstance(y, (bool, np.bool_)):
                # torch: zeros, even where g is inf or nan (** False is not "== 0": its
                # rule gives 0 * x**-1)
                gx = _new(np.zeros_like(g._data))
            else:
                gx = g * float(y) * x ** (float(y) - 1.0)
        if ctx.needs_input_grad[1]:
            if isinstance(x, Tensor):
                safe = (x._data == 0) & (y._data >= 0)
                logx = Where.apply(safe, 1.0, x).log() if safe.any() else x.log()  # log 1 = 0
                gy = g * out * logx
            elif x == 0:  # torch: 0 ** y has a zero gradient in y where y >= 0
                gy = g * Where.apply(y._data >= 0, 0.0, out * float("-inf"))  # g * 0 (torch)
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


def _float_power(x: Any, y: Any) -> np.ndarray:
    """np.power as torch's: numpy takes a square root for an exponent of 0.5, as torch does
    for a Python number, but a 0-d tensor exponent is C's pow in torch, which gives +inf at
    -inf and +0 at -0 where the root gives nan and -0."""
    if (y.__class__ is float or y.__class__ is int) and y == -0.5 and x.__class__ is np.ndarray:
        # torch's x ** -0.5 is rsqrt: nan at -inf and -inf at -0, where C's pow gives 0, +inf
        return np.reciprocal(np.sqrt(x))
    out = np.power(x, y)
    if y.__class__ is not np.ndarray or y.ndim or x.__class__ is not np.ndarray or y != 0.5:
        return out
    out = np.asarray(out)  # an array even for 0-d operands (numpy gives a scalar)
    out += 0.0  # -0 + 0 is +0
    ninf = x == -np.inf
    if ninf.any():
        out[ninf] = np.inf
    return out


def _int_power(x: Any, y: Any) -> np.ndarray:
    """Integer x ** y as torch: a negative exponent gives 1 for base 1, +-1 for base -1 and
    0 otherwise (numpy refuses it); a negative Python-int exponent is refused."""
    if not isinstance(y, np.ndarray) and y < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    ya = np.asarray(y)
    if not (ya < 0).any():
        return np.power(x, y)
    xa = np.asarray(x)
    pos = np.power(xa, np.maximum(ya, 0))  # used only where the exponent is >= 0 (abs of
    # the lowest int64 is negative)
    neg = np.where(xa == 1, 1, np.where(xa == -1, np.where(ya % 2 == 0, 1, -1), 0))
    return np.where(ya < 0, neg, pos).astype(pos.dtype)


def _extremum_backward(ctx: Any, g: Tensor, loses: Any) -> tuple:
    """maximum/minimum as torch: a tie splits the gradient in halves; an input gets nothing
    only where it strictly loses (`loses(x, y)`), so with a NaN both inputs get all of it."""
    x, y = ctx.saved_tensors
    xd, yd = (v._data if isinstance(v, Tensor) else v for v in (x, y))
    tie = xd == yd
    half = Where.apply(tie, g * 0.5, g) if tie.any() else g
    gx = _keep(~loses(xd, yd), half) if ctx.needs_input_grad[0] else None
    gy = _keep(~loses(yd, xd), half) if ctx.needs_input_grad[1] else None
    return gx, gy


class Maximum(Function):
    """out = max(x, y); ties split the gradient evenly (as torch)."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        out = np.maximum(y, x)  # numpy returns its 2nd operand at a tie: x's -0.0 (torch)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        return _extremum_backward(ctx, g, np.less)

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
        out = np.minimum(y, x)  # numpy returns its 2nd operand at a tie: x's -0.0 (torch)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        return _extremum_backward(ctx, g, np.greater)

    sample_inputs = Maximum.sample_inputs


class Where(Function):
    """out = cond ? x : y.  Shapes: cond, x, y broadcast -> out; cond gets no gradient."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.cond = cond
        return _views.iterator_layout(np.where(cond, x, y), cond, x, y)

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
        dtypes.check_supported("neg", x.dtype)
        return _unary_layout(-x, x)

    @staticmethod
    def backward(ctx, g):
        return -g

    sample_inputs = staticmethod(_unary_samples)


class Exp(Function):
    """out = exp(x);  dx = g * out."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = _unary_layout(np.exp(x), x)
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
        return _unary_layout(np.log(x), x)

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
        return _unary_layout(np.log1p(x), x)

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
        out = _unary_layout(np.sqrt(x), x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (out * 2.0)

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, 0.5, 2.0)


class Rsqrt(Function):
    """out = 1 / sqrt(x);  dx = -g out**3 / 2 (torch's rule: rsqrt(-inf) is NaN, not 0)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = _unary_layout(np.reciprocal(np.sqrt(x)), x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out * out * out) * -0.5

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, 0.5, 2.0)


class Softplus(Function):
    """out = log(1 + exp(beta x)) / beta, x itself where beta x > threshold;  dx = g z / (z + 1)
    with z = exp(beta x) (g where beta x > threshold): torch's rule, one node, so an infinite
    g stays infinite (a composite's two paths would meet as inf - inf)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        bx = x * beta
        with np.errstate(over="ignore"):
            out = np.where(bx > threshold, x, np.log1p(np.exp(bx)) / beta)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        return _unary_layout(np.asarray(out, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        bx = x * ctx.beta
        z = bx.exp()
        return Where.apply(bx._data > ctx.threshold, g, g * z / (z + 1.0))

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng)
        yield Sample(rng.uniform(-2, 2, (3, 4)), beta=2.0, threshold=1.0, note="beta")


class Elu(Function):
    """out = x where x > 0, else alpha (exp(x) - 1);  dx = g where x > 0 (and at NaN, torch's
    scalar rule: x <= 0 is false), else g alpha exp(x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        with np.errstate(over="ignore", invalid="ignore"):
            neg = np.expm1(np.minimum(0, x)) * alpha  # x's -0.0 kept; no exp overflow
            out = np.where(x > 0, x, neg)
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return _unary_layout(np.asarray(out, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        neg = x._data <= 0
        if not neg.any():
            return g
        return Where.apply(neg, g * Where.apply(neg, x, 0.0).exp() * ctx.alpha, g)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng)
        yield Sample(rng.uniform(-2, 2, (3, 4)), alpha=0.5, note="alpha")


class Reciprocal(Function):
    """out = 1 / x (IEEE: 1 / -0.0 is -inf);  dx = -g out**2 (torch's rule, on the output)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = _unary_layout(np.reciprocal(x), x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * (out * out)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, 0.5, 2.0)
        yield from _unary_samples(rng, -2.0, -0.5)


class Sin(Function):
    """out = sin(x);  dx = g cos(x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _unary_layout(np.sin(x), x)

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
        return _unary_layout(np.cos(x), x)

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
        out = _unary_layout(np.tanh(x), x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        if not _grad_state.enabled and g._data.dtype is out._data.dtype:
            o = out._data  # a plain backward: the same formula on the arrays
            return _wrap(g._data * (1.0 - o * o))
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
        out = _unary_layout(out, x)
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
        dtypes.check_supported("relu", x.dtype)
        out = _unary_layout(np.maximum(0, x), x)  # x's own zero at a tie: relu(-0.0) is -0.0
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return _keep_unless(out._data <= 0, g)  # torch: zero where out <= 0, so NaN passes g

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
    """erf elementwise: scipy's vectorised erf when installed, else the numpy-only Chebyshev
    kernel of ops/activation.py (Note [erf kernels]; a Python loop over math.erf is ~100x
    slower)."""
    if _scipy_erf is None:
        from autotensor.ops.activation import _erf_chebyshev

        return np.asarray(_erf_chebyshev(x), dtype=x.dtype)
    return np.asarray(_scipy_erf(x), dtype=x.dtype)


class Erf(Function):
    """out = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt;  dx = g * 2/sqrt(pi) exp(-x^2)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _unary_layout(_erf(x), x)

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
        dtypes.check_supported("abs", x.dtype)
        ctx.save_for_backward(x)
        return _unary_layout(np.abs(x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _sgn(x._data).astype(g._data.dtype, copy=False)

    sample_inputs = ReLU.sample_inputs


class Clamp(Function):
    """out = min(max(x, lo), hi) for scalar bounds;  dx = g where lo <= x <= hi (as torch)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = min, max
        # max then min, each keeping x's own zero at a tie (torch's clamp(-0.0, min=0) is -0.0)
        out = x if min is None else np.maximum(min, x)
        return _unary_layout(out if max is None else np.minimum(max, out), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        keep = np.ones(x.shape, dtype=bool)
        if ctx.lo is not None:
            keep &= x._data >= ctx.lo
        if ctx.hi is not None:
            keep &= x._data <= ctx.hi
        return _keep(keep, g)

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
        return _views.preserved_copy(x, dtype)  # torch's to(): preserve_format

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
        return _views.preserved_copy(x)  # torch's clone: preserve_format

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
            return _unary_layout(np.copy(x), x)
        out = np.sign(x)
        if out.dtype.kind == "f":  # torch's sign(nan) is 0, numpy's is nan
            out = np.nan_to_num(out, nan=0.0)
        return _unary_layout(out, x)


class Floor(_ZeroGrad):
    """out = floor(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        dtypes.check_supported("floor", x.dtype)
        if x.dtype.kind != "f":
            return _unary_layout(np.copy(x), x)  # ints stay
        return _unary_layout(np.floor(x), x)


class Ceil(_ZeroGrad):
    """out = ceil(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        dtypes.check_supported("ceil", x.dtype)
        if x.dtype.kind != "f":
            return _unary_layout(np.copy(x), x)  # ints stay
        return _unary_layout(np.ceil(x), x)


class Trunc(_ZeroGrad):
    """out = trunc(x);  dx = 0."""

    @staticmethod
    def forward(ctx, x):
        dtypes.check_supported("trunc", x.dtype)
        if x.dtype.kind != "f":
            return _unary_layout(np.copy(x), x)  # ints stay
        return _unary_layout(np.trunc(x), x)


class Round(_ZeroGrad):
    """out = x rounded half to even (as torch);  dx = 0."""

    @staticmethod
    def forward(ctx, x, decimals=0):
        dtypes.check_supported("round", x.dtype)
        if x.dtype.kind != "f":
            return _unary_layout(np.copy(x), x)
        return _unary_layout(np.round(x, decimals), x)


# -- integer-valued binary ops ---------------------------------------------------------------
def _int_zero_division(x: Any, y: Any) -> None:
    """Integer division by zero: torch raises (numpy would quietly give 0), unless the
    result is empty."""
    if (np.asarray(y) == 0).any() and np.broadcast(np.asarray(x), np.asarray(y)).size:
        raise RuntimeError("ZeroDivisionError")


class FloorDivide(Function):
    """out = x / y rounded down (mode 'floor', Python's //) or toward zero ('trunc');
    dx = dy = 0, the derivative almost everywhere, as torch's div(..., rounding_mode=...).

    mode 'floor_divide' is the `//` operator: the same value, but torch defines no derivative
    for it, so its backward raises as torch's does."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y, mode="floor"):
        return _views.iterator_layout(FloorDivide._values(ctx, x, y, mode), x, y)

    @staticmethod
    def _values(ctx, x, y, mode):
        base = np.asarray(x if isinstance(x, np.ndarray) else y, dtype=_dtype(x, y))
        dtypes.check_supported("floor_divide", base.dtype)
        ctx.mode = mode
        if (mode != "floor_divide" and isinstance(x, (np.ndarray, np.generic))
                and isinstance(y, (np.ndarray, np.generic))):  # fmt: skip
            # unused by the rule, but torch's div saves the divisor for either gradient and
            # the dividend for the divisor's (not for a Python number, nor for `//`, which
            # has no derivative): an in-place change of one of those is refused alike
            need = ctx.needs_input_grad
            ctx.save_for_backward(x if need[1] else None, y)
        if base.dtype.kind in "iu":
            _int_zero_division(x, y)
            if mode == "trunc":  # C division: the quotient of the magnitudes, signed
                xa, ya = np.asarray(x, base.dtype), np.asarray(y, base.dtype)
                q = np.floor_divide(np.abs(xa), np.abs(ya)) * np.sign(xa) * np.sign(ya)
                return np.asarray(q, dtype=base.dtype)
        if mode == "trunc":
            return np.trunc(np.true_divide(x, y)).astype(base.dtype, copy=False)
        return np.floor_divide(x, y)

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "floor_divide":
            raise RuntimeError("derivative for aten::floor_divide is not implemented")
        _ = ctx.saved_tensors  # the version check
        zero = _new(np.zeros_like(g._data))
        return zero, zero

    @staticmethod
    def sample_inputs(rng):
        yield from Remainder.sample_inputs(rng)


class Remainder(Function):
    """out = x - floor(x / y) * y (the sign of y, as Python's %);  dx = g, dy = -g floor(x/y)."""

    takes_arrays = True
    broadcasts = True

    @staticmethod
    def forward(ctx, x, y):
        return _views.iterator_layout(Remainder._values(ctx, x, y), x, y)

    @staticmethod
    def _values(ctx, x, y):
        base = np.asarray(x if isinstance(x, np.ndarray) else y, dtype=_dtype(x, y))
        dtypes.check_supported("remainder", base.dtype)
        if base.dtype.kind in "iu":
            _int_zero_division(x, y)
        if ctx.needs_input_grad[1]:  # only the divisor's gradient uses them (as torch)
            ctx.save_for_backward(x, y)
        if base.dtype.kind != "f":
            return np.mod(x, y)
        # torch: fmod, then + y where the signs differ; a zero stays +0.0 (numpy's mod gives
        # 0 % -1 = -0.0, Python's rule)
        m = np.fmod(x, y)
        return np.where((m != 0) & ((np.asarray(y) < 0) != (m < 0)), m + y, m)

    @staticmethod
    def backward(ctx, g):
        gy = None
        if ctx.needs_input_grad[1]:
            x, y = ctx.saved_tensors
            q = np.floor_divide(getattr(x, "_data", x), getattr(y, "_data", y))
            gy = g * _new(np.asarray(-q, dtype=g._data.dtype))
        return (g if ctx.needs_input_grad[0] else None), gy

    @staticmethod
    def sample_inputs(rng):
        # x = (k + 1/2 + small) * y keeps x / y away from the integers where the value jumps
        def near(shape, y):
            k = rng.integers(-3, 3, shape) + 0.5 + rng.uniform(-0.2, 0.2, shape)
            return np.asarray(k * y)

        y = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
        yield Sample(near((3, 4), y), y)
        y1 = rng.uniform(0.5, 2.0, (4,))
        yield Sample(near((3, 4), y1), y1, note="broadcast")
        y0 = np.asarray(1.5)
        yield Sample(near((), y0), y0, note="0-d")
        yt = rng.uniform(0.5, 2.0, (4, 3)).T
        yield Sample(near((3, 4), yt).T.copy().T, yt, note="transposed")
        yield Sample(np.zeros((0, 3)), rng.uniform(0.5, 2.0, (3,)), note="empty")
        yield Sample(near((2, 1), 1.5), 1.5, note="python scalar, size-1")


def floor_divide(x: Any, y: Any, mode: str = "floor_divide") -> Tensor:
    """x // y for operands already promoted to one dtype (Tensor.__floordiv__), or
    div(x, y, rounding_mode=mode) with mode 'floor' or 'trunc'."""
    return FloorDivide.apply(x, y, mode=mode)


def remainder(x: Any, y: Any) -> Tensor:
    """x % y for operands already promoted to one dtype (Tensor.__mod__)."""
    return Remainder.apply(x, y)


def bitwise(op: str, x: Any, y: Any) -> Tensor:
    """& | ^ of integer or bool operands (already promoted to one dtype); floats refused."""
    xd, yd = (v._data if isinstance(v, Tensor) else v for v in (x, y))
    dtypes.check_supported(op, _dtype(xd, yd))
    fn = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
          "bitwise_xor": np.bitwise_xor}[op]  # fmt: skip
    try:
        return _new(_views.iterator_layout(np.asarray(fn(xd, yd)), xd, yd))
    except ValueError:
        raise RuntimeError(
            f"{op}: shapes {np.shape(xd)} and {np.shape(yd)} cannot be broadcast together"
        ) from None

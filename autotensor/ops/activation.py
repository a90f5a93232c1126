"""GELU as one primitive, and the error-function kernels it runs on.

GELU(x) = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2 (approximate='none'), or
x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (approximate='tanh').

A primitive (not the composite of an Erf and four arithmetic nodes) for a measured reason:
the composite walks the (batch, tokens, 4 * embedding) activation of a transformer's MLP
once per node in both directions, and scipy's erf alone costs ten times torch's whole GELU
there (benchmarks/bench_transformer.py). The composite stays as `nn.functional`'s
`_gelu_reference`, which the tests compare this primitive against.

Note [erf kernels]: float32 uses a rational approximation erf(z) = z P(z^2) / Q(z^2),
fitted on |z| <= 4 by iteratively reweighted linear least squares against libm's erf. Its
own error is 1.5e-9; float32 rounding brings it to about 4e-7, against torch's float32 erf
as well. Beyond 3.9, erf rounds to +-1 in float32; the rational rises just above 1 on
(4.1, 4.5), so z is clamped to 4.2 and the result to [-1, 1], which gives exactly +-1 there
(GELU's left tail is then exactly 0, as torch's, however large |x| is). It is some twenty
in-place numpy operations on cache-sized blocks (`_blockwise`), five times faster than
scipy's float32 erf. Other dtypes use scipy's erf when it is installed, and otherwise
Chebyshev interpolants of libm's erf built on first use (`_erf_chebyshev`: relative error
below 1e-13 in float64).
"""

from __future__ import annotations

import math

import numpy as np

from autotensor import _views, dtypes
from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import _new
from autotensor.testing.sample import Sample

try:  # optional: exact to the last bit in float64, where the float32 kernel is not enough
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover - exercised by calling _erf_chebyshev directly
    _scipy_erf = None

# erf(z) = z P(z^2) / Q(z^2) on |z| <= 4, lowest degree first (Note [erf kernels])
_ERF_P = (
    1.1283791821093798, 0.18471029116533372, 0.05433262602701939, 0.0038395316976506267,
    0.00038269384081237364, 4.7805827085717345e-06, -1.3666998227579441e-08,
)  # fmt: skip
_ERF_Q = (
    1.0, 0.4970287789455926, 0.11382631752433671, 0.015453526435329885,
    0.001309581753269448, 6.400968373734828e-05,
)  # fmt: skip
_ERF_P32 = tuple(np.float32(c) for c in _ERF_P)
_ERF_Q32 = tuple(np.float32(c) for c in _ERF_Q)


def _horner_into(u: np.ndarray, coeffs: tuple, out: np.ndarray) -> np.ndarray:
    """out = sum_i coeffs[i] u^i (lowest degree first), in place."""
    np.multiply(u, coeffs[-1], out=out)
    out += coeffs[-2]
    for c in coeffs[-3::-1]:
        out *= u
        out += c
    return out


_BLOCK = 65536  # elements: a block and its temporaries stay in (L2/L3) cache


def _blockwise(fn, inputs: tuple, n_out: int = 1) -> tuple:
    """Run `fn(*input_blocks, *output_blocks)`, an elementwise kernel that writes its
    results into the output blocks, over consecutive blocks of the flattened (equally
    shaped) inputs. The values are those of one call on whole arrays; each block's
    temporaries stay in cache, which a dozen numpy passes over megabytes do not."""
    first = inputs[0]
    back = None
    if not first.flags.c_contiguous and first.ndim > 1:
        # the results laid out as the first input, as torch's elementwise results: its dims
        # in memory order, where it is C-contiguous (no copy) when dense
        order = _views.stride_order(first.shape, first.strides)[::-1]
        inputs = tuple(np.transpose(a, order) for a in inputs)
        back = np.argsort(order)
    shape, dtype = inputs[0].shape, inputs[0].dtype
    flats = [np.ascontiguousarray(a).reshape(-1) for a in inputs]
    outs = [np.empty(flats[0].size, dtype) for _ in range(n_out)]
    for i in range(0, flats[0].size, _BLOCK):
        fn(*(f[i : i + _BLOCK] for f in flats), *(o[i : i + _BLOCK] for o in outs))
    if back is None:
        return tuple(o.reshape(shape) for o in outs)
    return tuple(o.reshape(shape).transpose(back) for o in outs)


def _erf32_into(z: np.ndarray, out: np.ndarray) -> None:
    """out = erf(z) for float32 blocks by the rational kernel (z is clobbered)."""
    np.clip(z, np.float32(-4.2), np.float32(4.2), out=z)
    u = z * z
    _horner_into(u, _ERF_P32, out)
    out *= z
    out /= _horner_into(u, _ERF_Q32, np.empty_like(u))
    np.clip(out, np.float32(-1.0), np.float32(1.0), out=out)  # exactly +-1 from 4.1 on


def _erf32_block(x: np.ndarray, out: np.ndarray) -> None:
    _erf32_into(x.copy(), out)


def erf_float32(x: np.ndarray) -> np.ndarray:
    """erf of a float32 array by the rational kernel of Note [erf kernels] (NaN stays NaN,
    +-inf gives exactly +-1)."""
    return _blockwise(_erf32_block, (np.asarray(x),))[0]


def _chebyshev_fits() -> tuple:
    """Interpolants of libm's erf at Chebyshev points (numpy only, a few hundred math.erf
    calls at import): erf(x) / x as a function of x^2 on |x| <= 2, and erfc(x) exp(x^2) on
    2 <= x <= 6 (beyond 6, erf is 1 in float64)."""
    from numpy.polynomial import Chebyshev

    def small(u: np.ndarray) -> np.ndarray:
        x = np.sqrt(u)
        return np.array(
            [math.erf(v) / v if v > 0 else 2.0 / math.sqrt(math.pi) for v in x.tolist()]
        )

    def tail(x: np.ndarray) -> np.ndarray:
        return np.array([math.erfc(v) * math.exp(v * v) for v in x.tolist()])

    return (
        Chebyshev.interpolate(small, 18, domain=[0.0, 4.0]),
        Chebyshev.interpolate(tail, 18, domain=[2.0, 6.0]),
    )


_CHEB: tuple | None = None


def _erf_chebyshev(x: np.ndarray) -> np.ndarray:
    """erf in float64 without scipy, from the interpolants of `_chebyshev_fits`."""
    global _CHEB
    if _CHEB is None:
        _CHEB = _chebyshev_fits()
    small, tail = _CHEB
    xd = np.asarray(x, dtype=np.float64)
    a = np.abs(xd)
    inner = xd * small(np.minimum(a, 2.0) ** 2)
    at = np.clip(a, 2.0, 6.0)
    outer = np.copysign(1.0 - np.exp(-at * at) * tail(at), xd)
    out = np.where(a <= 2.0, inner, outer)
    return np.where(np.isnan(xd), np.nan, out)


def erf_array(x: np.ndarray) -> np.ndarray:
    """erf elementwise in x's dtype: the float32 kernel for float32, scipy's erf (or the
    Chebyshev fallback) for the rest (Note [erf kernels])."""
    if x.dtype == np.float32:
        return erf_float32(x)
    if _scipy_erf is not None:
        return np.asarray(_scipy_erf(x), dtype=x.dtype)
    return _erf_chebyshev(x).astype(x.dtype, copy=False)


_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_K = math.sqrt(2.0 / math.pi)
_TANH_C = 0.044715
_APPROXIMATIONS = ("none", "tanh")


class Gelu(Function):
    """out = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  dx = g (Phi(x) + x phi(x)) with
    phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

    approximate='tanh': out = x (1 + t) / 2 with t = tanh(k (x + c x^3)), k = sqrt(2/pi),
    c = 0.044715;  dx = g ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2).
    Shapes: x -> out, elementwise."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, approximate="none"):
        if approximate not in _APPROXIMATIONS:
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        dtypes.check_supported("gelu", x.dtype)
        ctx.approximate = approximate
        kernel = _exact_forward if approximate == "none" else _tanh_forward
        out, s = _blockwise(kernel, (x,), n_out=2)
        ctx.save_for_backward(x, s)  # s: Phi(x), or t for approximate='tanh'
        return np.asarray(out)

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the formula on arrays; the Tensor-op path
            # below is the differentiable one, tested against this one.
            kernel = _exact_backward if ctx.approximate == "none" else _tanh_backward
            return _new(_blockwise(kernel, (x._data, s, g._data))[0])
        return _gelu_grad_tensors(ctx.approximate, x, g)

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        for approximate in _APPROXIMATIONS:
            yield Sample(u(-3, 3, (3, 4)), approximate=approximate)
            yield Sample(u(-3, 3, ()), approximate=approximate, note="0-d")
            yield Sample(u(-3, 3, (1, 3, 1)), approximate=approximate, note="size-1")
            yield Sample(u(-3, 3, (4, 3)).T, approximate=approximate, note="transposed")
            yield Sample(u(-3, 3, (0, 2)), approximate=approximate, note="empty")
        yield Sample(u(-8, 8, (5, 4)), note="the tails of erf")


# The kernels of Gelu on blocks of flat arrays (see _blockwise), results written to the
# trailing output arguments. s is Phi(x) for the exact form, t for the tanh form.
def _exact_forward(x: np.ndarray, out: np.ndarray, s: np.ndarray) -> None:
    dt = x.dtype.type
    np.multiply(x, dt(_SQRT_HALF), out=s)
    if x.dtype == np.float32:
        _erf32_into(s, out)
    else:
        out[...] = erf_array(s)
    np.multiply(out, dt(0.5), out=s)
    s += dt(0.5)
    np.multiply(s, x, out=out)


def _exact_backward(x: np.ndarray, s: np.ndarray, g: np.ndarray, d: np.ndarray) -> None:
    dt = x.dtype.type
    np.multiply(x, x, out=d)
    d *= dt(-0.5)
    np.exp(d, out=d)
    d *= x
    d *= dt(_INV_SQRT_2PI)
    d += s  # Phi(x) + x phi(x)
    d *= g


# The tanh form in torch's order of operations: near t = -1 the cancellations in 1 + t and
# 1 - t^2 make the last bits depend on how the inner argument was rounded.
def _tanh_forward(x: np.ndarray, out: np.ndarray, t: np.ndarray) -> None:
    dt = x.dtype.type
    np.multiply(x, x, out=t)
    t *= x
    t *= dt(_TANH_C)
    t += x
    t *= dt(_TANH_K)  # k (x + c x^3)
    np.tanh(t, out=t)
    np.add(t, dt(1), out=out)
    out *= x
    out *= dt(0.5)


def _tanh_backward(x: np.ndarray, t: np.ndarray, g: np.ndarray, d: np.ndarray) -> None:
    dt = x.dtype.type
    inner = x * x
    inner *= dt(3 * _TANH_C)
    inner += dt(1)
    inner *= dt(_TANH_K)  # k (1 + 3 c x^2)
    np.multiply(t, t, out=d)
    np.subtract(dt(1), d, out=d)  # 1 - t^2
    d *= inner
    np.multiply(x, dt(0.5), out=inner)
    d *= inner  # x / 2 (1 - t^2) k (1 + 3 c x^2)
    np.add(t, dt(1), out=inner)
    inner *= dt(0.5)
    d += inner
    d *= g


def _gelu_grad_tensors(approximate: str, x, g):
    """dx in Tensor ops, a differentiable function of x and g (create_graph=True)."""
    from autotensor import ops

    if approximate == "none":
        cdf = (ops.Erf.apply(x * _SQRT_HALF) + 1.0) * 0.5
        pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
        return g * (cdf + x * pdf)
    t = ((x + x * x * x * _TANH_C) * _TANH_K).tanh()
    dt = (t + 1.0) * 0.5 + x * (1.0 - t * t) * ((x * x * (3 * _TANH_C) + 1.0) * (0.5 * _TANH_K))
    return g * dt

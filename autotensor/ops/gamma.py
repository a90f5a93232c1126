"""Primitives for torch's special functions: the log-gamma function and its derivatives
(lgamma, digamma, polygamma), the modified Bessel functions I0 and I1 (plain and
exponentially scaled), erfcx, and the elementwise functions whose derivative torch writes
by hand (logit, xlogy, xlog1py, logaddexp, logaddexp2, copysign, sinc, entr, nextafter,
heaviside).

The numerical kernels are numpy only. digamma, trigamma and the Hurwitz zeta function follow
the algorithms torch evaluates (a recurrence up to a threshold, then an asymptotic series;
Euler-Maclaurin summation for zeta), so that the values agree to the last bits. I0 and I1 sum
their power series for |x| <= 30 and use Hankel's asymptotic expansion beyond. lgamma uses
scipy when it is importable and Python's math.lgamma otherwise (both are accurate to a few
ulps); tests/test_special_functions.py checks each path against torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from autotensor import _views
from autotensor.function import Function
from autotensor.ops.elementwise import Where, _binary_samples, _unary_layout, _unary_samples
from autotensor.ops.special import _Elementwise
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample

try:  # optional: a vectorised lgamma (Python's math.lgamma is the fallback)
    from scipy.special import gammaln as _scipy_gammaln
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_gammaln = None

_MACHEP = 2.0**-53  # the unit roundoff of float64, where the series below stop


def _bernoulli(n: int) -> list[Fraction]:
    """B_0 .. B_n exactly (B_1 = -1/2), from sum_{k<=m} C(m+1, k) B_k = 0."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        total = Fraction(0)
        for k in range(m):
            total += math.comb(m + 1, k) * b[k]
        b.append(-total / (m + 1))
    return b


_B = _bernoulli(24)
# digamma's asymptotic series sum_k B_2k / (2k x^2k), highest power first (for Horner)
_DIGAMMA_ASYMPTOTIC = [float(_B[2 * k] / (2 * k)) for k in range(7, 0, -1)]
# psi(10) = H_9 - Euler's gamma, where the recurrence lands exactly on 10
_EULER_GAMMA = Fraction("0.57721566490153286060651209008240243104215933593992")
_PSI_10 = float(sum(Fraction(1, k) for k in range(1, 10)) - _EULER_GAMMA)
# Euler-Maclaurin denominators (2j)! / B_2j, j = 1 .. 12, for the Hurwitz zeta tail
_ZETA_TAIL = [float(math.factorial(2 * j) / _B[2 * j]) for j in range(1, 13)]


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _as(out: np.ndarray, x: Any) -> np.ndarray:
    """A float64 result back in x's dtype (beyond its range: inf, as torch's float kernels)."""
    with np.errstate(over="ignore"):
        return np.asarray(out).astype(np.asarray(x).dtype, copy=False)


# -- kernels (float64 in, float64 out) -------------------------------------------------------
def _lgamma1(v: float) -> float:
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):  # the poles 0, -1, -2, ... and overflow: +inf
        return math.inf


_lgamma_loop = np.frompyfunc(_lgamma1, 1, 1)


def lgamma_numpy(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)| elementwise with Python's math.lgamma (inf at the poles)."""
    return np.asarray(_lgamma_loop(_f64(x)), dtype=np.float64)


def lgamma_kernel(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)|; near 0, as lgamma(1 + x) - log|x| (both libraries lose digits of the
    large -log|x| there otherwise)."""
    xd = _f64(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        small = (np.abs(xd) < 0.25) & (xd != 0)
        if small.any():
            shifted = _lgamma_any(np.where(small, 1.0 + xd, xd))
            return np.where(small, shifted - np.log(np.abs(xd)), shifted)
    return _lgamma_any(xd)


def _lgamma_any(xd: np.ndarray) -> np.ndarray:
    if _scipy_gammaln is None:
        return lgamma_numpy(xd)
    out = np.asarray(_scipy_gammaln(xd), dtype=np.float64)
    # scipy's gammaln overflows on subnormal x, where log|Gamma(x)| = -log|x| to rounding,
    # and gives -inf at -inf, where C's lgamma (torch's) gives +inf
    with np.errstate(divide="ignore"):
        tiny = (np.abs(xd) < np.finfo(np.float64).tiny) & (xd != 0)
        out = np.where(tiny, -np.log(np.abs(xd)), out)
    return np.where(xd == -np.inf, np.inf, out)


def _digamma_positive(x: np.ndarray) -> np.ndarray:
    """psi(x) for x > 0 (and NaN): psi(x) = psi(x + 1) - 1/x up to x >= 10, then
    psi(x) ~ ln x - 1/(2x) - sum_k B_2k / (2k x^2k)."""
    x = x.copy()
    acc = np.zeros_like(x)
    while True:
        small = x < 10
        if not small.any():
            break
        acc = np.where(small, acc - 1.0 / x, acc)
        x = np.where(small, x + 1.0, x)
    z = 1.0 / (x * x)
    poly = np.full_like(x, _DIGAMMA_ASYMPTOTIC[0])
    for c in _DIGAMMA_ASYMPTOTIC[1:]:
        poly = poly * z + c
    tail = np.where(x < 1e17, z * poly, 0.0)  # beyond 1e17 the series is below rounding
    out = acc + np.log(x) - 0.5 / x - tail
    return np.where(x == 10, acc + _PSI_10, out)


def digamma_kernel(x: np.ndarray) -> np.ndarray:
    """psi(x) = Gamma'(x) / Gamma(x). Negative x by reflection,
    psi(x) = psi(1 - x) - pi / tan(pi frac(x)) (the fractional part keeps tan accurate);
    psi(+-0) = -+inf, psi(negative integer) = NaN."""
    xd = _f64(x)
    with np.errstate(all="ignore"):
        neg = xd < 0
        out = _digamma_positive(np.where(neg, 1.0 - xd, xd))
        reflected = out - np.pi / np.tan(np.pi * np.fmod(xd, 1.0))
        out = np.where(neg, reflected, out)
        out = np.where(neg & (xd == np.trunc(xd)), np.nan, out)
        return np.where(xd == 0, np.copysign(np.inf, -xd), out)


def trigamma_kernel(x: np.ndarray) -> np.ndarray:
    """psi'(x): for x < 1/2 by reflection, psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x); then
    six steps of psi'(x) = psi'(x + 1) + 1/x^2 and the asymptotic series
    (1 + 1/(2x) + 1/(6x^2) - 1/(30x^4) + 1/(42x^6)) / x."""
    # in float32 for float32 input, as torch's float kernel: near the poles of the reflection
    # term its rounding decides between a huge finite value and inf
    xd = np.asarray(x) if np.asarray(x).dtype == np.float32 else _f64(x)
    with np.errstate(all="ignore"):
        low = xd < 0.5
        s = np.sin(np.pi * xd)
        acc = np.where(low, -(np.pi * np.pi) / (s * s), 0.0)
        xd = np.where(low, 1.0 - xd, xd)
        for _ in range(6):
            acc = acc + 1.0 / (xd * xd)
            xd = xd + 1.0
        ixx = 1.0 / (xd * xd)
        series = 1.0 + 1.0 / (2.0 * xd) + ixx * (1.0 / 6 - ixx * (1.0 / 30 - ixx * (1.0 / 42)))
        acc = acc + series / xd
        return np.where(low, -acc, acc)


def zeta_kernel(s: float, q: np.ndarray) -> np.ndarray:
    """The Hurwitz zeta function sum_{k>=0} (q + k)^-s for an integer s >= 2: the terms
    directly while q + k <= 9 (at least nine of them), then the Euler-Maclaurin tail
    w^(1-s)/(s-1) - w^-s/2 + sum_j B_2j/(2j)! s(s+1)...(s+2j-2) w^(-s-2j+1), each stopping
    once a term falls below the rounding of the sum. inf at the poles q = 0, -1, -2, ..."""
    q = _f64(q)
    with np.errstate(all="ignore"):
        pole = (q <= 0) & (q == np.floor(q))  # -inf too, which the loop would never leave
        acc = np.power(q, -s)
        a = q.copy()
        b = np.zeros_like(q)
        done = pole.copy()
        i = 0
        while True:
            active = ~done & ((i < 9) | (a <= 9.0))
            if not active.any():
                break
            i += 1
            a = np.where(active, a + 1.0, a)
            b = np.where(active, np.power(a, -s), b)
            acc = np.where(active, acc + b, acc)
            done |= active & (np.abs(b / acc) < _MACHEP)
        w = a
        tail = ~done
        acc = np.where(tail, acc + b * w / (s - 1.0) - 0.5 * b, acc)
        fa, k = 1.0, 0.0
        for denom in _ZETA_TAIL:
            fa *= s + k
            b = b / w
            t = fa * b / denom
            acc = np.where(tail, acc + t, acc)
            tail &= ~(np.abs(t / acc) < _MACHEP)
            k += 1.0
            fa *= s + k
            b = b / w
            k += 1.0
        return np.where(pole, np.inf, acc)


def polygamma_kernel(n: int, x: np.ndarray) -> np.ndarray:
    """psi^(n)(x), the n-th derivative of digamma: (-1)^(n+1) n! zeta(n + 1, x) for n >= 2."""
    if n == 0:
        return digamma_kernel(x)
    if n == 1:
        return trigamma_kernel(x)
    sign = 1.0 if n % 2 else -1.0
    return sign * math.exp(math.lgamma(n + 1.0)) * zeta_kernel(float(n + 1), x)


def _hankel(x: np.ndarray, mu: float) -> np.ndarray:
    """sqrt(2 pi x) exp(-x) I_nu(x) for large x > 0 (mu = 4 nu^2), Hankel's expansion
    sum_k prod_{j<=k} ((2j-1)^2 - mu) / (k! (8x)^k); its terms fall below 1e-17 of the first
    long before they would start to grow, for x > 30."""
    term = np.ones_like(x)
    acc = np.ones_like(x)
    for k in range(1, 40):
        term = term * (((2 * k - 1) ** 2 - mu) / (8.0 * k)) / x
        acc = acc + term
    return acc


_SERIES_LIMIT = 30.0


def _bessel_scaled(x: np.ndarray, order: int) -> np.ndarray:
    """exp(-|x|) I_order(|x|) for order 0 or 1: the power series
    I_v(x) = sum_k (x/2)^(2k+v) / (k! (k+v)!) (positive terms) for |x| <= 30, Hankel's
    expansion beyond."""
    ax = np.abs(_f64(x))
    with np.errstate(all="ignore"):
        small = np.where(ax <= _SERIES_LIMIT, ax, 0.0)
        q = 0.25 * small * small
        term = np.ones_like(small) if order == 0 else 0.5 * small
        acc = term.copy()
        for k in range(1, 80):
            term = term * q / (k * (k + order))
            acc = acc + term
        series = acc * np.exp(-small)
        big = np.where(ax > _SERIES_LIMIT, ax, 1.0)
        asym = _hankel(big, 4.0 * order * order) / np.sqrt(2.0 * np.pi * big)
        out = np.where(ax > _SERIES_LIMIT, asym, series)
        out = np.where(np.isinf(ax), 0.0, out)  # exp(-x) I(x) ~ 1/sqrt(2 pi x) -> 0
        return np.where(np.isnan(ax), np.nan, out)


def i0e_kernel(x: np.ndarray) -> np.ndarray:
    """exp(-|x|) I0(x) (even)."""
    return _bessel_scaled(x, 0)


def i1e_kernel(x: np.ndarray) -> np.ndarray:
    """exp(-|x|) I1(x) (odd)."""
    xd = _f64(x)
    return np.copysign(_bessel_scaled(xd, 1), xd)


def i0_kernel(x: np.ndarray) -> np.ndarray:
    """I0(x) = sum_k (x/2)^2k / (k!)^2 (inf once exp(|x|) overflows, as torch's)."""
    xd = _f64(x)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(np.abs(xd)) * i0e_kernel(xd)


def i1_kernel(x: np.ndarray) -> np.ndarray:
    """I1(x) = sum_k (x/2)^(2k+1) / (k! (k+1)!)."""
    xd = _f64(x)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(np.abs(xd)) * i1e_kernel(xd)


_erfc_loop = np.frompyfunc(math.erfc, 1, 1)


def erfc_kernel(x: np.ndarray) -> np.ndarray:
    """erfc(x) = 1 - erf(x) with full relative accuracy in the right tail: C's erfc
    (torch's) through Python's math.erfc, elementwise (scipy's loses ~1e-14 far out)."""
    return np.asarray(_erfc_loop(_f64(x)), dtype=np.float64)


def erfcx_kernel(x: np.ndarray) -> np.ndarray:
    """exp(x^2) erfc(x). On [0, 12): the product, with x^2 split into an exactly squared head
    and a small remainder so exp(x^2) carries no rounding of x^2; from 12 on (before erfc
    underflows): the asymptotic series 1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k.
    Negative x: 2 exp(x^2) - erfcx(-x), with exp of the rounded x^2 as torch evaluates it."""
    xd = _f64(x)
    with np.errstate(all="ignore"):
        neg = xd < 0
        pos = _erfcx_nonnegative(np.where(neg, -xd, xd))
        return np.where(neg, 2.0 * np.exp(xd * xd) - pos, pos)


def _erfcx_nonnegative(xd: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        near = np.where(xd < 12.0, xd, 0.0)
        head = np.float64(134217729.0) * near  # Veltkamp split: head has 26 bits
        head = head - (head - near)
        rest = near - head
        sq_rest = rest * (2.0 * head + rest)
        product = np.exp(head * head) * np.exp(sq_rest) * erfc_kernel(near)
        far = np.where(xd >= 12.0, xd, 12.0)
        inv = 1.0 / (2.0 * far * far)
        term = np.ones_like(far)
        acc = np.ones_like(far)
        for k in range(1, 24):
            term = -term * (2 * k - 1) * inv
            acc = acc + term
        series = acc / (far * math.sqrt(math.pi))
        out = np.where(xd < 12.0, product, series)
        out = np.where(xd == np.inf, 0.0, out)
        return np.where(np.isnan(xd), np.nan, out)


def log_ndtr_kernel(x: np.ndarray) -> np.ndarray:
    """log Phi(x), Phi the standard normal CDF: log(erfcx(-t) / 2) - t^2 for x < -1 (no
    underflow), log1p(-erfc(t) / 2) otherwise, t = x / sqrt(2)."""
    xd = _f64(x)
    t = xd * math.sqrt(0.5)
    with np.errstate(all="ignore"):
        lo = np.where(xd < -1, t, -1.0)
        hi = np.where(xd < -1, 0.0, t)
        left = np.log(erfcx_kernel(-lo) / 2.0) - lo * lo
        right = np.log1p(-erfc_kernel(hi) / 2.0)
        return np.where(xd < -1, left, right)


def ndtri_kernel(p: np.ndarray) -> np.ndarray:
    """The inverse of Phi: with q = min(p, 1 - p) (exact for p >= 1/2), Newton's method on
    log Phi(x) = log q from the Abramowitz-Stegun 26.2.23 estimate, then the sign.
    -inf at 0, inf at 1, NaN outside [0, 1]."""
    pd = _f64(p)
    with np.errstate(all="ignore"):
        q = np.where(pd > 0.5, 1.0 - pd, pd)
        inner = (q > 0) & (q <= 0.5)
        qs = np.where(inner, q, 0.25)
        t = np.sqrt(-2.0 * np.log(qs))
        x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
              / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3))  # fmt: skip
        target = np.log(qs)
        for _ in range(50):
            lphi = log_ndtr_kernel(x)
            # d/dx log Phi = phi / Phi = exp(log phi - log Phi)
            ratio = np.exp(-0.5 * x * x - 0.5 * math.log(2.0 * math.pi) - lphi)
            step = (lphi - target) / ratio
            x = x - step
            if not (np.abs(step) > 1e-17 * np.maximum(np.abs(x), 1.0)).any():
                break
        out = np.where(pd > 0.5, -x, x)
        out = np.where(pd == 0.5, 0.0, out)
        out = np.where(pd == 0, -np.inf, np.where(pd == 1, np.inf, out))
        return np.where((pd < 0) | (pd > 1) | np.isnan(pd), np.nan, out)


# -- primitives ------------------------------------------------------------------------------
class _Unary(_Elementwise):
    """An `_Elementwise` whose kernel computes in float64; the result is returned in x's
    dtype."""

    kernel: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def compute(cls, x: np.ndarray) -> np.ndarray:
        return _as(cls.kernel(x), x)


class Lgamma(_Unary):
    """out = log|Gamma(x)| (inf at 0, -1, -2, ...);  dx = g digamma(x)."""

    kernel = staticmethod(lgamma_kernel)
    domain = (0.3, 4.0)

    @staticmethod
    def derivative(x, out):
        return Digamma.apply(x)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, 0.3, 4.0)
        yield Sample(rng.uniform(-2.9, -2.1, (3,)), note="negative, between poles")


class Digamma(_Unary):
    """out = psi(x) = d/dx log Gamma(x);  dx = g polygamma(1, x)."""

    kernel = staticmethod(digamma_kernel)
    domain = (0.3, 4.0)

    @staticmethod
    def derivative(x, out):
        return Polygamma.apply(x, n=1)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, 0.3, 4.0)
        yield Sample(rng.uniform(-2.9, -2.1, (3,)), note="negative, reflection")
        yield Sample(rng.uniform(10.5, 40.0, (4,)), note="asymptotic series directly")


class Polygamma(Function):
    """out = psi^(n)(x), the n-th derivative of digamma (n >= 1 here; n = 0 is Digamma);
    dx = g polygamma(n + 1, x)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, n):
        ctx.n = n
        ctx.save_for_backward(x)
        return _unary_layout(_as(polygamma_kernel(n, x), x), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * Polygamma.apply(x, n=ctx.n + 1)

    @staticmethod
    def sample_inputs(rng):
        for n in (1, 2, 3):
            for s in _unary_samples(rng, 0.4, 4.0):
                yield Sample(*s.args, n=n, note=f"n={n} {s.note}")
        yield Sample(rng.uniform(-2.8, -2.2, (3,)), n=1, note="n=1, negative")
        yield Sample(rng.uniform(-2.8, -2.2, (3,)), n=2, note="n=2, negative")
        yield Sample(rng.uniform(9.5, 30.0, (3,)), n=2, note="n=2, Euler-Maclaurin at once")


class I0(_Unary):
    """out = I0(x), the modified Bessel function of the first kind of order 0;
    dx = g I1(x)."""

    kernel = staticmethod(i0_kernel)

    @staticmethod
    def derivative(x, out):
        return I1.apply(x)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, -3.0, 3.0)
        yield Sample(rng.uniform(31.0, 40.0, (3,)), note="asymptotic expansion")


def _tiny_safe(x: Tensor) -> tuple[np.ndarray, Tensor]:
    """(|x| > eps, x with the tiny entries replaced by eps): the derivatives of I1 and I1e
    contain I1(x)/x, whose limit 1/2 at 0 is filled in separately (torch's rule)."""
    eps = float(np.finfo(x._data.dtype).eps)
    big = np.abs(x._data) > eps
    return big, Where.apply(big, x, eps)


class I1(_Unary):
    """out = I1(x);  dx = g (I0(x) - I1(x)/x), 1/2 at x = 0."""

    saves = ("x", "out")

    kernel = staticmethod(i1_kernel)

    @staticmethod
    def derivative(x, out):
        big, safe = _tiny_safe(x)
        return Where.apply(big, I0.apply(safe) - out / safe, 0.5)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, -3.0, 3.0)
        yield Sample(rng.uniform(-40.0, -31.0, (3,)), note="asymptotic expansion")


class I0e(_Unary):
    """out = exp(-|x|) I0(x);  dx = g (I1e(x) - sgn(x) out)."""

    saves = ("x", "out")

    kernel = staticmethod(i0e_kernel)

    @staticmethod
    def derivative(x, out):
        return I1e.apply(x) - x.sign() * out

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, -3.0, 3.0)
        yield Sample(rng.uniform(31.0, 40.0, (3,)), note="asymptotic expansion")


class I1e(_Unary):
    """out = exp(-|x|) I1(x);  dx = g (I0e(x) - out (sgn(x) + 1/x)), 1/2 at x = 0."""

    saves = ("x", "out")

    kernel = staticmethod(i1e_kernel)

    @staticmethod
    def derivative(x, out):
        big, safe = _tiny_safe(x)
        return Where.apply(big, I0e.apply(safe) - out * (safe.sign() + safe.reciprocal()), 0.5)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, -3.0, 3.0)
        yield Sample(rng.uniform(-40.0, -31.0, (3,)), note="asymptotic expansion")


class Erfcx(_Unary):
    """out = exp(x^2) erfc(x);  dx = g (2 x out - 2/sqrt(pi))."""

    saves = ("x", "out")

    kernel = staticmethod(erfcx_kernel)

    @staticmethod
    def derivative(x, out):
        return 2.0 * x * out - 2.0 / math.sqrt(math.pi)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, -2.0, 3.0)
        yield Sample(rng.uniform(26.5, 40.0, (3,)), note="asymptotic series")


class Erfc(_Unary):
    """out = erfc(x) = 1 - erf(x), accurate in the right tail;  dx = -g 2/sqrt(pi) exp(-x^2)."""

    kernel = staticmethod(erfc_kernel)

    @staticmethod
    def derivative(x, out):
        return (x * x).neg().exp() * (-2.0 / math.sqrt(math.pi))


class Ndtri(_Unary):
    """out = Phi^-1(x), the standard normal quantile;  dx = g sqrt(2 pi) exp(out^2 / 2)."""

    saves = ("out",)

    kernel = staticmethod(ndtri_kernel)
    domain = (0.05, 0.95)

    @staticmethod
    def derivative(x, out):
        return (out * out * 0.5).exp() * math.sqrt(2.0 * math.pi)


class Entr(_Unary):
    """out = -x ln x for x > 0, 0 at 0, -inf for x < 0;  dx = -g (1 + ln x)."""

    domain = (0.2, 3.0)

    @classmethod
    def compute(cls, x: np.ndarray) -> np.ndarray:  # in x's own precision, as torch's kernel
        with np.errstate(all="ignore"):
            out = np.where(x > 0, -x * np.log(x), np.where(x == 0, 0.0, -np.inf))
            return np.where(np.isnan(x), x, out).astype(x.dtype, copy=False)

    @staticmethod
    def derivative(x, out):
        return -(x.log() + 1.0)


class Sinc(Function):
    """out = sin(pi x) / (pi x), 1 at 0;  dx = g (pi x cos(pi x) - sin(pi x)) / (pi x^2),
    0 where pi x^2 is 0."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(all="ignore"):
            p = x * x.dtype.type(math.pi)
            out = np.where(x == 0, 1.0, np.sin(p) / p).astype(x.dtype, copy=False)
        return _unary_layout(out, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        px = x * math.pi
        pxx = x * x * math.pi
        d = (px * px.cos() - px.sin()) / pxx
        return Where.apply(pxx._data == 0, 0.0, g * d)

    @staticmethod
    def sample_inputs(rng):
        return _unary_samples(rng, 0.2, 2.0)


class Logit(Function):
    """out = log(z / (1 - z)) with z = x, or x clamped to [eps, 1 - eps] when eps >= 0;
    dx = g / (x (1 - x)), 0 outside [eps, 1 - eps] (NaN outside [0, 1] without eps)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, eps=None):
        ctx.eps = eps
        ctx.save_for_backward(x)
        one = x.dtype.type(1)
        z = x
        if eps is not None and eps >= 0:
            lo = x.dtype.type(eps)
            z = np.clip(x, lo, one - lo)
        with np.errstate(all="ignore"):
            out = np.log(z / (one - z))
        return _unary_layout(np.asarray(out, dtype=x.dtype), x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = g / (x * (1.0 - x))
        xd = x._data
        eps = ctx.eps
        if eps is None or eps < 0:
            return Where.apply((xd < 0) | (xd > 1), math.nan, d)
        lo = xd.dtype.type(eps)
        return Where.apply((xd < lo) | (xd > xd.dtype.type(1) - lo), 0.0, d)

    @staticmethod
    def sample_inputs(rng):
        yield from _unary_samples(rng, 0.1, 0.9)
        yield Sample(rng.uniform(0.05, 0.95, (3, 2)), eps=0.01, note="eps")
        yield Sample(np.array([0.02, 0.5, 0.98]), eps=0.1, note="eps clamps the ends")
        yield Sample(rng.uniform(0.1, 0.9, (4,)), eps=-1.0, note="negative eps: none")


class _Binary(Function):
    takes_arrays = True
    broadcasts = True


def _saved(*vs: Any) -> tuple[Tensor, ...]:
    """Saved operands as Tensors (an operand that was a Python number is saved as a
    constant array)."""
    return tuple(v if isinstance(v, Tensor) else _new(np.asarray(v)) for v in vs)


def _arrays(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """A Python-number operand as a 0-d array of the other's dtype (weak, as in torch), so
    that numpy computes in the tensor's precision and backward sees two tensors."""
    if not isinstance(x, (np.ndarray, np.generic)):
        x = np.asarray(x, dtype=np.asarray(y).dtype)
    if not isinstance(y, (np.ndarray, np.generic)):
        y = np.asarray(y, dtype=np.asarray(x).dtype)
    return x, y


class Xlogy(_Binary):
    """out = x log(y), 0 where x == 0 (unless y is NaN);
    dx = xlogy(g, y), 0 where x == 0 and y <= 0;  dy = g x / y."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        ctx.save_for_backward(x, y)
        with np.errstate(all="ignore"):
            out = np.asarray(x * np.log(y))
            out = np.where((x == 0) & ~np.isnan(y), 0, out).astype(out.dtype, copy=False)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = _saved(*ctx.saved_tensors)
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:
            gx = Where.apply((x._data == 0) & (y._data <= 0), 0.0, Xlogy.apply(g, y))
        if ny:
            gy = g * x / y
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        yield from _binary_samples(rng, 0.2, 2.0)
        yield Sample(np.array([0.0, 1.5, 0.0]), rng.uniform(0.5, 2.0, (3,)), note="x == 0")


class Xlog1py(_Binary):
    """out = x log1p(y), 0 where x == 0 (unless y is NaN);
    dx = xlog1py(g, y), 0 where x == 0 and y <= -1;  dy = g x / (y + 1)."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        ctx.save_for_backward(x, y)
        with np.errstate(all="ignore"):
            out = np.asarray(x * np.log1p(y))
            out = np.where((x == 0) & ~np.isnan(y), 0, out).astype(out.dtype, copy=False)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = _saved(*ctx.saved_tensors)
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:
            gx = Where.apply((x._data == 0) & (y._data <= -1), 0.0, Xlog1py.apply(g, y))
        if ny:
            gy = g * x / (y + 1.0)
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        yield from _binary_samples(rng, -0.5, 2.0)
        yield Sample(np.array([0.0, 1.5, 0.0]), rng.uniform(-0.5, 2.0, (3,)), note="x == 0")


class Logaddexp(_Binary):
    """out = log(exp(x) + exp(y)) = max + log1p(exp(-|x - y|)) (x itself when x == y is
    infinite);  dx = g / (1 + exp(y - x)), dy = g / (1 + exp(x - y))."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        ctx.save_for_backward(x, y)
        with np.errstate(all="ignore"):
            out = np.asarray(np.maximum(x, y) + np.log1p(np.exp(-np.abs(x - y))))
            out = np.where(np.isinf(x) & (x == y), x, out).astype(out.dtype, copy=False)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = _saved(*ctx.saved_tensors)
        nx, ny = ctx.needs_input_grad
        gx = g / ((y - x).exp() + 1.0) if nx else None
        gy = g / ((x - y).exp() + 1.0) if ny else None
        return gx, gy

    sample_inputs = staticmethod(_binary_samples)


class Logaddexp2(_Binary):
    """out = log2(2^x + 2^y) = max + log1p(2^-|x - y|) / ln 2 (x itself when x == y is
    infinite);  dx = g / (1 + 2^(y - x)), dy = g / (1 + 2^(x - y))."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        ctx.save_for_backward(x, y)
        dt = np.result_type(x, y)
        inv_ln2 = dt.type(1.0 / math.log(2.0))
        with np.errstate(all="ignore"):
            out = np.asarray(np.maximum(x, y) + np.log1p(np.exp2(-np.abs(x - y))) * inv_ln2)
            out = np.where(np.isinf(x) & (x == y), x, out).astype(out.dtype, copy=False)
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = _saved(*ctx.saved_tensors)
        nx, ny = ctx.needs_input_grad
        gx = g / ((y - x).exp2() + 1.0) if nx else None
        gy = g / ((x - y).exp2() + 1.0) if ny else None
        return gx, gy

    sample_inputs = staticmethod(_binary_samples)


def _same_sign_samples(rng: np.random.Generator) -> Iterator[Sample]:
    """Pairs whose second operand stays away from 0 (where copysign's value jumps)."""
    for s in _binary_samples(rng):
        y = s.args[1]
        if isinstance(y, np.ndarray):
            y = np.where(np.abs(y) < 0.2, 0.5, y)
        yield Sample(s.args[0], y, note=s.note)


class Copysign(_Binary):
    """out = |x| with the sign of y;  dx = g out / x (0 where x == 0), dy = 0."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        out = np.asarray(np.copysign(x, y))
        with np.errstate(all="ignore"):
            # out / x is +-1 where it is defined: its derivative is 0, so a constant suffices
            ratio = np.where(x == 0, 0, out / x).astype(out.dtype, copy=False)
        ctx.ratio = ratio
        return _views.iterator_layout(out, x, y)

    @staticmethod
    def backward(ctx, g):
        nx, ny = ctx.needs_input_grad
        gx = g * _new(ctx.ratio) if nx else None
        gy = _new(np.zeros_like(g._data)) if ny else None
        return gx, gy

    sample_inputs = staticmethod(_same_sign_samples)


class Nextafter(_Binary):
    """out = the next representable number after x toward y;  dx = g where x != y, else 0
    (out is then x itself), dy = 0 (torch's rules)."""

    @staticmethod
    def forward(ctx, x, y):
        x, y = _arrays(x, y)
        ctx.equal = np.asarray(x == y)
        return _views.iterator_layout(np.asarray(np.nextafter(x, y)), x, y)

    @staticmethod
    def backward(ctx, g):
        nx, ny = ctx.needs_input_grad
        gx = Where.apply(ctx.equal, 0.0, g) if nx else None
        return gx, (_new(np.zeros_like(g._data)) if ny else None)

    sample_inputs = staticmethod(_binary_samples)


class Heaviside(Function):
    """out = 0 where x < 0, values where x == 0, 1 where x > 0 (0 at NaN). Shapes: x, values
    broadcast -> out (in forward: there is no gradient to reduce). torch defines no
    derivative: backward raises."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, values):
        x, values = _arrays(x, values)
        dt = np.result_type(x, values)
        out = np.where(x == 0, values, x > 0).astype(dt, copy=False)
        return _views.iterator_layout(np.asarray(out), x, values)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("derivative for aten::heaviside is not implemented")

    @staticmethod
    def sample_inputs(rng):  # the forward only: there is no gradient to check
        u = rng.uniform
        x = np.where(u(0, 1, (3, 4)) < 0.3, 0.0, u(-2, 2, (3, 4)))
        yield Sample(x, u(0, 1, (3, 4)), nondiff=(0, 1))
        yield Sample(u(-2, 2, (2, 3)), u(0, 1, (3,)), nondiff=(0, 1), note="broadcast")
        yield Sample(np.array(0.0), u(0, 1, (1, 2)), nondiff=(0, 1), note="0-d, size-1")
        yield Sample(u(-2, 2, (4, 3)).T, u(0, 1, (3, 4)), nondiff=(0, 1), note="transposed")
        yield Sample(u(-2, 2, (0, 3)), u(0, 1, (3,)), nondiff=(0, 1), note="empty")

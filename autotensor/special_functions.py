"""torch's elementwise math functions beyond the core set: logit, xlogy, frac, logaddexp,
copysign, signbit, float_power, deg2rad, heaviside, lgamma, digamma, polygamma, mvlgamma,
sinc, nextafter, ldexp, gcd, lcm, i0, sgn, and the torch.special functions built on them.

Each function promotes its operands as torch does (integers and bools to the default float
dtype for the float functions; float_power always in float64) and either applies one
primitive of autotensor/ops/gamma.py or composes differentiable ops where that composition
gives torch's values and gradients exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autotensor import _views, dtypes
from autotensor.ops import gamma as G
from autotensor.ops.elementwise import Where, _unary_layout
from autotensor.tensor import Tensor, _floating, _new, _operands, as_tensor


def _pair(x: Any, y: Any, floats: bool = False) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of torch's result dtype (a Python number is weak: it takes
    the tensor's dtype); `floats` sends integer results to the default float dtype."""
    if isinstance(x, Tensor) or not isinstance(y, Tensor):
        a, b = _operands(as_tensor(x), y, floats=floats)
    else:
        a, b = _operands(y, x, reflected=True, floats=floats)
    if not isinstance(a, Tensor):
        a = as_tensor(a, dtype=b.dtype)
    if not isinstance(b, Tensor):
        b = as_tensor(b, dtype=a.dtype)
    return a, b


def _check_float(op: str, x: Tensor) -> None:
    dt = x._data.dtype
    if dt.kind not in "fc":
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{dtypes.torch_name(dt)}'")


def _tensor_arg(v: Any, fn: str, name: str, pos: int) -> Tensor:
    """torch's signatures that take only a Tensor there refuse a Python number."""
    if not isinstance(v, Tensor):
        raise TypeError(
            f"{fn}(): argument '{name}' (position {pos}) must be Tensor, not {type(v).__name__}"
        )
    return v


# -- logarithms and exponentials -------------------------------------------------------------
def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(z / (1 - z)), z = input clamped to [eps, 1 - eps] when eps is given (and >= 0)."""
    return G.Logit.apply(_floating(input), eps=eps)


def xlogy(input: Any, other: Any) -> Tensor:
    """input * log(other), 0 where input == 0 (unless other is NaN). Shapes broadcast."""
    return G.Xlogy.apply(*_pair(input, other, floats=True))


def xlog1py(input: Any, other: Any) -> Tensor:
    """input * log1p(other), 0 where input == 0 (unless other is NaN). Shapes broadcast."""
    return G.Xlog1py.apply(*_pair(input, other, floats=True))


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """log(exp(input) + exp(other)) without overflow; float tensors only."""
    a, b = _pair(input, _tensor_arg(other, "logaddexp", "other", 2))
    _check_float("logaddexp", a)
    return G.Logaddexp.apply(a, b)


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:
    """log2(2^input + 2^other) without overflow; float tensors only."""
    a, b = _pair(input, _tensor_arg(other, "logaddexp2", "other", 2))
    _check_float("logaddexp2", a)
    return G.Logaddexp2.apply(a, b)


def entr(input: Tensor) -> Tensor:
    """-x ln x elementwise (0 at 0, -inf for x < 0)."""
    return G.Entr.apply(_floating(input))


def erfc(input: Tensor) -> Tensor:
    """1 - erf(x), accurate where it is tiny."""
    return G.Erfc.apply(_floating(input))


def erfcx(input: Tensor) -> Tensor:
    """exp(x^2) erfc(x), the scaled complementary error function."""
    return G.Erfcx.apply(_floating(input))


def ndtr(input: Tensor) -> Tensor:
    """Phi(x) = (1 + erf(x / sqrt(2))) / 2, the standard normal CDF (as torch evaluates
    it: 0 once erf rounds to -1)."""
    return ((_floating(input) * math.sqrt(0.5)).erf() + 1.0) * 0.5


def ndtri(input: Tensor) -> Tensor:
    """Phi^-1(p), the standard normal quantile (NaN outside [0, 1])."""
    return G.Ndtri.apply(_floating(input))


def log_ndtr(input: Tensor) -> Tensor:
    """log Phi(x) without underflow: log(erfcx(-t) / 2) - t^2 for x < -1, else
    log1p(-erfc(t) / 2), t = x / sqrt(2). Each branch sees only its own inputs (the other
    ones replaced by a harmless point), so no inf of the unused branch reaches a gradient."""
    x = _floating(input)
    left = x._data < -1
    t_lo = Where.apply(left, x, -2.0) * math.sqrt(0.5)
    t_hi = Where.apply(left, 0.0, x) * math.sqrt(0.5)
    lo = (erfcx(-t_lo) * 0.5).log() - t_lo * t_lo
    hi = (erfc(t_hi) * -0.5).log1p()
    return Where.apply(left, lo, hi)


# -- the gamma function and its derivatives --------------------------------------------------
def lgamma(input: Tensor) -> Tensor:
    """log|Gamma(x)| (inf at 0, -1, -2, ...)."""
    return G.Lgamma.apply(_floating(input))


def digamma(input: Tensor) -> Tensor:
    """psi(x) = Gamma'(x) / Gamma(x) (-inf at +0, NaN at negative integers)."""
    return G.Digamma.apply(_floating(input))


def polygamma(n: int, input: Tensor) -> Tensor:
    """psi^(n)(x), the n-th derivative of digamma (n >= 0)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(
            f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}"
        )
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _floating(input)
    return G.Digamma.apply(x) if n == 0 else G.Polygamma.apply(x, n=int(n))


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension p:
    sum_{i<p} lgamma(x - i/2) + p (p - 1)/4 log(pi). Shape as input."""
    if input._data.dtype.kind == "b":
        raise RuntimeError("The input tensor may not be a boolean tensor.")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _floating(input)
    shifts = _new(np.arange(-(p - 1) / 2.0, 0.5, 0.5, dtype=x._data.dtype))  # -(p-1)/2 .. 0
    return lgamma(x.unsqueeze(-1) + shifts).sum(-1) + p * (p - 1) / 4.0 * math.log(math.pi)


# -- Bessel functions ------------------------------------------------------------------------
def i0(input: Tensor) -> Tensor:
    """I0(x), the modified Bessel function of the first kind of order 0."""
    return G.I0.apply(_floating(input))


def i0e(input: Tensor) -> Tensor:
    """exp(-|x|) I0(x)."""
    return G.I0e.apply(_floating(input))


def i1(input: Tensor) -> Tensor:
    """I1(x), the modified Bessel function of the first kind of order 1."""
    return G.I1.apply(_floating(input))


def i1e(input: Tensor) -> Tensor:
    """exp(-|x|) I1(x)."""
    return G.I1e.apply(_floating(input))


# -- signs, parts and representations --------------------------------------------------------
def frac(input: Tensor) -> Tensor:
    """x - trunc(x), with the sign of x (NaN at +-inf); float tensors only; d/dx = 1."""
    _check_float("frac", input)
    return input - input.trunc()


def sgn(input: Tensor) -> Tensor:
    """sign(x) for real tensors (torch's sgn is x/|x| for complex ones)."""
    return input.sign()


def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set (-0.0 and negative NaN included); bool, no gradient."""
    d = np.asarray(input._data)
    out = np.zeros(d.shape, bool) if d.dtype.kind == "b" else np.signbit(d)
    return _new(_unary_layout(np.asarray(out), d))


def copysign(input: Any, other: Any) -> Tensor:
    """|input| with the sign of other; integers promote to the default float dtype."""
    return G.Copysign.apply(*_pair(input, other, floats=True))


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable number after input toward other (float tensors)."""
    a, b = _pair(input, other)
    _check_float("nextafter", a)
    return G.Nextafter.apply(a, b)


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """0 where input < 0, values where input == 0, 1 where input > 0; the dtypes must match."""
    values = _tensor_arg(values, "heaviside", "values", 2)
    if input._data.dtype != values._data.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return G.Heaviside.apply(input, values)


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """input * 2^other."""
    other = _tensor_arg(other, "ldexp", "other", 2)
    return as_tensor(input) * (2.0**other)


def float_power(input: Any, exponent: Any) -> Tensor:
    """input ** exponent computed in float64 (the result is float64 whatever the inputs)."""

    def f64(v: Any) -> Any:
        if isinstance(v, Tensor):
            return v.to(dtypes.float64)
        return float(v)

    base, e = f64(input), f64(exponent)
    if not isinstance(base, Tensor):
        base = as_tensor(base, dtype=dtypes.float64)
    return base**e


def deg2rad(input: Tensor) -> Tensor:
    """input * pi / 180."""
    return _floating(input) * (math.pi / 180.0)


def rad2deg(input: Tensor) -> Tensor:
    """input * 180 / pi."""
    return _floating(input) * (180.0 / math.pi)


def sinc(input: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    return G.Sinc.apply(_floating(input))


# -- integers --------------------------------------------------------------------------------
def _integer_pair(op: str, x: Tensor, y: Tensor) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    y = _tensor_arg(y, op, "other", 2)
    a, b = _pair(x, y)
    dt = a._data.dtype
    if dt.kind not in "iu":
        raise NotImplementedError(f"\"{op}_cpu\" not implemented for '{dtypes.torch_name(dt)}'")
    return a._data, b._data, dt


def gcd(input: Tensor, other: Tensor) -> Tensor:
    """The greatest common divisor, elementwise (>= 0; gcd(0, 0) = 0); integer tensors."""
    x, y, dt = _integer_pair("gcd", input, other)
    return _new(_views.iterator_layout(np.asarray(np.gcd(x, y)).astype(dt), x, y))


def lcm(input: Tensor, other: Tensor) -> Tensor:
    """The least common multiple, elementwise (>= 0; 0 if either is 0); integer tensors."""
    x, y, dt = _integer_pair("lcm", input, other)
    return _new(_views.iterator_layout(np.asarray(np.lcm(x, y)).astype(dt), x, y))

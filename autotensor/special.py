"""`autotensor.special`: torch.special's functions (mostly aliases of the top-level ones).

expit, logit, erf, erfc, erfcx, erfinv, expm1, exp2, log1p, log_softmax, softmax, logsumexp,
gammaln, digamma, psi, polygamma, multigammaln, xlogy, xlog1py, i0, i0e, i1, i1e, ndtr,
ndtri, log_ndtr, sinc, entr, round.
"""

from __future__ import annotations

from typing import Any

from autotensor import functional as _F
from autotensor import special_functions as _S
from autotensor import tensor_functions as _TF
from autotensor.special_functions import (
    digamma,
    entr,
    erfc,
    erfcx,
    i0,
    i0e,
    i1,
    i1e,
    log_ndtr,
    logit,
    ndtr,
    ndtri,
    polygamma,
    sinc,
    xlog1py,
    xlogy,
)  # fmt: skip
from autotensor.tensor import Tensor

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammaln",
    "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py",
    "xlogy",
]  # fmt: skip

gammaln = _S.lgamma
psi = digamma
multigammaln = _S.mvlgamma
erf = _TF.erf
erfinv = _TF.erfinv


def expit(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), the logistic sigmoid."""
    return input.sigmoid()


def expm1(input: Tensor) -> Tensor:
    """exp(x) - 1, exact for small x."""
    return input.expm1()


def exp2(input: Tensor) -> Tensor:
    """2^x."""
    return input.exp2()


def log1p(input: Tensor) -> Tensor:
    """log(1 + x), exact for small x."""
    return input.log1p()


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """x rounded half to even (to `decimals` decimal places)."""
    return input.round(decimals)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) over dim (computed in dtype when given)."""
    return _F.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """x - logsumexp(x) over dim (computed in dtype when given)."""
    return _F.log_softmax(input, dim, dtype=dtype)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over dim, without overflow."""
    return _F.logsumexp(input, dim, keepdim)

"""torch's top-level linear-algebra functions (torch.det, torch.svd, torch.cholesky_solve,
...) and the matching Tensor methods, on top of `autotensor.linalg`. Where a top-level form
differs from its torch.linalg namesake it is in the signature or result: torch.svd returns
V (not Vh) and takes `some`; torch.qr takes `some`; torch.cholesky takes `upper`
positionally."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from autotensor import dtypes
from autotensor import linalg as LA
from autotensor import tensor_functions as TF
from autotensor.ops.decomp import LinalgCholesky, LinalgQr, LinalgSlogdet, LinalgSvd
from autotensor.tensor import Tensor, _new

__all__ = [
    "cholesky", "cholesky_inverse", "cholesky_solve", "det", "inverse", "logdet",
    "matrix_exp", "matrix_power", "pinverse", "qr", "slogdet", "svd", "triangular_solve",
]  # fmt: skip

# torch.return_types.*: the type names are torch's (the op's name)
slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])  # type: ignore[name-match]
qr_result = namedtuple("qr", ["Q", "R"])  # type: ignore[name-match]
svd_result = namedtuple("svd", ["U", "S", "V"])  # type: ignore[name-match]
triangular_solve_result = namedtuple(  # type: ignore[name-match]
    "triangular_solve", ["solution", "cloned_coefficient"]
)


def det(input: Tensor) -> Tensor:
    """det(A) for A (*, n, n) -> (*) (torch.linalg.det)."""
    return LA.det(input)


def inverse(input: Tensor) -> Tensor:
    """A^-1 for A (*, n, n) (torch.linalg.inv)."""
    return LA.inv(input)


def slogdet(input: Tensor) -> Any:
    """(sign, logabsdet) of A (*, n, n), as torch.linalg.slogdet."""
    LA._square_float("linalg.slogdet", input)
    return slogdet_result(*LinalgSlogdet.apply(input))


def logdet(input: Tensor) -> Tensor:
    """log det(A) for A (*, n, n): -inf for a singular A, NaN for a negative determinant."""
    LA._square_float("logdet", input)
    sign, logabs = LinalgSlogdet.apply(input)
    return TF.where(sign < 0, float("nan"), logabs)


def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """L with A = L L^T (U with A = U^T U when upper) for A (*, n, n) symmetric
    positive-definite."""
    LA._square_float("cholesky", input)
    return LinalgCholesky.apply(LA.from_triangle(input, not upper), bool(upper), "cholesky")


def qr(input: Tensor, some: bool = True) -> Any:
    """(Q, R) as torch.linalg.qr with mode 'reduced' (some) or 'complete'."""
    LA._check_float("linalg.qr", input)
    LA._check_matrix("linalg.qr", input)
    return qr_result(*LinalgQr.apply(input, "reduced" if some else "complete"))


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> Any:
    """(U, S, V) with A = U diag(S) V^T for A (*, m, n) (V, not torch.linalg.svd's Vh);
    some: U (*, m, k), V (*, n, k), else square. Without compute_uv, U and V are zero
    matrices (*, m, m) and (*, n, n)."""
    LA._check_float("linalg.svd", input)
    LA._check_matrix("linalg.svd", input)
    if not compute_uv:
        s = LinalgSvd.apply(input, False)[1]
        m, n = input.shape[-2], input.shape[-1]
        dt = input._data.dtype
        batch = tuple(input.shape[:-2])
        u = _new(np.zeros(batch + (m, m), dtype=dt))
        v = _new(np.zeros(batch + (n, n), dtype=dt))
        return svd_result(u, s, v)
    u, s, vh = LinalgSvd.apply(input, not some)
    return svd_result(u, s, vh.mT)


def matrix_power(input: Tensor, n: int) -> Tensor:
    """A^n (torch.linalg.matrix_power)."""
    return LA.matrix_power(input, n)


def matrix_exp(input: Tensor) -> Tensor:
    """exp(A) (torch.linalg.matrix_exp)."""
    return LA.matrix_exp(input)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse with singular values <= rcond * s_max dropped."""
    return LA.pinv(input, rtol=rcond)


def _no_kernel(kernel: str, *ts: Tensor) -> None:
    for t in ts:
        if t._data.dtype.kind != "f":
            raise NotImplementedError(
                f"\"{kernel}\" not implemented for '{dtypes.torch_name(t._data.dtype)}'"
            )


def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """X with A X = B for B = input (*, n, k) and A = L L^T (A = U^T U when upper) given by
    its Cholesky factor input2 (*, n, n): two triangular solves."""
    _no_kernel("cholesky_solve_cpu", input, input2)
    f = input2
    if upper:  # U^T (U X) = B
        y = LA.solve_triangular(f.mT, input, upper=False)
        return LA.solve_triangular(f, y, upper=True)
    y = LA.solve_triangular(f, input, upper=False)  # L (L^T X) = B
    return LA.solve_triangular(f.mT, y, upper=True)


def cholesky_inverse(input: Tensor, upper: bool = False) -> Tensor:
    """A^-1 for A = L L^T (U^T U when upper) given its factor (*, n, n)."""
    _no_kernel("cholesky_inverse_out_cpu", input)
    LA._check_square("cholesky_inverse", input, "input")
    eye = _new(np.eye(input.shape[-1], dtype=input._data.dtype))
    return cholesky_solve(eye.expand(tuple(input.shape)), input, upper)


def triangular_solve(
    b: Tensor,
    A: Tensor,
    upper: bool = True,
    transpose: bool = False,
    unitriangular: bool = False,
) -> Any:
    """(X, A.clone()) with T X = b, T the upper or lower triangle of A (T^T X = b when
    transpose)."""
    _no_kernel("triangular_solve_cpu", b, A)
    t = A.mT if transpose else A
    x = LA.solve_triangular(t, b, upper=bool(upper) != bool(transpose), unitriangular=unitriangular)
    return triangular_solve_result(x, A.clone())

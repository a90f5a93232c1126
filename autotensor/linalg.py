"""`autotensor.linalg`: torch.linalg's functions on (*, m, n) batches of matrices.

The decompositions and solvers are primitives (autotensor/ops/decomp.py); everything else
(norms, pinv-based least squares, matrix powers and exponentials, products) is composed from
differentiable ops, so gradients and double gradients come from the engine. Inputs are
checked as torch checks them, with torch's messages: integer inputs, fewer than two dims,
non-square matrices; a singular or non-positive-definite matrix raises `LinAlgError`, a
RuntimeError as torch's."""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from autotensor import dtypes
from autotensor import functional as F
from autotensor import tensor_functions as TF
from autotensor.grad_mode import no_grad
from autotensor.ops.decomp import (
    LinalgCholesky,
    LinalgDet,
    LinalgEigh,
    LinAlgError,
    LinalgInv,
    LinalgPinv,
    LinalgQr,
    LinalgSlogdet,
    LinalgSolve,
    LinalgSolveTriangular,
    LinalgSvd,
    cholesky_info,
    zero_pivot,
)
from autotensor.ops.reduce import Norm, norm_dims
from autotensor.tensor import Tensor, _new

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cross", "det", "diagonal", "eigh", "eigvalsh",
    "inv", "inv_ex", "lstsq", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular",
    "svd", "svdvals", "vecdot", "vector_norm",
]  # fmt: skip

# torch.return_types.*: named tuples with torch's type and field names
linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
linalg_inv_ex = namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_cholesky_ex = namedtuple("linalg_cholesky_ex", ["L", "info"])
linalg_solve_ex = namedtuple("linalg_solve_ex", ["result", "info"])


# -- checks, with torch's messages ---------------------------------------------------------------
def _check_float(name: str, *ts: Tensor) -> None:
    for t in ts:
        d = t._data.dtype
        if d.kind != "f":
            raise RuntimeError(
                f"{name}: Expected a floating point or complex tensor as input. Got "
                f"{dtypes.torch_name(d)}"
            )
        if d == np.float16:
            raise RuntimeError(f"{name}: Low precision dtypes not supported. Got Half")


def _check_matrix(name: str, t: Tensor, arg: str = "A") -> None:
    if t.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {arg} must have at least 2 dimensions.")


def _check_square(name: str, t: Tensor, arg: str = "A") -> None:
    _check_matrix(name, t, arg)
    m, n = t.shape[-2], t.shape[-1]
    if m != n:
        raise RuntimeError(
            f"{name}: {arg} must be batches of square matrices, but they are {m} by {n} matrices"
        )


def _square_float(name: str, a: Tensor) -> None:
    _check_float(name, a)
    _check_square(name, a)


def _eps(t: Tensor) -> float:
    return float(np.finfo(t._data.dtype).eps)


# -- determinants and inverses -------------------------------------------------------------------
def det(A: Tensor) -> Tensor:
    """det(A) for A (*, n, n) -> (*); the gradient is g det(A) A^-T (A invertible)."""
    _square_float("linalg.det", A)
    return LinalgDet.apply(A)


def slogdet(A: Tensor) -> Any:
    """(sign, logabsdet) with det(A) = sign * exp(logabsdet), for A (*, n, n) -> (*), (*);
    a singular A gives (0, -inf)."""
    _square_float("linalg.slogdet", A)
    return linalg_slogdet(*LinalgSlogdet.apply(A))


def inv(A: Tensor) -> Tensor:
    """A^-1 for A (*, n, n); raises LinAlgError for a singular matrix."""
    _square_float("linalg.inv", A)
    return LinalgInv.apply(A)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> Any:
    """(inverse, info): info (*) int32 is 0, or the 1-based index of the first zero pivot of
    the LU factorisation of that matrix (whose inverse is then NaN); with check_errors a
    singular matrix raises as inv does."""
    _square_float("linalg.inv_ex", A)
    try:
        out = LinalgInv.apply(A, "linalg.inv_ex")
    except LinAlgError:
        if check_errors:
            raise
        a = A._data
        info = np.zeros(a.shape[:-2], dtype=np.int32)
        res = np.full(a.shape, np.nan, dtype=a.dtype)
        for k in np.ndindex(a.shape[:-2]):
            info[k] = zero_pivot(a[k])
            if not info[k]:
                res[k] = np.linalg.inv(a[k])
        return linalg_inv_ex(_new(res), _new(info))
    return linalg_inv_ex(out, _new(np.zeros(A.shape[:-2], dtype=np.int32)))


# -- solvers -----------------------------------------------------------------------------------
def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """torch's rule: B is a (batch of) vector(s) when 1-D, or when it has one dim less than A
    and A's shape without its last dim."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """X with A X = B (XA = B when not left) for A (*, n, n) and B (*, n, k) or (*, n), batch
    dims broadcast; raises LinAlgError for a singular A."""
    name = "linalg.solve"
    _check_float(name, A, B)
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(
            f"{name}: Expected A and B to have the same dtype, but found A of type "
            f"{dtypes.torch_name(A._data.dtype)} and B of type "
            f"{dtypes.torch_name(B._data.dtype)} instead"
        )
    _check_square(name, A)
    vector = _is_vector_rhs(A, B)
    b = B.unsqueeze(-1) if vector else B
    if not left:
        if vector:
            raise RuntimeError(f"{name}: Vector broadcasting of the left hand side is not "
                               f"supported for left=False.")  # fmt: skip
        A, b = A.mT, b.mT
    n = A.shape[-1]
    if b.shape[-2] != n:
        eq = "AX = B" if left else "XA = B"
        shape_b = f"{b.shape[-2]}x{b.shape[-1]}" if left else f"{b.shape[-1]}x{b.shape[-2]}"
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation {eq} ({n}x{n} and {shape_b})"
        )
    x = LinalgSolve.apply(A, b)
    if vector:
        return x.squeeze(-1)
    return x if left else x.mT


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> Any:
    """(result, info) as solve; info (*) int32 is nonzero where A is singular (the result is
    then NaN there), unless check_errors, which raises as solve does."""
    try:
        x = solve(A, B, left=left)
    except LinAlgError:
        if check_errors:
            raise
        a = A._data
        info = np.zeros(a.shape[:-2], dtype=np.int32)
        for k in np.ndindex(a.shape[:-2]):
            info[k] = zero_pivot(a[k])
        # the singular matrices replaced by the identity for the solve, their results NaN
        bad = info != 0
        eye = np.eye(a.shape[-1], dtype=a.dtype)
        with no_grad():
            x = solve(_new(np.where(bad[..., None, None], eye, a)), B.detach(), left=left)
        mask = bad.reshape(bad.shape + (1,) * (x.ndim - bad.ndim))
        x = _new(np.where(mask, np.nan, x._data).astype(a.dtype))
        return linalg_solve_ex(x, _new(info))
    return linalg_solve_ex(x, _new(np.zeros(A.shape[:-2], dtype=np.int32)))


def solve_triangular(
    A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False
) -> Tensor:
    """X with T X = B (X T = B when not left), T the upper or lower triangle of A (*, n, n)
    (unit diagonal when unitriangular, the diagonal of A then unread), B (*, n, k)
    (or (*, k, n)), batch dims broadcast. A zero on T's diagonal gives inf/NaN, no error."""
    name = "linalg.solve_triangular"
    for t in (A, B):
        if t._data.dtype.kind != "f":
            raise NotImplementedError(
                f"\"triangular_solve_cpu\" not implemented for '{dtypes.torch_name(t.dtype)}'"
            )
    _check_matrix(name, B, "B")
    _check_square(name, A)
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise RuntimeError(
            f"{name}: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})"
        )
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(
            f"{name}: Expected A and B to have the same dtype, but found A of type "
            f"{dtypes.torch_name(A._data.dtype)} and B of type "
            f"{dtypes.torch_name(B._data.dtype)} instead"
        )
    return LinalgSolveTriangular.apply(A, B, bool(upper), bool(left), bool(unitriangular))


# -- decompositions ------------------------------------------------------------------------------
def from_triangle(A: Tensor, lower: bool) -> Tensor:
    """The symmetric matrix that torch's cholesky and eigh read from A: its lower (or upper)
    triangle, mirrored. A symmetric A is passed as it is, so the gradient is torch's
    symmetric one; otherwise the values are torch's and the gradient reaches the triangle
    read (torch defines no gradient for a non-symmetric input)."""
    d = A._data
    if d.size == 0 or np.array_equal(d, np.swapaxes(d, -1, -2)):
        return A
    if lower:
        return F.tril(A) + F.tril(A, -1).mT
    return F.triu(A) + F.triu(A, 1).mT


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """L lower-triangular with A = L L^T for A (*, n, n) symmetric positive-definite (U = L^T
    with A = U^T U when upper); raises LinAlgError if A is not positive-definite."""
    _square_float("linalg.cholesky", A)
    return LinalgCholesky.apply(from_triangle(A, not upper), bool(upper))


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> Any:
    """(L, info): info (*) int32 is 0, or the order of the first leading minor that is not
    positive-definite (L is then NaN for that matrix); check_errors raises instead."""
    _square_float("linalg.cholesky_ex", A)
    A = from_triangle(A, not upper)
    try:
        out = LinalgCholesky.apply(A, bool(upper), "linalg.cholesky_ex")
    except LinAlgError:
        if check_errors:
            raise
        a = A._data
        info = cholesky_info(a)
        res = np.full(a.shape, np.nan, dtype=a.dtype)
        for k in np.ndindex(a.shape[:-2]):
            if not info[k]:
                low = np.linalg.cholesky((a[k] + a[k].T) / 2)
                res[k] = low.T if upper else low
        return linalg_cholesky_ex(_new(res), _new(info))
    return linalg_cholesky_ex(out, _new(np.zeros(A.shape[:-2], dtype=np.int32)))


def qr(A: Tensor, mode: str = "reduced") -> Any:
    """(Q, R) with A = Q R for A (*, m, n): 'reduced' Q (*, m, k), R (*, k, n), k = min(m, n);
    'complete' Q (*, m, m), R (*, m, n); 'r' only R (Q is empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            f"'r', or 'complete'"
        )
    _check_float("linalg.qr", A)
    _check_matrix("linalg.qr", A)
    return linalg_qr(*LinalgQr.apply(A, mode))


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> Any:
    """(U, S, Vh) with A = U diag(S) Vh for A (*, m, n): S (*, k) descending, k = min(m, n);
    U (*, m, m), Vh (*, n, n) with full_matrices, else U (*, m, k), Vh (*, k, n). The
    singular vectors are defined up to a common sign per singular value."""
    _check_float("linalg.svd", A)
    _check_matrix("linalg.svd", A)
    return linalg_svd(*LinalgSvd.apply(A, bool(full_matrices)))


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    """The singular values (*, min(m, n)) of A (*, m, n), descending."""
    _check_float("linalg.svd", A)
    _check_matrix("linalg.svd", A)
    return LinalgSvd.apply(A, False)[1]


def _check_uplo(UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")


def _check_eigh(A: Tensor, UPLO: str) -> None:
    _check_uplo(UPLO)
    d = A._data.dtype
    if d.kind != "f":
        raise NotImplementedError(
            f"\"linalg_eigh_cpu\" not implemented for '{dtypes.torch_name(d)}'"
        )
    _square_float("linalg.eigh", A)


def eigh(A: Tensor, UPLO: str = "L") -> Any:
    """(eigenvalues, eigenvectors) with A = V diag(L) V^T for A (*, n, n) symmetric:
    eigenvalues (*, n) ascending, eigenvectors (*, n, n) as columns, each up to sign."""
    _check_eigh(A, UPLO)
    return linalg_eigh(*LinalgEigh.apply(from_triangle(A, UPLO.upper() == "L"), UPLO))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues (*, n) of A (*, n, n) symmetric, ascending."""
    _check_eigh(A, UPLO)
    return LinalgEigh.apply(from_triangle(A, UPLO.upper() == "L"), UPLO)[0]


# -- pseudo-inverse, rank and least squares --------------------------------------------------------
def _tolerances(A: Tensor, atol: Any, rtol: Any) -> tuple[np.ndarray, np.ndarray]:
    """torch's rule: rtol defaults to eps * max(m, n) unless atol is given and > 0, where it
    defaults to 0; both may be tensors broadcast over the batch dims."""
    dt = A._data.dtype
    default = _eps(A) * builtins.max(A.shape[-2], A.shape[-1])
    a = np.asarray(0.0 if atol is None else (atol._data if isinstance(atol, Tensor) else atol),
                   dtype=dt)  # fmt: skip
    if rtol is None:
        r = (
            np.where(a > 0, 0.0, default).astype(dt)
            if atol is not None
            else np.asarray(default, dt)
        )
    else:
        r = np.asarray(rtol._data if isinstance(rtol, Tensor) else rtol, dtype=dt)
    return a, r


def pinv(A: Tensor, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The pseudo-inverse (*, n, m) of A (*, m, n): V diag(1/s) U^T over the singular values
    s > max(atol, rtol * s_max) (from the eigendecomposition when hermitian)."""
    d = A._data.dtype
    if A.ndim < 2 or d not in (np.float32, np.float64):
        shape = ", ".join(map(str, A.shape))
        raise RuntimeError(
            f"linalg.pinv({dtypes.torch_name(d)}{{[{shape}]}}): expected a tensor with 2 or "
            f"more dimensions of float, double, cfloat or cdouble types"
        )
    a, r = _tolerances(A, atol, rtol)
    return LinalgPinv.apply(A, a, r, bool(hermitian))


def _rank_check(A: Tensor, what: str) -> None:
    if A._data.dtype not in (np.float32, np.float64):
        raise RuntimeError("This function doesn't handle types other than float and double")
    if A.ndim < 2:
        tensor = "input" if what == "lstsq" else "The input tensor input"
        raise RuntimeError(f"torch.linalg.{what}: {tensor} must have at least 2 dimensions.")


def matrix_rank(
    A: Tensor,
    *,
    atol: Any = None,
    rtol: Any = None,
    hermitian: bool = False,
    tol: Any = None,
) -> Tensor:
    """The number (*) int64 of singular values of A (*, m, n) above max(atol, rtol * s_max)
    (absolute eigenvalues when hermitian); `tol` is torch's older name for atol with rtol 0."""
    _rank_check(A, "matrix_rank")
    if tol is not None:
        atol, rtol = tol, 0.0
    a, r = _tolerances(A, atol, rtol)
    with no_grad():
        if hermitian:
            s = np.abs(np.linalg.eigvalsh(A._data))
        else:
            s = np.linalg.svd(A._data, compute_uv=False)
    big = np.max(s, axis=-1, initial=0.0)
    cut = np.maximum(a, r * big)
    return _new(np.asarray(np.sum(s > cut[..., None], axis=-1), dtype=np.int64))


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> Any:
    """(solution, residuals, rank, singular_values): the least-squares X minimising
    ||A X - B|| (of least norm when A is rank-deficient: pinv(A) B with singular values
    <= rcond * s_max dropped) for A (*, m, n), B (*, m, k) or (*, m), batch dims broadcast.
    As torch on the CPU: residuals (*, k), the squared residual norms, only for the drivers
    gels, gelsd, gelss when m > n and A has full rank (else empty); rank (*) int64 except for
    gels (empty); singular_values (*, min(m, n)) only for gelsd and gelss."""
    if driver is not None and driver not in _DRIVERS:
        raise RuntimeError(
            "torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"
        )
    driver = driver or "gelsy"
    _rank_check(A, "lstsq")
    if B._data.dtype != A._data.dtype:
        raise RuntimeError(
            f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got "
            f"input's dtype {dtypes.torch_name(A._data.dtype)} and other's dtype "
            f"{dtypes.torch_name(B._data.dtype)}"
        )
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    if b.ndim < 2:
        raise RuntimeError("torch.linalg.lstsq: other must have at least 1 dimension.")
    if b.shape[-2] != A.shape[-2]:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    m, n = A.shape[-2], A.shape[-1]
    rtol = _eps(A) * builtins.max(m, n) if rcond is None or rcond < 0 else float(rcond)
    if driver == "gels":
        rtol = 0.0
    dt = A._data.dtype
    x = pinv(A, rtol=rtol) @ b
    rank = matrix_rank(A, rtol=rtol) if driver != "gels" else None
    empty = _new(np.empty((0,), dtype=dt))
    residuals = empty
    if driver != "gelsy" and m > n:
        full = rank if rank is not None else matrix_rank(A)
        if bool(np.all(full._data == n)):
            residuals = ((A @ x - b) ** 2).sum(-2)
            if vector:
                residuals = residuals.squeeze(-1)
    if driver in ("gelsd", "gelss"):
        with no_grad():  # torch gives them no gradient
            svals = svdvals(A)
    else:
        svals = empty
    if residuals is empty:  # empty, but part of the graph as torch's
        residuals = x.reshape(-1)[:0]
    rank_out = rank if rank is not None else _new(np.empty((0,), dtype=np.int64))
    return linalg_lstsq(x.squeeze(-1) if vector else x, residuals, rank_out, svals)


# -- norms ---------------------------------------------------------------------------------------
def _norm_dtype(name: str, x: Tensor, dtype: Any) -> Tensor:
    _check_float(name, x)
    if dtype is None:
        return x
    dt = np.dtype(dtype)
    if np.dtype(x._data.dtype).itemsize > dt.itemsize or dt.kind != "f":
        raise RuntimeError(
            f"{name}: the dtype of the input ({dtypes.torch_name(x._data.dtype)}) should be "
            f"convertible without narrowing to the specified dtype ({dtypes.torch_name(dt)})"
        )
    return x.to(dtype)


def vector_norm(
    x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """(sum_i |x_i|^ord)^(1/ord) over dim (all dims when None); ord inf / -inf: max / min
    |x_i|, ord 0: the number of non-zeros."""
    x = _norm_dtype("linalg.vector_norm", x, dtype)
    dims = norm_dims(dim, x.ndim, "linalg.vector_norm")
    return Norm.apply(x, p=float(ord), dims=dims, keepdim=keepdim)


def _matrix_dims(A: Tensor, dim: Sequence[int]) -> tuple[int, int]:
    if len(dim) != 2:
        raise RuntimeError(
            f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}"
        )
    d0, d1 = (int(d) % A.ndim for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(
    A: Tensor,
    ord: Any = "fro",
    dim: Sequence[int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The matrix norm over the dims `dim` of A: 'fro' sqrt(sum a_ij^2), 'nuc' the sum of
    the singular values, 2 / -2 the largest / smallest singular value, 1 / -1 the max / min
    column sum of |a_ij|, inf / -inf the max / min row sum."""
    name = "linalg.matrix_norm"
    _check_matrix(name, A)
    A = _norm_dtype(name, A, dtype)
    d0, d1 = _matrix_dims(A, dim)
    if ord == "fro":
        return Norm.apply(A, p=2.0, dims=tuple(sorted((d0, d1))), keepdim=keepdim)
    if ord == "nuc" or ord in (2, -2):
        m = F.movedim(A, (d0, d1), (-2, -1))
        s = svdvals(m)
        if ord == "nuc":
            out = s.sum(-1)
        else:
            out = s[..., 0] if ord == 2 else s[..., -1]
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    if ord in (1, -1, math.inf, -math.inf):
        # 1: sum over the rows (each column's sum), then the extremum over the columns
        summed, over = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = A.abs().sum(summed, keepdim=True)
        out = s.amax(over, keepdim=True) if ord > 0 else s.amin(over, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1) if d0 < d1 else (d1, d0))
    raise RuntimeError(f"{name}: Order {ord} not supported.")


def norm(
    A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """A vector norm (dim an int, or a 1-D input) or a matrix norm (dim a 2-tuple, or a 2-D
    input with ord given); with neither ord nor dim, the 2-norm of all elements."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(dims) == 1 and not isinstance(ord, str):
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if isinstance(ord, str) or A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim != 1:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
            f"Got {A.ndim}D."
        )
    return vector_norm(A, ord, None, keepdim, dtype=dtype)


# -- products, powers, the exponential -------------------------------------------------------------
def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along dim (batch dims broadcast)."""
    if input.ndim == other.ndim and input.ndim:
        for t in (input, other):
            if not -t.ndim <= dim < t.ndim:
                break
            if t.shape[dim] != 3:  # torch names the dim as given
                raise RuntimeError(
                    f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                    f"{input.shape[dim]} and {other.shape[dim]}"
                )
    return TF.cross(input, other, dim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """sum_i x_i y_i along dim, batch dims broadcast."""
    _check_float("linalg.vecdot", x, y)
    return (x * y).sum(dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal `offset` of the matrices in dims (dim1, dim2), as a new last dim."""
    return TF.diagonal(A, offset, dim1, dim2)


def _chain_order(dims: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of matrices i..j splits (the classic dynamic
    programme over the chain's dims d_0 x d_1, d_1 x d_2, ...)."""
    k = len(dims) - 1
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = -1
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if cost[i][j] < 0 or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s
    return split


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """The product of a chain of matrices, in the cheapest order; the first may be a row
    vector (1-D) and the last a column vector (1-D), as for matmul."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        ok = t.ndim in (1, 2) if i in (0, len(ts) - 1) else t.ndim == 2
        if not ok:
            which = "first" if i == 0 else "last" if i == len(ts) - 1 else None
            if which:
                raise RuntimeError(
                    f"multi_dot(): the {which} tensor must be 1D or 2D but got {t.ndim}D"
                )
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    d0 = ts[0]._data.dtype
    for i, t in enumerate(ts[1:], 1):
        if t._data.dtype != d0:
            raise RuntimeError(
                f"multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                f"{d0.name.replace('float32', 'float').replace('float64', 'double')} and tensor "
                f"{i} {t._data.dtype.name.replace('float32', 'float').replace('float64', 'double')}"
            )
    row, col = ts[0].ndim == 1, ts[-1].ndim == 1
    if row:
        ts[0] = ts[0].unsqueeze(0)
    if col:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            s0 = ", ".join(map(str, ts[i].shape))
            s1 = ", ".join(map(str, ts[i + 1].shape))
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes [{s0}] and [{s1}] cannot "
                f"be multiplied"
            )
    split = _chain_order([ts[0].shape[0]] + [t.shape[1] for t in ts])

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        s = split[i][j]
        return product(i, s) @ product(s + 1, j)

    out = product(0, len(ts) - 1)
    if row:
        out = out.squeeze(0)
    if col:
        out = out.squeeze(-1)
    return out


def matrix_power(A: Tensor, n: int) -> Tensor:
    """A^n for A (*, m, m) by repeated squaring: the identity for n = 0, inv(A)^-n for n < 0
    (integer matrices only for n >= 0)."""
    name = "linalg.matrix_power"
    _check_square(name, A)
    n = int(n)
    if n == 0:
        # the identity, still a function of A (with zero gradient), as torch's
        eye = np.ascontiguousarray(np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype),
                                                   A.shape))  # fmt: skip
        return F.where(_new(np.ones(A.shape, dtype=bool)), _new(eye), A)
    if n < 0:
        A = inv(A)
        n = -n
    result = None
    base = A
    while True:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if not n:
            break
        base = base @ base
    assert result is not None
    return result if result is not A else A.clone()


_EXP_TERMS = 18  # Taylor terms for ||X||_1 <= 1/2: the remainder is below 2^-19 / 19!


def matrix_exp(A: Tensor) -> Tensor:
    """exp(A) = sum_k A^k / k! for A (*, n, n), by scaling and squaring: exp(A) =
    exp(A / 2^s)^(2^s), with s such that ||A / 2^s||_1 <= 1/2 and the series summed in
    Horner's form to 18 terms (matrix products only, so it is differentiable as composed)."""
    _square_float("linalg.matrix_exp", A)
    n = A.shape[-1]
    if A.numel() == 0:
        return A.clone()
    a1 = float(np.max(np.sum(np.abs(A._data), axis=-2)))
    s = 0 if not np.isfinite(a1) or a1 <= 0.5 else int(math.ceil(math.log2(a1 / 0.5)))
    x = A / float(2**s) if s else A
    eye = _new(np.eye(n, dtype=A._data.dtype))
    p = eye
    for k in range(_EXP_TERMS, 0, -1):
        p = eye + (x @ p) / float(k)
    for _ in range(s):
        p = p @ p
    return p

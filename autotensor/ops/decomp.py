"""Matrix decompositions and solvers as differentiable primitives: determinant, log-determinant,
inverse, solve, triangular solve, Cholesky, QR, SVD, symmetric eigendecomposition and the
pseudo-inverse.

Each works on the last two dims of (*, m, n) arrays (batch dims first). Forwards call numpy's
LAPACK wrappers; backwards are written in Tensor ops (matmul, the triangular solve, masks), so
they are differentiable again. Matrix results are laid out as torch's LAPACK results are:
each matrix column-major, the batch dims outermost (strides (m*n, 1, m) for (*, m, n)).

Cholesky and eigh read the symmetric part (A + A^T) / 2 of their input. For the symmetric
inputs they are defined on this is A itself; it makes the gradient torch's symmetric one and
the true derivative of the forward (torch reads one triangle instead, so for a non-symmetric
input the values differ)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autotensor.function import Function
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample


class LinAlgError(RuntimeError):
    """A matrix on which the operation is undefined (singular, not positive-definite):
    torch.linalg.LinAlgError, a RuntimeError."""


def col_major(a: np.ndarray) -> np.ndarray:
    """`a` with each matrix (last two dims) column-major and the batch dims outermost, as
    LAPACK leaves torch's results."""
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(a, -1, -2)), -1, -2)


def _sym(a: np.ndarray) -> np.ndarray:
    return (a + np.swapaxes(a, -1, -2)) * np.asarray(0.5, a.dtype)


def _batches(a: np.ndarray) -> list[tuple]:
    return list(np.ndindex(a.shape[:-2]))


def _where(a: np.ndarray, k: tuple) -> str:
    """torch's prefix naming the failing matrix of a batch (none for a single matrix)."""
    if a.ndim <= 2:
        return ""
    flat = int(np.ravel_multi_index(k, a.shape[:-2])) if k else 0
    return f"(Batch element {flat}): "


def zero_pivot(m: np.ndarray) -> int:
    """The 1-based index of the first zero pivot of m's LU factorisation with partial
    pivoting (LAPACK's getrf info), 0 if there is none. Only run on the error path."""
    u = np.array(m, dtype=m.dtype)
    n = u.shape[0]
    for j in range(n):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        if u[p, j] == 0:
            return j + 1
        u[[j, p]] = u[[p, j]]
        u[j + 1 :] -= np.outer(u[j + 1 :, j] / u[j, j], u[j])
    return 0


def singular_error(name: str, a: np.ndarray) -> LinAlgError:
    """torch's error for the first singular matrix of the batch `a`."""
    for k in _batches(a):
        piv = zero_pivot(a[k])
        if piv:
            return LinAlgError(
                f"{name}: {_where(a, k)}The diagonal element {piv} is zero, the inversion "
                f"could not be completed because the input matrix is singular."
            )
    return LinAlgError(f"{name}: The input matrix is singular.")


def _eye(n: int, dtype: Any) -> Tensor:
    return _new(np.eye(n, dtype=dtype))


def _spd(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Well-conditioned symmetric positive-definite matrices of shape (*, n, n)."""
    m = rng.normal(size=shape)
    n = shape[-1]
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def _square(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Well-conditioned (diagonally dominated) square matrices."""
    return rng.normal(size=shape) + 3.0 * np.eye(shape[-1])


def _square_samples(rng: np.random.Generator) -> Any:
    yield Sample(_square(rng, 3, 3))
    yield Sample(_square(rng, 2, 4, 4), note="batched")
    yield Sample(_square(rng, 3, 3).T, note="transposed")
    yield Sample(_square(rng, 2, 1, 1), note="size-1")
    yield Sample(_square(rng, 0, 3, 3), note="empty batch")
    yield Sample(np.zeros((0, 0)), note="empty")


def _sum_to(t: Tensor, shape: tuple) -> Tensor:
    from autotensor.functional import sum_to

    return t if tuple(t.shape) == tuple(shape) else sum_to(t, shape)


# -- determinants and the inverse --------------------------------------------------------------
class LinalgDet(Function):
    """out = det(A) for A (*, n, n) -> (*); dA = g det(A) A^-T (A invertible). For a
    singular A, as torch: zeros in a plain backward; with create_graph the cofactor matrix
    through the SVD, det(U) det(V) U diag(prod_{j != i} s_j) V^T, so it stays differentiable."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the determinant is defined on (*, n, n) matrices"}

    @staticmethod
    def forward(ctx, a):
        out = np.asarray(np.linalg.det(a), dtype=a.dtype)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from autotensor.grad_mode import is_grad_enabled
        from autotensor.ops.elementwise import Where

        a, out = ctx.saved_tensors
        singular = out._data == 0
        if not singular.any():
            return (g * out).unsqueeze(-1).unsqueeze(-1) * LinalgInv.apply(a).mT
        n = a.shape[-1]
        eye = np.eye(n, dtype=bool)
        ident = _new(np.broadcast_to(eye, a.shape).astype(a._data.dtype))
        # the identity stands in for each singular matrix, whose det (0) zeroes the term
        grad = (g * out).unsqueeze(-1).unsqueeze(-1) * LinalgInv.apply(
            Where.apply(singular[..., None, None], ident, a)
        ).mT
        if not is_grad_enabled():  # torch's plain backward: zeros at a singular matrix
            return grad
        # the singular matrices alone, so that the SVD's own backward (NaN at repeated
        # singular values) cannot reach the others; written into place as torch does
        idx = np.flatnonzero(singular)
        u, s, vh = LinalgSvd.apply(a.reshape(-1, n, n)[idx], False)
        sign = np.linalg.det(u._data) * np.linalg.det(vh._data)
        rest = Where.apply(eye, 1.0, s.unsqueeze(-2).expand(len(idx), n, n)).prod(-1)
        cof = (u * (rest * _new(sign.astype(a._data.dtype))[:, None]).unsqueeze(-2)) @ vh
        gs = g.reshape(-1)[idx].unsqueeze(-1).unsqueeze(-1)
        return grad.reshape(-1, n, n).index_put((_new(idx),), gs * cof).reshape(a.shape)

    @staticmethod
    def sample_inputs(rng):
        yield from _square_samples(rng)


class LinalgSlogdet(Function):
    """(sign, logabsdet) = the sign and log |det A| for A (*, n, n) -> (*), (*);
    dA = g_logabsdet A^-T (the sign is piecewise constant: no gradient)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the determinant is defined on (*, n, n) matrices"}

    @staticmethod
    def forward(ctx, a):
        sign, logabs = np.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return np.asarray(sign, dtype=a.dtype), np.asarray(logabs, dtype=a.dtype)

    @staticmethod
    def backward(ctx, gsign, glog):
        (a,) = ctx.saved_tensors
        return glog.unsqueeze(-1).unsqueeze(-1) * LinalgInv.apply(a).mT

    @staticmethod
    def sample_inputs(rng):
        yield from _square_samples(rng)
        yield Sample(-_square(rng, 3, 3), note="negative determinant")


class LinalgInv(Function):
    """out = A^-1 for A (*, n, n);  dA = -out^T g out^T."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the inverse is defined on (*, n, n) matrices"}

    @staticmethod
    def forward(ctx, a, name="linalg.inv"):
        try:
            out = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise singular_error(name, a) from None
        out = col_major(out.astype(a.dtype, copy=False))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved_tensors
        t = inv.mT
        return -(t @ g @ t)

    sample_inputs = staticmethod(_square_samples)


# -- solvers -----------------------------------------------------------------------------------
class LinalgSolve(Function):
    """X = A^-1 B for A (*, n, n), B (*, n, k) (batch dims broadcast) -> (*, n, k);
    dB = A^-T g, dA = -dB X^T (each summed to its operand's batch shape).

    The vector right-hand side and left=False are handled by `linalg.solve`."""

    takes_arrays = True
    shape_exemptions = {"0-d": "A is (*, n, n) and B (*, n, k)"}

    @staticmethod
    def forward(ctx, a, b):
        try:
            x = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise LinAlgError(
                "torch.linalg.solve: The solver failed because the input matrix is singular."
            ) from None
        x = col_major(x.astype(np.result_type(a, b), copy=False))
        ctx.save_for_backward(a, x)
        ctx.shapes = (a.shape, b.shape)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        ashape, bshape = ctx.shapes
        gb = LinalgSolve.apply(a.mT, g)
        ga = _sum_to(-(gb @ x.mT), ashape) if ctx.needs_input_grad[0] else None
        return ga, _sum_to(gb, bshape)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(_square(rng, 3, 3), n(size=(3, 2)))
        yield Sample(_square(rng, 2, 3, 3), n(size=(3, 1)), note="batch broadcast, size-1")
        yield Sample(_square(rng, 3, 3), n(size=(2, 2, 3, 4)), note="A broadcast")
        yield Sample(_square(rng, 3, 3).T, n(size=(2, 3)).T, note="transposed")
        yield Sample(_square(rng, 0, 2, 2), n(size=(2, 3)), note="empty batch")


def _trsm(a: np.ndarray, b: np.ndarray, upper: bool, unit: bool) -> np.ndarray:
    """X with T X = B by substitution, T the upper or lower triangle of a (*, n, n) (its
    diagonal taken as ones when `unit`), b (*, n, k), batch dims broadcast. A zero on the
    diagonal gives inf/NaN, as LAPACK's trsm does: no error."""
    dtype = np.result_type(a, b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    n, k = b.shape[-2], b.shape[-1]
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + (n, k))
    x = np.empty(batch + (n, k), dtype=dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(n - 1, -1, -1) if upper else range(n):
            done = slice(i + 1, n) if upper else slice(0, i)
            s = b[..., i, :] - np.matmul(a[..., i : i + 1, done], x[..., done, :])[..., 0, :]
            x[..., i, :] = s if unit else s / a[..., i, i, None]
    return x


class LinalgSolveTriangular(Function):
    """X with T X = B (left) or X T = B (not left), T the upper or lower triangle of
    A (*, n, n) (unit diagonal when `unitriangular`), B (*, n, k) or (*, k, n), batch dims
    broadcast.  Left: dB = T^-T g, dA = -dB X^T; right: dB = g T^-T, dA = -X^T dB; dA kept
    to the triangle the forward reads."""

    takes_arrays = True
    shape_exemptions = {"0-d": "A is (*, n, n) and B a matrix (*, n, k)"}

    @staticmethod
    def forward(ctx, a, b, upper, left=True, unitriangular=False):
        if left:
            x = _trsm(a, b, upper, unitriangular)
        else:  # X T = B  <=>  T^T X^T = B^T, T^T of the other triangle
            at, bt = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
            x = np.swapaxes(_trsm(at, bt, not upper, unitriangular), -1, -2)
        x = col_major(x)
        ctx.save_for_backward(a, x)
        ctx.args = (upper, left, unitriangular, a.shape, b.shape)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        upper, left, unit, ashape, bshape = ctx.args
        gb = LinalgSolveTriangular.apply(a.mT, g, not upper, left, unit)
        ga = None
        if ctx.needs_input_grad[0]:
            ga = -(gb @ x.mT) if left else -(x.mT @ gb)
            off = 1 if unit else 0
            ga = ga.triu(off) if upper else ga.tril(-off)
            ga = _sum_to(ga, ashape)
        return ga, _sum_to(gb, bshape)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(_square(rng, 3, 3), n(size=(3, 2)), True)
        yield Sample(_square(rng, 3, 3), n(size=(3, 2)), False, note="lower")
        yield Sample(_square(rng, 2, 3, 3), n(size=(4, 3)), True, False, note="right, batched")
        yield Sample(_square(rng, 3, 3), n(size=(2, 3, 1)), False, True, True, note="unit, size-1")
        yield Sample(_square(rng, 3, 3).T, n(size=(2, 3)).T, False, note="transposed")
        yield Sample(_square(rng, 0, 2, 2), n(size=(2, 3)), True, note="empty batch")


# -- Cholesky ---------------------------------------------------------------------------------
def _not_pd_error(name: str, a: np.ndarray) -> LinAlgError:
    for k in _batches(a):
        m = a[k]
        for order in range(1, m.shape[-1] + 1):
            try:
                np.linalg.cholesky(m[:order, :order])
            except np.linalg.LinAlgError:
                return LinAlgError(
                    f"{name}: {_where(a, k)}The factorization could not be completed because "
                    f"the input is not positive-definite (the leading minor of order {order} "
                    f"is not positive-definite)."
                )
    return LinAlgError(f"{name}: The input is not positive-definite.")


def cholesky_info(a: np.ndarray) -> np.ndarray:
    """LAPACK's potrf info per matrix: 0, or the order of the first leading minor that is not
    positive-definite."""
    s = _sym(a)
    info = np.zeros(a.shape[:-2], dtype=np.int32)
    for k in _batches(a):
        try:
            np.linalg.cholesky(s[k])
        except np.linalg.LinAlgError:
            for order in range(1, s.shape[-1] + 1):
                try:
                    np.linalg.cholesky(s[k][:order, :order])
                except np.linalg.LinAlgError:
                    info[k] = order
                    break
    return info


class LinalgCholesky(Function):
    """L lower-triangular with L L^T = (A + A^T)/2 for A (*, n, n) symmetric
    positive-definite (U = L^T when `upper`);
    dA = L^-T S L^-1 with S the symmetric part of Phi(L^T g_L), Phi the lower triangle with
    the diagonal halved."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the factorisation is defined on (*, n, n) matrices"}

    @staticmethod
    def forward(ctx, a, upper=False, name="linalg.cholesky"):
        try:
            low = np.linalg.cholesky(_sym(a))
        except np.linalg.LinAlgError:
            raise _not_pd_error(name, _sym(a)) from None
        low = low.astype(a.dtype, copy=False)
        ctx.upper = upper
        out = col_major(np.swapaxes(low, -1, -2) if upper else low)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        low, gl = (out.mT, g.mT) if ctx.upper else (out, g)
        n = low.shape[-1]
        m = low.mT @ gl
        phi = m.tril(-1) + m * (_eye(n, m._data.dtype) * 0.5)
        s = (phi + phi.mT) * 0.5
        y = LinalgSolveTriangular.apply(low.mT, s, True)  # L^-T S
        return LinalgSolveTriangular.apply(low, y, False, False)  # (L^-T S) L^-1

    @staticmethod
    def sample_inputs(rng):
        yield Sample(_spd(rng, 3, 3))
        yield Sample(_spd(rng, 2, 4, 4), note="batched")
        yield Sample(_spd(rng, 3, 3), upper=True, note="upper")
        yield Sample(_spd(rng, 4, 4)[:, ::-1][::-1].T, note="transposed")
        yield Sample(_spd(rng, 2, 1, 1), note="size-1")
        yield Sample(np.zeros((0, 3, 3)), note="empty batch")


# -- QR ---------------------------------------------------------------------------------------
def _copyltu(m: Tensor) -> Tensor:
    """The symmetric matrix with m's lower triangle: tril(m) + tril(m, -1)^T."""
    return m.tril() + m.tril(-1).mT


def _qr_backward_tall(q: Tensor, r: Tensor, gq: Tensor, gr: Tensor) -> Tensor:
    """dA for A = QR with m >= n (Q (m, n), R (n, n)): (gQ + Q copyltu(M)) R^-T with
    M = R gR^T - gQ^T Q."""
    m = r @ gr.mT - gq.mT @ q
    b = gq + q @ _copyltu(m)
    return LinalgSolveTriangular.apply(r.mT, b, False, False)  # b R^-T


class LinalgQr(Function):
    """(Q, R) with A = Q R for A (*, m, n), Q with orthonormal columns, R upper-triangular
    (mode 'reduced': Q (*, m, k), R (*, k, n), k = min(m, n); 'complete': Q (*, m, m),
    R (*, m, n); 'r': Q empty). For m >= n, dA = (gQ + Q copyltu(M)) R^-T with
    M = R gR^T - gQ^T Q; for m < n, A = [X | Y], R = [U | V]: dX is that formula for (Q, U)
    with gQ + Y gV^T in place of gQ, and dY = Q gV."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the factorisation is defined on (*, m, n) matrices"}

    @staticmethod
    def forward(ctx, a, mode="reduced"):
        ctx.mode, ctx.mn = mode, a.shape[-2:]
        if mode == "r":
            r = np.linalg.qr(a, mode="r")
            return np.empty((0,), a.dtype), col_major(r.astype(a.dtype, copy=False))
        q, r = np.linalg.qr(a, mode=mode)
        q = col_major(q.astype(a.dtype, copy=False))
        r = col_major(r.astype(a.dtype, copy=False))
        ctx.save_for_backward(q, r)
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        m, n = ctx.mn
        if ctx.mode == "r":
            raise RuntimeError(
                "The derivative of linalg.qr depends on Q, which is not computed when "
                "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                "differentiate through linalg.qr."
            )
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        q, r = ctx.saved_tensors
        if m >= n:
            return _qr_backward_tall(q, r, gq, gr)
        u, v = r[..., :, :m], r[..., :, m:]
        gu, gv = gr[..., :, :m], gr[..., :, m:]
        y = q @ v
        gx = _qr_backward_tall(q, u, gq + y @ gv.mT, gu)
        from autotensor.functional import cat

        return cat([gx, q @ gv], -1)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(4, 3)))
        yield Sample(n(size=(3, 3)), note="square")
        yield Sample(n(size=(2, 3, 5)), note="wide, batched")
        yield Sample(n(size=(2, 3)), mode="complete", note="complete, wide")
        yield Sample(n(size=(5, 3)).T, note="transposed")
        yield Sample(n(size=(4, 1)), note="size-1")
        yield Sample(n(size=(0, 3, 2)), note="empty batch")


# -- SVD and the symmetric eigendecomposition -----------------------------------------------------
def _gap_inverse(v: Tensor) -> Tensor:
    """F[..., i, j] = 1 / (v_j - v_i) off the diagonal, 0 on it, for v (*, k)."""
    k = v.shape[-1]
    eye = _eye(k, v._data.dtype)
    e = v.unsqueeze(-2) - v.unsqueeze(-1) + eye  # the diagonal is 1, not 0: no 1/0
    return (1.0 - eye) / e


class LinalgSvd(Function):
    """(U, S, Vh) with A = U diag(S) Vh for A (*, m, n): U (*, m, k), S (*, k) descending,
    Vh (*, k, n), k = min(m, n) (full_matrices: U (*, m, m), Vh (*, n, n)). With V = Vh^T,
    F_ij = 1/(s_j^2 - s_i^2) (0 for i = j):
    dA = U [(F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V))] Vh
         + (I - U U^T) gU S^-1 Vh + U S^-1 gV^T (I - V V^T)
    (the extra columns of full U and V get no gradient; the vectors are defined up to a
    common sign per singular value, so only sign-invariant losses have a gradient)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the decomposition is defined on (*, m, n) matrices"}

    @staticmethod
    def forward(ctx, a, full_matrices=True):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        dt = a.dtype
        u, vh = col_major(u.astype(dt, copy=False)), col_major(vh.astype(dt, copy=False))
        s = np.ascontiguousarray(s.astype(dt, copy=False))
        ctx.set_materialize_grads(False)  # no 0 * inf from S^-1 when only S has a gradient
        ctx.save_for_backward(u, s, vh)
        ctx.mn = a.shape[-2:]
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        m, n = ctx.mn
        k = min(m, n)
        if k == 0:
            return _new(np.zeros(u.shape[:-2] + (m, n), dtype=u._data.dtype))
        u, vh = u[..., :, :k], vh[..., :k, :]
        gu = None if gu is None else gu[..., :, :k]
        gvh = None if gvh is None else gvh[..., :k, :]
        inner = None
        if gs is not None:
            inner = gs.diag_embed()
        if gu is not None or gvh is not None:
            f = _gap_inverse(s * s)
            sr, sc = s.unsqueeze(-2), s.unsqueeze(-1)  # S on the right, S on the left
            if gu is not None:
                ut_gu = u.mT @ gu
                j = f * (ut_gu - ut_gu.mT) * sr
                inner = j if inner is None else inner + j
            if gvh is not None:
                v, gv = vh.mT, gvh.mT
                vt_gv = v.mT @ gv
                kk = sc * (f * (vt_gv - vt_gv.mT))
                inner = kk if inner is None else inner + kk
        ga = u @ inner @ vh
        if gu is not None and m > k:  # the part of gU outside U's span
            ga = ga + ((gu - u @ (u.mT @ gu)) / sr) @ vh
        if gvh is not None and n > k:
            v, gv = vh.mT, gvh.mT
            ga = ga + u @ ((gv - v @ (v.mT @ gv)) / sr).mT
        return ga

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(4, 3)), full_matrices=False)
        yield Sample(n(size=(3, 5)), full_matrices=False, note="wide")
        yield Sample(n(size=(2, 3, 3)), full_matrices=False, note="square, batched")
        # full_matrices on a square matrix only: the extra columns of a full U or V are an
        # arbitrary basis of a null space, which no gradient is defined for
        yield Sample(n(size=(3, 3)), note="full_matrices, square")
        yield Sample(n(size=(5, 3)).T, full_matrices=False, note="transposed")
        yield Sample(n(size=(4, 1)), full_matrices=False, note="size-1")
        yield Sample(n(size=(0, 3, 2)), full_matrices=False, note="empty batch")
        yield Sample(n(size=(3, 0)), full_matrices=False, note="empty matrix")


class LinalgEigh(Function):
    """(L, V) with A = V diag(L) V^T for A (*, n, n) symmetric (its symmetric part is read),
    L ascending; dA = sym(V (diag(gL) + F o (V^T gV)) V^T) with F_ij = 1/(L_j - L_i)
    (0 for i = j), sym(X) = (X + X^T)/2. Each eigenvector is defined up to sign."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the decomposition is defined on (*, n, n) matrices"}

    @staticmethod
    def forward(ctx, a, UPLO="L"):
        w, v = np.linalg.eigh(_sym(a), UPLO=UPLO)
        w = np.ascontiguousarray(w.astype(a.dtype, copy=False))
        v = col_major(v.astype(a.dtype, copy=False))
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        if gw is None and gv is None:
            return None
        inner = None if gw is None else gw.diag_embed()
        if gv is not None:
            x = _gap_inverse(w) * (v.mT @ gv)
            inner = x if inner is None else inner + x
        ga = v @ inner @ v.mT
        return (ga + ga.mT) * 0.5

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        sym = _sym
        yield Sample(sym(n(size=(4, 4))))
        yield Sample(sym(n(size=(2, 3, 3))), note="batched")
        yield Sample(sym(n(size=(3, 3))), UPLO="U", note="upper")
        yield Sample(sym(n(size=(4, 4))).T[::-1, ::-1], note="transposed")
        yield Sample(sym(n(size=(2, 1, 1))), note="size-1")
        yield Sample(np.zeros((0, 3, 3)), note="empty batch")


# -- the pseudo-inverse ---------------------------------------------------------------------------
class LinalgPinv(Function):
    """P = A^+ for A (*, m, n) -> (*, n, m), from the SVD (the eigendecomposition when
    `hermitian`), singular values <= max(atol, rtol * s_max) taken as 0;
    dA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A) (exact where the rank is
    locally constant)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "the pseudo-inverse is defined on (*, m, n) matrices"}

    @staticmethod
    def forward(ctx, a, atol=0.0, rtol=0.0, hermitian=False):
        dt = a.dtype
        atol = np.asarray(atol, dtype=dt)
        rtol = np.asarray(rtol, dtype=dt)
        if hermitian:
            w, v = np.linalg.eigh(a)
            big = np.max(np.abs(w), axis=-1, initial=0.0, keepdims=True)
            cut = np.maximum(atol[..., None], rtol[..., None] * big)
            with np.errstate(divide="ignore"):
                winv = np.where(np.abs(w) > cut, 1.0 / w, 0.0).astype(dt)
            p = np.matmul(v * winv[..., None, :], np.swapaxes(v, -1, -2))
        else:
            u, s, vh = np.linalg.svd(a, full_matrices=False)
            big = np.max(s, axis=-1, initial=0.0, keepdims=True)
            cut = np.maximum(atol[..., None], rtol[..., None] * big)
            with np.errstate(divide="ignore"):
                sinv = np.where(s > cut, 1.0 / s, 0.0).astype(dt)
            p = np.matmul(np.swapaxes(vh, -1, -2) * sinv[..., None, :], np.swapaxes(u, -1, -2))
        p = np.ascontiguousarray(p.astype(dt, copy=False))
        ctx.save_for_backward(a, p)
        return p

    @staticmethod
    def backward(ctx, g):
        a, p = ctx.saved_tensors
        pt, gt = p.mT, g.mT
        ga = -(pt @ g @ pt)
        ga = ga + (gt - a @ (p @ gt)) @ (p @ pt)  # (I - A P) g^T P P^T
        ga = ga + (pt @ p) @ (gt - (gt @ p) @ a)  # P^T P g^T (I - P A)
        return ga

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(4, 3)))
        yield Sample(n(size=(3, 5)), note="wide")
        yield Sample(n(size=(2, 3, 3)), note="batched")
        yield Sample(n(size=(5, 3)).T, note="transposed")
        yield Sample(n(size=(4, 1)), note="size-1")
        yield Sample(n(size=(0, 3, 2)), note="empty batch")

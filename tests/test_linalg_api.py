"""autotensor.linalg and the top-level linear-algebra functions against torch (values,
gradients, double gradients, layouts, errors), hypothesis properties of the decompositions,
and gradchecks of the composed functions (the primitives' own gradchecks are in
tests/test_primitives.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # property tests skip without hypothesis
    given = None

# torch.cholesky, torch.qr and torch.triangular_solve warn that they are deprecated
pytestmark = pytest.mark.filterwarnings("ignore:torch.* is deprecated:UserWarning")

LIBS = ("at", "torch")


def _lib(name: str) -> Any:
    return at if name == "at" else torch


def _tensor(lib: Any, a: np.ndarray, grad: bool = True, transpose: bool = False) -> Any:
    """a as a tensor of lib; transposed: the same values held as a transposed view."""
    if transpose:
        leaf = lib.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)))
        if grad and a.dtype.kind == "f":
            leaf.requires_grad_(True)
        return leaf.mT, leaf
    t = lib.tensor(a)
    if grad and a.dtype.kind == "f":
        t.requires_grad_(True)
    return t, t


def _np(t: Any) -> np.ndarray:
    if torch is not None and isinstance(t, torch.Tensor):
        return np.asarray(t.detach().numpy(force=True))  # (torch's zero gradients too)
    return np.asarray(t.detach().numpy())


def _spd(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    m = rng.normal(size=shape)
    n = shape[-1]
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def _sq(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.normal(size=shape) + 2.0 * np.eye(shape[-1])


TOL = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-5)}


def _compare(fn: Any, arrays: list[np.ndarray], dtype: str = "float64", transpose: bool = False,
             grad: bool = True, second: bool = True) -> None:  # fmt: skip
    """Run fn(lib, *tensors) with both libraries: outputs (a tensor or a tuple of them) must
    agree in values, dtypes and shapes; the gradients of sum(W * out) over fixed random W
    (and, when `second`, of a random projection of that gradient) must agree too."""
    arrs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    results = {}
    for name in LIBS:
        lib = _lib(name)
        pairs = [_tensor(lib, a, grad, transpose and a.ndim >= 2) for a in arrs]
        ins = [p[0] for p in pairs]
        leaves = [p[1] for p in pairs if p[1].requires_grad]
        out = fn(lib, *ins)
        outs = list(out) if isinstance(out, tuple) else [out]
        results[name] = (outs, leaves, lib)
    (oa, la, _), (ot, lt, _) = results["at"], results["torch"]
    assert len(oa) == len(ot) and len(la) == len(lt)
    for a, t in zip(oa, ot):
        assert tuple(a.shape) == tuple(t.shape)
        assert a.requires_grad == t.requires_grad
        assert str(a.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(a), _np(t), **TOL[dtype])
    if not grad or not la:
        return
    rng = np.random.default_rng(7)
    ws = [rng.normal(size=tuple(o.shape)) for o in oa]
    grads = {}
    for name in LIBS:
        outs, leaves, lib = results[name]
        diff = [(o, w) for o, w in zip(outs, ws) if o.requires_grad]
        if not diff:
            return
        loss = sum((o * lib.tensor(w.astype(dtype))).sum() for o, w in diff)
        gs = lib.autograd.grad(loss, leaves, create_graph=second, allow_unused=True)
        grads[name] = gs
        if second:
            vrng = np.random.default_rng(8)
            vs = [vrng.normal(size=tuple(g.shape)) if g is not None else None for g in gs]
            terms = [(g * lib.tensor(v.astype(dtype))).sum() for g, v in zip(gs, vs)
                     if g is not None and g.requires_grad]  # fmt: skip
            # a gradient constant in the input (det of 1x1) has no graph: zero second order
            zeros = [lib.zeros_like(x) for x in leaves]
            g2 = lib.autograd.grad(sum(terms), leaves, allow_unused=True) if terms else zeros
            grads[name + "2"] = [z if g is None else g for g, z in zip(g2, zeros)]
    for key in ("at", "at2") if second else ("at",):
        for g, h in zip(grads[key], grads[key.replace("at", "torch")]):
            assert (g is None) == (h is None), key
            if g is not None:
                np.testing.assert_allclose(_np(g), _np(h), **TOL[dtype])


SQUARE_SHAPES = [(3, 3), (2, 4, 4), (1, 1), (2, 1, 1), (0, 3, 3), (2, 0, 2, 2)]
MATRIX_SHAPES = [(4, 3), (3, 5), (2, 3, 3), (1, 1), (3, 1), (0, 3, 2)]
DTYPES = ["float64", "float32"]

# (name, fn(lib, A), input kind): the functions of one square matrix
SQUARE_FNS = [
    ("det", lambda L, a: L.linalg.det(a), "sq"),
    ("slogdet", lambda L, a: tuple(L.linalg.slogdet(a)), "sq"),
    ("slogdet_neg", lambda L, a: tuple(L.linalg.slogdet(-a)), "sq"),
    ("inv", lambda L, a: L.linalg.inv(a), "sq"),
    ("inverse", lambda L, a: L.inverse(a), "sq"),
    ("torch_det", lambda L, a: L.det(a), "sq"),
    ("logdet", lambda L, a: L.logdet(a), "spd"),
    ("torch_slogdet", lambda L, a: tuple(L.slogdet(a)), "sq"),
    ("cholesky", lambda L, a: L.linalg.cholesky(a), "spd"),
    ("cholesky_upper", lambda L, a: L.linalg.cholesky(a, upper=True), "spd"),
    ("torch_cholesky", lambda L, a: L.cholesky(a, True), "spd"),
    ("eigvalsh", lambda L, a: L.linalg.eigvalsh(a), "sym"),
    ("eigh_vectors_sq", lambda L, a: (lambda r: (r[0], r[1] ** 2))(L.linalg.eigh(a)), "sym"),
    ("matrix_power3", lambda L, a: L.linalg.matrix_power(a, 3), "sq"),
    ("matrix_power0", lambda L, a: L.linalg.matrix_power(a, 0), "sq"),
    ("matrix_power1", lambda L, a: L.linalg.matrix_power(a, 1), "sq"),
    ("matrix_power-2", lambda L, a: L.linalg.matrix_power(a, -2), "sq"),
    ("matrix_exp", lambda L, a: L.linalg.matrix_exp(a), "sq"),
    ("matrix_exp_small", lambda L, a: L.linalg.matrix_exp(a * 0.01), "sq"),
    ("cholesky_inverse", lambda L, a: L.cholesky_inverse(L.linalg.cholesky(a)), "spd"),
    ("cholesky_inverse_up", lambda L, a: L.cholesky_inverse(L.linalg.cholesky(a).mT, True),
     "spd"),
    ("pinv_hermitian", lambda L, a: L.linalg.pinv(a, hermitian=True), "spd"),
    ("matrix_norm_2", lambda L, a: L.linalg.matrix_norm(a, 2), "sq"),
    ("method_det", lambda L, a: a.det(), "sq"),
    ("method_inverse", lambda L, a: a.inverse(), "sq"),
    ("method_logdet", lambda L, a: a.logdet(), "spd"),
    ("method_slogdet", lambda L, a: tuple(a.slogdet()), "sq"),
    ("method_cholesky", lambda L, a: a.cholesky(), "spd"),
    ("method_matrix_power", lambda L, a: a.matrix_power(2), "sq"),
    ("method_matrix_exp", lambda L, a: a.matrix_exp(), "sq"),
]  # fmt: skip


def _make(kind: str, rng: np.random.Generator, shape: tuple) -> np.ndarray:
    if kind == "spd":
        return _spd(rng, shape)
    if kind == "sym":
        m = rng.normal(size=shape)
        return m + np.swapaxes(m, -1, -2)
    return _sq(rng, shape)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SQUARE_SHAPES, ids=str)
@pytest.mark.parametrize("case", SQUARE_FNS, ids=lambda c: c[0])
def test_square_functions_match_torch(case: tuple, shape: tuple, dtype: str) -> None:
    name, fn, kind = case
    rng = np.random.default_rng(abs(hash((name, shape))) % 2**32)
    a = _make(kind, rng, shape)
    _compare(fn, [a], dtype, second=dtype == "float64")


@needs_torch
@pytest.mark.parametrize("case", SQUARE_FNS, ids=lambda c: c[0])
def test_square_functions_on_transposed_input(case: tuple) -> None:
    name, fn, kind = case
    a = _make(kind, np.random.default_rng(3), (2, 3, 3))
    _compare(fn, [a], "float64", transpose=True, grad=False)


# (name, fn(lib, A)): functions of one (*, m, n) matrix
MATRIX_FNS = [
    ("svdvals", lambda L, a: L.linalg.svdvals(a)),
    ("svd_gauge", lambda L, a: (lambda r: (r.U**2, r.S, r.Vh**2, r.U @ r.Vh if r.U.shape[-1]
                                            == r.Vh.shape[-2] else r.S))(L.linalg.svd(a, False))),
    ("svd_full_S", lambda L, a: L.linalg.svd(a)[1]),
    ("torch_svd", lambda L, a: (lambda r: (r.S, r.U @ r.V.mT))(L.svd(a))),
    ("torch_svd_nouv", lambda L, a: tuple(L.svd(a, compute_uv=False))),
    ("qr_gauge", lambda L, a: (lambda r: (r.Q**2, r.R**2, r.Q @ r.R))(L.linalg.qr(a))),
    ("torch_qr", lambda L, a: (lambda r: (r.Q @ r.R, r.R.abs()))(L.qr(a))),
    ("qr_r", lambda L, a: L.linalg.qr(a.detach(), mode="r")[1].abs()),
    ("pinv", lambda L, a: L.linalg.pinv(a)),
    ("pinverse", lambda L, a: L.pinverse(a)),
    ("pinv_atol", lambda L, a: L.linalg.pinv(a, atol=0.5)),
    ("norm_fro", lambda L, a: L.linalg.matrix_norm(a)),
    ("norm_nuc", lambda L, a: L.linalg.matrix_norm(a, "nuc")),
    ("norm_2", lambda L, a: L.linalg.matrix_norm(a, 2)),
    ("norm_-2", lambda L, a: L.linalg.matrix_norm(a, -2)),
    ("norm_1", lambda L, a: L.linalg.matrix_norm(a, 1)),
    ("norm_-1", lambda L, a: L.linalg.matrix_norm(a, -1)),
    ("norm_inf", lambda L, a: L.linalg.matrix_norm(a, math.inf)),
    ("norm_-inf_keepdim", lambda L, a: L.linalg.matrix_norm(a, -math.inf, keepdim=True)),
    ("norm_dims", lambda L, a: L.linalg.matrix_norm(a, 1, dim=(-1, -2))),
    ("norm_default", lambda L, a: L.linalg.norm(a)),
    ("norm_vector_dim", lambda L, a: L.linalg.norm(a, 3, dim=-1)),
    ("vector_norm", lambda L, a: L.linalg.vector_norm(a, 1.5, dim=(-2, -1), keepdim=True)),
    ("vector_norm_inf", lambda L, a: L.linalg.vector_norm(a + 0.0, math.inf, dim=-2)),
    ("vecdot", lambda L, a: L.linalg.vecdot(a, a * 2.0 + 1.0)),
    ("diagonal", lambda L, a: L.linalg.diagonal(a, offset=1)),
    ("method_svd", lambda L, a: (lambda r: (r[1], r[0] @ r[2].mT))(a.svd())),
    ("method_qr", lambda L, a: (lambda r: r[0] @ r[1])(a.qr())),
    ("method_pinverse", lambda L, a: a.pinverse()),
]  # fmt: skip

_NEEDS_NONEMPTY = {"norm_2", "norm_-2", "norm_1", "norm_-1", "norm_inf", "norm_-inf_keepdim",
                   "norm_dims", "vector_norm_inf"}  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", MATRIX_SHAPES, ids=str)
@pytest.mark.parametrize("case", MATRIX_FNS, ids=lambda c: c[0])
def test_matrix_functions_match_torch(case: tuple, shape: tuple, dtype: str) -> None:
    name, fn = case
    if name in _NEEDS_NONEMPTY and 0 in shape:
        pytest.skip("no identity for the extremum of an empty matrix (torch raises)")
    rng = np.random.default_rng(abs(hash((name, shape))) % 2**32)
    a = rng.normal(size=shape)
    _compare(fn, [a], dtype, second=dtype == "float64")


@needs_torch
@pytest.mark.parametrize("case", MATRIX_FNS, ids=lambda c: c[0])
def test_matrix_functions_on_transposed_input(case: tuple) -> None:
    a = np.random.default_rng(4).normal(size=(2, 4, 3))
    _compare(case[1], [a], "float64", transpose=True, grad=False)


# (name, fn(lib, A, B), A kind, A shape, B shape): two-operand functions
TWO_FNS = [
    ("solve", lambda L, a, b: L.linalg.solve(a, b), "sq", (3, 3), (3, 2)),
    ("solve_vec", lambda L, a, b: L.linalg.solve(a, b), "sq", (3, 3), (3,)),
    ("solve_batch_vec", lambda L, a, b: L.linalg.solve(a, b), "sq", (2, 3, 3), (2, 3)),
    ("solve_bcast", lambda L, a, b: L.linalg.solve(a, b), "sq", (2, 3, 3), (4, 1, 3, 2)),
    ("solve_bcast_a", lambda L, a, b: L.linalg.solve(a, b), "sq", (3, 3), (2, 3, 1)),
    ("solve_right", lambda L, a, b: L.linalg.solve(a, b, left=False), "sq", (3, 3), (2, 3)),
    ("solve_empty", lambda L, a, b: L.linalg.solve(a, b), "sq", (0, 3, 3), (0, 3, 2)),
    ("solve_ex", lambda L, a, b: L.linalg.solve_ex(a, b).result, "sq", (2, 3, 3), (2, 3, 2)),
    ("tri_upper", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True), "sq", (3, 3),
     (3, 2)),
    ("tri_lower", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False), "sq",
     (2, 4, 4), (4, 3)),
    ("tri_right", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True, left=False),
     "sq", (3, 3), (2, 3)),
    ("tri_unit", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False,
                                                           unitriangular=True), "sq", (3, 3),
     (3, 1)),
    ("triangular_solve", lambda L, a, b: tuple(L.triangular_solve(b, a)), "sq", (3, 3), (3, 2)),
    ("triangular_solve_t", lambda L, a, b: L.triangular_solve(b, a, False, True).solution, "sq",
     (3, 3), (3, 2)),
    ("cholesky_solve", lambda L, a, b: L.cholesky_solve(b, L.linalg.cholesky(a)), "spd",
     (3, 3), (3, 2)),
    ("cholesky_solve_up", lambda L, a, b: L.cholesky_solve(b, L.linalg.cholesky(a).mT, True),
     "spd", (2, 3, 3), (2, 3, 2)),
    ("method_cholesky_solve", lambda L, a, b: b.cholesky_solve(L.linalg.cholesky(a)), "spd",
     (3, 3), (3, 1)),
    ("lstsq_tall", lambda L, a, b: L.linalg.lstsq(a, b).solution, "mat", (5, 3), (5, 2)),
    ("lstsq_wide", lambda L, a, b: L.linalg.lstsq(a, b).solution, "mat", (3, 5), (3, 2)),
    ("lstsq_vec", lambda L, a, b: L.linalg.lstsq(a, b).solution, "mat", (5, 3), (5,)),
    ("lstsq_batch", lambda L, a, b: L.linalg.lstsq(a, b).solution, "mat", (2, 4, 3), (2, 4, 1)),
    ("lstsq_gelsd", lambda L, a, b: tuple(L.linalg.lstsq(a, b, driver="gelsd")), "mat", (5, 3),
     (5, 2)),
    ("lstsq_gels", lambda L, a, b: tuple(L.linalg.lstsq(a, b, driver="gels")), "mat", (2, 5, 3),
     (2, 5, 2)),
    ("lstsq_gelss_wide", lambda L, a, b: tuple(L.linalg.lstsq(a, b, driver="gelss")), "mat",
     (3, 5), (3, 2)),
    ("cross", lambda L, a, b: L.linalg.cross(a, b), "mat", (4, 3), (4, 3)),
    ("cross_dim", lambda L, a, b: L.linalg.cross(a, b, dim=0), "mat", (3, 2), (3, 2)),
    ("vecdot_bcast", lambda L, a, b: L.linalg.vecdot(a, b), "mat", (2, 3), (3,)),
    ("multi_dot", lambda L, a, b: L.linalg.multi_dot([a, b, b.mT, a.mT]), "mat", (3, 4), (4, 2)),
    ("multi_dot_vec", lambda L, a, b: L.linalg.multi_dot([a[0], a.mT, a[:, 0]]), "mat", (3, 4),
     (4, 2)),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TWO_FNS, ids=lambda c: c[0])
def test_two_operand_functions_match_torch(case: tuple, dtype: str) -> None:
    name, fn, kind, sa, sb = case
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    a = rng.normal(size=sa) if kind == "mat" else _make(kind, rng, sa)
    b = rng.normal(size=sb)
    _compare(fn, [a, b], dtype, second=dtype == "float64")


@needs_torch
@pytest.mark.parametrize("case", TWO_FNS, ids=lambda c: c[0])
def test_two_operand_functions_on_transposed_input(case: tuple) -> None:
    name, fn, kind, sa, sb = case
    rng = np.random.default_rng(5)
    a = rng.normal(size=sa) if kind == "mat" else _make(kind, rng, sa)
    _compare(fn, [a, rng.normal(size=sb)], "float64", transpose=True, grad=False)


@needs_torch
def test_lstsq_result_fields_match_torch() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 2))
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        r = at.linalg.lstsq(at.tensor(a), at.tensor(b), driver=driver)
        t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        assert type(r).__name__ == "linalg_lstsq" and r._fields == (
            "solution", "residuals", "rank", "singular_values")  # fmt: skip
        for x, y in zip(r, t):
            assert tuple(x.shape) == tuple(y.shape), driver
            assert str(x.dtype).split(".")[-1] == str(y.dtype).split(".")[-1]
            np.testing.assert_allclose(_np(x), _np(y), rtol=1e-9, atol=1e-10)


@needs_torch
def test_lstsq_rank_deficient_is_the_least_norm_solution() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 3))
    a[:, 2] = a[:, 1]
    b = rng.normal(size=(5, 2))
    r = at.linalg.lstsq(at.tensor(a), at.tensor(b))
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
    assert int(r.rank) == int(t.rank) == 2
    np.testing.assert_allclose(_np(r.solution), _np(t.solution), rtol=1e-8, atol=1e-10)


@needs_torch
def test_matrix_rank_matches_torch() -> None:
    m = np.diag([1.0, 1e-3, 1e-9])
    cases = [{}, {"atol": 1e-2}, {"atol": 0.0}, {"rtol": 1e-2}, {"atol": 1e-12, "rtol": 1e-2},
             {"hermitian": True}, {"tol": 1e-2}]  # fmt: skip
    for kw in cases:
        assert int(at.linalg.matrix_rank(at.tensor(m), **kw)) == int(
            torch.linalg.matrix_rank(torch.tensor(m), **kw)
        ), kw
    batch = np.random.default_rng(0).normal(size=(3, 4, 2)) @ np.ones((2, 4))
    r = at.linalg.matrix_rank(at.tensor(batch))
    assert r.dtype == at.int64 and r.tolist() == torch.linalg.matrix_rank(
        torch.tensor(batch)).tolist() == [1, 1, 1]  # fmt: skip
    assert at.linalg.matrix_rank(at.zeros(0, 3)).item() == 0


@needs_torch
def test_sign_ambiguous_outputs_reconstruct_and_match_up_to_sign() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 5, 3))
    u, s, vh = at.linalg.svd(at.tensor(a), full_matrices=False)
    tu, ts, tvh = torch.linalg.svd(torch.tensor(a), full_matrices=False)
    np.testing.assert_allclose(_np(u @ (s.unsqueeze(-1) * vh)), a, atol=1e-12)
    np.testing.assert_allclose(np.abs(_np(u)), np.abs(_np(tu)), atol=1e-10)
    np.testing.assert_allclose(np.abs(_np(vh)), np.abs(_np(tvh)), atol=1e-10)
    q, r = at.linalg.qr(at.tensor(a))
    tq, tr = torch.linalg.qr(torch.tensor(a))
    d = np.sign(np.diagonal(_np(r), axis1=-2, axis2=-1)) * np.sign(
        np.diagonal(_np(tr), axis1=-2, axis2=-1))  # fmt: skip
    np.testing.assert_allclose(_np(q) * d[..., None, :], _np(tq), atol=1e-10)
    sym = a[..., :3, :] + np.swapaxes(a[..., :3, :], -1, -2)
    w, v = at.linalg.eigh(at.tensor(sym))
    tw, tv = torch.linalg.eigh(torch.tensor(sym))
    np.testing.assert_allclose(_np(w), _np(tw), atol=1e-12)
    np.testing.assert_allclose(np.abs(_np(v)), np.abs(_np(tv)), atol=1e-10)
    full = at.linalg.qr(at.tensor(a), mode="complete")
    assert tuple(full.Q.shape) == (2, 5, 5) and tuple(full.R.shape) == (2, 5, 3)
    np.testing.assert_allclose(_np(full.Q @ full.R), a, atol=1e-12)


# -- layouts --------------------------------------------------------------------------------
LAYOUT_FNS = [
    ("inv", lambda L, a: [L.linalg.inv(a)]),
    ("det", lambda L, a: [L.linalg.det(a)]),
    ("slogdet", lambda L, a: list(L.linalg.slogdet(a))),
    ("solve", lambda L, a: [L.linalg.solve(a, a)]),
    ("cholesky", lambda L, a: [L.linalg.cholesky(a @ a.mT + 3 * L.eye(3, dtype=a.dtype))]),
    ("cholesky_up", lambda L, a: [L.linalg.cholesky(a @ a.mT + 3 * L.eye(3, dtype=a.dtype),
                                                    upper=True)]),
    ("qr", lambda L, a: list(L.linalg.qr(a[..., :2]))),
    ("qr_complete", lambda L, a: list(L.linalg.qr(a[..., :2], mode="complete"))),
    ("svd", lambda L, a: list(L.linalg.svd(a[..., :2], full_matrices=False))),
    ("svd_full", lambda L, a: list(L.linalg.svd(a[..., :2]))),
    ("torch_svd", lambda L, a: list(L.svd(a[..., :2]))),
    ("eigh", lambda L, a: list(L.linalg.eigh(a + a.mT))),
    ("pinv", lambda L, a: [L.linalg.pinv(a[..., :2])]),
    ("solve_triangular", lambda L, a: [L.linalg.solve_triangular(a, a, upper=False)]),
    ("matrix_exp", lambda L, a: [L.linalg.matrix_exp(a)]),
    ("matrix_power", lambda L, a: [L.linalg.matrix_power(a, 3)]),
    ("matrix_power0", lambda L, a: [L.linalg.matrix_power(a, 0)]),
    ("svdvals", lambda L, a: [L.linalg.svdvals(a)]),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("case", LAYOUT_FNS, ids=lambda c: c[0])
def test_result_strides_match_torch(case: tuple) -> None:
    """LAPACK leaves torch's matrices column-major; users can see it in stride()."""
    a = np.random.default_rng(0).normal(size=(2, 3, 3)) + 2 * np.eye(3)
    ours = case[1](at, at.tensor(a))
    theirs = case[1](torch, torch.tensor(a))
    for x, y in zip(ours, theirs):
        assert tuple(x.shape) == tuple(y.shape)
        assert x.stride() == y.stride(), case[0]
        assert x.is_contiguous() == y.is_contiguous()


@needs_torch
def test_named_tuple_types_and_fields_match_torch() -> None:
    a = np.random.default_rng(0).normal(size=(3, 3)) + 3 * np.eye(3)
    spd = a @ a.T
    cases = [
        lambda L, x: L.linalg.slogdet(x), lambda L, x: L.slogdet(x),
        lambda L, x: L.linalg.eigh(x + x.mT), lambda L, x: L.linalg.qr(x),
        lambda L, x: L.qr(x), lambda L, x: L.linalg.svd(x), lambda L, x: L.svd(x),
        lambda L, x: L.linalg.inv_ex(x), lambda L, x: L.linalg.solve_ex(x, x),
        lambda L, x: L.linalg.lstsq(x, x), lambda L, x: L.triangular_solve(x, x),
        lambda L, x: L.linalg.cholesky_ex(x @ x.mT),
    ]  # fmt: skip
    for f in cases:
        ours, theirs = f(at, at.tensor(spd)), f(torch, torch.tensor(spd))
        assert type(ours).__name__ == type(theirs).__name__
        fields = [k for k in dir(theirs) if not k.startswith("_") and not k.startswith("n_")]
        assert sorted(ours._fields) == sorted(set(fields) - {"count", "index"})


# -- errors ----------------------------------------------------------------------------------
def _np_case(name: str) -> dict[str, np.ndarray]:
    return {
        "int": np.ones((3, 3), dtype=np.int64),
        "ns": np.ones((2, 3), dtype=np.float32),
        "vec": np.ones(3, dtype=np.float32),
        "sing": np.ones((3, 3), dtype=np.float32),
        "sing_batch": np.stack([np.eye(3), np.zeros((3, 3))]).astype(np.float32),
        "npd": -np.eye(3, dtype=np.float32),
        "npd_batch": np.stack([np.eye(3), -np.eye(3)]).astype(np.float32),
        "eye": np.eye(3, dtype=np.float32),
        "half": np.eye(3, dtype=np.float16),
        "bool": np.eye(3, dtype=bool),
        "eye64": np.eye(3, dtype=np.float64),
        "v4": np.ones(4, dtype=np.float32),
        "three3": np.ones((3, 3, 3), dtype=np.float32),
    }[name]


ERROR_CASES = [
    ("inv", lambda L, x: L.linalg.inv(x), "int"),
    ("inv", lambda L, x: L.linalg.inv(x), "bool"),
    ("inv", lambda L, x: L.linalg.inv(x), "half"),
    ("inv", lambda L, x: L.linalg.inv(x), "ns"),
    ("inv", lambda L, x: L.linalg.inv(x), "vec"),
    ("inv", lambda L, x: L.linalg.inv(x), "sing"),
    ("inv", lambda L, x: L.linalg.inv(x), "sing_batch"),
    ("inverse", lambda L, x: L.inverse(x), "int"),
    ("inv_ex", lambda L, x: L.linalg.inv_ex(x, check_errors=True), "sing"),
    ("det", lambda L, x: L.linalg.det(x), "int"),
    ("det", lambda L, x: L.linalg.det(x), "ns"),
    ("det", lambda L, x: L.linalg.det(x), "vec"),
    ("torch.det", lambda L, x: L.det(x), "int"),
    ("slogdet", lambda L, x: L.linalg.slogdet(x), "int"),
    ("slogdet", lambda L, x: L.linalg.slogdet(x), "ns"),
    ("logdet", lambda L, x: L.logdet(x), "int"),
    ("solve", lambda L, x: L.linalg.solve(x, x), "int"),
    ("solve", lambda L, x: L.linalg.solve(x, x), "ns"),
    ("solve", lambda L, x: L.linalg.solve(x, x[0]), "sing"),
    ("solve", lambda L, x: L.linalg.solve(x, L.ones(4)), "eye"),
    ("solve", lambda L, x: L.linalg.solve(x, L.ones(4, 2)), "eye"),
    ("solve", lambda L, x: L.linalg.solve(x, x), "vec"),
    ("solve", lambda L, x: L.linalg.solve(x, L.ones(3, dtype=L.float64)), "eye"),
    ("cholesky", lambda L, x: L.linalg.cholesky(x), "int"),
    ("cholesky", lambda L, x: L.linalg.cholesky(x), "ns"),
    ("cholesky", lambda L, x: L.linalg.cholesky(x), "npd"),
    ("cholesky", lambda L, x: L.linalg.cholesky(x), "npd_batch"),
    ("cholesky", lambda L, x: L.linalg.cholesky(x), "vec"),
    ("torch.cholesky", lambda L, x: L.cholesky(x), "npd"),
    ("cholesky_ex", lambda L, x: L.linalg.cholesky_ex(x, check_errors=True), "npd"),
    ("qr", lambda L, x: L.linalg.qr(x), "int"),
    ("qr", lambda L, x: L.linalg.qr(x), "vec"),
    ("qr", lambda L, x: L.linalg.qr(x, mode="foo"), "ns"),
    ("svd", lambda L, x: L.linalg.svd(x), "int"),
    ("svd", lambda L, x: L.linalg.svd(x), "vec"),
    ("svdvals", lambda L, x: L.linalg.svdvals(x), "int"),
    ("torch.svd", lambda L, x: L.svd(x), "int"),
    ("eigh", lambda L, x: L.linalg.eigh(x), "int"),
    ("eigh", lambda L, x: L.linalg.eigh(x), "ns"),
    ("eigh", lambda L, x: L.linalg.eigh(x, UPLO="X"), "eye"),
    ("eigh", lambda L, x: L.linalg.eigh(x), "vec"),
    ("eigvalsh", lambda L, x: L.linalg.eigvalsh(x), "int"),
    ("pinv", lambda L, x: L.linalg.pinv(x), "int"),
    ("pinv", lambda L, x: L.linalg.pinv(x), "vec"),
    ("pinverse", lambda L, x: L.pinverse(x), "int"),
    ("matrix_rank", lambda L, x: L.linalg.matrix_rank(x), "int"),
    ("matrix_rank", lambda L, x: L.linalg.matrix_rank(x), "vec"),
    ("lstsq", lambda L, x: L.linalg.lstsq(x, x), "int"),
    ("lstsq", lambda L, x: L.linalg.lstsq(x, x), "vec"),
    ("lstsq", lambda L, x: L.linalg.lstsq(x, L.ones(4, 2)), "eye"),
    ("lstsq", lambda L, x: L.linalg.lstsq(x, x, driver="foo"), "eye"),
    ("matrix_power", lambda L, x: L.linalg.matrix_power(x, -1), "int"),
    ("matrix_power", lambda L, x: L.linalg.matrix_power(x, 2), "ns"),
    ("matrix_power", lambda L, x: L.linalg.matrix_power(x, 2), "vec"),
    ("matrix_power", lambda L, x: L.linalg.matrix_power(x, -1), "sing"),
    ("multi_dot", lambda L, x: L.linalg.multi_dot([x]), "eye"),
    ("multi_dot", lambda L, x: L.linalg.multi_dot([x, L.eye(3)]), "three3"),
    ("multi_dot", lambda L, x: L.linalg.multi_dot([x, L.eye(2)]), "eye"),
    ("multi_dot", lambda L, x: L.linalg.multi_dot([x, L.eye(3, dtype=L.float64)]), "eye"),
    ("solve_triangular", lambda L, x: L.linalg.solve_triangular(x, x, upper=True), "int"),
    ("solve_triangular", lambda L, x: L.linalg.solve_triangular(x, x[0], upper=True), "eye"),
    ("solve_triangular", lambda L, x: L.linalg.solve_triangular(x, x, upper=True), "ns"),
    ("vecdot", lambda L, x: L.linalg.vecdot(x, x), "int"),
    ("matrix_norm", lambda L, x: L.linalg.matrix_norm(x), "vec"),
    ("matrix_norm", lambda L, x: L.linalg.matrix_norm(x, ord=3), "ns"),
    ("matrix_norm", lambda L, x: L.linalg.matrix_norm(x), "int"),
    ("vector_norm", lambda L, x: L.linalg.vector_norm(x), "int"),
    ("vector_norm", lambda L, x: L.linalg.vector_norm(x, dtype=L.float32), "eye64"),
    ("norm", lambda L, x: L.linalg.norm(x), "int"),
    ("norm", lambda L, x: L.linalg.norm(x, ord=2), "three3"),
    ("norm", lambda L, x: L.linalg.norm(x, ord="fro"), "vec"),
    ("matrix_exp", lambda L, x: L.linalg.matrix_exp(x), "int"),
    ("matrix_exp", lambda L, x: L.linalg.matrix_exp(x), "ns"),
    ("cholesky_solve", lambda L, x: L.cholesky_solve(x, x), "int"),
    ("cholesky_inverse", lambda L, x: L.cholesky_inverse(x), "int"),
    ("cross", lambda L, x: L.linalg.cross(x, x), "v4"),
]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_errors_match_torch(case: tuple) -> None:
    _, fn, arg = case
    a = _np_case(arg)
    with pytest.raises(Exception) as theirs:
        fn(torch, torch.tensor(a))
    with pytest.raises(Exception) as ours:
        fn(at, at.tensor(a))
    expected = theirs.type
    if expected is torch.linalg.LinAlgError:
        assert ours.type is at.linalg.LinAlgError
        assert issubclass(ours.type, RuntimeError)
    else:
        assert ours.type is expected, (ours.value, theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_linalg_error_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="singular"):
        at.linalg.inv(at.zeros(2, 2))
    assert issubclass(at.linalg.LinAlgError, RuntimeError)


@needs_torch
def test_ex_variants_report_info_like_torch() -> None:
    sing = np.stack([np.eye(3), np.ones((3, 3))])
    r, t = at.linalg.inv_ex(at.tensor(sing)), torch.linalg.inv_ex(torch.tensor(sing))
    assert r.info.dtype == at.int32 and r.info.tolist() == t.info.tolist()
    np.testing.assert_allclose(_np(r.inverse[0]), np.eye(3))
    npd = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0])])
    r, t = at.linalg.cholesky_ex(at.tensor(npd)), torch.linalg.cholesky_ex(torch.tensor(npd))
    assert r.info.tolist() == t.info.tolist() == [0, 2]
    np.testing.assert_allclose(_np(r.L[0]), np.eye(3))
    r = at.linalg.solve_ex(at.tensor(sing), at.ones(2, 3, 1, dtype=at.float64))
    assert r.info.tolist()[0] == 0 and r.info.tolist()[1] != 0
    np.testing.assert_allclose(_np(r.result[0]), np.ones((3, 1)))


@needs_torch
def test_qr_backward_refusals_match_torch() -> None:
    a = np.random.default_rng(0).normal(size=(4, 3))
    for mode, take in (("r", 1), ("complete", 0)):
        msgs = []
        for lib in (at, torch):
            x = lib.tensor(a, requires_grad=True)
            out = lib.linalg.qr(x, mode=mode)[take]
            with pytest.raises(RuntimeError) as e:
                out.sum().backward()
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]


@needs_torch
def test_singular_results_match_torch() -> None:
    z = np.ones((2, 2))
    assert float(at.linalg.det(at.tensor(z))) == float(torch.linalg.det(torch.tensor(z))) == 0.0
    s = at.linalg.slogdet(at.tensor(z))
    assert float(s.sign) == 0.0 and float(s.logabsdet) == -math.inf
    assert math.isnan(float(at.logdet(at.tensor(-np.eye(2) * np.array([1, -1])))))
    assert math.isnan(float(torch.logdet(torch.tensor(-np.eye(2) * np.array([1, -1])))))
    e = at.linalg.slogdet(at.zeros(0, 0))
    assert float(e.sign) == 1.0 and float(e.logabsdet) == 0.0
    x = at.linalg.solve_triangular(at.zeros(2, 2), at.ones(2, 1), upper=True)
    assert not np.isfinite(_np(x)).any()


# -- gradchecks of the composed functions ---------------------------------------------------
def _t(a: np.ndarray) -> at.Tensor:
    return at.tensor(a, requires_grad=True)


COMPOSED = [
    ("logdet", lambda a: at.logdet(a @ a.mT + at.eye(3, dtype=a.dtype)), (3, 3)),
    ("matrix_norm_nuc", lambda a: at.linalg.matrix_norm(a, "nuc"), (2, 4, 3)),
    ("matrix_norm_2", lambda a: at.linalg.matrix_norm(a, 2), (4, 3)),
    ("matrix_norm_-2", lambda a: at.linalg.matrix_norm(a, -2, keepdim=True), (3, 4)),
    ("matrix_norm_1", lambda a: at.linalg.matrix_norm(a, 1), (3, 4)),
    ("matrix_norm_inf", lambda a: at.linalg.matrix_norm(a, math.inf, dim=(0, 1)), (3, 4)),
    ("matrix_norm_fro", lambda a: at.linalg.matrix_norm(a), (2, 3, 4)),
    ("vector_norm", lambda a: at.linalg.vector_norm(a, 3, dim=-1), (2, 3)),
    ("norm", lambda a: at.linalg.norm(a), (2, 3)),
    ("pinv", lambda a: at.linalg.pinv(a), (4, 3)),
    ("pinverse_wide", lambda a: at.pinverse(a), (2, 3, 5)),
    ("lstsq", lambda a: at.linalg.lstsq(a, a[..., :2] * 2.0 + 1.0).solution, (5, 3)),
    ("matrix_power-3", lambda a: at.linalg.matrix_power(a + 2 * at.eye(3, dtype=a.dtype), -3),
     (3, 3)),
    ("matrix_power5", lambda a: at.linalg.matrix_power(a, 5), (2, 3, 3)),
    ("matrix_exp", lambda a: at.linalg.matrix_exp(a), (3, 3)),
    ("matrix_exp_scaled", lambda a: at.linalg.matrix_exp(3.0 * a), (2, 2, 2)),
    ("multi_dot", lambda a: at.linalg.multi_dot([a, a.mT, a, a[0]]), (3, 3)),
    ("solve_vec", lambda a: at.linalg.solve(a + 3 * at.eye(3, dtype=a.dtype), a[:, 0]), (3, 3)),
    ("solve_right", lambda a: at.linalg.solve(a + 3 * at.eye(3, dtype=a.dtype), a,
                                              left=False), (3, 3)),
    ("cholesky_solve", lambda a: at.cholesky_solve(
        a, at.linalg.cholesky(a @ a.mT + 3 * at.eye(3, dtype=a.dtype))), (3, 3)),
    ("cholesky_inverse", lambda a: at.cholesky_inverse(
        at.linalg.cholesky(a @ a.mT + 3 * at.eye(3, dtype=a.dtype)), True), (3, 3)),
    ("svd_gauge", lambda a: (lambda r: r.U @ r.V.mT)(at.svd(a)), (4, 3)),
    ("eigh_vec_sq", lambda a: at.linalg.eigh(a + a.mT).eigenvectors ** 2, (3, 3)),
    ("vecdot", lambda a: at.linalg.vecdot(a, a.flip(0)), (2, 3)),
    ("cross", lambda a: at.linalg.cross(a, a.flip(-1) * 2.0), (2, 3)),
]  # fmt: skip


@pytest.mark.parametrize("case", COMPOSED, ids=lambda c: c[0])
def test_composed_gradcheck(case: tuple) -> None:
    _, fn, shape = case
    a = _t(np.random.default_rng(11).normal(size=shape))
    assert at.gradcheck(fn, (a,))
    assert at.gradgradcheck(fn, (a,))


def test_svdvals_gradient_ignores_missing_vectors() -> None:
    """Only S used: no 0 * inf from the S^-1 terms of a rank-deficient matrix."""
    a = _t(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    at.linalg.svdvals(a).sum().backward()
    assert np.isfinite(_np(a.grad)).all()
    np.testing.assert_allclose(_np(a.grad), [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], atol=1e-12)


# -- properties -----------------------------------------------------------------------------
if given is not None:
    dims = st.integers(1, 5)
    batches = st.lists(st.integers(0, 2), max_size=2).map(tuple)
    seeds = st.integers(0, 2**31 - 1)

    @settings(max_examples=40)
    @given(batches, dims, seeds)
    def test_inverse_and_determinant_properties(batch: tuple, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        a, b = _sq(rng, batch + (n, n)), _sq(rng, batch + (n, n))
        ta, tb = at.tensor(a), at.tensor(b)
        np.testing.assert_allclose(_np(ta @ at.linalg.inv(ta)), np.broadcast_to(np.eye(n),
                                   batch + (n, n)), atol=1e-9)  # fmt: skip
        lhs = _np(at.linalg.det(ta @ tb))
        np.testing.assert_allclose(lhs, _np(at.linalg.det(ta) * at.linalg.det(tb)), rtol=1e-8,
                                   atol=1e-10)  # fmt: skip
        sign, logabs = at.linalg.slogdet(ta)
        np.testing.assert_allclose(_np(sign * logabs.exp()), _np(at.linalg.det(ta)), rtol=1e-9)
        x = at.linalg.solve(ta, tb)
        np.testing.assert_allclose(_np(ta @ x), b, atol=1e-9)

    @settings(max_examples=40)
    @given(batches, dims, dims, seeds)
    def test_qr_and_svd_properties(batch: tuple, m: int, n: int, seed: int) -> None:
        a = np.random.default_rng(seed).normal(size=batch + (m, n))
        k = min(m, n)
        q, r = at.linalg.qr(at.tensor(a))
        eye = np.broadcast_to(np.eye(k), batch + (k, k))
        np.testing.assert_allclose(_np(q.mT @ q), eye, atol=1e-10)
        np.testing.assert_allclose(_np(q @ r), a, atol=1e-10)
        assert np.allclose(np.tril(_np(r), -1), 0.0)
        u, s, vh = at.linalg.svd(at.tensor(a), full_matrices=False)
        np.testing.assert_allclose(_np((u * s.unsqueeze(-2)) @ vh), a, atol=1e-10)
        np.testing.assert_allclose(_np(u.mT @ u), eye, atol=1e-10)
        np.testing.assert_allclose(_np(vh @ vh.mT), eye, atol=1e-10)
        sv = _np(s)
        assert (np.diff(sv, axis=-1) <= 1e-12).all() and (sv >= 0).all()
        p = _np(at.linalg.pinv(at.tensor(a)))
        np.testing.assert_allclose(a @ p @ a, a, atol=1e-8)  # a Penrose condition

    @settings(max_examples=40)
    @given(batches, dims, seeds)
    def test_symmetric_decomposition_properties(batch: tuple, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        a = _spd(rng, batch + (n, n))
        low = _np(at.linalg.cholesky(at.tensor(a)))
        np.testing.assert_allclose(low @ np.swapaxes(low, -1, -2), a, rtol=1e-10, atol=1e-10)
        assert np.allclose(np.triu(low, 1), 0.0)
        w, v = at.linalg.eigh(at.tensor(a))
        np.testing.assert_allclose(_np(at.tensor(a) @ v), _np(v * w.unsqueeze(-2)), atol=1e-9)
        assert (np.diff(_np(w), axis=-1) >= -1e-12).all()
        b = rng.normal(size=batch + (n, 2))
        x = at.cholesky_solve(at.tensor(b), at.tensor(low))
        np.testing.assert_allclose(a @ _np(x), b, atol=1e-9)
        e = _np(at.linalg.matrix_exp(at.tensor(a / n)))
        ew, ev = np.linalg.eigh(a / n)
        np.testing.assert_allclose(e, (ev * np.exp(ew)[..., None, :]) @ np.swapaxes(ev, -1, -2),
                                   rtol=1e-10, atol=1e-10)  # fmt: skip

    @settings(max_examples=30)
    @given(batches, dims, dims, seeds)
    def test_lstsq_normal_equations(batch: tuple, m: int, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=batch + (m, n)), rng.normal(size=batch + (m, 2))
        x = _np(at.linalg.lstsq(at.tensor(a), at.tensor(b)).solution)
        at_ = np.swapaxes(a, -1, -2)
        np.testing.assert_allclose(at_ @ (a @ x - b), 0.0, atol=1e-8)


def test_det_gradient_at_a_singular_matrix_is_torchs() -> None:
    # zeros in a plain backward; the cofactor matrix (through the SVD) with create_graph
    rank2 = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]
    batch = np.stack([np.eye(3) * 2.0, np.array(rank2), np.zeros((3, 3))])
    out = {}
    for L in (torch, at):
        x = L.tensor(batch, requires_grad=True)
        L.linalg.det(x).sum().backward()
        y = L.tensor(batch, requires_grad=True)
        (g,) = L.autograd.grad(L.linalg.det(y).sum(), y, create_graph=True)
        (h,) = L.autograd.grad((g * L.tensor(batch + 1.0)).sum(), y)
        out[L] = (x.grad.numpy(), g.detach().numpy(), h.numpy())
    for a, b in zip(out[torch], out[at]):
        np.testing.assert_allclose(b, a, atol=1e-12)
    assert np.abs(out[at][1][1]).max() == pytest.approx(4.0)  # the cofactors are not zero


@pytest.mark.parametrize("fn", ["linalg.cholesky", "linalg.eigvalsh", "cholesky", "linalg.eigh"])
def test_a_non_symmetric_input_is_read_from_one_triangle_as_torch(fn: str) -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(size=(2, 4, 4))
    a = m @ m.transpose(0, 2, 1) + 4 * np.eye(4)
    a[:, 0, 3] += 0.7  # the two triangles now differ
    a[:, 2, 1] -= 0.3
    options = [{}, {"upper": True}] if "chol" in fn else [{}, {"UPLO": "U"}]
    for kw in options:
        res = []
        for L in (torch, at):
            f = L
            for part in fn.split("."):
                f = getattr(f, part)
            r = f(L.tensor(a), **kw)
            res.append(r[0] if fn.endswith("eigh") else r)  # eigenvalues (vectors: up to sign)
        np.testing.assert_allclose(res[1].numpy(), res[0].numpy(), rtol=1e-12, atol=1e-12)

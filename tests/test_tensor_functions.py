"""torch's tensor functions beyond the core set (autotensor/tensor_functions.py): values,
gradients, dtypes, shapes and index outputs against torch in float32 and float64; gradcheck
through the composites; hypothesis over shapes for the main ones; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5))
IDX = np.array([[0, 1, 0, 0, 1], [0, 0, 2, 1, 1]])

# name -> f(M, x): M is the module (autotensor or torch), x a (3, 5) float tensor that
# requires grad. The result (or each float tensor in a returned tuple) is compared, and the
# gradient of the sum of its float parts (weighted, so positions matter) is compared too.
CASES = {
    "sort": lambda M, x: x.sort(1, descending=True),
    "sort_stable": lambda M, x: M.sort(x.round(), dim=0, stable=True),
    "argsort": lambda M, x: M.argsort(x, 1, descending=True),
    "msort": lambda M, x: M.msort(x),
    "topk": lambda M, x: M.topk(x, 2, 0),
    "topk_smallest": lambda M, x: x.topk(3, largest=False),
    "kthvalue": lambda M, x: x.kthvalue(2, 1, keepdim=True),
    "median_all": lambda M, x: M.median(x),
    "median_dim": lambda M, x: x.median(1),
    "nanmedian": lambda M, x: M.nanmedian(x, 0),
    "mode": lambda M, x: M.mode(x.round(), 1),
    "quantile": lambda M, x: M.quantile(x, M.tensor([0.1, 0.5, 0.9], dtype=x.dtype), dim=1),
    "quantile_all": lambda M, x: x.quantile(0.3),
    "quantile_lower": lambda M, x: M.quantile(x, 0.4, dim=0, keepdim=True, interpolation="lower"),
    "quantile_mid": lambda M, x: M.quantile(x, 0.4, dim=1, interpolation="midpoint"),
    "quantile_nearest": lambda M, x: M.quantile(x, 0.6, dim=1, interpolation="nearest"),
    "cummax": lambda M, x: M.cummax(x, 1),
    "cummin": lambda M, x: x.cummin(0),
    "cumprod": lambda M, x: M.cumprod(x, 1),
    "cumprod_zeros": lambda M, x: (x * M.tensor([1.0, 0, 1, 0, 1], dtype=x.dtype)).cumprod(1),
    "logcumsumexp": lambda M, x: M.logcumsumexp(x, 1),
    "aminmax": lambda M, x: M.aminmax(x, dim=1),
    "scatter_src": lambda M, x: x.scatter(0, M.tensor([[0, 1, 2, 2, 1]]), x[:1] * 2),
    "scatter_value": lambda M, x: x.scatter(1, M.tensor([[0], [4], [2]]), 2.5),
    "scatter_add_": lambda M, x: (x * 1).scatter_add_(0, M.tensor(IDX), x[:2]),
    "index_add": lambda M, x: x.index_add(0, M.tensor([0, 2, 0]), x * 3, alpha=2),
    "index_add_": lambda M, x: (x * 1).index_add_(1, M.tensor([4, 0]), x[:, :2]),
    "index_copy": lambda M, x: x.index_copy(0, M.tensor([2, 0, 1]), x * 3),
    "index_fill": lambda M, x: x.index_fill(1, M.tensor([0, 2]), -1.0),
    "masked_fill_": lambda M, x: (x * 1).masked_fill_(x > 0, 0.5),
    "masked_select": lambda M, x: M.masked_select(x, x[0] > 0),
    "masked_scatter": lambda M, x: x.masked_scatter(x > 0, x * 10),
    "take_along_dim": lambda M, x: M.take_along_dim(x, M.tensor([[0], [2], [1]]), 1),
    "take_along_flat": lambda M, x: M.take_along_dim(x, M.tensor([3, 14, 0])),
    "take": lambda M, x: M.take(x, M.tensor([[0, 7], [14, 3]])),
    "einsum_mm": lambda M, x: M.einsum("ij,kj->ik", x, x),
    "einsum_ellipsis": lambda M, x: M.einsum("...j,j", x, x[0]),
    "einsum_trace": lambda M, x: M.einsum("ii", x[:, :3]),
    "einsum_diag": lambda M, x: M.einsum("ii->i", x[:, 1:4]),
    "einsum_batch": lambda M, x: M.einsum("bij,bjk->bik", x.reshape(1, 3, 5), x.reshape(1, 5, 3)),
    "einsum_full": lambda M, x: M.einsum("ij,ij->", x, x),
    "einsum_outer": lambda M, x: M.einsum("i,j", x[0], x[1]),
    "einsum_three": lambda M, x: M.einsum("ij,jk,kl->il", x, x.T, x),
    "einsum_list": lambda M, x: M.einsum(
        "bn,anm,bm->ba", x[:, :2], x.reshape(1, 3, 5)[:, :2, :2].expand(4, 2, 2), x[:, 2:4]
    ),
    "einsum_sumout": lambda M, x: M.einsum("ij->j", x),
    "einsum_broadcast": lambda M, x: M.einsum(
        "...ij,...jk->...ik", x.reshape(3, 1, 5), x[:2].T.reshape(1, 5, 2)
    ),
    "bmm": lambda M, x: M.bmm(x.reshape(1, 3, 5), x.reshape(1, 5, 3)),
    "baddbmm": lambda M, x: M.baddbmm(
        x[:, :3].reshape(1, 3, 3), x.reshape(1, 3, 5), x.reshape(1, 5, 3), beta=2, alpha=0.5
    ),
    "addbmm": lambda M, x: M.addbmm(x[:, :3], x.reshape(1, 3, 5), x.reshape(1, 5, 3), alpha=3),
    "addmm": lambda M, x: M.addmm(x[:, :3], x, x.T, beta=0.5, alpha=2),
    "addmm_beta0": lambda M, x: M.addmm(
        M.full((3, 3), float("nan"), dtype=x.dtype), x, x.T, beta=0
    ),
    "addmv": lambda M, x: M.addmv(x[:, 0], x, x[0], alpha=2),
    "addr": lambda M, x: x[:, :2].addr(x[:, 0], x[0, :2], beta=3),
    "outer": lambda M, x: M.outer(x[0], x[1]),
    "mv": lambda M, x: M.mv(x, x[1]),
    "diag_vec": lambda M, x: M.diag(x[0], 1),
    "diag_vec_neg": lambda M, x: M.diag(x[0], -2),
    "diag_mat": lambda M, x: M.diag(x, -1),
    "diag_mat_pos": lambda M, x: x.diag(2),
    "diagonal": lambda M, x: M.diagonal(x.reshape(3, 1, 5), 1, 0, 2),
    "diag_embed": lambda M, x: M.diag_embed(x, 1, 0, 2),
    "diag_embed_default": lambda M, x: M.diag_embed(x, -1),
    "diagflat": lambda M, x: M.diagflat(x[:2, :2]),
    "trace": lambda M, x: x.trace(),
    "kron": lambda M, x: M.kron(x, x[:2, :2]),
    "cdist": lambda M, x: M.cdist(x, x[:2] * 2),
    "cdist_p1": lambda M, x: M.cdist(x.reshape(1, 3, 5), x.reshape(1, 3, 5)[:, :2] + 1, p=1),
    "dist": lambda M, x: M.dist(x, x * 3, 3),
    "cross": lambda M, x: M.cross(x[:, :3], x[:, 1:4], dim=1),
    "tensordot": lambda M, x: M.tensordot(x, x.T, 1),
    "clamp_min": lambda M, x: M.clamp_min(x, 0.1),
    "clamp_max_": lambda M, x: (x * 1).clamp_max_(0.2),
    "lerp": lambda M, x: M.lerp(x, x * 2, 0.3),
    "addcmul": lambda M, x: M.addcmul(x, x, x + 1, value=0.5),
    "addcdiv": lambda M, x: x.addcdiv(x, x * x + 3, value=-2),
    "fmod": lambda M, x: M.fmod(x * 3, 0.7),
    "fmod_tensor": lambda M, x: (x * 3).fmod(x[0].abs() + 0.5),
    "remainder": lambda M, x: M.remainder(x * 3, 0.7),
    "floor_divide": lambda M, x: M.floor_divide(x.detach() * 5, 2),
    "atan2": lambda M, x: M.atan2(x, x[0] + 3),
    "hypot": lambda M, x: M.hypot(x, x * 2 + 1),
    "erfinv": lambda M, x: M.erfinv(x.clamp(-0.9, 0.9)),
    "erf": lambda M, x: M.erf(x),
    "nan_to_num": lambda M, x: M.nan_to_num(x.log(), neginf=-5.0),
    "nansum": lambda M, x: M.nansum(M.where(x > 0.5, float("nan"), x), 1),
    "nanmean": lambda M, x: M.nanmean(M.where(x > 0.5, float("nan"), x), 1),
    "std_mean": lambda M, x: M.std_mean(x, 1),
    "var_mean": lambda M, x: M.var_mean(x, 0, correction=0),
    "diff": lambda M, x: M.diff(x, 2, 1),
    "diff_prepend": lambda M, x: x.diff(dim=0, prepend=x[:1] * 0),
    "tensor_split_idx": lambda M, x: M.tensor_split(x, [1, 4], 1),
    "tensor_split_n": lambda M, x: x.tensor_split(3, 1),
    "split_sizes": lambda M, x: x.split([2, 3], 1),
    "chunk": lambda M, x: x.chunk(2, 1),
    "hsplit": lambda M, x: M.hsplit(x[:, :4], 2),
    "repeat_interleave": lambda M, x: x.repeat_interleave(M.tensor([1, 0, 2]), 0),
    "repeat_interleave_int": lambda M, x: M.repeat_interleave(x, 2),
    "tile": lambda M, x: M.tile(x, (2, 1, 2)),
    "broadcast_tensors": lambda M, x: M.broadcast_tensors(x, x[0]),
    "meshgrid_ij": lambda M, x: M.meshgrid(x[0], x[1, :3], indexing="ij"),
    "meshgrid_xy": lambda M, x: M.meshgrid(x[0], x[1, :3], indexing="xy"),
    "rot90": lambda M, x: M.rot90(x, 1),
    "rot90_3": lambda M, x: x.rot90(3, (1, 0)),
    "rot90_2": lambda M, x: x.rot90(-2),
    "fliplr": lambda M, x: M.fliplr(x),
    "squeeze_tuple": lambda M, x: x.reshape(3, 1, 5, 1).squeeze((1, 2, 3)),
    "unflatten": lambda M, x: x.unflatten(1, (5, 1)),
    "flatten": lambda M, x: x.reshape(3, 5, 1).flatten(1, 2),
    "type_as": lambda M, x: x.type_as(M.ones(1, dtype=M.float64)),
    "view_as": lambda M, x: x.view_as(x.T),
    "hstack": lambda M, x: M.hstack([x, x]),
    "vstack": lambda M, x: M.vstack([x, x[0]]),
}

INT_CASES = {  # index and count outputs (not differentiable)
    "nonzero": lambda M, x: M.nonzero(x > 0),
    "nonzero_tuple": lambda M, x: M.nonzero(x > 0, as_tuple=True),
    "argwhere": lambda M, x: M.argwhere(x > 0),
    "where_one": lambda M, x: M.where(x > 0),
    "count_nonzero": lambda M, x: M.count_nonzero(x > 0, 1),
    "unique": lambda M, x: M.unique((x * 2).round()),
    "unique_all": lambda M, x: M.unique((x * 2).round(), return_inverse=True, return_counts=True),
    "unique_dim": lambda M, x: M.unique(
        M.tensor([[1, 2], [1, 2], [0, 5]]), dim=0, return_inverse=True, return_counts=True
    ),
    "unique_consecutive": lambda M, x: M.unique_consecutive(
        M.tensor([1, 1, 2, 2, 3, 1, 1]), return_inverse=True, return_counts=True
    ),
    "unique_consecutive_dim": lambda M, x: M.unique_consecutive(
        M.tensor([[1, 1, 2], [1, 1, 3]]), dim=1
    ),
    "bincount": lambda M, x: M.bincount(M.tensor([0, 1, 1, 4]), minlength=7),
    "bincount_w": lambda M, x: M.bincount(M.tensor([0, 1, 1, 4]), weights=x[0, :4]),
    "histc": lambda M, x: M.histc(x, 5),
    "histc_range": lambda M, x: x.histc(4, -1, 1),
    "searchsorted": lambda M, x: M.searchsorted(
        M.tensor([-1.0, 0, 1], dtype=x.dtype), x, right=True
    ),
    "searchsorted_nd": lambda M, x: M.searchsorted(x.sort(1).values, x[:, :2], side="left"),
    "bucketize": lambda M, x: M.bucketize(x, M.tensor([-1.0, 0, 1], dtype=x.dtype)),
    "tril_indices": lambda M, x: M.tril_indices(3, 4, 1),
    "triu_indices": lambda M, x: M.triu_indices(4, 3, -1),
    "logical_and": lambda M, x: M.logical_and(x > 0, x < 1),
    "logical_or": lambda M, x: M.logical_or(x, x[0] > 0),
    "logical_xor": lambda M, x: (x > 0).logical_xor(x < 0.5),
    "logical_not": lambda M, x: M.logical_not(x > 0),
    "bitwise_and": lambda M, x: M.bitwise_and(M.tensor([12, 5]), M.tensor([10, 3])),
    "bitwise_or": lambda M, x: M.tensor([12, 5]).bitwise_or(3),
    "bitwise_xor": lambda M, x: M.bitwise_xor(M.tensor([True, False]), M.tensor([True, True])),
    "bitwise_not": lambda M, x: M.bitwise_not(M.tensor([12, -5])),
    "shift": lambda M, x: M.bitwise_left_shift(M.tensor([1, 3]), 2),
    "all": lambda M, x: M.all(x > -1, 1),
    "any": lambda M, x: M.any(x > 1, dim=0, keepdim=True),
    "all_uint8": lambda M, x: M.all(M.tensor([1, 2], dtype=M.uint8)),
    "isclose": lambda M, x: M.isclose(x, x + 1e-6),
    "isin": lambda M, x: M.isin(M.tensor([1, 2, 3, 4]), M.tensor([2, 4])),
    "cumprod_int": lambda M, x: M.cumprod(M.tensor([1, 2, 3], dtype=M.int32), 0),
    "new_zeros": lambda M, x: x.new_zeros(2, 3),
    "new_ones": lambda M, x: x.new_ones((2,)),
    "new_full": lambda M, x: x.new_full((2,), 3.5),
    "new_tensor": lambda M, x: x.new_tensor([1, 2]),
    "trace_int": lambda M, x: M.trace(M.tensor([[1, 2], [3, 4]], dtype=M.int32)),
    "repeat_interleave_counts": lambda M, x: M.repeat_interleave(M.tensor([2, 0, 3])),
}


def _parts(out):
    if isinstance(out, (tuple, list)):
        return [p for o in out for p in _parts(o)]
    return [out]


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _tol(dtype):
    return (1e-5, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name, dtype):
    fn = CASES[name]
    xa = at.tensor(X.astype(dtype), requires_grad=True)
    xt = torch.tensor(X.astype(dtype), requires_grad=True)
    oa, ot = fn(at, xa), fn(torch, xt)
    if isinstance(ot, tuple):
        assert isinstance(oa, tuple) and len(oa) == len(ot)
        if hasattr(ot, "_fields"):  # torch.return_types: the same field names
            assert tuple(oa._fields) == tuple(ot._fields)
    pa, pt = _parts(oa), _parts(ot)
    rtol, atol = _tol(dtype)
    for a, t in zip(pa, pt):
        assert tuple(a.shape) == tuple(t.shape), (name, a.shape, t.shape)
        assert str(a.dtype) == str(t.dtype).replace("torch.", ""), (name, a.dtype, t.dtype)
        np.testing.assert_allclose(_np(a), _np(t), rtol=rtol, atol=atol, equal_nan=True)
    la = lt = 0
    for k, (a, t) in enumerate(zip(pa, pt)):
        if t.dtype.is_floating_point and t.requires_grad:
            w = np.arange(1, t.numel() + 1, dtype=dtype).reshape(tuple(t.shape)) / (k + 1)
            fa = at.where(a.isfinite(), a, 0.0)
            ft = torch.where(t.isfinite(), t, 0.0)
            la = la + (fa * at.tensor(w)).sum()
            lt = lt + (ft * torch.tensor(w)).sum()
    if isinstance(lt, int):
        return
    la.backward()
    lt.backward()
    np.testing.assert_allclose(_np(xa.grad), _np(xt.grad), rtol=rtol * 10, atol=atol * 10)


@needs_torch
@pytest.mark.parametrize("name", sorted(INT_CASES))
def test_index_and_count_outputs_match_torch(name):
    fn = INT_CASES[name]
    oa, ot = fn(at, at.tensor(X)), fn(torch, torch.tensor(X))
    pa, pt = _parts(oa), _parts(ot)
    assert len(pa) == len(pt)
    for a, t in zip(pa, pt):
        assert tuple(a.shape) == tuple(t.shape), (name, a.shape, t.shape)
        assert str(a.dtype) == str(t.dtype).replace("torch.", ""), (name, a.dtype, t.dtype)
        np.testing.assert_allclose(_np(a), _np(t), rtol=1e-12)


@needs_torch
def test_scatter_reduce_over_reductions():
    src = RNG.standard_normal((2, 5))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            for dtype in (np.float32, np.float64):
                xa = at.tensor(X.astype(dtype), requires_grad=True)
                sa = at.tensor(src.astype(dtype), requires_grad=True)
                xt = torch.tensor(X.astype(dtype), requires_grad=True)
                st_ = torch.tensor(src.astype(dtype), requires_grad=True)
                oa = xa.scatter_reduce(0, at.tensor(IDX), sa, reduce, include_self=include_self)
                ot = xt.scatter_reduce(0, torch.tensor(IDX), st_, reduce, include_self=include_self)
                rtol, atol = _tol(dtype)
                np.testing.assert_allclose(_np(oa), _np(ot), rtol=rtol, atol=atol)
                w = RNG.standard_normal(X.shape).astype(dtype)
                (oa * at.tensor(w)).sum().backward()
                (ot * torch.tensor(w)).sum().backward()
                np.testing.assert_allclose(_np(xa.grad), _np(xt.grad), rtol=rtol * 10, atol=atol)
                np.testing.assert_allclose(_np(sa.grad), _np(st_.grad), rtol=rtol * 10, atol=atol)


@needs_torch
def test_scatter_reduce_ties_share_the_gradient_as_torch():
    x = np.array([[1.0, 2.0], [0.0, 0.0]])
    src = np.array([[1.0, 2.0]])
    for reduce in ("amax", "amin"):
        xa, sa = at.tensor(x, requires_grad=True), at.tensor(src, requires_grad=True)
        xt, st_ = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
        xa.scatter_reduce(0, at.tensor([[0, 0]]), sa, reduce).sum().backward()
        xt.scatter_reduce(0, torch.tensor([[0, 0]]), st_, reduce).sum().backward()
        np.testing.assert_allclose(_np(xa.grad), _np(xt.grad))
        np.testing.assert_allclose(_np(sa.grad), _np(st_.grad))


@needs_torch
def test_scatter_with_reduce_keyword():
    for reduce in ("add", "multiply"):
        a = at.tensor(X).scatter(0, at.tensor(IDX), at.tensor(X[:2] + 2), reduce=reduce)
        t = torch.tensor(X).scatter(0, torch.tensor(IDX), torch.tensor(X[:2] + 2), reduce=reduce)
        np.testing.assert_allclose(_np(a), _np(t), rtol=1e-12)


def test_masked_fill_in_place_shares_with_views_and_records():
    x = at.zeros(2, 3)
    v = x[0]
    x.masked_fill_(at.tensor([[True, False, True], [False, False, False]]), 7.0)
    assert v.tolist() == [7.0, 0.0, 7.0]
    assert x._version == 1
    w = at.tensor(X, requires_grad=True)
    y = w * 2
    y.masked_fill_(w > 0, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(_np(w.grad), np.where(X > 0, 0.0, 2.0))


def test_gradcheck_through_composites():
    x = at.tensor(RNG.uniform(0.5, 1.5, (3, 4)), requires_grad=True)
    y = at.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    s = at.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    idx = at.tensor([[0, 2, 2, 1], [1, 0, 2, 1]])
    fns = [
        (lambda a: a.sort(1).values, (x,)),
        (lambda a: a.topk(2, 0).values, (x,)),
        (lambda a: a.cummax(1).values, (x,)),
        (lambda a: a.median(0).values, (x,)),
        (lambda a: at.quantile(a, 0.3, dim=1), (x,)),
        (lambda a, b: at.einsum("ij,jk->ik", a, b), (x, y)),
        (lambda a: at.einsum("ii->i", a[:, :3]), (x,)),
        (lambda a, b: a.scatter(0, at.tensor([[0, 2, 1, 1], [1, 0, 2, 0]]), b), (x, s)),
        (lambda a, b: a.scatter_reduce(0, idx, b, "prod"), (x, s)),
        (lambda a, b: a.scatter_reduce(0, idx, b, "mean", include_self=False), (x, s)),
        (lambda a, b: a.index_add(0, at.tensor([2, 0]), b, alpha=0.5), (x, s)),
        (lambda a: at.cdist(a, a[:2] + 1), (x,)),
        (lambda a: at.diag_embed(a, 1), (x,)),
        (lambda a: at.kron(a, a[:1, :2]), (x,)),
        (lambda a: a.cumprod(1), (x * at.tensor([1.0, 0.0, 1.0, 1.0]),)),
        (lambda a: at.fmod(a * 3, 0.7), (x,)),
        (lambda a: at.addmm(a, a, a.T @ a, beta=0.5, alpha=2), (x,)),
        (lambda a: a.masked_scatter(a > 1, a * 3), (x,)),
    ]
    for f, inputs in fns:
        leaves = [t.detach().requires_grad_() for t in inputs]
        assert at.gradcheck(f, leaves)
        assert at.gradgradcheck(f, leaves)


# -- hypothesis: shapes ----------------------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_sort_and_topk_over_shapes(shape, data):
    x = RNG.standard_normal(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    desc = data.draw(st.booleans())
    k = data.draw(st.integers(0, shape[dim]))
    a, t = at.tensor(x), torch.tensor(x)
    sa, stt = a.sort(dim, descending=desc), t.sort(dim, descending=desc)
    np.testing.assert_array_equal(_np(sa.values), _np(stt.values))
    np.testing.assert_array_equal(_np(sa.indices), _np(stt.indices))
    ka, kt = a.topk(k, dim), t.topk(k, dim)
    np.testing.assert_array_equal(_np(ka.values), _np(kt.values))
    np.testing.assert_array_equal(_np(ka.indices), _np(kt.indices))


@needs_torch
@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_scatter_and_index_add_over_shapes(shape, data):
    x = RNG.standard_normal(shape)
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, s)) for s in shape)
    idx = RNG.integers(0, shape[dim], ishape)
    src = RNG.standard_normal(ishape)
    a = at.tensor(x).scatter_add(dim, at.tensor(idx), at.tensor(src))
    t = torch.tensor(x).scatter_add(dim, torch.tensor(idx), torch.tensor(src))
    np.testing.assert_allclose(_np(a), _np(t), rtol=1e-12)
    red = data.draw(st.sampled_from(["sum", "prod", "mean", "amax", "amin"]))
    a = at.tensor(x).scatter_reduce(dim, at.tensor(idx), at.tensor(src), red)
    t = torch.tensor(x).scatter_reduce(dim, torch.tensor(idx), torch.tensor(src), red)
    np.testing.assert_allclose(_np(a), _np(t), rtol=1e-12)
    n = ishape[dim]
    i1 = RNG.integers(0, shape[dim], n)
    source = RNG.standard_normal(shape[:dim] + (n,) + shape[dim + 1 :])
    a = at.tensor(x).index_add(dim, at.tensor(i1), at.tensor(source))
    t = torch.tensor(x).index_add(dim, torch.tensor(i1), torch.tensor(source))
    np.testing.assert_allclose(_np(a), _np(t), rtol=1e-12)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), i=st.integers(1, 4), j=st.integers(1, 4), k=st.integers(1, 4),
       eq=st.sampled_from(["bij,bjk->bik", "bij,bjk->ik", "bij,bjk", "bij,bik->bjk",
                           "...ij,...jk->...ik", "bij,bjk->kib"]))  # fmt: skip
def test_einsum_over_shapes(b, i, j, k, eq):
    left = RNG.standard_normal((b, i, j))
    right = RNG.standard_normal((b, j, k) if "bik->" not in eq else (b, i, k))
    xa, ya = at.tensor(left, requires_grad=True), at.tensor(right, requires_grad=True)
    xt, yt = torch.tensor(left, requires_grad=True), torch.tensor(right, requires_grad=True)
    oa, ot = at.einsum(eq, xa, ya), torch.einsum(eq, xt, yt)
    np.testing.assert_allclose(_np(oa), _np(ot), rtol=1e-10, atol=1e-12)
    oa.sum().backward()
    ot.sum().backward()
    np.testing.assert_allclose(_np(xa.grad), _np(xt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(ya.grad), _np(yt.grad), rtol=1e-10, atol=1e-12)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_unique_over_shapes(shape, data):
    x = RNG.integers(0, 3, shape)
    dim = data.draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
    a = at.unique(at.tensor(x), return_inverse=True, return_counts=True, dim=dim)
    t = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True, dim=dim)
    for p, q in zip(a, t):
        np.testing.assert_array_equal(_np(p), _np(q))


# -- errors ----------------------------------------------------------------------------------
ERRORS = [
    (lambda M: M.topk(M.randn(3), 5), RuntimeError, "topk"),
    (lambda M: M.sort(M.randn(3), dim=2), IndexError, "Dimension out of range"),
    (lambda M: M.bmm(M.randn(3, 4), M.randn(3, 4)), RuntimeError, "batch1 must be a 3D tensor"),
    (lambda M: M.bmm(M.randn(2, 3, 4), M.randn(2, 5, 4)), RuntimeError, "batch2"),
    (lambda M: M.einsum("ij,jk->ik", M.randn(2, 3)), RuntimeError, "fewer operands"),
    (lambda M: M.einsum("ij,jk->ik", M.randn(2, 3), M.randn(4, 5)), RuntimeError, "subscript j"),
    (lambda M: M.scatter(M.randn(3, 4), 0, M.tensor([[5]]), 1.0), RuntimeError, "out of bounds"),
    (
        lambda M: M.scatter(M.randn(3, 4), 0, M.tensor([[1]]), M.randn(1, 1).double()),
        RuntimeError,
        "dtype",
    ),
    (
        lambda M: M.index_add(M.randn(3, 4), 0, M.tensor([0, 1]), M.randn(3, 4)),
        RuntimeError,
        "index_add",
    ),
    (lambda M: M.diag(M.randn(2, 2, 2)), RuntimeError, "diag"),
    (lambda M: M.trace(M.randn(3)), RuntimeError, "trace"),
    (lambda M: M.bincount(M.tensor([-1])), RuntimeError, "bincount"),
    (lambda M: M.kthvalue(M.randn(3), 4), RuntimeError, "kthvalue"),
    (lambda M: M.logical_and(M.ones(2), M.ones(3)), RuntimeError, ""),
    (lambda M: M.repeat_interleave(M.randn(3), M.tensor([1, 2])), RuntimeError, "repeats"),
    (lambda M: M.cross(M.randn(3, 2), M.randn(3, 2), dim=1), RuntimeError, "cross"),
    (lambda M: M.quantile(M.randn(3), 1.5), RuntimeError, "quantile"),
    (lambda M: M.addmm(M.randn(3), M.randn(2, 3), M.randn(4, 3)), RuntimeError, "2x3 and 4x3"),
    (lambda M: M.split(M.randn(5), [2, 2]), RuntimeError, ""),
    (
        lambda M: M.searchsorted(M.tensor([[1, 2]]), M.tensor([1, 2, 3])),
        RuntimeError,
        "searchsorted",
    ),
    (lambda M: M.multinomial(M.tensor([0.5, 0.5]), 3), RuntimeError, "without replacement"),
    (lambda M: M.multinomial(M.tensor([-1.0, 1.0]), 1), RuntimeError, "probability"),
]


@needs_torch
@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_bad_input_raises_torch_exception_class(k):
    fn, cls, text = ERRORS[k]
    with pytest.raises(cls) as ta:
        fn(torch)
    with pytest.raises(cls, match=text) as aa:
        fn(at)
    assert type(aa.value) is type(ta.value) or issubclass(type(aa.value), cls)


def test_multinomial_draws():
    g = at.Generator().manual_seed(0)
    p = at.tensor([[0.0, 1.0, 3.0], [1.0, 2.0, 0.0]])
    out = at.multinomial(p, 2, generator=g)
    assert out.shape == (2, 2) and out.dtype == np.int64
    assert set(out[0].tolist()) == {1, 2} and set(out[1].tolist()) == {0, 1}
    draws = at.tensor([0.2, 0.8]).multinomial(4000, replacement=True, generator=g)
    assert draws.shape == (4000,)
    assert abs(draws.float().mean().item() - 0.8) < 0.03

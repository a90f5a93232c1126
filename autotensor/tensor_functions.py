"""torch's tensor functions beyond the core set, as composites.

Sorting and selection (sort, topk, kthvalue, median, mode, quantile, cummax), the scatter and
index families (scatter, scatter_reduce, index_add, index_copy, index_fill, masked_scatter),
counting and sets (nonzero, unique, bincount, histc, searchsorted), linear algebra (einsum,
addmm and friends, diag, diagonal, trace, kron, cdist, cross), logical and bitwise functions,
and shape helpers (tensor_split, repeat_interleave, tile, meshgrid, rot90, ...).

Nothing here writes a derivative: every differentiable function is built from primitives
(Gather, GetItem, IndexPut, ScatterAdd, MatMul, Where, Sum, Prod, Amax, Cumprod, ...), so its
gradient, and the gradient of that, comes from them. Index outputs (argsort, nonzero, unique,
...) are integer tensors outside the graph, as in torch.
"""

from __future__ import annotations

import builtins
import math
import string
from collections import namedtuple
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from autotensor import _views, dtypes, ops
from autotensor import functional as F
from autotensor.ops.reduce import norm_dims
from autotensor.tensor import Tensor, _new, _operands, _size, as_tensor

# torch.return_types.*: named tuples whose type names are the op's name
sort_result = namedtuple("sort_result", ["values", "indices"])
topk_result = namedtuple("topk_result", ["values", "indices"])
kthvalue_result = namedtuple("kthvalue_result", ["values", "indices"])
median_result = namedtuple("median_result", ["values", "indices"])
nanmedian_result = namedtuple("nanmedian_result", ["values", "indices"])
mode_result = namedtuple("mode_result", ["values", "indices"])
cummax_result = namedtuple("cummax_result", ["values", "indices"])
cummin_result = namedtuple("cummin_result", ["values", "indices"])
aminmax_result = namedtuple("aminmax_result", ["min", "max"])
for _rt in (
    sort_result,
    topk_result,
    kthvalue_result,
    median_result,
    nanmedian_result,
    mode_result,
    cummax_result,
    cummin_result,
    aminmax_result,
):
    _rt.__name__ = _rt.__qualname__ = _rt.__name__.removesuffix("_result")


def _arr(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _dim(x: Tensor, dim: int, op: str) -> int:
    """One torch dim as a non-negative axis (a 0-d tensor takes 0 and -1, as torch)."""
    (d,) = norm_dims(dim, x.ndim, op) or (0,)
    return d


def _ints(x: Any, op: str, what: str = "index") -> np.ndarray:
    a = _arr(x)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for {what} but got {a.dtype}")
    return a


def _check_same_dtype(x: Tensor, src: Tensor, op: str) -> None:
    if src.dtype != x.dtype:
        raise RuntimeError(
            f"{op}(): Expected self.dtype to be equal to src.dtype (got "
            f"{dtypes.torch_name(x.dtype)} and {dtypes.torch_name(src.dtype)})"
        )


# -- sorting and selection -------------------------------------------------------------------
def _order(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable sorting indices along axis (a stable sort is also a valid unstable one).
    NaN sorts as the largest value, as torch: last ascending, first descending."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    # descending and stable: sort the reversed array ascending, then reverse the result;
    # equal elements come out in their original order
    idx = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - idx, axis)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """(values, indices) of x sorted along dim; values = gather(x, dim, indices), so the
    gradient goes back to where each value came from. Both are laid out as x (torch's
    preserve_format): a non-contiguous x is sorted with its dims permuted into their order
    in memory, and the results permuted back."""
    d = _dim(x, dim, "sort")
    if x.ndim == 0:
        return sort_result(x.clone(), _new(np.zeros((), np.int64)))
    if not x._data.flags.c_contiguous:
        order = _views.stride_order(x.shape, x._data.strides)[::-1]  # slowest first
        if order != sorted(order):
            back = [order.index(i) for i in range(x.ndim)]
            vals, idx = _sort_along(x.permute(order), order.index(d), descending)
            return sort_result(vals.permute(back), idx.permute(back))
    return sort_result(*_sort_along(x, d, descending))


def _sort_along(x: Tensor, d: int, descending: bool) -> tuple[Tensor, Tensor]:
    idx = _views.contiguous_layout(_order(x._data, d, descending).astype(np.int64))
    return F.gather(x, d, idx), _new(idx)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort x along dim (stable)."""
    return sort(x, dim, descending, stable).indices


def msort(x: Tensor) -> Tensor:
    """x sorted along dim 0."""
    return sort(x, 0).values


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """(values, indices) of the k largest (or smallest) elements along dim, in sorted order
    (sorted=False is allowed to give any order; this gives the sorted one)."""
    d = _dim(x, dim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(
            f"topk(): selected index k out of range (k={k}, dim {d} of size {n}, input shape "
            f"{tuple(x.shape)})"
        )
    if x.ndim == 0:
        return topk_result(x.clone(), _new(np.zeros((), np.int64)))
    idx = _order(x._data, d, largest)
    idx = np.take(idx, np.arange(k), axis=d).astype(np.int64)
    return topk_result(F.gather(x, d, idx), _new(idx))


def _select_kth(x: Tensor, d: int, pos: np.ndarray, keepdim: bool, kind: type) -> Any:
    """(values, indices) of the element at sorted position pos[...] (one per row) along d."""
    idx = np.take_along_axis(_order(x._data, d, False), np.expand_dims(pos, d), axis=d)
    idx = _views.contiguous_layout(idx.astype(np.int64))  # a reduction: contiguous, as torch
    vals = F.gather(x, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return kind(vals, _new(idx))


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """(values, indices) of the k-th smallest element (k from 1) along dim."""
    d = _dim(x, dim, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(
            f"kthvalue(): selected number k out of range for dimension {d} (k={k}, size {n})"
        )
    xv = x if x.ndim else x.reshape(1)
    out = _select_kth(xv, d, np.full(_row_shape(xv, d), k - 1), keepdim or x.ndim == 0,
                      kthvalue_result)  # fmt: skip
    return out if x.ndim else kthvalue_result(out.values.reshape(()), out.indices.reshape(()))


def _row_shape(x: Tensor, d: int) -> tuple:
    return tuple(s for i, s in enumerate(x.shape) if i != d)


def _median(x: Tensor, dim: Any, keepdim: bool, ignore_nan: bool, kind: type, op: str) -> Any:
    if dim is None:
        if x.numel() == 0:
            return _new(np.asarray(np.nan, dtype=x.dtype))
        r = _median(x.reshape(-1), 0, False, ignore_nan, kind, op)
        return r.values
    d = _dim(x, dim, op)
    xv = x if x.ndim else x.reshape(1)
    n = xv.shape[d]
    if n == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    data = xv._data
    nan = np.isnan(data) if data.dtype.kind == "f" else np.zeros(data.shape, bool)
    valid = n - nan.sum(axis=d)
    if ignore_nan:  # the lower median of the non-NaN values (NaN when there are none)
        pos = np.maximum(valid - 1, 0) // 2
    else:  # any NaN makes the median NaN: NaNs sort last, so take the first of them
        pos = np.where(valid < n, valid, (n - 1) // 2)
    out = _select_kth(xv, d, pos, keepdim or x.ndim == 0, kind)
    if x.ndim:
        return out
    return kind(out.values.reshape(()), out.indices.reshape(()))


def median(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median: median(x) is a 0-d tensor; median(x, dim) is (values, indices)."""
    return _median(x, dim, keepdim, False, median_result, "median")


def nanmedian(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """median ignoring NaNs."""
    return _median(x, dim, keepdim, True, nanmedian_result, "nanmedian")


def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """(values, indices): the most frequent value along dim (the smallest of equally frequent
    ones) and the last index where it occurs, as torch."""
    d = _dim(x, dim, "mode")
    xv = x if x.ndim else x.reshape(1)
    data = np.moveaxis(xv._data, d, -1)
    rows = data.reshape(-1, data.shape[-1]) if data.shape[-1] else data.reshape(-1, 0)
    picks = np.zeros(rows.shape[0], np.int64)
    for r, row in enumerate(rows):
        uniq, counts = np.unique(row, return_counts=True)
        best = uniq[np.argmax(counts)]  # np.unique sorts: the first maximum is the smallest
        picks[r] = np.flatnonzero(row == best)[-1]
    idx = np.expand_dims(picks.reshape(data.shape[:-1]), d)
    vals = F.gather(xv, d, idx)
    if not keepdim or not x.ndim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    if not x.ndim:
        vals, idx = vals.reshape(()), idx.reshape(())
    return mode_result(vals, _new(idx))


def quantile(x: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:  # fmt: skip
    """The q-th quantiles along dim (all elements when None), interpolating between the
    sorted values as `interpolation` says ('linear', 'lower', 'higher', 'midpoint',
    'nearest'). A 1-D q gives a leading dim of len(q). Any NaN makes a quantile NaN."""
    if x.dtype.kind != "f":
        raise RuntimeError(f"quantile() input tensor must be either float or double dtype, "
                           f"got {x.dtype}")  # fmt: skip
    qa = np.asarray(_arr(q), dtype=np.float64)
    if qa.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if qa.size and (qa.min() < 0 or qa.max() > 1):
        raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {qa.tolist()}")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(
            f"quantile() interpolation must be one of linear, lower, higher, midpoint or "
            f"nearest. Got {interpolation}"
        )
    if dim is None:
        xs, d = x.reshape(-1), 0
    else:
        d = _dim(x, dim, "quantile")
        xs = x if x.ndim else x.reshape(1)
    n = xs.shape[d]
    if n == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    srt = sort(xs, d).values  # NaNs sort last
    has_nan = np.isnan(xs._data).any(axis=d, keepdims=True)
    out = []
    for qi in qa.reshape(-1):
        pos = qi * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        if interpolation == "lower":
            hi = lo
        elif interpolation == "higher":
            lo = hi
        elif interpolation == "nearest":
            lo = hi = int(np.round(pos))  # half to even, as torch's round
        a = F.narrow(srt, d, lo, 1)
        b = F.narrow(srt, d, hi, 1)
        if lo == hi:
            v = a
        elif interpolation == "midpoint":
            v = a + (b - a) * 0.5
        else:
            v = a + (b - a) * float(pos - lo)
        v = F.where(has_nan, float("nan"), v)
        if not keepdim:
            v = v.squeeze(d)
        elif dim is None:
            v = v.reshape((1,) * x.ndim)
        out.append(v)
    if qa.ndim == 0:
        return out[0]
    return F.stack(out, 0)


def nanquantile(x: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:  # fmt: skip
    """quantile ignoring NaNs (only over a dim with no NaN-free values is it NaN)."""
    if not np.isnan(x._data).any():
        return quantile(x, q, dim, keepdim, interpolation=interpolation)
    raise NotImplementedError("nanquantile: input with NaNs is not supported")


def _cumext(x: Tensor, dim: int, op: str, kind: type, better: Any) -> Any:
    d = _dim(x, dim, op)
    if x.ndim == 0:
        return kind(x.clone(), _new(np.zeros((), np.int64)))
    data = x._data
    acc = np.maximum if better is np.greater_equal else np.minimum
    run = acc.accumulate(data, axis=d) if data.size else data
    n = data.shape[d]
    pos = np.arange(n).reshape([n if i == d else 1 for i in range(data.ndim)])
    record = data == run  # a new extreme or a tie with it: torch moves the index there
    if data.dtype.kind == "f":  # once a NaN is seen it stays, with the first NaN's index
        nan = np.isnan(data)
        record |= nan & (np.cumsum(nan, axis=d) == 1)
    idx = np.maximum.accumulate(np.where(record, pos, 0), axis=d) if data.size else \
        np.zeros(data.shape, np.int64)  # fmt: skip
    idx = _views.contiguous_layout(idx.astype(np.int64))  # a scan: contiguous, as torch
    return kind(F.gather(x, d, idx), _new(idx))


def cummax(x: Tensor, dim: int) -> Any:
    """(values, indices): the running maximum along dim and where it was last attained."""
    return _cumext(x, dim, "cummax", cummax_result, np.greater_equal)


def cummin(x: Tensor, dim: int) -> Any:
    """(values, indices): the running minimum along dim and where it was last attained."""
    return _cumext(x, dim, "cummin", cummin_result, np.less_equal)


def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """out_i = prod_{j <= i} x_j along dim; integers accumulate in int64, as torch."""
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "biu":
        x = x.to(dtypes.int64)
    return ops.Cumprod.apply(x, dim)


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along dim, shifted by the (constant) max so nothing overflows."""
    d = _dim(x, dim, "logcumsumexp")
    if x.numel() == 0:
        return x.clone()
    m = np.amax(x._data, axis=d, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    # a scan, contiguous as torch's: the elementwise steps keep the layout of what they get
    return (x.contiguous() - m).exp().cumsum(d).log() + m


def aminmax(x: Tensor, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """(min, max) over dim (all elements when None)."""
    return aminmax_result(x.amin(dim, keepdim), x.amax(dim, keepdim))


# -- scatter and index families --------------------------------------------------------------
def _scatter_flat(x: Tensor, d: int, index: np.ndarray, op: str) -> np.ndarray:
    """For each element of index, the flat position in x that it addresses along dim d."""
    if index.ndim != x.ndim and not (x.ndim == 0 and index.ndim <= 1):
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as self tensor "
            f"(index shape {index.shape}, self shape {tuple(x.shape)})"
        )
    shape = x.shape if x.ndim else (1,)
    idx: np.ndarray = index.reshape(index.shape if x.ndim else (-1,))
    n = shape[d]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.max()) if idx.max() >= n else int(idx.min())
        raise RuntimeError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {n}")
    for i, s in enumerate(idx.shape):
        if i != d and s > shape[i]:
            raise RuntimeError(
                f"{op}(): Expected index {idx.shape} to be smaller than self {tuple(x.shape)} "
                f"apart from dimension {d}"
            )
    grids = np.indices(idx.shape, sparse=True)
    full = tuple(idx if a == d else grids[a] for a in range(idx.ndim))
    return np.ravel_multi_index(full, shape).astype(np.int64) if idx.size else \
        np.zeros(idx.shape, np.int64)  # fmt: skip


def _src_part(src: Tensor, index: np.ndarray, x: Tensor, d: int, op: str) -> Tensor:
    """The leading index.shape block of src (torch reads only that much of it)."""
    shape = index.shape if x.ndim else index.reshape(-1).shape
    s = src if src.ndim == len(shape) else src.reshape(-1) if src.ndim == 0 else src
    if s.ndim != len(shape) or builtins.any(a > b for a, b in zip(shape, s.shape)):
        raise RuntimeError(
            f"{op}(): Expected index {index.shape} to be smaller than src {tuple(src.shape)}"
        )
    if tuple(s.shape) == tuple(shape):
        return s
    return s[tuple(slice(0, n) for n in shape)]


def scatter(x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:  # fmt: skip
    """out = x with out[index[i][j]][j] = src[i][j] (dim 0; likewise for other dims), or the
    scalar `value`; reduce='add'/'multiply' combines instead of overwriting. dx is g with the
    written places zeroed; dsrc = gather(g, dim, index)."""
    if src is None and value is None:
        raise TypeError("scatter() missing the src tensor or the scalar value")
    if src is not None and not isinstance(src, Tensor):
        value, src = src, None
    d = _dim(x, dim, "scatter")
    index = _ints(index, "scatter")
    flat = _scatter_flat(x, d, index, "scatter")
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(
                f"scatter(): Expected reduce argument to be either 'add' or 'multiply', got "
                f"{reduce!r}"
            )
        if src is None:
            src = _new(np.full(index.shape, value, dtype=x.dtype))
        return scatter_reduce(x, dim, index, src, "sum" if reduce == "add" else "prod")
    xf = x.reshape(-1)
    if src is None:  # a scalar, written with its gradient-free mask
        mask = np.zeros(xf.shape, bool)
        mask[flat.reshape(-1)] = True
        return F.masked_fill(xf, mask, value).reshape(x.shape)
    src = as_tensor(src)
    _check_same_dtype(x, src, "scatter")
    part = _src_part(src, index, x, d, "scatter")
    out = F.index_put(xf, flat.reshape(-1), part.reshape(-1))
    return out.reshape(x.shape)


_IDENTITY = {"sum": 0, "prod": 1, "mean": 0}


def scatter_reduce(x: Tensor, dim: int, index: Any, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:  # fmt: skip
    """out[t] = reduce(x[t] (if include_self), the src values scattered to t) for the targets
    t that index names, x elsewhere; reduce is 'sum', 'prod', 'mean', 'amax' or 'amin'.

    Composite: the values that meet at each target are gathered into one (targets, k) matrix
    (padded with the reduction's identity) and reduced along its rows by Sum/Prod/Amax/Amin,
    so the gradient is theirs: prod's is the product of the others, amax/amin share it
    evenly between tied extrema, as torch's."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError(
            f"scatter_reduce(): reduce argument must be either sum, prod, mean, amax or amin, "
            f"got {reduce}"
        )
    d = _dim(x, dim, "scatter_reduce")
    index = _ints(index, "scatter_reduce")
    src = as_tensor(src)
    _check_same_dtype(x, src, "scatter_reduce")
    flat = _scatter_flat(x, d, index, "scatter_reduce").reshape(-1)
    if flat.size == 0:
        return x.clone()
    part = _src_part(src, index, x, d, "scatter_reduce").reshape(-1)
    xf = x.reshape(-1)
    targets, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    slot = np.arange(flat.size) - starts[inverse[order]]
    off = 1 if include_self else 0
    k = int(counts.max()) + off
    n, m = xf.shape[0], flat.size
    pad: float
    if reduce in _IDENTITY:
        pad = _IDENTITY[reduce]
    elif x.dtype.kind == "f":
        pad = -np.inf if reduce == "amax" else np.inf
    else:
        info = np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        pad = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
    pool = F.cat([xf, part, _new(np.asarray([pad], dtype=x.dtype))])
    where = np.full((targets.size, k), n + m, dtype=np.int64)  # the padding element
    if include_self:
        where[:, 0] = targets
    where[inverse[order], off + slot] = n + order
    vals = pool[where]
    if reduce == "sum":
        red = vals.sum(1)
    elif reduce == "prod":
        red = vals.prod(1)
    elif reduce == "amax":
        red = vals.amax(1)
    elif reduce == "amin":
        red = vals.amin(1)
    else:
        cnt = (counts + off).astype(np.int64)
        s = vals.sum(1)
        red = s / _new(cnt.astype(x.dtype)) if x.dtype.kind == "f" else \
            _new(np.floor_divide(s._data, cnt).astype(x.dtype))  # fmt: skip
    return F.index_put(xf, targets, red).reshape(x.shape)


def scatter_add(x: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """out = x with src[i][j] added at out[index[i][j]][j] (dim 0; likewise for other dims)."""
    return F.scatter_add(x, dim, index, src)


def _along(index: Any, x: Tensor, d: int, op: str) -> np.ndarray:
    """A 0-d/1-D index along dim d, checked against x's size there."""
    idx = _ints(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector, got shape {idx.shape}")
    idx = idx.reshape(-1)
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = int(idx.max()) if idx.max() >= n else int(idx.min())
        raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {n}")
    return np.where(idx < 0, idx + n, idx)


def _spread(idx: np.ndarray, source: Tensor, x: Tensor, d: int, op: str) -> np.ndarray:
    """A 1-D index along dim d spread over the whole of source (for scatter-style calls)."""
    if source.ndim != x.ndim and not (x.ndim <= 1 and source.ndim <= 1):
        raise RuntimeError(
            f"{op}(): source {tuple(source.shape)} and self {tuple(x.shape)} must have the "
            f"same number of dims"
        )
    ss = source.shape if source.ndim else (1,)
    xs = x.shape if x.ndim else (1,)
    if idx.size != ss[d]:
        raise RuntimeError(
            f"{op}(): Number of indices ({idx.size}) should be equal to source.size(dim): "
            f"({ss[d]}), for dim: {d}"
        )
    if builtins.any(a != b for i, (a, b) in enumerate(zip(ss, xs)) if i != d):
        raise RuntimeError(
            f"{op}(): Source/destination tensor must have same slice shapes (source "
            f"{tuple(source.shape)}, self {tuple(x.shape)}, dim {d})"
        )
    shape = [1] * len(ss)
    shape[d] = idx.size
    return np.broadcast_to(idx.reshape(shape), ss).copy()


def index_add(x: Tensor, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """out = x with alpha * source[..., i, ...] added at x[..., index[i], ...] along dim
    (repeated indices add up). dx = g, dsource = alpha * g[index]."""
    d = _dim(x, dim, "index_add")
    source = as_tensor(source)
    idx = _spread(_along(index, x, d, "index_add"), source, x, d, "index_add")
    if alpha != 1:
        source = source * alpha
    xv, sv = (x, source) if x.ndim else (x.reshape(1), source.reshape(1))
    out = F.scatter_add(xv, d, idx.reshape(sv.shape), sv)
    return out if x.ndim else out.reshape(())


def index_copy(x: Tensor, dim: int, index: Any, source: Tensor) -> Tensor:
    """out = x with x[..., index[i], ...] = source[..., i, ...] along dim."""
    d = _dim(x, dim, "index_copy")
    source = as_tensor(source)
    _check_same_dtype(x, source, "index_copy")
    idx = _spread(_along(index, x, d, "index_copy"), source, x, d, "index_copy")
    xv, sv = (x, source) if x.ndim else (x.reshape(1), source.reshape(1))
    out = scatter(xv, d, idx.reshape(sv.shape), sv)
    return out if x.ndim else out.reshape(())


def index_fill(x: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """out = x with the slices x[..., index[i], ...] along dim set to value (a number or a
    0-d tensor, which then receives the gradient of every filled element)."""
    d = _dim(x, dim, "index_fill")
    idx = _along(index, x, d, "index_fill")
    n = x.shape[d] if x.ndim else 1
    hit = np.zeros(n, bool)
    hit[idx] = True
    mask = hit.reshape([n if i == d else 1 for i in range(x.ndim)]) if x.ndim else hit[0]
    return F.fill_where(x, np.asarray(mask), value)  # torch fills a clone in x's layout


def index_reduce(x: Tensor, dim: int, index: Any, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:  # fmt: skip
    """index_add's relative with reduce 'prod', 'mean', 'amax' or 'amin'."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(
            f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got "
            f"{reduce}."
        )
    d = _dim(x, dim, "index_reduce")
    source = as_tensor(source)
    idx = _spread(_along(index, x, d, "index_reduce"), source, x, d, "index_reduce")
    return scatter_reduce(x, d, idx, source, reduce, include_self=include_self)


def take_along_dim(x: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """Values of x at indices along dim (x and indices broadcast over the other dims); with
    dim None, over the flattened tensor."""
    idx = _ints(indices, "take_along_dim", "indices")
    if dim is None:
        return F.gather(x.reshape(-1), 0, idx.reshape(-1))
    d = _dim(x, dim, "take_along_dim")
    if idx.ndim != x.ndim:
        raise RuntimeError(
            f"take_along_dim(): input and indices should have the same number of dimensions, "
            f"but got {x.ndim} dimensions for input, and {idx.ndim} dimensions for indices"
        )
    xs, ins = list(x.shape), list(idx.shape)
    xs[d] = ins[d] = 1
    try:
        common = list(np.broadcast_shapes(tuple(xs), tuple(ins)))
    except ValueError:
        raise RuntimeError(
            f"take_along_dim(): shapes {tuple(x.shape)} and {idx.shape} do not broadcast "
            f"outside dim {d}"
        ) from None
    xt, it = list(common), list(common)
    xt[d], it[d] = x.shape[d], idx.shape[d]
    return F.gather(F.expand(x, xt), d, np.broadcast_to(idx, it))


def take(x: Tensor, index: Any) -> Tensor:
    """x.flatten()[index], shaped as index."""
    idx = _ints(index, "take")
    n = x.numel()
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take(): index out of range: tried to access index {idx.max()} on a "
                         f"tensor of {n} elements")  # fmt: skip
    return x.reshape(-1)[idx]


def _mask_like(mask: Any, x: Tensor, op: str) -> np.ndarray:
    m = _arr(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"{op}: expected BoolTensor for mask, got {m.dtype}")
    try:
        shape = np.broadcast_shapes(m.shape, tuple(x.shape))
    except ValueError:
        raise RuntimeError(
            f"{op}: the mask of shape {m.shape} does not broadcast with the input of shape "
            f"{tuple(x.shape)}"
        ) from None
    return np.broadcast_to(m, shape)


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The 1-D tensor of x's elements where mask (broadcast together) is True."""
    m = _mask_like(mask, x, "masked_select")
    return F.expand(x, m.shape)[m]


def masked_scatter(x: Tensor, mask: Any, source: Tensor) -> Tensor:
    """out = x with the places where mask is True filled, in row-major order, from the first
    elements of source."""
    m = _mask_like(mask, x, "masked_scatter")
    if m.shape != tuple(x.shape):
        raise RuntimeError(f"masked_scatter: mask {m.shape} must broadcast to {tuple(x.shape)}")
    source = as_tensor(source)
    _check_same_dtype(x, source, "masked_scatter")
    n = int(m.sum())
    if source.numel() < n:
        raise RuntimeError(
            f"masked_scatter: expected source to have at least {n} elements (the number of "
            f"True values in mask), got {source.numel()}"
        )
    return F.index_put(x, np.ascontiguousarray(m), source.reshape(-1)[:n])


# -- counting, sets, searching ---------------------------------------------------------------
def nonzero(x: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or (as_tuple) one 1-D
    tensor per dim."""
    data = _arr(x)
    if as_tuple:
        if data.ndim == 0:
            return (_new(np.zeros(int(bool(data)), np.int64)),)
        return tuple(_new(i.astype(np.int64)) for i in np.nonzero(data))
    return _new(np.argwhere(data).astype(np.int64))


def argwhere(x: Tensor) -> Tensor:
    """nonzero(x): the (n, ndim) indices of the non-zero elements."""
    return nonzero(x)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """where(condition, input, other): input where condition, else other (broadcast);
    where(condition) alone is nonzero(condition, as_tuple=True)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes either 1 or 3 arguments: (condition, input, other)")
    return F.where(condition, input, other)


def count_nonzero(x: Tensor, dim: Any = None) -> Tensor:
    """The number of non-zero elements over dim (all when None), as int64."""
    dims = norm_dims(dim, x.ndim, "count_nonzero") if dim is not None else None
    out = np.asarray(np.count_nonzero(x._data, axis=dims), dtype=np.int64)
    return _new(_views.contiguous_layout(out))  # a reduction: contiguous, as torch


def _unique_out(values: np.ndarray, inverse: np.ndarray | None, counts: np.ndarray | None,
                return_inverse: bool, return_counts: bool) -> Any:  # fmt: skip
    out: list = [_new(values)]
    if return_inverse:
        out.append(_new(inverse.astype(np.int64)))  # type: ignore[union-attr]
    if return_counts:
        out.append(_new(counts.astype(np.int64)))  # type: ignore[union-attr]
    return out[0] if len(out) == 1 else tuple(out)


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:  # fmt: skip
    """The distinct values (sorted), or with dim the distinct slices along dim; optionally
    the inverse (where each element went) and the counts. Not differentiable (torch's
    isn't either)."""
    data = x._data
    if dim is None:
        vals, inv, cnt = np.unique(data, return_inverse=True, return_counts=True)
        return _unique_out(vals, inv.reshape(data.shape), cnt, return_inverse, return_counts)
    d = _dim(x, dim, "unique")
    if data.ndim == 0:
        raise IndexError("unique(): dim given for a 0-d tensor")
    if data.shape[d] == 0:
        return _unique_out(data.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64),
                           return_inverse, return_counts)  # fmt: skip
    vals, inv, cnt = np.unique(data, return_inverse=True, return_counts=True, axis=d)
    return _unique_out(vals, inv.reshape(-1), cnt, return_inverse, return_counts)


def unique_consecutive(x: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:  # fmt: skip
    """Collapses each run of equal consecutive elements (or slices along dim) to one."""
    data = x._data
    if dim is None:
        flat = data.reshape(-1)
        change = np.concatenate(([True], flat[1:] != flat[:-1])) if flat.size else \
            np.zeros(0, bool)  # fmt: skip
        vals = flat[change]
    else:
        d = _dim(x, dim, "unique_consecutive")
        moved = np.moveaxis(data, d, 0)
        rows = moved.reshape(moved.shape[0], -1)
        change = np.concatenate(([True], (rows[1:] != rows[:-1]).any(axis=1))) if len(rows) \
            else np.zeros(0, bool)  # fmt: skip
        vals = np.moveaxis(moved[change], 0, d)
    group = np.cumsum(change) - 1
    counts = np.diff(np.concatenate((np.flatnonzero(change), [change.size])))
    inv = group.reshape(data.shape) if dim is None else group
    return _unique_out(np.ascontiguousarray(vals), inv, counts, return_inverse, return_counts)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each value 0..max(x) in a 1-D non-negative integer tensor (length at least
    minlength); with weights, the sum of the weights instead (float32 weights give float32,
    others float64, as torch)."""
    data = _arr(x)
    if data.ndim != 1 or data.dtype.kind not in "iub" or (data.size and data.min() < 0):
        raise RuntimeError(
            f"bincount only supports 1-d non-negative integral inputs (got shape {data.shape}, "
            f"dtype {data.dtype})"
        )
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    if weights is None:
        return _new(np.bincount(data, minlength=minlength).astype(np.int64))
    w = as_tensor(weights)
    if w.shape != data.shape:
        raise RuntimeError(
            f"bincount: weights should be 1-d and have the same length as input (input "
            f"{data.shape}, weights {tuple(w.shape)})"
        )
    out_dtype = np.float32 if w.dtype == np.float32 else np.float64
    n = builtins.max(int(data.max()) + 1 if data.size else 0, minlength)
    if w.dtype.kind == "f":  # differentiable in the weights: a scatter_add
        zeros = _new(np.zeros(n, dtype=out_dtype))
        return F.scatter_add(zeros, 0, data.astype(np.int64), w.to(out_dtype))
    return _new(np.bincount(data, weights=w._data, minlength=minlength).astype(out_dtype))


def histc(x: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Histogram of x with `bins` equal bins over [min, max] (the data's range when both are
    0); elements outside are ignored; the result has x's dtype."""
    data = x._data
    if data.dtype.kind != "f":
        raise NotImplementedError(f"histc: not implemented for {dtypes.torch_name(data.dtype)}")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for bins")
    lo, hi = float(min), float(max)
    if lo == hi and data.size:
        lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min (got {min} and {max})")
    flat = data.reshape(-1)
    keep = flat[(flat >= lo) & (flat <= hi)]
    b = ((keep - lo) * bins / (hi - lo)).astype(np.int64)
    b = np.minimum(b, bins - 1)  # the top edge belongs to the last bin
    return _new(np.bincount(b, minlength=bins).astype(data.dtype))


def searchsorted(sorted_sequence: Tensor, values: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None,
                 sorter: Any = None) -> Tensor:  # fmt: skip
    """For each value, the index where it would be inserted into the innermost dim of
    sorted_sequence to keep it sorted (right=True / side='right': after equal elements)."""
    seq = _arr(sorted_sequence)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")  # fmt: skip
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites")
        right = side == "right"
    how: Literal["left", "right"] = "right" if right else "left"
    vals = _arr(values)
    if sorter is not None:
        seq = np.take_along_axis(seq, _arr(sorter), axis=-1)
    dt = np.int32 if out_int32 else np.int64
    if seq.ndim <= 1:
        return _new(np.asarray(np.searchsorted(seq, vals, side=how)).astype(dt))
    if vals.ndim != seq.ndim or vals.shape[:-1] != seq.shape[:-1]:
        raise RuntimeError(
            f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            f"dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor {list(vals.shape)}"
        )
    s2, v2 = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
    out = np.stack([np.searchsorted(s, v, side=how) for s, v in zip(s2, v2)]) if len(s2) else \
        np.zeros(v2.shape, np.int64)  # fmt: skip
    return _new(out.reshape(vals.shape).astype(dt))


def bucketize(x: Any, boundaries: Tensor, *, out_int32: bool = False,
              right: bool = False) -> Tensor:  # fmt: skip
    """The bucket of each element among the 1-D sorted boundaries: i with
    boundaries[i-1] < x <= boundaries[i] (right=True: boundaries[i-1] <= x < boundaries[i])."""
    b = _arr(boundaries)
    if b.ndim != 1:
        raise RuntimeError(
            f"bucketize(): boundaries tensor must be 1 dimension, but got dim({b.ndim})"
        )
    return searchsorted(boundaries, x, out_int32=out_int32, right=right)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:  # fmt: skip
    """The (2, n) coordinates of the lower triangle of a row x col matrix, row by row."""
    r, c = np.nonzero(np.tri(row, col, offset, dtype=bool))
    return _new(np.stack([r, c]).astype(dtypes.as_dtype(dtype) if dtype else np.int64))


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:  # fmt: skip
    """The (2, n) coordinates of the upper triangle of a row x col matrix, row by row."""
    r, c = np.nonzero(~np.tri(row, col, offset - 1, dtype=bool))
    return _new(np.stack([r, c]).astype(dtypes.as_dtype(dtype) if dtype else np.int64))


# -- linear algebra --------------------------------------------------------------------------
def mm(x: Tensor, y: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors."""
    if x.ndim != 2 or y.ndim != 2:
        raise RuntimeError(f"mm(): {'self' if x.ndim != 2 else 'mat2'} must be a matrix (got "
                           f"shapes {tuple(x.shape)} and {tuple(y.shape)})")  # fmt: skip
    if x.shape[1] != y.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({x.shape[0]}x{x.shape[1]} and "
            f"{y.shape[0]}x{y.shape[1]})"
        )
    return F.matmul(x, y)


def mv(x: Tensor, v: Tensor) -> Tensor:
    """Matrix (n, m) times vector (m,) -> (n,)."""
    if x.ndim != 2 or v.ndim != 1 or x.shape[1] != v.shape[0]:
        raise RuntimeError(f"mv(): expected a matrix and a vector of matching size, got shapes "
                           f"{tuple(x.shape)} and {tuple(v.shape)}")  # fmt: skip
    return F.matmul(x, v)


def bmm(x: Tensor, y: Tensor) -> Tensor:
    """Batched matrix product: (b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting."""
    if x.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor (got shape {tuple(x.shape)})")
    if y.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor (got shape {tuple(y.shape)})")
    if y.shape[0] != x.shape[0] or y.shape[1] != x.shape[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{x.shape[0]}, {x.shape[2]}] but got: [{y.shape[0]}, {y.shape[1]}]."
        )
    return F.matmul(x, y)


def _scaled_sum(inp: Any, prod: Tensor, beta: Any, alpha: Any, op: str) -> Tensor:
    """beta * input + alpha * prod; with beta == 0 the input is ignored (NaN in it does not
    propagate), as torch."""
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:
        inp = as_tensor(inp)
        try:
            np.broadcast_shapes(tuple(inp.shape), tuple(prod.shape))
        except ValueError:
            raise RuntimeError(f"{op}(): input of shape {tuple(inp.shape)} does not broadcast "
                               f"to {tuple(prod.shape)}") from None  # fmt: skip
        return prod
    inp = as_tensor(inp)
    if np.broadcast_shapes(tuple(inp.shape), tuple(prod.shape)) != tuple(prod.shape):
        raise RuntimeError(f"{op}(): input of shape {tuple(inp.shape)} does not broadcast to "
                           f"{tuple(prod.shape)}")  # fmt: skip
    return (inp if beta == 1 else inp * beta) + prod


def addmm(input: Any, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha, "addmm")


def addmv(input: Any, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha, "addmv")


def addr(input: Any, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2)."""
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha, "addr")


def baddbmm(input: Any, batch1: Tensor, batch2: Tensor, *, beta: Any = 1,
            alpha: Any = 1) -> Tensor:  # fmt: skip
    """beta * input + alpha * bmm(batch1, batch2)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha, "baddbmm")


def addbmm(input: Any, batch1: Tensor, batch2: Tensor, *, beta: Any = 1,
           alpha: Any = 1) -> Tensor:  # fmt: skip
    """beta * input + alpha * sum_b batch1[b] @ batch2[b]."""
    return _scaled_sum(input, bmm(batch1, batch2).sum(0), beta, alpha, "addbmm")


def outer(x: Tensor, y: Tensor) -> Tensor:
    """out[i, j] = x[i] * y[j] for 1-D x and y."""
    if x.ndim != 1 or y.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D vectors, got shapes {tuple(x.shape)} and "
                           f"{tuple(y.shape)}")  # fmt: skip
    return F.outer(x, y)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal `offset` of the matrices spanned by dim1 and dim2, as a new last dim."""
    if x.ndim < 2:
        raise RuntimeError(f"diagonal(): expected a tensor of at least 2 dims, got shape "
                           f"{tuple(x.shape)}")  # fmt: skip
    a = _dim(x, dim1, "diagonal")
    b = _dim(x, dim2, "diagonal")
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = F.movedim(x, (a, b), (-2, -1))
    r, c = m.shape[-2:]
    if offset >= 0:
        n = builtins.max(builtins.min(r, c - offset), 0)
        rows, cols = np.arange(n), np.arange(n) + offset
    else:
        n = builtins.max(builtins.min(r + offset, c), 0)
        rows, cols = np.arange(n) - offset, np.arange(n)
    return m[(Ellipsis, rows, cols)]


def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result) with x's last dim on diagonal `offset`."""
    n = x.shape[-1] if x.ndim else 1
    size = n + builtins.abs(offset)
    nd = x.ndim + 1
    a = norm_dims(dim1, nd, "diag_embed")[0]
    b = norm_dims(dim2, nd, "diag_embed")[0]
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    eye = np.eye(n, dtype=bool)
    m = F.where(eye, x.unsqueeze(-1), 0) if x.ndim else x.reshape(1, 1)  # (..., n, n)
    lo = builtins.max(offset, 0), builtins.max(-offset, 0)
    m = F.pad(m, (lo[0], size - n - lo[0], lo[1], size - n - lo[1])) if offset else m
    # m[..., i, j]: i is the row, j the column; put them at dims a and b of the result
    return F.movedim(m, (-2, -1), (a, b)) if (a, b) != (nd - 2, nd - 1) else m


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """1-D x: the square matrix with x on diagonal `diagonal`; 2-D x: that diagonal."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return _diagonal(x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


_diagonal = diagonal


def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    """The square matrix with the flattened x on diagonal `offset`."""
    return diag_embed(x.reshape(-1), offset)


def trace(x: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix (integers sum in int64)."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return _diagonal(x).sum()


def kron(x: Tensor, y: Tensor) -> Tensor:
    """The Kronecker product: out[i*q + k, j*r + l] = x[i, j] * y[k, l] (any number of dims)."""
    nd = builtins.max(x.ndim, y.ndim)
    xs = (1,) * (nd - x.ndim) + tuple(x.shape)
    ys = (1,) * (nd - y.ndim) + tuple(y.shape)
    xa = x.reshape(tuple(v for s in xs for v in (s, 1)))
    ya = y.reshape(tuple(v for s in ys for v in (1, s)))
    return (xa * ya).reshape(tuple(a * b for a, b in zip(xs, ys)))


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """Pairwise p-norm distances: (B, P, M) and (B, R, M) -> (B, P, R) (B optional, any
    number of batch dims that broadcast). The gradient at a zero distance is 0, as torch."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    return F.norm(diff, p, dim=-1)


def dist(x: Tensor, y: Tensor, p: float = 2) -> Tensor:
    """The p-norm of x - y (broadcast)."""
    return F.norm(x - y, p)


def cross(x: Tensor, y: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along dim (the first dim of size 3 when None)."""
    if x.ndim != y.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions "
                           f"(got shapes {tuple(x.shape)} and {tuple(y.shape)})")  # fmt: skip
    if dim is None:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input (shape {tuple(shape)})")
    d = _dim(x, dim, "cross")
    if x.shape[d] != 3 or y.shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {d} must have length 3. Got {x.shape[d]} and "
            f"{y.shape[d]}"
        )
    x, y = _operands(x, y)
    i1, i2 = np.array([1, 2, 0]), np.array([2, 0, 1])
    return F.index_select(x, d, i1) * F.index_select(y, d, i2) - \
        F.index_select(x, d, i2) * F.index_select(y, d, i1)  # fmt: skip


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contracts the last `dims` dims of a with the first of b (or the listed pairs)."""
    if isinstance(dims, (int, np.integer)):
        da = list(range(a.ndim - int(dims), a.ndim))
        db = list(range(int(dims)))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    la = [chr(97 + i) for i in range(a.ndim)]
    lb = [chr(97 + a.ndim + i) for i in range(b.ndim)]
    for i, j in zip(da, db):
        lb[j % b.ndim] = la[i % a.ndim]
    out = [c for c in la if c not in lb] + [c for c in lb if c not in la]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


# -- einsum ----------------------------------------------------------------------------------
_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # torch's order for implicit output


def _parse_term(term: str, ndim: int, k: int) -> list:
    """The labels of one operand: letters, and ('...', i) for its ellipsis dims (numbered
    from the right, so that ellipses of different lengths broadcast)."""
    if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
        raise RuntimeError(f"einsum(): invalid ellipsis in subscripts {term!r}")
    before, dots, after = term.partition("...")
    for c in before + after:
        if c not in _LETTERS:
            raise RuntimeError(f"einsum(): invalid subscript given at index {term.index(c)} in "
                               f"the equation string, subscripts must be in [a-zA-Z]")  # fmt: skip
    n_named = len(before) + len(after)
    if (not dots and n_named != ndim) or (dots and n_named > ndim):
        raise RuntimeError(
            f"einsum(): the number of subscripts in the equation ({n_named}) does not match "
            f"the number of dimensions ({ndim}) for operand {k}"
            f"{' and no ellipsis was given' if not dots else ''}"
        )
    e = ndim - n_named
    return list(before) + [("...", e - 1 - i) for i in range(e)] + list(after)


def _diag_repeats(x: Tensor, labels: list) -> tuple[Tensor, list]:
    """Takes the diagonal over repeated labels of one operand ('ii->i')."""
    while True:
        seen: dict = {}
        for i, lab in enumerate(labels):
            if lab in seen:
                j = seen[lab]
                x = diagonal(x, 0, j, i)  # the diagonal becomes the last dim
                labels = [lb for k, lb in enumerate(labels) if k not in (i, j)] + [lab]
                break
            seen[lab] = i
        else:
            return x, labels


def _sum_labels(x: Tensor, labels: list, drop: set) -> tuple[Tensor, list]:
    dims = [i for i, lab in enumerate(labels) if lab in drop]
    if not dims:
        return x, labels
    return x.sum(tuple(dims)), [lab for lab in labels if lab not in drop]


def _contract(a: Tensor, la: list, b: Tensor, lb: list, keep: set) -> tuple[Tensor, list]:
    """a and b contracted over their common labels not in keep, by one batched matmul."""
    batch = [lab for lab in la if lab in lb and lab in keep]
    summed = [lab for lab in la if lab in lb and lab not in keep]
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]
    size: dict[Any, int] = {}
    for x, labs in ((a, la), (b, lb)):
        for lab, s in zip(labs, x.shape):
            size[lab] = builtins.max(size.get(lab, 1), s)

    def arrange(x: Tensor, labs: list, order: list) -> Tensor:
        x = x.permute(*[labs.index(lab) for lab in order]) if order != labs else x
        full = [size[lab] for lab in order]
        return F.expand(x, full) if list(x.shape) != full else x  # size-1 dims broadcast

    def n(labs: list) -> int:
        return int(np.prod([size[lab] for lab in labs])) if labs else 1

    am = arrange(a, la, batch + a_only + summed).reshape(n(batch), n(a_only), n(summed))
    bm = arrange(b, lb, batch + summed + b_only).reshape(n(batch), n(summed), n(b_only))
    out = F.matmul(am, bm)
    labels = batch + a_only + b_only
    return out.reshape(tuple(size[lab] for lab in labels)), labels


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation: 'ij,jk->ik' and every other form torch takes (ellipsis, implicit
    output, repeated subscripts for diagonals, size-1 broadcasting). Composite: diagonals,
    sums, permutes, reshapes and one batched matmul per pair of operands, left to right."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = [as_tensor(t) for t in operands]
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(ts):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(ts):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    labels = [_parse_term(t, x.ndim, k) for k, (t, x) in enumerate(zip(terms, ts))]
    n_ell = builtins.max([sum(1 for lab in ls if isinstance(lab, tuple)) for ls in labels])
    ell = [("...", n_ell - 1 - i) for i in range(n_ell)]
    sizes: dict = {}
    for k, (x, ls) in enumerate(zip(ts, labels)):
        for lab, s in zip(ls, x.shape):
            prev = sizes.get(lab, 1)
            if s != 1 and prev != 1 and s != prev:
                name = "..." if isinstance(lab, tuple) else lab
                raise RuntimeError(
                    f"einsum(): subscript {name} has size {s} for operand {k} which does not "
                    f"broadcast with previously seen size {prev}"
                )
            sizes[lab] = builtins.max(prev, s)
    if arrow:
        out_labels = _parse_term(rhs, len(rhs.replace("...", "")) + n_ell, -1) if "..." in rhs \
            else list(rhs)  # fmt: skip
        named = [lab for lab in out_labels if not isinstance(lab, tuple)]
        for lab in named:
            if named.count(lab) > 1:
                raise RuntimeError(f"einsum(): output subscript {lab} appears more than once in "
                                   f"the output")  # fmt: skip
            if not builtins.any(lab in ls for ls in labels):
                raise RuntimeError(f"einsum(): output subscript {lab} does not appear in the "
                                   f"equation for any input operand")  # fmt: skip
            if lab not in _LETTERS:
                raise RuntimeError("einsum(): subscripts must be in [a-zA-Z]")
        if "..." not in rhs and n_ell:
            # without '...' in the output, the ellipsis dims are summed over
            pass
    else:
        counts: dict = {}
        for ls in labels:
            for lab in ls:
                if not isinstance(lab, tuple):
                    counts[lab] = counts.get(lab, 0) + 1
        out_labels = ell + sorted((lab for lab, c in counts.items() if c == 1), key=_LETTERS.index)
    keep_final = set(out_labels)
    # one operand at a time: diagonals of repeated labels, then sums over labels no one else needs
    prepared = []
    for k, (x, ls) in enumerate(zip(ts, labels)):
        x, ls = _diag_repeats(x, ls)
        others = set(out_labels)
        for j, lj in enumerate(labels):
            if j != k:
                others |= set(lj)
        x, ls = _sum_labels(x, ls, {lab for lab in ls if lab not in others})
        prepared.append((x, ls))
    acc, la = prepared[0]
    for k in range(1, len(prepared)):
        b, lb = prepared[k]
        keep = set(keep_final)
        for _, lj in prepared[k + 1 :]:
            keep |= set(lj)
        acc, la = _sum_labels(acc, la, {lab for lab in la if lab not in keep and lab not in lb})
        b, lb = _sum_labels(b, lb, {lab for lab in lb if lab not in keep and lab not in la})
        acc, la = _contract(acc, la, b, lb, keep)
    acc, la = _sum_labels(acc, la, {lab for lab in la if lab not in keep_final})
    missing = [lab for lab in out_labels if lab not in la]  # ellipsis dims no operand had
    for lab in missing:
        acc, la = acc.unsqueeze(-1), la + [lab]
    if la != out_labels:
        acc = acc.permute(*[la.index(lab) for lab in out_labels])
    target = tuple(sizes.get(lab, 1) for lab in out_labels)
    return F.expand(acc, target) if tuple(acc.shape) != target else acc


# -- elementwise -----------------------------------------------------------------------------
def _floating(x: Tensor) -> Tensor:
    return x if x.dtype.kind in "fc" else x.to(dtypes.get_default_dtype())


def clamp_min(x: Tensor, min: Any) -> Tensor:
    """max(x, min)."""
    return F.clamp(x, min, None)


def clamp_max(x: Tensor, max: Any) -> Tensor:
    """min(x, max)."""
    return F.clamp(x, None, max)


def lerp(x: Tensor, end: Any, weight: Any) -> Tensor:
    """x + weight * (end - x)."""
    return x + (end - x) * weight


def addcmul(x: Any, t1: Any, t2: Any, *, value: Any = 1) -> Tensor:
    """x + value * t1 * t2."""
    p = as_tensor(t1) * t2
    return as_tensor(x) + (p * value if value != 1 else p)


def addcdiv(x: Any, t1: Any, t2: Any, *, value: Any = 1) -> Tensor:
    """x + value * t1 / t2."""
    q = as_tensor(t1) / t2
    return as_tensor(x) + (q * value if value != 1 else q)


def fmod(x: Any, y: Any) -> Tensor:
    """x - trunc(x / y) * y: the remainder with the dividend's sign (C's fmod);
    dx = 1, dy = -trunc(x / y)."""
    a, b = _operands(as_tensor(x), y)
    bd = _arr(b)  # a Python number stays weak: it takes a's dtype
    if a.dtype.kind in "biu":
        if (np.asarray(bd) == 0).any():
            raise RuntimeError("ZeroDivisionError: fmod by zero (integer tensors)")
        return _new(_views.iterator_layout(np.asarray(np.fmod(a._data, bd)), a._data, bd))
    approx = a - (a / b).trunc() * b
    exact = np.fmod(a._data, bd)
    # the composite sets the gradient; the exact value corrects its last-bit rounding
    return approx + _new((exact - approx._data).astype(approx.dtype))


def remainder(x: Any, y: Any) -> Tensor:
    """x - floor(x / y) * y: the remainder with the divisor's sign (Python's %)."""
    return as_tensor(x) % y if isinstance(x, Tensor) or not isinstance(y, Tensor) else x % y


def floor_divide(x: Any, y: Any) -> Tensor:
    """floor(x / y) (integer tensors stay integer)."""
    return as_tensor(x) // y if isinstance(x, Tensor) or not isinstance(y, Tensor) else x // y


def true_divide(x: Any, y: Any) -> Tensor:
    return as_tensor(x) / y


def atan2(y: Any, x: Any) -> Tensor:
    """The angle of (x, y) in (-pi, pi]; integers are promoted to float."""
    a, b = _operands(as_tensor(y), x, floats=True)
    return ops.Atan2.apply(a, as_tensor(b) if not isinstance(b, Tensor) else b)


arctan2 = atan2


def hypot(x: Any, y: Any) -> Tensor:
    """sqrt(x^2 + y^2)."""
    a, b = _operands(as_tensor(x), y, floats=True)
    return (a * a + b * b).sqrt()


def erf(x: Tensor) -> Tensor:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt."""
    return ops.Erf.apply(_floating(x))


def erfc(x: Tensor) -> Tensor:
    """1 - erf(x), to full relative accuracy where it is tiny (ops/gamma.py)."""
    return ops.Erfc.apply(_floating(x))


def erfinv(x: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1)."""
    return ops.Erfinv.apply(_floating(x))


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:  # fmt: skip
    """NaN -> nan, +inf -> posinf (the dtype's max), -inf -> neginf (its min); the gradient
    passes where nothing was replaced."""
    if x.dtype.kind != "f":
        return x.clone()
    info = np.finfo(x.dtype)
    d = x._data
    out = F.where(np.isnan(d), float(nan), x)
    out = F.where(np.isposinf(d), float(info.max if posinf is None else posinf), out)
    return F.where(np.isneginf(d), float(info.min if neginf is None else neginf), out)


def nansum(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The sum over dim with NaNs counted as 0."""
    z = F.where(np.isnan(x._data), 0.0, x) if x.dtype.kind == "f" else x
    return z.sum(dim, keepdim, dtype=dtype)


def nanmean(x: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The mean over dim of the non-NaN elements."""
    if x.dtype.kind != "f":
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{dtypes.torch_name(x.dtype)}")  # fmt: skip
    x = x if dtype is None else x.to(dtype)
    dims = norm_dims(dim, x.ndim, "nanmean")
    valid = (~np.isnan(x._data)).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
    return nansum(x, dim, keepdim) / _new(np.asarray(valid))


def std_mean(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
             *, correction: Any = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(std, mean) over dim."""
    return (F.std(x, dim, unbiased=unbiased, keepdim=keepdim, correction=correction),
            F.mean(x, dim, keepdim))  # fmt: skip


def var_mean(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
             *, correction: Any = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(var, mean) over dim."""
    return (F.var(x, dim, unbiased=unbiased, keepdim=keepdim, correction=correction),
            F.mean(x, dim, keepdim))  # fmt: skip


def diff(x: Tensor, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
    """The n-th forward difference along dim (after joining prepend and append)."""
    d = _dim(x, dim, "diff")
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    parts = [t for t in (prepend, x, append) if t is not None]
    out = F.cat([as_tensor(t) for t in parts], d) if len(parts) > 1 else x
    for _ in range(n):
        m = out.shape[d]
        if m == 0:
            break
        hi, lo = F.narrow(out, d, 1, m - 1), F.narrow(out, d, 0, m - 1)
        out = (hi != lo) if out.dtype.kind == "b" else hi - lo
    return out


# -- logical, bitwise, comparisons -----------------------------------------------------------
def _logical(fn: Any, x: Any, y: Any, op: str) -> Tensor:
    a, b = _arr(x), _arr(y)
    try:
        return _new(_views.iterator_layout(np.asarray(fn(a, b)), a, b))
    except ValueError:
        raise RuntimeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast "
                           f"together") from None  # fmt: skip


def logical_and(x: Any, y: Any) -> Tensor:
    """x != 0 and y != 0, elementwise (bool)."""
    return _logical(np.logical_and, x, y, "logical_and")


def logical_or(x: Any, y: Any) -> Tensor:
    """x != 0 or y != 0, elementwise (bool)."""
    return _logical(np.logical_or, x, y, "logical_or")


def logical_xor(x: Any, y: Any) -> Tensor:
    """Exactly one of x, y non-zero, elementwise (bool)."""
    return _logical(np.logical_xor, x, y, "logical_xor")


def logical_not(x: Any) -> Tensor:
    """x == 0, elementwise (bool)."""
    a = _arr(x)
    return _new(_views.iterator_layout(np.asarray(np.logical_not(a)), a))


def _bitwise(name: str, x: Any, y: Any) -> Tensor:
    a = as_tensor(x)
    return ops.elementwise.bitwise(name, *_operands(a, y))


def bitwise_and(x: Any, y: Any) -> Tensor:
    return _bitwise("bitwise_and", x, y)


def bitwise_or(x: Any, y: Any) -> Tensor:
    return _bitwise("bitwise_or", x, y)


def bitwise_xor(x: Any, y: Any) -> Tensor:
    return _bitwise("bitwise_xor", x, y)


def bitwise_not(x: Tensor) -> Tensor:
    return ~x


def _shift(fn: Any, x: Any, y: Any, op: str) -> Tensor:
    a, b = _operands(as_tensor(x), y)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f'"{op}_cpu" not implemented for '
                           f"'{dtypes.torch_name(a.dtype)}'")  # fmt: skip
    x, y = a._data, _arr(b)
    return _new(_views.iterator_layout(np.asarray(fn(x, y)).astype(a.dtype), x, y))


def bitwise_left_shift(x: Any, y: Any) -> Tensor:
    return _shift(np.left_shift, x, y, "lshift")


def bitwise_right_shift(x: Any, y: Any) -> Tensor:
    return _shift(np.right_shift, x, y, "rshift")


def _all_any(fn: Any, x: Tensor, dim: Any, keepdim: bool, op: str) -> Tensor:
    data = _arr(x)
    dims = norm_dims(dim, data.ndim, op) if dim is not None else None
    out = _views.contiguous_layout(np.asarray(fn(data, axis=dims, keepdims=keepdim)))
    # torch: uint8 in, uint8 out; every other dtype gives bool
    return _new(out.astype(np.uint8) if data.dtype == np.uint8 else out)


def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element over dim (all when None) is non-zero."""
    return _all_any(np.all, x, dim, keepdim, "all")


def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether some element over dim (all when None) is non-zero."""
    return _all_any(np.any, x, dim, keepdim, "any")


def isclose(x: Any, y: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:  # fmt: skip
    """|x - y| <= atol + rtol * |y|, elementwise (bool); infinities equal themselves."""
    a, b = as_tensor(x), as_tensor(y)
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"isclose(): {dtypes.torch_name(a.dtype)} did not match {dtypes.torch_name(b.dtype)}"
        )
    try:
        return _new(np.asarray(np.isclose(a._data, b._data, rtol=rtol, atol=atol,
                                          equal_nan=equal_nan)))  # fmt: skip
    except ValueError:
        raise RuntimeError(f"isclose: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           f"broadcast together") from None  # fmt: skip


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:  # fmt: skip
    """Whether each element occurs in test_elements (bool, elements' shape)."""
    return _new(np.asarray(np.isin(_arr(elements), _arr(test_elements), invert=invert)))


def is_floating_point(x: Tensor) -> bool:
    return x.is_floating_point()


def is_nonzero(x: Tensor) -> bool:
    if x.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {x.numel()} values is ambiguous")
    return bool(x._data.reshape(-1)[0])


# -- shapes ----------------------------------------------------------------------------------
def tensor_split(x: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Splits x along dim into n nearly equal parts (the first n % size get one more) or at
    the given indices; every part is a slice of x."""
    d = _dim(x, dim, "tensor_split")
    if x.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")  # fmt: skip
    n = x.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.dtype.kind not in "iu" or ios.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a "
                "zero-dimensional or one-dimensional tensor of integers"
            )
        ios = int(ios.item()) if ios.ndim == 0 else [int(i) for i in ios._data]
    if isinstance(ios, (int, np.integer)):
        k = int(ios)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        bounds = [0]
        for i in range(k):
            bounds.append(bounds[-1] + q + (1 if i < r else 0))
        edges = list(zip(bounds[:-1], bounds[1:]))
    else:
        cuts = [builtins.min(builtins.max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in ios]
        starts = [0] + cuts
        stops = cuts + [n]
        edges = list(zip(starts, stops))
    pre = (slice(None),) * d
    return tuple(x[pre + (slice(a, builtins.max(a, b)),)] for a, b in edges)


def hsplit(x: Tensor, sections: Any) -> tuple[Tensor, ...]:
    return tensor_split(x, sections, 1 if x.ndim > 1 else 0)


def vsplit(x: Tensor, sections: Any) -> tuple[Tensor, ...]:
    return tensor_split(x, sections, 0)


def repeat_interleave(x: Any, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:  # fmt: skip
    """Each element (or slice along dim) repeated `repeats` times (an int, or one count per
    element); with dim None, over the flattened tensor. repeat_interleave(counts) alone
    gives arange(len(counts)) with each index repeated counts[i] times."""
    if repeats is None:  # the one-argument form
        counts = _ints(x, "repeat_interleave", "repeats")
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
        return _new(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    x = as_tensor(x)
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        d = _dim(x, dim, "repeat_interleave")
        if x.ndim == 0:
            x = x.reshape(1)
    n = x.shape[d]
    r = np.asarray(_arr(repeats))
    if r.dtype.kind not in "iu":
        raise RuntimeError(f"repeat_interleave: repeats must be an integer (got {r.dtype})")
    if r.ndim > 1:
        raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
    if r.ndim == 1 and r.size not in (1, n):
        raise RuntimeError(
            f"repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{r.size} and input.size({d}) = {n}"
        )
    if (r < 0).any():
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    src = np.repeat(np.arange(n), r.reshape(-1) if r.size != 1 else int(r.reshape(-1)[0]))
    if output_size is not None and output_size != src.size:
        raise RuntimeError(f"repeat_interleave: allocated size {output_size} does not match "
                           f"the required size {src.size}")  # fmt: skip
    return x[(slice(None),) * d + (src,)]


def tile(x: Tensor, dims: Sequence[int]) -> Tensor:
    """x repeated dims[i] times along each dim (missing leading counts are 1)."""
    dims = _size((dims,)) if not isinstance(dims, (int, np.integer)) else (int(dims),)
    dims = (1,) * (x.ndim - len(dims)) + tuple(dims)
    return x.repeat(*dims)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    return x.broadcast_to(shape)


def broadcast_shapes(*shapes: Any) -> tuple:
    """The shape that all of `shapes` broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes]))  # fmt: skip
    except ValueError:
        raise RuntimeError(f"shape mismatch: shapes {list(shapes)} cannot be broadcast to a "
                           f"single shape") from None  # fmt: skip


def broadcast_tensors(*tensors: Any) -> tuple[Tensor, ...]:
    """The tensors expanded to their common shape (as views; gradients sum back)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [as_tensor(t) for t in tensors]
    shape = broadcast_shapes(*[t.shape for t in ts])
    return tuple(F.expand(t, shape) for t in ts)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: with indexing 'ij' (the default) output k varies
    along dim k; with 'xy' the first two dims are swapped (Cartesian, as numpy's default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")  # fmt: skip
    ts = [as_tensor(t) for t in tensors]
    for t in ts:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got shape {tuple(t.shape)}")  # fmt: skip
    ts = [t.reshape(-1) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    order = [1, 0] + list(range(2, len(ts))) if swap else list(range(len(ts)))
    shape = tuple(ts[i].shape[0] for i in order)
    out = []
    for k, t in enumerate(ts):
        pos = order.index(k)
        view = [1] * len(ts)
        view[pos] = t.shape[0]
        out.append(F.expand(t.reshape(tuple(view)), shape))
    return tuple(out)


def rot90(x: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """x rotated by 90 degrees k times in the plane of dims (from the first towards the
    second)."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    a, b = _dim(x, dims[0], "rot90"), _dim(x, dims[1], "rot90")
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and "
                           f"dim1 = {b}")  # fmt: skip
    k %= 4
    if k == 1:
        return x.flip(b).transpose(a, b)
    if k == 2:
        return x.flip(a, b)
    if k == 3:
        return x.flip(a).transpose(a, b)
    return x.clone()


def fliplr(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return x.flip(1)


def flipud(x: Tensor) -> Tensor:
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return x.flip(0)


def _atleast(n: int, tensors: tuple) -> Any:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = []
    for t in tensors:
        t = as_tensor(t)
        if t.ndim < n:
            shape = {1: (1,), 2: (1, 1), 3: (1, 1, 1)}[n] if t.ndim == 0 else (
                (1,) + tuple(t.shape) if n == 2 or t.ndim == 2 else (1,) + tuple(t.shape) + (1,)
            )  # fmt: skip
            t = t.reshape(shape)
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors: Any) -> Any:
    return _atleast(1, tensors)


def atleast_2d(*tensors: Any) -> Any:
    return _atleast(2, tensors)


def atleast_3d(*tensors: Any) -> Any:
    return _atleast(3, tensors)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    ts = atleast_1d(*tensors)
    ts = ts if isinstance(ts, tuple) else (ts,)
    return F.cat(list(ts), 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    ts = atleast_2d(*tensors)
    return F.cat(list(ts if isinstance(ts, tuple) else (ts,)), 0)


row_stack = vstack


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in ts]
    return F.cat(ts, 1)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    ts = atleast_3d(*tensors)
    return F.cat(list(ts if isinstance(ts, tuple) else (ts,)), 2)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """x without the size-1 dims among dim (an int or a tuple; all when None)."""
    return F.squeeze(x, dim)


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    return x.transpose(axis0, axis1)


swapdims = swapaxes
moveaxis = F.movedim


def type_as(x: Tensor, other: Tensor) -> Tensor:
    return x.to(other.dtype)

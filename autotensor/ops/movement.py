"""Movement primitives: reshape, permute, broadcast, indexing, concatenation, padding.

Their backward rules are each other: BroadcastTo <-> sum_to, GetItem <-> IndexAccumulate,
Gather <-> ScatterAdd, Cat <-> Split, so every gradient stays differentiable.
"""

from __future__ import annotations

import numpy as np

from autotensor import _views, dtypes
from autotensor.function import Function
from autotensor.ops.reduce import norm_dims
from autotensor.tensor import _new
from autotensor.testing.sample import Sample


class Reshape(Function):
    """out = x viewed with `shape` (-1 inferred);  dx = g reshaped back."""

    takes_arrays = True
    returns_views = True  # Note [Views]

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return np.reshape(x, shape)
        except ValueError:
            raise RuntimeError(
                f"reshape: shape {list(shape)} is invalid for input of size {x.size} "
                f"(shape {x.shape})"
            ) from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), (2, 6))
        yield Sample(rng.normal(size=(4, 3)).T, (12,), note="transposed")
        yield Sample(rng.normal(size=()), (1, 1), note="0-d")
        yield Sample(rng.normal(size=(0, 3)), (3, 0), note="empty")
        yield Sample(rng.normal(size=(3, 1, 2)), (3, 2), note="size-1")


class Permute(Function):
    """out = x with its dims reordered by `dims`;  dx = g permuted back."""

    takes_arrays = True
    returns_views = True  # Note [Views]

    @staticmethod
    def forward(ctx, x, dims):
        if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
            raise RuntimeError(
                f"permute: dims {list(dims)} are not a permutation of the {x.ndim} dims of a "
                f"tensor of shape {x.shape}"
            )
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, g):
        return g.permute(*np.argsort([d % g.ndim for d in ctx.dims]).tolist())

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2, 3, 4)), (2, 0, 1))
        yield Sample(rng.normal(size=(3, 4)), (1, 0))
        yield Sample(rng.normal(size=(2, 3, 4)), (-1, 0, 1), note="negative")
        yield Sample(rng.normal(size=()), (), note="0-d")
        yield Sample(rng.normal(size=(4, 1, 3)).transpose(2, 1, 0), (1, 2, 0),
                     note="transposed, size-1")  # fmt: skip
        yield Sample(rng.normal(size=(0, 3)), (1, 0), note="empty")


class BroadcastTo(Function):
    """out = x broadcast to `shape` (a view);  dx = sum_to(g, x.shape).

    The one place where broadcasting gradients are reduced (Note [Broadcasting])."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return broadcast_view(x, tuple(shape))

    @staticmethod
    def backward(ctx, g):
        from autotensor.functional import sum_to

        return sum_to(g, ctx.shape)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3,)), (2, 3))
        yield Sample(rng.normal(size=(3, 1)), (2, 3, 4))
        yield Sample(rng.normal(size=()), (2, 2), note="0-d")
        yield Sample(rng.normal(size=(1, 3)), (0, 3), note="empty")
        yield Sample(rng.normal(size=(0, 1)), (2, 0, 3), note="empty input")
        yield Sample(rng.normal(size=(3, 2)).T[:1], (4, 3), note="transposed")


def broadcast_view(x: np.ndarray, shape: tuple, lead_span: bool = False) -> np.ndarray:
    """x broadcast to shape as a read-only view (np.broadcast_to, several times cheaper for
    the contiguous arrays of the hot path: a 0-d gradient expanded back over a summed input
    is the commonest case). New leading dims have stride 0, as an elementwise op sees its
    operands' missing dims; with `lead_span`, torch's expand's: a new dim of size 1 spans
    the next one (never read for memory, but later layout tie-breaks read it)."""
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the shape {x.shape} cannot be expanded to {shape}")
    if x.ndim == 0:
        strides: tuple = (0,) * lead
    else:
        st = []
        for s, t, k in zip(x.shape, shape[lead:], x.strides):
            if s == t:
                st.append(k)
            elif s == 1:
                st.append(0)
            else:
                raise RuntimeError(f"expand: the shape {x.shape} cannot be expanded to {shape}")
        st = [0] * lead + st
        for i in range(lead - 1, -1, -1) if lead_span else ():
            st[i] = shape[i + 1] * st[i + 1] if shape[i] == 1 else 0
        strides = tuple(st)
    if not x.flags.c_contiguous or x.size == 0 or 0 in shape:
        out = np.broadcast_to(x, shape)
        if out.strides == strides or not out.size:
            return out
        out = _strided_view(x, shape, strides)  # numpy zeroes the strides of size-1 dims
    else:
        out = np.ndarray(shape, x.dtype, x, 0, strides)
    out.flags.writeable = False
    return out


def _is_int(i) -> bool:
    return (
        isinstance(i, (int, np.integer))
        and not isinstance(i, (bool, np.bool_))
        or (isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu")
    )


def _is_advanced(i) -> bool:
    return isinstance(i, (list, np.ndarray, bool, np.bool_)) and not _is_int(i)


def torch_steps(index) -> tuple | None:
    """Note [Index order]: torch applies the integers of an index first, as `select`s that
    remove their dims, and only then the advanced (array and mask) indices, numpy-style, on
    what is left; numpy counts integers among the advanced indices, which moves the result's
    dims (zeros(2, 3, 4)[0, :, [0, 1]] is (3, 2) in torch, (2, 3) in numpy). Returns None when
    the two agree, else (pre, post): a basic index of the integers, and the rest."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(_is_int(i) for i in items) or not any(_is_advanced(i) for i in items):
        return None
    pre: list = []
    post: list = []
    for i in items:
        if _is_int(i):
            pre.append(int(i))
        elif i is None:
            post.append(None)
        elif i is Ellipsis:
            pre.append(Ellipsis)
            post.append(Ellipsis)
        else:
            arr = np.asarray(i)  # a bool mask consumes its own number of dims (a bool: 0)
            consumed = arr.ndim if arr.dtype == np.bool_ else 1
            pre.extend([slice(None)] * consumed)
            post.append(i)
    return tuple(pre), tuple(post)


def take(x: np.ndarray, index) -> np.ndarray:
    """x[index] with torch's order of result dims (Note [Index order])."""
    try:
        return _take(x, index)
    except IndexError:
        # torch checks an index array's bounds only on the elements it reads: an empty
        # result (zeros(0, 3)[:, [5]]) is no error
        out = _take(x, _clip_index(index, x.shape, x.ndim))
        if out.size:
            raise
        return out


def _width(i) -> int:
    """How many dims of the indexed array an index item consumes."""
    if i is None or i is Ellipsis:
        return 0
    if _is_advanced(i):
        a = np.asarray(i)
        return a.ndim if a.dtype == np.bool_ else 1
    return 1


def _drop_empty_ellipsis(index, ndim: int):
    """torch decides whether advanced indices are adjacent after `...` is expanded; numpy
    counts a `...` that covers no dims as separating them (it then moves their dims first)."""
    if type(index) is not tuple or not any(i is Ellipsis for i in index):
        return index
    if ndim - sum(_width(i) for i in index) or not any(_is_advanced(i) for i in index):
        return index
    return tuple(i for i in index if i is not Ellipsis)


def _take(x: np.ndarray, index) -> np.ndarray:
    index = _drop_empty_ellipsis(index, x.ndim)
    steps = torch_steps(index)
    src, index = (x, index) if steps is None else (x[steps[0]], steps[1])
    out = src[index]
    if out.__class__ is np.ndarray and out.ndim > 1 and not np.may_share_memory(out, x):
        # a copy (advanced indexing): laid out as torch's, whose numpy's may not be
        # (x[:, [0, 1]] can come out transposed), or a later view() would differ
        out = _index_layout(src, index, out)
    elif index is None or (type(index) is tuple and any(i is None for i in index)):
        out = _new_dim_strides(src, index, out)
    return out


def _new_dim_strides(x: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """out = x[index] (a view when the index is basic) with torch's strides for the dims
    that None makes: numpy gives them 0, torch's unsqueeze the size times the stride of the
    dim of x that follows (the item size at the end). They never move through memory, but
    the layout of later elementwise results reads them (Note [Result layouts])."""
    items = index if type(index) is tuple else (index,)
    if not np.may_share_memory(out, x) or any(_is_advanced(i) for i in items):
        return out
    n_ell = x.ndim - sum(_width(i) for i in items)
    strides = list(out.strides)
    d = p = 0  # the next dim of x and of out
    for i in items:
        if i is None:
            strides[p] = x.shape[d] * x.strides[d] if d < x.ndim else x.itemsize
            p += 1
        elif i is Ellipsis:
            d, p = d + n_ell, p + n_ell
        else:  # a slice keeps its dim, an integer removes it
            d, p = d + 1, p + isinstance(i, slice)
    return _strided_view(out, out.shape, tuple(strides))


def _index_layout(src: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """out = src[index] (index with advanced parts, no integers) laid out as torch's index
    lays it out: an elementwise result (TensorIterator) over src with the indexed dims
    replaced by the index's (stride 0) and the index arrays (stride 0 off their dims). The
    index dims stand where the indexed dims were when those are adjacent, else first."""
    items = index if type(index) is tuple else (index,)
    n_ell = src.ndim - sum(_width(i) for i in items)
    basic: list = []
    arrays: list = []
    positions: list = []  # the dims of the basic view that the arrays index
    for i in items:
        if i is Ellipsis:
            basic.extend([slice(None)] * n_ell)
        elif i is None or isinstance(i, slice):
            basic.append(i)
        elif _is_advanced(i):
            a = np.asarray(i)
            if a.dtype == np.bool_:
                if a.ndim == 0:
                    return _views.contiguous_layout(out)
                arrays.extend(np.nonzero(a))  # torch's mask: its nonzero indices
            else:
                arrays.append(a)
            for _ in range(a.ndim if a.dtype == np.bool_ else 1):
                positions.append(len(basic))
                basic.append(slice(None))
        else:
            return _views.contiguous_layout(out)
    if not arrays or out.size == 0:  # a view (an empty one shares no memory) or nothing
        return out
    v = src[tuple(basic)]
    b_shape = np.broadcast_shapes(*(a.shape for a in arrays))
    rest = [d for d in range(v.ndim) if d not in positions]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    at_ = positions[0] if adjacent else 0
    dims = rest[:at_] + [None] * len(b_shape) + rest[at_:]  # None: an index dim
    shape = tuple(v.shape[d] if d is not None else 0 for d in dims)
    shape = tuple(n if d is not None else b_shape[k - at_] for k, (n, d) in
                  enumerate(zip(shape, dims)))  # fmt: skip
    if shape != out.shape:
        return _views.contiguous_layout(out)
    src_strides = tuple(v.strides[d] if d is not None else 0 for d in dims)
    idx_strides = []
    nb = len(b_shape)
    for a in arrays:
        bs = np.broadcast_to(a, b_shape).strides
        # torch views each index as (1,)*before + b_shape + (1,)*after: its view strides for
        # those size-1 dims (the whole index's span before, its last stride after) take part
        # in the order's tie-breaks
        lead, tail = (b_shape[0] * bs[0], bs[-1]) if nb else (a.itemsize, a.itemsize)
        idx_strides.append(tuple(
            bs[k - at_] if d is None else (lead if k < at_ else tail) if v.shape[d] == 1 else 0
            for k, d in enumerate(dims)
        ))  # fmt: skip
    return _views.in_order(out, _views.stride_order(out.shape, src_strides, *idx_strides))


def _clip_index(index, shape: tuple, ndim: int):
    """index with its integer arrays clipped into range (only for the result's shape)."""
    items = index if isinstance(index, tuple) else (index,)

    def width(i) -> int:
        if i is None or i is Ellipsis:
            return 0
        a = np.asarray(i) if _is_advanced(i) else None
        return a.ndim if a is not None and a.dtype == np.bool_ else 1

    out: list = []
    d = 0
    for i in items:
        if i is Ellipsis:
            d += ndim - sum(width(j) for j in items)
        elif _is_advanced(i) and np.asarray(i).dtype != np.bool_ and d < ndim and shape[d]:
            out.append(np.clip(np.asarray(i), -shape[d], shape[d] - 1))
            d += 1
            continue
        else:
            d += width(i)
        out.append(i)
    return tuple(out)


def check_put_dtype(out_dtype: np.dtype, index, value, shape: tuple) -> None:
    """torch's index_put (an index with integer arrays or masks) takes a value tensor only of
    the destination's dtype; basic indexing casts (copy_), and so does a single mask with a
    one-element value, which torch writes with masked_fill. `shape` is the destination's."""
    vd = getattr(value, "dtype", None)
    if vd is None or vd == out_dtype:
        return
    items = index if isinstance(index, tuple) else (index,)
    adv = [i for i in items if _is_advanced(i)]
    if adv and not is_masked_fill(adv, value):
        # torch broadcasts the indices, and refuses a size-0 dim indexed by a non-empty
        # index, before it looks at dtypes
        b_shape = _check_index_shapes(adv)
        if 0 not in b_shape and 0 in _indexed_sizes(items, shape):
            raise IndexError("index is out of bounds for dimension with size 0")
        check_int_items(shape, items)  # torch selects with the integers first
        try:  # (an index array out of range is found only later, when torch writes)
            region = take(np.empty(shape, np.bool_), index).shape
        except IndexError:
            region = None
        vs = strip_leading_ones(value).shape if value.ndim else ()
        try:
            if region is not None:
                np.broadcast_shapes(tuple(vs), region)
        except ValueError:
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast "
                f"to indexing result of shape {list(region or ())}"
            ) from None
        raise RuntimeError(
            f"Index put requires the source and destination dtypes match, got "
            f"{dtypes.torch_name(out_dtype)} for the destination and {dtypes.torch_name(vd)} for "
            f"the source."
        )


def _check_index_shapes(adv: list) -> tuple:
    """IndexError when the index arrays (a mask counts as one array per dim) do not broadcast
    together."""
    shapes: list[tuple] = []
    for i in adv:
        a = np.asarray(i)
        shapes += [(int(a.sum()),)] * a.ndim if a.dtype == np.bool_ else [a.shape]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise IndexError(
            "shape mismatch: indexing tensors could not be broadcast together with shapes "
            + ", ".join(str(list(sh)) for sh in shapes)
        ) from None


def check_masks(shape: tuple, index) -> None:
    """IndexError, as torch's, for a bool mask whose shape is not that of the dims it
    indexes (numpy lets a mismatch through when the tensor is empty)."""
    items = index if type(index) is tuple else (index,)
    n_ell = len(shape) - sum(_width(i) for i in items)
    d = 0
    for i in items:
        if i is Ellipsis:
            d += n_ell
            continue
        if isinstance(i, np.ndarray) and i.dtype == np.bool_ and i.ndim:
            for k, n in enumerate(i.shape):
                if d + k < len(shape) and n != shape[d + k]:
                    raise IndexError(
                        f"The shape of the mask {list(i.shape)} at index {k} does not match "
                        f"the shape of the indexed tensor {list(shape)} at index {d + k}"
                    )
        d += _width(i)


def check_int_items(shape: tuple, index) -> None:
    """IndexError, as torch's, for an integer of an index out of range of its dim."""
    items = index if type(index) is tuple else (index,)
    n_ell = len(shape) - sum(_width(i) for i in items)
    d = 0
    for i in items:
        if i is Ellipsis:
            d += n_ell
        elif _is_int(i) and d < len(shape) and not -shape[d] <= int(i) < shape[d]:
            raise IndexError(f"index {int(i)} is out of bounds for dimension {d} with size "
                             f"{shape[d]}")  # fmt: skip
        d += _width(i)


def _indexed_sizes(items: tuple, shape: tuple) -> list[int]:
    """The sizes of the dims of `shape` that the advanced items of an index read."""
    n_ell = len(shape) - sum(_width(i) for i in items)
    sizes: list[int] = []
    d = 0
    for i in items:
        if i is Ellipsis:
            d += n_ell
        elif _is_advanced(i):
            sizes += shape[d : d + _width(i)]
        d += _width(i)
    return sizes


def strip_leading_ones(value):
    """torch's setitem drops a value's leading size-1 dims before writing it (y[1] = ones(1)
    for a 0-d y[1]); numpy would refuse to put a (1,) array into one element."""
    shape = np.shape(value)
    k = 0
    while k < len(shape) and shape[k] == 1:
        k += 1
    if not k:
        return value
    return value.reshape(shape[k:]) if hasattr(value, "reshape") else np.reshape(value, shape[k:])


def is_masked_fill(adv: list, value) -> bool:
    """torch writes x[mask] = v with masked_fill when the index has one advanced part, a bool
    mask, and v has one element (of any shape and dtype)."""
    size = value._data.size if hasattr(value, "_data") else np.size(value)
    return len(adv) == 1 and np.asarray(adv[0]).dtype == np.bool_ and size == 1


def put(out: np.ndarray, index, value) -> None:
    """out[index] = value with torch's index semantics (Note [Index order])."""
    value = strip_leading_ones(value)
    if np.ndim(value) and np.size(value) == 0:  # numpy lets any empty value through
        region = np.shape(take(out, index))
        try:
            ok = np.broadcast_shapes(np.shape(value), region) == region
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {list(np.shape(value))} cannot be "
                f"broadcast to indexing result of shape {list(region)}"
            )
    if np.ndim(value) and np.size(value) == 1:
        items = index if isinstance(index, tuple) else (index,)
        if is_masked_fill([i for i in items if _is_advanced(i)], value):
            value = np.reshape(value, ())  # masked_fill takes the one element, any shape
    index = _drop_empty_ellipsis(index, out.ndim)
    steps = torch_steps(index)
    try:
        if steps is None:
            out[index] = value
        else:
            out[steps[0]][steps[1]] = value  # out[pre] is a view: the write reaches out
    except IndexError:
        if take(out, _clip_index(index, out.shape, out.ndim)).size:
            raise  # (as take: an index array out of range writes nothing into an empty region)


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in items)


def _scatter_add_rows(out: np.ndarray, index: np.ndarray, g: np.ndarray) -> None:
    """out[index[k]] += g[k] along axis 0 for an integer index array (repeats add up), as
    np.add.at does, but by sorting the index and summing each run of equal rows with one
    reduceat: ~6x faster on an embedding's backward (2048 lookups into 65 rows)."""
    if index.size == 0:
        return
    flat = index.reshape(-1)
    flat = np.where(flat < 0, flat + out.shape[0], flat)
    order = np.argsort(flat, kind="stable")  # stable: each row sums in add.at's order
    s = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    rows = g.reshape((flat.size,) + out.shape[1:])[order]
    out[s[starts]] += np.add.reduceat(rows, starts, axis=0)


class GetItem(Function):
    """out = x[index] (ints, slices, None, Ellipsis, bool masks, integer arrays);
    dx = zeros with g accumulated at index (repeated indices add up)."""

    takes_arrays = True
    returns_views = True  # Note [Views]

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        out = take(x, index)
        if out.__class__ is not np.ndarray:  # all ints: a 0-d view, as torch's x[i] (Note [Views])
            out = x[(index if type(index) is tuple else (index,)) + (Ellipsis,)]
        return out

    @staticmethod
    def backward(ctx, g):
        return IndexAccumulate.apply(g, index=ctx.index, shape=ctx.shape)

    @staticmethod
    def sample_inputs(rng):
        x = rng.normal(size=(4, 5))
        yield Sample(x, index=(1, slice(0, 4, 2)))
        yield Sample(x, index=(Ellipsis, None, 2))
        yield Sample(x, index=np.array([0, 2, 2, 3]), note="repeated indices")
        yield Sample(x, index=x > 0, note="bool mask")
        yield Sample(x, index=(np.array([0, 1]), np.array([4, 3])))
        yield Sample(rng.normal(size=(3,)), index=-1, note="to 0-d")
        yield Sample(rng.normal(size=()), index=None, note="0-d")
        yield Sample(rng.normal(size=(5, 4)).T, index=(slice(None), np.array([1, 4])),
                     note="transposed")  # fmt: skip
        yield Sample(rng.normal(size=(3, 1)), index=(Ellipsis, 0), note="size-1")
        yield Sample(x, index=np.array([], dtype=np.int64), note="empty result")
        yield Sample(rng.normal(size=(0, 3)), index=(slice(None), 1), note="empty input")


class IndexAccumulate(Function):
    """out = zeros(shape) with g added at index;  dg = out_grad[index].  (GetItem's backward.)"""

    takes_arrays = True

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=g.dtype)
        index = _drop_empty_ellipsis(index, len(shape))  # as GetItem's take() reads it
        if g.size == 0:  # nothing to add (and an index out of range read nothing: no error)
            return out
        if _is_basic(index):
            out[index] = g
        elif type(index) is np.ndarray and index.dtype.kind in "iu":
            _scatter_add_rows(out, index, g)
        else:
            steps = torch_steps(index)
            if steps is None:
                np.add.at(out, index, g)
            else:
                np.add.at(out[steps[0]], steps[1], g)  # out[pre] is a view of out
        return out

    @staticmethod
    def backward(ctx, gg):
        return GetItem.apply(gg, index=ctx.index)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2,)), index=(1, slice(0, 4, 2)), shape=(4, 5))
        yield Sample(rng.normal(size=(4, 5)), index=np.array([0, 2, 2, 3]), shape=(5, 5))
        yield Sample(rng.normal(size=()), index=(1, 2), shape=(3, 4), note="0-d")
        yield Sample(rng.normal(size=(5, 2)).T, index=np.array([1, 1]), shape=(3, 5),
                     note="transposed")  # fmt: skip
        yield Sample(rng.normal(size=(1, 4)), index=(slice(1, 2),), shape=(3, 4), note="size-1")
        yield Sample(rng.normal(size=(0, 4)), index=np.array([], np.int64), shape=(3, 4),
                     note="empty")  # fmt: skip


class IndexPut(Function):
    """out = x with out[index] = v (x[index] = v, out of place);
    dx = g with zeros at index, dv = sum_to(g[index], v.shape)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, v, index):
        out = x.copy()
        try:
            put(out, index, v)
        except (ValueError, TypeError) as err:  # numpy's shape errors: torch's RuntimeError
            raise RuntimeError(
                f"index_put: shape mismatch: value of shape {np.shape(v)} cannot be broadcast "
                f"to the indexing result (tensor of shape {x.shape}): {err}"
            ) from None
        ctx.index, ctx.vshape = index, np.shape(v)
        return out

    @staticmethod
    def backward(ctx, g):
        from autotensor.functional import sum_to

        gx = IndexPut.apply(g, 0.0, index=ctx.index) if ctx.needs_input_grad[0] else None
        gv = (
            sum_to(GetItem.apply(g, index=ctx.index), ctx.vshape)
            if ctx.needs_input_grad[1]
            else None
        )
        return gx, gv

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(5,)), index=1)
        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(2, 1)), index=(slice(1, 3), [0]))
        yield Sample(rng.normal(size=(4, 5)), 3.0, index=(slice(None), 2), note="scalar")
        yield Sample(rng.normal(size=()), rng.normal(size=()), index=(), note="0-d")
        yield Sample(rng.normal(size=(5, 4)).T, rng.normal(size=(5, 1)).T, index=(slice(0, 1),),
                     note="transposed")  # fmt: skip
        yield Sample(rng.normal(size=(0, 3)), rng.normal(size=(3,)), index=(slice(None),),
                     note="empty")  # fmt: skip


class Cat(Function):
    """out = the inputs joined along `dim`;  each dx = its slice of g."""

    takes_arrays = True
    shape_exemptions = {"0-d": "torch.cat refuses zero-dimensional tensors"}

    @staticmethod
    def forward(ctx, *xs, dim=0):
        if not xs:
            raise RuntimeError("cat: expected a non-empty list of tensors")
        (d,) = norm_dims(dim, xs[0].ndim, "cat") or (0,)
        ctx.dim, ctx.sizes = d, [x.shape[d] for x in xs]
        if not all(x.flags.c_contiguous for x in xs):
            # torch's layout: channels_last when every input suggests it, else contiguous
            shape = list(xs[0].shape)
            shape[d] = sum(ctx.sizes)
            out = _views.empty_in_format(
                tuple(shape), np.result_type(*xs), _views.common_format(xs)
            )
            return np.concatenate(xs, axis=d, out=out)
        return np.concatenate(xs, axis=d)

    @staticmethod
    def backward(ctx, g):
        return Split.apply(g, ctx.sizes, dim=ctx.dim)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), dim=0)
        n = rng.normal
        yield Sample(n(size=(2, 3)), n(size=(2, 1)), n(size=(2, 2)), dim=-1)
        yield Sample(rng.normal(size=(0, 3)), rng.normal(size=(2, 3)), dim=0, note="empty")
        yield Sample(rng.normal(size=(3, 2)).T, rng.normal(size=(1, 3)), dim=0,
                     note="transposed, size-1")  # fmt: skip


def _unfold_shape(shape: tuple, dimension: int, size: int, step: int) -> tuple[int, tuple]:
    """The dim and the result shape of torch's unfold, with its checks and messages."""
    for name, v in (("dimension", dimension), ("size", size), ("step", step)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"unfold(): argument '{name}' must be int, not {type(v).__name__}")
    (d,) = norm_dims(int(dimension), len(shape), "unfold") or (0,)
    n = shape[d] if shape else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if not shape:
        return d, (int(size),)
    windows = (n - size) // step + 1
    return d, shape[:d] + (windows,) + shape[d + 1 :] + (int(size),)


def _strided_view(x: np.ndarray, shape: tuple, strides: tuple) -> np.ndarray:
    """A view of x's memory with these shape and strides whose `.base` is the array owning
    the memory (so that it is recorded as a view of x, Note [Views])."""
    owner = x if x.base is None else x.base
    if isinstance(owner, np.ndarray) and (owner.flags.c_contiguous or owner.flags.f_contiguous):
        offset = x.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
        out = np.ndarray(shape, x.dtype, buffer=owner, offset=offset, strides=strides)
    else:  # memory owned by something else: a plain strided alias
        out = np.lib.stride_tricks.as_strided(x, shape, strides)
    if not x.flags.writeable:
        out.flags.writeable = False
    return out


class Unfold(Function):
    """out = the windows of `size` elements every `step` along `dimension` of x, a view:
    out[..., i, ..., j] = x[..., i * step + j, ...] (the window index replaces the dim, the
    offset in the window is a new last dim);  dx = each window's g added back where it was
    taken (UnfoldBackward). Shapes: x (..., n, ...) -> (..., (n - size) // step + 1, ..., size)."""

    takes_arrays = True
    returns_views = True  # Note [Views]

    @staticmethod
    def forward(ctx, x, dimension, size, step):
        d, shape = _unfold_shape(x.shape, dimension, size, step)
        ctx.shape, ctx.args = x.shape, (d, size, step)
        if x.ndim == 0:
            return _strided_view(x, shape, (x.itemsize,))
        st = x.strides
        return _strided_view(x, shape, st[:d] + (st[d] * step,) + st[d + 1 :] + (st[d],))

    @staticmethod
    def backward(ctx, g):
        return UnfoldBackward.apply(g, ctx.shape, *ctx.args)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 7)), 1, 3, 2)
        yield Sample(rng.normal(size=(5, 2)), 0, 2, 1, note="overlapping windows")
        yield Sample(rng.normal(size=(4, 3)).T, -1, 2, 3, note="transposed, a tail left out")
        yield Sample(rng.normal(size=()), 0, 1, 1, note="0-d")
        yield Sample(rng.normal(size=(2, 1, 3)), 1, 1, 1, note="size-1")
        yield Sample(rng.normal(size=(0, 3)), 1, 2, 1, note="empty")


class UnfoldBackward(Function):
    """out = zeros of `shape` with each window of g added back where Unfold took it (the
    adjoint of Unfold);  dg = unfold(gout)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "g always has the window dims (a 0-d x gives a 1-d g)"}

    @staticmethod
    def forward(ctx, g, shape, d, size, step):
        ctx.args = (d, size, step)
        out = np.zeros(shape, g.dtype)
        if not shape:
            out[...] = g.sum()
            return out
        moved = np.moveaxis(out, d, -1)  # (..., n): a view of out
        gm = np.moveaxis(g, d, -2)  # (..., windows, size)
        for j in range(size):  # windows of one offset never overlap when step >= 1
            moved[..., j : j + step * gm.shape[-2] : step] += gm[..., j]
        return out

    @staticmethod
    def backward(ctx, gg):
        return Unfold.apply(gg, *ctx.args)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 3, 3)), (3, 7), 1, 3, 2)
        yield Sample(rng.normal(size=(4, 2, 2)), (5, 2), 0, 2, 1, note="overlapping windows")
        yield Sample(rng.normal(size=(1,)), (), 0, 1, 1, note="for a 0-d x")
        yield Sample(rng.normal(size=(5, 2, 2)).transpose(1, 0, 2), (3, 5), 0, 2, 1,
                     note="transposed")  # fmt: skip
        yield Sample(rng.normal(size=(0, 2, 2)), (0, 3), 1, 2, 1, note="empty")


class Split(Function):
    """(out_0, out_1, ...) = x cut along `dim` into pieces of `sizes`;  dx = cat(g_0, g_1, ...)."""

    takes_arrays = True
    returns_views = True  # Note [Views]
    shape_exemptions = {"0-d": "a 0-d tensor has no dim to split"}

    @staticmethod
    def forward(ctx, x, sizes, dim=0):
        (d,) = norm_dims(dim, x.ndim, "split") or (0,)
        if sum(sizes) != x.shape[d]:
            raise RuntimeError(
                f"split: sizes {list(sizes)} do not add up to {x.shape[d]}, the size of dim {d} "
                f"of a tensor of shape {x.shape}"
            )
        ctx.dim = d
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=d))

    @staticmethod
    def backward(ctx, *gs):
        return Cat.apply(*gs, dim=ctx.dim)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(5, 3)), [2, 3], dim=0)
        yield Sample(rng.normal(size=(2, 6)), [1, 2, 3], dim=-1)
        yield Sample(rng.normal(size=(3, 4)).T, [1, 3], dim=0, note="transposed, size-1 piece")
        yield Sample(rng.normal(size=(0, 3)), [2, 1], dim=1, note="empty")
        yield Sample(rng.normal(size=(2, 1, 3)), [0, 3], dim=2, note="empty piece, size-1")


class Flip(Function):
    """out = x reversed along `dims`;  dx = g reversed along `dims`."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = norm_dims(dims, x.ndim, "flip")
        # torch's flip copies (the result is no view) into x's layout (preserve_format)
        out = _views.preserved_copy(x)
        out[...] = np.flip(x, ctx.dims)
        return out

    @staticmethod
    def backward(ctx, g):
        return Flip.apply(g, dims=ctx.dims)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), dims=(0,))
        yield Sample(rng.normal(size=(2, 3, 4)), dims=(0, 2))
        yield Sample(rng.normal(size=()), dims=(0,), note="0-d")
        yield Sample(rng.normal(size=(4, 1, 2)).T, dims=(-1,), note="transposed, size-1")
        yield Sample(rng.normal(size=(0, 3)), dims=(0, 1), note="empty")


class Roll(Function):
    """out = x shifted by shifts[i] along dims[i] (cyclically: out[(j + s) % n] = x[j]);
    dx = g shifted back. Shapes: out and dx have x's shape."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        if x.size == 0 or not dims:
            return _views.preserved_copy(x)  # torch: a clone, before the dims are read
        out = x
        for shift, dim in zip(shifts, dims):
            out = _roll_one(out, shift, dim)  # a new array each time
        return out

    @staticmethod
    def backward(ctx, g):
        return Roll.apply(g, shifts=tuple(-s for s in ctx.shifts[::-1]), dims=ctx.dims[::-1])

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), shifts=(1,), dims=(1,))
        yield Sample(rng.normal(size=(2, 3, 4)), shifts=(-2, 5), dims=(0, 2))
        yield Sample(rng.normal(size=(4, 1, 2)).T, shifts=(1, 3), dims=(0, 1),
                     note="transposed, size-1")  # fmt: skip
        yield Sample(rng.normal(size=(0, 3)), shifts=(1,), dims=(1,), note="empty")
        yield Sample(rng.normal(size=()), shifts=(), dims=(), note="0-d")


def _roll_one(x: np.ndarray, shift: int, dim: int) -> np.ndarray:
    """x rolled along one dim as torch does it: the cat of x[start:] and x[:start] along dim,
    so laid out in their common suggested memory format (contiguous when start is 0, since
    one part is then empty)."""
    n = x.shape[dim]
    start = (n - shift) % n
    lead = (slice(None),) * dim
    head, tail = x[lead + (slice(start, None),)], x[lead + (slice(0, start),)]
    fmt = _views.suggest_memory_format(head)
    if fmt is not _views.suggest_memory_format(tail):
        fmt = _views.contiguous_format
    out = _views.empty_in_format(x.shape, x.dtype, fmt)
    out[lead + (slice(0, n - start),)] = head
    out[lead + (slice(n - start, None),)] = tail
    return out


def _scatter_index(index: np.ndarray, dim: int) -> tuple:
    """The full advanced index that addresses, for each element of `index`, its target."""
    grids = np.indices(index.shape, sparse=True)
    return tuple(index if a == dim else grids[a] for a in range(index.ndim))


def _check_index(op: str, x: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != x.ndim:
        raise RuntimeError(
            f"{op}: index {index.shape} and input {x.shape} must have the same number of dims"
        )
    n = x.shape[dim] if x.ndim else 1  # a 0-d tensor is indexed as if it had one element
    if index.size and (index.min() < -n or index.max() >= n):
        bad = int(index.max()) if index.max() >= n else int(index.min())
        raise IndexError(
            f"{op}: index {bad} is out of bounds for dimension {dim} with size {n} "
            f"(input shape {x.shape}, index shape {index.shape})"
        )
    return index


class Gather(Function):
    """out[i][j] = x[index[i][j]][j] (for dim 0; likewise for other dims);
    dx = zeros with g added at the gathered places."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim, index):
        (d,) = norm_dims(dim, x.ndim, "gather") or (0,)
        index = _check_index("gather", x, d, index)
        ctx.dim, ctx.index, ctx.shape = d, index, x.shape
        ctx.save_for_backward(x)  # unused by the rule, but torch saves it: an in-place change
        # of x before backward is refused alike
        return x[_scatter_index(index, d)]

    @staticmethod
    def backward(ctx, g):
        _ = ctx.saved_tensors  # the version check
        zeros = _new(np.zeros(ctx.shape, dtype=g.dtype))
        return ScatterAdd.apply(zeros, ctx.dim, ctx.index, g)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), 1, np.array([[0, 1, 1], [3, 2, 0], [1, 1, 1]]))
        yield Sample(rng.normal(size=(3, 4)), 0, np.array([[0, 1, 2, 0], [2, 2, 1, 0]]))
        yield Sample(rng.normal(size=()), 0, np.array(0), note="0-d")
        yield Sample(rng.normal(size=(4, 3)).T, 1, np.array([[3], [0], [-1]]),
                     note="transposed, size-1, negative index")  # fmt: skip
        yield Sample(rng.normal(size=(3, 4)), 1, np.zeros((3, 0), np.int64), note="empty")


class ScatterAdd(Function):
    """out = x with src[i][j] added at out[index[i][j]][j] (dim 0; likewise for other dims);
    dx = g, dsrc = gather(g, dim, index)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim, index, src):
        (d,) = norm_dims(dim, x.ndim, "scatter_add") or (0,)
        index = _check_index("scatter_add", x, d, index)
        src = np.asarray(src)
        ctx.dim, ctx.index, ctx.src_shape = d, index, src.shape
        out = x.copy()
        np.add.at(out, _scatter_index(index, d), src[tuple(slice(0, n) for n in index.shape)])
        return out

    @staticmethod
    def backward(ctx, g):
        gsrc = None
        if ctx.needs_input_grad[3]:
            gsrc = Gather.apply(g, ctx.dim, ctx.index)
            if gsrc.shape != ctx.src_shape:
                part = tuple(slice(0, n) for n in gsrc.shape)
                gsrc = IndexAccumulate.apply(gsrc, index=part, shape=ctx.src_shape)
        return g, None, None, gsrc

    @staticmethod
    def sample_inputs(rng):
        idx = np.array([[0, 1, 1], [2, 2, 0]])
        yield Sample(rng.normal(size=(3, 3)), 0, idx, rng.normal(size=(2, 3)))
        yield Sample(rng.normal(size=(2, 4)), 1, idx, rng.normal(size=(2, 3)))
        yield Sample(rng.normal(size=(3, 1)), 0, np.array([[2], [2]]), rng.normal(size=(2, 1)),
                     note="size-1")  # fmt: skip
        yield Sample(rng.normal(size=()), 0, np.array(0), rng.normal(size=()), note="0-d")
        yield Sample(rng.normal(size=(4, 3)).T, 0, np.array([[1, 1, 0, 2]]),
                     rng.normal(size=(4, 2)).T, note="transposed, size-1, src larger")  # fmt: skip
        yield Sample(rng.normal(size=(2, 3)), 1, np.zeros((2, 0), np.int64),
                     rng.normal(size=(2, 0)), note="empty")  # fmt: skip


class Pad(Function):
    """out = x with constant `value` padding; `pads` as torch: (last_lo, last_hi, prev_lo, ...);
    dx = the interior slice of g."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, pads, value=0.0):
        if len(pads) % 2 or len(pads) // 2 > x.ndim:
            raise RuntimeError(
                f"pad: padding {list(pads)} must have an even length of at most 2 * {x.ndim} "
                f"(input shape {x.shape})"
            )
        if not any(pads):  # nothing to pad (a 0-d input can only be padded by nothing)
            ctx.inner = (Ellipsis,)
            return _views.preserved_copy(x)  # torch's clone
        width = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            width[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(width, x.shape))
        if x.flags.c_contiguous:
            return np.pad(x, width, mode="constant", constant_values=value)
        # torch's layout: x's suggested memory format (channels_last or contiguous)
        shape = tuple(lo + n + hi for (lo, hi), n in zip(width, x.shape))
        out = _views.empty_in_format(shape, x.dtype, _views.suggest_memory_format(x))
        out[...] = value
        out[ctx.inner] = x
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner]

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2, 3, 4)), (1, 2))
        yield Sample(rng.normal(size=(2, 3, 4)), (1, 0, 2, 1), value=1.5)
        yield Sample(rng.normal(size=()), (), note="0-d")
        yield Sample(rng.normal(size=(4, 1, 2)).T, (2, 1, 0, 1), note="transposed, size-1")
        yield Sample(rng.normal(size=(0, 3)), (1, 1), note="empty")

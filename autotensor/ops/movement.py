"""Movement primitives: reshape, permute, broadcast, indexing, concatenation, padding.

Their backward rules are each other: BroadcastTo <-> sum_to, GetItem <-> IndexAccumulate,
Gather <-> ScatterAdd, Cat <-> Split, so every gradient stays differentiable.
"""

from __future__ import annotations

import numpy as np

from autotensor.function import Function
from autotensor.ops.reduce import norm_dims
from autotensor.testing.sample import Sample
from autotensor.tensor import _new


class Reshape(Function):
    """out = x viewed with `shape` (-1 inferred);  dx = g reshaped back."""

    takes_arrays = True

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


class Permute(Function):
    """out = x with its dims reordered by `dims`;  dx = g permuted back."""

    takes_arrays = True

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


class BroadcastTo(Function):
    """out = x broadcast to `shape` (a view);  dx = sum_to(g, x.shape).

    The one place where broadcasting gradients are reduced (Note [Broadcasting])."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return np.broadcast_to(x, shape)
        except ValueError:
            raise RuntimeError(
                f"expand: the shape {x.shape} cannot be expanded to {tuple(shape)}"
            ) from None

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


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(
        i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in items
    )


class GetItem(Function):
    """out = x[index] (ints, slices, None, Ellipsis, bool masks, integer arrays);
    dx = zeros with g accumulated at index (repeated indices add up)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.index = x.shape, index
        return x[index]

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


class IndexAccumulate(Function):
    """out = zeros(shape) with g added at index;  dg = out_grad[index].  (GetItem's backward.)"""

    takes_arrays = True

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return GetItem.apply(gg, index=ctx.index)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2,)), index=(1, slice(0, 4, 2)), shape=(4, 5))
        yield Sample(rng.normal(size=(4, 5)), index=np.array([0, 2, 2, 3]), shape=(5, 5))


class IndexPut(Function):
    """out = x with out[index] = v (x[index] = v, out of place);
    dx = g with zeros at index, dv = sum_to(g[index], v.shape)."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, v, index):
        out = x.copy()
        out[index] = v
        ctx.index, ctx.vshape = index, np.shape(v)
        return out

    @staticmethod
    def backward(ctx, g):
        from autotensor.functional import sum_to

        gx = IndexPut.apply(g, 0.0, index=ctx.index) if ctx.needs_input_grad[0] else None
        gv = sum_to(g[ctx.index], ctx.vshape) if ctx.needs_input_grad[1] else None
        return gx, gv

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(5,)), index=1)
        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(2, 1)), index=(slice(1, 3), [0]))
        yield Sample(rng.normal(size=(4, 5)), 3.0, index=(slice(None), 2), note="scalar")


class Cat(Function):
    """out = the inputs joined along `dim`;  each dx = its slice of g."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, *xs, dim=0):
        if not xs:
            raise RuntimeError("cat: expected a non-empty list of tensors")
        (d,) = norm_dims(dim, xs[0].ndim, "cat") or (0,)
        ctx.dim, ctx.sizes = d, [x.shape[d] for x in xs]
        return np.concatenate(xs, axis=d)

    @staticmethod
    def backward(ctx, g):
        return Split.apply(g, ctx.sizes, dim=ctx.dim)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), dim=0)
        yield Sample(rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(2, 2)), dim=-1)
        yield Sample(rng.normal(size=(0, 3)), rng.normal(size=(2, 3)), dim=0, note="empty")


class Split(Function):
    """(out_0, out_1, ...) = x cut along `dim` into pieces of `sizes`;  dx = cat(g_0, g_1, ...)."""

    takes_arrays = True

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


class Flip(Function):
    """out = x reversed along `dims`;  dx = g reversed along `dims`."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = norm_dims(dims, x.ndim, "flip")
        return np.flip(x, ctx.dims)

    @staticmethod
    def backward(ctx, g):
        return Flip.apply(g, dims=ctx.dims)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), dims=(0,))
        yield Sample(rng.normal(size=(2, 3, 4)), dims=(0, 2))


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
    if index.size and (index.min() < -x.shape[dim] or index.max() >= x.shape[dim]):
        raise IndexError(
            f"{op}: index {int(index.max())} is out of bounds for dimension {dim} with size "
            f"{x.shape[dim]}"
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
        return x[_scatter_index(index, d)]

    @staticmethod
    def backward(ctx, g):
        zeros = _new(np.zeros(ctx.shape, dtype=g.dtype))
        return ScatterAdd.apply(zeros, ctx.dim, ctx.index, g)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), 1, np.array([[0, 1, 1], [3, 2, 0], [1, 1, 1]]))
        yield Sample(rng.normal(size=(3, 4)), 0, np.array([[0, 1, 2, 0], [2, 2, 1, 0]]))


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
        width = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            width[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(width, x.shape))
        return np.pad(x, width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner]

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(2, 3, 4)), (1, 2))
        yield Sample(rng.normal(size=(2, 3, 4)), (1, 0, 2, 1), value=1.5)

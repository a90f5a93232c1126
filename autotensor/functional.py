"""Composites: functions built from the primitives in `autotensor.ops`, with no derivative
written by hand (their gradients come from the primitives they are made of).
"""

from __future__ import annotations

import builtins  # this module defines max and min (torch's names); the builtins are these
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from autotensor import _views, dtypes, ops
from autotensor.grad_mode import is_grad_enabled
from autotensor.ops.reduce import norm_dims
from autotensor.tensor import Tensor, _new, _operands, as_tensor

values_indices = namedtuple("values_indices", ["values", "indices"])


# -- broadcasting and shapes -----------------------------------------------------------------
def sum_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum x down to `shape` (the reverse of broadcasting x from `shape`)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1
    )
    out = ops.Sum.apply(x, dim=dims, keepdim=True) if dims else x
    return out.reshape(shape) if out.shape != shape else out


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """A view when the strides allow (a new tensor even for the same shape, as torch's: an
    index_put_ of x into itself, x[i] = x.view_as(x), is then no write from the same
    tensor), else a copy."""
    return ops.Reshape.apply(x, tuple(shape))


def expand(x: Tensor, sizes: Sequence[int]) -> Tensor:
    """torch's expand: -1 keeps a dim; new leading dims may be added."""
    sizes = tuple(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({x.ndim})"
        )
    target = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    if target == x.shape:
        return x
    out = ops.BroadcastTo.apply(x, target)
    if 1 in target[:lead]:  # the same view with torch's expand strides for new size-1 dims
        out._data = ops.movement.broadcast_view(x._data, target, lead_span=True)
    # a view of x (Note [Views]); BroadcastTo itself is not marked, as the broadcasting in
    # front of binary ops (Note [Broadcasting]) never writes
    return out if out._view is not None else _views.mark_view(out, x, ops.BroadcastTo, target)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:  # the dims are still checked, as those of a 1-D tensor
        norm_dims(start_dim, 0, "flatten"), norm_dims(end_dim, 0, "flatten")
        return x.reshape(1)
    (s,) = norm_dims(start_dim, x.ndim, "flatten")
    (e,) = norm_dims(end_dim, x.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return reshape(x, shape)


def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    if x.ndim == 0:
        raise RuntimeError(f"unflatten: Dimension specified as {dim} but tensor has no dimensions")
    (d,) = norm_dims(dim, x.ndim, "unflatten")
    sizes = [int(n) for n in sizes]
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = x.shape[d]
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1:
        raise RuntimeError(f"unflatten: only one dimension can be inferred (sizes {sizes})")
    if -1 in sizes and known == 0:
        raise RuntimeError(
            f"unflatten: cannot reshape tensor of 0 elements into shape {sizes} because the "
            f"unspecified dimension size -1 can be any value and is ambiguous"
        )
    if (n % known if -1 in sizes else n - known) != 0:
        raise RuntimeError(
            f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} ({n}) "
            f"in the input tensor"
        )
    if -1 in sizes:
        sizes[sizes.index(-1)] = n // known
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1 :])


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    if dim is None:
        dims = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        dims = tuple(d for d in norm_dims(dim, x.ndim, "squeeze") if x.ndim and x.shape[d] == 1)
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in dims))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
            f"{dim}) (in unsqueeze)"
        )
    d = dim % n
    # indexing with None gives the new dim unsqueeze's stride (a reshape would give view's)
    return ops.GetItem.apply(x, index=(slice(None),) * d + (None,))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    d0, d1 = norm_dims(dim0, x.ndim, "transpose")[0], norm_dims(dim1, x.ndim, "transpose")[0]
    if d0 == d1:
        return x
    perm = list(range(x.ndim))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return ops.Permute.apply(x, dims=tuple(perm))


def permute(x: Tensor, dims: Sequence[int]) -> Tensor:
    return ops.Permute.apply(x, dims=tuple(dims))


def repeat(x: Tensor, sizes: Sequence[int]) -> Tensor:
    """torch's repeat (numpy's tile): each dim of x repeated sizes[i] times."""
    sizes = tuple(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than the number "
            f"of dims of the tensor ({x.ndim})"
        )
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    inter, big, final = [], [], []
    for r, s in zip(sizes, shape):
        inter += [1, s]
        big += [r, s]
        final.append(r * s)
    return reshape(expand(reshape(x, tuple(inter)), tuple(big)), tuple(final))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of Tensors")
    rt = tensors[0].dtype
    for t in tensors[1:]:
        rt = dtypes.result_type(rt, False, t.dtype, False)
    tensors = [t if t.dtype == rt else t.to(rt) for t in tensors]
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(
                f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated"
            )
    ref = next((t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)), None)
    if ref is not None and ref.ndim != 1:
        # torch's legacy rule: a 1-D empty tensor joins whatever the others' shapes are; it is
        # reshaped to a 0-size slice of them (so it still gets its empty gradient)
        (d,) = norm_dims(dim, ref.ndim, "cat")
        empty = tuple(0 if i == d else s for i, s in enumerate(ref.shape))
        tensors = [t.reshape(empty) if t.ndim == 1 and t.shape[0] == 0 else t for t in tensors]
    nd = tensors[0].ndim
    for i, t in enumerate(tensors):
        if t.ndim != nd:
            raise RuntimeError(
                f"cat: tensors must have the same number of dimensions: got {nd} and {t.ndim} "
                f"(tensor {i}, shape {tuple(t.shape)})"
            )
    if ref is None:  # only 1-D empty tensors: torch gives an empty one, whatever dim says
        dim = 0
    return ops.Cat.apply(*tensors, dim=dim)  # a new tensor, even of one input (as torch)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of Tensors")
    shape = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {tuple(shape)} at entry 0 "
                f"and {tuple(t.shape)} at entry {i}"
            )
    nd = tensors[0].ndim
    d = norm_dims(dim, nd + 1, "stack")[0]
    if d < nd:  # as torch: cat along d, then split that dim (a view, whatever cat's layout)
        return reshape(cat(tensors, d), shape[:d] + (len(tensors),) + shape[d:])
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    (d,) = norm_dims(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
    return ops.Split.apply(x, sizes, dim=d)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    (d,) = norm_dims(dim, x.ndim, "chunk")
    n = x.shape[d]
    if n == 0:  # torch gives `chunks` empty pieces
        return split(x, [0] * chunks, d)
    step = -(-n // chunks)
    return split(x, step, d)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    if x.ndim == 0:
        raise IndexError(f"unbind: Dimension specified as {dim} but tensor has no dimensions")
    (d,) = norm_dims(dim, x.ndim, "unbind")
    if x.shape[d] == 0:
        return ()
    parts = ops.Split.apply(x, [1] * x.shape[d], dim=d)
    return tuple(squeeze(p, d) for p in parts)


def flip(x: Tensor, dims: Any) -> Tensor:
    return ops.Flip.apply(x, dims=dims)


def _one_dim(x: Tensor, dim: int, op: str) -> tuple[int, ...]:
    if x.ndim == 0:
        raise IndexError(f"{op}: dim {dim} given but the tensor has no dimensions")
    return norm_dims(dim, x.ndim, op)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """x[..., start:start+length, ...] along `dim` (a negative start counts from the end)."""
    (d,) = _one_dim(x, dim, "narrow")
    n = x.shape[d]
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length <= n - start):
        raise IndexError(
            f"narrow: start {start} + length {length} exceeds dim {d} of size {n} "
            f"(shape {tuple(x.shape)})"
        )
    return x[(slice(None),) * d + (slice(start, start + length),)]


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """x[..., index, ...] along `dim`: that dim is removed."""
    (d,) = _one_dim(x, dim, "select")
    return x[(slice(None),) * d + (index,)]


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Moves dims `source` to positions `destination`, the others keeping their order."""
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    norm_dims(src, x.ndim, "movedim")  # range checks only: norm_dims sorts, and the pairing
    norm_dims(dst, x.ndim, "movedim")  # of source with destination needs the given order
    n = builtins.max(x.ndim, 1)  # a 0-d tensor takes dim 0 / -1, as torch
    src, dst = [d % n for d in src], [d % n for d in dst]
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: {len(src)} source dims but {len(dst)} destination dims")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {source} or destination {destination}")
    rest = iter(d for d in range(x.ndim) if d not in src)
    where_to = dict(zip(dst, src))
    return permute(x, [where_to[i] if i in where_to else next(rest) for i in range(x.ndim)])


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """out[(i + shift) % n] = x[i] along each dim; with dims None, over the flattened tensor."""
    if x.numel() == 0:  # torch returns a copy at once, before looking at the dims
        return x.clone()
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(tuple(x.shape))
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: {len(shifts)} shifts but {len(dims)} dims")
    dims = tuple(_one_dim(x, dim, "roll")[0] for dim in dims)
    return ops.Roll.apply(x, shifts=tuple(int(s) for s in shifts), dims=dims)


def _triangle(x: Tensor, diagonal: int, lower: bool, op: str) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dims, got shape {tuple(x.shape)}")
    r, c = x.shape[-2:]
    keep = np.tri(r, c, diagonal, dtype=bool) if lower else ~np.tri(r, c, diagonal - 1, dtype=bool)
    return masked_fill(x, ~keep, 0)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """Keeps the entries on and below the `diagonal`-th diagonal of the last two dims."""
    return _triangle(x, diagonal, True, "tril")


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """Keeps the entries on and above the `diagonal`-th diagonal of the last two dims."""
    return _triangle(x, diagonal, False, "triu")


# -- indexing --------------------------------------------------------------------------------
def _index_array(index: Any, op: str) -> np.ndarray:
    arr = index._data if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {arr.dtype}")
    return arr


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    return ops.Gather.apply(x, dim, _index_array(index, "gather"))


def scatter_add(x: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    return ops.ScatterAdd.apply(x, dim, _index_array(index, "scatter_add"), as_tensor(src))


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    idx = _index_array(index, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be 0-d or 1-d, got shape {idx.shape}")
    (d,) = norm_dims(dim, x.ndim, "index_select")
    if idx.size and x.ndim and x.shape[d] == 0:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    if idx.size and (idx.max() >= x.shape[d] or idx.min() < 0):  # torch takes no negatives
        bad = int(idx.max()) if idx.max() >= x.shape[d] else int(idx.min())
        raise IndexError(
            f"index_select: index {bad} is out of range for dim {d} of size {x.shape[d]}"
        )
    out = x[(slice(None),) * d + (idx.reshape(-1),)]
    return out.contiguous()  # torch's index_select allocates a contiguous result


def index_put(x: Tensor, index: Any, value: Any, accumulate: bool = False) -> Tensor:
    """x with x[index] = value, out of place (what __setitem__ records); with `accumulate`,
    x + (value broadcast to x[index]'s shape, scattered with repeated positions summed)."""
    if isinstance(value, Tensor) and value.ndim and value.shape[0] == 1:
        value = ops.movement.strip_leading_ones(value)  # as torch's setitem
    if accumulate:
        shape = ops.movement.take(x._data, index).shape
        try:
            v = value.expand(shape)
        except RuntimeError:
            raise RuntimeError(
                f"index_put_: shape mismatch: value tensor of shape {list(value.shape)} cannot "
                f"be broadcast to indexing result of shape {list(shape)}"
            ) from None
        return x + ops.IndexAccumulate.apply(v, index=index, shape=x._data.shape)
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        ops.movement.check_put_dtype(x.dtype, index, value, x._data.shape)
        value = value.to(x.dtype)
    return ops.IndexPut.apply(x, value, index=index)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    if isinstance(x, Tensor):
        x, y = _operands(x, y)
    elif isinstance(y, Tensor):
        y, x = _operands(y, x)
    else:  # two scalars: promote like torch (where(c, 2, 3.5) is float32, not float64)
        x, y = _operands(as_tensor(x), as_tensor(y))
    return ops.Where.apply(cond, x, y)


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    out = fill_where(x, mask, value)
    # torch fills a contiguous clone of x (expanded to the mask's shape): its size-1 dims
    # too have C strides
    if out._data.flags.c_contiguous and 1 not in out._data.shape:
        return out
    return out.clone(memory_format=_views.contiguous_format)


def fill_where(x: Tensor, mask: Any, value: Any) -> Tensor:
    """x with value where mask is true, laid out as x (masked_fill's checks and dtype rules;
    what index_fill, which keeps x's layout, is made of)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                f"masked_fill only supports a 0-dimensional value tensor, got shape "
                f"{tuple(value.shape)}"
            )
        value = value.to(x.dtype)
    elif x._data.dtype.kind in "biu":
        # The fill value takes x's dtype (torch): 1.5 into an int tensor is 1, no promotion.
        dtypes.check_scalar_fits(value, x._data.dtype)  # but inf or 1e30 raise
        value = as_tensor(np.asarray(value).astype(x._data.dtype))
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill: mask of shape {m.shape} does not broadcast to {tuple(x.shape)}"
        ) from None
    return ops.Where.apply(m, value, x)


def pad(
    x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """torch.nn.functional.pad: `pad` = (last_lo, last_hi, prev_lo, prev_hi, ...);
    modes 'constant', 'reflect', 'replicate', 'circular'."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(
            f"pad: padding {list(pad)} must have an even length of at most 2 * {x.ndim} "
            f"(input shape {tuple(x.shape)})"
        )
    if mode == "constant":
        if any(p < 0 for p in pad):  # negative padding crops (first, as torch narrows)
            idx = [slice(None)] * x.ndim
            for i in range(len(pad) // 2):
                d = x.ndim - 1 - i
                lo, hi = pad[2 * i], pad[2 * i + 1]
                n = x.shape[d]
                idx[d] = slice(-lo if lo < 0 else 0, n + hi if hi < 0 else n)
            x = x[tuple(idx)]
        grow = tuple(builtins.max(p, 0) for p in pad)
        # a new tensor even when nothing grows (torch's result never aliases its input)
        return ops.Pad.apply(x, grow, value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r}")
    out = x
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = x.shape[d]
        pos = np.arange(-lo, n + hi)
        if mode == "replicate":
            src = np.clip(pos, 0, n - 1)
        elif mode == "circular":
            # torch crops a negative side first, then wraps around what is left
            start, stop = builtins.max(-lo, 0), n + builtins.min(hi, 0)
            src = start + np.arange(-builtins.max(lo, 0), stop - start + builtins.max(hi, 0)) % (
                stop - start
            )
        else:
            if lo >= n or hi >= n:
                raise RuntimeError(
                    f"pad: reflect padding ({lo}, {hi}) must be smaller than the dim size {n}"
                )
            period = 2 * (n - 1)
            m = np.abs(pos) % period if period else np.zeros_like(pos)
            src = np.where(m >= n, period - m, m)
        out = out[(slice(None),) * d + (src,)]
    return out


# -- reductions ------------------------------------------------------------------------------
def mean(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    if x.dtype.kind not in "fc":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.dtype}"
        )
    dims = norm_dims(dim, x.ndim, "mean")
    n = int(np.prod([x.shape[d] for d in dims])) if x.ndim else 1
    s = ops.Sum.apply(x, dim=dims, keepdim=keepdim)
    return s / n if n else s * float("nan")


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
        correction: Any = None) -> Tensor:  # fmt: skip
    """Variance over dim with `correction` (default 1, Bessel); `unbiased=False` means 0."""
    dtypes.check_supported("var", x.dtype)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = norm_dims(dim, x.ndim, "var")
    return ops.reduce.Var.apply(x, dims=dims, correction=correction, keepdim=keepdim,
                                all_dims=dim is None or x.ndim == 0)  # fmt: skip


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
        correction: Any = None) -> Tensor:  # fmt: skip
    """sqrt(var); like torch, the gradient is 0 (not 0 * inf = nan) where the std is 0."""
    v = var(x, dim, unbiased, keepdim, correction)
    zero = v._data == 0
    if not zero.any():
        return v.sqrt()
    return ops.Where.apply(zero, 0.0, ops.Where.apply(zero, 1.0, v).sqrt())


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over dim, shifted by the (constant) max so nothing overflows."""
    if x.dtype.kind not in "fc":  # as torch: integers and bools give the default float
        x = x.to(dtypes.get_default_dtype())
    return ops.reduce.Logsumexp.apply(x, dim=dim, keepdim=keepdim)


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """max(x): the largest value; max(x, dim): (values, indices); max(x, other): maximum."""
    if isinstance(dim, Tensor):
        return x.maximum(dim)
    if dim is None:
        return ops.Amax.apply(x, nan_shares=True)  # torch: the NaNs get a NaN max's grad
    v, i = ops.MaxDim.apply(x, dim, keepdim)
    return values_indices(v, i)


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    if isinstance(dim, Tensor):
        return x.minimum(dim)
    if dim is None:
        return ops.Amin.apply(x, nan_shares=True)
    v, i = ops.MinDim.apply(x, dim, keepdim)
    return values_indices(v, i)


def _arg_checks(x: Tensor, dim: Any, op: str) -> None:
    dtypes.check_supported(op, x.dtype)
    if dim is None and x.numel() == 0:
        raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
    if dim is not None and x.ndim:
        (d,) = norm_dims(dim, x.ndim, op)
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    _arg_checks(x, dim, "argmax")
    if dim is None:  # over the flattened tensor; keepdim keeps every dim as size 1 (torch)
        i = np.asarray(np.argmax(x._data), dtype=np.int64)
        return _new(i.reshape((1,) * x.ndim) if keepdim else i)
    (d,) = norm_dims(dim, x.ndim, "argmax") or (0,)
    return _new(np.asarray(np.argmax(x._data, axis=d, keepdims=keepdim), dtype=np.int64))


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    _arg_checks(x, dim, "argmin")
    if dim is None:
        i = np.asarray(np.argmin(x._data), dtype=np.int64)
        return _new(i.reshape((1,) * x.ndim) if keepdim else i)
    (d,) = norm_dims(dim, x.ndim, "argmin") or (0,)
    return _new(np.asarray(np.argmin(x._data, axis=d, keepdims=keepdim), dtype=np.int64))


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over dim (all elements by default); 'fro' is the 2-norm (torch's
    torch.norm: 'fro' over more than two dims is a matrix norm, refused). One primitive,
    with torch's gradient rules (ops.reduce.Norm)."""
    dtypes.check_supported("norm", x.dtype)
    if isinstance(p, str):
        if p != "fro":
            raise NotImplementedError(f"norm: p={p!r} (matrix norms) is not supported")
        if dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) > 2:
            raise RuntimeError(
                f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}"
            )
        p = 2.0
    dims = norm_dims(dim, x.ndim, "norm")
    return ops.reduce.Norm.apply(x, p=float(p), dims=dims, keepdim=keepdim)


def softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    return ops.Softmax.apply(x if dtype is None else x.to(dtype), dim)


def log_softmax(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    return ops.LogSoftmax.apply(x if dtype is None else x.to(dtype), dim)


# -- elementwise -----------------------------------------------------------------------------
def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensors(x, min, max)
    # A float scalar bound on an integer/bool tensor gives the default float dtype (torch's
    # weak-scalar promotion), not numpy's float64.
    rt = x.dtype
    for b in (min, max):
        if b is not None:
            rt = dtypes.scalar_result(np.dtype(rt), b)
    if rt != x.dtype:
        x = x.to(rt)
    return ops.Clamp.apply(x, min=min, max=max)


clip = clamp


def _clamp_tensors(x: Tensor, min: Any, max: Any) -> Tensor:
    """clamp with Tensor bounds (they promote with x, as torch): min(max(x, lo), hi), NaN
    wherever x or a bound is NaN. Gradients as torch's: x gets g where lo <= x <= hi (a tie
    included), lo where x < lo (< hi), hi where x > hi or hi < lo, and nothing gets any
    where a NaN decides or lo == hi is below x: there the value is a constant."""
    lo = None if min is None else min if isinstance(min, Tensor) else as_tensor(min, x.dtype)
    hi = None if max is None else max if isinstance(max, Tensor) else as_tensor(max, x.dtype)
    rt, zero_d = x.dtype, x.ndim == 0
    for b in (lo, hi):
        if b is not None:  # torch's result_type over all three (0-d tensors weaker)
            rt = dtypes.result_type(rt, zero_d, b.dtype, b.ndim == 0)
            zero_d = zero_d and b.ndim == 0
    x = x if x.dtype == rt else x.to(rt)
    lo, hi = (t if t is None or t.dtype == rt else t.to(rt) for t in (lo, hi))
    xd = x._data
    with np.errstate(invalid="ignore"):
        value = xd
        keep = np.ones(np.shape(xd), bool)
        if lo is not None:
            ld = lo._data
            value = np.where(np.isnan(ld), ld, np.maximum(ld, value))  # x's NaN and -0.0 stay
            keep = keep & (xd >= ld)
            take_lo = xd < ld
        if hi is not None:
            hd = hi._data
            value = np.where(np.isnan(hd), hd, np.minimum(hd, value))
            keep = keep & (xd <= hd)
            take_hi = xd > hd
        if lo is not None and hi is not None:
            take_lo = take_lo & (ld < hd)
            take_hi = take_hi | (hd < ld)
    # torch's clamp is one elementwise op over (x, min, max): laid out as they decide
    # (x first), which the where() steps below keep when all of their operands agree
    operands = [t._data for t in (x, lo, hi) if t is not None]
    value = _views.iterator_layout(np.asarray(value), *operands)
    keep = _views.iterator_layout(keep, *operands)
    if lo is not None:
        take_lo = _views.iterator_layout(take_lo, *operands)
    if hi is not None:
        take_hi = _views.iterator_layout(take_hi, *operands)
    out = _new(value)
    if hi is not None:
        # x NaN with hi < lo: torch's value is NaN, yet hi gets the gradient (+ -0.0 elsewhere
        # keeps hi exactly, its -0.0 included)
        nan = np.isnan(value) & take_hi
        out = where(take_hi, hi + _new(np.where(nan, value, -0.0).astype(rt)) if nan.any() else hi,
                    out)  # fmt: skip
    if lo is not None:
        out = where(take_lo, lo, out)
    return where(keep, x, out)


def matmul(x: Any, y: Any) -> Tensor:
    """torch.matmul, by torch's own dispatch (so its dtype rules and errors are torch's):
    1-D @ 1-D is dot, 2-D @ 1-D mv, 1-D/2-D @ 2-D mm; a batched operand with a 1-D/2-D one
    is folded into one mm/mv when torch folds it, else both are broadcast over the batch
    dims and multiplied with bmm. Each kernel checks as torch's does: shapes, then dtypes
    (never promoted; an empty bmm returns early, in the second operand's dtype), then
    whether the dtype is supported (bool is not, unless nothing is multiplied)."""
    if isinstance(y, (bool, int, float)) or isinstance(x, (bool, int, float)):
        raise TypeError(
            f"matmul(): arguments must be Tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    x, y = as_tensor(x), as_tensor(y)
    d1, d2 = x.ndim, y.ndim
    if d1 == 0 or d2 == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {d1}D and {d2}D"
        )
    try:
        return _matmul_kernels(x, y)
    except RuntimeError as e:
        # torch's kernel messages name the folded 2-D shapes ("14x3"); add the operands' own
        # shapes so the mistake can be found in the caller's terms (same class, torch's text)
        raise type(e)(f"{e} (matmul of {tuple(x.shape)} and {tuple(y.shape)})") from None


def _matmul_kernels(x: Tensor, y: Tensor) -> Tensor:
    d1, d2 = x.ndim, y.ndim
    if d1 == 1 and d2 == 1:
        return _dot(x, y)
    if d1 == 2 and d2 == 1:
        return _mv(x, y)
    if d1 == 1 and d2 == 2:
        return _mm(x.reshape(1, -1) if x.shape[0] else x.reshape(1, 0), y).squeeze(0)
    if d1 == 2 and d2 == 2:
        return _mm(x, y)
    if d1 == 3 and d2 == 3 and x.shape[0] != y.shape[0]:
        # torch drops the batch of one of an operand that requires grad, so that the other
        # operand is folded into one mm
        if x.shape[0] == 1 and x.requires_grad:
            x, d1 = x.squeeze(0), 2
        elif y.shape[0] == 1 and y.requires_grad:
            y, d2 = y.squeeze(0), 2
    if _should_fold(x, y):
        transpose = d2 > d1
        t1 = y.mT if transpose else x
        t2 = (x.t() if d1 == 2 else x) if transpose else y
        lead = tuple(t1.shape[:-1])
        folded = t1.reshape(int(np.prod(lead)), t1.shape[-1])
        if t2.ndim == 2:
            out = _mm(folded, t2).reshape(lead + (t2.shape[1],))
            return out.mT.contiguous() if transpose else out
        return _mv(folded, t2).reshape(lead)
    n = x.shape[-2] if d1 > 1 else 1
    m1 = x.shape[-1]
    m2 = y.shape[-2] if d2 > 1 else y.shape[0]
    p = y.shape[-1] if d2 > 1 else 1
    batch = _broadcast_batch(tuple(x.shape[:-2]), tuple(y.shape[:-2]))
    b = int(np.prod(batch))
    x3 = expand(x, batch + (n, m1)).reshape(b, n, m1)
    if d2 == 1:
        y3 = expand(y, batch + (m2,)).reshape(b, m2).unsqueeze(2)
    else:
        y3 = expand(y, batch + (m2, p)).reshape(b, m2, p)
    out = _bmm(x3, y3)
    shape = batch + ((n,) if d1 > 1 else ()) + ((p,) if d2 > 1 else ())
    return out.reshape(shape)


_C_TYPES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
            "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool", "float16": "c10::Half"}  # fmt: skip


def _not_for_bool(kernel: str, x: Tensor) -> None:
    if x.dtype == np.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _dot(x: Tensor, y: Tensor) -> Tensor:
    if x.dtype != y.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found "
            f"{dtypes.torch_name(x.dtype)} and {dtypes.torch_name(y.dtype)}"
        )
    if x.shape != y.shape:
        n, m = x.shape[0], y.shape[0]
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
            f"number of elements, but got {n} and {m} elements respectively"
        )
    _not_for_bool("dot", x)
    return ops.MatMul.apply(x.reshape(1, -1), y.reshape(-1, 1)).reshape(())


def _mv(a: Tensor, v: Tensor) -> Tensor:
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
            f"vec ({v.shape[0]})"
        )
    if a.dtype != v.dtype:
        names = [dtypes.torch_name(d) for d in (v.dtype, a.dtype, v.dtype)]
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {names[0]}, {names[1]}, "
            f"and {names[2]}"
        )
    if a.numel():
        _not_for_bool("addmv_impl_cpu", a)
    return ops.MatMul.apply(a, v.reshape(-1, 1)).reshape(a.shape[0])


def _mm(a: Tensor, b: Tensor) -> Tensor:
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_C_TYPES.get(a.dtype.name)} "
            f"!= {_C_TYPES.get(b.dtype.name)}"
        )
    if a.numel() and b.numel():
        _not_for_bool("addmm_impl_cpu_", a)
    return ops.MatMul.apply(a, b)


def _bmm(a: Tensor, b: Tensor) -> Tensor:
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    if a.numel() == 0 or b.numel() == 0:  # torch returns early, in batch2's dtype
        if a.dtype != b.dtype:
            if a.requires_grad and b.dtype.kind not in "fc" and is_grad_enabled():
                # the result would be part of the graph, in a dtype that has no gradient
                raise RuntimeError(f"Autograd not support dtype: {dtypes.torch_name(b.dtype)}")
            a = a.to(b.dtype)
        return ops.MatMul.apply(a, b)
    _not_for_bool("bmm", a)  # the kernel is chosen by batch1's dtype, and then checks
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected scalar type {dtypes.torch_name(a.dtype)} but found "
            f"{dtypes.torch_name(b.dtype)}"
        )
    return ops.MatMul.apply(a, b)


def _broadcast_batch(a: tuple, b: tuple) -> tuple:
    n = builtins.max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    for i, (p, q) in enumerate(zip(a, b)):
        if p != q and p != 1 and q != 1:
            raise RuntimeError(
                f"The size of tensor a ({p}) must match the size of tensor b ({q}) at "
                f"non-singleton dimension {i}"
            )
    return tuple(p if q == 1 else q for p, q in zip(a, b))


def _should_fold(x: Tensor, y: Tensor) -> bool:
    """torch's matmul folds the batch dims of the larger operand into one mm/mv when that
    needs no copy (its memory layout decides), or when the other operand requires grad."""
    larger = x.ndim >= y.ndim
    t1, d2 = (x, y.ndim) if larger else (y.mT, x.ndim)
    if not (t1.ndim >= 3 and d2 <= 2):
        return False
    if (y if larger else x).requires_grad:
        return True
    if x.ndim == 2:
        return False
    if t1.numel() == 0:
        return True
    item = t1._data.itemsize
    st = [s // item for s in t1._data.strides]
    sh = t1.shape
    return all(st[i] == st[i + 1] * sh[i + 1] for i in range(t1.ndim - 2))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x @ weight^T + bias.  Shapes: x (*, in), weight (out, in), bias (out,) -> (*, out)."""
    if x.shape[-1:] != weight.shape[-1:]:
        raise RuntimeError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape "
            f"{tuple(x.shape)}) but the weight {tuple(weight.shape)} expects {weight.shape[-1]}"
        )
    if x.ndim == 2:
        out = ops.MatMul.apply(x, weight.T)
    else:
        out = matmul(x, weight.T)
    return out if bias is None else out + bias


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Any = None) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    from autotensor import random

    keep = random.generator(generator).random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def relu(x: Tensor) -> Tensor:
    return ops.ReLU.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def outer(x: Tensor, y: Tensor) -> Tensor:
    for name, t in (("self", x), ("vec2", y)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return x.reshape(-1, 1) * y.reshape(1, -1)


def one_hot(index: Any, num_classes: int = -1, dtype: Any = None) -> Tensor:
    idx = _index_array(index, "one_hot")
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes})")
    out = np.zeros(idx.shape + (num_classes,), dtype=dtype or np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return _new(out)

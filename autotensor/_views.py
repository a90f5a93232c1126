"""Views and version counters, and the in-place operations built on them.

Note [Views] and Note [In-place] in docs/design.md describe the model; in short:

- A *view* shares memory with its *base* (the tensor that owns the memory; a view of a view
  has the same base). It knows how it was made, as a chain of view steps that can be
  replayed on the base: `view_of(t)` gives that record, or None when `t` is no view.
- A base and all its views share one version counter; every in-place operation bumps it
  (`increment_version`), and a node that saved a tensor refuses to run backward once the
  counter has moved on since.
- An in-place operation always writes into the tensor's memory, so the base and every view
  of it see the new values. While a graph is recorded it also rewrites history: the new value
  is computed out of place from a snapshot of the old one (so the op's own node holds the
  old value, as torch's in-place derivatives do), copied in, and then

  - on a tensor that is no view: the tensor takes the new node as its `grad_fn`;
  - on a view: the base takes a `CopySlices` node (the old base with the view's region
    replaced by the new value), and every live view of the base is re-derived from the
    base's new history by replaying its view steps, so gradients flow to everything that
    produced the base and to the written value.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

# `ops` is read at call time only: the primitives import function.py, which imports this
# module (Note [import order]).
from autotensor import dtypes, ops
from autotensor.grad_mode import _state
from autotensor.tensor import Tensor, _new


class ViewOf:
    """How a view was made: its base and the view steps (cls, tail args, kwargs, output index)
    that rebuild it from the base. `created_without_grad`: made under no_grad; `multi`: the
    name of the op when it came from one returning several views (split, unbind, chunk)."""

    __slots__ = ("base", "steps", "created_without_grad", "multi")

    def __init__(self, base: Tensor, steps: tuple, created_without_grad: bool,
                 multi: str | None) -> None:  # fmt: skip
        self.base = base
        self.steps = steps
        self.created_without_grad = created_without_grad
        self.multi = multi


def view_of(t: Tensor) -> ViewOf | None:
    """The view record of `t`, or None when `t` owns its memory (or only shares it as a
    detached alias)."""
    return t._view


def increment_version(t: Tensor) -> None:
    """Record that `t` was modified in place (torch.autograd.graph.increment_version): its
    base and views see the bump too, and a node that saved any of them refuses backward.

    No history is rebuilt: views that torch cannot re-derive then (those of a function that
    returns several views, those made under no_grad) refuse to be used in a graph again."""
    vc = t._vc
    vc[0] += 1
    if len(vc) > 1:  # the counter carries its base's list of live views (see _mark)
        _mark_stale(vc[1], multi=True)


def _mark_stale(live: list, multi: bool) -> None:
    """Views in `live` whose history torch would refuse to rebuild after their base changed
    in place: a no_grad view always, an output of split/unbind/chunk when `multi`."""
    for ref in live:
        v = ref()
        if v is None or type(v) is not Tensor:
            continue
        info = v._view
        if info is not None and (info.created_without_grad or (multi and info.multi)):
            v.__class__ = _StaleView


def mark_views(outs: Any, cls: type, args: tuple, kwargs: dict) -> Any:
    """Outputs of a view primitive (`returns_views = True`) that really share memory with
    input 0 become its views: they share its counter and remember the step that made them."""
    base = args[0]
    if not isinstance(base, Tensor):
        return outs
    if type(outs) in (tuple, list):  # split, unbind, chunk: several views
        for i, t in enumerate(outs):
            _mark(t, base, (cls, args[1:], kwargs, i), cls.__name__)
    else:
        _mark(outs, base, (cls, args[1:], kwargs, None), None)
    return outs


def mark_view(out: Tensor, base: Tensor, cls: type, *tail: Any, **kwargs: Any) -> Tensor:
    """One output of a no-grad shortcut for the view primitive `cls` (Note [No-grad
    arithmetic]): recorded as the view `cls.apply(base, *tail, **kwargs)` would be."""
    _mark(out, base, (cls, tail, kwargs, None), None)
    return out


def _mark(t: Tensor, base: Tensor, step: tuple, multi: str | None) -> None:
    bd = base._data
    d = t._data
    owner = bd if bd.base is None else bd.base
    if d is bd or d.base is None or (d.base is not owner and d.base is not bd):
        return  # a copy (advanced indexing, a reshape that had to copy): no view
    vc = t._vcount = base._vc
    info = view_of(base)
    if info is None:
        root, steps = base, (step,)
    else:
        root, steps = info.base, info.steps + (step,)
        multi = multi or info.multi
    t._view = ViewOf(root, steps, not _state.enabled, multi)
    live = root._live_views
    if live is None:
        live = root._live_views = []
    if len(vc) == 1:  # so a write through any alias sharing the counter finds the views
        vc.append(live)
    live.append(weakref.ref(t))
    n = len(live)
    if n >= 16 and n & (n - 1) == 0:  # at each power of two, forget views that have died
        live[:] = [r for r in live if r() is not None]


def _refresh_views(root: Tensor) -> None:
    """Re-derive every live view of `root` from its current history (after a rebase)."""
    live = root._live_views
    if not live or not root.requires_grad:
        return
    prev = _state.enabled
    _state.enabled = True
    try:
        for ref in tuple(live):  # replaying registers new (temporary) views in `live`
            v = ref()
            if v is None:
                continue
            info = view_of(v)
            if info is None or info.base is not root:
                continue
            if info.created_without_grad:
                if type(v) is Tensor:
                    v.__class__ = _StaleView
                continue
            r = ops.inplace.replay(root, info.steps)
            v.grad_fn, v._output_nr, v.requires_grad = r.grad_fn, r._output_nr, r.requires_grad
            if info.multi and r.requires_grad and type(v) is Tensor:
                v.__class__ = _StaleView
    finally:
        _state.enabled = prev


_GRAD_FN = Tensor.__dict__["grad_fn"]  # the slot


class _StaleView(Tensor):
    """A view whose base was modified in place in a way torch does not rebuild its history
    for: one of several views (split, unbind, chunk), or a view made under no_grad of a base
    that requires grad. Reading its grad_fn, which every recorded op on it does, raises
    torch's error; its values stay right, and while the base needs no grad it is an ordinary
    view."""

    __slots__ = ()

    @property
    def grad_fn(self) -> Any:
        info = self._view
        if info is None or not info.base.requires_grad:
            return _GRAD_FN.__get__(self)
        if info.created_without_grad:
            raise RuntimeError(
                "A view was created in no_grad mode and its base or another view of its base "
                "has been modified inplace with grad mode enabled. Given that this use case is "
                "ambiguous and error-prone, it is forbidden. You can clarify your code by "
                "moving both the view and the inplace either both inside the no_grad block (if "
                "you don't want the inplace to be tracked) or both outside (if you want the "
                "inplace to be tracked)."
            )
        nr = next((st[3] for st in info.steps if st[3] is not None), 0)
        raise RuntimeError(
            f"Output {nr} of {info.multi} is a view and its base or another view of its base "
            f"has been modified inplace. This view is the output of a function that returns "
            f"multiple views. Such functions do not allow the output views to be modified "
            f"inplace. You should replace the inplace operation by an out-of-place one."
        )

    @grad_fn.setter
    def grad_fn(self, node: Any) -> None:
        _GRAD_FN.__set__(self, node)


def _history(t: Tensor, data: np.ndarray) -> Tensor:
    """A tensor on `data` with the autograd history of `t` (own version counter)."""
    a = _new(data, t.requires_grad)
    a.grad_fn, a._output_nr = t.grad_fn, t._output_nr
    return a


# -- memory overlap (torch's assert_no_internal_overlap / assert_no_partial_overlap) ---------
# Writes torch makes without its overlap checks: the same value everywhere, so an expanded
# tensor (several elements on one memory location) is fine. fill_ with a Tensor value goes
# through copy_ in torch and is checked; __setitem__ is checked by check_setitem.
_IDEMPOTENT = frozenset({"zero_", "masked_fill_", "index_fill_", "__setitem__"})
# Elementwise in-place ops (torch's TensorIterator): an operand that partly overlaps the
# written tensor is refused; the very same memory (x *= x) is fine.
_ELEMENTWISE = frozenset({"add_", "sub_", "mul_", "div_", "pow_", "copy_", "clamp_min_",
                          "clamp_max_"})  # fmt: skip
# torch writes these into an expanded tensor, warning that it will stop doing so
_DEPRECATED_ON_EXPANDED = {
    name: f"Use of {op} on expanded tensors is deprecated. Please clone() the tensor before "
    f"performing this operation. This also applies to advanced indexing e.g. {example}"
    for name, op, example in (
        ("__setitem__", "index_put_", "tensor[indices] = tensor"),
        ("masked_fill_", "masked_fill_", "tensor[mask] = scalar"),
        ("index_fill_", "index_fill_", "tensor[mask] = scalar"),
    )
}
_INTERNAL = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)
_PARTIAL = (
    "unsupported operation: some elements of the input tensor and the written-to tensor refer "
    "to a single memory location. Please clone() the tensor before performing the operation."
)


def has_shared_elements(d: np.ndarray) -> bool:
    """torch's has_internal_overlap is YES: a stride-0 dim of size > 1 (an expanded dim)."""
    return d.size > 1 and any(s == 0 and n > 1 for n, s in zip(d.shape, d.strides))


def writable(d: np.ndarray, name: str, internal_ok: bool = False) -> np.ndarray:
    """A writable alias of the read-only array d (an expanded tensor, or a view of one), so an
    in-place op writes through to the memory it shares, as torch's does. torch refuses the
    write when two of the written elements share a location (a stride-0 dim of size > 1),
    unless the op writes one value everywhere (`internal_ok`)."""
    if not internal_ok and has_shared_elements(d):
        raise RuntimeError(f"{name}: {_INTERNAL}")
    w = d.view()
    try:
        w.flags.writeable = True
    except ValueError:  # memory that is read-only at its source (a read-only numpy array)
        raise RuntimeError(
            f"{name}: the tensor of shape {tuple(d.shape)} is backed by read-only memory; "
            f"clone() it first"
        ) from None
    return w


def writable_data(t: Tensor, name: str, internal_ok: bool = False) -> np.ndarray:
    """t's array, writable (see `writable`). A numpy scalar (what some reductions give as a
    0-d result) shares memory with nothing: t takes a 0-d array of it instead."""
    d = t._data
    if isinstance(d, np.generic):
        d = t._data = np.array(d)
        return d
    return writable(d, name, internal_ok)


def _dense(a: np.ndarray) -> bool:
    """torch's is_non_overlapping_and_dense: some order of the dims is C-contiguous."""
    expected = a.itemsize
    for n, s in sorted(((n, s) for n, s in zip(a.shape, a.strides) if n != 1),
                       key=lambda p: p[1]):  # fmt: skip
        if s != expected:
            return False
        expected *= n
    return True


def overlap(a: np.ndarray, b: np.ndarray, same: bool = False) -> str:
    """torch's get_overlap_status of two arrays: "no", "full" (the same elements in the same
    layout), "partial", or "too_hard" (one is not dense: torch does not look further).
    `same`: the two are one tensor (full, even when empty)."""
    if same:
        return "full"
    if a.size == 0 or b.size == 0:
        return "no"
    if (a.base is None and b.base is None and a is not b) or not np.may_share_memory(a, b):
        return "no"
    if not (_dense(a) and _dense(b)):
        return "too_hard"
    lo_a, hi_a = np.lib.array_utils.byte_bounds(a)
    lo_b, hi_b = np.lib.array_utils.byte_bounds(b)
    if lo_a == lo_b and hi_a == hi_b:
        return "full" if a.strides == b.strides else "partial"
    return "partial" if lo_a < hi_b and lo_b < hi_a else "no"


def check_overlap(d: np.ndarray, src: np.ndarray, name: str, same: bool = False,
                  full_ok: bool = True) -> None:  # fmt: skip
    """Refuse to write d from an operand src that shares some of its memory (torch's
    assert_no_partial_overlap; with full_ok=False, index_put's assert_no_overlap)."""
    if src.__class__ is not np.ndarray or (d.base is None and src.base is None and not same
                                           and d is not src):  # fmt: skip
        return
    status = overlap(d, src, same)
    if status == "partial" or (status == "full" and not full_ok):
        raise RuntimeError(f"{name}: {_PARTIAL}")


def _whole(items: tuple, shape: tuple) -> bool:
    """The basic index `items` (slices and Ellipsis only) is one that torch's slicing answers
    with the tensor itself: every slice covers its whole dim with step 1."""
    n_ell = len(shape) - sum(1 for i in items if i is not Ellipsis)
    d = 0
    for i in items:
        if i is Ellipsis:
            d += n_ell
        elif not isinstance(i, slice) or d >= len(shape):
            return False
        else:  # torch reads the slice as written: x[-2:] is never x itself
            if i.start not in (None, 0) or i.step not in (None, 1):
                return False
            if i.stop is not None and i.stop < shape[d]:
                return False
            d += 1
    return True


def same_data(a: np.ndarray, b: np.ndarray) -> bool:
    """b is a: the same first element, shape, strides and dtype (torch's copy_ then writes
    nothing, so no overlap check refuses it)."""
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])  # fmt: skip


def _expanded_as(src: np.ndarray, shape: tuple) -> np.ndarray | None:
    """The value of a setitem as torch writes it into a region of `shape`: leading 1s
    dropped, then expanded (a view keeping the other strides); None when it cannot be."""
    if src.shape == shape:
        return src
    k = 0
    while k < src.ndim and src.shape[k] == 1:
        k += 1
    src = src[(0,) * k + (...,)]  # a view, 0-d too
    if src.shape != shape:
        try:
            src = ops.movement.broadcast_view(src, shape, True)  # expand's strides
        except (ValueError, RuntimeError):
            return None
    return src


def check_setitem(t: Tensor, index: Any, value: Any) -> bool:
    """torch's memory checks for t[index] = value (index with arrays for tensors). torch
    writes a basic index (ints, slices) with copy_ into the region t[index] (refused when the
    region has shared elements, or partly overlaps the value); an advanced index with
    index_put_ (no check of t itself, but the value must not overlap what is written), or,
    for a single mask and a one-element value, with masked_fill_ (no checks).

    True when it made the write itself: a basic index into an expanded tensor is written as
    torch does, in place on the view t[index], so that only that region is rebased."""
    items = index if isinstance(index, tuple) else (index,)
    adv = [i for i in items if ops.movement._is_advanced(i)]
    d = t._data
    src = value._data if isinstance(value, Tensor) else None
    if src is None:
        dtypes.check_scalar_fits(value, d.dtype)
    elif src.size == 1 and src.dtype.kind == "f" and ops.movement.is_masked_fill(adv, src):
        dtypes.check_scalar_fits(float(src.reshape(-1)[0]), d.dtype)  # masked_fill's .item()
    if not adv:
        if not d.flags.writeable and has_shared_elements(d):
            region = d[index]
            if has_shared_elements(region):
                e = None if src is None else _expanded_as(src, region.shape)
                if e is not None and same_data(region, e):
                    increment_version(t)  # torch's copy_ of a tensor onto itself: no write
                    return True
                raise RuntimeError(f"__setitem__: {_INTERNAL}")
            sub = t[index]
            if isinstance(value, Tensor):
                sub.copy_(value if value.ndim <= sub.ndim else value.reshape(sub.shape))
            else:
                sub.fill_(value)
            return True
        if src is None or src.ndim == 0 and np.ndim(d[index]) != 0:
            return False  # a 0-d value is written with fill_, which clones an alias first
        region = ops.movement.take(d, index)  # with torch's strides for None's dims
        src = _expanded_as(src, region.shape)
        if src is None:
            return False  # the write itself names the shape mismatch
        # a region that torch's slicing returns as t itself is the same tensor; any other is
        # a new view, fully overlapping the value only with the same strides (size-1 dims'
        # too, as torch compares them)
        same = value is t and _whole(items, d.shape)
        check_overlap(region, src, "__setitem__", same)
        return False
    # torch slices with the basic part first (ints, slices, None), then index_put_s the rest
    basic: list = []
    rest: list = []
    for i in items:
        if ops.movement._is_advanced(i):
            a = np.asarray(i)
            basic += [slice(None)] * (a.ndim if a.dtype == np.bool_ else 1)
            rest.append(i)
        elif i is Ellipsis:
            basic.append(i)
            rest.append(i)
        elif i is None or isinstance(i, slice):
            basic.append(i)
            rest.append(slice(None))
        else:  # an int selects: its dim is gone
            basic.append(i)
    trivial = _whole(tuple(basic), d.shape)
    if not trivial and not d.flags.writeable and has_shared_elements(d):
        t[tuple(basic)][tuple(rest)] = value  # only that region is written (and rebased)
        return True
    if src is None or ops.movement.is_masked_fill(adv, src):
        return False  # (masked_fill_: no checks)
    try:
        region = d[tuple(basic)]
    except IndexError:
        return False  # the write names the bad index
    # torch's index_put_ writes into t itself when the basic part of the index is trivial,
    # and a value with leading 1s is first viewed without them (a new tensor)
    same = value is t and trivial and not (src.ndim and src.shape[0] == 1)
    check_overlap(region, src, "__setitem__", same, full_ok=False)
    return False


# -- memory layout of results (Note [Result layouts]: torch's strides, so view() acts as torch's) -
# numpy lays out a result in C order or in the input's order depending on the function, and
# torch decides per op family. What torch does is visible to a user through stride(),
# is_contiguous() and whether view() works, so each op states the family it belongs to with
# one of these helpers (all a no-op, and no copy, on the common C-contiguous path):
#   contiguous_layout: ops that allocate a fresh tensor of the result's shape (at::empty):
#     reductions, scans, softmax, masked_fill, tril/triu, cat of plain tensors, ...
#   preserved_layout: ops whose result is empty_like(x) with torch's preserve_format
#     (clone, *_like, sort, flip, type conversion): x's order of the dims by stride.
#   iterator_layout: elementwise ops (TensorIterator): the order of the dims by stride of the
#     first operand that has one, then the next, ... (numpy lets C order win on a conflict).
class memory_format:
    """torch.memory_format: how a new tensor lays out its dims in memory."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"torch.{self._name}"


preserve_format = memory_format("preserve_format")
contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")


def check_memory_format(op: str, fmt: Any, ndim: int,
                        default: memory_format = preserve_format) -> memory_format:  # fmt: skip
    """The memory format an op was asked for (`default` for None), checked as torch's."""
    if fmt is None:
        return default
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{op}(): argument 'memory_format' must be torch.memory_format, not "
                        f"{type(fmt).__name__}")  # fmt: skip
    rank = {"channels_last": 4, "channels_last_3d": 5}.get(fmt._name)
    if rank is not None and ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt._name} format")
    return fmt


def layout_as(a: np.ndarray, like: np.ndarray, fmt: memory_format) -> np.ndarray:
    """a (of like's shape) laid out in `fmt`, preserve_format meaning like's layout."""
    if fmt is preserve_format:
        return preserved_layout(a, like)
    return format_layout(a, fmt)


def contiguous_layout(a: np.ndarray) -> np.ndarray:
    """a in C order (a itself when it already is)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def stride_order(shape: tuple, *strides: tuple) -> list[int]:
    """torch's order of the dims of a new tensor over operands with these strides, fastest
    first (TensorIterator's reorder_dimensions; with one operand infer_dense_strides): an
    insertion sort from C order in which the first operand with unequal, non-zero strides for
    two dims decides, equal strides put the smaller dim first, and nothing decided keeps the
    order."""
    nd = len(shape)
    perm = list(range(nd - 1, -1, -1))

    def swap(d0: int, d1: int) -> int:
        for st in strides:
            s0, s1 = abs(st[d0]), abs(st[d1])
            if s0 == 0 or s1 == 0:
                continue
            if s0 != s1:
                return -1 if s0 < s1 else 1
            if shape[d0] > shape[d1]:
                return 1
        return 0

    for i in range(1, nd):
        j = i
        for k in range(i - 1, -1, -1):
            c = swap(perm[k], perm[j])
            if c > 0:
                perm[k], perm[j] = perm[j], perm[k]
                j = k
            elif c < 0:
                break
    return perm


def _laid_out(a: np.ndarray, perm: list[int]) -> bool:
    """a's dims of size > 1 have the C strides of the order `perm` (fastest first)."""
    if a.size == 0:
        return True
    step = a.itemsize
    for d in perm:
        n = a.shape[d]
        if n > 1:
            if a.strides[d] != step:
                return False
            step *= n
    return True


def in_order(a: np.ndarray, perm: list[int]) -> np.ndarray:
    """a's values in an array whose dims are laid out in `perm` order (fastest first), with
    torch's strides for size-1 dims too (they decide later tie-breaks): a itself when it
    already is, a view of a when only those differ, else a new array."""
    if a.size == 0:
        return a
    want = [0] * a.ndim
    step = a.itemsize
    for d in perm:
        want[d] = step
        step *= a.shape[d]
    if a.strides == tuple(want):
        return a
    if _laid_out(a, perm):
        return np.lib.stride_tricks.as_strided(a, a.shape, want)
    out = _empty_ordered(a.shape, a.dtype, perm)
    out[...] = a
    return out


def _empty_ordered(shape: tuple, dtype: Any, perm: list[int]) -> np.ndarray:
    order = perm[::-1]
    return np.empty([shape[d] for d in order], dtype).transpose(np.argsort(order))


def preserved_layout(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """a (of like's shape) laid out as torch's empty_like(like) (preserve_format)."""
    if like.flags.c_contiguous and a.flags.c_contiguous:
        return a
    return in_order(a, stride_order(like.shape, like.strides))


def preserved_copy(x: np.ndarray, dtype: Any = None) -> np.ndarray:
    """A copy of x (converted to `dtype`) with the strides of torch's clone/to with
    preserve_format: x's own, those of size-1 dims included, when x is dense; else dense in
    x's order of dims (infer_dense_strides). One copy; C order when x is plainly C-ordered."""
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    out = np.empty(x.shape, dtype)
    if not (x.flags.c_contiguous and _same_strides(x, out)):
        if _dense(x):  # the same strides, of size-1 dims too: they decide later tie-breaks
            out = _empty_strided_as(x, dtype)
        else:
            out = _empty_ordered(x.shape, dtype, stride_order(x.shape, x.strides))
    np.copyto(out, x, casting="unsafe")
    return out


def _empty_strided_as(x: np.ndarray, dtype: Any) -> np.ndarray:
    """A new array of x's shape and dtype `dtype` with x's strides (in elements); x dense."""
    step = np.dtype(dtype).itemsize
    return np.lib.stride_tricks.as_strided(
        np.empty(x.size, dtype), x.shape, [s // x.itemsize * step for s in x.strides]
    )


def _same_strides(x: np.ndarray, out: np.ndarray) -> bool:
    if x.itemsize == out.itemsize:
        return x.strides == out.strides
    return all(s // x.itemsize == t // out.itemsize for s, t in zip(x.strides, out.strides))


def iterator_layout(a: np.ndarray, *operands: Any) -> np.ndarray:
    """a laid out as torch's TensorIterator lays out the result of an elementwise op over
    `operands` (arrays broadcastable to a's shape; other operands are scalars and ignored).
    When every operand is C-contiguous and one of them has a's shape, a is returned as it is:
    numpy's result then is C-contiguous, and so is torch's."""
    if a.ndim < 2:  # nothing to order (and no loop on the hot path of small tensors)
        return a if a.flags.c_contiguous else np.ascontiguousarray(a)
    full = None
    same = True  # every operand an array of a's shape (a scalar is a 0-d operand of torch's)
    for o in operands:  # the common case first, with no further call
        if o.__class__ is np.ndarray:
            if not o.flags.c_contiguous:
                break
            if o.shape != a.shape:
                same = False
            elif full is None:
                full = o
        else:
            same = False
    else:
        if same and full is not None:  # torch's fast setup: a new C-contiguous tensor
            return format_layout(a, contiguous_format)
        # numpy's strides for size-1 dims are torch's when they are that operand's
        if full is not None and (1 not in a.shape or full.strides == a.strides):
            return a
    # mutual broadcasting decides by the tie-breaks, so even C-contiguous operands go on here
    arrs = [o for o in operands if isinstance(o, np.ndarray) and o.ndim]
    # torch first casts an operand of another dtype than the op's (a new tensor in the
    # operand's order of dims, dense: an expanded dim gets a stride of its own)
    common = a.dtype if a.dtype != np.bool_ or len(operands) != 2 else dtypes.promote(*operands)
    nd = a.ndim
    if all(o.__class__ is np.ndarray and o.shape == a.shape for o in operands):
        fast = _fast_setup(a, [_cast_layout(o, common) for o in operands])
        if fast is not None:
            return fast
    strides = []
    for o in arrs:
        st = o.strides
        if o.dtype != common and not _dense(o):
            st = _empty_ordered(o.shape, o.dtype, stride_order(o.shape, st)).strides
        pad = nd - o.ndim  # broadcast dims (added or of size 1) have stride 0
        strides.append(
            (0,) * pad
            + tuple(
                0 if n == 1 and a.shape[pad + i] != 1 else s
                for i, (n, s) in enumerate(zip(o.shape, st))
            )
        )
    return in_order(a, stride_order(a.shape, *strides))


def _cast_layout(o: np.ndarray, dtype: Any) -> np.ndarray:
    """o, or (its layout only) torch's cast of it to `dtype`: dense in o's order of dims."""
    if o.dtype == dtype or _dense(o):
        return o
    return _empty_ordered(o.shape, o.dtype, stride_order(o.shape, o.strides))


def _fast_setup(a: np.ndarray, operands: list[np.ndarray]) -> np.ndarray | None:
    """torch's TensorIterator fast setup, for operands that all have a's shape: when all
    are C-contiguous, a new C-contiguous result; all channels_last, a channels_last one; all
    dense with the same strides, those strides (of size-1 dims too). None otherwise: the
    general rule (reorder_dimensions) then decides."""
    nd = a.ndim
    if all(o.flags.c_contiguous for o in operands):
        return format_layout(a, contiguous_format)
    if nd in (4, 5) and all(_laid_out(o, _format_perm(nd)) for o in operands):
        return format_layout(a, channels_last if nd == 4 else channels_last_3d)
    first = operands[0]
    if _dense(first) and all(_same_strides(first, o) for o in operands[1:]):
        if _same_strides(first, a):
            return a
        out = _empty_strided_as(first, a.dtype)
        out[...] = a
        return out
    return None


def suggest_memory_format(a: np.ndarray) -> memory_format:
    """torch's suggest_memory_format: channels_last for a 4-d array whose strides order the
    dims (N, H, W, C) from slowest to fastest (channels_last_3d likewise for 5-d), else
    contiguous_format. Ambiguous cases (trivial C dim, size-1 dims) are contiguous."""
    if a.ndim not in (4, 5):
        return contiguous_format
    order = (1, 3, 2, 0) if a.ndim == 4 else (1, 4, 3, 2, 0)
    st = [s // a.itemsize for s in a.strides]  # size-1 dims' too: they are torch's
    if st[1] == 0:
        return contiguous_format
    low = 0
    for d in order:
        if a.shape[d] == 0 or st[d] < low or (d == 0 and low == st[1]):
            return contiguous_format
        low = st[d] * (a.shape[d] if a.shape[d] > 1 else 1)
    return channels_last if a.ndim == 4 else channels_last_3d


def _format_perm(ndim: int) -> list[int]:
    return [1, 3, 2, 0] if ndim == 4 else [1, 4, 3, 2, 0]  # fastest first: C, W, H, (D,) N


def has_format(a: np.ndarray, fmt: memory_format) -> bool:
    """a is laid out in memory format `fmt` (contiguous, channels_last or channels_last_3d)."""
    if fmt is contiguous_format or a.ndim not in (4, 5):
        return bool(a.flags.c_contiguous)
    return _laid_out(a, _format_perm(a.ndim))


def empty_in_format(shape: tuple, dtype: Any, fmt: memory_format) -> np.ndarray:
    """A new array of `shape` laid out in memory format `fmt`."""
    if fmt is contiguous_format or len(shape) not in (4, 5):
        return np.empty(shape, dtype)
    return _empty_ordered(shape, dtype, _format_perm(len(shape)))


def common_format(arrays: Any) -> memory_format:
    """torch's cat output format: the inputs' suggested memory format when they all agree,
    else contiguous_format."""
    fmt = None
    for a in arrays:
        f = suggest_memory_format(a)
        if f is contiguous_format or (fmt is not None and f is not fmt):
            return contiguous_format
        fmt = f
    return fmt or contiguous_format


def format_layout(a: np.ndarray, fmt: memory_format) -> np.ndarray:
    """a laid out in memory format `fmt` with the strides of torch's new tensor in it, those
    of size-1 dims too (a itself when it already is, a view when only those differ)."""
    if fmt is contiguous_format or a.ndim not in (4, 5):
        if a.flags.c_contiguous and (a.ndim < 2 or 1 not in a.shape):
            return a
        return in_order(a, list(range(a.ndim - 1, -1, -1)))
    return in_order(a, _format_perm(a.ndim))


# -- in-place operations ---------------------------------------------------------------------
def inplace(
    t: Tensor,
    fn: Callable[[Tensor], Tensor] | None,
    other: Any,
    name: str,
    ufunc: Any = None,
    fast: Callable[[np.ndarray], Any] | None = None,
) -> Tensor:
    """Run the in-place operation `name` on `t` (Note [In-place]).

    fn(x) computes the new value out of place (recorded when a graph is); `ufunc`/`fast`, when
    given, write it straight into the array when no graph is recorded. `other` is the operand
    whose requires_grad matters (or None)."""
    d = t._data
    if not d.flags.writeable:  # an expanded tensor (Note [In-place]: memory overlap)
        if name in _DEPRECATED_ON_EXPANDED and has_shared_elements(d):
            warnings.warn(_DEPRECATED_ON_EXPANDED[name], UserWarning, stacklevel=3)
        d = writable_data(t, name, internal_ok=name in _IDEMPOTENT
                          # torch: x.copy_(x), or of x on the same memory, writes nothing
                          or (name == "copy_" and isinstance(other, Tensor)
                              and same_data(d, other._data))
                          or (name == "fill_" and not isinstance(other, Tensor)))  # fmt: skip
    if other.__class__ is Tensor and name in _ELEMENTWISE:
        check_overlap(d, other._data, name, t is other)
        if other._data.shape != d.shape:  # the shapes before the dtypes, as torch
            _check_inplace_shape(d.shape, other._data.shape, name)
    info = t._view
    if _state.enabled:
        base = None if info is None else info.base
        if t.requires_grad and t.grad_fn is None and info is None:
            raise RuntimeError(
                f"{name}: a leaf Variable that requires grad is being used in an in-place "
                f"operation (shape {tuple(t.shape)}); wrap the update in at.no_grad() or use "
                f"an out-of-place op"
            )
        # nothing differentiable is recorded into an integer or bool tensor (torch makes no
        # differentiable views of one either, so the view checks below do not apply)
        other_rg = isinstance(other, Tensor) and other.requires_grad and d.dtype.kind in "fc"
        base_rg = base is not None and base.requires_grad
        if info is not None and info.created_without_grad and (base_rg or other_rg):
            raise RuntimeError(
                f"{name}: A view was created in no_grad mode and is being modified inplace "
                f"with grad mode enabled. Given that this use case is ambiguous and "
                f"error-prone, it is forbidden. You can clarify your code by moving both the "
                f"view and the inplace either both inside the no_grad block (if you don't "
                f"want the inplace to be tracked) or both outside (if you want the inplace to "
                f"be tracked)."
            )
        if base_rg and base.grad_fn is None:  # type: ignore[union-attr]
            raise RuntimeError(
                f"{name}: a view of a leaf Variable that requires grad is being used in an "
                f"in-place operation (shape {tuple(t.shape)}); wrap the update in "
                f"at.no_grad() or use an out-of-place op"
            )
        if t.requires_grad or other_rg or base_rg:
            if fn is None:
                raise RuntimeError(f"{name} is not differentiable")
            if info is not None and info.multi:
                raise RuntimeError(
                    f"{name}: Output of {info.multi}Backward is a view and is being modified "
                    f"inplace. This view is the output of a function that returns multiple "
                    f"views. Such functions do not allow the output views to be modified "
                    f"inplace. You should replace the inplace operation by an out-of-place one."
                )
            return _record_inplace(d, t, fn, info, name, fast)
    _write_inplace(d, t, fn, other, name, ufunc, fast)
    increment_version(t)
    return t


def _check_inplace_shape(shape: tuple, other: tuple, name: str) -> None:
    try:
        b = np.broadcast_shapes(shape, other)
    except ValueError:
        return  # the op names shapes that do not broadcast at all
    if b != shape:
        raise RuntimeError(
            f"{name}: output with shape {list(shape)} doesn't match the broadcast shape {list(b)}"
        )


def _write_inplace(d: np.ndarray, t: Tensor, fn: Any, other: Any, name: str, ufunc: Any,
                   fast: Any) -> None:  # fmt: skip
    """No graph is recorded: write the new value into d, t's (writable) array; its views see
    it."""
    if ufunc is not None:
        if d.dtype.kind in "biu":
            # torch refuses to write a float result into an integer/bool tensor (int.add_(0.5),
            # int.div_(2)); numpy's unsafe casting would silently truncate it.
            rt = dtypes.promote(t, other)
            if ufunc is np.true_divide and rt.kind != "f":
                rt = dtypes.get_default_dtype()
            dtypes.check_inplace(name, rt, d.dtype)
        o = other._data if isinstance(other, Tensor) else other
        try:
            ufunc(d, o, out=d, casting="unsafe")
        except ValueError:
            raise RuntimeError(
                f"{name}: cannot apply to a tensor of shape {tuple(d.shape)} with an operand of "
                f"shape {tuple(np.shape(o))}: output with shape {list(d.shape)} doesn't match "
                f"the broadcast shape"
            ) from None
    elif fast is not None:
        fast(d)
    else:
        prev = _state.enabled
        _state.enabled = False
        try:
            out = fn(t)
        finally:
            _state.enabled = prev
        if out._data.dtype != d.dtype:  # int.clamp_(max=0.5), bool.pow_(2): torch refuses
            dtypes.check_inplace(name, out._data.dtype, d.dtype)
        _copy_into(d, out._data, name)


def _copy_into(d: np.ndarray, value: np.ndarray, name: str) -> None:
    if value.shape != d.shape:
        raise RuntimeError(
            f"{name}: output with shape {list(d.shape)} doesn't match the broadcast shape "
            f"{list(value.shape)}"
        )
    np.copyto(d, value, casting="unsafe")


def _record_inplace(
    d: np.ndarray,
    t: Tensor,
    fn: Callable[[Tensor], Tensor],
    info: ViewOf | None,
    name: str,
    fast: Callable[[np.ndarray], Any] | None = None,
) -> Tensor:
    """The in-place op while a graph is recorded (d: t's array, writable): see the module
    docstring."""
    out = fn(_history(t, d.copy()))  # the snapshot keeps the old value for fn's node
    if out._data.dtype != d.dtype:
        dtypes.check_inplace(name, out._data.dtype, d.dtype)
        out = out.to(d.dtype)
    # an expanded view (a fill_ or setitem on it): elements share memory, so the new value
    # reaches the memory through the base's new value below, not element by element
    shared = info is not None and has_shared_elements(d)
    if shared:  # the write itself, as without a graph (fill_, an index_put_)
        _write_inplace(d, t, fn, None, name, None, fast)
    else:
        _copy_into(d, out._data, name)
    t._vc[0] += 1
    if info is None:
        t.grad_fn, t._output_nr, t.requires_grad = out.grad_fn, out._output_nr, out.requires_grad
        _refresh_views(t)
        return t
    base = info.base
    new = ops.inplace.CopySlices.apply(_history(base, base._data), out, steps=info.steps)
    base.grad_fn, base._output_nr, base.requires_grad = new.grad_fn, 0, new.requires_grad
    _refresh_views(base)  # t among them
    return t

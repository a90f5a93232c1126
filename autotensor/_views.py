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
    base and views see the bump too, and a node that saved any of them refuses backward."""
    t._vc[0] += 1


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
    t._vcount = base._vc
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
            if info is None or info.base is not root or info.created_without_grad:
                continue
            r = ops.inplace.replay(root, info.steps)
            v.grad_fn, v._output_nr, v.requires_grad = r.grad_fn, r._output_nr, r.requires_grad
    finally:
        _state.enabled = prev


def _history(t: Tensor, data: np.ndarray) -> Tensor:
    """A tensor on `data` with the autograd history of `t` (own version counter)."""
    a = _new(data, t.requires_grad)
    a.grad_fn, a._output_nr = t.grad_fn, t._output_nr
    return a


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
    info = t._view
    if _state.enabled:
        base = None if info is None else info.base
        if t.requires_grad and t.grad_fn is None and info is None:
            raise RuntimeError(
                f"{name}: a leaf Variable that requires grad is being used in an in-place "
                f"operation (shape {tuple(t.shape)}); wrap the update in at.no_grad() or use "
                f"an out-of-place op"
            )
        other_rg = isinstance(other, Tensor) and other.requires_grad
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
            return _record_inplace(t, fn, info, name)
    _write_inplace(t, fn, other, name, ufunc, fast)
    t._vc[0] += 1
    return t


def _write_inplace(t: Tensor, fn: Any, other: Any, name: str, ufunc: Any, fast: Any) -> None:
    """No graph is recorded: write the new value into t's array (its views see it)."""
    d = t._data
    if not d.flags.writeable:
        raise RuntimeError(
            f"{name}: unsupported operation: the tensor of shape {tuple(d.shape)} is a "
            f"broadcast (expanded) view, in which more than one element refers to the same "
            f"memory location; clone() it first"
        )
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
        _copy_into(d, out._data, name)


def _copy_into(d: np.ndarray, value: np.ndarray, name: str) -> None:
    if value.shape != d.shape:
        raise RuntimeError(
            f"{name}: output with shape {list(d.shape)} doesn't match the broadcast shape "
            f"{list(value.shape)}"
        )
    np.copyto(d, value, casting="unsafe")


def _record_inplace(
    t: Tensor, fn: Callable[[Tensor], Tensor], info: ViewOf | None, name: str
) -> Tensor:
    """The in-place op while a graph is recorded: see the module docstring."""
    d = t._data
    if not d.flags.writeable:
        _write_inplace(t, fn, None, name, None, None)  # raises
    out = fn(_history(t, d.copy()))  # the snapshot keeps the old value for fn's node
    if out._data.dtype != d.dtype:
        dtypes.check_inplace(name, out._data.dtype, d.dtype)
        out = out.to(d.dtype)
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

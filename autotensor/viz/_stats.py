"""Value and gradient statistics for the visualiser, and `trace`, which records them.

A node keeps no output Tensor (Note [Saved outputs] in autotensor/function.py), so after a
forward pass the values of intermediate results are gone unless something kept them. Three
sources are read, best first:

1. `trace()`: while it is active, every recorded node gets `_viz_values` (statistics of its
   outputs, taken at forward time) and `_viz_consts` (its inputs that need no gradient), and
   each output gets a gradient hook that stores `_viz_grads` when backward reaches it.
2. Tensors the user kept with `retain_grad()`: the node holds a weak reference to them.
3. Outputs a primitive saved for its own backward (Exp, Sigmoid, Tanh save their result).
"""

from __future__ import annotations

import linecache
import math
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from autotensor import graph
from autotensor.tensor import Tensor


@dataclass(frozen=True)
class ValueStats:
    """mean/std/min/max of the finite entries of an array, and how many were NaN or Inf."""

    mean: float
    std: float
    min: float
    max: float
    nan: int
    inf: int
    size: int

    @property
    def finite(self) -> bool:
        return self.nan == 0 and self.inf == 0


@dataclass(frozen=True)
class GradStats:
    """The L2 norm of a gradient (NaN or Inf when it has such entries) and their counts."""

    norm: float
    nan: int
    inf: int

    @property
    def finite(self) -> bool:
        return self.nan == 0 and self.inf == 0


def value_stats(a: np.ndarray) -> ValueStats | None:
    """Statistics of `a` (any shape); None for an empty array or a non-numeric dtype."""
    if a.size == 0 or a.dtype.kind not in "biuf":
        return None
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    lo, hi = float(a.min()), float(a.max())
    nan = inf = 0
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN propagates through min/max
        bad_nan = np.isnan(a)
        nan = int(bad_nan.sum())
        inf = int(np.isinf(a).sum())
        a = a[np.isfinite(a)]
        if a.size == 0:
            return ValueStats(math.nan, math.nan, math.nan, math.nan, nan, inf, nan + inf)
        lo, hi = float(a.min()), float(a.max())
    # float64 accumulation: a float32 mean of a million entries loses digits
    mean = float(a.mean(dtype=np.float64))
    std = float(a.std(dtype=np.float64))
    return ValueStats(mean, std, lo, hi, nan, inf, int(a.size) + nan + inf)


def grad_stats(g: np.ndarray) -> GradStats:
    """‖g‖₂ over all entries; NaN/Inf entries are counted (the norm is then not finite)."""
    if g.size == 0:
        return GradStats(0.0, 0, 0)
    if g.dtype.kind != "f":
        g = g.astype(np.float64)
    norm = float(np.linalg.norm(g.reshape(-1)))  # BLAS nrm2 scales, so no overflow
    if math.isfinite(norm):
        return GradStats(norm, 0, 0)
    return GradStats(norm, int(np.isnan(g).sum()), int(np.isinf(g).sum()))


# -- reading what is available for a node -----------------------------------------------------
def saved_entries(node: Any) -> list[tuple[int, Any]]:
    """(kind, object) per saved entry: kind 1 is an output of the node, object (nr, array);
    kind 0 anything else (an input Tensor, an array, a number). Empty once freed.

    The node stores quadruples (kind, object, version counter, version), either flat in one
    tuple or as one tuple each; both layouts are read.
    """
    saved = getattr(node, "_saved", None)
    if not saved:
        return []
    if isinstance(saved[0], tuple) and len(saved[0]) == 4:
        return [(e[0], e[1]) for e in saved]
    return [(saved[j], saved[j + 1]) for j in range(0, len(saved), 4)]


def _retained(node: Any, nr: int) -> Tensor | None:
    ret = getattr(node, "_retained", None)
    if ret and nr in ret:
        return ret[nr]()
    return None


def op_values(node: Any, nr: int) -> ValueStats | None:
    """Statistics of output `nr` of `node`, or None when nothing recorded its value."""
    vals = node.__dict__.get("_viz_values")
    if vals is not None and nr < len(vals):
        return vals[nr]
    t = _retained(node, nr)
    if t is not None:
        return value_stats(t._data)
    for kind, obj in saved_entries(node):
        if kind == 1 and obj[0] == nr:
            return value_stats(obj[1])
    return None


def op_grad(node: Any, nr: int) -> GradStats | None:
    """The gradient of output `nr` of `node` after backward, or None when not recorded."""
    grads = node.__dict__.get("_viz_grads")
    if grads is not None and nr in grads:
        return grads[nr]
    t = _retained(node, nr)
    if t is not None and t.grad is not None:
        return grad_stats(t.grad._data)
    return None


def grad_reached(node: Any) -> bool:
    """True when a trace recorded a gradient for some output of `node`."""
    return bool(node.__dict__.get("_viz_grads"))


def leaf_grad(t: Tensor) -> GradStats | None:
    return None if t.grad is None else grad_stats(t.grad._data)


# -- the recorder ------------------------------------------------------------------------------
class _GradHook:
    """Tensor hook storing the gradient statistics of one node output on the node.

    Holds the node weakly: the hook lives in `node._hooks`, and a strong reference back would
    make every recorded node part of a reference cycle.
    """

    __slots__ = ("node", "nr")

    def __init__(self, node: Any, nr: int) -> None:
        self.node = weakref.ref(node)
        self.nr = nr

    def __call__(self, g: Tensor) -> None:
        node = self.node()
        if node is not None:
            grads = node.__dict__.get("_viz_grads")
            if grads is None:
                grads = node._viz_grads = {}
            grads[self.nr] = grad_stats(g._data)


@dataclass(frozen=True)
class ConstInput:
    """An input of a recorded op that needs no gradient (known only under `trace`)."""

    slot: int
    ref: Any  # weakref to the Tensor, to tell one constant used twice from two constants
    shape: tuple
    dtype: np.dtype
    stats: ValueStats | None


class Call:
    """One call of a module, recorded under `trace(module=model)`: the module, the call that
    was open around it (None at the top), its position in the scope path (1 = outermost) and
    a serial number in calling order."""

    __slots__ = ("owner", "parent", "depth", "serial")

    def __init__(self, owner: Any, parent: Call | None, depth: int, serial: int) -> None:
        self.owner = owner
        self.parent = parent
        self.depth = depth
        self.serial = serial

    def chain(self) -> dict[int, Call]:
        """depth -> call, for this call and the calls around it."""
        out: dict[int, Call] = {}
        c: Call | None = self
        while c is not None:
            out[c.depth] = c
            c = c.parent
        return out


_INTERNAL: dict[str, bool] = {}  # filename -> inside autotensor or nn (not the user's code)


def _internal(filename: str) -> bool:
    r = _INTERNAL.get(filename)
    if r is None:
        f = filename.replace("\\", "/")
        r = _INTERNAL[filename] = "/autotensor/" in f or "/nn/" in f or f.startswith("<frozen")
    return r


def creation_site(depth: int = 2) -> tuple[str, int, str] | None:
    """(filename, line, function) of the innermost caller outside autotensor and nn: the
    line of the user's code that created an op. A walk up the frames, ~1 µs."""
    f: Any = sys._getframe(depth)
    while f is not None and _internal(f.f_code.co_filename):
        f = f.f_back
    if f is None:
        return None
    return (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def source_line(node: Any) -> str | None:
    """'file:line in function: code' of the user's line that recorded `node`, when a trace
    (or anomaly mode) saw it; None otherwise."""
    site = node.__dict__.get("_viz_where")
    if site is None:
        tr = getattr(node, "_trace", None)
        if not tr:
            return None
        for fr in reversed(tr):
            if not _internal(fr.filename):
                site = (fr.filename, fr.lineno, fr.name)
                break
        else:
            return None
    filename, lineno, func = site
    code = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno} in {func}: {code}" if code else f"{filename}:{lineno} in {func}"


def fused_steps(node: Any) -> tuple[tuple, dict | None, dict | None]:
    """(names, values, grads) of the per-step tensors of a fused recurrent layer node:
    values name -> [ValueStats per time step] (from the trace, or from the buffers the node
    still holds), grads name -> array of per-step gradient norms (recorded by its backward
    under a trace, Note [per-step records] in autotensor/ops/recurrent.py)."""
    names = getattr(node, "step_names", ())
    vals = node.__dict__.get("_viz_step_values")
    if vals is None and names:
        arrays = node.step_values()
        if arrays is not None:
            vals = {k: [value_stats(a[t]) for t in range(a.shape[0])] for k, a in arrays.items()}
    return names, vals, getattr(node, "step_grads", None)


def is_fused(node: Any) -> bool:
    """True for a node that runs a whole recurrent layer (it can be drawn as its steps)."""
    return bool(getattr(node, "step_names", ()))


class trace:
    """Record statistics of every op during a forward pass and the backward that follows.

    Usage::

        with at.viz.trace(module=model):
            loss = model(x, y)
        loss.backward()
        at.viz.draw(loss, module=model, show_values=True, show_grads=True)

    While active, each recorded op stores mean/std/min/max (and NaN/Inf counts) of its outputs
    and of its inputs that need no gradient (drawn as constants), the line of your code that
    created it, and registers a gradient hook on each output, so that backward leaves the
    gradient norm of every intermediate result on its node. A fused recurrent layer also keeps
    the statistics of its gates and states at every step, and its backward the gradient norm
    of each (Note [per-step records] in autotensor/ops/recurrent.py). With `module=model`,
    every call of each of its modules is recorded (through forward pre/post hooks, removed on
    exit), so each call is drawn as its own box. Nothing is kept except these numbers. Only
    the thread that entered the context is recorded. Costs O(size) per op: for debugging and
    pictures, not for training loops.
    """

    def __init__(self, values: bool = True, grads: bool = True, *, module: Any = None) -> None:
        if module is not None and not hasattr(module, "named_modules"):
            raise TypeError(
                f"autotensor.viz.trace: module must be a model with named_modules() (an "
                f"nn.Module), got {type(module).__name__}"
            )
        self.values = values
        self.grads = grads
        self.module = module
        self.count = 0  # ops recorded
        self.calls = 0  # module calls recorded
        self._stack: list[Call] = []
        self._handles: list = []

    def __enter__(self) -> trace:
        self._thread = threading.get_ident()
        self._prev = graph._observer
        graph._observer = self._observe
        if self.module is not None:
            seen: set[int] = set()
            for _, m in self.module.named_modules():
                if id(m) in seen:
                    continue
                seen.add(id(m))
                self._handles.append(m.register_forward_pre_hook(self._enter_call))
                try:
                    h = m.register_forward_hook(self._exit_call, always_called=True)
                except TypeError:  # a module class without always_called
                    h = m.register_forward_hook(self._exit_call)
                self._handles.append(h)
        return self

    def __exit__(self, *exc: object) -> None:
        graph._observer = self._prev
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._stack.clear()

    # forward pre/post hooks: they run inside the module's scope (nn.Module.__call__ pushes
    # the module before calling them), so the depth of the call is the current scope length
    def _enter_call(self, module: Any, args: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        parent = self._stack[-1] if self._stack else None
        self.calls += 1
        self._stack.append(Call(module, parent, len(graph._scopes.current), self.calls))

    def _exit_call(self, module: Any, args: Any, out: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        if self._stack and self._stack[-1].owner is module:
            self._stack.pop()

    def _observe(self, node: Any, inputs: tuple, results: Any) -> None:
        if self._prev is not None:
            self._prev(node, inputs, results)
        if threading.get_ident() != self._thread:
            return
        self.count += 1
        node._viz_where = creation_site(2)
        if self._stack:
            node._viz_call = self._stack[-1]
        if is_fused(node):
            if self.grads:
                node.record_steps = True
            if self.values:
                arrays = node.step_values()
                if arrays is not None:
                    node._viz_step_values = {
                        k: [value_stats(a[t]) for t in range(a.shape[0])] for k, a in arrays.items()
                    }
        if self.values:
            node._viz_values = [value_stats(r._data) for r in results]
            consts = []
            for i, a in enumerate(inputs):
                if isinstance(a, Tensor) and not a.requires_grad:
                    consts.append(
                        ConstInput(
                            i, weakref.ref(a), a._data.shape, a._data.dtype, value_stats(a._data)
                        )
                    )
            if consts:
                node._viz_consts = consts
        if self.grads:
            for i, r in enumerate(results):
                if r.requires_grad:
                    r.register_hook(_GradHook(node, i))

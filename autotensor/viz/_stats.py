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

import math
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


class trace:
    """Record statistics of every op during a forward pass and the backward that follows.

    Usage::

        with at.viz.trace():
            loss = model(x, y)
        loss.backward()
        at.viz.draw(loss, show_values=True, show_grads=True)

    While active, each recorded op stores mean/std/min/max (and NaN/Inf counts) of its outputs
    and of its inputs that need no gradient (drawn as constants), and registers a gradient hook
    on each output, so that backward leaves the gradient norm of every intermediate result on
    its node. Nothing is kept except these numbers. Only the thread that entered the context is
    recorded. Costs O(size) per op: for debugging and pictures, not for training loops.
    """

    def __init__(self, values: bool = True, grads: bool = True) -> None:
        self.values = values
        self.grads = grads
        self.count = 0  # ops recorded

    def __enter__(self) -> trace:
        self._thread = threading.get_ident()
        self._prev = graph._observer
        graph._observer = self._observe
        return self

    def __exit__(self, *exc: object) -> None:
        graph._observer = self._prev

    def _observe(self, node: Any, inputs: tuple, results: Any) -> None:
        if self._prev is not None:
            self._prev(node, inputs, results)
        if threading.get_ident() != self._thread:
            return
        self.count += 1
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

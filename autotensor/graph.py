"""The recorded graph: the one traversal (shared by the engine and the visualiser), module
scopes for grouping, broadcasting of inputs, and anomaly detection.

A node is a `Function` instance. Its `_edges` hold, per positional input, either None (no
gradient flows there), a leaf Tensor (gradient is accumulated into `.grad`), or a pair
(producer node, output index).
"""

from __future__ import annotations

import contextlib
import operator
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from autotensor.function import Function


def topo_sort(roots: Iterable[Function]) -> list[Function]:
    """Nodes reachable from `roots`, producers before consumers.

    Every node carries `_seq`, the order in which it was recorded; a node's inputs were
    always recorded before it, so sorting the reachable set by `_seq` is a topological
    order. The walk is an explicit stack, so a graph of any depth works (no recursion).
    """
    seen: set = set()
    stack: list = []
    for r in roots:
        if r not in seen:
            seen.add(r)
            stack.append(r)
    order: list = []
    while stack:
        node = stack.pop()
        order.append(node)
        for e in node._edges:
            if type(e) is tuple:
                n = e[0]
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
    order.sort(key=_seq_of)
    return order


_seq_of = operator.attrgetter("_seq")  # the sort key, without a Python call per node


# -- module scopes ---------------------------------------------------------------------------
class _Scopes(threading.local):
    current: tuple = ()


_scopes = _Scopes()


@contextlib.contextmanager
def scope(owner: Any) -> Iterator[None]:
    """Record ops created inside under `owner` (nn.Module.__call__ passes the module).

    Each node keeps, in `node._scope`, the tuple of owners open when it was recorded
    (outermost first); the visualiser groups nodes into nested boxes from it, naming each
    owner from `model.named_modules()` or, failing that, from a string owner itself.
    """
    prev = _scopes.current
    _scopes.current = prev + (owner,)
    try:
        yield
    finally:
        _scopes.current = prev


def push_scope(owner: Any) -> tuple:
    """Low-overhead form of `scope`: returns the token to pass to `pop_scope`."""
    prev = _scopes.current
    _scopes.current = prev + (owner,)
    return prev


def pop_scope(token: tuple) -> None:
    _scopes.current = token


# -- broadcasting (Note [Broadcasting] in function.py) ---------------------------------------
def broadcast_inputs(cls: type, args: tuple, needs: tuple) -> tuple:
    """Insert BroadcastTo nodes before inputs of a broadcasting op that require grad."""
    # Plain arrays count too (Where's condition): they can widen the result's shape.
    shapes = [
        a._data.shape if hasattr(a, "_data") else a.shape
        for a in args
        if hasattr(a, "_data") or isinstance(a, np.ndarray)
    ]
    if len(shapes) < 2:
        return args  # a Tensor and Python scalars: numpy broadcasts, nothing to reduce
    first = shapes[0]
    for s in shapes:
        if s != first:
            break
    else:
        return args
    try:
        target = np.broadcast_shapes(*shapes)
    except ValueError:
        raise RuntimeError(
            f"{cls.__name__}: shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be "
            f"broadcast together"
        ) from None
    from autotensor.ops.movement import BroadcastTo

    return tuple(
        BroadcastTo.apply(a, target) if n and a._data.shape != target else a
        for a, n in zip(args, needs)
    )


# -- observer --------------------------------------------------------------------------------
# One optional callback `fn(node, inputs, results)` that Function.apply calls for every node it
# records (autotensor.viz.trace sets it to gather value and gradient statistics). While it is
# None, recording a node pays one attribute read for it.
_observer: Any = None


# -- anomaly detection -----------------------------------------------------------------------
class _Anomaly(threading.local):
    enabled: bool = False


_anomaly = _Anomaly()


class detect_anomaly:
    """Context manager: report the op (and your source line) that first makes NaN/Inf.

    In the forward pass each op's outputs are checked; in backward each node's input
    gradients are, and the error names the forward op that recorded the node and where.
    Slow; for debugging only.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._prev = _anomaly.enabled
        _anomaly.enabled = self.check_nan

    def __exit__(self, *exc: object) -> None:
        _anomaly.enabled = self._prev


def user_frame(trace: Any) -> str:
    """The innermost frame of a recorded stack that is not inside autotensor or nn."""
    if not trace:
        return "unknown location"
    for fr in reversed(trace):
        f = fr.filename.replace("\\", "/")
        if "/autotensor/" not in f and "/nn/" not in f:
            return f'File "{fr.filename}", line {fr.lineno}, in {fr.name}\n    {fr.line}'
    fr = trace[-1]
    return f'File "{fr.filename}", line {fr.lineno}, in {fr.name}\n    {fr.line}'


def check_forward(cls: type, results: list) -> None:
    import traceback

    for r in results:
        d = r._data
        if d.dtype.kind in "fc" and not np.isfinite(d).all():
            if _inside_backward_rule():
                return  # check_backward reports it, naming the node whose rule this is
            where = user_frame(traceback.extract_stack()[:-2])
            raise RuntimeError(
                f"Function '{cls.__name__}' returned nan/inf values in its output "
                f"{tuple(d.shape)} during forward.\n  {where}"
            )


def _inside_backward_rule() -> bool:
    """True when the current op is called by a backward rule that the engine is running."""
    import sys

    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "_run_node" and f.f_code.co_filename.endswith("engine.py"):
            return True
        f = f.f_back
    return False


def check_backward(node: Any, grads: tuple) -> None:
    for i, g in enumerate(grads):
        if g is None:
            continue
        d = g._data
        if d.dtype.kind in "fc" and not np.isfinite(d).all():
            raise RuntimeError(
                f"Function '{node.name()}' returned nan/inf values in its {i}th output "
                f"(the gradient of input {i}, shape {tuple(d.shape)}). The forward op that "
                f"recorded it was called at:\n  {user_frame(node._trace)}"
            )

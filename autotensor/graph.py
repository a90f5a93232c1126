"""The recorded graph: recording a node (steps 1-2 of docs/design.md) and the one traversal
of what was recorded (shared by the engine and the visualiser).

A node is a `Function` instance. Recording one (`record`) links it to its inputs by *edges*,
one per positional input: None (no gradient flows there), a leaf Tensor (its gradient is
accumulated into `.grad`), the producer node itself for its output 0, or a pair (producer
node, output index) for another output (Note [Recording cost]: one object less per node for
the garbage collector, which walks the whole live graph). It also keeps the shape
and dtype of each output (`_out_meta`), its recording order (`_seq`), the module scope it was
recorded under (`_scope`) and what forward saved (`_saved`, packed by `_pack_saved`).
`topo_sort` walks the edges back from a set of nodes.

Without a graph to record, `run` calls forward and wraps the result: no node at all.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import threading
import traceback
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

# `ops` is read at call time only (BroadcastTo): the primitives import function.py, which
# imports this module (Note [import order]).
from autotensor import _views, anomaly, ops
from autotensor.grad_mode import _state
from autotensor.tensor import Tensor, _new

if TYPE_CHECKING:
    from autotensor.function import Function

_WRAPPED_ERRORS = (ValueError, IndexError, TypeError)
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_counter = itertools.count()  # recording order of nodes: see topo_sort
_anomaly = anomaly._anomaly  # read once per op: one attribute lookup less


# -- running a primitive without a graph -----------------------------------------------------
def run(cls: Any, args: tuple, kwargs: dict) -> Any:
    """`cls.apply(*args)` when nothing is recorded: forward, wrapped as Tensors."""
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = (False,) * len(args)  # forward may consult it
    if cls.takes_arrays:
        if len(args) == 1 and args[0].__class__ is Tensor:
            fargs: Any = (args[0]._data,)
        else:
            fargs = [a._data if isinstance(a, Tensor) else a for a in args]
    else:
        fargs = args
    out = _forward(cls, ctx, args, fargs, kwargs)
    if out.__class__ is np.ndarray:  # the common case: one array
        results: Any = _new(out)
    else:
        multi = type(out) is tuple
        results = [_new(_as_array(o)) for o in (out if multi else (out,))]
        results = tuple(results) if multi else results[0]
    if _anomaly.enabled:
        anomaly.check_forward(cls, list(results) if type(results) is tuple else [results])
    if cls.returns_views:
        results = _views.mark_views(results, cls, args, kwargs)
    if op_observers:
        notify(cls, args, kwargs, results)
    return results


def _forward(cls: Any, ctx: Any, args: tuple, fargs: Any, kwargs: dict) -> Any:
    """cls.forward on arrays (takes_arrays) or on the Tensors with grad mode off; numpy's
    errors re-raised naming the op, shapes and dtypes; numpy scalars made 0-d arrays."""
    try:
        if cls.takes_arrays:
            out = cls.forward(ctx, *fargs, **kwargs)
        else:
            prev = _state.enabled
            _state.enabled = False  # a Tensor-level forward must not record a graph of its own
            try:
                out = cls.forward(ctx, *args, **kwargs)
            finally:
                _state.enabled = prev
    except _WRAPPED_ERRORS as err:
        raise _op_error(cls, args, kwargs, err) from err
    if out.__class__ is not np.ndarray and isinstance(out, np.generic):
        out = _scalar_output(ctx, out)
    return out


def _scalar_output(ctx: Any, scalar: np.generic) -> np.ndarray:
    """A numpy scalar (numpy returns them from 0-d operations) as the 0-d array it stands
    for; a saved output must still be recognised as the output."""
    out = np.asarray(scalar)
    saved = getattr(ctx, "_saved", None)
    if saved:
        ctx._saved = tuple([out if s is scalar else s for s in saved])
    return out


# -- recording a node ------------------------------------------------------------------------
def record(cls: Any, args: tuple, kwargs: dict) -> Any:
    """`cls.apply(*args)` when an input requires grad: forward, and a node linked into the
    graph as the outputs' grad_fn.

    Note [Recording cost]: this runs once per op of every training step, so calls with one
    or two positional inputs take `_record_few`, the fast helper beside the reference
    `_record_general` (tests/test_engine.py checks that both record the same graph)."""
    if len(args) <= 2:
        return _record_few(cls, args, kwargs)
    return _record_general(cls, args, kwargs)


def _record_general(cls: Any, args: tuple, kwargs: dict) -> Any:
    """Reference: link the inputs, make the node, run forward, wrap the outputs."""
    args, edges, needs, fargs = _link(cls, args)
    ctx = _node(cls, edges, needs)
    out = _forward(cls, ctx, args, fargs, kwargs)
    return _finish(ctx, _outputs(ctx, out, args, fargs), args, kwargs)


def _record_few(cls: Any, args: tuple, kwargs: dict) -> Any:
    """`_record_general` for one or two positional inputs, the commonest calls: the same
    steps with the inputs linked as `_link` would, without its loops, and a single array
    output wrapped as `_outputs` would, its metadata tuple shared through `_META`. Written
    out rather than as calls of `_link`/`_outputs` because a Python call costs as much as a
    tenth of a small op (Note [Recording cost])."""
    arrays = cls.takes_arrays
    if len(args) == 1:  # apply() found that this one is a Tensor that requires grad
        a = args[0]
        edges: tuple = (_edge(a),)
        needs: tuple = _NEEDS_ONE
        fargs: tuple = (a._data,) if arrays else args
    else:
        a, b = args
        ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
        na, nb = ta and a.requires_grad, tb and b.requires_grad
        if cls.broadcasts and ta and tb and a._data.shape != b._data.shape:
            a, b = args = broadcast_inputs(cls, args, (na, nb))
        edges = (_edge(a) if na else None, _edge(b) if nb else None)
        needs = _NEEDS_TWO[na][nb]
        fargs = (a._data if ta else a, b._data if tb else b) if arrays else args
    ctx = _node(cls, edges, needs)
    if arrays and not kwargs:  # _forward's first branch, for the operators' calls
        try:
            out = cls.forward(ctx, *fargs)
        except _WRAPPED_ERRORS as err:
            raise _op_error(cls, args, kwargs, err) from err
    else:
        out = _forward(cls, ctx, args, fargs, kwargs)
    if out.__class__ is not np.ndarray or ctx._non_diff:  # a scalar or several outputs
        return _finish(ctx, _outputs(ctx, out, args, fargs), args, kwargs)
    dt = out.dtype
    r = _new(out, dt is _F32 or dt is _F64 or dt.kind in "fc")
    if r.requires_grad:  # not an integer or bool result (x.long())
        r.grad_fn = ctx
    key = (out.shape, dt)
    meta = _META.get(key)
    ctx._out_meta = _one_meta(key) if meta is None else meta
    if ctx._saved:
        ctx._saved = _pack_saved(ctx._saved, args, fargs, (out,), (r,))
    return _finish(ctx, r, args, kwargs)


def _node(cls: Any, edges: tuple, needs: tuple) -> Any:
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = needs
    ctx._edges = edges
    ctx._seq = next(_counter)
    ctx._saved = None  # save_for_backward puts what forward saves here, packed afterwards
    return ctx


def _finish(ctx: Any, results: Any, args: tuple, kwargs: dict) -> Any:
    """After the outputs exist: module scope, anomaly checks, observer, views."""
    cls = type(ctx)
    # the thread-local scope is read only while some module scope is open (any thread)
    ctx._scope = _scopes.current if _open_scopes else ()
    if _anomaly.enabled:
        ctx._trace = traceback.extract_stack()[:-4]
        anomaly.check_forward(cls, list(results) if type(results) is tuple else [results])
    if _observer is not None:  # at.viz.trace is recording statistics
        _observer(ctx, args, results if type(results) is tuple else (results,))
    if cls.returns_views:
        results = _views.mark_views(results, cls, args, kwargs)
    if op_observers:
        notify(cls, args, kwargs, results)
    return results


def _edge(t: Tensor) -> Any:
    """The edge to input `t`: the leaf itself, its producer node (output 0), or a pair."""
    fn = t.grad_fn
    return t if fn is None else fn if t._output_nr == 0 else (fn, t._output_nr)


def _link(cls: Any, args: tuple) -> tuple:
    """Reference: (args after broadcasting, edges, needs_input_grad, forward's arguments)."""
    needs = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
    if cls.broadcasts and len(args) > 1:
        args = broadcast_inputs(cls, args, needs)
    edges = tuple([_edge(a) if nd else None for a, nd in zip(args, needs)])
    fargs = args
    if cls.takes_arrays:
        fargs = tuple([a._data if isinstance(a, Tensor) else a for a in args])
    return args, edges, needs, fargs


def _outputs(ctx: Any, out: Any, args: tuple, fargs: Any) -> Any:
    """Reference: the output Tensors of node `ctx` (float ones part of the graph, unless
    marked non-differentiable), its `_out_meta`, and what it saved, packed."""
    multi = type(out) is tuple
    outs = out if multi else (out,)
    results = [_new(_as_array(o)) for o in outs]
    ctx._out_meta = tuple([(r._data.shape, r._data.dtype) for r in results])
    non_diff = ctx._non_diff
    for i, r in enumerate(results):
        if r._data.dtype.kind in "fc" and not (non_diff and _in(outs[i], non_diff)):
            r.requires_grad = True
            r.grad_fn = ctx
            r._output_nr = i
    if ctx._saved:
        ctx._saved = _pack_saved(ctx._saved, args, fargs, outs, results)
    return tuple(results) if multi else results[0]


# Note [Recording cost]: shared needs_input_grad tuples, one object less per node
_NEEDS_ONE = (True,)
_NEEDS_TWO = (((False, False), (False, True)), ((True, False), (True, True)))

# Note [Recording cost]: `_out_meta` of single-output nodes, shared between all the nodes
# whose output has that shape and dtype (one object less for the garbage collector per node).
_META: dict = {}


def _one_meta(key: tuple) -> tuple:
    if len(_META) > 4096:  # shapes keep changing (sequence lengths): start afresh
        _META.clear()
    meta = _META[key] = (key,)
    return meta


def _as_array(o: Any) -> np.ndarray:
    d = o._data if isinstance(o, Tensor) else o
    return d if d.__class__ is np.ndarray else np.asarray(d)


def _in(obj: Any, items: tuple) -> bool:
    return any(obj is x for x in items)


# -- saved tensors ---------------------------------------------------------------------------
_CONSTANT, _OUTPUT, _INPUT = 0, 1, 2


def _pack_saved(to_save: tuple, args: tuple, fargs: Any, outs: tuple, results: Any) -> tuple:
    """Turn what forward saved into a flat tuple of (kind, object, version counter, version)
    quadruples (flat: one object for the garbage collector to walk, not one per entry).

    _OUTPUT: an output of this node, kept as (output index, array) so that the node does not
    own its output Tensor (Note [Saved outputs]), with that Tensor's counter; _INPUT: an
    input Tensor (its counter is read through it); _CONSTANT: anything else, kept as given.
    """
    packed: tuple = ()
    n_out = len(outs)
    n_in = len(args)
    for s in to_save:
        if s.__class__ is float or s.__class__ is int or s is None:
            packed += (_CONSTANT, s, None, 0)
            continue
        i = 0
        while i < n_out and s is not outs[i]:
            i += 1
        if i < n_out:
            r = results[i]
            vc = r._vc
            packed += (_OUTPUT, (i, r._data), vc, vc[0])
            continue
        i = 0
        while i < n_in and s is not fargs[i] and s is not args[i]:
            i += 1
        t = args[i] if i < n_in else s
        if isinstance(t, Tensor):
            vc = t._vcount  # None: never modified in place, nor sharing a counter yet
            packed += (_INPUT, t, None, 0 if vc is None else vc[0])
        else:
            packed += (_CONSTANT, t, None, 0)
    return packed


def unpack_saved(node: Any, unused: tuple[int, ...] = ()) -> tuple:
    """What `node` saved, as its backward sees it (`ctx.saved_tensors`), each tensor checked
    against in-place modification since it was saved (Note [In-place]). The positions in
    `unused` are neither checked nor returned (None in their place): a backward that does
    not read a saved input this time must not refuse because it changed, as torch's would
    not have saved it."""
    out: list = []
    it = iter(node._saved)
    for j, (kind, obj, vc, version) in enumerate(zip(it, it, it, it)):  # the quadruples
        if unused and j in unused:
            out.append(None)
            continue
        if kind == _CONSTANT:  # an array or number saved as it is
            out.append(obj)
            continue
        if kind == _INPUT:  # its counter may have been created since (Tensor._vc)
            vc = obj._vcount
            now = 0 if vc is None else vc[0]
        else:
            now = vc[0]
        if now != version:
            shape = tuple(obj._data.shape if kind == _INPUT else obj[1].shape)
            dtype = (obj._data if kind == _INPUT else obj[1]).dtype
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: a {dtype} tensor of shape {shape} saved by "
                f"{node.name()} is at version {now}; expected version {version} instead. "
                f"Hint: the in-place change may have been made through a view of it or by "
                f"assigning to an index (x[i] = ...); clone() it before the change."
            )
        if kind == _OUTPUT:  # an output of this node: rebuild it (Note [Saved outputs])
            nr, data = obj
            t = _new(data, True)
            t.grad_fn = node
            t._output_nr = nr
            t._vcount = vc
            out.append(t)
        else:
            out.append(obj)
    return tuple(out)


def _describe(args: tuple) -> str:
    parts = []
    for a in args:
        if isinstance(a, Tensor):
            parts.append(f"Tensor{tuple(a._data.shape)}:{a._data.dtype}")
        elif isinstance(a, np.ndarray):
            parts.append(f"ndarray{a.shape}:{a.dtype}")
        else:
            parts.append(repr(a) if not isinstance(a, (list, tuple)) or len(a) < 8 else "[...]")
    return ", ".join(parts)


def _op_error(cls: Any, args: tuple, kwargs: dict, err: Exception) -> Exception:
    """A numpy error from inside a forward, with the op, shapes and dtypes named."""
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    msg = f"{cls.__name__}({_describe(args)}{kw}): {err}"
    if type(err) is ValueError:  # numpy's shape errors: torch raises RuntimeError for these
        return RuntimeError(msg)
    try:
        return type(err)(msg)
    except Exception:  # an exception type with an unusual constructor
        return RuntimeError(msg)


# -- the traversal ---------------------------------------------------------------------------
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
            elif e is None or isinstance(e, Tensor):
                continue
            else:
                n = e
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
_open_scopes = 0  # scopes open in all threads: while 0, recording skips the thread-local


@contextlib.contextmanager
def scope(owner: Any) -> Iterator[None]:
    """Record ops created inside under `owner` (nn.Module.__call__ passes the module).

    Each node keeps, in `node._scope`, the tuple of owners open when it was recorded
    (outermost first); the visualiser groups nodes into nested boxes from it, naming each
    owner from `model.named_modules()` or, failing that, from a string owner itself.
    """
    token = push_scope(owner)
    try:
        yield
    finally:
        pop_scope(token)


def push_scope(owner: Any) -> tuple:
    """Low-overhead form of `scope`: returns the token to pass to `pop_scope`."""
    global _open_scopes
    prev = _scopes.current
    _scopes.current = prev + (owner,)
    _open_scopes += 1
    return prev


def pop_scope(token: tuple) -> None:
    global _open_scopes
    _scopes.current = token
    _open_scopes -= 1


# -- broadcasting (Note [Broadcasting]) ----------------------------------------------------
def broadcast_inputs(cls: Any, args: tuple, needs: tuple) -> tuple:
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
    return tuple(
        ops.BroadcastTo.apply(a, target) if n and a._data.shape != target else a
        for a, n in zip(args, needs)
    )


# -- observer --------------------------------------------------------------------------------
# One optional callback `fn(node, inputs, results)` that `record` calls for every node it
# records (autotensor.viz.trace sets it to gather value and gradient statistics). While it is
# None, recording a node pays one attribute read for it.
_observer: Any = None

# Note [Observing primitives]: callbacks `fn(op, args, kwargs, outputs)` called after every
# primitive call, recorded (`record`) or not (`run`), with the arguments exactly as given to
# `Op.apply` and the output Tensors as a tuple; the comparisons that make masks report too,
# with `op` the name of numpy's ufunc ("greater", ...). ONNX export sees a forward through
# this. While the list is empty a call pays one truth test.
op_observers: list[Any] = []


def notify(op: Any, args: tuple, kwargs: dict, results: Any) -> None:
    outs = results if type(results) is tuple else (results,)
    for fn in list(op_observers):
        fn(op, args, kwargs, outs)


@contextlib.contextmanager
def observe(fn: Any) -> Iterator[None]:
    """Within the block, `fn(op, args, kwargs, outputs)` sees every primitive call (Note
    [Observing primitives])."""
    op_observers.append(fn)
    try:
        yield
    finally:
        op_observers.remove(fn)

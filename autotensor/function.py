"""`Function`: the one way a differentiable primitive is declared.

Built-in primitives and user primitives are written the same way, with PyTorch's calling
convention::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):              # x: Tensor (or ndarray when takes_arrays = True)
            out = x.exp()
            ctx.save_for_backward(out)    # saving an output is fine: see Note [Saved outputs]
            return out

        @staticmethod
        def backward(ctx, grad):          # grad: Tensor; written in Tensor ops, so it is
            (out,) = ctx.saved_tensors    # itself differentiable (double backward)
            return grad * out

    y = Exp.apply(x)

Note [Saved outputs]: a node holds its output only as the raw array, never the output
Tensor, so there is no reference cycle tensor -> node -> tensor; `saved_tensors` rebuilds a
Tensor on that array whose grad_fn is this node, which is all double backward needs, since the
engine keys gradients by (node, output index), not by Tensor identity.

Note [Broadcasting]: a Function with `broadcasts = True` (the elementwise binary primitives)
never sees broadcasting in its backward. `apply` inserts an explicit `BroadcastTo` node in
front of each input that requires grad and has a smaller shape; its backward is `sum_to`.
This is the only place broadcasting gradients are reduced.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from autotensor import _views, graph
from autotensor.grad_mode import _state
from autotensor.tensor import Tensor, _new

_WRAPPED_ERRORS = (ValueError, IndexError, TypeError)
_counter = itertools.count()  # recording order of nodes: see graph.topo_sort


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


def _op_error(cls: type, args: tuple, kwargs: dict, err: Exception) -> Exception:
    """Re-raise a numpy error from inside a forward with the op, shapes and dtypes named."""
    kw = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    msg = f"{cls.__name__}({_describe(args)}{kw}): {err}"
    if type(err) is ValueError:  # numpy's shape errors: torch raises RuntimeError for these
        return RuntimeError(msg)
    try:
        return type(err)(msg)
    except Exception:  # an exception type with an unusual constructor
        return RuntimeError(msg)


class Function:
    """Base class of every differentiable primitive (built-in or user-written).

    Subclasses define two staticmethods, `forward(ctx, *args, **kwargs)` and
    `backward(ctx, *grad_outputs)`, and are called as `MyOp.apply(*args, **kwargs)`.
    The instance passed as `ctx` is also the graph node (`tensor.grad_fn`).

    Class attributes:
        takes_arrays: forward receives each Tensor argument as its ndarray (fast path used by
            the built-ins). Otherwise it receives the Tensors, with grad mode off.
        broadcasts: inputs are broadcast to a common shape by explicit BroadcastTo nodes
            before forward, so forward and backward see equal shapes (Note [Broadcasting]).
        differentiable_backward: False marks a backward written on raw arrays (torch's
            once_differentiable); create_graph through such a node raises.
    """

    takes_arrays: ClassVar[bool] = False
    broadcasts: ClassVar[bool] = False
    differentiable_backward: ClassVar[bool] = True
    returns_views: ClassVar[bool] = False  # outputs may share memory with input 0

    # Slots for what every recorded node holds: fewer objects for the garbage collector to
    # walk (it walks the whole live graph, and that dominated long chains). Subclasses still
    # get a __dict__ for attributes of their own.
    __slots__ = ("needs_input_grad", "_edges", "_out_meta", "_seq", "_scope", "_saved",
                 "__dict__", "__weakref__")  # fmt: skip

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Function, *grad_outputs: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    # -- ctx API (torch's names) -------------------------------------------------------------
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (inputs, outputs or other arrays) for backward."""
        self._saved = tensors or None  # as given; apply() packs them once forward returns

    @property
    def saved_tensors(self) -> tuple:
        """The saved tensors, checked against in-place modification since they were saved."""
        saved = getattr(self, "_saved", None)
        if saved is None:
            if self._freed:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (or to access the "
                    f"saved tensors of {self.name()} after they were freed). Saved "
                    f"intermediate values of the graph are freed when you call .backward() "
                    f"or autograd.grad(). Specify retain_graph=True if you need to backward "
                    f"through the graph a second time."
                )
            return ()
        out = []
        for j in range(0, len(saved), 4):
            kind, obj = saved[j], saved[j + 1]
            if kind == _CONSTANT:  # an array or number saved as it is
                out.append(obj)
                continue
            if kind == _INPUT:  # its counter may have been created since (Tensor._vc)
                vc = obj._vcount
                now = 0 if vc is None else vc[0]
            else:
                vc = saved[j + 2]
                now = vc[0]
            version = saved[j + 3]
            if now != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: a tensor of shape {tuple(_shape_of(obj))} saved "
                    f"by {self.name()} is at version {now}; expected version {version} "
                    f"instead."
                )
            if kind == _OUTPUT:  # an output of this node: rebuild it (Note [Saved outputs])
                nr, data = obj
                t = _new(data, True)
                t.grad_fn = self
                t._output_nr = nr
                t._vcount = vc
                out.append(t)
            else:
                out.append(obj)
        return tuple(out)

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Outputs given here get requires_grad=False (e.g. indices)."""
        self._non_diff = outputs

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None (not zeros) for outputs that got no gradient."""
        self._materialize = bool(value)

    def mark_dirty(self, *tensors: Any) -> None:  # accepted for torch compatibility
        pass

    @classmethod
    def name(cls) -> str:
        """Readable node name, as torch's grad_fn names: MulBackward."""
        return f"{cls.__name__}Backward"

    @property
    def next_functions(self) -> tuple:
        """((node or AccumulateGrad or None, output index), ...) per input, as torch."""
        out = []
        for e in self._edges:
            if e is None:
                out.append((None, 0))
            elif type(e) is tuple:
                out.append(e)
            else:
                out.append((AccumulateGrad(e), 0))
        return tuple(out)

    def register_hook(self, fn: Any) -> None:
        raise NotImplementedError("register hooks on tensors: tensor.register_hook(fn)")

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    @staticmethod
    def sample_inputs(rng: np.random.Generator) -> Iterator[Any]:
        """Yield `testing.Sample` cases for `testing.check_function` (optional)."""
        raise NotImplementedError

    # -- apply: the hot path -----------------------------------------------------------------
    # Rarely changed flags: class defaults, so that recording a node sets only what differs.
    _freed = False
    _hooks = None
    _retained = None
    _materialize = True
    _trace = None
    _non_diff: tuple = ()

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, when grad mode is on and an input requires grad, record a node."""
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return _record(cls, args, kwargs)
        ctx = cls.__new__(cls)
        ctx.needs_input_grad = (False,) * len(args)  # forward may consult it
        try:
            if cls.takes_arrays:
                if len(args) == 1 and isinstance(args[0], Tensor):
                    out = cls.forward(ctx, args[0]._data, **kwargs)
                else:
                    out = cls.forward(
                        ctx, *[a._data if isinstance(a, Tensor) else a for a in args], **kwargs
                    )
            else:
                out = _forward_on_tensors(cls, ctx, args, kwargs)
        except _WRAPPED_ERRORS as err:
            raise _op_error(cls, args, kwargs, err) from err
        if out.__class__ is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)  # numpy returns scalars from 0-d operations
        if out.__class__ is np.ndarray:
            t = object.__new__(Tensor)  # _new, inlined: this is every no-grad op's exit
            t._data = out
            t.grad = t.grad_fn = t._hooks = None
            t.requires_grad = False
            t._output_nr = 0
            t._vcount = None
            if graph._anomaly.enabled:
                graph.check_forward(cls, [t])
            return _views.mark_views(t, cls, args, kwargs) if cls.returns_views else t
        multi = type(out) is tuple
        results = [_new(_as_array(o)) for o in (out if multi else (out,))]
        if graph._anomaly.enabled:
            graph.check_forward(cls, results)
        if cls.returns_views:
            _views.mark_views(results, cls, args, kwargs)
        return tuple(results) if multi else results[0]


def _as_array(o: Any) -> np.ndarray:
    d = o._data if isinstance(o, Tensor) else o
    return d if d.__class__ is np.ndarray else np.asarray(d)


def _forward_on_tensors(cls: type, ctx: Function, args: tuple, kwargs: dict) -> Any:
    prev = _state.enabled
    _state.enabled = False  # a Tensor-level forward must not record a graph of its own
    try:
        return cls.forward(ctx, *args, **kwargs)
    finally:
        _state.enabled = prev


def _record(cls: type, args: tuple, kwargs: dict) -> Any:
    """apply() when a graph is recorded: run forward, then link the node into the graph.

    Note [Recording cost]: this runs once per op of every training step, so the common
    shapes of call (one or two positional arguments, one ndarray output) are written out
    without loops or helper calls; the general case below them does the same work.
    """
    n = len(args)
    arrays = cls.takes_arrays
    if n == 1:  # apply() found that this argument is a Tensor that requires grad
        a = args[0]
        fn = a.grad_fn
        edges: tuple = (a if fn is None else (fn, a._output_nr),)
        needs: tuple = _NEEDS_ONE
        fargs: tuple = (a._data,) if arrays else args
    elif n == 2:
        a, b = args
        ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
        na, nb = ta and a.requires_grad, tb and b.requires_grad
        if cls.broadcasts and ta and tb and a._data.shape != b._data.shape:
            a, b = args = graph.broadcast_inputs(cls, args, (na, nb))
        if na:
            fn = a.grad_fn
            ea = a if fn is None else (fn, a._output_nr)
        else:
            ea = None
        if nb:
            fn = b.grad_fn
            eb = b if fn is None else (fn, b._output_nr)
        else:
            eb = None
        edges, needs = (ea, eb), (na, nb)
        if arrays:
            fargs = (a._data if ta else a, b._data if tb else b)
        else:
            fargs = args
    else:
        needs = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
        if cls.broadcasts and n > 1:
            args = graph.broadcast_inputs(cls, args, needs)
        edges = tuple([
            None if not nd else a if a.grad_fn is None else (a.grad_fn, a._output_nr)
            for a, nd in zip(args, needs)
        ])  # fmt: skip
        fargs = tuple([a._data if isinstance(a, Tensor) else a for a in args]) if arrays else args
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = needs
    ctx._edges = edges
    ctx._seq = next(_counter)
    ctx._saved = None  # save_for_backward puts what forward saves here, to be packed below
    try:
        if arrays:
            out = cls.forward(ctx, *fargs, **kwargs)
        else:
            out = _forward_on_tensors(cls, ctx, args, kwargs)
    except _WRAPPED_ERRORS as err:
        raise _op_error(cls, args, kwargs, err) from err
    ctx._scope = graph._scopes.current
    anomaly = graph._anomaly.enabled
    if anomaly:
        ctx._trace = traceback.extract_stack()[:-3]
    if out.__class__ is not np.ndarray and isinstance(out, np.generic):
        scalar, out = out, np.asarray(out)  # numpy returns scalars from 0-d operations
        if ctx._saved:  # a saved output must still be recognised as the output
            ctx._saved = tuple([out if s is scalar else s for s in ctx._saved])
    if out.__class__ is np.ndarray and not ctx._non_diff:  # the common case: one output
        r = object.__new__(Tensor)  # _new, inlined
        r._data = out
        r.grad = r._hooks = None
        r._output_nr = 0
        r._vcount = None
        if out.dtype.kind in "fc":
            r.requires_grad = True
            r.grad_fn = ctx
        else:  # an integer or bool result is not part of the graph (x.long())
            r.requires_grad = False
            r.grad_fn = None
        key = (out.shape, out.dtype)
        meta = _META.get(key)
        if meta is None:
            meta = _one_meta(key)
        ctx._out_meta = meta
        to_save = ctx._saved
        if to_save:
            # Packed straight away for the usual cases (see _pack_saved for the format): the
            # output alone (exp, tanh, relu, ...), or the first one or two inputs (mul, log).
            k = len(to_save)
            s = to_save[0]
            if k == 1 and s is out:
                r._vcount = vc = [0]  # shared with the Tensor saved_tensors rebuilds
                ctx._saved = (_OUTPUT, (0, out), vc, 0)
            elif k <= n and k <= 2 and s is fargs[0] and (k == 1 or to_save[1] is fargs[1]):
                ctx._saved = _saved_input(args[0])
                if k == 2:
                    ctx._saved += _saved_input(args[1])
            else:
                ctx._saved = _pack_saved(to_save, args, fargs, (out,), (r,))
        if anomaly:
            graph.check_forward(cls, [r])
        if graph._observer is not None:  # at.viz.trace is recording statistics
            graph._observer(ctx, args, (r,))
        return _views.mark_views(r, cls, args, kwargs) if cls.returns_views else r
    multi = type(out) is tuple
    outs = out if multi else (out,)
    results = [_new(_as_array(o)) for o in outs]
    if anomaly:
        graph.check_forward(cls, results)
    ctx._out_meta = tuple([(r._data.shape, r._data.dtype) for r in results])
    non_diff = ctx._non_diff
    for i, r in enumerate(results):
        if r._data.dtype.kind in "fc" and not (non_diff and _in(outs[i], non_diff)):
            r.requires_grad = True
            r.grad_fn = ctx
            r._output_nr = i
    if ctx._saved:
        ctx._saved = _pack_saved(ctx._saved, args, fargs, outs, results)
    if graph._observer is not None:
        graph._observer(ctx, args, results)
    if cls.returns_views:
        _views.mark_views(results, cls, args, kwargs)
    return tuple(results) if multi else results[0]


_NEEDS_ONE = (True,)

# Note [Recording cost]: `_out_meta` of single-output nodes, shared between all the nodes
# whose output has that shape and dtype (one object less for the garbage collector per node).
_META: dict = {}


def _one_meta(key: tuple) -> tuple:
    if len(_META) > 4096:  # shapes keep changing (sequence lengths): start afresh
        _META.clear()
    meta = _META[key] = (key,)
    return meta


def _in(obj: Any, items: tuple) -> bool:
    return any(obj is x for x in items)


def _shape_of(obj: Any) -> tuple:
    if isinstance(obj, Tensor):
        return obj._data.shape
    if isinstance(obj, tuple):
        return obj[1].shape
    return np.shape(obj)


def _pack_saved(to_save: tuple, args: tuple, fargs: Any, outs: tuple, results: Any) -> tuple:
    """Turn what forward saved into a flat tuple of (kind, object, version counter, version)
    quadruples (flat: one object for the garbage collector to walk, not one per entry).

    _OUTPUT: an output of this node, kept as (output index, array) so that the node does not
    own its output Tensor, with that Tensor's counter; _INPUT: an input Tensor (its counter
    is read through it); _CONSTANT: anything else, kept as given.
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
        packed += _saved_input(args[i] if i < n_in else s)
    return packed


def _saved_input(s: Any) -> tuple:
    """The entry of _pack_saved for an input (or a constant)."""
    if isinstance(s, Tensor):
        vc = s._vcount  # None: never modified in place, nor sharing a counter yet
        return (_INPUT, s, None, 0 if vc is None else vc[0])
    return (_CONSTANT, s, None, 0)


_CONSTANT, _INPUT, _OUTPUT = 0, 2, 1


class AccumulateGrad:
    """Stands for a leaf in `grad_fn.next_functions`, as torch's AccumulateGrad."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    @classmethod
    def name(cls) -> str:
        return "AccumulateGrad"

    @property
    def next_functions(self) -> tuple:
        return ()

    def __repr__(self) -> str:
        return "<AccumulateGrad object>"

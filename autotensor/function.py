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

from autotensor import graph
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

    # Slots for what every recorded node holds: fewer objects for the garbage collector to
    # walk (it walks the whole live graph, and that dominated long chains). Subclasses still
    # get a __dict__ for attributes of their own.
    __slots__ = ("needs_input_grad", "_edges", "_out_meta", "_seq", "_scope", "_saved",
                 "_to_save", "_non_diff", "__dict__", "__weakref__")  # fmt: skip


    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Function, *grad_outputs: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    # -- ctx API (torch's names) -------------------------------------------------------------
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (inputs, outputs or other arrays) for backward."""
        self._to_save = tensors

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
            obj, vc = saved[j + 1], saved[j + 2]
            if vc is None:  # a constant (array, number) saved as it is
                out.append(obj)
                continue
            version = saved[j + 3]
            if vc[0] != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: a tensor of shape {tuple(_shape_of(obj))} saved "
                    f"by {self.name()} is at version {vc[0]}; expected version {version} "
                    f"instead."
                )
            if saved[j] == 1:  # an output of this node: rebuild it (Note [Saved outputs])
                nr, data = obj
                t = _new(data, True)
                t.grad_fn = self
                t._output_nr = nr
                t._vc = vc
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

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, when grad mode is on and an input requires grad, record a node."""
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return _record(cls, args, kwargs)
        ctx = cls.__new__(cls)
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
            t._vc = [0]
            if graph._anomaly.enabled:
                graph.check_forward(cls, [t])
            return t
        multi = type(out) is tuple
        results = [_new(_as_array(o)) for o in (out if multi else (out,))]
        if graph._anomaly.enabled:
            graph.check_forward(cls, results)
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
    """apply() when a graph is recorded: run forward, then link the node into the graph."""
    needs = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
    if cls.broadcasts and len(args) > 1:
        a0, a1 = args[0], args[1]
        if not (
            len(args) == 2
            and (
                not isinstance(a0, Tensor)
                or not isinstance(a1, Tensor)
                or a0._data.shape == a1._data.shape
            )
        ):
            args = graph.broadcast_inputs(cls, args, needs)
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = needs
    ctx._seq = next(_counter)
    ctx._saved = None
    ctx._to_save = ctx._non_diff = ()
    try:
        if cls.takes_arrays:
            fargs = [a._data if isinstance(a, Tensor) else a for a in args]
            out = cls.forward(ctx, *fargs, **kwargs)
        else:
            fargs = args
            out = _forward_on_tensors(cls, ctx, args, kwargs)
    except _WRAPPED_ERRORS as err:
        raise _op_error(cls, args, kwargs, err) from err
    edges = []
    for a, n in zip(args, needs):
        if not n:
            edges.append(None)
        elif a.grad_fn is None:
            edges.append(a)
        else:
            edges.append((a.grad_fn, a._output_nr))
    ctx._edges = tuple(edges)
    ctx._scope = graph._scopes.current
    anomaly = graph._anomaly.enabled
    if anomaly:
        ctx._trace = traceback.extract_stack()[:-3]
    if out.__class__ is not np.ndarray and isinstance(out, np.generic):
        scalar, out = out, np.asarray(out)  # numpy returns scalars from 0-d operations
        if ctx._to_save:  # a saved output must still be recognised as the output
            ctx._to_save = tuple([out if s is scalar else s for s in ctx._to_save])
    if out.__class__ is np.ndarray and not ctx._non_diff:  # the common case: one output
        r = _new(out, out.dtype.kind in "fc")
        if r.requires_grad:  # an integer or bool result is not part of the graph (x.long())
            r.grad_fn = ctx
        ctx._out_meta = ((out.shape, out.dtype),)
        if ctx._to_save:
            ctx._saved = _pack_saved(ctx._to_save, args, fargs, (out,), (r,))
            ctx._to_save = ()
        if anomaly:
            graph.check_forward(cls, [r])
        if graph._observer is not None:  # at.viz.trace is recording statistics
            graph._observer(ctx, args, (r,))
        return r
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
    if ctx._to_save:
        ctx._saved = _pack_saved(ctx._to_save, args, fargs, outs, results)
        ctx._to_save = ()
    if graph._observer is not None:
        graph._observer(ctx, args, results)
    return tuple(results) if multi else results[0]


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

    kind 0: an input Tensor (or anything else, kept as given); kind 1: an output of this node,
    kept as (output index, array) so the node does not own its output Tensor.
    """
    packed: list = []
    n_out = len(outs)
    for s in to_save:
        if s.__class__ is float or s.__class__ is int or s is None:
            packed += (0, s, None, 0)  # a constant: nothing to track
            continue
        if n_out == 1:
            if s is outs[0]:
                r = results[0]
                packed += (1, (0, r._data), r._vc, r._vc[0])
                continue
        else:
            i = next((i for i in range(n_out) if s is outs[i]), -1)
            if i >= 0:
                r = results[i]
                packed += (1, (i, r._data), r._vc, r._vc[0])
                continue
        for i in range(len(args)):
            if s is fargs[i] or s is args[i]:
                s = args[i]
                break
        if isinstance(s, Tensor):
            vc = s._vc
            packed += (0, s, vc, vc[0])
        else:
            packed += (0, s, None, 0)
    return tuple(packed)


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

"""`Function`: the API a primitive author writes against (built-in or user primitive).

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

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from autotensor import graph
from autotensor.grad_mode import _state
from autotensor.tensor import Tensor


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
    _edges: tuple  # set when the node is recorded (graph.record)
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
        if getattr(self, "_saved", None) is None:  # nothing saved, or a node never recorded
            if self._freed:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (or to access the "
                    f"saved tensors of {self.name()} after they were freed). Saved "
                    f"intermediate values of the graph are freed when you call .backward() "
                    f"or autograd.grad(). Specify retain_graph=True if you need to backward "
                    f"through the graph a second time."
                )
            return ()
        return graph.unpack_saved(self)

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
        out: list = []
        for e in self._edges:
            if e is None:
                out.append((None, 0))
            elif type(e) is tuple:
                out.append(e)
            elif isinstance(e, Tensor):
                out.append((AccumulateGrad(e), 0))
            else:  # output 0 of a node: the node itself (Note [Recording cost])
                out.append((e, 0))
        return tuple(out)

    def register_hook(self, fn: Any) -> None:
        raise NotImplementedError("register hooks on tensors: tensor.register_hook(fn)")

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    @staticmethod
    def sample_inputs(rng: np.random.Generator) -> Iterator[Any]:
        """Yield `testing.Sample` cases for `testing.check_function` (optional)."""
        raise NotImplementedError

    # -- apply -------------------------------------------------------------------------------
    # Rarely changed flags: class defaults, so that recording a node sets only what differs.
    _freed = False
    _hooks = None
    _retained = None
    _materialize = True
    _trace = None
    _non_diff: tuple = ()

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward and, when grad mode is on and an input requires grad, record a node
        (`graph.record`); otherwise just run it (`graph.run`)."""
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    # graph.record's dispatch, one call shorter (Note [Recording cost])
                    if len(args) <= 2:
                        return graph._record_few(cls, args, kwargs)
                    return graph._record_general(cls, args, kwargs)
        return graph.run(cls, args, kwargs)


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

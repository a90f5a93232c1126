"""`Tensor`: an ndarray plus what autograd needs (grad, requires_grad, grad_fn).

Methods are explicit one-liners over the primitives in `autotensor.ops` and the composites
in `autotensor.functional`; no method is attached by reflection.
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from autotensor import dtypes
from autotensor._size import Size
from autotensor._size import as_size as _as_size
from autotensor.grad_mode import _state

_SCALARS = (int, float, bool, np.number, np.bool_)
_TensorT = TypeVar("_TensorT", bound="Tensor")


def _new(data: np.ndarray, requires_grad: bool = False, cls: type | None = None) -> Tensor:
    """Fast internal constructor: wraps an ndarray without copying or checking (in a `cls`
    instance, a subclass of Tensor, when given: `Tensor.as_subclass`)."""
    t: Tensor = object.__new__(cls or Tensor)
    t._data = data
    t.grad = None
    t.requires_grad = requires_grad
    t.grad_fn = None
    t._output_nr = 0
    t._vcount = None
    t._hooks = None
    return t


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """An ndarray from data, with torch's default dtypes (Python floats -> float32)."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr.copy() if dtype is None else arr.astype(dtypes.as_dtype(dtype))
    if dtype is not None:
        return np.array(data, dtype=dtypes.as_dtype(dtype))
    if isinstance(data, np.ndarray):
        return data.copy()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [x._data if isinstance(x, Tensor) else x for x in data]
    try:
        arr = np.array(data)
        if arr.dtype == np.uint64 or arr.dtype == object and _has_big_int(data):
            raise OverflowError
    except OverflowError:  # an int beyond int64 (numpy would wrap or make objects)
        raise ValueError("Overflow when unpacking long long") from None
    except ValueError as err:  # ragged nested lists
        raise ValueError(
            f"tensor: the nested sequences do not form a regular shape ({err})"
        ) from None
    if arr.dtype == np.float64 and not isinstance(data, np.floating):
        arr = arr.astype(dtypes.get_default_dtype())
    elif arr.dtype.kind in "iu" and not isinstance(data, np.integer):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from data of type {arr.dtype}")
    return arr


def _has_big_int(data: Any) -> bool:
    """Whether nested lists hold a Python int outside int64."""
    if isinstance(data, (list, tuple)):
        return any(_has_big_int(x) for x in data)
    return isinstance(data, int) and not -(2**63) <= data < 2**63


class Tensor:
    """A multi-dimensional array that records the operations applied to it.

    Shapes follow numpy/torch. float32 is the default floating dtype; float64, int64 and
    bool are supported. Only floating tensors can require grad.
    """

    # _vcount: the version counter, a list [n] that views and detached copies share; None
    # until something needs it (Note [Recording cost]): read it through `_vc`/`_version`.
    __slots__ = ("_data", "grad", "requires_grad", "grad_fn", "_output_nr", "_vcount",
                 "_hooks", "__weakref__", "__dict__")  # fmt: skip
    __array_ufunc__ = None  # so ndarray * Tensor calls Tensor.__rmul__
    __array_priority__ = 1000
    # Note [Views]: set (in the instance's __dict__) only on views and on bases of views
    _view: Any = None  # autotensor._views.ViewOf: the base and the steps that made this view
    # the slots' types (annotations only: a slot cannot have a class-level value)
    grad: Tensor | None
    _hooks: list | None
    _live_views: Any = None  # on a base: weak references to its views

    def __init__(self, data: Any = None, dtype: Any = None, requires_grad: bool = False) -> None:
        arr = to_array([] if data is None else data, dtype)
        self._data = arr
        self.grad = None
        self.requires_grad = False
        self.grad_fn = None
        self._output_nr = 0
        self._vcount: list | None = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    # -- attributes --------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The value as a detached tensor sharing memory, with a version counter of its own
        (as torch's .data: an in-place change through it is invisible to autograd)."""
        return _new(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> Size:
        return _as_size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        return _as_size(self._data.shape) if dim is None else self._data.shape[dim]

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def device(self) -> Any:
        """Always `device(type='cpu')`: tensors live in numpy arrays."""
        from autotensor._device import CPU

        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    # The other device and layout flags torch tensors carry; scripts test them before
    # choosing a multi-device path. A CPU, strided, dense tensor answers as torch's does.
    @property
    def is_cpu(self) -> bool:
        return True

    @property
    def is_xpu(self) -> bool:
        return False

    @property
    def is_mps(self) -> bool:
        return False

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    def get_device(self) -> int:
        return -1  # torch's answer for a CPU tensor

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def _version(self) -> int:
        vc = self._vcount
        return 0 if vc is None else vc[0]

    @property
    def _vc(self) -> list:
        """The version counter [n], created on first use (so that it can be shared)."""
        vc = self._vcount
        if vc is None:
            vc = self._vcount = [0]
        return vc

    @_vc.setter
    def _vc(self, vc: list) -> None:
        self._vcount = vc

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        if self.ndim == 0:
            return self  # torch: the identity on 0-d tensors (deprecated there)
        if self.ndim < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. Got "
                f"{self.ndim}-D tensor."
            )
        return self.transpose(-2, -1)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        """The address of the first element (torch's data_ptr; 0 when there is none): two
        tensors with the same address and numel > 0 share memory."""
        d = self._data
        if isinstance(d, np.generic):  # a numpy scalar has no address of its own: pin one
            d = self._data = np.array(d)
        return 0 if d.size == 0 else int(d.__array_interface__["data"][0])

    def stride(self, dim: int | None = None) -> Any:
        s = tuple(x // self._data.itemsize for x in self._data.strides)
        return s if dim is None else s[dim]

    # -- conversion --------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The tensor's own ndarray: no copy, so it shares memory with the tensor (as torch's).

        On a tensor that requires grad it raises, as torch does, unless `force=True`, which
        is torch's `detach().numpy()` without making the detached tensor. Writing into the
        array bypasses autograd and the version counter (Note [In-place]): read it, or write
        through tensor ops under `no_grad`.
        """
        if self.requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._data

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(
                f"item: a Tensor with {self._data.size} elements cannot be converted to a "
                f"Python scalar"
            )
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data  # np.array(t, copy=True) must copy

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self._data.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        from autotensor._repr import tensor_repr

        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return repr(self)

    def __reduce__(self) -> Any:
        raise TypeError(
            "Tensors are not pickled on their own; save them with at.save (torch's checkpoint "
            "format, which torch.load reads) or nn.save"
        )

    def __deepcopy__(self, memo: dict) -> Tensor:
        t = _new(self._data.copy(), self.requires_grad, type(self))
        if self.grad is not None:
            t.grad = _new(self.grad._data.copy())
        memo[id(self)] = t
        return t

    # -- dtype -------------------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """torch's forms: `to(dtype)`, `to(device, dtype=None)`, `to(other)`, each with
        `non_blocking=False, copy=False`. Returns self when nothing changes (unless copy);
        a dtype change is a differentiable cast. Only the CPU exists: any other device
        raises (see autotensor._device)."""
        from autotensor._device import check, is_device_like

        dev = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)  # a CPU-to-CPU move is already synchronous
        copy = bool(kwargs.pop("copy", False))
        if kwargs.pop("memory_format", None) is not None:
            raise NotImplementedError("Tensor.to: memory_format is not supported")
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument {next(iter(kwargs))!r}")
        rest = list(args)
        if rest and isinstance(rest[0], Tensor):
            other = rest.pop(0)
            dev, dtype = other.device, other.dtype
        elif rest and (is_device_like(rest[0]) or type(rest[0]) is int):
            dev = rest.pop(0)
        if rest and rest[0] is not None and not isinstance(rest[0], bool):
            dtype = rest.pop(0)
        if rest:  # non_blocking, then copy
            copy = len(rest) > 1 and bool(rest[1])
            if len(rest) > 2:
                raise TypeError(f"to() takes at most 4 positional arguments ({len(args)} given)")
        check(dev, "Tensor.to")
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) != self._data.dtype:
            dt = dtypes.as_dtype(dtype)
            if dt.kind not in "fc" and _state.enabled:
                # no gradient reaches an integer or bool result, so torch records nothing
                # (nor reads this tensor's grad_fn)
                _state.enabled = False
                try:
                    return ops.Cast.apply(self, dt)
                finally:
                    _state.enabled = True
            return ops.Cast.apply(self, dt)  # a cast is already a copy
        return out.clone() if copy else out

    # float(), double(), half(), long(), int(), bool(), type(): at the end of the class, since
    # inside the class body those names would hide the builtins from the annotations after them

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *a: Any, **k: Any) -> Tensor:
        from autotensor._device import check

        check("cuda", "Tensor.cuda")  # raises: there is only the CPU
        return self  # not reached

    # -- autograd ----------------------------------------------------------------------------
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad."""
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        t = _new(self._data)
        t._vcount = self._vc
        return t

    def as_subclass(self, cls: builtins.type[_TensorT]) -> _TensorT:
        """This tensor as an instance of `cls` (a subclass of Tensor), as torch's: the same
        memory and version counter, `requires_grad` and history; nothing is copied. How
        `nn.Parameter` is made."""
        if not (isinstance(cls, type) and issubclass(cls, Tensor)):
            raise TypeError(f"as_subclass: expected a subclass of Tensor, got {cls!r}")
        t: Any = _new(self._data, self.requires_grad, cls)  # a cls instance
        t.grad_fn, t._output_nr, t._vcount = self.grad_fn, self._output_nr, self._vc
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients; this tensor has "
                f"dtype {self._data.dtype} (convert it with .float() first)"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use .detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        node = self.grad_fn
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        node = self.grad_fn
        return bool(node is not None and node._retained and self._output_nr in node._retained)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """`hook(grad) -> grad or None` runs when this tensor's gradient is computed."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node._hooks is None:
                node._hooks = {}
            hooks = node._hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    # -- creation helpers --------------------------------------------------------------------
    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A copy (dx = g). Laid out as torch's: `preserve_format` (the default) keeps this
        tensor's order of dims in memory; `contiguous_format`, `channels_last` (4-d) and
        `channels_last_3d` (5-d) ask for that layout."""
        fmt = _views.check_memory_format("clone", memory_format, self.ndim)
        out = ops.Clone.apply(self)
        if fmt is not _views.preserve_format:
            # the copy is fresh memory that nothing else refers to yet: laid out anew in place
            # of a second node
            out._data = _views.format_layout(out._data, fmt)
        return out

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """self when it already has the layout (C order by default), else a copy in it."""
        if memory_format is None and self._data.flags.c_contiguous:
            return self
        fmt = _views.check_memory_format("contiguous", memory_format, self.ndim,
                                         _views.contiguous_format)  # fmt: skip
        if fmt is _views.preserve_format:
            raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
        return self if _views.has_format(self._data, fmt) else self.clone(memory_format=fmt)

    def new_zeros(self, *size: Any, dtype: Any = None) -> Tensor:
        return _new(np.zeros(_size(size), dtype=self._data.dtype if dtype is None else dtype))

    def new_ones(self, *size: Any, dtype: Any = None) -> Tensor:
        return _new(np.ones(_size(size), dtype=self._data.dtype if dtype is None else dtype))

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None) -> Tensor:
        d = self._data.dtype if dtype is None else dtype
        return _new(np.full(_size((size,)), fill_value, dtype=d))

    def new_tensor(self, data: Any, dtype: Any = None) -> Tensor:
        return _new(to_array(data, self._data.dtype if dtype is None else dtype))

    # -- arithmetic --------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.add, self._data, other)
            if t is not None:
                return t
        return _arith(ops.Add, self, other)

    def __radd__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.add, other, self._data)
            if t is not None:
                return t
        return _arith(ops.Add, self, other, True)

    def __sub__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.subtract, self._data, other)
            if t is not None:
                return t
        return _arith(ops.Sub, self, other, sub=True)

    def __rsub__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.subtract, other, self._data)
            if t is not None:
                return t
        return _arith(ops.Sub, self, other, True, sub=True)

    def __mul__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.multiply, self._data, other)
            if t is not None:
                return t
        return _arith(ops.Mul, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.multiply, other, self._data)
            if t is not None:
                return t
        return _arith(ops.Mul, self, other, True)

    def __truediv__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.true_divide, self._data, other)
            if t is not None:
                return t
        return _arith(ops.Div, self, other, floats=True)

    def __rtruediv__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.true_divide, other, self._data)
            if t is not None:
                return t
        if other.__class__ is float or other.__class__ is int or other.__class__ is bool:
            # torch's number / tensor is reciprocal(tensor) * number: the node keeps the
            # reciprocal, not the tensor (an in-place change of the tensor is then fine)
            return ops.elementwise.Reciprocal.apply(_floating(self)) * other
        return ops.Div.apply(*_operands(self, other, True, floats=True))

    def __pow__(self, other: Any) -> Tensor:
        if other.__class__ is bool and self._data.dtype == np.bool_:
            # torch: a bool tensor ** True is a copy, ** False all True (no pow kernel runs)
            return self.clone() if other else _new(np.ones(self._data.shape, np.bool_))
        if isinstance(other, Tensor) and other.dtype == dtypes.bool_ and self.dtype.kind == "f":
            # a bool exponent is not promoted: its backward then refuses `exponent - 1` with
            # torch's error, as torch's does
            return ops.Pow.apply(self, other)
        return ops.Pow.apply(*_operands(self, other))

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(*_operands(self, other, True))

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(as_tensor(other), self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(*_operands(self, other))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(*_operands(self, other, True))

    def __mod__(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(*_operands(self, other))

    def __rmod__(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(*_operands(self, other, True))

    def __neg__(self) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_unary(np.negative, self)
            if t is not None:
                return t
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.Abs.apply(self)

    def __invert__(self) -> Tensor:
        if self._data.dtype.kind == "f":
            raise TypeError(
                "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
            )
        return _new(np.invert(self._data))

    def __and__(self, other: Any) -> Tensor:
        return ops.elementwise.bitwise("bitwise_and", *_operands(self, other))

    def __or__(self, other: Any) -> Tensor:
        return ops.elementwise.bitwise("bitwise_or", *_operands(self, other))

    def __xor__(self, other: Any) -> Tensor:
        return ops.elementwise.bitwise("bitwise_xor", *_operands(self, other))

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        if type(alpha) is int and alpha == 1:
            return self + other
        rt = dtypes.promote(self, other)  # alpha does not take part in the promotion
        if isinstance(alpha, float) and rt.kind in "biu":
            raise RuntimeError(
                "For integral input tensors, argument alpha must not be a floating point number."
            )
        if isinstance(alpha, bool) and rt.kind != "b":
            raise RuntimeError("Boolean alpha only supported for Boolean results.")
        return self + _scaled(other, alpha, rt)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        if type(alpha) is int and alpha == 1:
            return self - other
        return self - _scaled(other, alpha, dtypes.promote(self, other))

    def mul(self, other: Any) -> Tensor:
        return self * other

    def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(
                f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"{rounding_mode!r}"
            )
        x, y = _operands(self, other)
        return ops.elementwise.floor_divide(x, y, mode=rounding_mode)

    def true_divide(self, other: Any) -> Tensor:
        return self / other

    subtract, multiply, divide = sub, mul, div

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def matmul(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def mm(self, other: Any) -> Tensor:
        return TF.mm(self, other)

    def bmm(self, other: Any) -> Tensor:
        return TF.bmm(self, other)

    def dot(self, other: Any) -> Tensor:
        od = getattr(other, "ndim", 1)
        if self.ndim != 1 or od != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {od}D tensors")
        return F.matmul(self, other)

    # -- comparisons (no grad, bool result) --------------------------------------------------
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.not_equal, self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return _compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _compare(np.greater_equal, self, other)

    def eq(self, other: Any) -> Tensor:
        return self == other

    def ne(self, other: Any) -> Tensor:
        return self != other

    def lt(self, other: Any) -> Tensor:
        return self < other

    def le(self, other: Any) -> Tensor:
        return self <= other

    def gt(self, other: Any) -> Tensor:
        return self > other

    def ge(self, other: Any) -> Tensor:
        return self >= other

    not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge

    def equal(self, other: Any) -> bool:
        o = _arr(other)
        return bool(self._data.shape == np.shape(o) and np.array_equal(self._data, o))

    def isnan(self) -> Tensor:
        return _new(np.isnan(self._data))

    def isinf(self) -> Tensor:
        return _new(np.isinf(self._data))

    def isfinite(self) -> Tensor:
        return _new(np.isfinite(self._data))

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:  # fmt: skip
        od = dtypes.dtype_of(other)
        if od is not None and od != self._data.dtype:
            raise RuntimeError(
                f"allclose: {dtypes.torch_name(self._data.dtype)} did not match "
                f"{dtypes.torch_name(od)}"
            )
        return bool(np.allclose(self._data, _arr(other), rtol=rtol, atol=atol,
                                equal_nan=equal_nan))  # fmt: skip

    def logical_not(self) -> Tensor:
        return _new(np.logical_not(self._data))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return TF.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return TF.all(self, dim, keepdim)

    # -- elementwise -------------------------------------------------------------------------
    def neg(self) -> Tensor:
        return -self

    negative = neg

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    absolute = abs

    def exp(self) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_unary(np.exp, self)
            if t is not None:
                return t
        return ops.Exp.apply(_floating(self))

    def log(self) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_unary(np.log, self)
            if t is not None:
                return t
        return ops.Log.apply(_floating(self))

    def log1p(self) -> Tensor:
        return ops.Log1p.apply(_floating(self))

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(_floating(self))

    def rsqrt(self) -> Tensor:
        return ops.Rsqrt.apply(_floating(self))

    def square(self) -> Tensor:
        x = self.long() if self._data.dtype.kind == "b" else self  # as torch: bool -> int64
        return x * x

    def sin(self) -> Tensor:
        return ops.Sin.apply(_floating(self))

    def cos(self) -> Tensor:
        return ops.Cos.apply(_floating(self))

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(_floating(self))

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(_floating(self))

    def relu(self) -> Tensor:
        return ops.ReLU.apply(self)

    def reciprocal(self) -> Tensor:
        return ops.elementwise.Reciprocal.apply(_floating(self))

    def sign(self) -> Tensor:
        return ops.Sign.apply(self)

    def floor(self) -> Tensor:
        return ops.Floor.apply(self)

    def ceil(self) -> Tensor:
        return ops.Ceil.apply(self)

    def trunc(self) -> Tensor:
        return ops.Trunc.apply(self)

    def round(self, decimals: int = 0) -> Tensor:
        return ops.Round.apply(self, decimals=decimals)

    fix = trunc

    def tan(self) -> Tensor:
        return ops.Tan.apply(_floating(self))

    def sinh(self) -> Tensor:
        return ops.Sinh.apply(_floating(self))

    def cosh(self) -> Tensor:
        return ops.Cosh.apply(_floating(self))

    def asin(self) -> Tensor:
        return ops.Asin.apply(_floating(self))

    def acos(self) -> Tensor:
        return ops.Acos.apply(_floating(self))

    def atan(self) -> Tensor:
        return ops.Atan.apply(_floating(self))

    def asinh(self) -> Tensor:
        return ops.Asinh.apply(_floating(self))

    def acosh(self) -> Tensor:
        return ops.Acosh.apply(_floating(self))

    def atanh(self) -> Tensor:
        return ops.Atanh.apply(_floating(self))

    arcsin, arccos, arctan = asin, acos, atan
    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def expm1(self) -> Tensor:
        return ops.Expm1.apply(_floating(self))

    def exp2(self) -> Tensor:
        return ops.Exp2.apply(_floating(self))

    def log2(self) -> Tensor:
        return ops.Log2.apply(_floating(self))

    def log10(self) -> Tensor:
        return ops.Log10.apply(_floating(self))

    # in-place forms of the elementwise functions: the function, written back (Note [In-place])
    def neg_(self) -> Tensor:
        return _inplace(self, lambda x: x.neg(), None, "neg_")

    negative_ = neg_

    def abs_(self) -> Tensor:
        return _inplace(self, lambda x: x.abs(), None, "abs_")

    absolute_ = abs_

    def exp_(self) -> Tensor:
        return _inplace(self, lambda x: x.exp(), None, "exp_")

    def log_(self) -> Tensor:
        return _inplace(self, lambda x: x.log(), None, "log_")

    def log1p_(self) -> Tensor:
        return _inplace(self, lambda x: x.log1p(), None, "log1p_")

    def sqrt_(self) -> Tensor:
        return _inplace(self, lambda x: x.sqrt(), None, "sqrt_")

    def rsqrt_(self) -> Tensor:
        return _inplace(self, lambda x: x.rsqrt(), None, "rsqrt_")

    def square_(self) -> Tensor:
        return _inplace(self, lambda x: x.square(), None, "square_")

    def sin_(self) -> Tensor:
        return _inplace(self, lambda x: x.sin(), None, "sin_")

    def cos_(self) -> Tensor:
        return _inplace(self, lambda x: x.cos(), None, "cos_")

    def tanh_(self) -> Tensor:
        return _inplace(self, lambda x: x.tanh(), None, "tanh_")

    def sigmoid_(self) -> Tensor:
        return _inplace(self, lambda x: x.sigmoid(), None, "sigmoid_")

    def relu_(self) -> Tensor:
        return _inplace(self, lambda x: x.relu(), None, "relu_")

    def reciprocal_(self) -> Tensor:
        return _inplace(self, lambda x: x.reciprocal(), None, "reciprocal_")

    def sign_(self) -> Tensor:
        return _inplace(self, lambda x: x.sign(), None, "sign_")

    def floor_(self) -> Tensor:
        return _inplace(self, lambda x: x.floor(), None, "floor_")

    def ceil_(self) -> Tensor:
        return _inplace(self, lambda x: x.ceil(), None, "ceil_")

    def trunc_(self) -> Tensor:
        return _inplace(self, lambda x: x.trunc(), None, "trunc_")

    fix_ = trunc_

    def round_(self, decimals: int = 0) -> Tensor:
        return _inplace(self, lambda x: x.round(decimals), None, "round_")

    def erf_(self) -> Tensor:
        return _inplace(self, lambda x: x.erf(), None, "erf_")

    def tan_(self) -> Tensor:
        return _inplace(self, lambda x: x.tan(), None, "tan_")

    def sinh_(self) -> Tensor:
        return _inplace(self, lambda x: x.sinh(), None, "sinh_")

    def cosh_(self) -> Tensor:
        return _inplace(self, lambda x: x.cosh(), None, "cosh_")

    def asin_(self) -> Tensor:
        return _inplace(self, lambda x: x.asin(), None, "asin_")

    def acos_(self) -> Tensor:
        return _inplace(self, lambda x: x.acos(), None, "acos_")

    def atan_(self) -> Tensor:
        return _inplace(self, lambda x: x.atan(), None, "atan_")

    def asinh_(self) -> Tensor:
        return _inplace(self, lambda x: x.asinh(), None, "asinh_")

    def acosh_(self) -> Tensor:
        return _inplace(self, lambda x: x.acosh(), None, "acosh_")

    def atanh_(self) -> Tensor:
        return _inplace(self, lambda x: x.atanh(), None, "atanh_")

    arcsin_, arccos_, arctan_ = asin_, acos_, atan_
    arcsinh_, arccosh_, arctanh_ = asinh_, acosh_, atanh_

    def expm1_(self) -> Tensor:
        return _inplace(self, lambda x: x.expm1(), None, "expm1_")

    def exp2_(self) -> Tensor:
        return _inplace(self, lambda x: x.exp2(), None, "exp2_")

    def log2_(self) -> Tensor:
        return _inplace(self, lambda x: x.log2(), None, "log2_")

    def log10_(self) -> Tensor:
        return _inplace(self, lambda x: x.log10(), None, "log10_")

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return F.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return ops.Maximum.apply(*_operands(self, other))

    def minimum(self, other: Any) -> Tensor:
        return ops.Minimum.apply(*_operands(self, other))

    def where(self, condition: Any, other: Any) -> Tensor:
        return F.where(condition, self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return F.masked_fill(self, mask, value)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return self + (end - self) * weight

    # -- reductions --------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        if not _state.enabled and dtype is None:  # Note [No-grad arithmetic]
            d = self._data
            dt = d.dtype
            # numpy's axis means torch's dim except for (): all dims in torch, none in numpy
            if (dt is _F32 or dt is _F64) and (
                dim is None or dim.__class__ is int or (dim.__class__ is tuple and dim)
            ):
                try:
                    # numpy's stubs accept keepdims only as a literal True or False
                    out = np.add.reduce(d, axis=dim, keepdims=keepdim)  # type: ignore[call-overload]
                    if not d.flags.c_contiguous:  # a reduction: contiguous, as torch
                        out = _views.contiguous_layout(out)
                    return _wrap(out)
                except (ValueError, TypeError):  # a bad dim: the primitive names it
                    pass
        if dtype is not None and self.requires_grad and _state.enabled:
            dt = dtypes.as_dtype(dtype)
            if dt.kind not in "fc":
                raise RuntimeError(f"Autograd not support dtype: {dtypes.torch_name(dt)}")
        x = self if dtype is None else self.to(dtype)
        if x._data.dtype.kind in "biu" and dtype is None:  # torch sums integers in int64
            x = x.to(dtypes.int64)
        return ops.Sum.apply(x, dim=dim, keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return F.mean(self if dtype is None else self.to(dtype), dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        x = self.to(dtypes.int64) if self._data.dtype.kind in "biu" else self  # as torch
        return ops.Prod.apply(x, dim=dim, keepdim=keepdim)

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        return F.var(self, dim, unbiased=unbiased, keepdim=keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        return F.std(self, dim, unbiased=unbiased, keepdim=keepdim, correction=correction)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return F.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return F.min(self, dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.Amax.apply(self, dim=dim, keepdim=keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.Amin.apply(self, dim=dim, keepdim=keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return F.argmin(self, dim, keepdim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return F.logsumexp(self, dim, keepdim)

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return F.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return F.log_softmax(self, dim, dtype=dtype)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        return F.norm(self, p, dim, keepdim)

    def cumsum(self, dim: int) -> Tensor:
        x = self.to(dtypes.int64) if self._data.dtype.kind in "biu" else self  # as torch
        return ops.Cumsum.apply(x, dim=dim)

    # -- shape -------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_reshape(self, shape)
            if t is not None:
                return t
        return F.reshape(self, _size(shape))

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, np.integer)):
            return self.to(shape[0])
        if not self._data.flags.c_contiguous:
            _check_view(self._data, _size(shape))
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_reshape(self, shape)
            if t is not None:
                return t
        return F.reshape(self, _size(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(tuple(other.shape))  # a view, or torch's error (never a copy)

    def reshape_as(self, other: Tensor) -> Tensor:
        return F.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return F.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        return F.unflatten(self, dim, sizes)

    def squeeze(self, dim: Any = None) -> Tensor:
        return F.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return F.unsqueeze(self, dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        d = self._data
        if not _state.enabled and d.ndim >= 2:  # Note [No-grad arithmetic]
            try:
                out = _wrap(d.swapaxes(dim0, dim1))
                if out._data.base is not None:
                    perm = list(range(d.ndim))
                    perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                    _views.mark_view(out, self, ops.Permute, dims=tuple(perm))
                return out
            except (ValueError, TypeError):  # a bad dim: the primitive path names it
                pass
        return F.transpose(self, dim0, dim1)

    swapaxes = transpose

    def permute(self, *dims: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            try:
                out = _wrap(self._data.transpose(dims[0] if len(dims) == 1 else dims))
                return _views.mark_view(out, self, ops.Permute, dims=_size(dims))
            except (ValueError, TypeError):  # not a permutation: the primitive names it
                pass
        return ops.Permute.apply(self, dims=_size(dims))

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self if self.ndim < 2 else self.transpose(0, 1)

    def expand(self, *sizes: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            shape = sizes
            if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                shape = tuple(sizes[0])
            if shape == self._data.shape:
                return self
            if -1 not in shape:
                try:
                    return _wrap(ops.movement.broadcast_view(self._data, shape, True))
                except (RuntimeError, ValueError, TypeError):  # F.expand names the problem
                    pass
        return F.expand(self, _size(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return F.expand(self, other.shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return F.expand(self, _size((shape,)))

    def repeat(self, *sizes: Any) -> Tensor:
        out = F.repeat(self, _size(sizes))
        # repeat always copies (torch): all-ones sizes would otherwise give back a view, and an
        # empty result a read-only one
        copy = (out._view is not None or np.may_share_memory(out._data, self._data)
                or not out._data.flags.writeable)  # fmt: skip
        return out.clone(memory_format=_views.contiguous_format) if copy else out  # as torch's

    def flip(self, *dims: Any) -> Tensor:
        return ops.Flip.apply(self, dims=_size(dims))

    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """The windows of `size` elements every `step` along `dimension`, as a view: that dim
        becomes the window index and a new last dim of `size` the offset in the window."""
        return ops.Unfold.apply(self, dimension, size, step)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return F.split(self, split_size, dim)

    def narrow_copy(self, dim: int, start: int, length: int) -> Tensor:
        return _C.narrow_copy(self, dim, start, length)

    def inner(self, other: Tensor) -> Tensor:
        return _C.inner(self, other)

    def vdot(self, other: Tensor) -> Tensor:
        return _C.vdot(self, other)

    def renorm(self, p: float, dim: int, maxnorm: float) -> Tensor:
        return _C.renorm(self, p, dim, maxnorm)

    def renorm_(self, p: float, dim: int, maxnorm: float) -> Tensor:
        return _inplace(self, lambda x: x.renorm(p, dim, maxnorm), None, "renorm_")

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        return F.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> Tensor:
        return F.select(self, dim, index)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return F.movedim(self, source, destination)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return F.roll(self, shifts, dims)

    def tril(self, diagonal: int = 0) -> Tensor:
        return F.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return F.triu(self, diagonal)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return F.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return F.unbind(self, dim)

    # -- indexing ----------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_index(index, self))

    def __setitem__(self, index: Any, value: Any) -> None:
        leaf = self.requires_grad and self.grad_fn is None and _state.enabled
        # torch's index_put_ refuses a value overlapping the target before it reads the masks
        aliased = value is self or (
            isinstance(value, Tensor) and np.may_share_memory(value._data, self._data)
        )
        index = _index(index, self, masks=not (leaf or aliased))  # a leaf: refused first
        if leaf:
            # torch selects the integers of the index before it refuses a leaf's in-place
            ops.movement.check_int_items(self._data.shape, index)
        if _views.check_setitem(self, index, value):  # torch's memory-overlap rules
            return
        if aliased and not leaf:
            index = _index(index, self)  # the masks' shapes
        _inplace(self, lambda x: F.index_put(x, index, value), value, "__setitem__",
                 fast=lambda d: _write(d, index, value))  # fmt: skip

    def index_put_(self, indices: tuple | list, values: Tensor, accumulate: bool = False
                   ) -> Tensor:  # fmt: skip
        """self[indices] = values, in place; with `accumulate`, self[indices] += values
        with repeated positions summed. `indices`: a tuple of index tensors (long or bool),
        one per leading dim; values broadcasts to the shape of self[indices]."""
        index = _put_indices(indices, values, self._data.dtype)
        if accumulate:
            idx = _index(index, self)
            return _inplace(self, lambda x: F.index_put(x, idx, values, True), values,
                            "index_put_")  # fmt: skip
        self[index] = values
        return self

    def index_put(self, indices: tuple | list, values: Tensor, accumulate: bool = False
                  ) -> Tensor:  # fmt: skip
        """Out of place index_put_: a copy of self with self[indices] = values (or +=)."""
        index = _put_indices(indices, values, self._data.dtype)
        return F.index_put(self, _index(index, self), values, accumulate)

    def gather(self, dim: int, index: Any) -> Tensor:
        return F.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return F.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return F.index_select(self, dim, index)

    def take_along_dim(self, indices: Any, dim: int | None = None) -> Tensor:
        return TF.take_along_dim(self, indices, dim)

    # -- in place (Note [In-place] in docs/design.md; see _inplace below) ----------------------
    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        other = other * alpha if alpha != 1 else other
        return _inplace(self, lambda x: x + other, other, "add_", ufunc=np.add)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        dtypes.check_sub(self, other)
        other = other * alpha if alpha != 1 else other
        return _inplace(self, lambda x: x - other, other, "sub_", ufunc=np.subtract)

    def mul_(self, other: Any) -> Tensor:
        return _inplace(self, lambda x: x * other, other, "mul_", ufunc=np.multiply)

    def div_(self, other: Any) -> Tensor:
        return _inplace(self, lambda x: x / other, other, "div_", ufunc=np.true_divide)

    def pow_(self, other: Any) -> Tensor:
        return _inplace(self, lambda x: x**other, other, "pow_")

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return _inplace(self, lambda x: x.clamp(min, max), None, "clamp_")

    def zero_(self) -> Tensor:
        return _inplace(self, lambda x: _overwrite(x, 0), None, "zero_", fast=lambda d: d.fill(0))

    def fill_(self, value: Any) -> Tensor:
        if isinstance(value, Tensor) and value.ndim != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                f"dimensions"
            )
        dtypes.check_scalar_fits(value, self._data.dtype)  # fill_(inf) of an int tensor raises
        return _inplace(self, lambda x: _overwrite(x, value), value, "fill_",
                        fast=lambda d: d.fill(_arr(value)))  # fmt: skip

    def copy_(self, src: Any) -> Tensor:
        shape = np.shape(_arr(src))
        try:
            ok = np.broadcast_shapes(shape, self._data.shape) == self._data.shape
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(
                f"copy_: the source of shape {list(shape)} cannot be broadcast to the "
                f"destination's shape {list(self._data.shape)}"
            )
        return _inplace(self, lambda x: _overwrite(x, src), src, "copy_",
                        fast=lambda d: np.copyto(d, _arr(src), casting="unsafe"))  # fmt: skip

    def addcmul_(self, t1: Any, t2: Any, value: Any = 1) -> Tensor:
        return self.add_(t1 * t2 * value)

    def addcdiv_(self, t1: Any, t2: Any, value: Any = 1) -> Tensor:
        return self.add_(t1 / t2 * value)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        return self.add_((end - self.detach()) * weight)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        r = random.generator(generator).uniform(a, b, self.shape)
        return _inplace(self, None, None, "uniform_", fast=lambda d: np.copyto(d, r, "unsafe"))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        r = random.generator(generator).normal(mean, std, self.shape)
        return _inplace(self, None, None, "normal_", fast=lambda d: np.copyto(d, r, "unsafe"))

    def bernoulli_(self, p: float = 0.5, generator: Any = None) -> Tensor:
        r = random.generator(generator).random(self.shape) < p
        return _inplace(self, None, None, "bernoulli_", fast=lambda d: np.copyto(d, r, "unsafe"))

    def random_(self, *bounds: int, generator: Any = None) -> Tensor:
        """Integers drawn uniformly from [from, to): `random_()`, `random_(to)` or
        `random_(from, to)`. Without `to`: up to 2**mantissa (floats: every integer there
        is exact), or the dtype's largest value (integers; 1 for bool), inclusive."""
        if len(bounds) > 2:
            raise TypeError(f"random_() takes at most 2 bounds (from, to), got {len(bounds)}")
        lo, hi = bounds if len(bounds) == 2 else (0, bounds[0] if bounds else None)
        hi = _random_top(self._data.dtype) + 1 if hi is None else int(hi)
        if lo >= hi:
            raise RuntimeError(
                f"random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}"
            )
        r = random.generator(generator).integers(lo, hi, self.shape)
        return _inplace(self, None, None, "random_", fast=lambda d: np.copyto(d, r, "unsafe"))

    def resize_(self, *sizes: Any) -> Tensor:
        """This tensor with the shape `sizes`, in place: its first elements (in row-major
        order) are kept; new ones are zero. Refused for a tensor that requires grad."""
        shape = _size(sizes)
        if self.requires_grad:
            raise RuntimeError("cannot resize variables that require grad")
        if any(n < 0 for n in shape):
            raise RuntimeError(f"resize_: negative dimension in the requested size {shape}")
        d = self._data
        if d.size == int(np.prod(shape)) and d.flags.c_contiguous:
            self._data = d.reshape(shape)  # the same memory, as torch keeps the storage
        else:
            new = np.zeros(shape, d.dtype)
            n = builtins.min(d.size, new.size)
            new.reshape(-1)[:n] = d.reshape(-1)[:n]
            self._data = new
        _views.increment_version(self)
        return self

    def resize_as_(self, other: Tensor) -> Tensor:
        return self.resize_(other.shape)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # -- torch's tensor functions beyond the core set: one-line forwards to the composites in
    # autotensor/tensor_functions.py (TF); in-place forms through _inplace (Note [In-place]).
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        return TF.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return TF.argsort(self, dim, descending, stable)

    def msort(self) -> Tensor:
        return TF.msort(self)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return TF.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        return TF.kthvalue(self, k, dim, keepdim)

    def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return TF.median(self, dim, keepdim)

    def nanmedian(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return TF.nanmedian(self, dim, keepdim)

    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        return TF.mode(self, dim, keepdim)

    def quantile(self, q: Any, dim: int | None = None, keepdim: bool = False, *,
                 interpolation: str = "linear") -> Tensor:  # fmt: skip
        return TF.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def cummax(self, dim: int) -> Any:
        return TF.cummax(self, dim)

    def cummin(self, dim: int) -> Any:
        return TF.cummin(self, dim)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return TF.cumprod(self, dim, dtype=dtype)

    def logcumsumexp(self, dim: int) -> Tensor:
        return TF.logcumsumexp(self, dim)

    def aminmax(self, *, dim: int | None = None, keepdim: bool = False) -> Any:
        return TF.aminmax(self, dim=dim, keepdim=keepdim)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:  # fmt: skip
        return TF.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:  # fmt: skip
        return _inplace(self, lambda x: TF.scatter(x, dim, index, src, value=value,
                                                   reduce=reduce), src, "scatter_")  # fmt: skip

    def scatter_add_(self, dim: int, index: Any, src: Any) -> Tensor:
        return _inplace(self, lambda x: TF.scatter_add(x, dim, index, src), src, "scatter_add_")

    def scatter_reduce(self, dim: int, index: Any, src: Any, reduce: str, *,
                       include_self: bool = True) -> Tensor:  # fmt: skip
        return TF.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, dim: int, index: Any, src: Any, reduce: str, *,
                        include_self: bool = True) -> Tensor:  # fmt: skip
        return _inplace(self, lambda x: TF.scatter_reduce(x, dim, index, src, reduce,
                        include_self=include_self), src, "scatter_reduce_")  # fmt: skip

    def index_add(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return TF.index_add(self, dim, index, source, alpha=alpha)

    def index_add_(self, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return _inplace(self, lambda x: TF.index_add(x, dim, index, source, alpha=alpha),
                        source, "index_add_")  # fmt: skip

    def index_copy(self, dim: int, index: Any, source: Any) -> Tensor:
        return TF.index_copy(self, dim, index, source)

    def index_copy_(self, dim: int, index: Any, source: Any) -> Tensor:
        return _inplace(self, lambda x: TF.index_copy(x, dim, index, source), source,
                        "index_copy_")  # fmt: skip

    def index_fill(self, dim: int, index: Any, value: Any) -> Tensor:
        return TF.index_fill(self, dim, index, value)

    def index_fill_(self, dim: int, index: Any, value: Any) -> Tensor:
        return _inplace(self, lambda x: TF.index_fill(x, dim, index, value), value,
                        "index_fill_")  # fmt: skip

    def index_reduce(self, dim: int, index: Any, source: Any, reduce: str, *,
                     include_self: bool = True) -> Tensor:  # fmt: skip
        return TF.index_reduce(self, dim, index, source, reduce, include_self=include_self)

    def take(self, index: Any) -> Tensor:
        return TF.take(self, index)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        return _inplace(self, lambda x: F.fill_where(x, mask, value), value, "masked_fill_")

    def masked_select(self, mask: Any) -> Tensor:
        return TF.masked_select(self, mask)

    def masked_scatter(self, mask: Any, source: Any) -> Tensor:
        return TF.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask: Any, source: Any) -> Tensor:
        return _inplace(self, lambda x: TF.masked_scatter(x, mask, source), source,
                        "masked_scatter_")  # fmt: skip

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return TF.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> Tensor:
        return TF.argwhere(self)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return TF.count_nonzero(self, dim)

    def unique(self, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim: int | None = None) -> Any:  # fmt: skip
        return TF.unique(self, sorted, return_inverse, return_counts, dim)

    def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False,
                           dim: int | None = None) -> Any:  # fmt: skip
        return TF.unique_consecutive(self, return_inverse, return_counts, dim)

    def bincount(self, weights: Any = None, minlength: int = 0) -> Tensor:
        return TF.bincount(self, weights, minlength)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
        return TF.histc(self, bins, min, max)

    def multinomial(self, num_samples: int, replacement: bool = False, *,
                    generator: Any = None) -> Tensor:  # fmt: skip
        from autotensor.creation import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def diag(self, diagonal: int = 0) -> Tensor:
        return TF.diag(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return TF.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return TF.diag_embed(self, offset, dim1, dim2)

    def diagflat(self, offset: int = 0) -> Tensor:
        return TF.diagflat(self, offset)

    def trace(self) -> Tensor:
        return TF.trace(self)

    def kron(self, other: Tensor) -> Tensor:
        return TF.kron(self, other)

    def outer(self, other: Tensor) -> Tensor:
        return TF.outer(self, other)

    ger = outer

    def cross(self, other: Tensor, dim: int | None = None) -> Tensor:
        return TF.cross(self, other, dim)

    # linear algebra: autotensor/linalg_toplevel.py
    def det(self) -> Tensor:
        return LT.det(self)

    def logdet(self) -> Tensor:
        return LT.logdet(self)

    def slogdet(self) -> Any:
        return LT.slogdet(self)

    def inverse(self) -> Tensor:
        return LT.inverse(self)

    def cholesky(self, upper: bool = False) -> Tensor:
        return LT.cholesky(self, upper)

    def cholesky_solve(self, input2: Tensor, upper: bool = False) -> Tensor:
        return LT.cholesky_solve(self, input2, upper)

    def cholesky_inverse(self, upper: bool = False) -> Tensor:
        return LT.cholesky_inverse(self, upper)

    def qr(self, some: bool = True) -> Any:
        return LT.qr(self, some)

    def svd(self, some: bool = True, compute_uv: bool = True) -> Any:
        return LT.svd(self, some, compute_uv)

    def matrix_power(self, n: int) -> Tensor:
        return LT.matrix_power(self, n)

    def matrix_exp(self) -> Tensor:
        return LT.matrix_exp(self)

    def pinverse(self, rcond: float = 1e-15) -> Tensor:
        return LT.pinverse(self, rcond)

    def dist(self, other: Tensor, p: float = 2) -> Tensor:
        return TF.dist(self, other, p)

    def mv(self, vec: Tensor) -> Tensor:
        return TF.mv(self, vec)

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return TF.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addmv(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return TF.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addr(self, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return TF.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def addbmm(self, b1: Tensor, b2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return TF.addbmm(self, b1, b2, beta=beta, alpha=alpha)

    def baddbmm(self, b1: Tensor, b2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return TF.baddbmm(self, b1, b2, beta=beta, alpha=alpha)

    def clamp_min(self, min: Any) -> Tensor:
        return TF.clamp_min(self, min)

    def clamp_max(self, max: Any) -> Tensor:
        return TF.clamp_max(self, max)

    def clamp_min_(self, min: Any) -> Tensor:
        return _inplace(self, lambda x: TF.clamp_min(x, min), min, "clamp_min_")

    def clamp_max_(self, max: Any) -> Tensor:
        return _inplace(self, lambda x: TF.clamp_max(x, max), max, "clamp_max_")

    def addcmul(self, t1: Any, t2: Any, *, value: Any = 1) -> Tensor:
        return TF.addcmul(self, t1, t2, value=value)

    def addcdiv(self, t1: Any, t2: Any, *, value: Any = 1) -> Tensor:
        return TF.addcdiv(self, t1, t2, value=value)

    def fmod(self, other: Any) -> Tensor:
        return TF.fmod(self, other)

    def remainder(self, other: Any) -> Tensor:
        return self % other

    def floor_divide(self, other: Any) -> Tensor:
        return self // other

    def atan2(self, other: Any) -> Tensor:
        return TF.atan2(self, other)

    arctan2 = atan2

    def hypot(self, other: Any) -> Tensor:
        return TF.hypot(self, other)

    def erf(self) -> Tensor:
        return TF.erf(self)

    def erfc(self) -> Tensor:
        return TF.erfc(self)

    def erfinv(self) -> Tensor:
        return TF.erfinv(self)

    # torch's further elementwise math: autotensor/special_functions.py (SF)
    def logit(self, eps: float | None = None) -> Tensor:
        return SF.logit(self, eps)

    def logit_(self, eps: float | None = None) -> Tensor:
        return _inplace(self, lambda x: SF.logit(x, eps), None, "logit_")

    def xlogy(self, other: Any) -> Tensor:
        return SF.xlogy(self, other)

    def xlogy_(self, other: Any) -> Tensor:
        return _inplace(self, lambda x: SF.xlogy(x, other), other, "xlogy_")

    def logaddexp(self, other: Tensor) -> Tensor:
        return SF.logaddexp(self, other)

    def logaddexp2(self, other: Tensor) -> Tensor:
        return SF.logaddexp2(self, other)

    def copysign(self, other: Any) -> Tensor:
        return SF.copysign(self, other)

    def copysign_(self, other: Any) -> Tensor:
        return _inplace(self, lambda x: SF.copysign(x, other), other, "copysign_")

    def nextafter(self, other: Tensor) -> Tensor:
        return SF.nextafter(self, other)

    def nextafter_(self, other: Tensor) -> Tensor:
        return _inplace(self, lambda x: SF.nextafter(x, other), other, "nextafter_")

    def heaviside(self, values: Tensor) -> Tensor:
        return SF.heaviside(self, values)

    def heaviside_(self, values: Tensor) -> Tensor:
        return _inplace(self, lambda x: SF.heaviside(x, values), values, "heaviside_")

    def ldexp(self, other: Tensor) -> Tensor:
        return SF.ldexp(self, other)

    def ldexp_(self, other: Tensor) -> Tensor:
        return _inplace(self, lambda x: SF.ldexp(x, other), other, "ldexp_")

    def float_power(self, exponent: Any) -> Tensor:
        return SF.float_power(self, exponent)

    def float_power_(self, exponent: Any) -> Tensor:
        if self._data.dtype != np.float64:
            raise RuntimeError(
                f"the base given to float_power_ has dtype {dtypes.torch_name(self._data.dtype)}"
                f" but the operation's result requires dtype Double"
            )
        return _inplace(self, lambda x: SF.float_power(x, exponent), exponent, "float_power_")

    def gcd(self, other: Tensor) -> Tensor:
        return SF.gcd(self, other)

    def gcd_(self, other: Tensor) -> Tensor:
        return _inplace(self, lambda x: SF.gcd(x, other), other, "gcd_")

    def lcm(self, other: Tensor) -> Tensor:
        return SF.lcm(self, other)

    def lcm_(self, other: Tensor) -> Tensor:
        return _inplace(self, lambda x: SF.lcm(x, other), other, "lcm_")

    def polygamma(self, n: int) -> Tensor:
        return SF.polygamma(n, self)

    def polygamma_(self, n: int) -> Tensor:
        return _inplace(self, lambda x: SF.polygamma(n, x), None, "polygamma_")

    def mvlgamma(self, p: int) -> Tensor:
        return SF.mvlgamma(self, p)

    def mvlgamma_(self, p: int) -> Tensor:
        return _inplace(self, lambda x: SF.mvlgamma(x, p), None, "mvlgamma_")

    def signbit(self) -> Tensor:
        return SF.signbit(self)

    def frac(self) -> Tensor:
        return SF.frac(self)

    def frac_(self) -> Tensor:
        return _inplace(self, SF.frac, None, "frac_")

    def deg2rad(self) -> Tensor:
        return SF.deg2rad(self)

    def deg2rad_(self) -> Tensor:
        return _inplace(self, SF.deg2rad, None, "deg2rad_")

    def rad2deg(self) -> Tensor:
        return SF.rad2deg(self)

    def rad2deg_(self) -> Tensor:
        return _inplace(self, SF.rad2deg, None, "rad2deg_")

    def lgamma(self) -> Tensor:
        return SF.lgamma(self)

    def lgamma_(self) -> Tensor:
        return _inplace(self, SF.lgamma, None, "lgamma_")

    def digamma(self) -> Tensor:
        return SF.digamma(self)

    def digamma_(self) -> Tensor:
        return _inplace(self, SF.digamma, None, "digamma_")

    def sinc(self) -> Tensor:
        return SF.sinc(self)

    def sinc_(self) -> Tensor:
        return _inplace(self, SF.sinc, None, "sinc_")

    def i0(self) -> Tensor:
        return SF.i0(self)

    def i0_(self) -> Tensor:
        return _inplace(self, SF.i0, None, "i0_")

    def sgn(self) -> Tensor:
        return SF.sgn(self)

    def sgn_(self) -> Tensor:
        return _inplace(self, SF.sgn, None, "sgn_")

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:  # fmt: skip
        return TF.nan_to_num(self, nan, posinf, neginf)

    def nansum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return TF.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return TF.nanmean(self, dim, keepdim, dtype=dtype)

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
        return TF.diff(self, n, dim, prepend, append)

    def logical_and(self, other: Any) -> Tensor:
        return TF.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        return TF.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return TF.logical_xor(self, other)

    def bitwise_and(self, other: Any) -> Tensor:
        return TF.bitwise_and(self, other)

    def bitwise_or(self, other: Any) -> Tensor:
        return TF.bitwise_or(self, other)

    def bitwise_xor(self, other: Any) -> Tensor:
        return TF.bitwise_xor(self, other)

    def bitwise_not(self) -> Tensor:
        return ~self

    def bitwise_left_shift(self, other: Any) -> Tensor:
        return TF.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other: Any) -> Tensor:
        return TF.bitwise_right_shift(self, other)

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:  # fmt: skip
        return TF.isclose(self, other, rtol, atol, equal_nan)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return TF.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, sections: Any) -> tuple[Tensor, ...]:
        return TF.hsplit(self, sections)

    def vsplit(self, sections: Any) -> tuple[Tensor, ...]:
        return TF.vsplit(self, sections)

    def repeat_interleave(self, repeats: Any, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:  # fmt: skip
        return TF.repeat_interleave(self, repeats, dim, output_size=output_size)

    def tile(self, *dims: Any) -> Tensor:
        return TF.tile(self, _size(dims))

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        return TF.rot90(self, k, dims)

    def fliplr(self) -> Tensor:
        return TF.fliplr(self)

    def flipud(self) -> Tensor:
        return TF.flipud(self)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        return F.movedim(self, source, destination)

    swapdims = swapaxes

    def type_as(self, other: Tensor) -> Tensor:
        return TF.type_as(self, other)

    def new_empty(self, *size: Any, dtype: Any = None) -> Tensor:
        return _new(np.empty(_size(size), dtype=self._data.dtype if dtype is None else dtype))

    # -- end of the tensor functions beyond the core set --------------------------------------

    # -- dtype conversions named after the builtins (kept last: see to()) ------------------
    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """torch's: no argument gives the legacy type name ('torch.FloatTensor'); a dtype, a
        legacy class (`at.FloatTensor`) or its name converts, as `to(dtype)`."""
        if dtype is None:
            return f"torch.{dtypes.torch_name(self._data.dtype)}Tensor"
        return self.to(dtypes.legacy_dtype(dtype))

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def bfloat16(self) -> Tensor:
        return self.to(dtypes.bfloat16)  # raises: numpy has no bfloat16

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)


class _RemovableHandle:
    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# -- helpers ---------------------------------------------------------------------------------
def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    """x itself if it is a Tensor (of that dtype), else a new constant tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None else x.to(dtype)
    return _new(to_array(x, dtype) if not isinstance(x, np.ndarray) or dtype else x)


def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _put_indices(indices: Any, values: Any, dtype: np.dtype) -> tuple:
    """index_put's arguments checked as torch does: a tuple of Tensors, a Tensor of values of
    the destination's dtype."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(
            f"index_put_(): argument 'indices' (position 1) must be tuple of Tensors, not "
            f"{type(indices).__name__}"
        )
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"index_put_(): expected Tensor as element {i} in argument 0, but got "
                f"{type(t).__name__}"
            )
    if not isinstance(values, Tensor):
        raise TypeError(
            f"index_put_(): argument 'values' (position 2) must be Tensor, not "
            f"{type(values).__name__}"
        )
    if values._data.dtype != dtype:
        raise RuntimeError(
            f"Index put requires the source and destination dtypes match, got "
            f"{dtypes.torch_name(dtype)} for the destination and "
            f"{dtypes.torch_name(values._data.dtype)} for the source."
        )
    if not indices:
        raise RuntimeError("index_put_: at least one index tensor is needed")
    return tuple(indices)


def _write(d: np.ndarray, index: Any, value: Any) -> None:
    """d[index] = value, with numpy's index and shape errors naming the tensor's shape."""
    if isinstance(value, Tensor):
        ops.movement.check_put_dtype(d.dtype, index, value, d.shape)
    try:
        ops.movement.put(d, index, _arr(value))
    except IndexError as err:  # the index itself (its dtype, a bound, too many)
        raise IndexError(
            f"__setitem__: {err} (index {index!r} of a tensor of shape {d.shape})"
        ) from None
    except (ValueError, TypeError) as err:
        raise RuntimeError(
            f"__setitem__: shape mismatch: cannot assign a value of shape {np.shape(_arr(value))} "
            f"at index "
            f"{index!r} of a tensor of shape {d.shape}: {err}"
        ) from None


def _size(args: tuple) -> tuple:
    """Sizes given as *ints or as one sequence: (2, 3) or ((2, 3),) -> (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


def _random_top(dt: np.dtype) -> int:
    """random_'s default upper bound (inclusive) for a dtype, as torch's."""
    if dt.kind == "f":
        return 2 ** (np.finfo(dt).nmant + 1)
    return 1 if dt.kind == "b" else int(np.iinfo(dt).max)


def _floating(x: Tensor) -> Tensor:
    """Integer tensors go to the default float dtype before float functions (as torch)."""
    return x if x._data.dtype.kind in "fc" else x.to(dtypes.get_default_dtype())


def _operands(a: Tensor, b: Any, reflected: bool = False, floats: bool = False) -> tuple:
    """Promote `a op b` to torch's result dtype; Python scalars stay weak (take a's dtype)."""
    da = a._data.dtype
    tb = b.__class__
    if tb is float or tb is int:  # the common case, decided without the general rules
        if da.kind == "f":
            return (b, a) if reflected else (a, b)
    elif (
        tb is Tensor
        and (b._data.dtype is da or b._data.dtype == da)
        and (da.kind == "f" or not floats)
    ):
        return (b, a) if reflected else (a, b)
    if isinstance(b, Tensor):
        db = b._data.dtype
        if da != db:
            rt = dtypes.result_type(da, a._data.ndim == 0, db, b._data.ndim == 0)
            if floats and rt.kind not in "fc":
                rt = dtypes.get_default_dtype()
            a = a if da == rt else a.to(rt)
            b = b if db == rt else b.to(rt)
        elif floats and da.kind not in "fc":
            a, b = _floating(a), _floating(b)
    elif isinstance(b, _SCALARS):
        rt = dtypes.scalar_result(da, b)
        if floats and rt.kind not in "fc":
            rt = dtypes.get_default_dtype()
        if rt != da:
            a = a.to(rt)
        if isinstance(b, (np.number, np.bool_)):
            b = b.item()
    else:
        arr = np.asarray(b)
        if arr.dtype == np.float64 and not isinstance(b, np.ndarray):
            arr = arr.astype(dtypes.get_default_dtype())
        return _operands(a, _new(arr), reflected, floats)
    return (b, a) if reflected else (a, b)


def _arith(
    op: Any, a: Tensor, b: Any, reflected: bool = False, floats: bool = False, sub: bool = False
) -> Tensor:
    """`op.apply(*_operands(a, b, reflected, floats))` for `a op b` (or `b op a`), the common
    case first (Note [Recording cost]): a float32/float64 tensor with a Python number or with
    a tensor of its dtype needs no promotion, and when a graph is recorded and one of them
    requires grad the node is recorded at once, as apply would (one call and one loop less
    per operator). `sub`: torch refuses `-` with a bool operand (dtypes.check_sub)."""
    da = a._data.dtype
    if (da is _F32 or da is _F64) and _state.enabled:
        tb = b.__class__
        if tb is Tensor:
            if b._data.dtype is da and (a.requires_grad or b.requires_grad):
                return _graph._record_few(op, (b, a) if reflected else (a, b), _NO_KWARGS)
        elif (tb is float or tb is int) and a.requires_grad:
            return _graph._record_few(op, (b, a) if reflected else (a, b), _NO_KWARGS)
    if sub:
        dtypes.check_sub(a, b)
    return op.apply(*_operands(a, b, reflected, floats))


def _nograd_binary(ufunc: Any, x: Any, y: Any) -> Tensor | None:
    """Note [No-grad arithmetic]: with no graph recorded (backward without create_graph,
    optimizer updates, evaluation) `+ - * /` of a float tensor with a Python number or a
    tensor of the same dtype is the bare ufunc: nothing to record, no promotion to decide.
    Anything else (other dtypes, shape errors) returns None and takes the primitive's path,
    which promotes dtypes as torch does and names the op in its errors."""
    if x.__class__ is np.ndarray:
        dt = x.dtype
        if y.__class__ is Tensor:
            y = y._data
            if y.dtype is not dt:
                return None
        elif y.__class__ is not float and y.__class__ is not int:
            return None
    else:
        dt = y.dtype
        if x.__class__ is not float and x.__class__ is not int:
            return None
    # float32/float64 by identity: a dtype that is not one of numpy's own singletons (an
    # unusual byte order, float16) simply takes the primitive's path
    if dt is not _F32 and dt is not _F64:
        return None
    try:
        out = _views.iterator_layout(ufunc(x, y), x, y)  # the primitive's layout too
    except ValueError:
        return None
    t = object.__new__(Tensor)  # _new, inlined
    t._data = out if out.__class__ is np.ndarray else np.asarray(out)  # 0-d gives scalars
    t.grad = t.grad_fn = t._hooks = None
    t.requires_grad = False
    t._output_nr = 0
    t._vcount = None
    return t


def _nograd_unary(ufunc: Any, x: Tensor) -> Tensor | None:
    """Note [No-grad arithmetic] for exp, log and negation of a float tensor."""
    d = x._data
    dt = d.dtype
    if dt is not _F32 and dt is not _F64:
        return None
    return _wrap(ufunc(d))


def _nograd_reshape(x: Tensor, shape: tuple) -> Tensor | None:
    """Note [No-grad arithmetic] for reshape/view: numpy's reshape (a view when it can be),
    or None when numpy refuses the shape, so that the primitive names the problem."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    d = x._data
    if shape == d.shape:
        return x  # as the primitive path: the same tensor, not a new view of it
    try:
        return _views.mark_view(_wrap(d.reshape(shape)), x, ops.Reshape, tuple(shape))
    except (ValueError, TypeError):
        return None


def _overwrite(x: Tensor, value: Any) -> Tensor:
    """x's values replaced by `value` (broadcast, in x's dtype), recorded so that x gets a zero
    gradient and `value` the gradient of its copies. Where, not x * 0 + value: old NaN/inf
    values of x must not leak into the result (nan * 0 is nan)."""
    if isinstance(value, Tensor):
        value = value if value._data.dtype == x._data.dtype else value.to(x._data.dtype)
    else:
        value = _new(np.asarray(_arr(value), dtype=x._data.dtype))
    return ops.Where.apply(np.zeros(x._data.shape, dtype=bool), x, value)


def _check_view(d: np.ndarray, shape: tuple) -> None:
    """view() never copies (torch): a shape that the strides cannot express is refused."""
    if -1 not in shape and int(np.prod(shape)) != d.size:
        return  # the reshape primitive names the size mismatch
    try:
        np.reshape(d, shape, copy=False)
    except ValueError:
        if shape.count(-1) > 1 or (-1 in shape and d.size and d.size % -int(np.prod(shape))):
            return
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None


def _wrap(out: Any) -> Tensor:
    """A result of a no-grad shortcut as a Tensor (numpy returns scalars from 0-d input)."""
    return _new(out if out.__class__ is np.ndarray else np.asarray(out))


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_NO_KWARGS: dict = {}  # the keyword arguments of an operator's node (never written to)


def _scaled(other: Any, alpha: Any, rt: np.dtype) -> Any:
    """alpha * other computed in the result dtype `rt`, as torch's add/sub: a number times
    alpha in floating point too (0 * -1 is -0.0, which x + (-0.0) keeps -0 for x = -0)."""
    if isinstance(other, Tensor):
        if rt.kind == "b":
            scaled = other * alpha
            return scaled.to(rt) if scaled.dtype != rt else scaled
        return (other.to(rt) if other.dtype != rt else other) * alpha
    if rt.kind == "b":
        return bool(other * alpha)
    if rt.kind == "f" and isinstance(other, (bool, int, float, np.number)):
        return float(other) * alpha
    return other * alpha


def _compare(fn: Any, a: Tensor, b: Any) -> Tensor:
    x, y = a._data, _arr(b)
    try:
        out = _new(_views.iterator_layout(np.asarray(fn(x, y)), x, y))
    except ValueError:
        raise RuntimeError(
            f"{fn.__name__}: shapes {tuple(a.shape)} and {tuple(np.shape(_arr(b)))} cannot be "
            f"broadcast together"
        ) from None
    if _graph.op_observers:  # masks feed Where: Note [Observing primitives]
        _graph.notify(fn.__name__, (a, b), {}, out)
    return out


def _check_step(s: slice) -> None:
    # numpy reverses on a negative step; torch refuses it (use flip), so we do too.
    if s.step is not None and s.step <= 0:
        raise ValueError(f"indexing: slice step must be greater than zero, got {s.step} (use flip)")


def _mask_or_index(a: np.ndarray) -> np.ndarray:
    # torch still reads a uint8 tensor in an index as a mask (deprecated), not as positions
    return a.astype(bool) if a.dtype == np.uint8 else a


def _index(index: Any, x: Tensor, masks: bool = True) -> Any:
    """Convert Tensors inside an index to arrays; check bounds with a clear message (the
    shapes of masks too, unless `masks` is False)."""
    if isinstance(index, (Tensor, np.ndarray)):
        m = _mask_or_index(_arr(index))
        if masks and m.dtype == np.bool_:
            ops.movement.check_masks(x._data.shape, m)
        return m
    if isinstance(index, slice):
        _check_step(index)
    if isinstance(index, tuple):
        for i in index:
            if isinstance(i, slice):
                _check_step(i)
        out = tuple(_mask_or_index(i._data) if isinstance(i, Tensor) else i for i in index)
        if masks and any(i.__class__ is np.ndarray and i.dtype == np.bool_ for i in out):
            ops.movement.check_masks(x._data.shape, out)
        return out
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [i._data if isinstance(i, Tensor) else i for i in index]
    return index


# Note [import order]: the primitives and the engine build Tensors, so they are imported
# after the class exists.
from autotensor import (  # noqa: E402
    _views,
    engine,
    ops,
    random,
)
from autotensor import composites as _C  # noqa: E402  (inner, renorm, ...)
from autotensor import functional as F  # noqa: E402
from autotensor import graph as _graph  # noqa: E402
from autotensor import linalg_toplevel as LT  # noqa: E402  (det, svd, ...)
from autotensor import special_functions as SF  # noqa: E402  (lgamma, xlogy, ...)
from autotensor import tensor_functions as TF  # noqa: E402  (sort, scatter, einsum, ...)

_inplace = _views.inplace

"""`Tensor`: an ndarray plus what autograd needs (grad, requires_grad, grad_fn).

Methods are explicit one-liners over the primitives in `autotensor.ops` and the composites
in `autotensor.functional`; no method is attached by reflection.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autotensor import dtypes
from autotensor.grad_mode import _state

_SCALARS = (int, float, bool, np.number, np.bool_)


def _new(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    """Fast internal constructor: wraps an ndarray without copying or checking."""
    t = object.__new__(Tensor)
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

    def __init__(self, data: Any = None, dtype: Any = None, requires_grad: bool = False) -> None:
        arr = to_array([] if data is None else data, dtype)
        self._data = arr
        self.grad = None
        self.requires_grad = False
        self.grad_fn = None
        self._output_nr = 0
        self._vcount = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    # -- attributes --------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The value as a detached tensor sharing memory (as torch's .data)."""
        t = _new(self._data)
        t._vcount = self._vc
        return t

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    def size(self, dim: int | None = None) -> Any:
        return self._data.shape if dim is None else self._data.shape[dim]

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
    def device(self) -> str:
        return "cpu"

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
        return self.transpose(-2, -1)

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim: int | None = None) -> Any:
        s = tuple(x // self._data.itemsize for x in self._data.strides)
        return s if dim is None else s[dim]

    # -- conversion --------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
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
        raise TypeError("Tensors are not pickled; save them with nn.save (an .npz format)")

    def __deepcopy__(self, memo: dict) -> Tensor:
        t = _new(self._data.copy(), self.requires_grad)
        if type(self) is not Tensor:
            t.__class__ = type(self)
        if self.grad is not None:
            t.grad = _new(self.grad._data.copy())
        memo[id(self)] = t
        return t

    # -- dtype -------------------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """`to(dtype)`; device arguments ('cpu') are accepted and ignored."""
        dtype = kwargs.get("dtype")
        if str(kwargs.get("device", "cpu")).split(":")[0] != "cpu":
            self.cuda()  # raises: there is only the CPU
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) and a.split(":")[0] in ("cpu", "device"):
                continue
            elif isinstance(a, str) and a.split(":")[0] in ("cuda", "mps", "xpu", "meta"):
                self.cuda()  # raises: there is only the CPU
            elif a is not None:
                dtype = a
        if dtype is None:
            return self
        dtype = dtypes.as_dtype(dtype)
        if dtype == self._data.dtype:
            return self
        return ops.Cast.apply(self, dtype)

    type = to

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *a: Any, **k: Any) -> Tensor:
        raise RuntimeError("autotensor runs on the CPU only (numpy); there is no CUDA device")

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
    def clone(self) -> Tensor:
        return ops.Clone.apply(self)

    def contiguous(self) -> Tensor:
        return self if self._data.flags.c_contiguous else self.clone()

    def new_zeros(self, *size: Any, dtype: Any = None) -> Tensor:
        return _new(np.zeros(_size(size), dtype=self._data.dtype if dtype is None else dtype))

    def new_ones(self, *size: Any, dtype: Any = None) -> Tensor:
        return _new(np.ones(_size(size), dtype=self._data.dtype if dtype is None else dtype))

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None) -> Tensor:
        d = self._data.dtype if dtype is None else dtype
        return _new(np.full(_size((size,)), fill_value, dtype=d))

    def new_tensor(self, data: Any, dtype: Any = None) -> Tensor:
        return Tensor(data, dtype=self._data.dtype if dtype is None else dtype)

    # -- arithmetic --------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.add, self._data, other)
            if t is not None:
                return t
        return ops.Add.apply(*_operands(self, other))

    def __radd__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.add, other, self._data)
            if t is not None:
                return t
        return ops.Add.apply(*_operands(self, other, True))

    def __sub__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.subtract, self._data, other)
            if t is not None:
                return t
        return ops.Sub.apply(*_operands(self, other))

    def __rsub__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.subtract, other, self._data)
            if t is not None:
                return t
        return ops.Sub.apply(*_operands(self, other, True))

    def __mul__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.multiply, self._data, other)
            if t is not None:
                return t
        return ops.Mul.apply(*_operands(self, other))

    def __rmul__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.multiply, other, self._data)
            if t is not None:
                return t
        return ops.Mul.apply(*_operands(self, other, True))

    def __truediv__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.true_divide, self._data, other)
            if t is not None:
                return t
        return ops.Div.apply(*_operands(self, other, floats=True))

    def __rtruediv__(self, other: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_binary(np.true_divide, other, self._data)
            if t is not None:
                return t
        return ops.Div.apply(*_operands(self, other, True, floats=True))

    def __pow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(*_operands(self, other))

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(*_operands(self, other, True))

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(as_tensor(other), self)

    def __floordiv__(self, other: Any) -> Tensor:
        a, b = _operands(self, other)
        return _new(np.floor_divide(_arr(a), _arr(b)))

    def __rfloordiv__(self, other: Any) -> Tensor:
        a, b = _operands(self, other, True)
        return _new(np.floor_divide(_arr(a), _arr(b)))

    def __mod__(self, other: Any) -> Tensor:
        a, b = _operands(self, other)
        return _new(np.mod(_arr(a), _arr(b)))

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
        return _new(np.invert(self._data))

    def __and__(self, other: Any) -> Tensor:
        return _new(np.logical_and(self._data, _arr(other)))

    def __or__(self, other: Any) -> Tensor:
        return _new(np.logical_or(self._data, _arr(other)))

    def __xor__(self, other: Any) -> Tensor:
        return _new(np.logical_xor(self._data, _arr(other)))

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        return self - (other * alpha if alpha != 1 else other)

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
        q = self / other
        q = q.floor() if rounding_mode == "floor" else q.trunc()
        rt = _operands(self, other)[0]._data.dtype
        if rt.kind in "biu":  # integer operands keep an integer result (torch), not a float
            q = q.to(dtypes.int64 if rt.kind == "b" else rt)
        return q

    def true_divide(self, other: Any) -> Tensor:
        return self / other

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def matmul(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def mm(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def bmm(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def dot(self, other: Any) -> Tensor:
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
        return bool(np.allclose(self._data, _arr(other), rtol=rtol, atol=atol,
                                equal_nan=equal_nan))  # fmt: skip

    def logical_not(self) -> Tensor:
        return _new(np.logical_not(self._data))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _new(np.asarray(np.any(self._data, axis=dim, keepdims=keepdim)))

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _new(np.asarray(np.all(self._data, axis=dim, keepdims=keepdim)))

    # -- elementwise -------------------------------------------------------------------------
    def neg(self) -> Tensor:
        return -self

    negative = neg

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

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
        return ops.Pow.apply(_floating(self), -0.5)

    def square(self) -> Tensor:
        return self * self

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
        return 1.0 / self

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
                    return _wrap(np.add.reduce(d, axis=dim, keepdims=keepdim))
                except (ValueError, TypeError):  # a bad dim: the primitive names it
                    pass
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
        if not _state.enabled:  # Note [No-grad arithmetic]
            t = _nograd_reshape(self, shape)
            if t is not None:
                return t
        return F.reshape(self, _size(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return F.reshape(self, other.shape)

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
                return _share_version(_wrap(d.swapaxes(dim0, dim1)), self)
            except (ValueError, TypeError):  # a bad dim: the primitive path names it
                pass
        return F.transpose(self, dim0, dim1)

    swapaxes = transpose

    def permute(self, *dims: Any) -> Tensor:
        if not _state.enabled:  # Note [No-grad arithmetic]
            try:
                out = _wrap(self._data.transpose(dims[0] if len(dims) == 1 else dims))
                return _share_version(out, self)
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
            if len(sizes) == 1 and (sizes[0].__class__ is tuple or sizes[0].__class__ is list):
                shape = tuple(sizes[0])
            if shape == self._data.shape:
                return self
            if -1 not in shape:
                try:
                    return _wrap(ops.movement.broadcast_view(self._data, shape))
                except (RuntimeError, ValueError, TypeError):  # F.expand names the problem
                    pass
        return F.expand(self, _size(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return F.expand(self, other.shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return F.expand(self, _size((shape,)))

    def repeat(self, *sizes: Any) -> Tensor:
        return F.repeat(self, _size(sizes))

    def flip(self, *dims: Any) -> Tensor:
        return ops.Flip.apply(self, dims=_size(dims))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return F.split(self, split_size, dim)

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
        index = _index(index, self)
        _inplace(self, lambda x: F.index_put(x, index, value), value, "__setitem__",
                 fast=lambda d: _write(d, index, value))  # fmt: skip

    def gather(self, dim: int, index: Any) -> Tensor:
        return F.gather(self, dim, index)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        return F.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return F.index_select(self, dim, index)

    def take_along_dim(self, indices: Any, dim: int) -> Tensor:
        return F.gather(self, dim, indices)

    # -- in place (Note [In-place] in docs/design.md; see _inplace below) ----------------------
    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        other = other * alpha if alpha != 1 else other
        return _inplace(self, lambda x: x + other, other, "add_", ufunc=np.add)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
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
        return _inplace(self, lambda x: x * 0, None, "zero_", fast=lambda d: d.fill(0))

    def fill_(self, value: Any) -> Tensor:
        return _inplace(self, lambda x: x * 0 + value, value, "fill_",
                        fast=lambda d: d.fill(_arr(value)))  # fmt: skip

    def copy_(self, src: Any) -> Tensor:
        return _inplace(self, lambda x: x * 0 + src, src, "copy_",
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

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)


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


def _write(d: np.ndarray, index: Any, value: Any) -> None:
    """d[index] = value, with numpy's index and shape errors naming the tensor's shape."""
    try:
        d[index] = _arr(value)
    except (IndexError, ValueError) as err:
        etype = IndexError if isinstance(err, IndexError) else RuntimeError
        raise etype(
            f"__setitem__: cannot assign a value of shape {np.shape(_arr(value))} at index "
            f"{index!r} of a tensor of shape {d.shape}: {err}"
        ) from None


def _size(args: tuple) -> tuple:
    """Sizes given as *ints or as one sequence: (2, 3) or ((2, 3),) -> (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


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
        out = ufunc(x, y)
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
    if len(shape) == 1 and (shape[0].__class__ is tuple or shape[0].__class__ is list):
        shape = shape[0]
    d = x._data
    if shape == d.shape:
        return x  # as the primitive path: the same tensor, not a new view of it
    try:
        return _share_version(_wrap(d.reshape(shape)), x)
    except (ValueError, TypeError):
        return None


def _share_version(out: Any, base: Any) -> Any:
    """Note [Views]: an output that shares memory with the input shares its version counter,
    so an in-place change through either is seen by a node that saved the other."""
    if not isinstance(base, Tensor):
        return out
    bd = base._data
    owner = bd if bd.base is None else bd.base
    for t in out if type(out) in (tuple, list) else (out,):
        d = t._data
        if d is not bd and d.base is not None and (d.base is owner or d.base is bd):
            t._vcount = base._vc
    return out


def _wrap(out: Any) -> Tensor:
    """A result of a no-grad shortcut as a Tensor (numpy returns scalars from 0-d input)."""
    return _new(out if out.__class__ is np.ndarray else np.asarray(out))


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _compare(fn: Any, a: Tensor, b: Any) -> Tensor:
    try:
        return _new(np.asarray(fn(a._data, _arr(b))))
    except ValueError:
        raise RuntimeError(
            f"{fn.__name__}: shapes {tuple(a.shape)} and {tuple(np.shape(_arr(b)))} cannot be "
            f"broadcast together"
        ) from None


def _check_step(s: slice) -> None:
    # numpy reverses on a negative step; torch refuses it (use flip), so we do too.
    if s.step is not None and s.step <= 0:
        raise ValueError(f"indexing: slice step must be greater than zero, got {s.step} (use flip)")


def _mask_or_index(a: np.ndarray) -> np.ndarray:
    # torch still reads a uint8 tensor in an index as a mask (deprecated), not as positions
    return a.astype(bool) if a.dtype == np.uint8 else a


def _index(index: Any, x: Tensor) -> Any:
    """Convert Tensors inside an index to arrays; check bounds with a clear message."""
    if isinstance(index, Tensor):
        return _mask_or_index(index._data)
    if isinstance(index, slice):
        _check_step(index)
    if isinstance(index, tuple):
        for i in index:
            if isinstance(i, slice):
                _check_step(i)
        return tuple(_mask_or_index(i._data) if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [i._data if isinstance(i, Tensor) else i for i in index]
    return index


def _inplace(
    t: Tensor,
    fn: Callable[[Tensor], Tensor] | None,
    other: Any,
    name: str,
    ufunc: Any = None,
    fast: Callable[[np.ndarray], Any] | None = None,
) -> Tensor:
    """Note [In-place]: when no graph is recorded the array is written in place (views see it);
    when one is, the result is computed out of place and the tensor is rebound to it, its old
    value living on in the graph under a private alias. Either way the version bumps, so a
    node that saved the old value refuses to backward."""
    recording = _state.enabled and (
        t.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
    )
    if recording:
        if t.grad_fn is None and t.requires_grad:
            raise RuntimeError(
                f"{name}: a leaf Variable that requires grad (shape {tuple(t.shape)}) is being "
                f"used in an in-place operation; wrap the update in at.no_grad() or use an "
                f"out-of-place op"
            )
        if fn is None:
            raise RuntimeError(f"{name} is not differentiable")
        alias = _new(t._data, t.requires_grad)
        alias.grad_fn, alias._output_nr = t.grad_fn, t._output_nr
        out = fn(alias)
        if out._data.dtype != t._data.dtype:
            out = out.to(t._data.dtype)
        t._data, t.grad_fn, t._output_nr = out._data, out.grad_fn, out._output_nr
        t.requires_grad = out.requires_grad
    elif ufunc is not None:
        if t._data.dtype.kind in "biu":
            # torch refuses to write a float result into an integer/bool tensor (int.add_(0.5),
            # int.div_(2)); numpy's unsafe casting would silently truncate it.
            kind = np.asarray(_arr(other)).dtype.kind
            if kind in "fc" or ufunc is np.true_divide:
                raise RuntimeError(
                    f"{name}: result type float can't be cast to the desired output type "
                    f"{t._data.dtype} (shape {tuple(t.shape)})"
                )
        try:
            ufunc(t._data, _arr(other), out=t._data, casting="unsafe")
        except ValueError:
            raise RuntimeError(
                f"{name}: cannot apply to a tensor of shape {tuple(t.shape)} with an operand of "
                f"shape {tuple(np.shape(_arr(other)))}"
            ) from None
    elif fast is not None:
        fast(t._data)
    else:
        with _no_grad():
            out = fn(t)  # type: ignore[misc]
        np.copyto(t._data, out._data, casting="unsafe")
    t._vc[0] += 1
    return t


# Note [import order]: the primitives and the engine build Tensors, so they are imported
# after the class exists.
from autotensor import engine, ops, random  # noqa: E402
from autotensor import functional as F  # noqa: E402
from autotensor.grad_mode import no_grad as _no_grad  # noqa: E402

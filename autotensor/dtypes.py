"""dtypes (numpy dtypes under torch's names) and torch's type-promotion rules."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
float = float32  # torch.float is float32
double = float64
long = int64
int = int32  # torch.int is int32
half = float16

_default_float = [float32]


class UnsupportedDtype:
    """A torch dtype numpy cannot hold (`bfloat16`): the name exists, so code that lists
    dtypes (`{'bfloat16': torch.bfloat16, ...}`) runs; making a tensor of it raises."""

    def __init__(self, name: str, itemsize: builtins.int) -> None:
        self.name, self.itemsize = name, itemsize
        self.is_floating_point, self.is_complex, self.is_signed = True, False, True

    def __repr__(self) -> str:
        return f"at.{self.name}"

    def error(self) -> TypeError:
        return TypeError(
            f"dtype {self.name} is not supported: numpy has no {self.name} arithmetic; "
            "use float32 (or float16)"
        )


bfloat16 = UnsupportedDtype("bfloat16", 2)


_ALIASES: dict[str, np.dtype] = {
    "float32": float32, "float": float32, "float64": float64, "double": float64,
    "float16": float16, "half": float16, "int64": int64, "long": int64, "int32": int32,
    "int": int32, "int16": int16, "int8": int8, "uint8": uint8, "bool": bool_,
}  # fmt: skip


def get_default_dtype() -> np.dtype:
    """The dtype of tensors made from Python floats (float32 unless changed)."""
    return _default_float[0]


def set_default_dtype(d: Any) -> None:
    d = as_dtype(d)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating point dtypes are supported, got {d}")
    _default_float[0] = d


def as_dtype(d: Any) -> np.dtype:
    """Normalise a dtype given as numpy dtype, type, or name ('float32', 'torch.float32')."""
    if isinstance(d, np.dtype):
        return d
    if isinstance(d, str):
        key = d.removeprefix("torch.").removeprefix("at.")
        if key in _ALIASES:
            return _ALIASES[key]
        if key == bfloat16.name:
            d = bfloat16
    if isinstance(d, UnsupportedDtype):
        raise d.error()
    if d is bool:
        return bool_
    try:
        return np.dtype(d)
    except TypeError:
        name = getattr(d, "__name__", None) or str(d)
        key = name.split(".")[-1]
        if key in _ALIASES:
            return _ALIASES[key]
        raise TypeError(f"unknown dtype {d!r}") from None


def category(d: np.dtype) -> builtins.int:
    """0 bool, 1 integer, 2 floating (torch's promotion categories)."""
    k = d.kind
    return 2 if k in "fc" else (0 if k == "b" else 1)


def result_type(a_dtype: np.dtype, a_dim0: bool, b_dtype: np.dtype, b_dim0: bool) -> np.dtype:
    """torch.result_type for two tensors; a 0-d tensor only wins by a higher category."""
    if a_dtype == b_dtype:
        return a_dtype
    ca, cb = category(a_dtype), category(b_dtype)
    if a_dim0 != b_dim0:
        # The dimensioned operand decides unless the 0-d one is of a higher category.
        if a_dim0:
            return a_dtype if ca > cb else b_dtype
        return b_dtype if cb > ca else a_dtype
    if ca != cb:
        return a_dtype if ca > cb else b_dtype
    return np.promote_types(a_dtype, b_dtype)


def scalar_result(t_dtype: np.dtype, value: Any) -> np.dtype:
    """The dtype of `tensor op python_scalar`: the scalar is 'weak' unless of higher category."""
    if isinstance(value, bool):
        return t_dtype
    if isinstance(value, (builtins.int, np.integer)):
        return int64 if t_dtype.kind == "b" else t_dtype
    if isinstance(value, (builtins.float, np.floating)):
        return t_dtype if t_dtype.kind in "fc" else _default_float[0]
    return t_dtype


# -- which ops refuse which dtypes (as torch) ------------------------------------------------
_TORCH_NAMES = {
    "bool": "Bool", "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
    "uint8": "Byte", "float32": "Float", "float64": "Double", "float16": "Half",
}  # fmt: skip


def torch_name(d: np.dtype) -> str:
    """torch's scalar-type name of a dtype, as its error messages spell it (Float, Long)."""
    return _TORCH_NAMES.get(np.dtype(d).name, str(d))


def legacy_dtype(spec: Any) -> Any:
    """The dtype a legacy tensor type names: the class (`FloatTensor`, its `dtype`) or its name
    ('torch.FloatTensor' or 'FloatTensor'); anything else is returned for `to()` to read."""
    if isinstance(spec, str):
        name = spec.removeprefix("torch.")
        for np_name, torch_scalar in _TORCH_NAMES.items():
            if name == torch_scalar + "Tensor":
                return np.dtype(np_name)
        raise ValueError(f"Tensor.type(): invalid type: '{spec}'")
    d = getattr(spec, "dtype", None)
    return d if isinstance(d, np.dtype) else spec


def _kind(d: np.dtype) -> str:
    """'b' bool, 'i' integer, 'f' floating."""
    return "bif"[category(d)]


# Ops whose kernel does not exist for some dtypes: torch raises NotImplementedError naming
# the kernel ('"abs_cpu" not implemented for 'Bool''). op -> (kernel name, kinds refused).
_NO_KERNEL: dict[str, tuple[str, str]] = {
    "abs": ("abs_cpu", "b"), "floor": ("floor_vml_cpu", "b"), "ceil": ("ceil_vml_cpu", "b"),
    "trunc": ("trunc_vml_cpu", "b"), "round": ("round_vml_cpu", "b"), "pow": ("pow", "b"),
    "floor_divide": ("div_floor_cpu", "b"), "remainder": ("remainder_cpu", "b"),
    "matmul": ("dot", "b"), "softmax": ("softmax_lastdim_kernel_impl", "bi"),
    "log_softmax": ("log_softmax_lastdim_kernel_impl", "bi"),
    "bitwise_and": ("bitwise_and_cpu", "f"), "bitwise_or": ("bitwise_or_cpu", "f"),
    "bitwise_xor": ("bitwise_xor_cpu", "f"),
}  # fmt: skip

# Ops that refuse some dtypes with a RuntimeError and a message of their own.
_REFUSED: dict[str, tuple[str, str]] = {
    "neg": ("b", "Negation, the `-` operator, on a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."),
    "sub": ("b", "Subtraction, the `-` operator, with a bool tensor is not supported. If you "
            "are trying to invert a mask, use the `~` or `logical_not()` operator instead."),
    "relu": ("b", "Boolean inputs not supported for relu"),
    "argmax": ("b", "argmax(): does not support bool input"),
    "argmin": ("b", "argmin(): does not support bool input"),
    "norm": ("bi", "linalg.vector_norm: Expected a floating point or complex tensor as input. "
             "Got {name}"),
    "var": ("bi", "std and var only support floating point and complex dtypes"),
    "std": ("bi", "std and var only support floating point and complex dtypes"),
}  # fmt: skip


def check_supported(op: str, *dts: np.dtype) -> None:
    """Raise as torch does when `op` has no implementation for one of the dtypes `dts`
    (NotImplementedError for a missing kernel, RuntimeError for a refused dtype)."""
    for d in dts:
        k = _kind(d)
        if op in _NO_KERNEL:
            kernel, kinds = _NO_KERNEL[op]
            if k in kinds:
                raise NotImplementedError(f"\"{kernel}\" not implemented for '{torch_name(d)}'")
        if op in _REFUSED:
            kinds, msg = _REFUSED[op]
            if k in kinds:
                raise RuntimeError(msg.format(name=torch_name(d)))


def dtype_of(x: Any) -> np.dtype | None:
    """The dtype of a Tensor or array operand; None for a Python scalar."""
    d = getattr(x, "_data", None)
    if d is not None:  # a Tensor (its array, or the numpy scalar some 0-d results hold)
        return d.dtype
    return x.dtype if isinstance(x, np.ndarray) else None


def check_sub(a: Any, b: Any) -> None:
    """torch refuses `-` when either operand is bool, a Python bool included."""
    for x in (a, b):
        d = dtype_of(x)
        if isinstance(x, (builtins.bool, np.bool_)) or (d is not None and d.kind == "b"):
            raise RuntimeError(_REFUSED["sub"][1])


def promote(a: Any, b: Any) -> np.dtype:
    """torch.result_type(a, b) for Tensors/arrays (0-d ones weak within a category) and
    Python scalars (weak unless of a higher category)."""
    da, db = dtype_of(a), dtype_of(b)
    if da is None and db is None:
        return np.result_type(a, b)
    if da is None:
        return scalar_result(db, a)  # type: ignore[arg-type]
    if db is None:
        return scalar_result(da, b)
    return result_type(da, np.ndim(getattr(a, "_data", a)) == 0, db,
                       np.ndim(getattr(b, "_data", b)) == 0)  # fmt: skip


def can_cast(src: np.dtype, dst: np.dtype) -> builtins.bool:
    """torch's in-place rule: a result may be written into a tensor of the same or a higher
    category (float into int, or int into bool, is refused)."""
    return category(src) <= category(dst)


def check_inplace(op: str, result: np.dtype, out: np.dtype) -> None:
    """`int_tensor += 0.5`: torch refuses to write a result it would have to truncate."""
    if not can_cast(result, out):
        raise RuntimeError(
            f"{op}: result type {torch_name(result)} can't be cast to the desired output type "
            f"{torch_name(out)}"
        )


_C_NAMES = {"int64": "int64_t", "int32": "int", "int16": "short", "int8": "signed char",
            "uint8": "unsigned char"}  # fmt: skip


def check_scalar_fits(value: Any, out: np.dtype) -> None:
    """torch converts a Python number written into an integer tensor (fill_, masked_fill,
    x[i] = v) with an overflow check: inf, NaN or a value beyond the type's range raise.
    (Tensor-to-tensor copies do not check.)"""
    if out.kind not in "iu" or value.__class__ is not builtins.float:  # (float: a dtype here)
        return
    info = np.iinfo(out)
    if not (math.isfinite(value) and info.min <= value <= info.max):
        raise RuntimeError(
            f"value cannot be converted to type {_C_NAMES.get(out.name, out.name)} without overflow"
        )

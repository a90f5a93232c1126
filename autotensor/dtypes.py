"""dtypes (numpy dtypes under torch's names) and torch's type-promotion rules."""

from __future__ import annotations

import builtins
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
float = float32  # noqa: A001 - torch.float is float32
double = float64
long = int64
int = int32  # noqa: A001 - torch.int is int32
half = float16

_default_float = [float32]

_ALIASES = {
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


def category(d: np.dtype) -> int:
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

"""torch.finfo / torch.iinfo: the numeric limits of a dtype, with torch's attribute names.

`finfo(dtype)` has bits, eps, max, min, tiny (= smallest_normal) and resolution as Python
numbers and `dtype` as its name ('float32'); `finfo()` describes the default float dtype.
`iinfo(dtype)` has bits, max, min and dtype. Asking one for the other kind of dtype is a
TypeError, as in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["finfo", "iinfo"]


def _np_dtype(dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"expected a dtype, got {dtype!r}") from None


class _Info:
    """What finfo and iinfo share: equal (and hashed alike) for the same dtype."""

    dtype: str

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.dtype))


class finfo(_Info):
    """Machine limits of a floating point dtype (default: the default dtype)."""

    def __init__(self, type: Any = None) -> None:
        if type is None:
            from autotensor.dtypes import get_default_dtype

            type = get_default_dtype()
        d = _np_dtype(type)
        if d.kind != "f":
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to "
                "handle 'torch.finfo'"
            )
        info = np.finfo(d)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.smallest_normal)
        self.smallest_normal = self.tiny
        self.resolution = 10.0 ** -int(info.precision)  # torch: 10^-(decimal digits)
        self.dtype = d.name

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, "
            f"dtype={self.dtype})"
        )


class iinfo(_Info):
    """Machine limits of an integer dtype."""

    def __init__(self, type: Any) -> None:
        d = _np_dtype(type)
        if d.kind == "b":
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if d.kind not in "iu":
            raise TypeError(
                "torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                "'torch.iinfo'"
            )
        info = np.iinfo(d)
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"

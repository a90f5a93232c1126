"""torch's legacy tensor types: `FloatTensor`, `LongTensor`, ... as constructors and as
`isinstance` checks; `Tensor.type()` names them (dtypes.torch_name) and accepts them
(dtypes.legacy_dtype).

`FloatTensor(2, 3)` is a new (2, 3) float32 tensor (uninitialised in torch, zeros here),
`FloatTensor([1, 2])` one from data, `FloatTensor()` an empty (0,) one, and
`FloatTensor(t)` is `t` itself when its dtype is float32 (else a TypeError, as torch).
`isinstance(t, FloatTensor)` holds for every float32 tensor, as in torch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from autotensor import dtypes
from autotensor.creation import empty, tensor
from autotensor.tensor import Tensor

__all__ = ["LEGACY"]


class _LegacyMeta(type):
    dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


class _LegacyTensor(metaclass=_LegacyMeta):
    dtype: ClassVar[Any]

    def __new__(cls, *args: Any, device: Any = None) -> Any:
        if device is not None and str(device) != "cpu":
            raise RuntimeError(f"{cls.__name__}: only the CPU is available, got device={device}")
        if not args:
            return empty(0, dtype=cls.dtype)
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return empty(*args, dtype=cls.dtype)
        if len(args) == 1:
            (a,) = args
            if isinstance(a, Tensor):
                if a.dtype != cls.dtype:
                    raise TypeError(
                        f"{cls.__name__}(): expected a tensor of dtype "
                        f"{dtypes.torch_name(cls.dtype)}, got {dtypes.torch_name(a.dtype)}"
                    )
                return a
            return tensor(a, dtype=cls.dtype)
        raise TypeError(
            f"{cls.__name__}(): arguments must be sizes (ints) or one sequence of data, got "
            f"({', '.join(type(a).__name__ for a in args)})"
        )


def _make(name: str, dtype: Any) -> type:
    return _LegacyMeta(name, (_LegacyTensor,), {"dtype": dtype, "__module__": "autotensor"})


# one class per torch scalar-type name: FloatTensor for float32, LongTensor for int64, ...
LEGACY: dict[str, type] = {
    f"{scalar}Tensor": _make(f"{scalar}Tensor", np.dtype(np_name))
    for np_name, scalar in dtypes._TORCH_NAMES.items()
}

"""torch's legacy tensor types: `FloatTensor`, `LongTensor`, ... as constructors and as
`isinstance` checks, and the names `Tensor.type()` returns and accepts.

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

__all__ = ["LEGACY", "legacy_name", "legacy_dtype"]


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


LEGACY: dict[str, type] = {
    name: _make(name, dt)
    for name, dt in [
        ("FloatTensor", dtypes.float32),
        ("DoubleTensor", dtypes.float64),
        ("HalfTensor", dtypes.float16),
        ("LongTensor", dtypes.int64),
        ("IntTensor", dtypes.int32),
        ("ShortTensor", dtypes.int16),
        ("CharTensor", dtypes.int8),
        ("ByteTensor", dtypes.uint8),
        ("BoolTensor", dtypes.bool_),
    ]
}
_BY_DTYPE = {np.dtype(cls.dtype): name for name, cls in LEGACY.items()}  # type: ignore[attr-defined]


def legacy_name(dtype: Any) -> str:
    """'torch.FloatTensor' for float32, as torch's `Tensor.type()`."""
    return "torch." + _BY_DTYPE[np.dtype(dtype)]


def legacy_dtype(spec: Any) -> Any:
    """The dtype named by a legacy class or its name ('torch.FloatTensor' or 'FloatTensor');
    anything else is returned as it is."""
    if isinstance(spec, str):
        cls = LEGACY.get(spec.removeprefix("torch."))
        if cls is None:
            raise ValueError(f"Tensor.type(): invalid type: '{spec}'")
        return cls.dtype  # type: ignore[attr-defined]
    return spec.dtype if isinstance(spec, _LegacyMeta) else spec  # a dtype: to() reads it

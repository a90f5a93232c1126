"""torch.cuda's questions, answered honestly: autotensor has no CUDA device.

`is_available()` is False and `device_count()` 0, so scripts that choose their device with
`"cuda" if torch.cuda.is_available() else "cpu"` pick the CPU. Calls that only concern CUDA's
own bookkeeping and that torch itself accepts without a GPU (seeding its generators,
emptying its cache) do nothing; calls that need a device (`current_device`, `set_device`,
`synchronize`, `get_device_name`) raise a RuntimeError saying that only the CPU is available.
"""

from __future__ import annotations

from typing import Any

from autotensor.cuda import amp


def _none(op: str) -> RuntimeError:
    return RuntimeError(f"cuda.{op}: CUDA is not available; autotensor runs on the CPU only "
                        "(numpy)")  # fmt: skip


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def device_count() -> int:
    return 0


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def manual_seed(seed: int) -> None:
    """No CUDA generator exists to seed (torch also accepts this without a GPU)."""


def manual_seed_all(seed: int) -> None:
    """No CUDA generator exists to seed (torch also accepts this without a GPU)."""


def seed() -> None:
    """No CUDA generator exists to seed."""


def seed_all() -> None:
    """No CUDA generator exists to seed."""


def empty_cache() -> None:
    """No CUDA memory is ever allocated, so there is nothing to release."""


def current_device() -> int:
    raise _none("current_device")


def set_device(device: Any) -> None:
    raise _none("set_device")


def synchronize(device: Any = None) -> None:
    raise _none("synchronize")


def get_device_name(device: Any = None) -> str:
    raise _none("get_device_name")


def get_device_properties(device: Any = None) -> Any:
    raise _none("get_device_properties")


class _CudaTensorType:
    """`torch.cuda.FloatTensor` and its kin: the names exist (scripts pick one with
    `torch.cuda.FloatTensor if cuda else torch.FloatTensor`), making one raises."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise _none(cls.__name__)


def _cuda_type(name: str) -> type:
    return type(name, (_CudaTensorType,), {"__module__": "autotensor.cuda"})


FloatTensor, DoubleTensor, HalfTensor = map(
    _cuda_type, ["FloatTensor", "DoubleTensor", "HalfTensor"]
)
LongTensor, IntTensor, ByteTensor = map(_cuda_type, ["LongTensor", "IntTensor", "ByteTensor"])
BoolTensor = _cuda_type("BoolTensor")

__all__ = [
    "BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor",
    "LongTensor",
    "amp", "current_device", "device_count", "empty_cache", "get_device_name",
    "get_device_properties", "is_available", "is_bf16_supported", "is_initialized",
    "manual_seed", "manual_seed_all", "seed", "seed_all", "set_device", "synchronize",
]  # fmt: skip

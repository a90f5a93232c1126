"""Devices: torch's `device` object, with the CPU as the only place tensors can live.

autotensor computes with numpy on the CPU. A `device('cuda')` object can be built, printed
and compared, as in torch (scripts build one before they know what is available), but
putting anything on it (`tensor(..., device='cuda')`, `t.to('cuda')`, `model.cuda()`)
raises a RuntimeError saying that only the CPU is available. Nothing ever falls back to the
CPU silently: a script that asked for a GPU learns that it does not have one.
"""

from __future__ import annotations

from typing import Any

# The device types torch's parser knows; any other string is refused, as torch does.
_KNOWN = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
    "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip


class device:
    """`device(type)`, `device('type:index')`, `device(type, index)` or `device(other)`.

    `.type` is the device kind ('cpu', 'cuda', ...), `.index` the ordinal or None; str gives
    'cpu' / 'cuda:1', repr `device(type='cpu')`; equal when type and index are equal (a
    device never equals a plain string, as in torch). An int alone names an accelerator: refused.
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): an index cannot be given with a device object")
            self._type, self._index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            # torch reads a bare ordinal as the current accelerator's device: there is none
            raise RuntimeError(f"device({type}): an ordinal names an accelerator device, and "
                               "none is available; autotensor runs on the CPU only")  # fmt: skip
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string, a device or an int, got {type!r}")
        kind, sep, idx = type.partition(":")
        if kind not in _KNOWN:
            raise RuntimeError(
                f"Expected one of {', '.join(_KNOWN)} device type at start of device string: {type}"
            )
        if sep:
            if index is not None:
                raise RuntimeError(f"device(): type ({type!r}) and index both give an index")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index!r}")
        self._type, self._index = kind, index

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, device):
            return NotImplemented
        return (self._type, self._index) == (other._type, other._index)

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __reduce__(self) -> tuple:
        return (device, (self._type, self._index))

    def __enter__(self) -> device:
        check(self, "device")  # `with device('cuda'):` is refused too
        return self

    def __exit__(self, *exc: object) -> None:
        pass


CPU = device("cpu")


def check(dev: Any, op: str) -> device:
    """The CPU device for `dev` (None, 'cpu', 'cpu:0', device('cpu'); a bare int names an
    accelerator, as in torch); anything else raises RuntimeError naming `op` and the device."""
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev)
    if d.type != "cpu":
        raise RuntimeError(
            f"{op}: device {str(d)!r} is not available; autotensor runs on the CPU only "
            f"(numpy), so the only device is 'cpu'"
        )
    return CPU


def is_device_like(a: Any) -> bool:
    """True for a device object or a string naming a device type ('cpu', 'cuda:0', ...)."""
    if isinstance(a, device):
        return True
    return isinstance(a, str) and a.partition(":")[0] in _KNOWN

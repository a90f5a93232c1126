"""Padding layers: `ZeroPad1d/2d`, `ConstantPad1d/2d`, `ReflectionPad1d/2d`,
`ReplicationPad1d/2d` and `CircularPad1d/2d`, each a thin module over `F.pad` with torch's
constructor arguments, dims checks and repr."""

from __future__ import annotations

from collections.abc import Sequence

from autotensor.tensor import Tensor
from nn import functional as F
from nn.module import Module

__all__ = [
    "CircularPad1d", "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d", "ZeroPad2d",
]  # fmt: skip


class _PadNd(Module):
    """Pads the last `_spatial` dims of (C, *) or (N, C, *) input by `padding`, given as one
    int for every side or as (left, right[, top, bottom]) as in F.pad."""

    _spatial = 1
    _mode = "constant"

    def __init__(self, padding: int | Sequence[int], value: float = 0.0) -> None:
        super().__init__()
        n = 2 * self._spatial
        if isinstance(padding, int):
            self.padding: tuple[int, ...] = (padding,) * n
        else:
            self.padding = tuple(int(p) for p in padding)
            if len(self.padding) != n:
                raise ValueError(
                    f"{type(self).__name__}: padding must be an int or a tuple of {n} ints, "
                    f"got {tuple(padding)}"
                )
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        want = (self._spatial + 1, self._spatial + 2)
        if input.ndim not in want:
            raise ValueError(
                f"{type(self).__name__}: expected {want[0]}D or {want[1]}D input, got "
                f"{input.ndim}D input of shape {tuple(input.shape)}"
            )
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        if self._mode == "constant" and not isinstance(self, (ZeroPad1d, ZeroPad2d)):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last dim of (C, W) or (N, C, W) input with `value`."""

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Pad the last two dims of (C, H, W) or (N, C, H, W) input with `value`."""

    _spatial = 2

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding, value)


class ZeroPad1d(_PadNd):
    """Pad the last dim of (C, W) or (N, C, W) input with zeros."""

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(_PadNd):
    """Pad the last two dims of (C, H, W) or (N, C, H, W) input with zeros."""

    _spatial = 2

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad1d(_PadNd):
    """Pad the last dim by reflecting it about its edges (the edge itself not repeated);
    each pad must be smaller than the dim."""

    _mode = "reflect"

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding)


class ReflectionPad2d(ReflectionPad1d):
    """Pad the last two dims by reflection about their edges."""

    _spatial = 2


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge values."""

    _mode = "replicate"

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding)


class ReplicationPad2d(ReplicationPad1d):
    """Pad the last two dims by repeating their edge values."""

    _spatial = 2


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around (periodic padding)."""

    _mode = "circular"

    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding)


class CircularPad2d(CircularPad1d):
    """Pad the last two dims by wrapping around."""

    _spatial = 2

"""Pooling layers: `MaxPool1d/2d`, `AvgPool1d/2d`, `AdaptiveAvgPool1d/2d`, with torch's
arguments (stride defaults to the kernel size) and reprs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autotensor import convolution as C
from autotensor.tensor import Tensor
from nn.module import Module

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d",
    "MaxPool2d",
]  # fmt: skip


def _single(v: Any) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class _Pool(Module):
    def _named(self, err: Exception) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}({self.extra_repr()}): {err}")


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """out[n, c, y, x] = max over the window at (y s, x s) (padding counts as -inf);
    with return_indices also the argmax as flat indices into each input plane.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW),
    OH = (H + 2 p - d (k - 1) - 1) // s + 1, rounded up with ceil_mode."""

    def forward(self, input: Tensor) -> Any:
        try:
            return C.max_pool2d(input, self.kernel_size, self.stride, self.padding,
                                self.dilation, self.ceil_mode, self.return_indices)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling: (N, C, L) or (C, L) -> (N, C, OL)."""

    def forward(self, input: Tensor) -> Any:
        try:
            return C.max_pool1d(input, self.kernel_size, self.stride, self.padding,
                                self.dilation, self.ceil_mode, self.return_indices)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None


class AvgPool2d(_Pool):
    """out = (sum over each window) / divisor: the window size clipped to the padded input
    (count_include_pad=True), to the input itself (False), or divisor_override.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW)."""

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        try:
            return C.avg_pool2d(input, self.kernel_size, self.stride, self.padding,
                                self.ceil_mode, self.count_include_pad,
                                self.divisor_override)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_Pool):
    """1-D average pooling: (N, C, L) or (C, L) -> (N, C, OL)."""

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        # torch keeps 1-tuples here (its repr shows kernel_size=(3,))
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        try:
            return C.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                                self.ceil_mode, self.count_include_pad)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveAvgPoolNd(_Pool):
    """Adaptive average pooling to `output_size`; subclasses name the function."""

    _fn: Any = None

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        try:
            return type(self)._fn(input, self.output_size)
        except RuntimeError as err:
            raise self._named(err) from None

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output size: cell (i, j) averages input rows
    [floor(i H / OH), ceil((i + 1) H / OH)) and the columns likewise.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW); output_size an int or a pair
    (None keeps that input size)."""

    _fn = staticmethod(C.adaptive_avg_pool2d)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """1-D adaptive average pooling: (N, C, L) or (C, L) -> (N, C, output_size)."""

    _fn = staticmethod(C.adaptive_avg_pool1d)

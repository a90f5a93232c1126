"""Convolution layers: `Conv1d`, `Conv2d` (the book's `Conv2D`), `ConvTranspose1d`,
`ConvTranspose2d`, with torch's arguments, parameter names, shapes and initialisation.

Initialisation as torch: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
1/sqrt(fan_in)) with fan_in = weight.shape[1] * kH * kW, and bias ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import autotensor as at
from autotensor import convolution as C
from autotensor.functional import pad as _pad
from autotensor.tensor import Tensor
from nn import init
from nn.module import Module, Parameter

__all__ = ["Conv1d", "Conv2D", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return v


class _ConvNd(Module):
    """Shared arguments, parameters and checks of the convolution layers."""

    _dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 output_padding: Any = 0, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        name = type(self).__name__
        n = self._dims
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})"
            )
        if out_channels % groups:
            raise ValueError(
                f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})"
            )
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}')
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.dilation = _ntuple(dilation, n, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: invalid padding string {padding!r}, should be one of "
                    f"['valid', 'same']"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )
            if self.transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple of ints")
            # 'same' or 'valid' here, a tuple of ints below (transposed layers take only those)
            self.padding: Any = padding
        else:
            self.padding = _ntuple(padding, n, "padding")
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        dt = at.get_default_dtype() if dtype is None else dtype
        if self.transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(at.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(at.empty((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _mode_pad(self, input: Tensor) -> Tensor:
        """Non-zero padding modes pad explicitly (torch's F.pad order: last dim first)."""
        if self.padding == "same":
            pads = []
            for d, k in zip(reversed(self.dilation), reversed(self.kernel_size)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
        elif self.padding == "valid":
            return input
        else:
            pads = [p for p in reversed(self.padding) for _ in range(2)]
        return _pad(input, pads, mode=self.padding_mode)

    def _named(self, err: Exception) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}({self.extra_repr()}): {err}")

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        n = self._dims
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over (N, C_in, H, W) or (C_in, H, W) input.

    out[n, o] = bias[o] + sum_{c in group(o)} weight[o, c] (*) input[n, c].
    Shapes: weight (out_channels, in_channels / groups, kH, kW), bias (out_channels,);
    output (N, out_channels, OH, OW), OH = (H + 2 p - d (kH - 1) - 1) // s + 1.
    padding: int, pair, 'valid' or 'same'; padding_mode 'zeros', 'reflect', 'replicate' or
    'circular'.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)  # fmt: skip

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            input = self._mode_pad(input)
            return C.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return C.conv2d(input, weight, bias, self.stride, self.padding, self.dilation,
                        self.groups)  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        try:
            return self._conv_forward(input, self.weight, self.bias)
        except RuntimeError as err:
            raise self._named(err) from None


Conv2D = Conv2d  # the book's name


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) or (C_in, L) input.

    Shapes: weight (out_channels, in_channels / groups, k), bias (out_channels,); output
    (N, out_channels, OL), OL = (L + 2 p - d (k - 1) - 1) // s + 1."""

    _dims = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        try:
            if self.padding_mode != "zeros":
                return C.conv1d(self._mode_pad(input), self.weight, self.bias, self.stride, 0,
                                self.dilation, self.groups)  # fmt: skip
            return C.conv1d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """output_padding from a requested output size (torch's forward(input, output_size))."""
        if output_size is None:
            return self.output_padding
        n = self._dims
        size = tuple(int(s) for s in output_size)[-n:]
        out = []
        for a in range(n):
            k, s, p, d = self.kernel_size[a], self.stride[a], self.padding[a], self.dilation[a]
            lo = (input.shape[a - n] - 1) * s - 2 * p + d * (k - 1) + 1
            if not lo <= size[a] < lo + s:
                raise ValueError(
                    f"{type(self).__name__}: requested an output size of {size}, but valid "
                    f"sizes for dim {a} range from {lo} to {lo + s - 1} (for an input of "
                    f"{list(input.shape)})"
                )
            out.append(size[a] - lo)
        return tuple(out)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (the adjoint of Conv2d with respect to its input).

    Shapes: input (N, C_in, H, W) or (C_in, H, W); weight (in_channels, out_channels /
    groups, kH, kW), bias (out_channels,); output (N, out_channels, OH, OW),
    OH = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)  # fmt: skip

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        try:
            op = self._output_padding(input, output_size)
            return C.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                      op, self.groups, self.dilation)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: (N, C_in, L) -> (N, out_channels, OL),
    OL = (L - 1) s - 2 p + d (k - 1) + output_padding + 1."""

    _dims = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | Sequence[int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)  # fmt: skip

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        try:
            op = self._output_padding(input, output_size)
            return C.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                      op, self.groups, self.dilation)  # fmt: skip
        except RuntimeError as err:
            raise self._named(err) from None

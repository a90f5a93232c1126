"""`Linear` (the book's `Dense`) and `Identity`."""

from __future__ import annotations

import math
from typing import Any

import autotensor as at
from autotensor import ops
from autotensor.tensor import Tensor
from nn import init
from nn.module import Module, Parameter

_Linear = ops.Linear.apply

__all__ = ["Dense", "Identity", "Linear"]


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b.

    Shapes: x (*, in_features) -> y (*, out_features); weight (out_features, in_features),
    bias (out_features,).  Initialisation as torch: W ~ kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        dt = at.get_default_dtype() if dtype is None else dtype
        self.weight = Parameter(at.empty((out_features, in_features), dtype=dt))
        if bias:
            self.bias = Parameter(at.empty((out_features,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        w, b = self.weight, self.bias
        d, wd = input.numpy(force=True), w.numpy(force=True)  # the arrays' own attributes
        if d.ndim == 0 or d.shape[-1] != wd.shape[1] or d.dtype != wd.dtype:
            self._bad_input(input)
        # one primitive node: GEMM against the transposed weight plus the bias
        return _Linear(input, w) if b is None else _Linear(input, w, b)

    def _bad_input(self, input: Tensor) -> None:
        name = f"Linear(in_features={self.in_features}, out_features={self.out_features})"
        if input.ndim == 0 or input.shape[-1] != self.weight.shape[1]:
            got = input.shape[-1] if input.ndim else "no"
            raise RuntimeError(
                f"{name}: input has {got} features in its last dim (shape "
                f"{tuple(input.shape)}), expected {self.weight.shape[1]}"
            )
        raise RuntimeError(
            f"{name}: input dtype {input.dtype} differs from the weight dtype "
            f"{self.weight.dtype}; convert the input (x.to({self.weight.dtype})) or the model "
            f"(model.to(...))"
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


Dense = Linear

"""`Flatten` and `Unflatten`: reshapes of a range of dims."""

from __future__ import annotations

from collections.abc import Sequence

from autotensor.tensor import Tensor
from nn.module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim into unflattened_size: (N, 784) -> (N, 1, 28, 28) with dim=1,
    unflattened_size=(1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(
                f"Unflatten: unflattened_size must be a tuple or list of ints, got "
                f"{type(unflattened_size).__name__}"
            )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        d = self.dim % input.ndim if input.ndim else 0
        n = 1
        for s in self.unflattened_size:
            n *= s if s != -1 else 1
        if -1 not in self.unflattened_size and n != input.shape[d]:
            raise RuntimeError(
                f"Unflatten: sizes {tuple(self.unflattened_size)} (product {n}) do not match "
                f"dim {self.dim} of size {input.shape[d]} (input shape {tuple(input.shape)})"
            )
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

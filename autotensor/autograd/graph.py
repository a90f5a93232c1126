"""torch.autograd.graph's names: `increment_version` and `Node`, the type of a `grad_fn`."""

from __future__ import annotations

from autotensor._views import increment_version
from autotensor.function import Function as Node  # a grad_fn is the node of its primitive

__all__ = ["Node", "increment_version"]

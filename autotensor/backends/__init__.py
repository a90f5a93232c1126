"""torch.backends' flags. autotensor has one backend, numpy on the CPU: the CUDA, cuDNN and MPS
flags can be read and set (scripts set them before they know the device), and change
nothing, because none of those libraries is ever used; `is_available()` is False for each."""

from __future__ import annotations

from autotensor.backends import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]

"""torch.nn.parameter's place: `Parameter` (defined with Module in nn/module.py)."""

from nn.module import Parameter

__all__ = ["Parameter"]

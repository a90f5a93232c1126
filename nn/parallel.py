"""torch.nn.parallel's single-process forms, as torch behaves on a machine without
accelerators.

There, torch's DataParallel keeps the module and calls it directly (the device ids it was
given have nothing to name and are dropped), and `data_parallel` fails because no device
type can be determined. These do the same, the error saying why.
DistributedDataParallel needs a process group and is not provided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nn.module import Module

__all__ = ["DataParallel", "data_parallel"]


class DataParallel(Module):
    """Wraps `module` as torch's DataParallel does with no accelerator: forward calls the
    module with the same arguments, `device_ids` is [], and `.module` is the wrapped module
    (so state_dict keys carry torch's `module.` prefix)."""

    def __init__(
        self,
        module: Module,
        device_ids: Sequence[Any] | None = None,
        output_device: Any = None,
        dim: int = 0,
    ) -> None:
        super().__init__()
        self.module = module
        self.device_ids: list[Any] = []

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


def data_parallel(
    module: Module,
    inputs: Any,
    device_ids: Sequence[Any] | None = None,
    output_device: Any = None,
    dim: int = 0,
    module_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Runs `module` replicated over accelerator devices; with none present it raises
    RuntimeError, as torch's does on the CPU."""
    raise RuntimeError(
        "data_parallel: device type could not be determined; autotensor computes on the CPU "
        "only (call the module directly, or wrap it in DataParallel)"
    )

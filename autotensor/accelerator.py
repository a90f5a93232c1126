"""torch.accelerator's questions, answered for a machine where only the CPU computes.

autotensor runs on numpy, so there is never an accelerator: `is_available()` is False,
`current_accelerator()` None (torch's answer when there is none), `device_count()` 0.
Whatever would act on an accelerator raises a RuntimeError that says so.
"""

from __future__ import annotations

from typing import Any


def _none(op: str) -> RuntimeError:
    return RuntimeError(f"accelerator.{op}: no accelerator is available; autotensor runs on the "
                        "CPU only (numpy)")  # fmt: skip


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def current_accelerator(check_available: bool = False) -> Any:
    """None: there is no accelerator (torch returns None too when it finds none)."""
    return None


def current_device_index() -> int:
    raise _none("current_device_index")


current_device_idx = current_device_index


def set_device_index(device: Any) -> None:
    raise _none("set_device_index")


set_device_idx = set_device_index


def synchronize(device: Any = None) -> None:
    raise _none("synchronize")

"""torch.cpu's names: the CPU is always there (`is_available()` True, one device)."""

from __future__ import annotations

from typing import Any

from autotensor.cpu import amp


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device: Any = None) -> None:
    """numpy computes synchronously: nothing to wait for."""


__all__ = ["amp", "current_device", "device_count", "is_available", "synchronize"]

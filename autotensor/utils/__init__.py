"""torch.utils's place: `autotensor.utils.data` is the `nn.data` package (loaded lazily on
first use; see Note [Aliases] in autotensor/_aliases.py)."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "data":
        return importlib.import_module("autotensor.utils.data")
    raise AttributeError(f"module 'autotensor.utils' has no attribute {name!r}")

"""torch.cpu.amp's (deprecated) spelling of `autocast('cpu', ...)` (see autotensor.amp)."""

from __future__ import annotations

from typing import Any

from autotensor import amp as _amp


class autocast(_amp.autocast):
    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> None:
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

"""torch.cuda.amp's (deprecated) spellings: `GradScaler(...)` and `autocast(...)` with the
device fixed to 'cuda'. Disabled (`enabled=False`) they are exact pass-throughs; enabled,
they would need CUDA and raise (see autotensor.amp)."""

from __future__ import annotations

from typing import Any

from autotensor import amp as _amp


class GradScaler(_amp.GradScaler):
    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:  # fmt: skip
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)  # fmt: skip


class autocast(_amp.autocast):
    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> None:
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

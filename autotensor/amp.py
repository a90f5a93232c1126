"""Mixed precision names: `autocast` and `GradScaler`, as torch.amp has them.

autotensor computes in the dtype of its operands (float32 or float64, numpy has no
bfloat16 and no reduced-precision matmul), so automatic casting to a lower precision cannot
be honoured:

- `autocast(device_type, dtype=None, enabled=True, cache_enabled=None)`: with enabled=False
  a pass-through (a context manager / decorator that changes nothing). Enabled on the CPU it
  would cast to bfloat16 (torch's default) or float16: NotImplementedError naming the dtype.
  Enabled with dtype=float32 it changes nothing, which is what it asks for. On 'cuda' it
  warns and disables itself, as torch does on a machine without CUDA (so a script written
  for a GPU runs on the CPU); any other device raises the CPU-only RuntimeError.
- `GradScaler(device='cuda', init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
  growth_interval=2000, enabled=True)`: disabled, every method is torch's pass-through
  (`scale(loss)` returns loss, `step(opt)` calls `opt.step()`, `get_scale()` is 1.0,
  `state_dict()` is {}). Enabled on 'cpu' it scales for real, as torch's CPU scaler does:
  the loss is multiplied by the scale, `unscale_` divides the gradients back, a step whose
  gradients hold inf/NaN is skipped and `update` backs the scale off (or grows it after
  `growth_interval` clean steps). Enabled on 'cuda' it warns and disables itself, as torch
  does without CUDA; another device raises the CPU-only RuntimeError.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from autotensor._device import check
from autotensor.grad_mode import no_grad

_state = {"enabled": False}


def is_autocast_available(device_type: str) -> bool:
    return device_type == "cpu"


def is_autocast_enabled(device_type: str | None = None) -> bool:
    return _state["enabled"]


def _no_cuda(device: Any) -> bool:
    """True for a CUDA device: torch without CUDA disables autocast and GradScaler there
    with a warning instead of failing, so they do so here."""
    return str(getattr(device, "type", device)).partition(":")[0] == "cuda"


class autocast:
    """Context manager / decorator; see the module docstring for what each form does."""

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:  # fmt: skip
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: expected device_type of type str, got {device_type!r}")
        self.device_type, self.fast_dtype, self._enabled = device_type, dtype, bool(enabled)
        if self._enabled and _no_cuda(device_type):
            warnings.warn("CUDA is not available. Disabling autocast.", stacklevel=2)
            self._enabled = False
        if not self._enabled:
            return
        check(device_type, "autocast")  # enabled on an accelerator: there is none
        wanted = "bfloat16" if dtype is None else str(getattr(dtype, "name", dtype))
        if wanted.replace("torch.", "") not in ("float32", "float"):
            raise NotImplementedError(
                f"autocast: dtype={wanted} is not supported on the CPU; autotensor computes in "
                "the operands' dtype (float32/float64). Use enabled=False, or dtype=float32"
            )
        self._enabled = False  # float32 autocast on float32 code changes nothing

    def __enter__(self) -> autocast:
        self._prev = _state["enabled"]
        _state["enabled"] = self._enabled
        return self

    def __exit__(self, *exc: object) -> None:
        _state["enabled"] = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper


class GradScaler:
    """Loss scaling for mixed precision; see the module docstring."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:  # fmt: skip
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled and _no_cuda(device):
            warnings.warn("GradScaler is enabled, but CUDA is not available. Disabling.",
                          stacklevel=2)  # fmt: skip
            self._enabled = False
        if self._enabled:
            check(device, "GradScaler")
            if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
                raise ValueError("GradScaler: growth_factor must be > 1, backoff_factor in (0, 1)")
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs: Any) -> Any:
        """outputs * scale (tensors, or lists/tuples of them); outputs itself when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _opt_state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "inf": False})

    def unscale_(self, optimizer: Any) -> None:
        """Divide the optimizer's gradients by the scale, in place, and note any inf/NaN."""
        if not self._enabled:
            return
        st = self._opt_state(optimizer)
        if st["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")  # fmt: skip
        inv = 1.0 / self._scale
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                with no_grad():
                    p.grad.mul_(inv)
                found = found or not bool(np.isfinite(p.grad.numpy()).all())
        st["unscaled"], st["inf"] = True, found

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """optimizer.step(...) unless the (unscaled) gradients hold inf/NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._opt_state(optimizer)
        if not st["unscaled"]:
            self.unscale_(optimizer)
        return None if st["inf"] else optimizer.step(*args, **kwargs)

    def update(self, new_scale: Any = None) -> None:
        """Back the scale off after a skipped step, grow it after growth_interval good ones."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, "item") else new_scale)
        elif any(st["inf"] for st in self._per_optimizer.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._per_optimizer.clear()

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def state_dict(self) -> dict[str, Any]:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")  # fmt: skip
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


__all__ = ["GradScaler", "autocast", "is_autocast_available", "is_autocast_enabled"]

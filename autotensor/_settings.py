"""torch's global switches that scripts set on the way in, with what each means here.

autotensor computes with numpy on the CPU in the operands' dtype, so several of torch's
switches have nothing to act on; they are accepted, remembered and reported back, and each
docstring says why that is honest. Switches that ask for something autotensor cannot give
raise instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from autotensor import _repr

_flags: dict[str, Any] = {
    "matmul_precision": "highest",
    "deterministic": False,
    "deterministic_warn_only": False,
    "num_threads": None,
    "num_interop_threads": None,
}
_limiter: Any = None  # the threadpoolctl limiter in force, when one was set


def set_float32_matmul_precision(precision: str) -> None:
    """'highest', 'high' or 'medium'. torch may use TF32/bfloat16 matmuls for the last two
    on GPUs; numpy always multiplies in full float32, i.e. 'highest' (so results only get
    more exact than asked for). The setting is remembered for get_float32_matmul_precision."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"set_float32_matmul_precision: invalid precision {precision!r}; "
                           "expected 'highest', 'high' or 'medium'")  # fmt: skip
    _flags["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _flags["matmul_precision"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Accepted: every autotensor op is already deterministic (numpy on one process)."""
    _flags["deterministic"], _flags["deterministic_warn_only"] = bool(mode), bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _flags["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _flags["deterministic_warn_only"]


def set_num_threads(n: int) -> None:
    """Threads for the BLAS behind numpy's matmul (through threadpoolctl when it is
    installed; otherwise only remembered, as the BLAS then keeps its own setting)."""
    global _limiter
    if not isinstance(n, int) or n < 1:
        raise RuntimeError(f"set_num_threads: expected a positive integer, got {n!r}")
    _flags["num_threads"] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _limiter = threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    if _flags["num_threads"] is not None:
        return _flags["num_threads"]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else (os.cpu_count() or 1)


def set_num_interop_threads(n: int) -> None:
    """Remembered only: autotensor runs one op at a time."""
    if not isinstance(n, int) or n < 1:
        raise RuntimeError(f"set_num_interop_threads: expected a positive integer, got {n!r}")
    _flags["num_interop_threads"] = n


def get_num_interop_threads() -> int:
    return _flags["num_interop_threads"] or 1


def compile(model: Any = None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend: Any = "inductor", mode: str | None = None, options: dict | None = None,
            disable: bool = False) -> Any:  # fmt: skip
    """Returns `model` (a module or function) unchanged. torch.compile traces the program
    into fused kernels that compute the same values faster; autotensor has no compiler, and
    the uncompiled program is the reference those kernels must match, so running it as it
    is keeps every result. Used as a decorator factory (`@compile(mode=...)`) it returns the
    identity decorator."""
    if model is None:

        def decorate(fn: Callable) -> Callable:
            return fn

        return decorate
    return model


def set_printoptions(precision: int | None = None, threshold: int | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:  # fmt: skip
    """torch's print options for tensor reprs (`profile='default'` restores the defaults)."""
    if sci_mode is not None:
        raise NotImplementedError("set_printoptions: sci_mode is not supported")
    profiles = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, 2**63, 3, 80)}
    if profile is not None:
        if profile not in profiles:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}")
        _repr.PRECISION, _repr.THRESHOLD, _repr.EDGEITEMS, _repr.LINEWIDTH = profiles[profile]
    for name, value in (("PRECISION", precision), ("THRESHOLD", threshold),
                        ("EDGEITEMS", edgeitems), ("LINEWIDTH", linewidth)):  # fmt: skip
        if value is not None:
            setattr(_repr, name, int(value))

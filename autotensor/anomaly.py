"""Anomaly detection: `detect_anomaly()` and the checks the recording step and the sweep run
while it is on (docs/design.md, "Anomaly detection").

The recording step and the engine read `_anomaly.enabled` once per op; everything else here
runs only while it is True.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any

import numpy as np


class _Anomaly(threading.local):
    enabled: bool = False


_anomaly = _Anomaly()


class detect_anomaly:
    """Context manager: report the op (and your source line) that first makes NaN/Inf.

    In the forward pass each op's outputs are checked; in backward each node's input
    gradients are, and the error names the forward op that recorded the node and where.
    Slow; for debugging only.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> None:
        self._prev = _anomaly.enabled
        _anomaly.enabled = self.check_nan

    def __exit__(self, *exc: object) -> None:
        _anomaly.enabled = self._prev


def user_frame(trace: Any) -> str:
    """The innermost frame of a recorded stack that is not inside autotensor or nn."""
    if not trace:
        return "unknown location"
    for fr in reversed(trace):
        f = fr.filename.replace("\\", "/")
        if "/autotensor/" not in f and "/nn/" not in f:
            return f'File "{fr.filename}", line {fr.lineno}, in {fr.name}\n    {fr.line}'
    fr = trace[-1]
    return f'File "{fr.filename}", line {fr.lineno}, in {fr.name}\n    {fr.line}'


def check_forward(cls: Any, results: list) -> None:
    """Forward: the first op whose output has NaN/Inf, named with the caller's line."""
    for r in results:
        d = r._data
        if d.dtype.kind in "fc" and not np.isfinite(d).all():
            if _inside_backward_rule():
                return  # check_backward reports it, naming the node whose rule this is
            where = user_frame(traceback.extract_stack()[:-2])
            raise RuntimeError(
                f"Function '{cls.__name__}' returned nan/inf values in its output "
                f"{tuple(d.shape)} during forward.\n  {where}"
            )


def _inside_backward_rule() -> bool:
    """True when the current op is called by a backward rule that the engine is running."""
    f: Any = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "_run_node" and f.f_code.co_filename.endswith("engine.py"):
            return True
        f = f.f_back
    return False


def check_backward(node: Any, grads: tuple) -> None:
    """Backward: the first rule whose gradients have NaN/Inf, named with its forward line."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        d = g._data
        if d.dtype.kind in "fc" and not np.isfinite(d).all():
            raise RuntimeError(
                f"Function '{node.name()}' returned nan/inf values in its {i}th output "
                f"(the gradient of input {i}, shape {tuple(d.shape)}). The forward op that "
                f"recorded it was called at:\n  {user_frame(node._trace)}"
            )

"""Grad mode: whether operations record the graph.

`no_grad`, `enable_grad` and `set_grad_enabled` work as context managers and as decorators,
as in torch. The flag is a plain attribute read on every op, so it is kept in a tiny
thread-local object rather than a ContextVar (a ContextVar lookup costs more per op).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    enabled: bool = True


_state = _State()


def is_grad_enabled() -> bool:
    """True when new operations record the graph for autograd."""
    return _state.enabled


class _GradModeContext:
    """Base for the grad-mode context managers; usable as a decorator too."""

    mode: bool = True

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_state.enabled)
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Context manager / decorator: operations inside record no graph."""

    mode = False


class enable_grad(_GradModeContext):
    """Context manager / decorator: operations inside record the graph (undoes no_grad)."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """`set_grad_enabled(mode)`: sets grad mode now; as a context manager, restores it on exit."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)
        self._prev.append(_state.enabled)
        _state.enabled = self.mode

    def __enter__(self) -> None:
        pass  # already set in __init__, as torch does

    def __call__(self, fn: F) -> F:
        _state.enabled = self._prev.pop()  # used as a decorator: undo the eager set
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _InferenceState(threading.local):
    enabled: bool = False


_inference = _InferenceState()


def is_inference_mode_enabled() -> bool:
    """True inside `inference_mode()` (mode=True)."""
    return _inference.enabled


class inference_mode(_GradModeContext):
    """`inference_mode(mode=True)`: context manager / decorator (also bare, `@inference_mode`).
    With mode=True nothing inside records the graph, as under no_grad, and
    is_inference_mode_enabled() is True; mode=False leaves grad mode as it is. (torch also
    marks tensors made inside as inference tensors; here they are ordinary tensors.)"""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # used bare as a decorator
            return super().__new__(cls).__call__(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.infer = bool(mode)
        self._prev_inf: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_state.enabled)
        self._prev_inf.append(_inference.enabled)
        if self.infer:
            _state.enabled = False
        _inference.enabled = self.infer

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev.pop()
        _inference.enabled = self._prev_inf.pop()

    def __call__(self, fn: F) -> F:
        infer = getattr(self, "infer", True)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with inference_mode(infer):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

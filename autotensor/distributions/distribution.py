"""The base class: shapes, sample_shape handling and the argument checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import autotensor as at
from autotensor.tensor import Tensor

__all__ = ["Distribution"]

_VALIDATE = True  # torch validates arguments unless told otherwise


class Distribution:
    """A batch of distributions: batch_shape indexes independent ones, event_shape is the
    shape of one draw. sample(sample_shape) returns sample_shape + batch_shape +
    event_shape."""

    has_rsample = False

    def __init__(
        self,
        batch_shape: Sequence[int] = (),
        event_shape: Sequence[int] = (),
        validate_args: bool | None = None,
    ) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = _VALIDATE if validate_args is None else bool(validate_args)

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        global _VALIDATE
        if value not in (True, False):
            raise ValueError
        _VALIDATE = value

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    def _extended_shape(self, sample_shape: Sequence[int] = ()) -> tuple[int, ...]:
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        with at.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised rsample")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return at.exp(self.entropy())

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    def _check(self, name: str, value: Tensor, ok: Any, constraint: str) -> None:
        """Raise torch's ValueError when `ok` (a bool tensor) is not all true."""
        if self._validate_args and not bool(at.all(ok)):
            raise ValueError(
                f"Expected parameter {name} ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                f"{constraint}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

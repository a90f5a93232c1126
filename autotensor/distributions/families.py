"""Categorical, Normal and Bernoulli with torch's formulas (see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import autotensor as at
from autotensor.distributions.distribution import Distribution
from autotensor.tensor import Tensor

__all__ = ["Bernoulli", "Categorical", "Normal"]


def _as_float_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return at.tensor(x, dtype=at.get_default_dtype())


def _clamp_probs(p: Tensor) -> Tensor:
    """p clamped into [eps, 1 - eps] so that its logarithm stays finite (torch's rule)."""
    eps = float(np.finfo(p.dtype).eps)
    return p.clamp(min=eps, max=1.0 - eps)


class Categorical(Distribution):
    """K classes along the last dimension of `probs` (normalised to sum 1) or `logits`
    (normalised by logsumexp): batch_shape = probs.shape[:-1], event_shape = ().

    log_prob(k) = logits[..., k] with logits = log(clamp(probs, eps, 1 - eps)) when built
    from probs; entropy = -sum(probs * logits); sample draws k with probability probs[k]."""

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._from_probs = probs is not None
        param = _as_float_tensor(probs if probs is not None else logits)
        if param.ndim < 1:
            name = "probs" if self._from_probs else "logits"
            raise ValueError(f"`{name}` parameter must be at least one-dimensional.")
        self._validate_args = True if validate_args is None else bool(validate_args)
        if self._from_probs:
            self.probs = param / param.sum(-1, keepdim=True)
            ok = (self.probs >= 0).all(-1) & ((self.probs.sum(-1) - 1).abs() < 1e-6)
            super().__init__(param.shape[:-1], (), validate_args)
            self._check("probs", self.probs, ok, "Simplex()")
            self.logits = at.log(_clamp_probs(self.probs))
        else:
            super().__init__(param.shape[:-1], (), validate_args)
            self._check("logits", param, ~at.isnan(param), "IndependentConstraint(Real(), 1)")
            self.logits = param - param.logsumexp(dim=-1, keepdim=True)
            self.probs = at.softmax(self.logits, -1)
        self._num_events = param.shape[-1]

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple((self.probs if self._from_probs else self.logits).shape)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = tuple(sample_shape)
        n = int(np.prod(shape, dtype=np.int64))
        with at.no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            draws = at.multinomial(probs_2d, n, True).T  # (n, batch)
            return draws.reshape(self._extended_shape(shape))

    def log_prob(self, value: Tensor) -> Tensor:
        value = value if isinstance(value, Tensor) else at.tensor(value)
        if self._validate_args:
            ok = (value >= 0) & (value <= self._num_events - 1) & (value == value.floor())
            if not bool(at.all(ok)):
                raise ValueError(
                    f"Expected value argument ({type(value).__name__} of shape "
                    f"{tuple(value.shape)}) to be within the support (IntegerInterval("
                    f"lower_bound=0, upper_bound={self._num_events - 1})) of the distribution "
                    f"{self!r}, but found invalid values:\n{value}"
                )
        idx = value.long().unsqueeze(-1)
        shape = at.broadcast_shapes(idx.shape, self.logits.shape)
        idx = idx.expand(*shape)[..., :1]
        return self.logits.expand(*shape).gather(-1, idx).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)

    @property
    def mean(self) -> Tensor:
        return at.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return at.full(self._extended_shape(), math.nan, dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        values = at.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand(-1, *self._batch_shape) if expand else values

    def __repr__(self) -> str:
        name = "probs" if self._from_probs else "logits"
        return f"Categorical({name}: {tuple(self.param_shape)})"


class Normal(Distribution):
    """Gaussians N(loc, scale^2), loc and scale broadcast together (batch_shape).

    log_prob(x) = -(x - loc)^2 / (2 scale^2) - log(scale) - log(sqrt(2 pi));
    entropy = 1/2 + 1/2 log(2 pi) + log(scale); rsample = loc + eps * scale, eps ~ N(0, 1)."""

    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        scalar = not isinstance(loc, Tensor) and not isinstance(scale, Tensor)
        loc_t, scale_t = _as_float_tensor(loc), _as_float_tensor(scale)
        if isinstance(loc, Tensor) != isinstance(scale, Tensor):
            # a Python number takes the dtype of the tensor beside it
            dt = loc_t.dtype if isinstance(loc, Tensor) else scale_t.dtype
            loc_t, scale_t = loc_t.to(dt), scale_t.to(dt)
        shape = at.broadcast_shapes(loc_t.shape, scale_t.shape)
        self.loc, self.scale = loc_t.expand(*shape), scale_t.expand(*shape)
        super().__init__(() if scalar else shape, (), validate_args)
        self._check("loc", self.loc, ~at.isnan(self.loc), "Real()")
        self._check("scale", self.scale, self.scale > 0, "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = at.randn(*shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        var = self.scale**2
        return (
            -((value - self.loc) ** 2) / (2 * var)
            - self.scale.log()
            - math.log(math.sqrt(2 * math.pi))
        )

    def cdf(self, value: Any) -> Tensor:
        return 0.5 * (1 + at.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + at.log(self.scale)

    def __repr__(self) -> str:
        if not self._batch_shape:
            return f"Normal(loc: {self.loc.item()}, scale: {self.scale.item()})"
        return f"Normal(loc: {tuple(self.loc.shape)}, scale: {tuple(self.scale.shape)})"


class Bernoulli(Distribution):
    """A coin per element of `probs` (in [0, 1]) or `logits`: batch_shape = their shape.

    log_prob(x) = -BCEWithLogits(logits, x); entropy = BCEWithLogits(logits, probs)."""

    def __init__(
        self, probs: Any = None, logits: Any = None, validate_args: bool | None = None
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._from_probs = probs is not None
        raw = probs if probs is not None else logits
        param = _as_float_tensor(raw)
        super().__init__(() if not isinstance(raw, Tensor) else param.shape, (), validate_args)
        if self._from_probs:
            self.probs = param
            self._check(
                "probs",
                param,
                (param >= 0) & (param <= 1),
                "Interval(lower_bound=0.0, upper_bound=1.0)",
            )
            p = _clamp_probs(param)
            self.logits = at.log(p) - at.log1p(-p)
        else:
            self.logits = param
            self.probs = at.sigmoid(param)

    @staticmethod
    def _bce_with_logits(logits: Tensor, target: Tensor) -> Tensor:
        # max(z, 0) - z t + log(1 + exp(-|z|)), the stable form
        return logits.clamp(min=0) - logits * target + at.log1p(at.exp(-logits.abs()))

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with at.no_grad():
            return at.bernoulli(self.probs.expand(*shape))

    def log_prob(self, value: Any) -> Tensor:
        value = _as_float_tensor(value)
        if self._validate_args and not bool(at.all((value == 0) | (value == 1))):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support (Boolean()) of the "
                f"distribution {self!r}, but found invalid values:\n{value}"
            )
        shape = at.broadcast_shapes(self.logits.shape, value.shape)
        return -self._bce_with_logits(self.logits.expand(*shape), value.expand(*shape))

    def entropy(self) -> Tensor:
        return self._bce_with_logits(self.logits, self.probs)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    @property
    def mode(self) -> Tensor:
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return at.where(self.probs == 0.5, at.full_like(mode, math.nan), mode)

    def __repr__(self) -> str:
        name = "probs" if self._from_probs else "logits"
        return f"Bernoulli({name}: {tuple(getattr(self, name).shape)})"

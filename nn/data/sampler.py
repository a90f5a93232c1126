"""Samplers: the order in which a DataLoader visits a map-style dataset (torch's names).

    sampler = RandomSampler(dataset, generator=at.Generator().manual_seed(0))
    batches = BatchSampler(sampler, batch_size=32, drop_last=False)   # lists of indices
    loader = DataLoader(dataset, batch_sampler=batches)

Randomness comes from numpy: the same seed gives the same indices every run, but not the
indices torch would draw (torch's generator is its own); the distributions are torch's.
`generator=` is an `at.Generator` (its state advances as it is used, as torch's does), a
numpy Generator, or an int seed (one Generator made at construction, so epochs differ but
runs repeat). Without one, each pass draws a fresh seed from autotensor's default
generator, so `at.manual_seed` makes runs repeatable.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

import autotensor as at
from autotensor import Tensor

__all__ = [
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler",
]  # fmt: skip

T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Base class: an iterable of dataset indices (or of index lists), usually with a
    `__len__`. Subclasses implement `__iter__`."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


def _fixed_rng(generator: Any) -> Any:
    """An int seed becomes one numpy Generator now; anything else is kept as given."""
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    if generator is not None and not isinstance(generator, (at.Generator, np.random.Generator)):
        raise TypeError(
            "generator must be an autotensor Generator, a numpy Generator or an int seed, got "
            f"{type(generator).__name__}"
        )
    return generator


def _pass_rng(generator: Any) -> np.random.Generator:
    """The numpy Generator for one pass: the given one, or (None) a fresh one seeded from
    the default generator, as torch seeds each pass from its global generator."""
    if generator is None:
        seed = int(at.random.generator(None).integers(0, 2**63 - 1))
        return np.random.default_rng(seed)
    return at.random.generator(generator)


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def _order_array(self) -> np.ndarray:
        return np.arange(len(self.data_source))


class RandomSampler(Sampler[int]):
    """Random indices into `data_source`.

    Without replacement: a fresh permutation of range(n) each pass; `num_samples` > n
    concatenates whole permutations and a prefix of one more (every index appears
    num_samples // n or one more times). With replacement: `num_samples` independent
    uniform draws from range(n). `num_samples` defaults to n = len(data_source).
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _fixed_rng(generator)
        if not isinstance(self.replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={self.replacement}"
            )
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def _order_array(self) -> np.ndarray:
        """The whole pass as one int64 array (what `__iter__` yields)."""
        n = len(self.data_source)
        rng = _pass_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        parts = [rng.permutation(n) for _ in range(self.num_samples // n)]
        parts.append(rng.permutation(n)[: self.num_samples % n])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        if self.replacement and self.num_samples > _DRAW_CHUNK:
            # Drawn lazily, a chunk at a time: scripts ask for endless streams this way
            # (num_samples=int(1e10) with replacement) and read only what they need.
            n, rng, left = len(self.data_source), _pass_rng(self.generator), self.num_samples
            while left > 0:
                k = min(left, _DRAW_CHUNK)
                yield from rng.integers(0, n, size=k, dtype=np.int64).tolist()
                left -= k
            return
        yield from self._order_array().tolist()

    def __len__(self) -> int:
        return self.num_samples


# Draws with replacement beyond this many are made lazily (see RandomSampler.__iter__).
_DRAW_CHUNK = 1 << 16


class SubsetRandomSampler(Sampler[int]):
    """The given indices, in a fresh random order each pass (without replacement)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = _fixed_rng(generator)

    def __iter__(self) -> Iterator[int]:
        for i in _pass_rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """`num_samples` indices into range(len(weights)), index i drawn with probability
    weights[i] / sum(weights) (torch.multinomial's semantics).

    With replacement the draws are independent. Without it, each draw removes the index
    drawn and renormalises the rest (num_samples may not exceed len(weights); past the
    number of positive weights the zero-weight indices follow, as in torch). Weights need
    not sum to 1; they must be finite and non-negative.
    """

    def __init__(
        self,
        weights: Sequence[float] | Tensor | np.ndarray,
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        w = np.asarray(weights.numpy() if isinstance(weights, Tensor) else weights, np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}"
            )
        self.weights = at.tensor(w, dtype=at.float64)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = _fixed_rng(generator)

    def _order_array(self) -> np.ndarray:
        w = self.weights.numpy()
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise RuntimeError(
                "WeightedRandomSampler: probability tensor contains either `inf`, `nan` or "
                "element < 0"
            )
        total = w.sum()
        if total <= 0:
            raise RuntimeError(
                "WeightedRandomSampler: invalid multinomial distribution (sum of "
                "probabilities <= 0)"
            )
        n, k = len(w), self.num_samples
        if not self.replacement and k > n:
            raise RuntimeError(
                f"WeightedRandomSampler: cannot sample n_sample > prob_dist.size(-1) samples "
                f"without replacement (num_samples={k}, {n} weights)"
            )
        rng = _pass_rng(self.generator)
        if self.replacement:
            return rng.choice(n, size=k, replace=True, p=w / total)
        nonzero = np.flatnonzero(w)
        first = rng.choice(n, size=min(k, len(nonzero)), replace=False, p=w / total)
        if k <= len(nonzero):
            return first
        # more draws than positive weights: as torch does, the zero-weight indices follow
        # once every positive one has been drawn (in random order)
        rest = rng.permutation(np.flatnonzero(w == 0))[: k - len(nonzero)]
        return np.concatenate([first, rest])

    def __iter__(self) -> Iterator[int]:
        return iter(self._order_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Group the indices of `sampler` into lists of `batch_size` (the last one shorter,
    unless `drop_last`)."""

    def __init__(
        self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        if self.drop_last:
            yield from (list(b) for b in zip(*[it] * self.batch_size))
            return
        batch = list(itertools.islice(it, self.batch_size))
        while batch:
            yield batch
            batch = list(itertools.islice(it, self.batch_size))

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return (
            n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
        )

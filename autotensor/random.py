"""Random numbers: one default numpy Generator, seeded by `manual_seed`.

Given the same seed, autotensor draws the same numbers every run; they are not torch's
numbers (torch uses its own generator), so parity tests copy weights across instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Generator:
    """torch.Generator's surface over a numpy Generator: `Generator().manual_seed(s)`."""

    def __init__(self, device: str = "cpu") -> None:
        self.rng = np.random.default_rng()
        self._seed: int | None = None

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self.rng = np.random.default_rng(int(seed))
        return self

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int | None:
        return self._seed


default_generator = Generator().manual_seed(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every random op that is not given a generator uses it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int | None:
    return default_generator.initial_seed()


def generator(g: Any = None) -> np.random.Generator:
    """The numpy Generator behind `g` (a Generator, a numpy Generator, an int seed, or None)."""
    if g is None:
        return default_generator.rng
    if isinstance(g, Generator):
        return g.rng
    if isinstance(g, np.random.Generator):
        return g
    if isinstance(g, (int, np.integer)):
        return np.random.default_rng(int(g))
    raise TypeError(f"expected a Generator, a numpy Generator or an int seed, got {type(g)}")

"""Random numbers: one default numpy Generator, seeded by `manual_seed`.

Given the same seed, autotensor draws the same numbers every run; they are not torch's
numbers (torch uses its own generator), so parity tests copy weights across instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

# torch.Generator()'s seed before any manual_seed; a fresh Generator here starts from it too.
DEFAULT_SEED = 67280421310721
_STATE_BYTES = 16 + 16 + 1 + 4 + 8  # PCG64 state, increment, cached-uint32 flag and value, seed


class Generator:
    """torch.Generator's surface over a numpy PCG64 Generator: `manual_seed(s)` (returns
    self), `seed()`, `initial_seed()`, `get_state()`/`set_state(t)` (a uint8 tensor that
    restores the stream exactly), `device`."""

    def __init__(self, device: Any = "cpu") -> None:
        from autotensor._device import check

        self.device = check(device, "Generator")
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if not -(2**63) <= seed < 2**64:
            raise RuntimeError(f"manual_seed: seed {seed} is outside the 64-bit range")
        self._seed = seed % 2**64  # torch keeps negative seeds as their unsigned bits
        self.rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy; returns the new seed."""
        entropy = np.random.SeedSequence().entropy  # an int when none was given
        assert isinstance(entropy, int)
        s = entropy % (2**63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Any:
        """The generator's state as a uint8 tensor (set_state(it) resumes the same stream)."""
        from autotensor.creation import from_numpy

        st = self.rng.bit_generator.state
        if st["bit_generator"] != "PCG64":
            raise RuntimeError(f"get_state: unsupported bit generator {st['bit_generator']}")
        raw = (
            int(st["state"]["state"]).to_bytes(16, "little")
            + int(st["state"]["inc"]).to_bytes(16, "little")
            + bytes([int(st["has_uint32"])])
            + int(st["uinteger"]).to_bytes(4, "little")
            + self._seed.to_bytes(8, "little")
        )
        return from_numpy(np.frombuffer(raw, np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        arr = np.asarray(getattr(new_state, "data", new_state))
        if arr.dtype != np.uint8 or arr.shape != (_STATE_BYTES,):
            raise RuntimeError(
                f"set_state: expected a uint8 tensor of shape ({_STATE_BYTES},) as get_state "
                f"returns, got dtype {arr.dtype} and shape {tuple(arr.shape)}"
            )
        raw = arr.tobytes()
        bitgen = np.random.PCG64()
        bitgen.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[:16], "little"),
                      "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32],
            "uinteger": int.from_bytes(raw[33:37], "little"),
        }  # fmt: skip
        self.rng = np.random.Generator(bitgen)
        self._seed = int.from_bytes(raw[37:45], "little")
        return self


default_generator = Generator().manual_seed(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every random op that is not given a generator uses it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from fresh entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state() -> Any:
    """The default generator's state, a uint8 tensor (see Generator.get_state)."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the default generator to a state from get_rng_state: the same numbers follow."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, device_type: str = "cpu") -> Iterator[None]:
    """Inside the block random ops draw as usual; on exit the default generator is put back
    to its state on entry (only the CPU generator exists)."""
    if device_type != "cpu" or devices:  # forking an accelerator's generator: there is none
        from autotensor._device import check

        check(device_type if device_type != "cpu" else "cuda", "fork_rng")
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


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

"""Shared test configuration: hypothesis profiles and seeded generators.

In CI (the CI environment variable set) hypothesis runs derandomized, so a failure seen
there reproduces exactly; locally it explores new examples on every run. No deadline: the
machine is shared and timings are noisy.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is optional: property tests skip without it
    settings = None

if settings is not None:
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded numpy Generator per test (results do not depend on test order)."""
    return np.random.default_rng(1234)

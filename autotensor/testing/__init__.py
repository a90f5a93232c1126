"""Checking tools shipped with the engine, so user primitives are checked like built-ins."""

from autotensor.testing.gradcheck import (
    GradcheckError,
    assert_close,
    check_function,
    gradcheck,
    gradgradcheck,
)
from autotensor.testing.sample import Sample

__all__ = [
    "GradcheckError", "Sample", "assert_close", "check_function", "gradcheck", "gradgradcheck",
]  # fmt: skip

"""torch as the tests' oracle, optional: `from torch_oracle import torch, needs_torch`.

Without torch, `torch` is None and the tests marked `@needs_torch` (or a module's
`pytestmark = needs_torch`) skip with the reason, while the tests beside them that need no
torch (gradchecks, Module and optimizer behaviour, errors) still run. Module-level code that
builds torch objects goes under `if torch is not None:`.
"""

from __future__ import annotations

from typing import Any

import pytest

torch: Any
try:
    import torch
except ModuleNotFoundError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: parity test skipped")

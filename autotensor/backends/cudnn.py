"""torch.backends.cudnn: settable flags; cuDNN is never available (CPU only)."""

from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    return None

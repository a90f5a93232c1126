"""`Sample`: one example input of a primitive, as yielded by `Function.sample_inputs`."""

from __future__ import annotations

from typing import Any

import numpy as np


class Sample:
    """One test case: positional args (float arrays become Tensors that require grad; other
    arrays become constant Tensors; anything else is passed as is) and keyword attrs.

    `nondiff=(i, ...)` names float array positions to keep constant. `gradgrad=False` skips
    the second-order check for this sample only: use it where the first derivative itself
    jumps at the sample point (ties of max/min), so finite differences of it are meaningless.
    """

    __slots__ = ("args", "kwargs", "nondiff", "note", "gradgrad")

    def __init__(
        self,
        *args: Any,
        nondiff: tuple = (),
        note: str = "",
        gradgrad: bool = True,
        **kwargs: Any,
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.nondiff = tuple(nondiff)
        self.note = note
        self.gradgrad = gradgrad

    def __repr__(self) -> str:
        def show(a: Any) -> str:
            return f"array{a.shape}" if isinstance(a, np.ndarray) else repr(a)

        parts = [show(a) for a in self.args] + [f"{k}={show(v)}" for k, v in self.kwargs.items()]
        return f"Sample({', '.join(parts)}){' ' + self.note if self.note else ''}"

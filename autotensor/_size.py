"""`Size`: the type of `Tensor.shape` and `Tensor.size()`, torch.Size's behaviour.

A tuple of ints, equal to and hashed as the plain tuple, so it goes wherever numpy or Python
take a shape; slicing it, adding a tuple to it and repeating it give a Size again."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, SupportsIndex


class Size(tuple):
    """Sizes of a tensor's dimensions: `Size([2, 3])`; `numel()` is their product."""

    __slots__ = ()

    def __new__(cls, sizes: Iterable[Any] = ()) -> Size:
        items = []
        for i, s in enumerate(sizes):
            try:
                items.append(operator.index(s))
            except TypeError:
                raise TypeError(
                    f"Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')"
                ) from None
        return tuple.__new__(cls, items)

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for `Size([])`)."""
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key: Any) -> Any:
        item = tuple.__getitem__(self, key)
        return tuple.__new__(Size, item) if isinstance(key, slice) else item

    def __add__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(self, other))

    def __radd__(self, other: Any) -> Size:
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(other, self))

    def __mul__(self, n: SupportsIndex) -> Size:
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"at.Size([{', '.join(map(str, self))}])"

    __str__ = __repr__

    def __reduce__(self) -> tuple:
        return (Size, (tuple(self),))


def as_size(shape: tuple[int, ...]) -> Size:
    """A numpy shape (already ints) as a Size, without checking each item again."""
    return tuple.__new__(Size, shape)

"""`at.Size` (the type of `Tensor.shape` and `Tensor.size()`) against torch.Size."""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at

SHAPES = [(), (0,), (3,), (2, 3, 4), (1, 0, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_and_size_are_sizes(shape):
    x = at.zeros(shape)
    assert type(x.shape) is at.Size and type(x.size()) is at.Size
    assert x.shape == shape and x.size() == shape and hash(x.shape) == hash(shape)
    assert x.shape.numel() == x.numel() == int(np.prod(shape))
    assert repr(x.shape) == f"at.Size({list(shape)})"


@needs_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_size_operations_as_torch(shape):

    ours, theirs = at.Size(shape), torch.Size(shape)
    cases = {
        "slice": lambda s: s[1:],
        "reverse": lambda s: s[::-1],
        "add": lambda s: s + (7,),
        "radd": lambda s: (7,) + s,
        "mul": lambda s: s * 2,
        "rmul": lambda s: 2 * s,
        "numel": lambda s: s.numel(),
    }
    for name, f in cases.items():
        a, b = f(ours), f(theirs)
        assert tuple(a) == tuple(b) if isinstance(b, tuple) else a == b, name
        # a Size stays a Size where torch's does
        assert isinstance(a, at.Size) == isinstance(b, torch.Size), name
    if shape:
        assert type(ours[0]) is int and ours[0] == theirs[0]


@needs_torch
@pytest.mark.parametrize("bad", [[2.0], ["a"], [None], [2, 3.5]])
def test_size_refuses_non_integers_as_torch(bad):

    with pytest.raises(TypeError) as theirs:
        torch.Size(bad)
    with pytest.raises(TypeError, match=r"Size\(\) takes an iterable of 'int'") as ours:
        at.Size(bad)
    # the same item is named
    assert str(theirs.value).split("(item ")[1] == str(ours.value).split("(item ")[1]


def test_size_accepts_integer_like_items():
    assert at.Size(np.array([2, 3])) == (2, 3)
    assert at.Size([np.int64(4), at.tensor(5)]) == (4, 5)


def test_a_size_goes_where_a_shape_goes():
    x = at.arange(6.0).reshape(2, 3)
    y = at.zeros(3, 2)
    assert x.view(y.shape[::-1]).shape == (2, 3)
    assert x.reshape(y.shape).shape == (3, 2)
    assert at.ones(x.shape).shape == (2, 3)
    assert x[:1].expand(x.shape).shape == (2, 3)
    assert np.zeros(x.shape).shape == (2, 3)

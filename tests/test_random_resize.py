"""Tensor.random_ and Tensor.resize_ / resize_as_ against torch's rules."""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at

DTYPES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bounds", [(), (3,), (2, 9)])
def test_random_range_as_torch(dtype, bounds):
    if dtype == "bool" and bounds:
        bounds = (2,) if len(bounds) == 1 else (0, 2)
    ours = at.zeros(4000, dtype=getattr(at, dtype if dtype != "bool" else "bool_"))
    theirs = torch.zeros(4000, dtype=getattr(torch, dtype))
    ours.random_(*bounds)
    theirs.random_(*bounds)
    a, b = ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64)
    assert ours.dtype == np.dtype(dtype)
    assert np.all(a == np.round(a))  # integers, also in a float tensor
    lo = bounds[0] if len(bounds) == 2 else 0
    assert a.min() >= lo and b.min() >= lo
    if bounds:
        hi = bounds[-1]
        assert a.max() < hi and b.max() < hi
        assert a.max() == hi - 1 and a.min() == lo  # every value is reached at this size
    else:  # the default top: 2**24 for float32, the dtype's max for integers
        top = {"float32": 2**24, "float64": 2**53, "bool": 1, "uint8": 255}.get(dtype)
        if top is not None:
            assert a.max() <= top and b.max() <= top
            assert a.max() > top / 2 and b.max() > top / 2


@needs_torch
def test_random_bad_bounds_as_torch():
    for bounds in [(5, 5), (7, 2)]:
        with pytest.raises(RuntimeError) as theirs:
            torch.zeros(3).random_(*bounds)
        with pytest.raises(RuntimeError) as ours:
            at.zeros(3).random_(*bounds)
        assert str(ours.value) == str(theirs.value)


def test_random_follows_the_generator():
    g1, g2 = at.Generator().manual_seed(3), at.Generator().manual_seed(3)
    assert at.equal(at.zeros(9).random_(100, generator=g1), at.zeros(9).random_(100, generator=g2))


def test_random_bumps_the_version_and_writes_through_views():
    x = at.zeros(2, 5)
    v = x[1]
    v.random_(1, 3)
    assert (x[0] == 0).all() and (x[1] >= 1).all()
    assert x._version == 1


@needs_torch
@pytest.mark.parametrize("new", [(2, 3), (2, 2), (3, 3), (0,), (7,)])
def test_resize_keeps_leading_elements_as_torch(new):
    ours, theirs = at.arange(6.0), torch.arange(6.0)
    assert ours.resize_(*new) is ours
    theirs.resize_(*new)
    assert ours.shape == tuple(theirs.shape)
    n = min(6, int(np.prod(new)))
    np.testing.assert_array_equal(ours.numpy().reshape(-1)[:n], theirs.numpy().reshape(-1)[:n])
    other = at.zeros(4, 1)
    assert ours.resize_as_(other).shape == (4, 1)


@needs_torch
def test_resize_refuses_a_tensor_that_requires_grad_as_torch():
    with pytest.raises(RuntimeError) as theirs:
        torch.ones(2, requires_grad=True).resize_(3)
    with pytest.raises(RuntimeError) as ours:
        at.ones(2, requires_grad=True).resize_(3)
    assert str(ours.value) == str(theirs.value)


def test_bfloat16_is_a_name_whose_tensors_are_refused():
    table = {"float32": at.float32, "bfloat16": at.bfloat16}  # as scripts list dtypes
    assert table["bfloat16"].is_floating_point and table["bfloat16"].itemsize == 2
    assert at.ones(2).dtype != at.bfloat16
    make = [
        lambda: at.zeros(2, dtype=at.bfloat16),
        lambda: at.ones(2).to(at.bfloat16),
        lambda: at.ones(2).bfloat16(),
        lambda: at.tensor([1.0], dtype="torch.bfloat16"),
        lambda: at.nn.Linear(2, 2).to(at.bfloat16),
    ]
    for f in make:
        with pytest.raises(TypeError, match="bfloat16 is not supported"):
            f()

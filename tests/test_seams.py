"""The public seams code built on the engine uses instead of private fields (docs/design.md,
Tensors): `numpy(force=True)`, the `.data` setter and `as_subclass`, with torch's semantics
where torch has them (checked against torch when it is installed)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn


def test_numpy_shares_memory_and_refuses_a_tensor_that_requires_grad():
    t = at.tensor([1.0, 2.0, 3.0])
    a = t.numpy()
    a[0] = 10.0
    assert t[0].item() == 10.0  # the same memory, no copy
    w = at.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.numpy()
    forced = w.numpy(force=True)
    assert np.shares_memory(forced, w.detach().numpy())
    np.testing.assert_array_equal(forced, [1.0, 2.0])


def test_numpy_force_is_keyword_only():
    with pytest.raises(TypeError):
        at.tensor([1.0]).numpy(True)


@needs_torch
def test_numpy_force_matches_torch():
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        t.numpy()
    np.testing.assert_array_equal(
        t.numpy(force=True), at.tensor([1.0, 2.0], requires_grad=True).numpy(force=True)
    )


def test_data_setter_replaces_the_array_and_keeps_the_object():
    p = nn.Parameter(at.zeros(2))
    ident = id(p)
    p.data = np.array([1.0, 2.0], np.float64)
    assert id(p) == ident and p.dtype == np.float64 and p.requires_grad
    np.testing.assert_array_equal(p.numpy(force=True), [1.0, 2.0])


class _Tagged(at.Tensor):
    pass


def test_as_subclass_shares_memory_version_and_history():
    x = at.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    s = y.as_subclass(_Tagged)
    assert type(s) is _Tagged and s.requires_grad and s.grad_fn is y.grad_fn
    assert np.shares_memory(s.numpy(force=True), y.numpy(force=True))
    b = at.zeros(3)
    v = b.as_subclass(_Tagged)
    with at.no_grad():
        b.add_(1)
    assert v._version == b._version == 1  # one version counter
    with pytest.raises(TypeError, match="as_subclass"):
        b.as_subclass(int)


def test_parameter_is_made_by_as_subclass():
    t = at.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert type(p) is nn.Parameter and p.is_leaf and p.requires_grad
    assert np.shares_memory(p.numpy(force=True), t.numpy())
    with at.no_grad():
        t.mul_(3)
    assert p._version == t._version == 1
    np.testing.assert_array_equal(p.detach().numpy(), [3.0, 6.0])
    frozen = nn.Parameter(at.tensor([1.0]), requires_grad=False)
    assert not frozen.requires_grad
    empty = nn.Parameter()
    assert empty.shape == (0,) and empty.dtype == at.get_default_dtype()
    from_list = nn.Parameter([[1.0, 2.0]])
    assert from_list.shape == (1, 2) and from_list.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(at.tensor([1, 2]))
    copied = copy.deepcopy(p)
    assert type(copied) is nn.Parameter and copied.requires_grad
    assert not np.shares_memory(copied.numpy(force=True), p.numpy(force=True))


def test_parameter_of_a_non_leaf_is_a_new_leaf():
    x = at.tensor([1.0, 2.0], requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 8.0])
    assert x.grad is None

"""The array fast paths of the Linear primitive against their references."""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at
from autotensor.ops.linalg import _column_sums

SHAPES = [(1, 1), (0, 3), (3, 0), (128, 10), (100, 16), (37, 129)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_match_add_reduce(rng, shape, dtype) -> None:
    g = rng.normal(size=shape).astype(dtype)
    for arr in (g, np.asfortranarray(g), g[::-1]):
        got = _column_sums(arr)
        assert got.dtype == dtype and got.shape == shape[1:]
        exact = np.add.reduce(arr.astype(np.float64), 0)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, np.add.reduce(arr, 0), rtol=tol, atol=tol)
        np.testing.assert_allclose(got, exact, rtol=tol, atol=tol)


def test_column_sums_ones_stay_read_only(rng) -> None:
    a = _column_sums(rng.normal(size=(5, 2)))
    a += 1  # the result is the caller's own array
    np.testing.assert_allclose(_column_sums(np.ones((5, 2))), [5.0, 5.0])


@pytest.mark.parametrize("dtype", [at.float32, at.float64])
def test_linear_bias_gradient_plain_and_differentiable_agree(rng, dtype) -> None:
    x = at.tensor(rng.normal(size=(3, 7, 4)), dtype=dtype)
    w = at.tensor(rng.normal(size=(5, 4)), dtype=dtype, requires_grad=True)
    b = at.tensor(rng.normal(size=(5,)), dtype=dtype, requires_grad=True)
    plain = at.grad(at.nn.functional.linear(x, w, b).tanh().sum(), (w, b))
    graph = at.grad(at.nn.functional.linear(x, w, b).tanh().sum(), (w, b), create_graph=True)
    tol = 1e-5 if dtype == at.float32 else 1e-12
    for p, g in zip(plain, graph):
        np.testing.assert_allclose(p.numpy(), g.detach().numpy(), rtol=tol, atol=tol)

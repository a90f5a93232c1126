"""nn.init against torch's formulas: gains and fans equal torch's exactly; the random
initialisers' bounds and standard deviations match the formulas (and torch's own draws)
within sampling error; all work in place under no_grad and honour a generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
from nn import init

if torch is not None:  # torch-side definitions of the parity tests
    tinit = torch.nn.init


@needs_torch
@pytest.mark.parametrize(
    "args",
    [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
     ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",), ("conv_transpose2d",)],
)  # fmt: skip
def test_calculate_gain_matches_torch(args):
    assert init.calculate_gain(*args) == pytest.approx(tinit.calculate_gain(*args), rel=1e-15)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


@needs_torch
@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5, 5), (2, 6, 7), (1, 1)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(at.zeros(shape)) == (
        tinit._calculate_fan_in_and_fan_out(torch.zeros(shape))
    )


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(at.zeros(5))


def _stats_match(ours_fn, torch_fn, shape, bound=None, std=None, mean=0.0):
    """Our draw and torch's draw have the same spread, and both fit the formula."""
    ours = ours_fn(at.empty(shape)).numpy().astype(np.float64)
    theirs = torch_fn(torch.empty(shape)).numpy().astype(np.float64)
    n = ours.size
    for arr in (ours, theirs):
        if bound is not None:
            assert np.abs(arr - mean).max() <= bound * (1 + 1e-6)
            assert np.abs(arr - mean).max() > bound * 0.99
            assert arr.std() == pytest.approx(bound / math.sqrt(3), rel=5 / math.sqrt(n))
        if std is not None:
            assert arr.std() == pytest.approx(std, rel=5 / math.sqrt(n))
        assert arr.mean() == pytest.approx(mean, abs=5 * arr.std() / math.sqrt(n) + 1e-12)
    assert ours.std() == pytest.approx(theirs.std(), rel=10 / math.sqrt(n))


SHAPE = (300, 200)
FAN_IN, FAN_OUT = 200, 300


@needs_torch
def test_uniform_and_normal():
    _stats_match(
        lambda t: init.uniform_(t, -2, 2), lambda t: tinit.uniform_(t, -2, 2), SHAPE, bound=2.0
    )
    _stats_match(
        lambda t: init.normal_(t, 1.5, 0.3),
        lambda t: tinit.normal_(t, 1.5, 0.3),
        SHAPE,
        std=0.3,
        mean=1.5,
    )


@needs_torch
def test_xavier():
    g = 1.7
    a = g * math.sqrt(6 / (FAN_IN + FAN_OUT))
    _stats_match(
        lambda t: init.xavier_uniform_(t, g), lambda t: tinit.xavier_uniform_(t, g), SHAPE, bound=a
    )
    s = g * math.sqrt(2 / (FAN_IN + FAN_OUT))
    _stats_match(
        lambda t: init.xavier_normal_(t, g), lambda t: tinit.xavier_normal_(t, g), SHAPE, std=s
    )


@needs_torch
@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_out", "relu"), (0.1, "fan_out", "leaky_relu"), (0, "fan_in", "tanh"),
])  # fmt: skip
def test_kaiming(a, mode, nonlinearity):
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    std = tinit.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    kw = dict(a=a, mode=mode, nonlinearity=nonlinearity)
    _stats_match(
        lambda t: init.kaiming_uniform_(t, **kw),
        lambda t: tinit.kaiming_uniform_(t, **kw),
        SHAPE,
        bound=math.sqrt(3) * std,
    )
    _stats_match(
        lambda t: init.kaiming_normal_(t, **kw),
        lambda t: tinit.kaiming_normal_(t, **kw),
        SHAPE,
        std=std,
    )


def test_kaiming_conv_weight_uses_receptive_field():
    # (out=64, in=16, 3, 3): fan_in = 144, the bound is 1/sqrt(144) with a = sqrt(5)
    w = init.kaiming_uniform_(at.empty(64, 16, 3, 3), a=math.sqrt(5)).numpy()
    assert np.abs(w).max() <= 1 / 12 and np.abs(w).max() > 0.99 / 12


@needs_torch
def test_trunc_normal():
    t = init.trunc_normal_(at.empty(100_000), mean=0.5, std=1.0, a=-0.5, b=1.0).numpy()
    assert t.min() >= -0.5 and t.max() <= 1.0
    tt = tinit.trunc_normal_(torch.empty(100_000), mean=0.5, std=1.0, a=-0.5, b=1.0).numpy()
    assert t.mean() == pytest.approx(tt.mean(), abs=0.01)
    assert t.std() == pytest.approx(tt.std(), abs=0.01)


@needs_torch
@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (4, 2, 3)])
def test_orthogonal(shape):
    gain = 2.0
    w = init.orthogonal_(at.empty(*shape, dtype=at.float64), gain=gain).numpy()
    m = w.reshape(shape[0], -1)
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(small, gain**2 * np.eye(small.shape[0]), atol=1e-12)
    t = tinit.orthogonal_(torch.empty(*shape, dtype=torch.float64), gain=gain).numpy()
    tm = t.reshape(shape[0], -1)
    tsmall = tm @ tm.T if tm.shape[0] <= tm.shape[1] else tm.T @ tm
    np.testing.assert_allclose(small, tsmall, atol=1e-12)


@needs_torch
def test_constant_ones_zeros_eye():
    assert (init.constant_(at.empty(2, 3), 0.25).numpy() == 0.25).all()
    assert (init.ones_(at.empty(4)).numpy() == 1).all()
    assert (init.zeros_(at.empty(4)).numpy() == 0).all()
    np.testing.assert_array_equal(
        init.eye_(at.empty(2, 3)).numpy(), tinit.eye_(torch.empty(2, 3)).numpy()
    )
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(at.empty(2, 2, 2))


def test_init_in_place_on_parameters_without_graph():
    lin = nn.Linear(4, 3)
    w = lin.weight
    v0 = w._version
    out = init.xavier_uniform_(lin.weight)
    assert out is w and lin.weight is w and w.grad_fn is None and w.requires_grad
    assert w._version > v0
    assert w.dtype == np.float32


def test_generator_makes_draws_reproducible():
    a = init.kaiming_normal_(at.empty(5, 4), generator=at.Generator().manual_seed(3)).numpy()
    b = init.kaiming_normal_(at.empty(5, 4), generator=at.Generator().manual_seed(3)).numpy()
    c = init.kaiming_normal_(at.empty(5, 4), generator=at.Generator().manual_seed(4)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    at.manual_seed(11)
    d = nn.Linear(3, 2).weight.detach().numpy().copy()
    at.manual_seed(11)
    np.testing.assert_array_equal(d, nn.Linear(3, 2).weight.detach().numpy())

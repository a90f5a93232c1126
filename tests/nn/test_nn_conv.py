"""nn's convolution and pooling layers against torch.nn: parameter names, shapes, default
initialisation, reprs, outputs and gradients with copied weights, and errors that name the
layer and the shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
import nn.functional as F
from autotensor.testing import assert_close

LAYERS = [
    ("Conv2d", (3, 6, 3), {}),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=1, dilation=(1, 2), groups=2)),
    ("Conv2d", (2, 4, 4), dict(padding="same", bias=False)),
    ("Conv2d", (2, 4, 3), dict(padding=1, padding_mode="reflect")),
    ("Conv2d", (2, 4, 3), dict(padding=(1, 2), padding_mode="replicate")),
    ("Conv2d", (2, 4, 2), dict(padding="same", padding_mode="circular")),
    ("Conv1d", (3, 4, 3), dict(stride=2, padding=1)),
    ("Conv1d", (2, 4, 4), dict(padding="same", dilation=2, groups=2)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ("ConvTranspose2d", (3, 2, (2, 3)), dict(dilation=2, bias=False)),
    ("ConvTranspose1d", (3, 2, 3), dict(stride=3, padding=1, output_padding=2)),
]


def _pair(name: str, args: tuple, kwargs: dict, dtype=np.float64):
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    if dtype == np.float64:
        ours, theirs = ours.double(), theirs.double()
    ours.load_state_dict({k: at.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", LAYERS)
def test_layer_parameters_and_repr_match_torch(name, args, kwargs) -> None:
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.named_parameters()] == [
        (k, tuple(v.shape)) for k, v in theirs.named_parameters()
    ]
    assert repr(ours) == repr(theirs)
    assert ours.weight.dtype == np.float32


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", LAYERS)
def test_layer_forward_and_gradients_match_torch(name, args, kwargs, rng) -> None:
    ours, theirs = _pair(name, args, kwargs)
    spatial = (7, 6) if name.endswith("2d") else (9,)
    x = rng.standard_normal((2, args[0], *spatial))
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = ours(xa), theirs(xt)
    assert_close(ya.detach(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(tuple(yt.shape))
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(xa.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    for (k, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-10, msg=k)


@needs_torch
@pytest.mark.parametrize(
    "name,args,fan_in",
    [("Conv2d", (16, 32, 3), 16 * 9), ("Conv2d", (8, 64, (5, 3), 1, 0, 1, 4), 2 * 15),
     ("ConvTranspose2d", (32, 16, 4), 16 * 16), ("Conv1d", (20, 64, 7), 20 * 7)],
)  # fmt: skip
def test_default_init_matches_torch_statistics(name, args, fan_in) -> None:
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight,
    and the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); compare bounds and spread with torch."""
    at.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    bound = 1 / math.sqrt(fan_in)
    for p, q in [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
        a, t = p.detach().numpy(), q.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(t).max() <= bound
        # U(-b, b) has std b / sqrt(3); both samples estimate it, and use the whole range
        if a.size > 500:
            assert np.abs(a).max() > 0.99 * bound
            assert abs(a.std() - t.std()) < 0.1 * bound / math.sqrt(3)
            assert abs(a.mean()) < 0.1 * bound


def test_conv2d_alias_and_functional_exports() -> None:
    assert nn.Conv2D is nn.Conv2d
    for name in ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
                 "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
                 "adaptive_avg_pool2d", "unfold", "fold"]:  # fmt: skip
        assert callable(getattr(F, name)), name
    assert at.conv2d is F.conv2d


POOLS = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, dilation=1, ceil_mode=True)),
    ("MaxPool2d", ((2, 3),), dict(stride=1, dilation=2)),
    ("MaxPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool2d", (2,), dict(divisor_override=3)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1)),
    ("AdaptiveAvgPool2d", ((3, 4),), {}),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool1d", (4,), {}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", POOLS)
def test_pooling_layers_match_torch(name, args, kwargs, rng) -> None:
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    shape = (2, 3, 7, 9) if name.endswith("2d") else (2, 3, 11)
    size = int(np.prod(shape))
    x = (rng.permutation(size) * 0.1).reshape(shape)  # no ties for max pooling
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = ours(xa), theirs(xt)
    assert_close(ya.detach(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(tuple(yt.shape))
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(xa.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)


@needs_torch
def test_maxpool_return_indices_layer(rng) -> None:
    x = (rng.permutation(2 * 3 * 6 * 6) * 1.0).reshape(2, 3, 6, 6)
    va, ia = nn.MaxPool2d(2, return_indices=True)(at.tensor(x))
    vt, it = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(ia.numpy(), it.numpy())
    assert ia.dtype == np.int64
    assert_close(va, vt.numpy(), rtol=0, atol=0)


@needs_torch
def test_conv_transpose2d_output_size(rng) -> None:
    ours, theirs = _pair("ConvTranspose2d", (3, 2, 3), dict(stride=2, padding=1))
    x = rng.standard_normal((1, 3, 4, 5))
    for size in [(7, 9), (8, 10), (1, 2, 8, 9)]:
        ya = ours(at.tensor(x), output_size=size)
        yt = theirs(torch.tensor(x), output_size=size)
        assert_close(ya, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="ConvTranspose2d.*output size"):
        ours(at.tensor(x), output_size=(12, 9))


@needs_torch
def test_unbatched_input(rng) -> None:
    ours, theirs = _pair("Conv2d", (3, 4, 3), dict(padding=1))
    x = rng.standard_normal((3, 5, 6))
    assert_close(ours(at.tensor(x)), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                 atol=1e-10)  # fmt: skip
    assert ours(at.tensor(x)).shape == (4, 5, 6)


def test_float32_model_trains_in_float32(rng) -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.ConvTranspose2d(4, 2, 2, stride=2), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(2, 3))  # fmt: skip
    x = at.tensor(rng.standard_normal((5, 1, 8, 8)).astype(np.float32))
    out = model(x)
    assert out.dtype == np.float32
    F.cross_entropy(out, at.tensor([0, 1, 2, 0, 1])).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_layer_errors_name_the_layer_and_shapes() -> None:
    conv = nn.Conv2d(1, 16, 3, padding=1)
    msg = r"^Conv2d\(1, 16, kernel_size=\(3, 3\).*input\[2, 3, 8, 8\] to have 1 channels, but got 3"
    with pytest.raises(RuntimeError, match=msg):
        conv(at.zeros((2, 3, 8, 8)))
    with pytest.raises(RuntimeError, match=r"^Conv2d\(1, 16.*Kernel size: \(5 x 5\)"):
        nn.Conv2d(1, 16, 5)(at.zeros((2, 1, 3, 3)))
    with pytest.raises(RuntimeError, match=r"^Conv2d.*3D \(unbatched\) or 4D.*\[8, 8\]"):
        conv(at.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) must be divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match=r"Conv2d: out_channels \(5\) must be divisible by groups"):
        nn.Conv2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError, match=r"^ConvTranspose2d\(4, 2.*to have 4 channels"):
        nn.ConvTranspose2d(4, 2, 3)(at.zeros((1, 3, 5, 5)))
    with pytest.raises(RuntimeError, match=r"^MaxPool2d\(kernel_size=4.*output size is too small"):
        nn.MaxPool2d(4)(at.zeros((1, 1, 3, 3)))
    with pytest.raises(RuntimeError, match=r"^AdaptiveAvgPool2d\(output_size=0\)"):
        nn.AdaptiveAvgPool2d(0)(at.zeros((1, 1, 3, 3)))

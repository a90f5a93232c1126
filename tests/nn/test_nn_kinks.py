"""Activations and losses at their kinks, against torch: the value and the gradient at the
points where the function is not differentiable (leaky_relu and elu at 0, hardtanh and relu6
at their bounds, softplus at its threshold, huber at delta, smooth_l1 at beta, prelu at 0),
in float32 and float64, with the engine's dtype rules (the output and the gradient keep the
input's dtype)."""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn.functional as F

pytestmark = needs_torch

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-6, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _both(points, dtype):
    x = np.asarray(points, dtype=dtype)
    return at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(ours_fn, theirs_fn, points, dtype):
    """Value and gradient of sum(w * f(x)) at the points, with weights that tell the
    elements apart."""
    a, t = _both(points, dtype)
    w = np.linspace(0.5, 1.5, len(points)).astype(dtype)
    ya, yt = ours_fn(a), theirs_fn(t)
    assert ya.dtype == a.dtype
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), **TOL[dtype])
    (ya * at.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    assert a.grad.dtype == a.dtype
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    return a.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu_at_zero(dtype, slope):
    tf = torch.nn.functional
    g = _check(lambda x: F.leaky_relu(x, slope), lambda x: tf.leaky_relu(x, slope),
               [-1.0, -0.0, 0.0, 1e-30, 2.0], dtype)  # fmt: skip
    w = np.linspace(0.5, 1.5, 5)
    np.testing.assert_allclose(g[1:3], slope * w[1:3], rtol=1e-6)  # the slope at -0.0 and 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.5])
def test_elu_at_zero(dtype, alpha):
    tf = torch.nn.functional
    _check(lambda x: F.elu(x, alpha), lambda x: tf.elu(x, alpha),
           [-3.0, -1e-8, 0.0, 1e-8, 3.0], dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (-0.5, 2.0), (0.0, 0.0)])
def test_hardtanh_at_its_bounds(dtype, bounds):
    lo, hi = bounds
    tf = torch.nn.functional
    g = _check(lambda x: F.hardtanh(x, lo, hi), lambda x: tf.hardtanh(x, lo, hi),
               [lo - 1.0, lo, (lo + hi) / 2, hi, hi + 1.0], dtype)  # fmt: skip
    assert g[1] == 0 and g[3] == 0  # nothing passes at the bounds themselves (torch's rule)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu6_at_zero_and_six(dtype):
    _check(F.relu6, torch.nn.functional.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 4.0), (0.5, 1.0)])
def test_softplus_at_its_threshold(dtype, beta, threshold):
    tf = torch.nn.functional
    edge = threshold / beta
    _check(lambda x: F.softplus(x, beta, threshold), lambda x: tf.softplus(x, beta, threshold),
           [-edge, 0.0, edge, edge * (1 + 1e-3), edge * 2], dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("delta", [1.0, 0.5, 2.0])
def test_huber_at_delta(dtype, delta):
    tf = torch.nn.functional
    y = np.zeros(7, dtype)
    points = [-2 * delta, -delta, -delta / 2, 0.0, delta / 2, delta, 2 * delta]
    _check(lambda x: F.huber_loss(x, at.tensor(y), reduction="none", delta=delta),
           lambda x: tf.huber_loss(x, torch.tensor(y), reduction="none", delta=delta),
           points, dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_at_beta(dtype, beta):
    tf = torch.nn.functional
    y = np.zeros(5, dtype)
    b = beta or 1.0
    _check(lambda x: F.smooth_l1_loss(x, at.tensor(y), reduction="none", beta=beta),
           lambda x: tf.smooth_l1_loss(x, torch.tensor(y), reduction="none", beta=beta),
           [-b, -b / 2, 0.0, b, 2 * b], dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_at_zero_both_gradients(dtype):
    x = np.array([[-1.0, 0.0, 2.0], [0.0, -3.0, 0.0]], dtype)
    w = np.array([0.25, -0.5, 0.1], dtype)
    xa, wa = at.tensor(x, requires_grad=True), at.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.prelu(xa, wa).sum().backward()
    torch.nn.functional.prelu(xt, wt).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(wa.grad.numpy(), wt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("fn", ["elu", "leaky_relu", "softplus", "hardtanh"])
def test_second_derivative_through_the_masks(fn):
    """The branch masks are comparisons of the tensor itself, so differentiating the
    gradient again (create_graph) goes through the same branches as torch's double
    backward (away from the kinks, where the second derivative is defined)."""
    points = [-2.0, -0.5, 0.25, 1.5, 30.0]
    x = at.tensor(points, dtype=at.float64, requires_grad=True)
    t = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    ours, theirs = getattr(F, fn), getattr(torch.nn.functional, fn)
    (ga,) = at.autograd.grad((ours(x) * x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad((theirs(t) * t).sum(), t, create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    (gga,) = at.autograd.grad(ga.sum(), x)
    (ggt,) = torch.autograd.grad(gt.sum(), t)
    np.testing.assert_allclose(gga.numpy(), ggt.numpy(), rtol=1e-12)

"""Padding layers, Upsample and InstanceNorm1d/2d against torch: values and gradients in
float32 and float64 over their options, state dicts (strict) and reprs, hypothesis over
shapes for the padding modes, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at
import nn
import nn.functional as F

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def _run_both(ours, theirs, x, dtype, rng, train=True):
    """Forward and backward of both modules on x; values, input and parameter gradients."""
    x = x.astype(dtype)
    if dtype == np.float64:
        ours, theirs = ours.double(), theirs.double()
    ours.train(train)
    theirs.train(train)
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = ours(xa), theirs(xt)
    assert tuple(ya.shape) == tuple(yt.shape) and ya.dtype == dtype
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), **TOL[dtype])
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), err_msg=name,
                                   **TOL[dtype])  # fmt: skip
    return ours, theirs


# -- padding ---------------------------------------------------------------------------------
PADS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((1, 3),), (3, 5)),
    ("ZeroPad2d", (1,), (2, 3, 4, 5)), ("ZeroPad2d", ((1, 0, 2, -1),), (2, 3, 4, 5)),
    ("ConstantPad1d", ((2, 1), 3.5), (2, 3, 5)), ("ConstantPad2d", (2, -1.0), (3, 4, 5)),
    ("ReflectionPad1d", (3,), (2, 3, 5)), ("ReflectionPad1d", ((0, 4),), (3, 5)),
    ("ReflectionPad2d", ((1, 2, 3, 0),), (2, 3, 4, 5)), ("ReflectionPad2d", (2,), (3, 4, 5)),
    ("ReplicationPad1d", ((3, 1),), (2, 3, 5)), ("ReplicationPad2d", (2,), (2, 3, 4, 5)),
    ("ReplicationPad2d", ((0, 1, 4, 2),), (3, 4, 5)),
    ("CircularPad1d", ((2, 3),), (2, 3, 5)), ("CircularPad2d", ((1, 2, 2, 1),), (2, 3, 4, 5)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,shape", PADS, ids=[f"{n}{a}" for n, a, _ in PADS])
def test_padding_layers_match_torch(name, args, shape, dtype, rng):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    _run_both(ours, theirs, rng.normal(size=shape), dtype, rng)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_functional_pad_modes_over_shapes(mode):
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies

    @hyp.settings(max_examples=20)
    @hyp.given(dims=st.integers(1, 2), n=st.integers(2, 5), data=st.data())
    def check(dims, n, data):
        shape = (2, 3) + (n,) * dims
        lim = n - 1 if mode == "reflect" else n
        # negative pads (crops) only for 'constant': a circular pad larger than what a crop
        # leaves is outside torch's documented domain (pad <= size), where torch's own
        # forward and backward disagree with each other
        lo = -1 if mode == "constant" else 0
        pads = tuple(data.draw(st.integers(lo, lim)) for _ in range(2 * dims))
        rng = np.random.default_rng(len(pads) * 31 + n)
        x = rng.normal(size=shape)
        xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ya = F.pad(xa, pads, mode)
        yt = torch.nn.functional.pad(xt, pads, mode)
        np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
        g = rng.normal(size=tuple(yt.shape))
        ya.backward(at.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)

    check()


def test_padding_errors():
    with pytest.raises(ValueError, match="ZeroPad2d: padding must be an int or a tuple of 4"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(ValueError, match="ReflectionPad2d: expected 3D or 4D input"):
        nn.ReflectionPad2d(1)(at.zeros(3, 4))
    with pytest.raises(RuntimeError, match="reflect padding"):
        nn.ReflectionPad1d(5)(at.zeros(1, 2, 5))


# -- Upsample --------------------------------------------------------------------------------
UPS = [
    ("Upsample", dict(scale_factor=2), (2, 3, 4, 5)),
    ("Upsample", dict(size=(7, 3)), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=1.5, mode="nearest"), (2, 3, 5)),
    ("Upsample", dict(scale_factor=2, mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    ("Upsample", dict(size=(6, 9), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    ("Upsample", dict(scale_factor=(2.5, 1.5), mode="bilinear"), (1, 2, 3, 4)),
    ("Upsample", dict(size=8, mode="linear", align_corners=True), (2, 3, 5)),
    ("Upsample", dict(scale_factor=3, mode="nearest-exact"), (1, 2, 3, 4)),
    ("UpsamplingNearest2d", dict(scale_factor=2), (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", dict(size=(5, 7)), (2, 3, 4, 5)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw,shape", UPS, ids=[f"{n}{sorted(k.items())}" for n, k, _ in UPS])
def test_upsample_matches_torch(name, kw, shape, dtype, rng):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    if name == "Upsample":
        assert repr(ours) == repr(theirs)
    _run_both(ours, theirs, rng.normal(size=shape), dtype, rng)


def test_upsample_bad_mode_names_the_op():
    with pytest.raises(NotImplementedError, match="interpolate: mode 'bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")(at.zeros(1, 1, 2, 2))


# -- InstanceNorm ----------------------------------------------------------------------------
INS = [
    ("InstanceNorm1d", dict(), (3, 4, 6)),
    ("InstanceNorm1d", dict(affine=True), (3, 4, 6)),
    ("InstanceNorm1d", dict(affine=True), (4, 6)),  # unbatched
    ("InstanceNorm1d", dict(track_running_stats=True, momentum=0.3), (3, 4, 6)),
    ("InstanceNorm2d", dict(), (2, 3, 4, 5)),
    ("InstanceNorm2d", dict(affine=True, eps=1e-3), (2, 3, 4, 5)),
    ("InstanceNorm2d", dict(affine=True, track_running_stats=True), (2, 3, 4, 5)),
    ("InstanceNorm2d", dict(track_running_stats=True, momentum=None), (3, 4, 5)),  # unbatched
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name,kw,shape", INS, ids=[f"{n}{sorted(k.items())}{s}" for n, k, s in INS]
)
def test_instance_norm_matches_torch(name, kw, shape, dtype, rng):
    c = shape[-2] if name == "InstanceNorm1d" else shape[-3]
    ours, theirs = getattr(nn, name)(c, **kw), getattr(torch.nn, name)(c, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.normal(size=tuple(p.shape))))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                         strict=True)  # fmt: skip
    for _ in range(2):  # training twice moves the running statistics, then eval uses them
        x = rng.normal(size=shape) * 2 + 1
        ours, theirs = _run_both(ours, theirs, x, dtype, rng, train=True)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), err_msg=k,
                                   **TOL[dtype])  # fmt: skip
    _run_both(ours, theirs, rng.normal(size=shape), dtype, rng, train=False)


def test_instance_norm_gradcheck_and_errors(rng):
    x = at.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    w = at.tensor(rng.normal(size=3), requires_grad=True)
    b = at.tensor(rng.normal(size=3), requires_grad=True)
    assert at.gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))
    assert at.gradgradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (x, w, b))
    with pytest.raises(ValueError, match="InstanceNorm2d: expected 3D \\(unbatched\\) or 4D"):
        nn.InstanceNorm2d(3)(at.zeros(2, 3))
    with pytest.raises(ValueError, match="expected input's size at dim=1 to match num_features"):
        nn.InstanceNorm1d(3, affine=True)(at.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm1d(3)(at.zeros(2, 3, 1))

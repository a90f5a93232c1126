"""ops.LayerNorm and ops.Gelu, the one-node forms of layer_norm and gelu.

Each is checked against its composite reference (`_layer_norm_reference`,
`_gelu_reference` in nn.functional), against torch (values and gradients in float32 and
float64, second derivatives), over random shapes with hypothesis, and through both of its
backward paths (the array closed form of a plain backward, the Tensor-op form that
create_graph uses). gradcheck/gradgradcheck come from their `sample_inputs` in
tests/test_primitives.py. The erf kernels behind Gelu are checked against libm's erf.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autotensor as at
import nn
import nn.functional as F
from autotensor import ops
from autotensor.ops import activation as act

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def _torch():
    return pytest.importorskip("torch", reason="torch not installed: parity tests skipped")


def _libm_erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in np.asarray(x, np.float64).ravel().tolist()]).reshape(
        np.shape(x)
    )


# -- erf kernels -----------------------------------------------------------------------------
def test_float32_erf_kernel_against_libm_and_torch():
    x = np.linspace(-7, 7, 200_001, dtype=np.float32)
    ours = act.erf_float32(x)
    assert ours.dtype == np.float32 and ours.shape == x.shape
    assert np.abs(ours - _libm_erf(x)).max() < 4e-7
    torch = _torch()
    assert np.abs(ours - torch.erf(torch.from_numpy(x)).numpy()).max() < 4e-7


def test_float32_erf_kernel_special_values():
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-45, 4.2, 50.0, np.inf, -np.inf, np.nan],
                 np.float32)  # fmt: skip
    out = act.erf_float32(x)
    assert out[0] == 0 and out[1] == 0
    np.testing.assert_allclose(out[2:4], [1.1283792e-30, -1.1283792e-30], rtol=1e-6)
    assert np.isfinite(out[4]) and out[4] >= 0
    assert out[5] == 1 and out[6] == 1 and out[7] == 1 and out[8] == -1  # saturated exactly
    assert np.isnan(out[9])
    assert act.erf_float32(np.float32(0.5)).shape == ()


def test_float64_erf_without_scipy_is_accurate():
    x = np.concatenate([np.linspace(-8, 8, 40_001), [0.0, 1e-300, -1e-12, 2.0, 6.0, 7.5]])
    ours = act._erf_chebyshev(x)
    exact = _libm_erf(x)
    assert np.abs(ours - exact).max() < 1e-14
    small = np.abs(x) < 1
    rel = np.abs(ours - exact)[small] / np.maximum(np.abs(exact[small]), 1e-300)
    assert rel.max() < 1e-13
    ends = act._erf_chebyshev(np.array([np.inf, -np.inf, np.nan]))
    assert ends[0] == 1 and ends[1] == -1 and np.isnan(ends[2])


def test_erf_array_keeps_dtype():
    for dt in DTYPES:
        x = np.linspace(-3, 3, 11).astype(dt)
        out = act.erf_array(x)
        assert out.dtype == dt
        np.testing.assert_allclose(out, _libm_erf(x), **TOL[dt])


def test_blockwise_kernels_equal_one_pass(rng, monkeypatch):
    """Blocks change only where temporaries live, not the values."""
    x = rng.normal(size=(3, 1000)).astype(np.float32) * 3
    whole = act._blockwise(act._exact_forward, (x,), 2)
    monkeypatch.setattr(act, "_BLOCK", 7)
    blocks = act._blockwise(act._exact_forward, (x,), 2)
    for a, b in zip(whole, blocks):
        np.testing.assert_array_equal(a, b)


# -- GELU ------------------------------------------------------------------------------------
def _gelu_input(rng, dtype, shape=(5, 40)):
    x = rng.normal(scale=3.0, size=shape)
    x.reshape(-1)[:6] = [0.0, -40.0, 40.0, -5.3, 5.3, 1e-4]  # zero, saturation, tails
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_primitive_matches_reference_and_torch(approximate, dtype, rng):
    torch = _torch()
    x = _gelu_input(rng, dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    xa = at.tensor(x, requires_grad=True)
    out = F.gelu(xa, approximate=approximate)
    assert isinstance(out.grad_fn, ops.Gelu) and out.dtype == dtype
    out.backward(at.tensor(g))
    xr = at.tensor(x, requires_grad=True)
    ref = F._gelu_reference(xr, approximate=approximate)
    ref.backward(at.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xa.grad.numpy(), xr.grad.numpy(), **TOL[dtype])
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate=approximate)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), yt.detach().numpy(), **TOL[dtype])
    assert xa.grad.dtype == dtype
    if dtype == np.float64 or approximate == "none":
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
        return
    # The tanh form's float32 gradient beyond |x| ~ 4.5 is 0.5 (1 + t) + ... with t within
    # a few ulps of -1: its last bits are rounding noise in torch too. There it must be as
    # close to the exact (float64) gradient as torch's float32 one is; elsewhere equal.
    sure = np.abs(x) < 4.5
    np.testing.assert_allclose(xa.grad.numpy()[sure], xt.grad.numpy()[sure], **TOL[dtype])
    x64 = torch.tensor(x.astype(np.float64), requires_grad=True)
    torch.nn.functional.gelu(x64, approximate="tanh").backward(torch.tensor(g.astype(np.float64)))
    exact = x64.grad.numpy()
    ours_err = np.abs(xa.grad.numpy() - exact)
    torch_err = np.abs(xt.grad.numpy() - exact)
    assert (ours_err <= 2 * torch_err + 1e-6).all(), (ours_err.max(), torch_err.max())


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_second_derivative_matches_torch(approximate, rng):
    torch = _torch()
    x = rng.normal(scale=2.0, size=(3, 4))
    xa = at.tensor(x, requires_grad=True)
    (ga,) = at.autograd.grad(F.gelu(xa, approximate=approximate).sum(), xa, create_graph=True)
    (gga,) = at.autograd.grad((ga * ga).sum(), xa)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(
        torch.nn.functional.gelu(xt, approximate=approximate).sum(), xt, create_graph=True
    )
    (ggt,) = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(ga.detach().numpy(), gt.detach().numpy(), **TOL[np.float64])
    np.testing.assert_allclose(gga.numpy(), ggt.numpy(), **TOL[np.float64])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_array_backward_equals_tensor_backward(approximate, rng):
    x = at.tensor(_gelu_input(rng, np.float64), requires_grad=True)
    g = at.tensor(rng.normal(size=tuple(x.shape)))
    (fast,) = at.autograd.grad(F.gelu(x, approximate=approximate), x, g)
    (slow,) = at.autograd.grad(F.gelu(x, approximate=approximate), x, g, create_graph=True)
    np.testing.assert_allclose(fast.numpy(), slow.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_gelu_module_and_bad_approximate():
    x = at.tensor([[-1.0, 0.5]])
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), F._gelu_reference(x, "tanh").numpy())
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="erf")


# -- LayerNorm -------------------------------------------------------------------------------
LN_CASES = [
    ((4, 6), (6,), True, True, 1e-5),
    ((2, 3, 4, 5), (4, 5), True, True, 1e-5),
    ((3, 7), (7,), False, False, 1e-5),
    ((3, 7), (7,), True, False, 1e-3),
    ((2, 3, 4), (2, 3, 4), True, True, 1e-6),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,nshape,affine,bias,eps", LN_CASES)
def test_layer_norm_module_matches_torch_and_reference(shape, nshape, affine, bias, eps, dtype,
                                                       rng):  # fmt: skip
    torch = _torch()
    x = (rng.normal(size=shape) * 2 + 0.5).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    ours = nn.LayerNorm(nshape, eps=eps, elementwise_affine=affine, bias=bias)
    theirs = torch.nn.LayerNorm(nshape, eps=eps, elementwise_affine=affine, bias=bias)
    if dtype == np.float64:
        ours, theirs = ours.double(), theirs.double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.normal(size=tuple(p.shape)).astype(dtype)))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                        strict=True)  # fmt: skip
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = ours(xa), theirs(xt)
    assert isinstance(ya.grad_fn, ops.LayerNorm) and ya.dtype == dtype
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
    for name, p in ours.named_parameters():
        tp = dict(theirs.named_parameters())[name]
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), err_msg=name, **TOL[dtype])
    # the composite it replaces gives the same values and gradients
    xr = at.tensor(x, requires_grad=True)
    params = [at.tensor(p.detach().numpy(), requires_grad=True) for p in ours.parameters()]
    w = params[0] if affine else None
    b = params[1] if affine and bias else None
    yr = F._layer_norm_reference(xr, tuple(nshape), w, b, eps)
    yr.backward(at.tensor(g))
    np.testing.assert_allclose(ya.detach().numpy(), yr.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xa.grad.numpy(), xr.grad.numpy(), **TOL[dtype])
    for p, q in zip(ours.parameters(), params):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[dtype])


def test_layer_norm_second_derivatives_match_torch(rng):
    torch = _torch()
    x, w, b = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=5)
    ours = [at.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ga = at.autograd.grad((F.layer_norm(ours[0], (5,), ours[1], ours[2]) ** 3).sum(), ours,
                          create_graph=True)  # fmt: skip
    gt = torch.autograd.grad(
        (torch.nn.functional.layer_norm(theirs[0], (5,), theirs[1], theirs[2]) ** 3).sum(),
        theirs, create_graph=True,
    )  # fmt: skip
    hga = at.autograd.grad(sum((g * g).sum() for g in ga), ours)
    hgt = torch.autograd.grad(sum((g * g).sum() for g in gt), theirs)
    for a, t in zip(hga, hgt):
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_norm_array_backward_equals_tensor_backward(rng):
    xs = [at.tensor(rng.normal(size=s), requires_grad=True) for s in ((2, 3, 4), (3, 4), (3, 4))]
    g = at.tensor(rng.normal(size=(2, 3, 4)))
    fast = at.autograd.grad(F.layer_norm(xs[0], (3, 4), xs[1], xs[2]), xs, g)
    slow = at.autograd.grad(F.layer_norm(xs[0], (3, 4), xs[1], xs[2]), xs, g, create_graph=True)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_layer_norm_errors_name_the_op():
    x = at.randn(2, 3)
    with pytest.raises(RuntimeError, match="layer_norm: input of shape"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match="layer_norm: weight of shape"):
        F.layer_norm(x, (3,), at.ones(4))
    with pytest.raises(RuntimeError, match="layer_norm: weight dtype"):
        F.layer_norm(x, (3,), at.ones(3, dtype=at.float64))


# -- property tests over shapes --------------------------------------------------------------
hyp = pytest.importorskip("hypothesis", reason="hypothesis not installed")
st = hyp.strategies
hnp = pytest.importorskip("hypothesis.extra.numpy")


@hyp.settings(max_examples=25)
@hyp.given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5),
           k=st.integers(1, 4), affine=st.booleans(), seed=st.integers(0, 2**16))  # fmt: skip
def test_layer_norm_equals_reference_over_shapes(shape, k, affine, seed):
    k = min(k, len(shape))
    rng = np.random.default_rng(seed)
    nshape = shape[len(shape) - k :]
    x = at.tensor(rng.normal(size=shape), requires_grad=True)
    w = at.tensor(rng.normal(size=nshape), requires_grad=True) if affine else None
    b = at.tensor(rng.normal(size=nshape), requires_grad=True) if affine else None
    leaves = [t for t in (x, w, b) if t is not None]
    g = at.tensor(rng.normal(size=shape))
    fast = F.layer_norm(x, nshape, w, b)
    ref = F._layer_norm_reference(x, tuple(nshape), w, b)
    np.testing.assert_allclose(fast.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, r in zip(at.autograd.grad(fast, leaves, g), at.autograd.grad(ref, leaves, g)):
        np.testing.assert_allclose(a.numpy(), r.numpy(), rtol=1e-9, atol=1e-11)


@hyp.settings(max_examples=25)
@hyp.given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
           approximate=st.sampled_from(["none", "tanh"]), seed=st.integers(0, 2**16))  # fmt: skip
def test_gelu_equals_reference_over_shapes(shape, approximate, seed):
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        x = at.tensor((rng.normal(size=shape) * 3).astype(dtype), requires_grad=True)
        g = at.tensor(rng.normal(size=shape).astype(dtype))
        fast = F.gelu(x, approximate)
        ref = F._gelu_reference(x, approximate)
        assert fast.shape == ref.shape and fast.dtype == ref.dtype
        np.testing.assert_allclose(fast.detach().numpy(), ref.detach().numpy(), **TOL[dtype])
        (a,), (r,) = at.autograd.grad(fast, x, g), at.autograd.grad(ref, x, g)
        np.testing.assert_allclose(a.numpy(), r.numpy(), **TOL[dtype])


# -- ONNX ------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [18, 20])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_onnx_export_of_gelu_and_layer_norm(opset, approximate, tmp_path, rng):
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package")
    ort = pytest.importorskip("onnxruntime", reason="running exports needs onnxruntime")
    model = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8, bias=False), nn.GELU(approximate),
                          nn.LayerNorm(8, elementwise_affine=False))  # fmt: skip
    model.eval()
    x = at.tensor(rng.normal(size=(3, 6)).astype(np.float32))
    path = tmp_path / "m.onnx"
    at.onnx.export(model, (x,), str(path), opset_version=opset, input_names=["x"])
    proto = onnx.load(str(path))
    ops_used = {n.op_type for n in proto.graph.node}
    assert "LayerNormalization" in ops_used
    assert ("Gelu" in ops_used) == (opset >= 20)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_erf_and_gelu_without_scipy(monkeypatch, rng):
    """Without scipy, at.erf and float64 GELU run on the numpy-only kernel, still exact."""
    from autotensor.ops import elementwise

    monkeypatch.setattr(elementwise, "_scipy_erf", None)
    monkeypatch.setattr(act, "_scipy_erf", None)
    x = rng.normal(scale=3.0, size=(4, 50))
    np.testing.assert_allclose(at.erf(at.tensor(x)).numpy(), _libm_erf(x), rtol=1e-13, atol=1e-15)
    exact = x * 0.5 * (1 + _libm_erf(x / math.sqrt(2)))
    np.testing.assert_allclose(F.gelu(at.tensor(x)).numpy(), exact, **TOL[np.float64])

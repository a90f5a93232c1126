"""API pieces public example programs reach for: pixel shuffle, torch.distributions'
Categorical/Normal/Bernoulli, finfo/iinfo, nn.modules.<family> and nn.parallel, device
flags, dropout2d on 2-D input and endless samplers. torch is the oracle where installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autotensor as at
import nn
import nn.functional as F
from autotensor.distributions import Bernoulli, Categorical, Normal
from nn.data import DataLoader, RandomSampler, TensorDataset

DTYPES = {"float32": 1e-6, "float64": 1e-12}


def _torch():
    return pytest.importorskip("torch")


# -- pixel shuffle -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 4), 2), ((9, 2, 2), 3), ((1, 2, 4, 1, 1), 2)])
def test_pixel_shuffle_and_unshuffle_match_torch(dtype: str, shape: tuple, r: int) -> None:
    torch = _torch()
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    g = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    ours, ref = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pixel_shuffle(ours, r), torch.nn.functional.pixel_shuffle(ref, r)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    gy = np.random.default_rng(2).standard_normal(tuple(ty.shape)).astype(dtype)
    y.backward(at.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_array_equal(ours.grad.numpy(), ref.grad.numpy())
    up = at.tensor(g)
    np.testing.assert_array_equal(
        F.pixel_unshuffle(F.pixel_shuffle(up, r), r).numpy(), g
    )  # unshuffle inverts shuffle
    big = torch.nn.functional.pixel_shuffle(torch.tensor(g), r).numpy()
    np.testing.assert_array_equal(
        F.pixel_unshuffle(at.tensor(big), r).numpy(),
        torch.nn.functional.pixel_unshuffle(torch.tensor(big), r).numpy(),
    )


def test_pixel_shuffle_gradcheck_and_errors() -> None:
    x = at.randn(1, 4, 2, 3, dtype=at.float64, requires_grad=True)
    assert at.gradcheck(lambda t: F.pixel_shuffle(t, 2), (x,))
    assert at.gradgradcheck(lambda t: F.pixel_unshuffle(F.pixel_shuffle(t, 2) * 2, 2), (x,))
    with pytest.raises(RuntimeError, match="divisible by 4"):
        F.pixel_shuffle(at.randn(1, 5, 2, 2), 2)
    with pytest.raises(RuntimeError, match="at least 3 dimensions"):
        F.pixel_shuffle(at.randn(4, 2), 2)
    with pytest.raises(RuntimeError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(at.randn(1, 1, 3, 4), 2)
    m = nn.PixelShuffle(3)
    assert repr(m) == "PixelShuffle(upscale_factor=3)" and not list(m.parameters())
    assert tuple(nn.PixelUnshuffle(2)(at.randn(1, 1, 4, 4)).shape) == (1, 4, 2, 2)


@settings(max_examples=25, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), max_size=2),
    c=st.integers(1, 3),
    r=st.integers(1, 3),
    h=st.integers(1, 3),
    w=st.integers(1, 3),
)
def test_pixel_shuffle_property_is_a_permutation(lead, c, r, h, w) -> None:
    n = int(np.prod(lead + [c * r * r, h, w]))
    x = at.arange(n).reshape(*lead, c * r * r, h, w).double().requires_grad_()
    y = F.pixel_shuffle(x, r)
    assert tuple(y.shape) == (*lead, c, h * r, w * r)
    assert sorted(y.detach().numpy().ravel().tolist()) == list(range(n))
    # element-wise definition: out[..., c, h*r+i, w*r+j] = in[..., c*r*r + i*r + j, h, w]
    xd, yd = x.detach().numpy(), y.detach().numpy()
    for ci in range(c):
        for i in range(r):
            for j in range(r):
                np.testing.assert_array_equal(
                    yd[..., ci, i::r, j::r], xd[..., ci * r * r + i * r + j, :, :]
                )
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * xd)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).detach().numpy(), xd)


# -- distributions -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("use_logits", [False, True])
def test_categorical_matches_torch(dtype: str, use_logits: bool) -> None:
    torch = _torch()
    rng = np.random.default_rng(3)
    raw = rng.random((3, 5)).astype(dtype) + (0 if use_logits else 0.05)
    k = rng.integers(0, 5, size=(4, 3))
    ours, ref = at.tensor(raw, requires_grad=True), torch.tensor(raw, requires_grad=True)
    kw = "logits" if use_logits else "probs"
    d, td = Categorical(**{kw: ours}), torch.distributions.Categorical(**{kw: ref})
    lp, tlp = d.log_prob(at.tensor(k)), td.log_prob(torch.tensor(k))
    ent, tent = d.entropy(), td.entropy()
    tol = DTYPES[dtype]
    np.testing.assert_allclose(lp.detach().numpy(), tlp.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ent.detach().numpy(), tent.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(
        d.probs.detach().numpy(), td.probs.detach().numpy(), rtol=tol, atol=tol
    )
    (lp.sum() + ent.sum()).backward()
    (tlp.sum() + tent.sum()).backward()
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=10 * tol, atol=10 * tol)
    assert d.batch_shape == tuple(td.batch_shape) and d.event_shape == ()
    s = d.sample((7,))
    assert tuple(s.shape) == (7, 3) and s.dtype == at.int64
    assert bool(((s >= 0) & (s < 5)).all())
    np.testing.assert_array_equal(d.mode.numpy(), td.mode.numpy())


def test_categorical_gradcheck_sampling_frequencies_and_errors() -> None:
    p = at.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype=at.float64, requires_grad=True)
    k = at.tensor([2, 0])
    assert at.gradcheck(lambda t: Categorical(t).log_prob(k), (p,))
    assert at.gradcheck(lambda t: Categorical(logits=t).entropy(), (p,))
    at.manual_seed(0)
    draws = Categorical(at.tensor([0.1, 0.2, 0.7])).sample((20000,)).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, [0.1, 0.2, 0.7], atol=0.02)
    with pytest.raises(ValueError, match="Simplex"):
        Categorical(at.tensor([-0.2, 0.8]))
    with pytest.raises(ValueError, match="support"):
        Categorical(at.tensor([0.2, 0.8])).log_prob(at.tensor(3))
    with pytest.raises(ValueError, match="not both"):
        Categorical()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_normal_and_bernoulli_match_torch(dtype: str) -> None:
    torch = _torch()
    rng = np.random.default_rng(4)
    loc, scale = rng.standard_normal(4).astype(dtype), (rng.random(4) + 0.5).astype(dtype)
    x = rng.standard_normal((2, 4)).astype(dtype)
    a_loc, a_scale = at.tensor(loc, requires_grad=True), at.tensor(scale, requires_grad=True)
    t_loc, t_scale = torch.tensor(loc, requires_grad=True), torch.tensor(scale, requires_grad=True)
    n, tn = Normal(a_loc, a_scale), torch.distributions.Normal(t_loc, t_scale)
    out = n.log_prob(at.tensor(x)).sum() + n.entropy().sum() + n.cdf(at.tensor(x)).sum()
    tout = tn.log_prob(torch.tensor(x)).sum() + tn.entropy().sum() + tn.cdf(torch.tensor(x)).sum()
    tol = DTYPES[dtype] * 10
    np.testing.assert_allclose(out.item(), tout.item(), rtol=tol)
    out.backward()
    tout.backward()
    np.testing.assert_allclose(a_loc.grad.numpy(), t_loc.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(a_scale.grad.numpy(), t_scale.grad.numpy(), rtol=tol, atol=tol)
    r = n.rsample((3,))
    assert tuple(r.shape) == (3, 4) and r.requires_grad and not n.sample((3,)).requires_grad
    p = (rng.random(4) * 0.8 + 0.1).astype(dtype)
    ap, tp = at.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    v = (rng.random(4) > 0.5).astype(dtype)
    b, tb = Bernoulli(ap), torch.distributions.Bernoulli(tp)
    bo = b.log_prob(at.tensor(v)).sum() + b.entropy().sum()
    tbo = tb.log_prob(torch.tensor(v)).sum() + tb.entropy().sum()
    np.testing.assert_allclose(bo.item(), tbo.item(), rtol=tol)
    bo.backward()
    tbo.backward()
    np.testing.assert_allclose(ap.grad.numpy(), tp.grad.numpy(), rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="GreaterThan"):
        Normal(at.tensor([0.0]), at.tensor([-1.0]))


@settings(max_examples=20, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), k=st.integers(1, 4), n=st.integers(1, 3))
def test_categorical_property_log_prob_normalises(batch, k, n) -> None:
    logits = at.randn(*batch, k, dtype=at.float64, requires_grad=True)
    d = Categorical(logits=logits)
    total = sum(d.log_prob(at.full(tuple(batch), i, dtype=at.int64)).exp() for i in range(k))
    np.testing.assert_allclose(total.detach().numpy(), np.ones(batch), rtol=1e-12)
    assert tuple(d.sample((n,)).shape) == (n, *batch)
    assert at.gradcheck(lambda t: Categorical(logits=t).entropy(), (logits,))


# -- type info -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_torch(name: str) -> None:
    torch = _torch()
    ours, ref = at.finfo(getattr(at, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert ours.dtype == ref.dtype == name
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name: str) -> None:
    torch = _torch()
    ours, ref = at.iinfo(getattr(at, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.max, ours.min, ours.dtype) == (ref.bits, ref.max, ref.min, ref.dtype)


def test_typeinfo_defaults_and_errors() -> None:
    assert at.finfo().dtype == "float32"
    with pytest.raises(TypeError, match="floating point"):
        at.finfo(at.int64)
    with pytest.raises(TypeError, match="integer"):
        at.iinfo(at.float32)
    with pytest.raises(TypeError, match="bool"):
        at.iinfo(at.bool)


# -- module namespaces, parallel wrappers, device flags -------------------------------------
def test_nn_modules_submodules_name_the_same_classes() -> None:
    import autotensor.nn.modules.conv as conv
    from autotensor.nn.modules.activation import ReLU

    assert conv.Conv2d is nn.Conv2d and ReLU is nn.ReLU
    assert at.nn.modules.pixelshuffle.PixelShuffle is nn.PixelShuffle
    assert at.nn.modules.linear.Linear is nn.Linear


def test_data_parallel_on_the_cpu_behaves_as_torch() -> None:
    m = nn.Linear(3, 2)
    dp = nn.DataParallel(m, device_ids=[0])
    x = at.randn(4, 3)
    np.testing.assert_array_equal(dp(x).detach().numpy(), m(x).detach().numpy())
    assert dp.device_ids == [] and list(dp.state_dict()) == ["module.weight", "module.bias"]
    with pytest.raises(RuntimeError, match="device type could not be determined"):
        nn.parallel.data_parallel(m, x, range(0))


def test_tensor_device_flags() -> None:
    t = at.zeros(2)
    assert t.is_cpu and not (t.is_cuda or t.is_xpu or t.is_mps or t.is_meta)
    assert not (t.is_sparse or t.is_quantized)


# -- dropout2d on 2-D input, endless sampler ------------------------------------------------
def test_dropout2d_on_2d_input_drops_elements_with_a_warning() -> None:
    torch = _torch()
    x = at.ones(200, 50)
    with pytest.warns(UserWarning, match="2-D input"):
        y = F.dropout2d(x, 0.5, True)
    kept = y.numpy()
    assert set(np.unique(kept).tolist()) <= {0.0, 2.0}
    # element-wise, as torch's feature dropout treats a (N, C) input: rows are mixed
    assert 0 < (kept == 0).mean(axis=1).min() and (kept == 0).mean(axis=1).max() < 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert tuple(torch.nn.functional.dropout2d(torch.ones(3, 4), 0.5).shape) == (3, 4)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.dropout2d(at.ones(5), 0.5, True)


def test_random_sampler_with_replacement_streams_lazily() -> None:
    ds = TensorDataset(at.arange(10))
    sampler = RandomSampler(ds, replacement=True, num_samples=int(1e10))
    assert len(sampler) == int(1e10)
    it = iter(sampler)
    first = [next(it) for _ in range(100)]
    assert all(0 <= i < 10 for i in first)
    batches = iter(DataLoader(ds, batch_size=8, sampler=sampler))
    (b,) = next(batches)
    assert tuple(b.shape) == (8,)


# -- legacy tensor types: FloatTensor, LongTensor, ... and Tensor.type() ----------------------
LEGACY_NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
                "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]  # fmt: skip


@pytest.mark.parametrize("name", LEGACY_NAMES)
def test_legacy_tensor_types_as_torch(name: str) -> None:
    torch = _torch()
    ours, theirs = getattr(at, name), getattr(torch, name)
    for args in [(2, 3), (0,), ([1.7, 2.5, 0.0],), ((2, 3),), ()]:
        a, t = ours(*args), theirs(*args)
        assert tuple(a.shape) == tuple(t.shape), (name, args)
        assert str(a.dtype) == str(t.dtype).removeprefix("torch."), (name, args)
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(a.numpy(), t.numpy())
    assert isinstance(ours([1]), ours) and isinstance(theirs([1]), theirs)
    other = "LongTensor" if name != "LongTensor" else "FloatTensor"
    assert not isinstance(getattr(at, other)([1]), ours)
    assert ours([1]).type() == theirs([1]).type() == f"torch.{name}"
    same = ours([1, 0])
    assert ours(same) is same
    with pytest.raises(TypeError, match=name):
        ours(getattr(at, other)([1]))
    with pytest.raises(TypeError):
        ours(2, 3.0)


def test_tensor_type_converts_as_torch() -> None:
    torch = _torch()
    x, t = at.ones(2), torch.ones(2)
    for ours, theirs in [
        (at.LongTensor, torch.LongTensor),
        ("torch.DoubleTensor", "torch.DoubleTensor"),
        (at.int32, torch.int32),
    ]:
        assert str(x.type(ours).dtype) == str(t.type(theirs).dtype).removeprefix("torch.")
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.NoSuchTensor")


def test_cuda_tensor_types_exist_and_refuse() -> None:
    assert at.FloatTensor([1]).type() == "torch.FloatTensor"
    with pytest.raises(RuntimeError, match="CPU only"):
        at.cuda.FloatTensor(2)
    with pytest.raises(RuntimeError, match="CPU only"):
        at.cuda.LongTensor([1])

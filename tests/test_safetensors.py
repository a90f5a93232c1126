"""safetensors files both ways with torch: bytes, dtypes, metadata, state dicts of real models.

Files torch writes (`safetensors.torch.save_file`) load here to bit-identical arrays; files
written here load with `safetensors.torch.load_file` to bit-identical tensors, and are the
same bytes torch's writer produces. The state dicts of an MLP, a CNN with BatchNorm, an LSTM
and a Transformer encoder layer move both ways and the models agree after
`load_state_dict(strict=True)`.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import autotensor as at
import nn
from autotensor.serialization import (
    LoadError,
    load_safetensors,
    safetensors_metadata,
    save_safetensors,
)

pytest.importorskip("safetensors")


# -- without torch -----------------------------------------------------------------------------
def test_round_trip_here(tmp_path):
    sd = {
        "w": at.randn(4, 3),
        "i": at.arange(6).reshape(2, 3),
        "h": at.randn(5).to(at.float16),
        "m": at.tensor([True, False]),
        "e": at.zeros(0, 3),
        "s": at.tensor(2.5),
    }
    p = tmp_path / "m.safetensors"
    nn.save(sd, p, metadata={"epoch": "3"})
    out = nn.load(p)
    assert set(out) == set(sd)
    for k, v in sd.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape
        assert out[k].numpy().tobytes() == v.numpy().tobytes()
    assert safetensors_metadata(p) == {"epoch": "3"}
    with open(p, "rb") as fh:  # a file object reads the same, from the validated offsets
        again = nn.load(fh)
    assert all(again[k].numpy().tobytes() == out[k].numpy().tobytes() for k in sd)
    buf = io.BytesIO()
    save_safetensors(sd, buf, metadata={"epoch": "3"})
    assert buf.getvalue() == p.read_bytes()
    loaded = out["w"]
    loaded.add_(1.0)  # a loaded tensor owns writable memory
    assert not loaded.requires_grad


def test_save_refusals(tmp_path):
    p = tmp_path / "x.safetensors"
    w = at.randn(4, 4)
    with pytest.raises(RuntimeError, match="share memory"):
        save_safetensors({"a": w, "b": w}, p)  # tied weights, as safetensors.torch refuses
    with pytest.raises(RuntimeError, match="share memory"):
        save_safetensors({"a": w, "row": w[1]}, p)
    with pytest.raises(ValueError, match="not contiguous"):
        save_safetensors({"t": w.t()}, p)
    with pytest.raises(TypeError, match="flat dict"):
        save_safetensors({"opt": {"lr": 0.1}}, p)
    with pytest.raises(TypeError, match="metadata"):
        save_safetensors({"a": w}, p, metadata={"n": 3})
    with pytest.raises(TypeError, match="dtype"):
        save_safetensors({"a": np.array(["x"])}, p)
    with pytest.raises(ValueError, match="safetensors"):
        nn.save({"a": w}, tmp_path / "x.npz", metadata={"a": "b"})
    assert not p.exists()


def test_limit_applies(tmp_path):
    p = tmp_path / "big.safetensors"
    save_safetensors({"w": at.zeros(1000)}, p)
    with pytest.raises(LoadError, match="load limit"):
        load_safetensors(p, max_bytes=100)
    with at.serialization.load_limit(100), pytest.raises(LoadError, match="load limit"):
        nn.load(p)
    assert load_safetensors(p)["w"].shape == (1000,)


# -- with torch --------------------------------------------------------------------------------
DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _torch_tensor(torch, name, shape=(3, 5)):
    g = torch.Generator().manual_seed(7)
    dt = getattr(torch, name)
    if dt.is_floating_point:
        return torch.randn(shape, generator=g).to(dt)
    if dt == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    lo, hi = (0, 255) if dt == torch.uint8 else (-100, 100)
    return torch.randint(lo, hi, shape, generator=g).to(dt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_both_ways(tmp_path, dtype):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    t = {"x": _torch_tensor(torch, dtype), "scalar": _torch_tensor(torch, dtype, ())}
    p = tmp_path / "t.safetensors"
    st.save_file(t, p)
    out = at.serialization.load_safetensors(p)
    for k in t:
        assert out[k].numpy().dtype == np.dtype(dtype)
        assert tuple(out[k].shape) == tuple(t[k].shape)
        assert out[k].numpy().tobytes() == t[k].numpy().tobytes()
    q = tmp_path / "here.safetensors"
    save_safetensors(out, q)
    back = st.load_file(q)
    for k in t:
        assert back[k].dtype == t[k].dtype and torch.equal(back[k], t[k])
    assert q.read_bytes() == p.read_bytes()  # the very bytes torch's writer produces


def test_bfloat16_reads_as_float32_with_a_warning(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    t = torch.randn(4, 6).bfloat16()
    p = tmp_path / "b.safetensors"
    st.save_file({"w": t, "f": torch.ones(2)}, p)
    with pytest.warns(UserWarning, match=r"bfloat16 tensors \['w'\] read as float32"):
        out = nn.load(p)
    assert out["w"].dtype == at.float32
    assert out["w"].numpy().tobytes() == t.float().numpy().tobytes()  # exact widening
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_safetensors({"f": out["f"]}, tmp_path / "plain.safetensors")
        assert nn.load(tmp_path / "plain.safetensors")["f"].dtype == at.float32  # no warning


def test_metadata_both_ways(tmp_path):
    pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    from safetensors import safe_open

    p = tmp_path / "m.safetensors"
    nn.save({"w": at.ones(2)}, p, metadata={"format": "pt", "step": "10"})
    with safe_open(str(p), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "step": "10"}
    import torch

    q = tmp_path / "t.safetensors"
    st.save_file({"w": torch.ones(2)}, q, metadata={"source": "torch"})
    assert safetensors_metadata(q) == {"source": "torch"}
    st.save_file({"w": torch.ones(2)}, q)
    assert safetensors_metadata(q) is None


def _models(ns):
    """The same four architectures in `ns` (torch.nn or nn)."""
    return {
        "mlp": (
            ns.Sequential(
                ns.Linear(10, 32), ns.ReLU(), ns.Linear(32, 16), ns.Tanh(), ns.Linear(16, 3)
            ),
            (4, 10),
            lambda m, x: m(x),
        ),
        "cnn_bn": (
            ns.Sequential(
                ns.Conv2d(1, 4, 3, padding=1),
                ns.BatchNorm2d(4),
                ns.ReLU(),
                ns.MaxPool2d(2),
                ns.Flatten(),
                ns.Linear(4 * 4 * 4, 5),
            ),
            (3, 1, 8, 8),
            lambda m, x: m(x),
        ),
        "lstm": (
            ns.LSTM(6, 8, num_layers=2, batch_first=True),
            (2, 5, 6),
            lambda m, x: m(x)[0],
        ),
        "transformer": (
            ns.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True),
            (2, 7, 16),
            lambda m, x: m(x),
        ),
    }


MODELS = ["mlp", "cnn_bn", "lstm", "transformer"]


def _trained_torch(torch, name):
    torch.manual_seed(0)
    model, shape, run = _models(torch.nn)[name]
    model.train()
    with torch.no_grad():  # move BatchNorm's running statistics off their initial values
        for _ in range(3):
            run(model, torch.randn(*shape) * 2 + 1)
    return model.eval(), shape, run


@pytest.mark.parametrize("name", MODELS)
def test_torch_writes_autotensor_reads(tmp_path, name):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    tm, shape, run = _trained_torch(torch, name)
    sd = tm.state_dict()
    p = tmp_path / f"{name}.safetensors"
    st.save_file(sd, p)
    loaded = nn.load(p)
    assert set(loaded) == set(sd)
    for k, v in sd.items():
        assert loaded[k].numpy().dtype == v.numpy().dtype
        assert loaded[k].numpy().tobytes() == v.numpy().tobytes(), k
    am, _, arun = _models(nn)[name]
    am.load_state_dict(loaded, strict=True)
    am.eval()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expect = run(tm, torch.from_numpy(x)).numpy()
    with at.no_grad():
        got = arun(am, at.tensor(x)).numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_autotensor_writes_torch_reads(tmp_path, name):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    at.manual_seed(3)
    am, shape, arun = _models(nn)[name]
    am.train()
    with at.no_grad():
        for _ in range(3):
            arun(am, at.randn(*shape) * 2 + 1)
    am.eval()
    sd = am.state_dict()
    p = tmp_path / f"{name}.safetensors"
    nn.save(sd, p)
    back = st.load_file(p)
    assert set(back) == set(sd)
    for k, v in sd.items():
        assert back[k].numpy().tobytes() == v.numpy().tobytes(), k
    tm, _, run = _models(torch.nn)[name]
    tm.load_state_dict(back, strict=True)
    tm.eval()
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expect = run(tm, torch.from_numpy(x)).numpy()
    with at.no_grad():
        got = arun(am, at.tensor(x)).numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)


# -- a failed load_state_dict changes nothing --------------------------------------------------
def _bad_state(kind, good):
    sd = dict(good)
    if kind == "missing":
        del sd["1.running_mean"]
    elif kind == "unexpected":
        sd["2.extra"] = at.ones(1)
    elif kind == "shape":
        sd["2.weight"] = at.ones(3, 3)
    elif kind == "dtype":
        sd["2.bias"] = np.array(["a", "b"])
    return sd


@pytest.mark.parametrize("assign", [False, True])
@pytest.mark.parametrize("kind", ["missing", "unexpected", "shape", "dtype", "hook"])
def test_failed_load_state_dict_leaves_weights(tmp_path, kind, assign):
    at.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    params = [id(p) for p in model.parameters()]
    other = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    with at.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    path = tmp_path / "other.safetensors"
    nn.save(other.state_dict(), path)
    sd = _bad_state(kind, nn.load(path))
    if kind == "hook":

        def fail(module, keys):
            raise ValueError("post-hook refuses")

        model[2].register_load_state_dict_post_hook(fail)
    with pytest.raises((RuntimeError, ValueError)):
        model.load_state_dict(sd, strict=True, assign=assign)
    after = model.state_dict()
    assert set(after) == set(before)
    for k, v in before.items():
        assert after[k].numpy().tobytes() == v.tobytes(), k
    assert [id(p) for p in model.parameters()] == params  # the same Parameter objects
    if kind != "hook":
        model.load_state_dict(nn.load(path), strict=True, assign=assign)  # a good load works
        assert np.array_equal(model[0].weight.detach().numpy(), other[0].weight.detach().numpy())


def test_nn_load_reads_torch_checkpoints(tmp_path):
    """nn.load hands a file in torch's zip format to at.load (weights only)."""
    torch = pytest.importorskip("torch")
    tm = torch.nn.Linear(3, 2)
    torch.save({"model": tm.state_dict(), "epoch": 4}, tmp_path / "ckpt.pt")
    ckpt = nn.load(tmp_path / "ckpt.pt")
    assert ckpt["epoch"] == 4
    for k, v in tm.state_dict().items():
        assert ckpt["model"][k].numpy().tobytes() == v.numpy().tobytes()
    with open(tmp_path / "ckpt.pt", "rb") as fh:
        assert nn.load(fh)["epoch"] == 4

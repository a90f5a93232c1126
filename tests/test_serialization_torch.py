"""torch checkpoint files both ways: `at.save`/`at.load` against the installed torch.

Files `torch.save` writes load here to bit-identical arrays (every dtype, views sharing a
storage, the state dicts of an MLP, a CNN with BatchNorm, an LSTM and a Transformer encoder
layer, optimizer state); files written here load with `torch.load(weights_only=True)` to
bit-identical tensors and have the records and pickle torch writes. Training continues
bit-identically after a save and a load. The weights-only unpickler refuses everything that
is not a tensor or a plain container, with a named error, and never runs the file's code.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import autotensor as at
import nn
from autotensor.serialization import LoadError, WeightsUnpicklingError


def _torch():
    return pytest.importorskip("torch")


# -- helpers -----------------------------------------------------------------------------------
def _zip(pkl: bytes, records: dict | None = None, byteorder: bytes = b"little") -> bytes:
    """A torch-style archive holding the pickle `pkl` and raw storage records."""
    buf = io.BytesIO()
    stem = "archive"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{stem}/data.pkl", pkl)
        z.writestr(f"{stem}/byteorder", byteorder)
        for k, v in (records or {}).items():
            z.writestr(f"{stem}/data/{k}", v)
        z.writestr(f"{stem}/version", b"3\n")
    return buf.getvalue()


def _to_numpy(obj):
    """A torch or autotensor object with every tensor replaced by a copy of its array."""
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):
        return obj.detach().numpy().copy()
    if isinstance(obj, dict):
        return type(obj)((k, _to_numpy(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(v) for v in obj)
    return obj


def _from_numpy(obj, make):
    if isinstance(obj, np.ndarray):
        return make(obj.copy())
    if isinstance(obj, dict):
        return type(obj)((k, _from_numpy(v, make)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_from_numpy(v, make) for v in obj)
    return obj


def _same(a, b) -> None:
    """Equal structure, equal non-tensor values, bit-identical arrays of equal dtype."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b and type(a) is type(b), (a, b)


def _dtype_case(torch, name: str, shape=(3, 4)):
    g = torch.Generator().manual_seed(5)
    dt = getattr(torch, name)
    if dt.is_complex:
        return torch.randn(shape, generator=g, dtype=dt)
    if dt.is_floating_point:
        return torch.randn(shape, generator=g).to(dt)
    if dt == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    lo, hi = (0, 255) if dt == torch.uint8 else (-120, 120)
    return torch.randint(lo, hi, shape, generator=g).to(dt)


DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
          "complex64", "complex128"]  # fmt: skip


# -- the format --------------------------------------------------------------------------------
def test_records_and_pickle_are_torchs(tmp_path):
    """The same tensors give the records torch writes, in its order, aligned to 64 bytes, and
    the very pickle bytes (storage keys, globals, memo and all)."""
    torch = _torch()
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    mine = OrderedDict(
        w=at.from_numpy(w), row=None, t=None, n=at.tensor([1, 2], dtype=at.int64), s=at.tensor(2.5)
    )
    mine["row"], mine["t"] = mine["w"][1], mine["w"].t()
    theirs = OrderedDict(w=torch.from_numpy(w), row=None, t=None, n=torch.tensor([1, 2]),
                         s=torch.tensor(2.5))  # fmt: skip
    theirs["row"], theirs["t"] = theirs["w"][1], theirs["w"].t()
    at.save(mine, tmp_path / "m.pt")
    torch.save(theirs, tmp_path / "m_torch.pt")
    za, zt = zipfile.ZipFile(tmp_path / "m.pt"), zipfile.ZipFile(tmp_path / "m_torch.pt")
    names = [n.split("/", 1)[1] for n in za.namelist()]
    assert names == [n.split("/", 1)[1] for n in zt.namelist()]
    assert names[:4] == ["data.pkl", ".format_version", ".storage_alignment", "byteorder"]
    assert za.namelist()[0] == "m/data.pkl"  # the stem is the file's name, as torch's
    assert za.read("m/data.pkl") == zt.read("m_torch/data.pkl")
    for rec in names[1:-1]:
        assert za.read(f"m/{rec}") == zt.read(f"m_torch/{rec}"), rec
    raw = (tmp_path / "m.pt").read_bytes()
    for info in za.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        if "/data/" in info.filename:
            n, e = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
            assert (info.header_offset + 30 + n + e) % 64 == 0, info.filename


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_both_ways(tmp_path, dtype):
    torch = _torch()
    t = {
        "x": _dtype_case(torch, dtype),
        "s": _dtype_case(torch, dtype, ()),
        "e": _dtype_case(torch, dtype, (0, 3)),
        "nc": _dtype_case(torch, dtype, (4, 6))[:, ::2],
    }
    torch.save(t, tmp_path / "t.pt")
    out = at.load(tmp_path / "t.pt")
    for k, v in t.items():
        got = out[k].numpy()
        assert got.dtype == v.numpy().dtype and got.shape == tuple(v.shape)
        assert np.ascontiguousarray(got).tobytes() == v.contiguous().numpy().tobytes()
    at.save(out, tmp_path / "back.pt")
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    for k, v in t.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v)
    assert back["nc"].stride() == t["nc"].stride()  # a strided view stays one, as in torch


def test_uint16_uses_torchs_untyped_storage(tmp_path):
    torch = _torch()
    t = torch.arange(10, dtype=torch.int32).to(torch.uint16)
    torch.save(t, tmp_path / "u.pt")
    got = at.load(tmp_path / "u.pt")
    assert got.numpy().dtype == np.uint16 and got.numpy().tolist() == list(range(10))
    at.save(got, tmp_path / "v.pt")
    back = torch.load(tmp_path / "v.pt", weights_only=True)
    assert back.dtype == torch.uint16 and torch.equal(back.int(), t.int())


def test_bfloat16_reads_as_float32_with_a_warning(tmp_path):
    torch = _torch()
    t = torch.randn(5, 3).bfloat16()
    torch.save({"w": t, "f": torch.ones(2)}, tmp_path / "b.pt")
    with pytest.warns(UserWarning, match="bfloat16 tensor.*read as float32"):
        out = at.load(tmp_path / "b.pt")
    assert out["w"].dtype == at.float32
    assert out["w"].numpy().tobytes() == t.float().numpy().tobytes()  # exact widening
    torch.save({"f": torch.ones(2)}, tmp_path / "f.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        at.load(tmp_path / "f.pt")  # no bfloat16: no warning


def test_dtype_numpy_lacks_is_a_clear_error(tmp_path):
    torch = _torch()
    torch.save(torch.zeros(3, dtype=torch.float8_e4m3fn), tmp_path / "f8.pt")
    with pytest.raises(LoadError, match="float8_e4m3fn.*numpy"):
        at.load(tmp_path / "f8.pt")


def test_views_share_one_storage_both_ways(tmp_path):
    torch = _torch()
    w = torch.randn(4, 5)
    torch.save({"w": w, "t": w.t(), "row": w[2], "col": w[:, 1]}, tmp_path / "v.pt")
    out = at.load(tmp_path / "v.pt")
    assert out["t"].shape == (5, 4) and out["col"].numpy().tolist() == w[:, 1].tolist()
    for k in ("t", "row", "col"):
        assert np.shares_memory(out[k].numpy(), out["w"].numpy()), k
    with at.no_grad():
        out["w"][2, 1] = 100.0  # one memory, as after torch.load
    assert out["row"][1].item() == 100.0 and out["col"][2].item() == 100.0
    at.save(out, tmp_path / "back.pt")
    assert len([n for n in zipfile.ZipFile(tmp_path / "back.pt").namelist() if "/data/" in n]) == 1
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    ptr = back["w"].untyped_storage().data_ptr()
    assert all(back[k].untyped_storage().data_ptr() == ptr for k in ("t", "row", "col"))
    assert back["col"].storage_offset() == 1 and back["t"].stride() == (1, 5)


def test_file_objects_and_mmap(tmp_path):
    torch = _torch()
    buf = io.BytesIO()
    at.save({"a": at.arange(5)}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["a"].tolist() == list(range(5))
    buf = io.BytesIO()
    torch.save({"a": torch.arange(5.0)}, buf)
    buf.seek(0)
    assert at.load(buf)["a"].numpy().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    p = tmp_path / "m.pt"
    torch.save({"a": torch.arange(6.0)}, p)
    mapped = at.load(p, mmap=True)["a"]
    assert isinstance(mapped.numpy().base, np.memmap) or isinstance(mapped.numpy(), np.memmap)
    mapped.numpy()[0] = 9.0  # copy-on-write: the file keeps its bytes
    assert at.load(p)["a"].numpy()[0] == 0.0
    with pytest.raises(ValueError, match="mmap"):
        at.load(io.BytesIO(p.read_bytes()), mmap=True)


def test_big_endian_records_are_read(tmp_path):
    torch = _torch()
    t = {"f": torch.randn(3, 2), "i": torch.arange(4), "h": torch.randn(3).half()}
    torch.save(t, tmp_path / "l.pt")
    src = zipfile.ZipFile(tmp_path / "l.pt")
    pkl = src.read("l/data.pkl")
    # the storages of a file written on a big-endian machine: byte-swapped, and said so
    keys = {"0": np.float32, "1": np.int64, "2": np.float16}
    records = {k: np.frombuffer(src.read(f"l/data/{k}"), d).byteswap().tobytes()
               for k, d in keys.items()}  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("l/data.pkl", pkl)
        z.writestr("l/byteorder", b"big")
        for k, v in records.items():
            z.writestr(f"l/data/{k}", v)
    out = at.load(io.BytesIO(buf.getvalue()))
    for k, v in t.items():
        assert out[k].numpy().tobytes() == v.numpy().tobytes()
    with pytest.raises(LoadError, match="byte order"):
        at.load(io.BytesIO(_zip(pkl, byteorder=b"middle")))


def test_map_location(tmp_path):
    torch = _torch()
    p = tmp_path / "m.pt"
    torch.save({"a": torch.ones(2)}, p)
    for ml in ("cpu", at.device("cpu"), {"cpu": "cpu"}, lambda s, loc: s, lambda s, loc: None):
        assert at.load(p, map_location=ml)["a"].numpy().tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="CPU only"):
        at.load(p, map_location="cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        at.load(p, map_location={"cpu": "cuda:0"})
    # a storage saved on a GPU: refused unless mapped to the CPU, as torch on a CPU-only machine
    pkl = zipfile.ZipFile(p).read("m/data.pkl")
    cuda = pkl.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    rec = zipfile.ZipFile(p).read("m/data/0")
    gpu = _zip(cuda, {"0": rec})
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        at.load(io.BytesIO(gpu))
    for ml in ("cpu", {"cuda:0": "cpu"}, lambda s, loc: s.cpu()):
        assert at.load(io.BytesIO(gpu), map_location=ml)["a"].numpy().tolist() == [1.0, 1.0]


# -- models ------------------------------------------------------------------------------------
def _models(ns):
    """The same four architectures in `ns` (torch.nn or nn): (model, input shape, forward)."""
    return {
        "mlp": (
            ns.Sequential(ns.Linear(10, 16), ns.ReLU(), ns.Linear(16, 3)),
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
            ),  # fmt: skip
            (3, 1, 8, 8),
            lambda m, x: m(x),
        ),
        "lstm": (ns.LSTM(6, 8, num_layers=2, batch_first=True), (2, 5, 6), lambda m, x: m(x)[0]),
        "transformer": (
            ns.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True),
            (2, 7, 16),
            lambda m, x: m(x),
        ),
    }


MODELS = ["mlp", "cnn_bn", "lstm", "transformer"]


@pytest.mark.parametrize("name", MODELS)
def test_torch_state_dicts_load_here(tmp_path, name):
    torch = _torch()
    torch.manual_seed(0)
    tm, shape, run = _models(torch.nn)[name]
    with torch.no_grad():  # BatchNorm's running statistics and num_batches_tracked move
        for _ in range(2):
            run(tm, torch.randn(*shape) * 2 + 1)
    tm.eval()
    sd = tm.state_dict()
    torch.save(sd, tmp_path / "m.pth")
    loaded = at.load(tmp_path / "m.pth")
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(sd)
    _same(_to_numpy(sd), _to_numpy(loaded))
    if name == "cnn_bn":
        assert loaded["1.num_batches_tracked"].dtype == at.int64
        assert loaded["1.num_batches_tracked"].item() == 2
    am, _, arun = _models(nn)[name]
    am.load_state_dict(loaded, strict=True)
    ref, _, _ = _models(nn)[name]  # the same weights handed over in memory
    ref.load_state_dict(_from_numpy(_to_numpy(sd), at.from_numpy), strict=True)
    am.eval(), ref.eval()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with at.no_grad():
        got = arun(am, at.tensor(x)).numpy()
        assert got.tobytes() == arun(ref, at.tensor(x)).numpy().tobytes()
    with torch.no_grad():
        np.testing.assert_allclose(got, run(tm, torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_state_dicts_written_here_load_in_torch(tmp_path, name):
    torch = _torch()
    at.manual_seed(3)
    am, shape, arun = _models(nn)[name]
    with at.no_grad():
        for _ in range(2):
            arun(am, at.randn(*shape) * 2 + 1)
    am.eval()
    sd = am.state_dict()
    at.save(sd, tmp_path / "m.pt")
    back = torch.load(tmp_path / "m.pt", weights_only=True)
    _same(_to_numpy(sd), _to_numpy(dict(back)))
    tm, _, run = _models(torch.nn)[name]
    tm.load_state_dict(back, strict=True)
    tm.eval()
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    with torch.no_grad(), at.no_grad():
        np.testing.assert_allclose(
            arun(am, at.tensor(x)).numpy(), run(tm, torch.from_numpy(x)).numpy(), rtol=1e-5,
            atol=1e-6,
        )  # fmt: skip


# -- optimizers: training continues bit-identically --------------------------------------------
def _steps(lib, model, opt, xs, ys):
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _bytes(model) -> list[bytes]:
    return [p.detach().numpy().tobytes() for p in model.parameters()]


def _data(make, n, seed):
    r = np.random.default_rng(seed)
    xs = [make(r.standard_normal((8, 5)).astype(np.float32)) for _ in range(n)]
    ys = [make(r.standard_normal((8, 2)).astype(np.float32)) for _ in range(n)]
    return xs, ys


OPTIMS = {
    "sgd_momentum": lambda optim, p: optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda optim, p: optim.Adam(p, lr=0.01),
}


def _at_setup(kind):
    at.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2))
    return m, OPTIMS[kind](nn.optim, m.parameters())


@pytest.mark.parametrize("kind", list(OPTIMS))
def test_training_continues_after_save_and_load_here(tmp_path, kind):
    m, opt = _at_setup(kind)
    xs, ys = _data(at.from_numpy, 6, 0)
    _steps(at, m, opt, xs[:3], ys[:3])
    at.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}, tmp_path / "c.pt")
    expect = _steps(at, m, opt, xs[3:], ys[3:])
    ck = at.load(tmp_path / "c.pt")
    m2, opt2 = _at_setup(kind)
    m2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optim"])
    assert ck["epoch"] == 3
    assert _steps(at, m2, opt2, xs[3:], ys[3:]) == expect
    for a, b in zip(m.parameters(), m2.parameters()):
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()


@pytest.mark.parametrize("kind", list(OPTIMS))
def test_optimizer_state_from_torch_continues_here(tmp_path, kind):
    torch = _torch()
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    topt = OPTIMS[kind](torch.optim, tm.parameters())
    xs, ys = _data(torch.from_numpy, 3, 1)
    _steps(torch, tm, topt, xs, ys)
    ck = {"model": tm.state_dict(), "optim": topt.state_dict()}
    torch.save(ck, tmp_path / "c.pt")
    loaded = at.load(tmp_path / "c.pt")
    _same(_to_numpy(ck), _to_numpy(loaded))  # steps, buffers, hyperparameters, layout
    runs = []
    for state in (loaded, _from_numpy(_to_numpy(ck), at.from_numpy)):
        m, opt = _at_setup(kind)
        m.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        axs, ays = _data(at.from_numpy, 4, 2)
        runs.append(
            (_steps(at, m, opt, axs, ays), [p.detach().numpy().tobytes() for p in m.parameters()])
        )
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kind", list(OPTIMS))
def test_optimizer_state_from_here_continues_in_torch(tmp_path, kind):
    torch = _torch()
    m, opt = _at_setup(kind)
    xs, ys = _data(at.from_numpy, 3, 3)
    _steps(at, m, opt, xs, ys)
    ck = {"model": m.state_dict(), "optim": opt.state_dict()}
    at.save(ck, tmp_path / "c.pt")
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    _same(_to_numpy(ck), _to_numpy(loaded))
    runs = []
    for state in (loaded, _from_numpy(_to_numpy(ck), torch.from_numpy)):
        torch.manual_seed(1)
        tm = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
        topt = OPTIMS[kind](torch.optim, tm.parameters())
        tm.load_state_dict(state["model"])
        topt.load_state_dict(state["optim"])
        txs, tys = _data(torch.from_numpy, 4, 4)
        runs.append(
            (
                _steps(torch, tm, topt, txs, tys),
                [p.detach().numpy().tobytes() for p in tm.parameters()],
            )
        )
    assert runs[0] == runs[1]


# -- whole modules -----------------------------------------------------------------------------
def test_whole_module_round_trip(tmp_path):
    at.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3))  # fmt: skip
    model.eval()
    x = at.randn(2, 1, 6, 6)
    expect = model(x).detach().numpy()
    at.save(model, tmp_path / "model.pt")
    with pytest.raises(WeightsUnpicklingError, match=r"GLOBAL nn\.container\.Sequential"):
        at.load(tmp_path / "model.pt")
    assert at.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "model.pt") == [
        "nn.container.Sequential", "nn.conv.Conv2d", "nn.normalization.BatchNorm2d",
        "nn.activation.ReLU", "nn.flatten.Flatten", "nn.linear.Linear",
    ]  # fmt: skip
    full = at.load(tmp_path / "model.pt", weights_only=False)
    classes = [nn.Sequential, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Flatten, nn.Linear]
    with at.serialization.safe_globals(classes):
        safe = at.load(tmp_path / "model.pt")
    for m in (full, safe):
        assert type(m) is nn.Sequential and not m.training
        assert isinstance(m[0].weight, nn.Parameter) and m[0].weight.requires_grad
        assert m(x).detach().numpy().tobytes() == expect.tobytes()
        assert [k for k, _ in m.named_parameters()] == [k for k, _ in model.named_parameters()]
    loss = safe(x).sum()
    loss.backward()  # a loaded model trains
    assert safe[0].weight.grad is not None


def test_tensor_attributes_torch_saved(tmp_path):
    """torch saves a tensor's Python attributes through _rebuild_from_type_v2; they come back,
    but never over the tensor's own machinery (grad_fn, data, private names)."""
    torch = _torch()
    t = torch.ones(2)
    t.tag = "x"
    t.grad_fn_note = 3
    torch.save({"t": t}, tmp_path / "a.pt")
    pkl = zipfile.ZipFile(tmp_path / "a.pt").read("a/data.pkl")
    assert b"_rebuild_from_type_v2" in pkl
    got = at.load(tmp_path / "a.pt")["t"]
    assert (got.tag, got.grad_fn_note) == ("x", 3) and got.numpy().tolist() == [1.0, 1.0]
    evil = pkl.replace(b"X\x0c\x00\x00\x00grad_fn_note", b"X\x07\x00\x00\x00grad_fn")
    assert evil != pkl
    rec = zipfile.ZipFile(tmp_path / "a.pt").read("a/data/0")
    got = at.load(io.BytesIO(_zip(evil, {"0": rec})))["t"]
    assert got.grad_fn is None  # the tensor's own attribute is not set from the file


def test_parameter_round_trip_with_torch(tmp_path):
    torch = _torch()
    p = nn.Parameter(at.randn(3))
    at.save({"p": p}, tmp_path / "p.pt")
    back = torch.load(tmp_path / "p.pt", weights_only=True)["p"]
    assert isinstance(back, torch.nn.Parameter) and back.requires_grad
    torch.save({"p": torch.nn.Parameter(torch.ones(2)), "f": torch.nn.Parameter(torch.ones(1),
               requires_grad=False)}, tmp_path / "t.pt")  # fmt: skip
    got = at.load(tmp_path / "t.pt")
    assert isinstance(got["p"], nn.Parameter) and got["p"].requires_grad
    assert not got["f"].requires_grad


# -- the weights-only unpickler refuses ----------------------------------------------------------
def _load_pickle(pkl: bytes, **kw):
    return at.load(io.BytesIO(_zip(pkl)), **kw)


def test_refuses_os_system_and_never_runs_it(tmp_path):
    marker = tmp_path / "marker"
    cmd = f"touch {marker}".encode()
    pkl = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd + b"\x85R."
    with pytest.raises(WeightsUnpicklingError, match=r"Unsupported global: GLOBAL os\.system") as e:
        _load_pickle(pkl)
    assert isinstance(e.value, pickle.UnpicklingError) and isinstance(e.value, LoadError)
    assert "add_safe_globals" in str(e.value) and "weights_only=False" in str(e.value)
    p = tmp_path / "evil.pt"
    p.write_bytes(_zip(pkl))
    assert at.serialization.get_unsafe_globals_in_checkpoint(p) == ["os.system"]
    # Python's own pickling of an object whose __reduce__ calls os.system, as a hostile file has
    hostile = pickle.dumps(_Payload(str(marker)), protocol=2)
    with pytest.raises(WeightsUnpicklingError, match="system"):
        _load_pickle(hostile)
    assert not marker.exists()


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize(
    "pkl, what",
    [
        (b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00@\x85R.", r"builtins\.bytearray"),
        (b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", r"builtins\.eval"),
        (b"\x80\x02cbuiltins\ngetattr\n.", r"builtins\.getattr"),
        (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x05popen\x93.", "os.popen"),
        (b"\x80\x02X\x01\x00\x00\x00a)R.", "REDUCE at byte .* calls a str"),
        (b"\x80\x02\x82\x01.", "extension registry"),
        (b"(ios\nsystem\n.", "INST"),
        (
            b"\x80\x02ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00ac__main__\nX\nsb.",
            "__main__.X",
        ),
        (b"\x80\x02]K\x01b.", "BUILD at byte .* list"),
        (b"\x80\x02ccollections\nOrderedDict\n)\x81.", None),  # NEWOBJ of an allowed class: fine
    ],
)
def test_refusals(pkl, what):
    if what is None:
        assert _load_pickle(pkl) == OrderedDict()
        return
    with pytest.raises(WeightsUnpicklingError, match=what):
        _load_pickle(pkl)


def test_deep_nesting_is_a_load_error_not_a_recursion_error():
    n = 100_000
    chain = b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."  # lists inside lists, n deep
    with pytest.raises(LoadError, match="nests"):
        _load_pickle(chain)
    marks = b"\x80\x02" + b"(" * 50_000 + b"t" * 50_000 + b"."
    with pytest.raises(LoadError, match="marks|nests"):
        _load_pickle(marks)
    # linked through the memo, innermost last: no stack depth, and the depth appears only at
    # the end; still measured without recursion
    k = 5_000
    body = b"".join(b"]r" + struct.pack("<I", i) + b"0" for i in range(k))
    body += b"".join(b"j" + struct.pack("<I", i + 1) + b"j" + struct.pack("<I", i) + b"a0"
                     for i in reversed(range(k - 1)))  # fmt: skip
    linked = b"\x80\x02" + body + b"j" + struct.pack("<I", k - 1) + b"."
    with pytest.raises(LoadError, match="nests"):
        _load_pickle(linked)
    with pytest.raises(LoadError, match="nests"):  # a deep tuple as a dict key (hashing recurses)
        _load_pickle(b"\x80\x02}N" + b"\x85" * 1000 + b"Ns.")
    # a shallow cycle is fine (torch's unpickler accepts recursive lists too)
    cyc = _load_pickle(b"\x80\x02]q\x00h\x00a.")
    assert cyc[0] is cyc
    assert sys.getrecursionlimit() >= 1000


def test_tensor_outside_its_storage_is_refused():
    torch = _torch()
    buf = io.BytesIO()
    torch.save(torch.arange(4.0), buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl, rec = z.read("archive/data.pkl"), z.read("archive/data/0")
    assert b"K\x04\x85" in pkl  # size (4,)
    with pytest.raises(LoadError, match="reaches element"):
        at.load(io.BytesIO(_zip(pkl.replace(b"K\x04\x85", b"K\x40\x85"), {"0": rec})))
    with pytest.raises(LoadError, match="declares 16 bytes but its record holds 8"):
        at.load(io.BytesIO(_zip(pkl, {"0": rec[:8]})))
    with pytest.raises(LoadError, match="no record"):
        at.load(io.BytesIO(_zip(pkl)))


def test_legacy_and_other_files_are_named(tmp_path):
    torch = _torch()
    p = tmp_path / "old.pt"
    torch.save({"a": torch.ones(2)}, p, _use_new_zipfile_serialization=False)
    with pytest.raises(LoadError, match="legacy"):
        at.load(p)
    (tmp_path / "bare.pkl").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(at.serialization.UnsafeContentError, match="bare pickle"):
        at.load(tmp_path / "bare.pkl")
    q = tmp_path / "x.npz"
    nn.save({"a": at.ones(2)}, q)
    with pytest.raises(LoadError, match="nn.load"):
        at.load(q)
    (tmp_path / "e.pt").write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        at.load(tmp_path / "e.pt")
    (tmp_path / "t.txt").write_bytes(b"hello world")
    with pytest.raises(LoadError, match="not a torch checkpoint"):
        at.load(tmp_path / "t.txt")
    with pytest.raises(LoadError, match="no such"):
        at.load(tmp_path / "missing.pt")
    with pytest.raises(NotImplementedError, match="_use_new_zipfile_serialization"):
        at.save({}, tmp_path / "n.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="pickle_module"):
        at.load(p, pickle_module=pickle)


# -- allow-lists -------------------------------------------------------------------------------
class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


def test_allow_list_functions(tmp_path):
    p = tmp_path / "pt.pt"
    at.save({"p": Point(1.0, 2.0), "w": at.ones(2)}, p)
    at.serialization.clear_safe_globals()
    try:
        with pytest.raises(WeightsUnpicklingError, match=r"GLOBAL test_serialization_torch\.Point"):
            at.load(p)
        with at.serialization.safe_globals([Point]):
            assert at.serialization.get_safe_globals() == [Point]
            got = at.load(p)
        assert at.serialization.get_safe_globals() == []  # the block's entries are gone
        assert (got["p"].x, got["p"].y) == (1.0, 2.0) and got["w"].numpy().tolist() == [1, 1]
        at.serialization.add_safe_globals([(Point, "test_serialization_torch.Point")])
        assert at.load(p)["p"].y == 2.0
        at.serialization.clear_safe_globals()
        with pytest.raises(WeightsUnpicklingError):
            at.load(p)
        assert at.load(p, weights_only=False)["p"].x == 1.0  # the explicit opt-in
        with pytest.raises(TypeError):
            at.serialization.add_safe_globals(Point)  # a list is expected, as torch's
    finally:
        at.serialization.clear_safe_globals()


def test_containers_and_scalars_round_trip(tmp_path):
    torch = _torch()
    obj = {"list": [1, 2.5, "s", None, True], "tuple": (1, (2, 3)), "set": {1, 2},
           "fs": frozenset({3}), "bytes": b"\x00\xff", "c": 1 + 2j, "big": 2**80,
           "nested": {"t": at.ones(2), 3: [at.zeros(1)]}, "dev": at.device("cpu")}  # fmt: skip
    at.save(obj, tmp_path / "c.pt")
    got = at.load(tmp_path / "c.pt")
    for k in ("list", "tuple", "set", "fs", "bytes", "c", "big", "dev"):
        assert got[k] == obj[k] and type(got[k]) is type(obj[k]), k
    assert got["nested"][3][0].numpy().tolist() == [0.0]
    del obj["fs"]  # torch's allow-list has no frozenset
    at.save(obj, tmp_path / "t.pt")
    t = torch.load(tmp_path / "t.pt", weights_only=True)
    assert t["bytes"] == b"\x00\xff" and t["set"] == {1, 2} and t["dev"] == torch.device("cpu")
    assert t["c"] == 1 + 2j and t["big"] == 2**80 and t["tuple"] == (1, (2, 3))


def test_safetensors_paths_dispatch(tmp_path):
    pytest.importorskip("safetensors")
    p = tmp_path / "w.safetensors"
    at.save({"w": at.arange(3.0)}, p)
    assert p.read_bytes()[8:9] == b"{"  # a safetensors header, not a zip
    assert at.load(p)["w"].numpy().tolist() == [0.0, 1.0, 2.0]


class Tagged(at.Tensor):
    """A Tensor subclass saved under a global name of its own."""


def _rebuild_tagged(data, requires_grad):
    t = Tagged(data.numpy())
    return t.requires_grad_(requires_grad) if requires_grad else t


def test_registered_tensor_subclass(tmp_path):
    at.serialization.register_tensor_subclass(
        Tagged, _rebuild_tagged, global_name="test_serialization_torch._rebuild_tagged"
    )
    t = Tagged(np.arange(3.0, dtype=np.float32))
    at.save({"t": t}, tmp_path / "s.pt")
    pkl = zipfile.ZipFile(tmp_path / "s.pt").read("s/data.pkl")
    assert b"test_serialization_torch\n_rebuild_tagged\n" in pkl
    got = at.load(tmp_path / "s.pt")["t"]  # the registering code is trusted: allowed
    assert type(got) is Tagged and got.numpy().tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="not a Tensor subclass"):
        at.serialization.register_tensor_subclass(int, _rebuild_tagged)


def test_other_protocols_and_file_positions(tmp_path):
    torch = _torch()
    obj = {"w": at.randn(2, 3), "meta": {"step": 5, "names": ["a", "b"]}}
    for proto in (2, 4, 5):
        buf = io.BytesIO()
        at.save(obj, buf, pickle_protocol=proto)
        for weights_only in (True, False):
            buf.seek(0)
            got = at.load(buf, weights_only=weights_only)
            assert got["meta"] == obj["meta"]
            assert got["w"].numpy().tobytes() == obj["w"].numpy().tobytes()
        buf.seek(0)  # torch's weights-only unpickler reads protocol 2 only (no FRAME opcode)
        assert torch.load(buf, weights_only=proto == 2)["meta"]["step"] == 5
    with pytest.raises(NotImplementedError, match="pickle_protocol"):
        at.save(obj, io.BytesIO(), pickle_protocol=1)


def test_storage_handed_to_map_location(tmp_path):
    torch = _torch()
    p = tmp_path / "m.pt"
    torch.save({"a": torch.ones(3), "b": torch.zeros(2, dtype=torch.int64)}, p)
    seen = []

    def where(storage, location):
        seen.append((location, storage.nbytes(), str(storage.device)))
        return storage.cpu()

    at.load(p, map_location=where)
    assert seen == [("cpu", 12, "cpu"), ("cpu", 16, "cpu")]
    with pytest.raises(RuntimeError, match="CPU only"):
        at.load(p, map_location=lambda s, loc: s.cuda())
    with pytest.raises(TypeError, match="map_location"):
        at.load(p, map_location=lambda s, loc: "cpu")


def test_bfloat16_views_keep_sharing_and_stay_small(tmp_path):
    torch = _torch()
    w = torch.randn(4, 4).bfloat16()
    big = torch.ones(1).bfloat16().expand(10**6, 10**6)  # one element, a huge broadcast view
    torch.save({"w": w, "t": w.t(), "big": big}, tmp_path / "b.pt")
    with pytest.warns(UserWarning, match="bfloat16"):
        out = at.load(tmp_path / "b.pt")
    assert np.shares_memory(out["w"].numpy(), out["t"].numpy())
    assert out["big"].shape == (10**6, 10**6) and out["big"].numpy().strides == (0, 0)
    assert out["t"].numpy().tobytes() == w.t().float().contiguous().numpy().tobytes()


# -- the interpreter agrees with pickle on plain data -------------------------------------------
try:  # hypothesis is optional: without it only this property test is skipped
    import hypothesis
    import hypothesis.strategies as st
except ImportError:
    hypothesis = None

if hypothesis is not None:
    _scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8),
        st.binary(max_size=8), st.floats(allow_nan=False), st.complex_numbers(allow_nan=False),
    )  # fmt: skip
    _keys = st.one_of(st.integers(-5, 5), st.text(max_size=4), st.tuples(st.integers(0, 3)))
    _plain = st.recursive(
        _scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(_keys, inner, max_size=4),
            st.builds(OrderedDict, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
            st.frozensets(st.integers(0, 9), max_size=3),
            st.sets(st.text(max_size=3), max_size=3),
        ),
        max_leaves=20,
    )

    @hypothesis.settings(max_examples=150, deadline=None)
    @hypothesis.given(obj=_plain, proto=st.sampled_from([2, 3, 4, 5]))
    def test_weights_only_interpreter_matches_pickle(obj, proto):
        """What Python's pickler writes for plain data (any protocol, with its memo), the
        weights-only interpreter rebuilds equal to `pickle.loads`, shared references
        included."""
        shared = [obj]
        data = pickle.dumps({"a": shared, "b": shared, "obj": obj}, protocol=proto)
        got = _load_pickle(data)
        assert got == pickle.loads(data)
        assert got["a"] is got["b"]

    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(
        shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
        data=st.data(),
    )
    def test_strided_views_both_ways(tmp_path_factory, shape, data):
        """A view made by slicing with steps and permuting keeps its storage, offset and
        strides through a file, in both directions, and equals torch's view."""
        torch = _torch()
        base = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
        index = tuple(
            slice(data.draw(st.integers(0, n - 1)), None, data.draw(st.integers(1, 3)))
            for n in shape
        )
        perm = data.draw(st.permutations(range(len(shape))))
        tv = torch.from_numpy(base.copy())[index].permute(*perm)
        av = at.from_numpy(base.copy())[index].permute(*perm)
        d = tmp_path_factory.mktemp("v")
        at.save({"v": av}, d / "a.pt")
        got = torch.load(d / "a.pt", weights_only=True)["v"]
        assert torch.equal(got, tv) and got.stride() == tv.stride()
        assert got.storage_offset() == tv.storage_offset()
        torch.save({"base": tv._base if tv._base is not None else tv, "v": tv}, d / "t.pt")
        out = at.load(d / "t.pt")
        assert out["v"].numpy().tolist() == tv.tolist()
        assert np.shares_memory(out["v"].numpy(), out["base"].numpy())

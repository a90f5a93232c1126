"""nn.save / nn.load: round trips, and hostile or damaged files that must fail cleanly without
running any code."""

from __future__ import annotations

import io
import json
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import autotensor as at
import nn
from nn.serialization import SerializationError


def _same(a, b):
    if isinstance(a, at.Tensor):
        assert isinstance(b, at.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in a:
            assert type(k) is type(next(x for x in b if x == k))
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert type(a) is type(b) and a == b


def test_roundtrip_nested(tmp_path):
    obj = {
        "w": at.randn(3, 4),
        "w64": at.randn(2, dtype=at.float64),
        "p": at.randn(2, requires_grad=True),
        "idx": at.tensor([1, 2, 3]),
        "mask": at.tensor([True, False]),
        "scalar": at.tensor(2.5),
        "arr": np.arange(6, dtype=np.int16).reshape(2, 3),
        "np_scalars": [np.int64(3), np.float32(0.5), np.bool_(True)],
        "ints": {0: 1, 1: -2, -5: 7},
        "mixed_keys": {1.5: "a", True: "b", None: "c"},
        "floats": [1.0, math.inf, -math.inf, math.nan, 1e-300],
        "tuple": (0.9, 0.999),
        "od": OrderedDict([("b", 1), ("a", 2)]),
        "none": None,
        "text": 'héllo "quoted"',
        "flags": [True, False],
        "empty": [{}, [], ()],
    }
    nn.save(obj, tmp_path / "x.npz")
    _same(obj, nn.load(tmp_path / "x.npz"))


def test_exact_path_and_file_objects(tmp_path):
    nn.save({"a": at.ones(2)}, tmp_path / "model.pt")
    assert (tmp_path / "model.pt").is_file() and not (tmp_path / "model.pt.npz").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "model.pt"]  # no temporary left behind
    buf = io.BytesIO()
    nn.save([at.arange(3)], buf)
    buf.seek(0)
    _same([at.arange(3)], nn.load(buf))
    with np.load(tmp_path / "model.pt", allow_pickle=False) as z:  # plain numpy can read it
        assert "__structure__" in z.files


def test_model_state_dict_roundtrip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    nn.save(model.state_dict(), tmp_path / "m.npz")
    fresh = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    fresh.load_state_dict(nn.load(tmp_path / "m.npz"))
    x = at.randn(5, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def test_unsupported_objects_refused_at_save(tmp_path):
    with pytest.raises(TypeError, match="cannot save .* of type function"):
        nn.save({"f": lambda: 0}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="dtype object"):
        nn.save({"o": np.array([object()])}, tmp_path / "b.npz")
    with pytest.raises(TypeError, match="state_dict"):
        nn.save(nn.Linear(2, 2), tmp_path / "c.npz")
    with pytest.raises(TypeError, match="dict keys"):
        nn.save({(1, 2): 3}, tmp_path / "d.npz")


# -- hostile files -------------------------------------------------------------------------------
class _Evil:
    """Unpickling this object creates the file at `marker` (a harmless stand-in for any code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"state": _Evil(marker)}))
    pickle.loads((tmp_path / "evil.pt").read_bytes())["state"].close()  # the payload works ...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(SerializationError, match="pickle"):  # ... but nn.load never runs it
        nn.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_object_array_in_npz_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _Evil(marker)
    good = {"root": {"t": "ndarray", "k": "a0"}, "format": "autotensor.nn.save", "version": 1}
    struct = np.frombuffer(json.dumps(good).encode(), np.uint8)
    np.savez(tmp_path / "evil.npz", __structure__=struct, a0=payload)  # pickles the object
    with pytest.raises(SerializationError, match="pickle"):
        nn.load(tmp_path / "evil.npz")
    assert not marker.exists()
    np.save(tmp_path / "evil.npy", payload, allow_pickle=True)
    with pytest.raises(SerializationError):
        nn.load(tmp_path / "evil.npy")
    assert not marker.exists()


def test_truncated_files(tmp_path):
    nn.save({"w": at.randn(50, 40), "b": at.randn(40), "meta": {"epoch": 3}}, tmp_path / "ok")
    raw = (tmp_path / "ok").read_bytes()
    for cut in [0, 1, 10, 100, len(raw) // 3, len(raw) // 2, len(raw) - 30, len(raw) - 1]:
        (tmp_path / "t").write_bytes(raw[:cut])
        with pytest.raises(SerializationError, match="truncated|corrupt|not"):
            nn.load(tmp_path / "t")


def test_corrupted_bytes(tmp_path):
    nn.save({"w": at.randn(100)}, tmp_path / "ok")
    raw = bytearray((tmp_path / "ok").read_bytes())
    for pos in [len(raw) // 4, len(raw) // 2]:  # inside the stored arrays: the CRC catches it
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        (tmp_path / "c").write_bytes(bytes(bad))
        with pytest.raises(SerializationError):
            nn.load(tmp_path / "c")
    (tmp_path / "g").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(SerializationError):
        nn.load(tmp_path / "g")


def test_foreign_or_malformed_archives(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(SerializationError, match="not one written by nn.save"):
        nn.load(tmp_path / "plain.npz")

    def archive(structure, **arrays):
        s = np.frombuffer(json.dumps(structure).encode(), np.uint8)
        np.savez(tmp_path / "m.npz", __structure__=s, **arrays)
        return tmp_path / "m.npz"

    base = {"format": "autotensor.nn.save", "version": 1}
    with pytest.raises(SerializationError, match="missing array"):
        nn.load(archive({**base, "root": {"t": "tensor", "k": "a7"}}))
    with pytest.raises(SerializationError, match="unknown entry type"):
        nn.load(archive({**base, "root": {"t": "module", "v": []}}))
    with pytest.raises(SerializationError, match="malformed dict key"):
        nn.load(archive({**base, "root": {"t": "dict", "v": [[["obj", 1], 2]]}}))
    with pytest.raises(SerializationError, match="format version"):
        nn.load(archive({**base, "version": 99, "root": None}))
    with pytest.raises(SerializationError, match="not written by nn.save"):
        nn.load(archive({"root": None}))
    s = np.frombuffer(b"{not json", np.uint8)
    np.savez(tmp_path / "j.npz", __structure__=s)
    with pytest.raises(SerializationError, match="damaged structure"):
        nn.load(tmp_path / "j.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "absent.npz")

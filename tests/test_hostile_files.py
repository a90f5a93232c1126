"""Hostile and damaged files: every loader refuses them quickly, in bounded memory, by name.

Each case hands a loader a file built to hurt it -- a pickle whose unpickling would write a
marker file (REDUCE of `open` or `os.system`), zip members named outside the archive, a zip
bomb, a header declaring 2**60 bytes, truncations and bit flips of valid files, a FIFO, a
directory, `/dev/zero` behind a symlink, nesting a hundred thousand levels deep -- and asserts
that loading raises an `autotensor.serialization.LoadError` (the precise subclass where one
fits) within 1 s, with under 100 MB of extra memory (tracemalloc's peak, and the process's
resident size sampled while it runs), and that the marker file never appears.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import signal
import struct
import sys
import threading
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

import autotensor as at
import nn
from autotensor.serialization import (
    CorruptFileError,
    FileTooLargeError,
    LoadError,
    NotARegularFileError,
    UnsafeContentError,
    load_safetensors,
    save_safetensors,
)
from nn.data.idx import load_idx
from nn.data.tabular import load_csv
from nn.data.text import CharCorpus

SECONDS = 1.0
EXTRA_BYTES = 100 * 1024**2
GIB = 1024**3


# -- measuring ---------------------------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _rss_peak() -> Iterator[list[int]]:
    """Sample the resident size every millisecond while the block runs; yields [peak delta]."""
    base = _rss()
    out = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            out[0] = max(out[0], _rss() - base)
            done.wait(0.001)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        yield out
    finally:
        done.set()
        t.join()
        out[0] = max(out[0], _rss() - base)


@pytest.fixture(autouse=True)
def _alarm() -> Iterator[None]:
    """A loader that blocks (on a FIFO, say) is interrupted after 10 s instead of hanging."""

    def fire(signum: int, frame: Any) -> None:
        raise TimeoutError("the loader blocked")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def refused(
    call: Callable[[], Any], exc: type[BaseException] = LoadError, match: str | None = None
) -> str:
    """Run `call` twice and assert it raises `exc` (a LoadError) both times: timed, with the
    resident size sampled, then under tracemalloc (which slows Python code down, so it is not
    timed). Returns the message."""
    assert issubclass(exc, LoadError)
    with _rss_peak() as rss:
        t0 = time.perf_counter()
        with pytest.raises(exc, match=match) as info:
            call()
        took = time.perf_counter() - t0
    tracemalloc.start()
    try:
        with pytest.raises(exc, match=match):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert took < SECONDS, f"refusal took {took:.2f} s"
    assert peak < EXTRA_BYTES, f"refusal allocated {peak / 2**20:.0f} MiB (tracemalloc)"
    assert rss[0] < EXTRA_BYTES, f"resident size grew {rss[0] / 2**20:.0f} MiB"
    return str(info.value)


# -- building files ----------------------------------------------------------------------------
def raw_zip(members: list[tuple[str, bytes, dict]]) -> bytes:
    """A zip archive written byte by byte, so that names, declared sizes, CRCs and compression
    can be anything: each member is (name, stored bytes, overrides of method/crc/size/csize)."""
    out = io.BytesIO()
    central = []
    for name, data, o in members:
        fn = name.encode()
        method = o.get("method", 0)
        crc = o.get("crc", zlib.crc32(data) if method == 0 else 0)
        size = o.get("size", len(data))
        csize = o.get("csize", len(data))
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, csize, size,
                              len(fn), 0) + fn + data)  # fmt: skip
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                   0, crc, csize, size, len(fn), 0, 0, 0, 0, 0, offset)
                       + fn)  # fmt: skip
    cd_start = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size,
                          cd_start, 0))  # fmt: skip
    return out.getvalue()


def deflated(head: bytes, total: int, fill: bytes = b"\0") -> bytes:
    """A raw deflate stream of `head` padded with `fill` to `total` bytes, made quickly: one
    16 MiB segment compressed and ended with a full flush (byte-aligned, no back references),
    repeated, then an empty final block."""
    seg_len = 1 << 24
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head + fill * (seg_len - len(head))) + c.flush(zlib.Z_FULL_FLUSH)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    rest = c.compress(fill * seg_len) + c.flush(zlib.Z_FULL_FLUSH)
    return first + rest * (total // seg_len - 1) + b"\x03\x00"


def gzip_of(deflate: bytes, size: int) -> bytes:
    """A gzip file around a raw deflate stream (the trailer's CRC is never reached)."""
    return b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + deflate + struct.pack("<II", 0, size % 2**32)


def npy_bytes(
    arr: np.ndarray | None = None, header: dict | None = None, body: bytes = b""
) -> bytes:
    bio = io.BytesIO()
    if arr is not None:
        np.save(bio, arr, allow_pickle=True)
        return bio.getvalue()
    np.lib.format.write_array_header_1_0(bio, header)
    return bio.getvalue() + body


def structure(root: Any) -> bytes:
    meta = {"format": "autotensor.nn.save", "version": 1, "root": root}
    return npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))


class _Open:
    """Unpickling this calls open(marker, 'w'): the file appearing means code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


class _System:
    """Unpickling this runs a shell command that creates the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


PAYLOADS = {"open": _Open, "os.system": _System}


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    m = tmp_path / "pwned"
    yield m
    assert not m.exists(), "a payload ran: the marker file exists"


def _works(payload: bytes, marker: Path) -> None:
    """The payload is live: plain pickle.loads does create the marker (then it is removed)."""
    obj = pickle.loads(payload)
    if hasattr(obj, "close"):
        obj.close()
    assert marker.exists()
    marker.unlink()


def pt_with(tmp_path: Path, data_pkl: bytes | None = None, extra: list | None = None) -> Path:
    """A file `at.save` wrote, with its data.pkl replaced and/or members added."""
    good = tmp_path / "good.pt"
    at.save({"w": at.ones(3)}, good)
    with zipfile.ZipFile(good) as zf:
        members = [(i.filename, zf.read(i), {}) for i in zf.infolist()]
    if data_pkl is not None:
        members = [(n, data_pkl if n.endswith("/data.pkl") else d, o) for n, d, o in members]
    path = tmp_path / "evil.pt"
    path.write_bytes(raw_zip(members + (extra or [])))
    return path


# -- pickles with a payload --------------------------------------------------------------------
@pytest.mark.parametrize("kind", PAYLOADS)
def test_pickle_payload_in_pt_zip(tmp_path, marker, kind):
    payload = pickle.dumps({"w": PAYLOADS[kind](marker)}, protocol=2)
    _works(payload, marker)
    path = pt_with(tmp_path, data_pkl=payload)
    msg = refused(lambda: at.load(path), UnsafeContentError)
    assert ("open" in msg) if kind == "open" else ("system" in msg)  # names the global it met
    refused(lambda: at.load(path, weights_only=True), UnsafeContentError)
    refused(lambda: nn.load(path), UnsafeContentError)  # nn.load hands .pt files to at.load


@pytest.mark.parametrize("kind", PAYLOADS)
def test_bare_pickle_file(tmp_path, marker, kind):
    payload = pickle.dumps(PAYLOADS[kind](marker), protocol=2)
    _works(payload, marker)
    path = tmp_path / "legacy.pt"
    path.write_bytes(payload)
    refused(lambda: at.load(path))
    refused(lambda: nn.load(path), UnsafeContentError, "pickle")


@pytest.mark.parametrize("kind", PAYLOADS)
def test_object_npy_member_in_npz(tmp_path, marker, kind):
    arr = np.empty(1, dtype=object)
    arr[0] = PAYLOADS[kind](marker)
    path = tmp_path / "evil.npz"
    root = {"t": "ndarray", "k": "a0"}
    path.write_bytes(raw_zip([("__structure__.npy", structure(root), {}),
                              ("a0.npy", npy_bytes(arr), {})]))  # fmt: skip
    refused(lambda: nn.load(path), UnsafeContentError, "object array")


@pytest.mark.parametrize("kind", PAYLOADS)
def test_raw_pickle_as_npy_member(tmp_path, marker, kind):
    payload = pickle.dumps(PAYLOADS[kind](marker), protocol=2)
    _works(payload, marker)
    path = tmp_path / "evil.npz"
    path.write_bytes(raw_zip([("__structure__.npy", structure(None), {}), ("a0.npy", payload, {})]))
    refused(lambda: nn.load(path), UnsafeContentError, "pickle")
    single = tmp_path / "evil.npy"
    single.write_bytes(npy_bytes(np.array([PAYLOADS[kind](marker)], dtype=object)))
    refused(lambda: nn.load(single))


# -- zip member names --------------------------------------------------------------------------
SLIP = ["../evil.npy", "/abs/evil.npy", "a/../../evil.npy", "a\\..\\evil.npy", "C:/evil.npy"]


@pytest.mark.parametrize("name", SLIP)
def test_zip_slip_names_npz(tmp_path, name):
    path = tmp_path / "slip.npz"
    path.write_bytes(raw_zip([("__structure__.npy", structure(None), {}),
                              (name, npy_bytes(np.zeros(2)), {})]))  # fmt: skip
    refused(lambda: nn.load(path), UnsafeContentError, "outside the archive")
    assert not (tmp_path.parent / "evil.npy").exists()


@pytest.mark.parametrize("name", ["archive/../../evil", "/archive/data/9"])
def test_zip_slip_names_pt(tmp_path, name):
    path = pt_with(tmp_path, extra=[(name, b"x" * 8, {})])
    refused(lambda: at.load(path), UnsafeContentError)


def test_duplicate_member_names(tmp_path):
    path = tmp_path / "dup.npz"
    twice = structure({"t": "list", "v": []})
    path.write_bytes(raw_zip([("__structure__.npy", structure(None), {}),
                              ("__structure__.npy", twice, {})]))  # fmt: skip
    refused(lambda: nn.load(path), UnsafeContentError, "twice")


# -- zip bombs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gib_of_zeros() -> tuple[bytes, int, int]:
    """1 GiB: a .npy header claiming the rest, then zeros; deflated to about 300 KB."""
    head = npy_bytes(header={"descr": "|u1", "fortran_order": False, "shape": (GIB - 128,)})
    assert len(head) == 128
    data = deflated(head, GIB)
    assert zlib.decompressobj(-15).decompress(data[: 1 << 16], 200) == head + bytes(72)
    return data, GIB, 0


def test_zip_bomb_npz(tmp_path, gib_of_zeros):
    data, size, crc = gib_of_zeros
    assert size >= GIB and len(data) < 2 * 1024**2
    path = tmp_path / "bomb.npz"
    path.write_bytes(raw_zip([("__structure__.npy", structure({"t": "ndarray", "k": "a0"}), {}),
                              ("a0.npy", data, {"method": 8, "crc": crc, "size": size,
                                                "csize": len(data)})]))  # fmt: skip
    refused(lambda: nn.load(path), FileTooLargeError, "zip bomb")


def test_zip_bomb_that_lies_about_its_size(tmp_path, gib_of_zeros):
    """The declared size is small; the read stops at it and the mismatch is caught."""
    data, _, crc = gib_of_zeros
    path = tmp_path / "liar.npz"
    path.write_bytes(raw_zip([("__structure__.npy", structure(None), {}),
                              ("a0.npy", data, {"method": 8, "crc": crc, "size": 4096,
                                                "csize": len(data)})]))  # fmt: skip
    refused(lambda: nn.load(path), CorruptFileError)


def test_zip_bomb_pt(tmp_path, gib_of_zeros):
    data, size, crc = gib_of_zeros
    good = tmp_path / "good.pt"
    at.save({"w": at.ones(3)}, good)
    with zipfile.ZipFile(good) as zf:
        members = [(i.filename, zf.read(i), {}) for i in zf.infolist()]
    members = [
        (n, data, {"method": 8, "crc": crc, "size": size, "csize": len(data)})
        if n.endswith("/data/0")
        else (n, d, o)
        for n, d, o in members
    ]
    path = tmp_path / "bomb.pt"
    path.write_bytes(raw_zip(members))
    refused(lambda: at.load(path), FileTooLargeError)


def test_gzip_bomb_idx_and_csv(tmp_path):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    head = b"\0\0\x08\x01" + struct.pack(">I", GIB - 8)
    path.write_bytes(gzip_of(deflated(head, GIB), GIB))
    refused(lambda: load_idx(path), FileTooLargeError)
    small = tmp_path / "lie-idx1-ubyte.gz"  # declares 10 bytes, holds 1 GiB
    small.write_bytes(gzip_of(deflated(b"\0\0\x08\x01" + struct.pack(">I", 10), GIB), GIB))
    refused(lambda: load_idx(small), CorruptFileError, "holds more")
    csv = tmp_path / "bomb.csv.gz"
    csv.write_bytes(gzip_of(deflated(b"1", GIB, b"1"), GIB))
    refused(lambda: load_csv(csv), FileTooLargeError)


# -- huge declared sizes -----------------------------------------------------------------------
def test_safetensors_header_length_2_to_60(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + b'{"a":1}')
    refused(lambda: load_safetensors(path), CorruptFileError, "declares")
    refused(lambda: nn.load(path), CorruptFileError)
    refused(lambda: at.load(path), CorruptFileError)


def _st_file(tmp_path: Path, header: dict, body: bytes = b"") -> Path:
    text = json.dumps(header).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


HEADERS = {
    "shape_2_60": ({"w": {"dtype": "F32", "shape": [2**60], "data_offsets": [0, 8]}}, 8),
    "offsets_past_end": ({"w": {"dtype": "F32", "shape": [2**28], "data_offsets": [0, 2**30]}}, 8),
    "negative": ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8),
    "overlap": (
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        },
        12,
    ),
    "many_dims": ({"w": {"dtype": "F32", "shape": [2**60] * 5000, "data_offsets": [0, 8]}}, 8),
    "long_name": ({"w" * 100_000: {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8),
    "unknown_dtype": ({"w": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}}, 8),
    "bad_metadata": ({"__metadata__": {"a": [1]}}, 0),
    "not_object": ([1, 2], 0),
}


@pytest.mark.parametrize("case", HEADERS)
def test_safetensors_lying_headers(tmp_path, case):
    header, n = HEADERS[case]
    path = _st_file(tmp_path, header, bytes(n))  # type: ignore[arg-type]
    msg = refused(lambda: load_safetensors(path), CorruptFileError)
    assert len(msg) < 500  # what the file chose is cut short in the message


def test_npy_member_declaring_a_huge_shape(tmp_path):
    path = tmp_path / "huge.npz"
    member = npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": (2**40, 2**20)})
    path.write_bytes(raw_zip([("__structure__.npy", structure({"t": "ndarray", "k": "a0"}), {}),
                              ("a0.npy", member + bytes(64), {})]))  # fmt: skip
    refused(lambda: nn.load(path), CorruptFileError, "declares shape")


def test_idx_declaring_a_huge_shape(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(b"\0\0\x0d\x03" + struct.pack(">III", 2**31, 2**31, 2**31) + bytes(100))
    refused(lambda: load_idx(path), CorruptFileError, "header says shape")


def test_zip_member_declared_past_the_file(tmp_path):
    path = tmp_path / "short.npz"
    data = npy_bytes(np.zeros(4))
    path.write_bytes(raw_zip([("a0.npy", data, {"csize": 2**31, "size": 2**31})]))
    refused(lambda: nn.load(path), LoadError)


# -- truncations and bit flips -----------------------------------------------------------------
def _valid(fmt: str, tmp_path: Path) -> tuple[Path, Callable[[Path], Any]]:
    sd = {"w": at.randn(20, 30), "b": at.randn(30), "n": at.tensor(7)}
    if fmt == "npz":
        p = tmp_path / "v.npz"
        nn.save({"model": sd, "epoch": 3, "opt": [{"lr": 0.1}]}, p)
        return p, nn.load
    if fmt == "safetensors":
        p = tmp_path / "v.safetensors"
        save_safetensors(sd, p, metadata={"k": "v"})
        return p, load_safetensors
    if fmt == "pt":
        p = tmp_path / "v.pt"
        at.save(sd, p)
        return p, at.load
    if fmt == "idx":
        p = tmp_path / "v-idx3-ubyte"
        arr = np.arange(600, dtype=np.uint8).reshape(6, 10, 10)
        p.write_bytes(b"\0\0\x08\x03" + struct.pack(">III", 6, 10, 10) + arr.tobytes())
        return p, load_idx
    p = tmp_path / "v-idx3-ubyte.gz"
    arr = np.arange(600, dtype=np.uint8).reshape(6, 10, 10)
    p.write_bytes(gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", 6, 10, 10) + arr.tobytes()))
    return p, load_idx


FORMATS = ["npz", "safetensors", "pt", "idx", "idx.gz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncations(tmp_path, fmt):
    path, load = _valid(fmt, tmp_path)
    raw = path.read_bytes()
    load(path)  # the intact file loads
    n = len(raw)
    cuts = sorted({0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 30, 64, 100, n // 5, n // 3, n // 2,
                   2 * n // 3, n - 100, n - 22, n - 8, n - 2, n - 1} & set(range(n)))  # fmt: skip
    cut_path = tmp_path / ("cut" + path.name)
    for cut in cuts:
        cut_path.write_bytes(raw[:cut])
        refused(lambda: load(cut_path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_bit_flips(tmp_path, fmt):
    """A flipped bit either goes unnoticed (inside raw tensor data, which safetensors and IDX do
    not checksum) or is refused as a LoadError -- never another exception, never a hang."""
    path, load = _valid(fmt, tmp_path)
    raw = path.read_bytes()
    rng = np.random.default_rng(0)
    positions = sorted(set(rng.integers(0, len(raw), 40).tolist()) | {0, 2, 8, 9, len(raw) - 3})
    flip_path = tmp_path / ("flip" + path.name)
    refusals = 0
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        flip_path.write_bytes(bytes(bad))
        t0 = time.perf_counter()
        try:
            load(flip_path)
        except LoadError:
            refusals += 1
        took = time.perf_counter() - t0
        tracemalloc.start()
        try:
            with contextlib.suppress(LoadError):
                load(flip_path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert took < SECONDS and peak < EXTRA_BYTES, (pos, took, peak)
    assert refusals >= 3, f"only {refusals} of {len(positions)} flips were noticed"


# -- not regular files -------------------------------------------------------------------------
LOADERS: dict[str, Callable[[Path], Any]] = {
    "nn.load": nn.load,
    "at.load": at.load,
    "load_safetensors": load_safetensors,
    "load_idx": load_idx,
    "load_csv": load_csv,
    "CharCorpus": lambda p: CharCorpus(p),
}


def _special(kind: str, tmp_path: Path) -> Path:
    if kind == "fifo":
        p = tmp_path / "fifo"
        os.mkfifo(p)
        return p
    if kind == "directory":
        p = tmp_path / "dir.pt"
        p.mkdir()
        return p
    p = tmp_path / "zero.safetensors"
    p.symlink_to("/dev/zero")
    return p


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", ["fifo", "directory", "dev_zero_symlink"])
@pytest.mark.parametrize("loader", LOADERS)
def test_not_a_regular_file(tmp_path, kind, loader):
    path = _special(kind, tmp_path)
    words = {"fifo": "FIFO", "directory": "directory", "dev_zero_symlink": "character device"}
    refused(lambda: LOADERS[loader](path), NotARegularFileError, words[kind])


def test_open_file_objects_are_checked(tmp_path):
    with open("/dev/zero", "rb") as fh:
        refused(lambda: nn.load(fh), NotARegularFileError)
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb") as fh:
            refused(lambda: load_safetensors(fh), NotARegularFileError, "FIFO")
    finally:
        os.close(w)


# -- deep nesting ------------------------------------------------------------------------------
DEPTH = 100_000


def test_deep_json_structure_entry(tmp_path):
    text = (
        b'{"format":"autotensor.nn.save","version":1,"root":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    )
    path = tmp_path / "deep.npz"
    path.write_bytes(raw_zip([("__structure__.npy", npy_bytes(np.frombuffer(text, np.uint8)), {})]))
    refused(lambda: nn.load(path), CorruptFileError, "levels deep")
    nested = {"t": "list", "v": []}  # deep but valid: tagged lists of lists, 150 levels
    for _ in range(150):
        nested = {"t": "list", "v": [nested]}
    path.write_bytes(raw_zip([("__structure__.npy", structure(nested), {})]))
    refused(lambda: nn.load(path), CorruptFileError, "levels deep")


def test_deep_json_safetensors_header(tmp_path):
    text = b'{"__metadata__":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    refused(lambda: load_safetensors(path), CorruptFileError, "levels deep")


def test_deep_pickle_in_pt(tmp_path):
    """EMPTY_LIST x N, APPEND x N-1: a list nested a hundred thousand levels, which the
    unpickler builds iteratively but any recursive walk over the result would overflow."""
    deep = b"\x80\x02" + b"]" * DEPTH + b"a" * (DEPTH - 1) + b"."
    path = pt_with(tmp_path, data_pkl=deep)
    refused(lambda: at.load(path))


def test_nn_save_refuses_what_nn_load_would_refuse(tmp_path):
    nested: Any = at.ones(1)
    for _ in range(150):
        nested = [nested]
    with pytest.raises(ValueError, match="nests too deeply"):
        nn.save(nested, tmp_path / "deep.npz")
    assert not (tmp_path / "deep.npz").exists()


def test_the_measurements_can_fail(monkeypatch):
    """`refused` itself notices a refusal that is slow or allocates too much."""

    def hungry() -> None:
        block = np.ones(EXTRA_BYTES // 8 + 2**20)  # touched, so resident too
        raise LoadError(f"after {block.nbytes} bytes")

    with pytest.raises(AssertionError, match="MiB"):
        refused(hungry)
    monkeypatch.setattr(sys.modules[__name__], "SECONDS", 0.01)

    def slow() -> None:
        time.sleep(0.05)
        raise LoadError("late")

    with pytest.raises(AssertionError, match="took"):
        refused(slow)
    with pytest.raises(FileNotFoundError):  # another error class is not taken for a refusal
        refused(lambda: nn.load(Path("/nonexistent/dir/x")), UnsafeContentError)


# -- the limit and the helpers -----------------------------------------------------------------
def test_load_limit_settings(tmp_path):
    s = at.serialization
    assert s.get_load_limit() == s.DEFAULT_MAX_BYTES == 4 * GIB
    assert s.get_max_expansion() == s.DEFAULT_MAX_EXPANSION
    path = tmp_path / "w.safetensors"
    save_safetensors({"w": at.zeros(256)}, path)  # 1024 bytes of data
    with s.load_limit(1000):
        assert s.get_load_limit() == 1000
        refused(lambda: nn.load(path), FileTooLargeError, "1000 bytes")
        assert nn.load(path, max_bytes=1024)["w"].shape == (256,)  # the keyword wins
    assert s.get_load_limit() == s.DEFAULT_MAX_BYTES  # restored on leaving the block
    try:
        s.set_load_limit(1000, max_expansion=2)
        assert (s.get_load_limit(), s.get_max_expansion()) == (1000, 2)
        refused(lambda: load_safetensors(path), FileTooLargeError)
    finally:
        s.set_load_limit(None)
    assert (s.get_load_limit(), s.get_max_expansion()) == (4 * GIB, s.DEFAULT_MAX_EXPANSION)
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(TypeError, match="load limit"):
            s.set_load_limit(bad)  # type: ignore[arg-type]


def test_expansion_cap_lets_real_compressed_data_through(tmp_path):
    """A gzip-compressed IDX file of real-looking data (ratio ~2) and a mostly-zero one under
    16 MiB both load; the cap is proportional to the compressed size beyond that."""
    s = at.serialization
    assert s.expansion_cap(10) == s.SMALL_EXPANSION_BYTES
    assert s.expansion_cap(10 * 2**20) == 32 * 10 * 2**20
    assert s.expansion_cap(10 * 2**20, limit=1000) == 1000
    rng = np.random.default_rng(0)
    arr = (rng.random((200, 28, 28)) * 4).astype(np.uint8)
    p = tmp_path / "x-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", *arr.shape) + arr.tobytes()))
    assert np.array_equal(load_idx(p), arr)
    zeros = np.zeros((4000, 28, 28), np.uint8)  # 3 MiB of zeros: a 1000x ratio, but small
    p.write_bytes(
        gzip.compress(b"\0\0\x08\x03" + struct.pack(">III", *zeros.shape) + zeros.tobytes())
    )
    assert load_idx(p).shape == zeros.shape


class _Stream:
    """A readable stream that cannot seek (a socket's makefile(), a pipe wrapper)."""

    def read(self, n: int = -1) -> bytes:
        return b""

    def seekable(self) -> bool:
        return False


def test_open_regular_and_the_error_family(tmp_path):
    s = at.serialization
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    with s.regular_file(p) as fh:
        assert fh.read() == b"abc" and os.get_blocking(fh.fileno())  # plain blocking reads
    assert fh.closed  # it opened the file, so it closed it
    with open(p, "rb") as mine:
        with s.regular_file(mine) as fh:
            assert fh is mine
        assert not mine.closed  # a caller's file object stays open
    with pytest.raises(LoadError, match="seekable"):
        s.open_regular(_Stream())  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "absent.npz")
    err = s.MissingFileError("no such file", "'x'")
    assert isinstance(err, LoadError) and isinstance(err, FileNotFoundError)
    assert isinstance(s.CorruptFileError("r"), ValueError)
    assert nn.SerializationError is LoadError
    e = s.CorruptFileError("the header is damaged", "'m.pt'")
    assert (e.file, e.reason, str(e)) == ("'m.pt'", "the header is damaged",
                                          "cannot load 'm.pt': the header is damaged")  # fmt: skip


# -- weights-only pickles built to cost time or to reach odd code ------------------------------
def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _int(v: int) -> bytes:
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


_BIG_LIST = b"(" + b"K\x00" * 100_000 + b"l\x94(" + b"h\x00" * 100_000 + b"l"  # 10**10 to print
_SHARED = b"(" + b"K\x01" * 300 + b"t\x94" + b"".join(b"(" + (b"h" + bytes([d])) * 300 + b"t\x94"
                                                      for d in range(4))  # fmt: skip
_STORAGE = b"(X\x07\x00\x00\x00storage" + _g("torch", "FloatStorage") + b"X\x01\x00\x00\x000"
_TENSOR = (_g("torch._utils", "_rebuild_tensor_v2") + b"(" + _STORAGE
           + b"X\x03\x00\x00\x00cpuK\x03tQ"
           + b"K\x00(K\x03t(K\x01t\x89" + _g("collections", "OrderedDict") + b")RtR")  # fmt: skip
PICKLES = {
    # a message quoting a value must not print it whole
    "repr_bomb_persistent_id": _BIG_LIST + b"Q",
    # tuples of 300 references to tuples of 300 references ...: hashing visits 300**5 items
    "hash_bomb_frozenset": _SHARED + b"\x8f(h\x04\x91",
    "hash_bomb_set_reduce": _g("builtins", "set") + _SHARED + b"(h\x04l\x85R",
    # ints equal modulo 2**61 - 1 share a hash: each insertion would scan all the others
    "hash_collisions_dict": b"}("
    + b"".join(_int(k * (2**61 - 1)) + b"N" for k in range(1, 20000))
    + b"u",
    "hash_collisions_ordereddict": _g("collections", "OrderedDict")
    + b"(("
    + b"".join(b"(" + _int(k * (2**61 - 1)) + b"Nt" for k in range(1, 20000))
    + b"ltR",  # fmt: skip
    # a storage reference whose first entry is a tensor (its == is elementwise)
    "persistent_id_of_a_tensor": b"(" + _TENSOR + b"NNNNtQ",
    "device_ordinal": _g("torch", "device") + b"(K\x05tR",
    "metadata_not_a_dict": _g("collections", "OrderedDict") + b")R}X\t\x00\x00\x00_metadataK\x05sb",
}


@pytest.mark.parametrize("case", PICKLES)
def test_weights_only_pickles_that_cost_time_or_reach_odd_code(tmp_path, case):
    path = pt_with(tmp_path, data_pkl=b"\x80\x02" + PICKLES[case] + b".")
    msg = refused(lambda: at.load(path))
    assert len(msg) < 1100


# -- file objects and paths that are not what they claim ---------------------------------------
def _closed(p: Path) -> IO[bytes]:
    fh = open(p, "rb")
    fh.close()
    return fh


FILE_OBJECTS = {
    "text_mode": lambda p: open(p),
    "write_only": lambda p: open(p, "ab"),
    "closed": lambda p: _closed(p),
    "string_io": lambda p: io.StringIO("PK\x03\x04 not bytes"),
}


@pytest.mark.parametrize("kind", FILE_OBJECTS)
@pytest.mark.parametrize("loader", ["at.load", "nn.load", "load_safetensors"])
def test_file_objects_that_cannot_be_read_as_bytes(tmp_path, kind, loader):
    path = tmp_path / "w.pt"
    at.save({"w": at.ones(3)}, path)
    fh = FILE_OBJECTS[kind](path)
    try:
        refused(lambda: LOADERS[loader](fh))
    finally:
        fh.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs procfs")
@pytest.mark.parametrize("pseudo", ["/proc/self/mem", "/proc/self/maps"])
@pytest.mark.parametrize("loader", LOADERS)
def test_procfs_pseudo_files(pseudo, loader):
    refused(lambda: LOADERS[loader](Path(pseudo)), NotARegularFileError, "pseudo-file")


# -- malformed content: a named error, never numpy's or json's own ------------------------------
def _npz_member(header: dict, body: bytes, root: Any = None) -> bytes:
    root = root if root is not None else {"t": "tensor", "k": "a0"}
    return raw_zip([("__structure__.npy", structure(root), {}),
                    ("a0.npy", npy_bytes(header=header) + body, {})])  # fmt: skip


_F4 = {"descr": "<f4", "fortran_order": False, "shape": (2,)}
_ENTRY = b'{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
MALFORMED: dict[str, tuple[str, bytes, Callable[[Path], Any]]] = {
    "safetensors_dtype_list": (
        ".safetensors",
        struct.pack("<Q", 50)
        + b'{"a":{"dtype":["F32"],"shape":[2],"data_offsets":[0,8]}}'[:50]
        + bytes(8),
        load_safetensors,
    ),  # fmt: skip
    "safetensors_duplicate_key": (
        ".safetensors",
        struct.pack("<Q", 2 * len(_ENTRY) + 11)
        + b'{"a":'
        + _ENTRY
        + b',"a":'
        + _ENTRY
        + b"}"
        + bytes(8),
        load_safetensors,
    ),  # fmt: skip
    "safetensors_20000_digit_offset": (
        ".safetensors",
        struct.pack("<Q", 20044)
        + b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,'
        + b"9" * 19990
        + b"]}}",
        load_safetensors,
    ),  # fmt: skip
    "npy_negative_shape": (".npz", _npz_member({**_F4, "shape": (-1, -1)}, bytes(4)), nn.load),
    "npy_long_double": (".npz", _npz_member({**_F4, "descr": "<f16"}, bytes(32)), nn.load),
    "structure_float_key_text": (
        ".npz",
        _npz_member(_F4, bytes(8), {"t": "dict", "v": [[["float", "abc"], 1]]}),
        nn.load,
    ),  # fmt: skip
    "idx_255_dims": ("-idx1-ubyte", b"\0\0\x08\xff" + b"\0\0\0\x01" * 255 + b"x", load_idx),
    "csv_ragged": (".csv", b"1,2\n3\n", load_csv),
    "csv_non_numeric": (".csv", b"a,b\n1,x\n", load_csv),
    "csv_no_rows": (".csv", b"\n\n", load_csv),
    "text_empty": (".txt", b"", lambda p: CharCorpus(p)),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_content_is_a_corrupt_file_error(tmp_path, case):
    suffix, data, load = MALFORMED[case]
    path = tmp_path / ("m" + suffix)
    path.write_bytes(data)
    exc = LoadError if case.startswith("structure") else CorruptFileError  # nn.load's own check
    msg = refused(lambda: load(path), exc)
    assert str(path) in msg and len(msg) < 1100


def test_mnist_directory_errors_are_load_errors(tmp_path):
    from nn.data.idx import MNIST

    refused(lambda: MNIST(tmp_path / "absent"), at.serialization.MissingFileError)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x02ab")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01\0\0\0\x02ab")
    refused(lambda: MNIST(tmp_path), CorruptFileError, "do not match")

"""The zip container that `torch.save` writes, read and written without torch.

Note [Torch archive]: a file written by `torch.save` (torch >= 1.6) is a zip archive whose
members all sit in one top-level folder, the *stem* (the file's name without its suffix, or
`archive` for a file object):

    <stem>/data.pkl               the object, pickled (protocol 2); tensors as references
    <stem>/.format_version        b"1"
    <stem>/.storage_alignment     b"64"
    <stem>/byteorder              b"little" (or b"big": the byte order of the storages)
    <stem>/data/<key>             one member per storage: its raw bytes, stored (not
                                  compressed) and starting at a 64-byte aligned file offset
    <stem>/version                b"3\\n"
    <stem>/.data/serialization_id 40 decimal digits identifying the save

The members are written in that order, each `data/<key>` padded to its alignment with a
local-header extra field (id `FB`), which is how torch's own writer aligns them so that a
storage can be memory-mapped in place. Any zip reader can read the archive.
"""

from __future__ import annotations

import contextlib
import os
import struct
import uuid
import zipfile
from typing import IO, Any

import numpy as np

from autotensor.serialization._files import (
    CorruptFileError,
    LoadError,
    file_size,
    open_zip,
    read_zip_member,
    resolve_limit,
    too_large,
)

ALIGNMENT = 64
FORMAT_VERSION = b"1"
ARCHIVE_VERSION = b"3\n"
_PAD_ID = b"FB"  # the extra-field id of the alignment padding
_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 30 bytes: signature ... name length, extra length
_ZIP64_EXTRA = 20  # zipfile's zip64 local-header extra: id, size, two 8-byte sizes

# -- dtypes ------------------------------------------------------------------------------------
BFLOAT16 = "bfloat16"  # numpy has no bfloat16: its storages are read as raw uint16 words

# torch's typed storage classes (what `torch.save` names in a storage reference) and dtypes
TYPED_STORAGES: dict[str, Any] = {
    "FloatStorage": np.dtype(np.float32),
    "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": BFLOAT16,
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
    "ComplexFloatStorage": np.dtype(np.complex64),
    "ComplexDoubleStorage": np.dtype(np.complex128),
}
STORAGE_OF: dict[np.dtype, str] = {
    d: name for name, d in TYPED_STORAGES.items() if isinstance(d, np.dtype)
}

# torch's dtype names (the globals `torch.<name>` a pickle may hold) that numpy also has
TORCH_DTYPES: dict[str, Any] = {
    "float32": np.dtype(np.float32), "float": np.dtype(np.float32),
    "float64": np.dtype(np.float64), "double": np.dtype(np.float64),
    "float16": np.dtype(np.float16), "half": np.dtype(np.float16),
    "bfloat16": BFLOAT16,
    "int64": np.dtype(np.int64), "long": np.dtype(np.int64),
    "int32": np.dtype(np.int32), "int": np.dtype(np.int32),
    "int16": np.dtype(np.int16), "short": np.dtype(np.int16),
    "int8": np.dtype(np.int8), "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16), "uint32": np.dtype(np.uint32),
    "uint64": np.dtype(np.uint64), "bool": np.dtype(np.bool_),
    "complex64": np.dtype(np.complex64), "cfloat": np.dtype(np.complex64),
    "complex128": np.dtype(np.complex128), "cdouble": np.dtype(np.complex128),
}  # fmt: skip
# torch dtypes numpy cannot hold: named in the error instead of being misread
NO_NUMPY_DTYPES = frozenset({
    "complex32", "chalf", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    "float8_e8m0fnu", "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "int1", "int2", "int3", "int4", "int5",
    "int6", "int7", "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
})  # fmt: skip
TORCH_NAME_OF: dict[np.dtype, str] = {}
for _name, _d in TORCH_DTYPES.items():
    if isinstance(_d, np.dtype):
        TORCH_NAME_OF.setdefault(_d, _name)


def itemsize(dtype: Any) -> int:
    return 2 if dtype is BFLOAT16 else int(dtype.itemsize)


def bfloat16_to_float32(words: np.ndarray) -> np.ndarray:
    """bfloat16 values (raw uint16 words) as float32: a bfloat16 is the high half of a float32,
    so the conversion is exact."""
    return (words.astype(np.uint32) << 16).view(np.float32)


# -- writing -----------------------------------------------------------------------------------
def archive_stem(f: Any) -> str:
    """The top-level folder name torch gives the archive: the file's stem, or `archive`."""
    if isinstance(f, (str, bytes, os.PathLike)):
        base = os.path.basename(os.fsdecode(f))
        stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
        return stem or "archive"
    return "archive"


def _padding(offset: int, name: str, zip64: bool) -> bytes:
    """The extra field that makes a member's data start at a multiple of ALIGNMENT."""
    header = _LOCAL_HEADER.size + len(name.encode("utf-8")) + 4 + (_ZIP64_EXTRA if zip64 else 0)
    n = -(offset + header) % ALIGNMENT
    return _PAD_ID + struct.pack("<H", n) + b"Z" * n


class ArchiveWriter:
    """Writes the members of Note [Torch archive] in torch's order into a binary file."""

    def __init__(self, fh: IO[bytes], stem: str) -> None:
        self.stem = stem
        self.zf = zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def write(self, name: str, data: Any, align: bool = False) -> None:
        """One stored member `<stem>/<name>` holding the bytes of `data` (bytes or an array)."""
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        full = f"{self.stem}/{name}"
        info = zipfile.ZipInfo(full, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = view.nbytes
        zip64 = view.nbytes * 1.05 > zipfile.ZIP64_LIMIT  # zipfile's own rule for the header
        if align:
            info.extra = _padding(self.zf.fp.tell(), full, zip64)  # type: ignore[union-attr]
        with self.zf.open(info, "w", force_zip64=zip64) as out:
            step = 1 << 24
            for start in range(0, view.nbytes, step):
                out.write(view[start : start + step])

    def close(self) -> None:
        self.zf.close()


def write_archive(
    fh: IO[bytes], stem: str, pickled: bytes, storages: list[np.ndarray], byteorder: bool = True
) -> None:
    """The whole archive: `pickled` as data.pkl and storage `i` as `data/<i>`."""
    w = ArchiveWriter(fh, stem)
    try:
        w.write("data.pkl", pickled)
        w.write(".format_version", FORMAT_VERSION)
        w.write(".storage_alignment", str(ALIGNMENT).encode())
        if byteorder:
            w.write("byteorder", b"little")
        for key, arr in enumerate(storages):
            w.write(f"data/{key}", _little_endian_bytes(arr), align=True)
        w.write("version", ARCHIVE_VERSION)
        w.write(".data/serialization_id", f"{uuid.uuid4().int:040d}"[:40].encode())
    finally:
        w.close()


def _little_endian_bytes(arr: np.ndarray) -> np.ndarray:
    """A contiguous 1-D view (or copy) of `arr` in little-endian byte order."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.dtype.byteorder == ">" or (flat.dtype.byteorder == "=" and not _LITTLE):
        flat = flat.astype(flat.dtype.newbyteorder("<"))
    return flat


_LITTLE = np.little_endian


# -- reading -----------------------------------------------------------------------------------
class ArchiveReader:
    """The records of a torch archive: `pickle()` gives data.pkl, `storage(key, nbytes)` the
    raw bytes of one storage (read with its size checked, or memory-mapped)."""

    def __init__(self, fh: IO[bytes], name: str, limit: int | None, mmap_path: str | None) -> None:
        self.name = name
        self.limit = resolve_limit(limit)
        self.fh = fh
        self.size = file_size(fh)
        self.mmap_path = mmap_path
        self.zf = open_zip(fh, name, self.limit)
        self.stem = self._find_stem()
        self.read_bytes = 0
        order = self._record("byteorder")
        if order is None:
            self.big_endian = not _LITTLE  # no record: written in the writer's native order
        elif order in (b"little", b"big"):
            self.big_endian = order == b"big"
        else:
            raise CorruptFileError(f"unknown byte order record {order[:20]!r}", name)

    def _find_stem(self) -> str:
        names = self.zf.namelist()
        stems = sorted({n.split("/", 1)[0] for n in names if n.count("/") == 1 and
                        n.endswith("/data.pkl")})  # fmt: skip
        if len(stems) == 1:
            return stems[0]
        if len(stems) > 1:
            raise CorruptFileError(
                f"the archive holds several torch checkpoints ({', '.join(stems[:4])})", self.name
            )
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            raise CorruptFileError(
                "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; "
                "TorchScript programs cannot be loaded", self.name,
            )  # fmt: skip
        if "__structure__.npy" in names:
            raise CorruptFileError(
                "this is an nn.save .npz archive, not a torch.save checkpoint; load it with "
                "nn.load", self.name,
            )  # fmt: skip
        raise CorruptFileError(
            "a zip archive without a <name>/data.pkl record: not a torch.save checkpoint",
            self.name,
        )

    def _record(self, rel: str) -> bytes | None:
        full = f"{self.stem}/{rel}"
        try:
            info = self.zf.getinfo(full)
        except KeyError:
            return None
        return read_zip_member(self.zf, info, self.name, min(self.limit, 1 << 16))

    def pickle(self) -> bytes:
        data = read_zip_member(self.zf, f"{self.stem}/data.pkl", self.name, self.limit)
        self._count(len(data))
        return data

    def _count(self, n: int) -> None:
        self.read_bytes += n
        if self.read_bytes > self.limit:
            raise too_large("the checkpoint's content", self.read_bytes, self.limit, self.name)

    def storage(self, key: str, nbytes: int) -> np.ndarray:
        """The `nbytes` raw bytes of storage `key` as a writeable uint8 array."""
        full = f"{self.stem}/data/{key}"
        try:
            info = self.zf.getinfo(full)
        except KeyError:
            raise CorruptFileError(f"storage {key!r} has no record {full!r}", self.name) from None
        if info.file_size != nbytes:
            raise CorruptFileError(
                f"storage {key!r} declares {nbytes} bytes but its record holds {info.file_size}",
                self.name,
            )
        if nbytes == 0:
            return np.zeros(0, dtype=np.uint8)
        if info.compress_type != zipfile.ZIP_STORED:  # not torch's layout, but a valid zip
            self._count(nbytes)
            raw = read_zip_member(self.zf, info, self.name, self.limit)
            return np.frombuffer(raw, dtype=np.uint8).copy()
        start = self._data_offset(info)
        if start + nbytes > self.size or info.compress_size != nbytes:
            raise CorruptFileError(
                f"storage {key!r} ({nbytes} bytes at offset {start}) lies past the end of the "
                f"file ({self.size} bytes): truncated",
                self.name,
            )
        if self.mmap_path is not None:  # copy-on-write: writes never reach the file
            return np.memmap(self.mmap_path, dtype=np.uint8, mode="c", offset=start,
                             shape=(nbytes,))  # fmt: skip
        self._count(nbytes)
        out = np.empty(nbytes, dtype=np.uint8)
        try:
            src: Any
            with self.zf.open(info) as src:  # the CRC is checked when the member's end is read
                view = memoryview(out)  # type: ignore[arg-type]
                got = 0
                while got < nbytes:
                    n = src.readinto(view[got : got + (1 << 24)])
                    if not n:
                        break
                    got += n
                if got != nbytes or src.read(1):
                    raise CorruptFileError(f"storage {key!r} is truncated", self.name)
        except LoadError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError,
                RuntimeError) as e:  # fmt: skip
            # zipfile's errors for a damaged member: bad CRC, encryption or patch flags
            raise CorruptFileError(
                f"storage {key!r} is damaged ({type(e).__name__}: {e})", self.name
            ) from None
        return out

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where a stored member's bytes begin: after its local header, name and extra."""
        pos = self.fh.tell()
        try:
            self.fh.seek(info.header_offset)
            head = self.fh.read(_LOCAL_HEADER.size)
        finally:
            self.fh.seek(pos)
        if len(head) != _LOCAL_HEADER.size:
            raise CorruptFileError(f"local header of {info.filename!r} is truncated", self.name)
        fields = _LOCAL_HEADER.unpack(head)
        if fields[0] != 0x04034B50:
            raise CorruptFileError(f"bad local header for {info.filename!r}", self.name)
        return info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.zf.close()


# -- recognising the file ----------------------------------------------------------------------
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def sniff(fh: IO[bytes]) -> bytes:
    """The first bytes of `fh`, leaving the position where it was."""
    pos = fh.tell()
    head = fh.read(16)
    fh.seek(pos)
    return head


LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def is_legacy(head: bytes) -> bool:
    """torch's legacy format (torch < 1.6, or `_use_new_zipfile_serialization=False`): a pickle
    stream that starts with torch's magic number."""
    return head.startswith(LEGACY_MAGIC)


def is_pickle(head: bytes) -> bool:
    """A bare pickle stream (protocol 2 or later starts with PROTO)."""
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")


def is_tar(fh: IO[bytes]) -> bool:
    pos = fh.tell()
    try:
        fh.seek(pos + 257)
        return fh.read(5) == b"ustar"
    finally:
        fh.seek(pos)

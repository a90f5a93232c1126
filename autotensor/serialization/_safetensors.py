"""safetensors files: the format model hubs publish, read and written without pickles.

A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of JSON, then one
byte buffer. The JSON maps each tensor's name to `{"dtype", "shape", "data_offsets": [begin,
end]}` (offsets into the buffer) and may hold a `"__metadata__"` dict of strings.

Writing goes through the `safetensors` package (its numpy API), so the files are exactly
what `safetensors.torch.save_file` writes for the same tensors. Reading validates the whole
header here first (Note [Bounded loading] in `_files.py`): the header length against the
file's size and `MAX_HEADER_BYTES`, the JSON's depth, every dtype name, every shape against
its byte span, and the spans against each other and the buffer -- the same rules the package
enforces, so a hostile or damaged file is one `LoadError` naming the file and the reason, and
nothing is allocated for a size the file does not hold. A path is then read with the package's
`safe_open(framework="np")`; a file object (or a file read without the package installed) is
read from the validated offsets directly.

Note [bfloat16]: numpy has no bfloat16, so a BF16 tensor is read into float32 (exactly: every
bfloat16 value is a float32 value, the 16 low mantissa bits being zero) with a warning naming
the tensors. Saving such a tensor back writes F32.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from autotensor.serialization._files import (
    MAX_HEADER_BYTES,
    CorruptFileError,
    LoadError,
    file_name,
    file_size,
    parse_json,
    read_exact,
    regular_file,
    resolve_limit,
    too_large,
)

__all__ = ["load_safetensors", "safetensors_metadata", "save_safetensors", "SAFETENSORS_DTYPES"]

# safetensors dtype name -> numpy dtype, for every dtype torch writes that numpy has.
SAFETENSORS_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
}
# Names the format defines that numpy cannot hold; a clear refusal rather than "corrupt".
_UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "E8M0", "C32")
_MAX_DIMS = 64  # numpy's limit; also keeps the product of a hostile shape small to compute
_ITEMSIZE = {**{k: v.itemsize for k, v in SAFETENSORS_DTYPES.items()}, "BF16": 2}
_WRITABLE = tuple(SAFETENSORS_DTYPES.values())


def _package() -> Any:
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "writing .safetensors files needs the safetensors package: "
            "pip install 'autotensor[safetensors]'"
        ) from None
    return safetensors


# -- reading -----------------------------------------------------------------------------------
class _Entry:
    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, dtype: str, shape: tuple[int, ...], begin: int, end: int):
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


def _short(v: Any, n: int = 60) -> str:
    """repr(v) cut to n characters: a hostile header must not become a huge message."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_header(
    fh: IO[bytes], name: str, limit: int
) -> tuple[list[_Entry], dict[str, str] | None, int]:
    """The validated header: entries in buffer order, the metadata, and the buffer's offset."""
    total = file_size(fh)
    if total < 8:
        raise CorruptFileError(
            f"a safetensors file starts with an 8-byte header length; the file has {total} "
            f"bytes (truncated, or not a safetensors file)",
            name,
        )
    (n,) = struct.unpack("<Q", read_exact(fh, 8, name, "the header length"))
    if n > total - 8:
        raise CorruptFileError(
            f"the header declares {n} bytes but the file has only {total - 8} after the length "
            f"(truncated, or not a safetensors file)",
            name,
        )
    if n > MAX_HEADER_BYTES:
        raise too_large("the safetensors header", n, MAX_HEADER_BYTES, name)
    raw = read_exact(fh, n, name, "the header")
    if not raw.startswith(b"{"):
        raise CorruptFileError("the header is not a JSON object (not a safetensors file)", name)
    header = parse_json(raw, name, "the safetensors header")
    if not isinstance(header, dict):
        raise CorruptFileError("the header is not a JSON object", name)
    buffer_len = total - 8 - n
    if buffer_len > limit:
        raise too_large("the tensor data", buffer_len, limit, name)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise CorruptFileError("__metadata__ must map strings to strings", name)
    entries = [_entry(key, info, name) for key, info in header.items()]
    entries.sort(key=lambda e: (e.begin, e.end))
    pos = 0
    for e in entries:  # the spans tile the buffer exactly: no gap, no overlap, no tail
        if e.begin != pos:
            what = "overlaps the one before it" if e.begin < pos else "leaves a gap before it"
            raise CorruptFileError(f"tensor {_short(e.name)}: data_offsets {what}", name)
        pos = e.end
    if pos != buffer_len:
        raise CorruptFileError(
            f"the tensors span {pos} bytes of data but the file holds {buffer_len} "
            f"({'truncated' if pos > buffer_len else 'trailing bytes'})",
            name,
        )
    return entries, metadata, 8 + n


def _entry(key: str, info: Any, name: str) -> _Entry:
    k = _short(key)
    if not (isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}):
        raise CorruptFileError(
            f"tensor {k}: an entry must have exactly dtype, shape and data_offsets", name
        )
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _ITEMSIZE:
        if dtype in _UNSUPPORTED:
            raise LoadError(
                f"tensor {k} has dtype {dtype}, which numpy cannot hold; supported are "
                f"{', '.join(sorted(_ITEMSIZE))}",
                name,
            )
        raise CorruptFileError(f"tensor {k}: unknown dtype {_short(dtype)}", name)
    if not (
        isinstance(shape, list)
        and len(shape) <= _MAX_DIMS
        and all(_is_int(d) and d >= 0 for d in shape)
    ):
        raise CorruptFileError(f"tensor {k}: shape {_short(shape)} is not a list of sizes", name)
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(_is_int(o) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise CorruptFileError(f"tensor {k}: bad data_offsets {_short(offsets)}", name)
    nbytes = math.prod(shape) * _ITEMSIZE[dtype]  # Python ints: a huge shape cannot overflow
    if nbytes != offsets[1] - offsets[0]:
        raise CorruptFileError(
            f"tensor {k}: shape {_short(shape)} of {dtype} needs {_short(nbytes)} bytes but "
            f"data_offsets span {offsets[1] - offsets[0]}",
            name,
        )
    return _Entry(key, dtype, tuple(shape), offsets[0], offsets[1])


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype("<u4") << 16).view("<f4").astype(np.float32)


def _read_direct(fh: IO[bytes], e: _Entry, start: int, name: str) -> np.ndarray:
    fh.seek(start + e.begin)
    data = read_exact(fh, e.end - e.begin, name, f"tensor {e.name!r}")
    if e.dtype == "BF16":
        return _bf16_to_f32(np.frombuffer(data, dtype="<u2")).reshape(e.shape)
    dt = SAFETENSORS_DTYPES[e.dtype]
    return np.frombuffer(data, dtype=dt).astype(dt.newbyteorder("="), copy=True).reshape(e.shape)


def _read_numpy(
    f: str | os.PathLike | IO[bytes], max_bytes: int | None
) -> tuple[dict[str, np.ndarray], dict[str, str] | None]:
    name = file_name(f)
    limit = resolve_limit(max_bytes)
    with regular_file(f, "safetensors file") as fh:
        fh.seek(0)
        entries, metadata, start = _read_header(fh, name, limit)
        try:
            import safetensors
        except ImportError:
            safetensors = None  # type: ignore[assignment]
        out: dict[str, np.ndarray] = {}
        if isinstance(f, (str, os.PathLike)) and safetensors is not None:
            try:
                with safetensors.safe_open(os.fspath(f), framework="np") as sf:
                    for e in entries:
                        if e.dtype == "BF16":
                            out[e.name] = _read_direct(fh, e, start, name)
                        else:
                            out[e.name] = np.array(sf.get_tensor(e.name), copy=True)
            except LoadError:
                raise
            except Exception as err:  # the package's own checks (SafetensorError), I/O errors
                reason = f"the safetensors reader refused it ({type(err).__name__}: {err})"
                raise CorruptFileError(reason, name) from None
        else:
            for e in entries:
                out[e.name] = _read_direct(fh, e, start, name)
    bf16 = [e.name for e in entries if e.dtype == "BF16"]
    if bf16:
        warnings.warn(
            f"{name}: bfloat16 tensors {bf16} read as float32 (numpy has no bfloat16; the "
            f"values are exact)",
            stacklevel=3,
        )
    return out, metadata


def load_safetensors(
    f: str | os.PathLike | IO[bytes], *, max_bytes: int | None = None
) -> dict[str, Any]:
    """The tensors of a safetensors file, as a dict name -> Tensor (in buffer order).

    The header is validated before any data is read (see the module docstring); `max_bytes`
    caps the tensor data (the load limit if None). bfloat16 tensors come back as float32 with
    a warning (Note [bfloat16]). Raises `LoadError` (or a subclass) for a file that is not a
    regular file, is damaged, or declares more than it holds.
    """
    import autotensor as at

    arrays, _ = _read_numpy(f, max_bytes)
    return {k: at.from_numpy(v) for k, v in arrays.items()}


def safetensors_metadata(f: str | os.PathLike | IO[bytes]) -> dict[str, str] | None:
    """The `__metadata__` dict of a safetensors file (None if it has none); reads only the
    header."""
    name = file_name(f)
    with regular_file(f, "safetensors file") as fh:
        fh.seek(0)
        return _read_header(fh, name, resolve_limit(None))[1]


# -- writing -----------------------------------------------------------------------------------
def _as_array(key: str, v: Any) -> np.ndarray:
    from autotensor import Tensor

    if isinstance(v, Tensor):
        if not v.is_contiguous():
            raise ValueError(
                f"save_safetensors: tensor {key!r} is not contiguous, which safetensors does "
                f"not store; call .contiguous() on it first (as safetensors.torch requires)"
            )
        arr = v.detach().numpy()
    elif isinstance(v, np.ndarray):
        if not v.flags["C_CONTIGUOUS"]:
            raise ValueError(
                f"save_safetensors: array {key!r} is not C-contiguous; pass "
                f"np.ascontiguousarray(...) of it"
            )
        arr = v
    else:
        raise TypeError(
            f"save_safetensors: {key!r} is a {type(v).__name__}; a safetensors file holds a "
            f"flat dict of str -> Tensor (use at.save for nested state such as optimizers)"
        )
    if not any(arr.dtype.newbyteorder("<") == d for d in _WRITABLE):
        raise TypeError(
            f"save_safetensors: {key!r} has dtype {arr.dtype}, which safetensors cannot store"
        )
    return arr


def _shared_groups(arrays: Mapping[str, np.ndarray]) -> list[list[str]]:
    """Names whose arrays overlap in memory (tied weights, views of one another)."""
    spans = []
    for k, a in arrays.items():
        if a.size:
            lo, hi = np.lib.array_utils.byte_bounds(a)
            spans.append((lo, hi, k))
    spans.sort()
    groups: list[list[str]] = []
    end = -1
    for lo, hi, k in spans:
        if lo < end:
            groups[-1].append(k)
        else:
            groups.append([k])
        end = max(end, hi)
    return [g for g in groups if len(g) > 1]


def save_safetensors(
    tensors: Mapping[str, Any],
    f: str | os.PathLike | IO[bytes],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a flat dict of str -> Tensor (or ndarray) as a safetensors file.

    As `safetensors.torch.save_file`: tensors must be contiguous, and tensors that share memory
    (tied weights) are refused with a RuntimeError naming them -- save one of them and tie
    again after loading. `metadata` is a dict of strings stored in the header. A path is
    written atomically (a temporary file, then renamed).
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(
            f"save_safetensors: expected a dict of str -> Tensor, got {type(tensors).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(f"save_safetensors: keys must be str, got {k!r}")
        arrays[k] = _as_array(k, v)
    shared = _shared_groups(arrays)
    if shared:
        raise RuntimeError(
            f"save_safetensors: some tensors share memory, which safetensors refuses (it would "
            f"duplicate them on disk and untie them on load): {shared}; save each storage once "
            f"(drop the tied names) and tie them again after loading"
        )
    if metadata is not None:
        if not (
            isinstance(metadata, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise TypeError("save_safetensors: metadata must be a dict of str -> str")
        metadata = dict(metadata)
    pkg = _package()
    if hasattr(f, "write"):
        f.write(pkg.numpy.save(arrays, metadata=metadata))
        return
    path = Path(os.fspath(f))
    tmp = path.with_name(path.name + ".tmp")
    pkg.numpy.save_file(arrays, tmp, metadata=metadata)
    os.replace(tmp, path)

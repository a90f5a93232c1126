"""`nn.save` / `nn.load`: state dicts in a numpy `.npz` file that never unpickles.

File layout (a plain zip of `.npy` files, readable by `np.load` anywhere):

    __structure__.npy   uint8 array: the UTF-8 JSON description of the saved object
    a0.npy, a1.npy ...  one array per Tensor / ndarray in the object

The JSON mirrors the object: dicts (with their key types: str, int, float, bool, None),
lists, tuples, Tensors and ndarrays (as references to the arrays), numpy scalars, and
JSON's own numbers, strings, booleans and null (inf and nan included). Anything else is
refused at save time, so whatever `save` writes, `load` can read back.

Note [Safe loading]: `load` never calls `np.load` or unpickles. It opens only a regular file,
checks every zip member name, decompresses each member in bounded chunks (the load limit of
`autotensor.serialization`, Note [Bounded loading]), and parses each `.npy` header itself: an
object dtype (the only way an .npy can carry a pickle) is refused, and a declared shape must
match the member's real size. The structure entry's JSON is checked for size and depth before
it is parsed. Every failure is one `SerializationError` (= `autotensor.serialization.
LoadError`) naming the file and the reason. Loading an untrusted file therefore cannot run
code, hang, or allocate more than the limit.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import numpy as np

import autotensor as at
from autotensor import Tensor
from autotensor.serialization import (
    CorruptFileError,
    LoadError,
    UnsafeContentError,
    file_name,
    json_depth,
    load_safetensors,
    open_zip,
    parse_json,
    read_zip_member,
    regular_file,
    resolve_limit,
    save_safetensors,
)

__all__ = ["save", "load", "SerializationError"]

_FORMAT = "autotensor.nn.save"
_VERSION = 1
_STRUCT = "__structure__"


SerializationError = LoadError
"""A file given to `nn.load` is not one `nn.save` wrote, or is damaged or unsafe: the same class
as `autotensor.serialization.LoadError`, so every loader's failure is caught by either name."""

_DTYPES = frozenset(np.dtype(t) for t in "?bhilqBHILQefdFD")  # what nn.save writes
_MAX_DEPTH = 200  # JSON levels of the structure entry; a Python nesting level takes 1 to 3


def _is_safetensors_path(f: Any) -> bool:
    return isinstance(f, (str, os.PathLike)) and os.fspath(f).endswith(".safetensors")


# -- encoding ----------------------------------------------------------------------------------
def _encode_key(k: Any) -> list:
    if isinstance(k, bool):
        return ["bool", k]
    if isinstance(k, (int, np.integer)):
        return ["int", int(k)]
    if isinstance(k, str):
        return ["str", k]
    if isinstance(k, (float, np.floating)):
        return ["float", _float(float(k))]
    if k is None:
        return ["none", None]
    raise TypeError(f"nn.save: dict keys must be str, int, float, bool or None, got {type(k)}")


def _float(v: float) -> Any:
    """JSON has no inf/nan: write them as strings inside a tagged entry."""
    return v if math.isfinite(v) else repr(v)


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _array(self, arr: np.ndarray) -> str:
        if arr.dtype.kind not in "biufc":
            raise TypeError(
                f"nn.save: cannot save an array of dtype {arr.dtype} (only bool, integer, "
                f"floating and complex arrays are stored)"
            )
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr
        return name

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"t": "float", "v": repr(obj)}
        if isinstance(obj, Tensor):
            arr = obj.detach().numpy()
            return {"t": "tensor", "k": self._array(arr), "g": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "k": self._array(obj)}
        if isinstance(obj, (np.generic,)):
            return {"t": "scalar", "k": self._array(np.asarray(obj))}
        if isinstance(obj, dict):
            items = [[_encode_key(k), self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()]
            return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "v": items}
        if isinstance(obj, (list, tuple)):
            vals = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return {"t": "tuple" if isinstance(obj, tuple) else "list", "v": vals}
        raise TypeError(
            f"nn.save: cannot save {where} of type {type(obj).__name__}; supported are "
            f"Tensors, ndarrays, numbers, strings, None, and dicts/lists/tuples of them "
            f"(save a model's state_dict(), not the model)"
        )


def save(
    obj: Any, f: str | os.PathLike | IO[bytes], *, metadata: dict[str, str] | None = None
) -> None:
    """Write `obj` (a state dict: nested dicts/lists/tuples of Tensors, ndarrays, numbers,
    strings) to the file `f` (a path, written exactly as given, or a binary file object).

    Tensors are stored detached, with their dtype and shape; `nn.load` gives them back as
    Tensors (with `requires_grad` restored). A path ending in `.safetensors` is written as a
    safetensors file instead (`obj` must then be a flat dict str -> Tensor; `metadata`, a dict
    of strings, goes into its header): the format to publish weights in.
    """
    if _is_safetensors_path(f):
        save_safetensors(obj, f, metadata=metadata)
        return
    if metadata is not None:
        raise ValueError("nn.save: metadata= is stored only in .safetensors files")
    enc = _Encoder()
    root = enc.encode(obj, "the object")
    meta = {"format": _FORMAT, "version": _VERSION, "root": root}
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    if json_depth(text.encode("utf-8")) > _MAX_DEPTH:
        raise ValueError(
            f"nn.save: the object nests too deeply to be loaded again (its structure entry has "
            f"more than {_MAX_DEPTH} levels)"
        )
    payload: dict[str, Any] = {
        _STRUCT: np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
        **enc.arrays,
    }
    if hasattr(f, "write"):
        np.savez(f, **payload)
        return
    path = Path(f)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:  # an open file: np.savez would append '.npz' to a name
        np.savez(fh, **payload)
    os.replace(tmp, path)  # never leave a half-written file under the real name


# -- decoding ----------------------------------------------------------------------------------
def _decode_key(k: Any, name: str) -> Any:
    if not (isinstance(k, list) and len(k) == 2):
        raise SerializationError(f"nn.load: {name}: malformed dict key {k!r}")
    kind, v = k
    if kind == "str" and isinstance(v, str):
        return v
    if kind == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if kind == "bool" and isinstance(v, bool):
        return v
    if kind == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if kind == "float" and v in ("inf", "-inf", "nan"):
        return float(v)
    if kind == "none" and v is None:
        return None
    raise SerializationError(f"nn.load: {name}: malformed dict key {k!r}")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], name: str) -> None:
        self.arrays, self.name = arrays, name
        self.used: set[str] = set()

    def _array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise SerializationError(f"nn.load: {self.name}: refers to a missing array {key!r}")
        self.used.add(key)
        return self.arrays[key]

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or "t" not in node:
            raise SerializationError(f"nn.load: {self.name}: malformed entry {str(node)[:80]}")
        t = node["t"]
        if t == "tensor":
            out = at.from_numpy(self._array(node.get("k")))
            if node.get("g") and out.is_floating_point():
                out.requires_grad_(True)
            return out
        if t == "ndarray":
            return self._array(node.get("k"))
        if t == "scalar":
            return self._array(node.get("k"))[()]
        if t == "float" and node.get("v") in ("inf", "-inf", "nan"):
            return float(node["v"])
        if t in ("dict", "odict") and isinstance(node.get("v"), list):
            out_d: dict = OrderedDict() if t == "odict" else {}
            for item in node["v"]:
                if not (isinstance(item, list) and len(item) == 2):
                    raise SerializationError(f"nn.load: {self.name}: malformed dict item")
                out_d[_decode_key(item[0], self.name)] = self.decode(item[1])
            return out_d
        if t in ("list", "tuple") and isinstance(node.get("v"), list):
            vals = [self.decode(v) for v in node["v"]]
            return tuple(vals) if t == "tuple" else vals
        raise SerializationError(f"nn.load: {self.name}: unknown entry type {t!r}")


def _parse_npy(data: bytes, name: str, member: str) -> np.ndarray:
    """One `.npy` member, parsed here (no `np.load`) so that its declared shape is checked
    against its real size and an object dtype (a pickle) is refused before anything else."""
    if data[:1] == b"\x80":
        raise UnsafeContentError(
            f"member {member!r} is a pickle, not a .npy array; refusing to load it, since "
            f"unpickling can run arbitrary code",
            name,
        )
    bio = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(bio)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(bio)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(bio)
    except Exception as e:  # numpy raises ValueError, SyntaxError, EOFError ... for bad headers
        raise CorruptFileError(
            f"member {member!r} is not a valid .npy array ({type(e).__name__}: {e})", name
        ) from None
    if dtype.hasobject:
        raise UnsafeContentError(
            f"member {member!r} holds an object array, i.e. pickled data; refusing to load "
            f"it, since unpickling can run arbitrary code",
            name,
        )
    if dtype.newbyteorder("=") not in _DTYPES:
        raise CorruptFileError(f"member {member!r} has unsupported dtype {dtype}", name)
    if len(shape) > 64 or not all(type(d) is int and d >= 0 for d in shape):
        raise CorruptFileError(f"member {member!r} declares a bad shape {shape!r:.80}", name)
    count = math.prod(shape)
    have = len(data) - bio.tell()
    if count * dtype.itemsize != have:
        raise CorruptFileError(
            f"member {member!r} declares shape {shape} of {dtype} ({count * dtype.itemsize} "
            f"bytes) but holds {have} bytes (truncated or corrupt)",
            name,
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=bio.tell())
    native = dtype.newbyteorder("=")  # a big-endian member comes back in native order
    return flat.reshape(shape, order="F" if fortran else "C").astype(native, order="K")


def _read_arrays(fh: IO[bytes], name: str, limit: int) -> dict[str, np.ndarray]:
    """Every array of the archive (Note [Safe loading]): member names checked, each member
    decompressed in bounded chunks, the total capped at `limit`."""
    head = fh.read(8)
    fh.seek(0)
    if head[:1] == b"\x80":
        raise UnsafeContentError(
            "the file is a pickle (pickled data, e.g. torch.save's legacy format); refusing "
            "to load it, since unpickling can run arbitrary code",
            name,
        )
    if head[:6] == b"\x93NUMPY":
        raise SerializationError(
            f"nn.load: {name} holds a single .npy array, not an nn.save archive"
        )
    with open_zip(fh, name, limit) as zf:
        arrays: dict[str, np.ndarray] = {}
        left = limit
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise CorruptFileError(
                    f"member {info.filename!r} is not a .npy array; not an nn.save archive", name
                )
            data = read_zip_member(zf, info, name, left)
            left -= len(data)
            arrays[info.filename[: -len(".npy")]] = _parse_npy(data, name, info.filename)
    return arrays


def _is_torch_zip(fh: IO[bytes], name: str, limit: int) -> bool:
    with open_zip(fh, name, limit) as zf:
        names = zf.namelist()
    fh.seek(0)
    return f"{_STRUCT}.npy" not in names and any(
        n == "data.pkl" or n.endswith("/data.pkl") for n in names
    )


def load(
    f: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    weights_only: bool = True,
    *,
    max_bytes: int | None = None,
    **kwargs: Any,
) -> Any:
    """Read an object written by `save`. Tensors come back as Tensors, ndarrays as ndarrays.

    A path ending in `.safetensors` (or a file object holding one) is read as a safetensors
    file: a dict name -> Tensor (`autotensor.serialization.load_safetensors`). A checkpoint in
    torch's zip format (written by `torch.save` or `at.save`) is read by `at.load`, with
    `map_location` and `weights_only` (True unless given: only tensors and containers are
    rebuilt) passed on; for the other formats they are ignored (there is one device, and
    loading them never runs code). `max_bytes` caps what the file may
    decompress to (the load limit, 4 GiB unless set with
    `autotensor.serialization.set_load_limit`). Raises `SerializationError` (the same class as
    `autotensor.serialization.LoadError`) for a file that is not a regular file or not an
    `nn.save` archive, is damaged, declares more than it holds or than the limit allows, or
    carries pickled data.
    """
    name = file_name(f)
    limit = resolve_limit(max_bytes)
    if _is_safetensors_path(f):
        return load_safetensors(f, max_bytes=max_bytes)
    with regular_file(f, "file") as fh:
        fh.seek(0)
        head = fh.read(9)
        fh.seek(0)
        if len(head) == 9 and head[8:9] == b"{" and not head.startswith(b"PK"):
            return load_safetensors(fh, max_bytes=max_bytes)
        if head.startswith(b"PK") and _is_torch_zip(fh, name, limit):
            fh.seek(0)  # a torch.save/at.save checkpoint: torch's reader, same bounds
            return at.serialization.load(
                f if isinstance(f, (str, os.PathLike)) else fh,
                map_location=map_location,
                weights_only=weights_only,
                max_bytes=max_bytes,
            )
        arrays = _read_arrays(fh, name, limit)
    raw = arrays.pop(_STRUCT, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(
            f"nn.load: {name} is an .npz archive but not one written by nn.save (no "
            f"{_STRUCT} entry)"
        )
    try:
        meta = parse_json(raw.tobytes(), name, "the structure entry", max_depth=_MAX_DEPTH)
    except CorruptFileError as e:
        raise CorruptFileError(f"damaged structure entry ({e.reason})", name) from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "root" not in meta:
        raise SerializationError(f"nn.load: {name} was not written by nn.save")
    if meta.get("version") != _VERSION:
        raise SerializationError(
            f"nn.load: {name} has format version {meta.get('version')!r}; this version reads "
            f"{_VERSION}"
        )
    for k, a in arrays.items():
        if a.dtype.kind not in "biufc":
            raise SerializationError(f"nn.load: {name}: array {k!r} has unsupported dtype")
    return _Decoder(arrays, name).decode(meta["root"])

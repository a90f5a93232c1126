"""`nn.save` / `nn.load`: state dicts in a numpy `.npz` file that never unpickles.

File layout (a plain zip of `.npy` files, readable by `np.load` anywhere):

    __structure__.npy   uint8 array: the UTF-8 JSON description of the saved object
    a0.npy, a1.npy ...  one array per Tensor / ndarray in the object

The JSON mirrors the object: dicts (with their key types: str, int, float, bool, None),
lists, tuples, Tensors and ndarrays (as references to the arrays), numpy scalars, and
JSON's own numbers, strings, booleans and null (inf and nan included). Anything else is
refused at save time, so whatever `save` writes, `load` can read back.

Note [Safe loading]: `load` opens the file with `np.load(..., allow_pickle=False)`, so an
object array (the only way an .npz can carry a pickle) raises instead of being unpickled,
and a file that is not an .npz at all (a pickle, a truncated zip) fails in numpy or
zipfile before any of its content is interpreted. Every failure is reported as one
`SerializationError` naming the file. Loading an untrusted file therefore cannot run code.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any

import numpy as np

import autotensor as at
from autotensor import Tensor
from autotensor.serialization import LoadError

__all__ = ["save", "load", "SerializationError"]

_FORMAT = "autotensor.nn.save"
_VERSION = 1
_STRUCT = "__structure__"


class SerializationError(LoadError):
    """A file given to `nn.load` is not one `nn.save` wrote, or is damaged or unsafe (one of
    the `autotensor.serialization.LoadError` family)."""


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


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Write `obj` (a state dict: nested dicts/lists/tuples of Tensors, ndarrays, numbers,
    strings) to the file `f` (a path, written exactly as given, or a binary file object).

    Tensors are stored detached, with their dtype and shape; `nn.load` gives them back as
    Tensors (with `requires_grad` restored).
    """
    enc = _Encoder()
    root = enc.encode(obj, "the object")
    meta = {"format": _FORMAT, "version": _VERSION, "root": root}
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    payload = {_STRUCT: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **enc.arrays}
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
    if kind == "float" and isinstance(v, (int, float, str)):
        return float(v)
    if kind == "none" and v is None:
        return None
    raise SerializationError(f"nn.load: {name}: malformed dict key {k!r}")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], name: str) -> None:
        self.arrays, self.name, self.used = arrays, name, set()

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


def _read_arrays(f: Any, name: str) -> dict[str, np.ndarray]:
    """Every array of the archive, read eagerly with pickles refused (Note [Safe loading])."""
    try:
        with np.load(f, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise SerializationError(
                    f"nn.load: {name} holds a single .npy array, not an nn.save archive"
                )
            return {k: npz[k] for k in npz.files}
    except SerializationError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise SerializationError(
                f"nn.load: {name} contains pickled data (an object array or a pickle file); "
                f"refusing to load it, since unpickling can run arbitrary code"
            ) from None
        raise SerializationError(f"nn.load: {name} is not a valid .npz archive ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SerializationError(
            f"nn.load: {name} is truncated or corrupt, or not an .npz archive written by "
            f"nn.save ({type(e).__name__}: {e})"
        ) from None
    except Exception as e:  # zlib and struct errors from damaged members
        raise SerializationError(
            f"nn.load: {name} is truncated or corrupt ({type(e).__name__}: {e})"
        ) from None


def load(
    f: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    weights_only: bool = True,
    **kwargs: Any,
) -> Any:
    """Read an object written by `save`. Tensors come back as Tensors, ndarrays as ndarrays.

    `map_location` and `weights_only` are accepted for torch compatibility and ignored (there
    is one device, and loading never runs code). Raises `SerializationError` for a file that
    is not an `nn.save` archive, is damaged, or carries pickled data.
    """
    name = repr(str(f)) if not hasattr(f, "read") else "the given file object"
    if not hasattr(f, "read"):
        with open(f, "rb") as fh:
            data = fh.read()
        src: Any = io.BytesIO(data)
    else:
        src = f
    arrays = _read_arrays(src, name)
    raw = arrays.pop(_STRUCT, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise SerializationError(
            f"nn.load: {name} is an .npz archive but not one written by nn.save (no "
            f"{_STRUCT} entry)"
        )
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SerializationError(f"nn.load: {name}: damaged structure entry ({e})") from None
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

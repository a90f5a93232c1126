"""Reading the pickle of a torch checkpoint: the restricted interpreter and the full unpickler.

Note [Weights-only unpickling]: a pickle is a program for a small stack machine, and the
standard unpickler runs any of its instructions, including "import this callable and call it"
(GLOBAL + REDUCE), which is how a hostile file runs `os.system`. `at.load(f)` (the default,
`weights_only=True`) therefore never hands the stream to `pickle.Unpickler`. It decodes the
instructions with `pickletools.genops` and executes them itself (`RestrictedUnpickler`), with
these rules:

- GLOBAL/STACK_GLOBAL resolve only names of the fixed table below (torch's tensor and storage
  rebuilders, its storage classes and dtypes, `torch.Size`, `torch.device`,
  `collections.OrderedDict`, `set`/`frozenset`/`complex`, `_codecs.encode`), the rebuilders
  registered with `register_tensor_subclass`, and the objects a user allow-lists with
  `add_safe_globals` / `safe_globals`. Nothing is ever imported: the table holds autotensor's
  own implementations of torch's names. Any other name raises `WeightsUnpicklingError`
  naming it.
- REDUCE and NEWOBJ call only objects that came from that resolution; BUILD sets state only
  on an OrderedDict (its `_metadata`), on tensors, and on instances of allow-listed classes;
  APPEND/SETITEM/ADDITEMS only touch lists, dicts and sets (or allow-listed instances).
- EXT1/2/4 (the copyreg extension registry), INST and OBJ (import and call by name), and
  out-of-band buffers are refused: torch never writes them.
- Sizes are capped (`MAX_STACK`, `MAX_MEMO`), tuples are built with their nesting depth
  tracked (so that hashing a key cannot recurse without bound), and when the object is
  complete its nesting depth is measured without recursion (`nesting_depth`): deeper than
  `MAX_DEPTH` is a `LoadError`, never a RecursionError later in the caller's code.
- A storage reference (`BINPERSID` on `('storage', type, key, location, numel)`) reads the
  storage's record with its declared size checked against the archive (`_torchzip`), and a
  tensor's offset, sizes and strides are checked to lie within its storage before numpy's
  `as_strided` makes the view (a view may otherwise read arbitrary memory).

`weights_only=False` uses `pickle.Unpickler` (`FullUnpickler`), with the same table for torch's
names: it is the user's explicit opt-in, and it can run any code the file holds.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import contextlib
import io
import pickle
import pickletools
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from autotensor._device import device
from autotensor.creation import from_numpy
from autotensor.serialization._files import (
    CorruptFileError,
    LoadError,
    UnsafeContentError,
    short_repr,
)
from autotensor.serialization._torchzip import (
    BFLOAT16,
    NO_NUMPY_DTYPES,
    TORCH_DTYPES,
    TYPED_STORAGES,
    bfloat16_to_float32,
    itemsize,
)
from autotensor.tensor import Tensor

MAX_STACK = 1_000_000
"""The most values the weights-only unpickler's stack (and all its marks) may hold."""
MAX_MEMO = 1_000_000
"""The most entries of the weights-only unpickler's memo."""
MAX_DEPTH = 200
"""The deepest nesting of containers a loaded object may have."""
MAX_MARKS = 10_000
"""The most marks (open TUPLE/LIST/DICT/APPENDS groups) the pickle may have at once."""
MAX_DIMS = 64
MAX_SAME_HASH = 100
"""The most keys of one dict (or items of one set) that may share a hash value: keys built to
collide (ints equal modulo 2**61 - 1, say) would make each insertion scan all the others."""
MAX_HASH_WORK = 1_000_000
"""The most tuple elements hashing a pickle's dict keys and set items may visit: a tuple of
tuples that share references is small in the file but exponentially costly to hash."""


class WeightsUnpicklingError(UnsafeContentError, pickle.UnpicklingError):
    """`at.load(f, weights_only=True)` met something it does not rebuild: a global that is not
    allowed, a call or opcode outside the rules of Note [Weights-only unpickling]."""


# -- allow-lists -------------------------------------------------------------------------------
_user_globals: list[Any] = []


def _full_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        raise TypeError(
            f"add_safe_globals: {obj!r} has no __module__/__qualname__; give it as (obj, "
            f"'module.name')"
        )
    return f"{module}.{name}"


def _check_entry(entry: Any) -> None:
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str) or "." not in entry[1]:
            raise TypeError(
                f"add_safe_globals: a tuple entry is (obj, 'module.name'), got {entry!r}"
            )
    else:
        _full_name(entry)


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Allow `at.load(f, weights_only=True)` to use these classes/functions when a file names
    them (torch's `torch.serialization.add_safe_globals`). An entry is the object itself (found
    under `obj.__module__ + "." + obj.__qualname__`) or `(obj, "module.name")` for an object
    a file names differently. Allow only what you trust: a class's `__new__`, `__setstate__`
    and its constructor run on the file's data."""
    if not isinstance(safe_globals, (list, tuple)):
        raise TypeError(f"add_safe_globals: expected a list, got {type(safe_globals).__name__}")
    for entry in safe_globals:
        _check_entry(entry)
    _user_globals.extend(safe_globals)


def get_safe_globals() -> list[Any]:
    """The user's allow-list (what `add_safe_globals` added), as a new list."""
    return list(_user_globals)


def clear_safe_globals() -> None:
    """Empty the user's allow-list (the built-in table of torch's names stays)."""
    _user_globals.clear()


class safe_globals(contextlib.ContextDecorator):
    """`with safe_globals([A, B]):` -- A and B are allowed inside the block only (torch's
    context manager of the same name)."""

    def __init__(self, safe_globals: list[Any]) -> None:
        for entry in safe_globals:
            _check_entry(entry)
        self.globals = list(safe_globals)
        self._saved: list[Any] = []

    def __enter__(self) -> safe_globals:
        self._saved = list(_user_globals)
        _user_globals.extend(self.globals)
        return self

    def __exit__(self, *exc: object) -> None:
        _user_globals[:] = self._saved


def _user_table() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in _user_globals:
        if isinstance(entry, tuple):
            out[entry[1]] = entry[0]
        else:
            out[_full_name(entry)] = entry
    return out


# -- tensor subclasses -------------------------------------------------------------------------
# global name -> the function a file's REDUCE calls, (data, requires_grad, hooks) -> tensor;
# class -> (module, name) it is saved under
_rebuilds: dict[str, Callable[..., Tensor]] = {}
_subclass_names: dict[type, tuple[str, str]] = {}


def register_tensor_subclass(
    cls: type,
    rebuild: Callable[[Tensor, bool], Tensor],
    global_name: str = "torch._utils._rebuild_parameter",
) -> None:
    """How instances of a Tensor subclass are saved and loaded.

    `at.save` writes an instance as `global_name(plain_tensor, requires_grad, OrderedDict())`
    (torch's layout for `nn.Parameter` under the default name), and loading a file that names
    `global_name` calls `rebuild(tensor, requires_grad)`. The registering code is trusted, so
    the name is allowed under `weights_only=True`. Without a registration, torch's
    `_rebuild_parameter` gives a plain tensor that keeps `requires_grad`.
    """
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"register_tensor_subclass: {cls!r} is not a Tensor subclass")
    module, _, name = global_name.rpartition(".")
    if not module or not name:
        raise ValueError(f"register_tensor_subclass: {global_name!r} is not 'module.name'")

    def rebuild_from_file(
        data: Any, requires_grad: Any = False, backward_hooks: Any = None
    ) -> Tensor:
        if not isinstance(data, Tensor):
            raise CorruptFileError(f"{global_name}: the data is not a tensor", _file())
        return rebuild(data, bool(requires_grad))

    _rebuilds[global_name] = rebuild_from_file
    _subclass_names[cls] = (module, name)


def subclass_global(cls: type) -> tuple[str, str] | None:
    """The (module, name) a registered Tensor subclass (or its nearest base) is saved under."""
    for base in cls.__mro__:
        if base is Tensor:
            return None
        if base in _subclass_names:
            return _subclass_names[base]
    return None


# -- storages ----------------------------------------------------------------------------------
class StorageType:
    """A torch storage class named in a file (`torch.FloatStorage`, or the untyped
    `torch.storage.UntypedStorage` whose dtype comes with the tensor)."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: Any) -> None:
        self.name, self.dtype = name, dtype

    def __repr__(self) -> str:
        return f"<storage type torch.{self.name}>"


UNTYPED = StorageType("storage.UntypedStorage", None)


class Storage:
    """A storage read from a checkpoint: its raw bytes and the dtype the file gave them.

    `map_location` callables receive these (`lambda storage, loc: storage` works; `.cpu()`
    returns the storage; any other device raises, as the CPU is the only one)."""

    def __init__(self, raw: np.ndarray, dtype: Any, location: str, big_endian: bool) -> None:
        self.raw, self.dtype, self.location, self.big_endian = raw, dtype, location, big_endian
        self._typed: dict[Any, np.ndarray] = {}
        self.bfloat16_reads = 0

    @property
    def device(self) -> device:
        return device("cpu")

    def nbytes(self) -> int:
        return int(self.raw.nbytes)

    def cpu(self) -> Storage:
        return self

    def to(self, dev: Any = None, *args: Any, **kwargs: Any) -> Storage:
        from autotensor._device import check

        check(dev if dev is not None else kwargs.get("device"), "Storage.to")
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Storage:
        from autotensor._device import check

        check("cuda", "Storage.cuda")
        return self

    def elements(self, dtype: Any, file: str) -> np.ndarray:
        """The storage as a 1-D array of `dtype` (bfloat16 widened to float32), in native
        byte order; one array per dtype, so tensors of one storage share memory."""
        arr = self._typed.get(dtype)
        if arr is not None:
            return arr
        np_dtype = np.dtype(np.uint16) if dtype is BFLOAT16 else dtype
        if self.raw.nbytes % np_dtype.itemsize:
            raise CorruptFileError(
                f"a storage of {self.raw.nbytes} bytes cannot hold {np_dtype} elements", file
            )
        if self.big_endian and np_dtype.itemsize > 1:
            arr = self.raw.view(np_dtype.newbyteorder(">")).astype(np_dtype)
        else:
            arr = self.raw.view(np_dtype)
        if dtype is BFLOAT16:  # widened once per storage: views of it stay views, and cost
            arr = bfloat16_to_float32(arr)  # no more than the storage itself
        self._typed[dtype] = arr
        return arr


# -- rebuilding tensors ------------------------------------------------------------------------
_load_context: list[Any] = []  # the running load's file name, for the rebuilders' messages


def _file() -> str:
    return _load_context[-1] if _load_context else "the checkpoint"


def _ints(v: Any, what: str) -> tuple[int, ...]:
    if not isinstance(v, (tuple, list)) or len(v) > MAX_DIMS:
        raise CorruptFileError(
            f"tensor {what} must be a tuple of ints, got {short_repr(v, 80)}", _file()
        )
    for x in v:
        if type(x) is not int or x < 0:
            raise CorruptFileError(f"tensor {what} {short_repr(tuple(v), 80)} holds a non-int or "
                                   f"negative entry", _file())  # fmt: skip
    return tuple(v)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any = None) -> Tensor:
    """The tensor of `size`/`stride` at `offset` elements into `storage`, sharing its memory,
    after checking that every element it addresses lies inside the storage."""
    if not isinstance(storage, Storage):
        raise CorruptFileError(f"a tensor's storage is {type(storage).__name__}, not a storage "
                               f"reference", _file())  # fmt: skip
    if dtype is None:
        dtype = storage.dtype
    if dtype is None:
        raise CorruptFileError("an untyped storage is used without a dtype", _file())
    shape, strides = _ints(size, "size"), _ints(stride, "stride")
    if len(shape) != len(strides) or type(offset) is not int or offset < 0:
        raise CorruptFileError(
            f"tensor of size {shape} has stride {strides} and offset {offset!r}", _file()
        )
    elems = storage.elements(dtype, _file())
    if 0 in shape:
        arr = np.zeros(shape, dtype=elems.dtype)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides))
        if last >= len(elems):
            raise CorruptFileError(
                f"tensor of size {shape}, stride {strides} at offset {offset} reaches element "
                f"{last} of a storage of {len(elems)} elements",
                _file(),
            )
        step = elems.itemsize  # a view whose .base is the storage (so saving finds it again)
        arr = np.ndarray(shape, elems.dtype, buffer=elems, offset=offset * step,
                         strides=tuple(s * step for s in strides))  # fmt: skip
    if dtype is BFLOAT16:
        storage.bfloat16_reads += 1
    return from_numpy(arr)


def _set_requires_grad(t: Tensor, requires_grad: Any) -> Tensor:
    if requires_grad is True and t.dtype.kind in "fc":
        t.requires_grad_(True)
    return t


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> Tensor:
    return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> Tensor:
    return _set_requires_grad(_tensor(storage, storage_offset, size, stride), requires_grad)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> Tensor:
    if not (isinstance(dtype, np.dtype) or dtype is BFLOAT16):
        raise CorruptFileError(f"_rebuild_tensor_v3: {dtype!r} is not a dtype", _file())
    t = _tensor(storage, storage_offset, size, stride, dtype)
    return _set_requires_grad(t, requires_grad)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any = None) -> Tensor:
    if not isinstance(data, Tensor):
        raise CorruptFileError("_rebuild_parameter: the data is not a tensor", _file())
    rebuild = _rebuilds.get("torch._utils._rebuild_parameter")
    if rebuild is None:
        return _set_requires_grad(data, requires_grad)
    return rebuild(data, requires_grad)


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> Tensor:
    return _with_state(_rebuild_parameter(data, requires_grad, backward_hooks), state)


def _with_state(t: Tensor, state: Any) -> Tensor:
    """Python attributes torch saved with a tensor: public names the Tensor class does not
    define (a private name or `grad_fn`, `data`, ... would reach into the tensor's machinery)."""
    if state is None:
        return t
    if not isinstance(state, dict):
        raise CorruptFileError(f"a tensor's state is {type(state).__name__}, not a dict", _file())
    for k, v in state.items():
        if isinstance(k, str) and k.isidentifier() and not k.startswith("_"):
            if not hasattr(type(t), k) and k not in Tensor.__slots__:
                setattr(t, k, v)
    return t


class TensorType:
    """`torch.Tensor` or `torch.nn.parameter.Parameter` named as a type in a file."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<torch type {self.name}>"


TORCH_TENSOR = TensorType("torch.Tensor")
TORCH_PARAMETER = TensorType("torch.nn.parameter.Parameter")
_REBUILDERS: tuple[Callable[..., Tensor], ...] = ()


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Tensor:
    """torch's rebuild of a tensor with Python attributes: `func(*args)`, retyped, state set."""
    if func not in _REBUILDERS or not isinstance(args, tuple):
        raise WeightsUnpicklingError(
            f"_rebuild_from_type_v2: {short_repr(func, 60)} is not one of torch's tensor "
            f"rebuilders",
            _file(),
        )
    t = func(*args)
    if new_type is TORCH_PARAMETER:
        t = _rebuild_parameter(t, t.requires_grad)
    elif new_type is not TORCH_TENSOR:
        raise WeightsUnpicklingError(
            f"_rebuild_from_type_v2: tensor type {short_repr(new_type, 60)} is not rebuilt here",
            _file(),
        )
    return _with_state(t, state)


_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
               _rebuild_parameter_with_state)  # fmt: skip


def _size(sizes: Any = ()) -> tuple:
    """`torch.Size(seq)`: a tuple of ints."""
    return tuple(_ints(tuple(sizes), "size"))


def _codecs_encode(obj: Any, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode(text, 'latin1')`: how protocol 2 pickles a bytes object."""
    if not isinstance(obj, str) or not isinstance(encoding, str):
        raise WeightsUnpicklingError("_codecs.encode is allowed only on a string", _file())
    if codecs.lookup(encoding).name not in ("iso8859-1", "utf-8", "ascii"):
        raise WeightsUnpicklingError(f"_codecs.encode: encoding {encoding!r}", _file())
    return obj.encode(encoding)


def _bytes(*args: Any) -> bytes:
    """`bytes()`: how protocol 2 pickles an empty bytes object. Only that form: `bytes(n)`
    would let a file allocate any amount of memory."""
    if args:
        raise WeightsUnpicklingError("builtins.bytes is allowed only without arguments", _file())
    return b""


def _no_numpy(name: str) -> Callable[..., Any]:
    def refuse() -> Any:
        raise LoadError(
            f"the checkpoint holds a tensor of dtype torch.{name}, which numpy (and so "
            f"autotensor) cannot represent; convert it in torch first (e.g. .float())",
            _file(),
        )

    return refuse


# The fixed table of names a checkpoint may use (torch's own, implemented here).
def _torch_table() -> dict[str, Any]:
    table: dict[str, Any] = {
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.storage.UntypedStorage": UNTYPED,
        "torch.Tensor": TORCH_TENSOR,
        "torch.nn.parameter.Parameter": TORCH_PARAMETER,
        "torch.Size": _size,
        "torch.device": device,
        "collections.OrderedDict": OrderedDict,
        "collections.Counter": collections.Counter,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.complex": complex,
        "_codecs.encode": _codecs_encode,
        "builtins.bytes": _bytes,
    }
    for name, dt in TYPED_STORAGES.items():
        table[f"torch.{name}"] = StorageType(name, dt)
    for name, dt in TORCH_DTYPES.items():
        table[f"torch.{name}"] = dt
    return table


TORCH_GLOBALS = _torch_table()
_CALLABLE = {id(v) for v in TORCH_GLOBALS.values() if callable(v) and not isinstance(v, type)}
_CALLABLE |= {id(OrderedDict), id(collections.Counter), id(set), id(frozenset), id(complex),
              id(device)}  # fmt: skip


def resolve_torch_name(module: str, name: str) -> Any:
    """The object behind a torch name the table knows, else None (shared by both unpicklers)."""
    full = f"{module}.{name}"
    if full in _rebuilds and full != "torch._utils._rebuild_parameter":
        return _rebuilds[full]
    if full in TORCH_GLOBALS:
        return TORCH_GLOBALS[full]
    if module == "torch" and name in NO_NUMPY_DTYPES:
        _no_numpy(name)()
    if module == "torch" and name.endswith("Storage") and name not in TYPED_STORAGES:
        raise LoadError(f"the checkpoint uses torch.{name}, a storage type numpy has no dtype "
                        f"for (quantized or otherwise)", _file())  # fmt: skip
    return None


# -- loading storages --------------------------------------------------------------------------
class StorageLoader:
    """`persistent_load` for both unpicklers: a storage reference becomes a `Storage` read from
    the archive once per key, placed by `map_location` (the CPU is the only place)."""

    def __init__(self, archive: Any, map_location: Any, file: str) -> None:
        self.archive, self.map_location, self.file = archive, map_location, file
        self.raw: dict[str, np.ndarray] = {}
        self.storages: dict[tuple[str, Any], Storage] = {}

    def __call__(self, pid: Any) -> Storage:
        if not (
            isinstance(pid, tuple) and len(pid) == 5 and type(pid[0]) is str and pid[0] == "storage"
        ):
            raise WeightsUnpicklingError(
                f"unknown persistent id {short_repr(pid, 80)} (torch writes ('storage', type, key, "
                f"location, numel))",
                self.file,
            )
        _, stype, key, location, numel = pid
        if not isinstance(stype, StorageType):
            raise WeightsUnpicklingError(
                f"{short_repr(stype, 60)} is not a storage type", self.file
            )
        if not isinstance(key, str) or not isinstance(location, str):
            raise CorruptFileError(f"malformed storage reference {short_repr(pid, 80)}", self.file)
        if type(numel) is not int or numel < 0:
            raise CorruptFileError(f"storage {key!r} declares {numel!r} elements", self.file)
        cached = self.storages.get((key, stype.dtype))
        if cached is not None:
            return cached
        nbytes = numel if stype.dtype is None else numel * itemsize(stype.dtype)
        raw = self.raw.get(key)
        if raw is None:
            raw = self.archive.storage(key, nbytes)
            self.raw[key] = raw
        elif raw.nbytes != nbytes and stype.dtype is not None and raw.nbytes < nbytes:
            raise CorruptFileError(f"storage {key!r} is used with two sizes", self.file)
        st = Storage(raw, stype.dtype, location, self.archive.big_endian)
        st = self._place(st, location)
        self.storages[(key, stype.dtype)] = st
        return st

    def _place(self, st: Storage, location: str) -> Storage:
        from autotensor._device import check

        ml = self.map_location
        if ml is None:
            if not location.startswith("cpu"):
                raise LoadError(  # a RuntimeError, as torch's on a machine without the device
                    f"it holds a storage on device {short_repr(location, 40)}, and autotensor "
                    f"runs on the "
                    f"CPU only; load it with map_location='cpu' (or torch.device('cpu')) to map "
                    f"the storages to the CPU",
                    self.file,
                )
            return st
        if isinstance(ml, dict):
            target = ml.get(location, location)
            check(target, "at.load (map_location)")
            return st
        if isinstance(ml, (str, device)):
            check(ml, "at.load (map_location)")
            return st
        if callable(ml):
            out = ml(st, location)
            if out is None:
                self.map_location = None
                try:
                    return self._place(st, location)
                finally:
                    self.map_location = ml
            if not isinstance(out, Storage):
                raise TypeError(f"at.load: map_location returned {type(out).__name__}, not the "
                                f"storage it was given")  # fmt: skip
            return out
        raise TypeError(
            f"at.load: map_location must be a string, a device, a dict or a callable, got "
            f"{type(ml).__name__}"
        )


# -- the restricted interpreter ----------------------------------------------------------------
_REFUSED_OPS = {
    "EXT1": "the copyreg extension registry (EXT1)",
    "EXT2": "the copyreg extension registry (EXT2)",
    "EXT4": "the copyreg extension registry (EXT4)",
    "INST": "INST (import and call a class by name)",
    "OBJ": "OBJ (call a class from the stack)",
    "PERSID": "a text persistent id (PERSID)",
    "NEXT_BUFFER": "an out-of-band buffer (NEXT_BUFFER)",
    "READONLY_BUFFER": "an out-of-band buffer (READONLY_BUFFER)",
}


def _container_children(obj: Any, user_types: tuple) -> Iterable[Any] | None:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if user_types and isinstance(obj, user_types):
        d = getattr(obj, "__dict__", None)
        return list(d.values()) if isinstance(d, dict) else None
    return None


def nesting_depth(root: Any, limit: int, user_types: tuple = ()) -> int:
    """The longest chain of containers inside `root` (a list in a dict in ... counts each),
    found iteratively (shared and cyclic references are fine); raises ValueError once it is
    over `limit`."""
    if _container_children(root, user_types) is None:
        return 0
    best: dict[int, int] = {}
    on_path: set[int] = set()
    frames: list[list[Any]] = [[root, iter(_container_children(root, user_types) or ()), 0]]
    on_path.add(id(root))
    while frames:
        frame = frames[-1]
        for child in frame[1]:
            kids = _container_children(child, user_types)
            if kids is None:
                continue
            cid = id(child)
            if cid in best:
                frame[2] = max(frame[2], best[cid])
                continue
            if cid in on_path:
                continue  # a cycle: already counted on this path
            if len(frames) >= limit:
                raise ValueError(f"nesting deeper than {limit}")
            frames.append([child, iter(kids), 0])
            on_path.add(cid)
            break
        else:
            frames.pop()
            depth = frame[2] + 1
            if depth > limit:
                raise ValueError(f"nesting deeper than {limit}")
            best[id(frame[0])] = depth
            on_path.discard(id(frame[0]))
            if frames:
                frames[-1][2] = max(frames[-1][2], depth)
    return best[id(root)]


class _Passthrough(Exception):
    """Carries an error of code the interpreter called (map_location) out unchanged."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class RestrictedUnpickler:
    """Runs a pickle under the rules of Note [Weights-only unpickling]."""

    def __init__(
        self, data: bytes, persistent_load: Callable[[Any], Any], file: str, encoding: str
    ) -> None:
        self.data, self.persistent_load, self.file = data, persistent_load, file
        self.encoding = encoding
        self.user = _user_table()
        self.user_ids = {id(v) for v in self.user.values()}
        self.user_types = tuple(v for v in self.user.values() if isinstance(v, type))
        self.callables = _CALLABLE | self.user_ids | {id(f) for f in _rebuilds.values()}
        self.tuple_depth: dict[int, tuple[Any, int]] = {}
        self.hash_work = 0
        self.key_hashes: dict[int, tuple[Any, dict[int, int]]] = {}

    # errors
    def _refuse(self, msg: str) -> WeightsUnpicklingError:
        return WeightsUnpicklingError(
            f"Weights only load failed: {msg}. at.load(f, weights_only=False) would load it, "
            f"but that runs any code the file holds: do it only for a file from a trusted "
            f"source",
            self.file,
        )

    def _unsupported_global(self, full: str) -> WeightsUnpicklingError:
        short = full.rsplit(".", 1)[-1]
        return self._refuse(
            f"Unsupported global: GLOBAL {full} was not an allowed global by default. Please "
            f"use `autotensor.serialization.add_safe_globals([{short}])` or the "
            f"`autotensor.serialization.safe_globals([{short}])` context manager to allowlist "
            f"this global if you trust this class/function"
        )

    def _global(self, module: Any, name: Any, proto: int) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise self._refuse("STACK_GLOBAL with a module or name that is not a string")
        if proto < 3:
            module, name = _py3_name(module, name)
        full = f"{module}.{name}"
        if full in self.user:
            return self.user[full]
        obj = resolve_torch_name(module, name)
        if obj is not None:
            return obj
        raise self._unsupported_global(full)

    def _depth_of(self, obj: Any) -> int:
        if isinstance(obj, (tuple, frozenset)):
            hit = self.tuple_depth.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
            return 1 + max((self._depth_of_known(x) for x in obj), default=0)
        return 0

    def _depth_of_known(self, obj: Any) -> int:
        if isinstance(obj, (tuple, frozenset)):
            hit = self.tuple_depth.get(id(obj))
            return hit[1] if hit is not None and hit[0] is obj else 1
        return 0

    def _track(self, obj: Any) -> Any:
        """Record an immutable container's depth (hashing one recurses through it)."""
        if isinstance(obj, (tuple, frozenset)) and obj:
            d = self._depth_of(obj)
            if d > MAX_DEPTH:
                raise CorruptFileError(f"a tuple nests more than {MAX_DEPTH} levels deep",
                                       self.file)  # fmt: skip
            self.tuple_depth[id(obj)] = (obj, d)
        return obj

    def _is_user_instance(self, obj: Any) -> bool:
        return bool(self.user_types) and isinstance(obj, self.user_types)

    def load(self) -> Any:
        try:
            result = self._run()
        except _Passthrough as e:
            raise e.error from None
        except LoadError:
            raise
        except RecursionError:
            raise CorruptFileError(f"the pickle nests too deeply (over {MAX_DEPTH} levels)",
                                   self.file) from None  # fmt: skip
        except (ValueError, TypeError, LookupError, AttributeError, EOFError, OverflowError,
                UnicodeError, ArithmeticError, struct.error, RuntimeError) as e:  # fmt: skip
            raise CorruptFileError(
                f"damaged or malformed pickle ({type(e).__name__}: {e})", self.file
            ) from None
        try:
            nesting_depth(result, MAX_DEPTH, self.user_types)
        except ValueError:
            raise CorruptFileError(
                f"the loaded object nests containers more than {MAX_DEPTH} levels deep",
                self.file,
            ) from None
        return result

    def _run(self) -> Any:
        stack: list[Any] = []
        marks: list[list[Any]] = []
        marked = 0  # values held below the marks
        memo: dict[int, Any] = {}
        proto = 0

        def pop_mark() -> list[Any]:
            nonlocal stack, marked
            items = stack
            stack = marks.pop()
            marked -= len(stack)
            return items

        ops: Iterator[tuple[Any, Any, Any]] = pickletools.genops(io.BytesIO(self.data))
        for op, arg, pos in ops:
            name = op.name
            if len(stack) + marked > MAX_STACK or len(marks) > MAX_MARKS:
                raise CorruptFileError(f"the pickle's stack grows past {MAX_STACK} values or "
                                       f"{MAX_MARKS} marks", self.file)  # fmt: skip
            if name in _REFUSED_OPS:
                raise self._refuse(f"the pickle uses {_REFUSED_OPS[name]} at byte {pos}, which "
                                   f"the weights-only unpickler does not run")  # fmt: skip
            if name == "PROTO":
                proto = arg
                if not 0 <= proto <= pickle.HIGHEST_PROTOCOL:
                    raise CorruptFileError(f"unsupported pickle protocol {proto}", self.file)
            elif name == "FRAME":
                pass
            elif name == "STOP":
                if not stack:
                    raise CorruptFileError("the pickle ends with an empty stack", self.file)
                return stack.pop()
            elif name == "MARK":
                marks.append(stack)
                marked += len(stack)
                stack = []
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            elif name in ("NONE",):
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
                          "FLOAT", "BINFLOAT"):  # fmt: skip
                stack.append(arg)
            elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
                raw = arg.encode("latin-1")  # genops decodes these Python 2 strings as latin-1
                stack.append(raw if self.encoding == "bytes" else raw.decode(self.encoding))
            elif name in ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
                          "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):  # fmt: skip
                stack.append(arg)
            elif name == "BYTEARRAY8":
                stack.append(bytearray(arg))
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                items = pop_mark()
                stack.append(self._track(tuple(items)))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise CorruptFileError(f"{name} at byte {pos} on a short stack", self.file)
                items = stack[-n:]
                del stack[-n:]
                stack.append(self._track(tuple(items)))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                items = pop_mark()
                stack.append(items)
            elif name == "APPEND":
                value = stack.pop()
                self._extend(stack[-1], [value], pos)
            elif name == "APPENDS":
                items = pop_mark()
                self._extend(stack[-1], items, pos)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = pop_mark()
                if len(items) % 2:
                    raise CorruptFileError(f"DICT at byte {pos} with an odd item count", self.file)
                self._check_keys(items[::2], {})
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "SETITEM":
                value = stack.pop()
                key = stack.pop()
                self._setitems(stack[-1], [key, value], pos)
            elif name == "SETITEMS":
                items = pop_mark()
                if len(items) % 2:
                    raise CorruptFileError(f"SETITEMS at byte {pos} with an odd item count",
                                           self.file)  # fmt: skip
                self._setitems(stack[-1], items, pos)
            elif name == "EMPTY_SET":
                stack.append(set())
            elif name == "ADDITEMS":
                items = pop_mark()
                target = stack[-1]
                if type(target) is not set:
                    raise self._refuse(f"ADDITEMS at byte {pos} on a {type(target).__name__}")
                self._check_keys(items, self._hashes_of(target))
                target.update(items)
            elif name == "FROZENSET":
                items = pop_mark()
                self._check_keys(items, {})
                stack.append(self._track(frozenset(items)))
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise CorruptFileError(f"memo key {arg} at byte {pos} was never stored",
                                           self.file)  # fmt: skip
                stack.append(memo[arg])
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if len(memo) >= MAX_MEMO:
                    raise CorruptFileError(f"the pickle's memo grows past {MAX_MEMO} entries",
                                           self.file)  # fmt: skip
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name == "GLOBAL":
                module, _, gname = arg.partition(" ")
                stack.append(self._global(module, gname, proto))
            elif name == "STACK_GLOBAL":
                gname = stack.pop()
                module = stack.pop()
                stack.append(self._global(module, gname, proto))
            elif name == "REDUCE":
                args = stack.pop()
                func = stack.pop()
                stack.append(self._track(self._call(func, args, {}, pos)))
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                kwargs = stack.pop() if name == "NEWOBJ_EX" else {}
                args = stack.pop()
                cls = stack.pop()
                stack.append(self._new(cls, args, kwargs, pos))
            elif name == "BUILD":
                state = stack.pop()
                self._build(stack[-1], state, pos)
            elif name == "BINPERSID":
                pid = stack.pop()
                try:
                    stack.append(self.persistent_load(pid))
                except Exception as e:  # the storage loader's and map_location's own errors
                    raise _Passthrough(e) from e
            else:
                raise self._refuse(f"opcode {name} at byte {pos} is not supported")
        raise CorruptFileError("the pickle ends without a STOP opcode", self.file)

    def _call(self, func: Any, args: Any, kwargs: dict, pos: int) -> Any:
        if id(func) not in self.callables or not callable(func):
            raise self._refuse(f"REDUCE at byte {pos} calls {_describe(func)}, which is not an "
                               f"allowed global")  # fmt: skip
        if not isinstance(args, tuple):
            raise CorruptFileError(f"REDUCE at byte {pos} with arguments that are not a tuple",
                                   self.file)  # fmt: skip
        if func in (set, frozenset, collections.Counter, OrderedDict) and args:
            keys = args[0] if isinstance(args[0], (list, tuple)) else ()
            if func is OrderedDict:
                keys = [p[0] for p in keys if isinstance(p, (list, tuple)) and p]
            self._check_keys(keys, {})
        return func(*args, **kwargs)

    def _hashes_of(self, target: Any) -> dict[int, int]:
        entry = self.key_hashes.get(id(target))
        if entry is None or entry[0] is not target:
            entry = self.key_hashes[id(target)] = (target, {})
        return entry[1]

    def _check_keys(self, keys: Iterable[Any], hashes: dict[int, int]) -> None:
        """Keys about to go into one dict or set (whose hash counts are `hashes`): hashing
        them stays within `MAX_HASH_WORK`, and at most `MAX_SAME_HASH` share a hash. str and
        bytes hashes are salted per process, so a file cannot make them collide."""
        for k in keys:
            if type(k) is str or type(k) is bytes:
                continue
            if isinstance(k, tuple):
                self._tuple_work(k)
            h = hash(k)
            n = hashes[h] = hashes.get(h, 0) + 1
            if n > MAX_SAME_HASH:
                raise CorruptFileError(f"more than {MAX_SAME_HASH} keys of one dict or set share "
                                       f"a hash value (built to collide)", self.file)  # fmt: skip

    def _tuple_work(self, root: tuple) -> None:
        todo = [root]
        while todo:
            t = todo.pop()
            self.hash_work += len(t)
            if self.hash_work > MAX_HASH_WORK:
                raise CorruptFileError(f"hashing the pickle's dict keys and set items visits more "
                                       f"than {MAX_HASH_WORK} tuple elements (tuples sharing "
                                       f"references)", self.file)  # fmt: skip
            todo.extend(x for x in t if isinstance(x, tuple))

    def _new(self, cls: Any, args: Any, kwargs: Any, pos: int) -> Any:
        if not isinstance(cls, type) or (id(cls) not in self.user_ids and id(cls) not in
                                         self.callables):  # fmt: skip
            raise self._refuse(f"NEWOBJ at byte {pos} creates {_describe(cls)}, which is not an "
                               f"allowed class")  # fmt: skip
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise CorruptFileError(f"NEWOBJ at byte {pos} with malformed arguments", self.file)
        return self._track(cls.__new__(cls, *args, **kwargs))

    def _extend(self, target: Any, items: list[Any], pos: int) -> None:
        if type(target) is list:
            target.extend(items)
        elif self._is_user_instance(target):
            ext = getattr(target, "extend", None)
            if ext is not None:
                ext(items)
            else:
                for x in items:
                    target.append(x)
        else:
            raise self._refuse(f"APPEND at byte {pos} on a {type(target).__name__}")

    def _setitems(self, target: Any, items: list[Any], pos: int) -> None:
        if not (type(target) in (dict, OrderedDict, collections.Counter)
                or self._is_user_instance(target)):  # fmt: skip
            raise self._refuse(f"SETITEM at byte {pos} on a {type(target).__name__}")
        self._check_keys(items[::2], self._hashes_of(target))
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _build(self, inst: Any, state: Any, pos: int) -> None:
        if type(inst) is OrderedDict:  # a state dict's `_metadata`
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise self._refuse(f"BUILD at byte {pos}: an OrderedDict's state must be a dict "
                                   f"of attributes")  # fmt: skip
            meta = state.get("_metadata", {})
            if not (isinstance(meta, dict) and all(isinstance(v, dict) for v in meta.values())):
                raise CorruptFileError(f"BUILD at byte {pos}: a state dict's _metadata must "
                                       f"be a dict of dicts, got {short_repr(meta)}",
                                       self.file)  # fmt: skip
            inst.__dict__.update(state)
        elif isinstance(inst, Tensor):
            _with_state(inst, state)
        elif self._is_user_instance(inst):
            setstate = getattr(inst, "__setstate__", None)
            if setstate is not None:
                setstate(state)
                return
            slots = None
            if isinstance(state, tuple) and len(state) == 2:
                state, slots = state
            if state:
                inst.__dict__.update(state)
            if slots:
                for k, v in slots.items():
                    setattr(inst, k, v)
        else:
            raise self._refuse(f"BUILD at byte {pos} sets the state of a "
                               f"{type(inst).__name__}, which is not an allowed class")  # fmt: skip


def _py3_name(module: str, name: str) -> tuple[str, str]:
    """A Python 2 global's Python 3 name, as pickle's `fix_imports` maps it."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _describe(obj: Any) -> str:
    if isinstance(obj, type) or callable(obj):
        mod = getattr(obj, "__module__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
        return f"{mod}.{name}" if mod else str(name)
    return f"a {type(obj).__name__} object"


# -- scanning and the full unpickler -----------------------------------------------------------
def globals_in(data: bytes) -> list[str]:
    """Every `module.name` a pickle names with GLOBAL/STACK_GLOBAL (strings pushed right before
    a STACK_GLOBAL are taken as its operands), without running it."""
    found: list[str] = []
    recent: list[Any] = []
    proto = 0
    ops: Iterator[tuple[Any, Any, Any]] = pickletools.genops(io.BytesIO(data))
    for op, arg, _ in ops:
        if op.name == "PROTO":
            proto = arg
        if op.name == "GLOBAL":
            module, _, name = arg.partition(" ")
            if proto < 3:
                module, name = _py3_name(module, name)
            found.append(f"{module}.{name}")
        elif op.name == "STACK_GLOBAL" and len(recent) >= 2:
            found.append(f"{recent[-2]}.{recent[-1]}")
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            recent.append(arg)
        elif op.name not in ("MEMOIZE", "BINPUT", "PUT", "LONG_BINPUT", "FRAME"):
            recent.append(None)
        del recent[:-2]
    return list(dict.fromkeys(found))


class FullUnpickler(pickle.Unpickler):
    """`weights_only=False`: Python's unpickler, running whatever the file holds (the user's
    explicit choice), with torch's names served by the table above instead of torch."""

    def __init__(self, file: Any, persistent_load: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._pload = persistent_load

    def persistent_load(self, pid: Any) -> Any:
        return self._pload(pid)

    def find_class(self, module: str, name: str) -> Any:
        obj = resolve_torch_name(module, name)
        if obj is not None:
            return obj
        return super().find_class(module, name)


@contextlib.contextmanager
def loading(file: str) -> Iterator[None]:
    """The file being loaded, for the rebuilders' error messages."""
    _load_context.append(file)
    try:
        yield
    finally:
        _load_context.pop()


__all__ = [
    "MAX_DEPTH", "MAX_MEMO", "MAX_STACK", "FullUnpickler", "RestrictedUnpickler",
    "StorageLoader", "WeightsUnpicklingError", "add_safe_globals", "clear_safe_globals",
    "get_safe_globals", "globals_in", "loading", "register_tensor_subclass", "safe_globals",
    "subclass_global",
]  # fmt: skip

"""Writing the pickle of a torch checkpoint: tensors under torch's names, storages apart.

Note [Torch pickle]: `torch.save` pickles a tensor as

    torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
                                    OrderedDict())

where `storage` is a persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)` (one
typed storage class per dtype; dtypes without one, such as uint16, use
`_rebuild_tensor_v3(..., dtype)` with `torch.storage.UntypedStorage` and a numel in bytes),
and an `nn.Parameter` as `torch._utils._rebuild_parameter(tensor, requires_grad,
OrderedDict())`. `TorchPickler` writes exactly that, so `torch.load(f, weights_only=True)`
accepts a state dict written here. The names are written as GLOBAL opcodes directly
(`TorchName`): nothing of torch is imported, and it need not be installed.

Tensors that share memory (views of one array: `w` and `w.t()`, `x` and `x[1]`) share one
storage, at their own offsets and strides, as in torch: the storage is the whole array that
owns the memory. A tensor whose memory cannot be described that way (negative strides, a
different dtype than its owner) gets a storage of its own.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from typing import IO, Any

import numpy as np

from autotensor._device import device
from autotensor.serialization._torchzip import STORAGE_OF, TORCH_NAME_OF
from autotensor.serialization._unpickler import subclass_global
from autotensor.tensor import Tensor, _new


class TorchName:
    """A global written by name: `module.name` in the pickle, whatever this process has."""

    __slots__ = ("module", "name")
    _cache: dict[tuple[str, str], TorchName] = {}

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @classmethod
    def get(cls, module: str, name: str) -> TorchName:
        key = (module, name)
        if key not in cls._cache:
            cls._cache[key] = cls(module, name)
        return cls._cache[key]

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"

    def __call__(self, *args: Any) -> Any:  # pickle's save_reduce asks for a callable
        raise TypeError(f"{self!r} is a name written into a pickle, not a function")


REBUILD_V2 = TorchName.get("torch._utils", "_rebuild_tensor_v2")
REBUILD_V3 = TorchName.get("torch._utils", "_rebuild_tensor_v3")
UNTYPED = TorchName.get("torch.storage", "UntypedStorage")
TORCH_DEVICE = TorchName.get("torch", "device")


def _save_name(pickler: Any, obj: TorchName) -> None:
    if pickler.proto >= 4:
        pickler.save(obj.module)
        pickler.save(obj.name)
        pickler.write(pickle.STACK_GLOBAL)
    else:
        pickler.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
    pickler.memoize(obj)


def _save_dtype(pickler: Any, obj: np.dtype) -> None:
    """A dtype as torch's `torch.float32` (so torch reads `torch.float32` back)."""
    name = TORCH_NAME_OF.get(obj)
    if name is None or obj.byteorder == ">":
        pickler.save_reduce(*obj.__reduce__(), obj=obj)
        return
    _save_name(pickler, TorchName.get("torch", name))


class StorageRef:
    """One storage of the archive: `key` (its record `data/<key>`), dtype and element count."""

    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel


def _owner(arr: np.ndarray) -> np.ndarray:
    """The ndarray that owns `arr`'s memory (numpy's `.base` chain, to its last array)."""
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


def _native(dtype: np.dtype) -> bool:
    return dtype.byteorder in ("=", "|") or (dtype.byteorder == "<") == np.little_endian


class TorchPickler(pickle._Pickler):
    """Pickles any object as `torch.save` does, collecting the storages (Note [Torch pickle]).

    The pure-Python pickler is the base so that `TorchName` can be written as a plain GLOBAL.
    """

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[TorchName] = _save_name
    for _d in TORCH_NAME_OF:
        dispatch[type(_d)] = _save_dtype

    def __init__(self, file: IO[bytes], protocol: int) -> None:
        super().__init__(file, protocol)
        self.storages: list[np.ndarray] = []
        self._refs: dict[tuple[int, str], tuple[StorageRef, np.ndarray]] = {}

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is StorageRef:
            typed = STORAGE_OF.get(obj.dtype)
            if typed is None:
                return ("storage", UNTYPED, obj.key, "cpu", obj.numel * obj.dtype.itemsize)
            return ("storage", TorchName.get("torch", typed), obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if isinstance(obj, device):
            return (TORCH_DEVICE, (str(obj),))
        return NotImplemented

    def _reduce_tensor(self, t: Tensor) -> Any:
        sub = subclass_global(type(t))
        arr = t._data
        if sub is not None:
            plain = _new(arr)  # the same memory, as a plain Tensor
            return (TorchName.get(*sub), (plain, bool(t.requires_grad), OrderedDict()))
        ref, offset, stride = self._storage(arr)
        args: tuple[Any, ...] = (
            ref,
            offset,
            tuple(arr.shape),
            stride,
            bool(t.requires_grad),
            OrderedDict(),
        )
        if ref.dtype in STORAGE_OF:
            return (REBUILD_V2, args)
        name = TORCH_NAME_OF.get(ref.dtype)
        if name is None:
            raise pickle.PicklingError(f"at.save: a tensor of dtype {ref.dtype} has no torch "
                                       f"equivalent")  # fmt: skip
        return (REBUILD_V3, (*args, TorchName.get("torch", name)))

    def _storage(self, arr: np.ndarray) -> tuple[StorageRef, int, tuple[int, ...]]:
        """The storage holding `arr`, and `arr`'s offset and strides in elements."""
        root = _owner(arr)
        placed = self._place(arr, root)
        if placed is None:  # not expressible in its owner: a storage of its own
            root = np.ascontiguousarray(arr)
            if not _native(root.dtype):
                root = root.astype(root.dtype.newbyteorder("="))
            placed = (0, _contiguous_strides(arr.shape))
        offset, stride = placed
        dtype = np.dtype(arr.dtype.newbyteorder("="))
        key = (id(root), dtype.str)
        hit = self._refs.get(key)
        if hit is None:
            # the owner's bytes as elements of arr's dtype (a loaded storage is raw bytes)
            flat = root.reshape(-1).view(np.uint8).view(dtype)
            ref = StorageRef(str(len(self.storages)), dtype, flat.size)
            self.storages.append(flat)
            self._refs[key] = (ref, root)  # keeps `root` alive, so its id stays unique
            hit = self._refs[key]
        return hit[0], offset, stride

    @staticmethod
    def _place(arr: np.ndarray, root: np.ndarray) -> tuple[int, tuple] | None:
        item = arr.dtype.itemsize
        if not root.flags.c_contiguous or root.nbytes % item or root.dtype.hasobject:
            return None
        if not _native(arr.dtype) or arr.size == 0:
            return None
        byte_off = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        if byte_off < 0 or byte_off % item or any(s < 0 or s % item for s in arr.strides):
            return None
        strides = tuple(s // item for s in arr.strides)
        offset = byte_off // item
        last = offset + sum((n - 1) * s for n, s in zip(arr.shape, strides))
        if last >= root.nbytes // item:
            return None
        return offset, strides


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    acc = 1
    for n in reversed(shape):
        out.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(out))


def dumps(obj: Any, protocol: int) -> tuple[bytes, list[np.ndarray]]:
    """The pickle of `obj` and the storages it refers to, in key order."""
    import io

    buf = io.BytesIO()
    p = TorchPickler(buf, protocol)
    p.dump(obj)
    return buf.getvalue(), p.storages

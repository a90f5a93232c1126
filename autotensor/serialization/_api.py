"""`at.save` / `at.load`: torch's checkpoint files, read and written without torch.

`at.save(obj, f)` writes what `torch.save` writes (Note [Torch archive], Note [Torch pickle]),
so `torch.load(f, weights_only=True)` reads a state dict or optimizer state saved here, and
`at.load(f)` reads a file `torch.save` wrote. Loading is weights-only by default, as in torch
>= 2.6: the pickle is run by a restricted interpreter that only rebuilds tensors, storages and
plain containers (Note [Weights-only unpickling]); `weights_only=False` is the explicit opt-in
to Python's full unpickler, which runs whatever code the file holds.

A path ending in `.safetensors` is read and written in that format instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import tempfile
import warnings
from typing import IO, Any

from autotensor.serialization._files import (
    CorruptFileError,
    LoadError,
    UnsafeContentError,
    file_name,
    open_regular,
)
from autotensor.serialization._pickler import dumps
from autotensor.serialization._torchzip import (
    ZIP_MAGIC,
    ArchiveReader,
    archive_stem,
    is_legacy,
    is_pickle,
    is_tar,
    sniff,
    write_archive,
)
from autotensor.serialization._unpickler import (
    FullUnpickler,
    RestrictedUnpickler,
    StorageLoader,
    globals_in,
    loading,
)

DEFAULT_PROTOCOL = 2


def _is_path(f: Any) -> bool:
    return isinstance(f, (str, bytes, os.PathLike))


def _is_safetensors(f: Any) -> bool:
    return _is_path(f) and os.fsdecode(f).endswith(".safetensors")


def save(
    obj: object,
    f: str | os.PathLike | IO[bytes],
    pickle_module: Any = None,
    pickle_protocol: int = DEFAULT_PROTOCOL,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Save `obj` to the file `f` (a path or a writable binary file), as `torch.save` does.

    `obj` may be a tensor, a state dict, an optimizer's state dict, nested containers of
    them, or any picklable object -- a whole `nn.Module` included (loading that back needs
    `weights_only=False`, or its classes in `safe_globals`). Tensors are stored once per
    storage: views of one tensor share it. A path is written atomically (a temporary file in
    the same folder, then renamed); a path ending in `.safetensors` writes a safetensors file
    of a flat dict of tensors instead.
    """
    if _is_safetensors(f):  # safetensors dispatch
        from autotensor.serialization._safetensors import save_safetensors

        save_safetensors(obj, f)  # type: ignore[arg-type]
        return
    if not _use_new_zipfile_serialization:
        raise NotImplementedError(
            "at.save: _use_new_zipfile_serialization=False (torch's legacy pickle format) is not "
            "written; the zip format (the default) is what every torch since 1.6 reads"
        )
    if pickle_module is not None and pickle_module is not pickle:
        raise NotImplementedError("at.save: pickle_module other than pickle is not supported")
    if not isinstance(pickle_protocol, int) or not 2 <= pickle_protocol <= pickle.HIGHEST_PROTOCOL:
        raise NotImplementedError(
            f"at.save: pickle_protocol={pickle_protocol!r}; protocols 2 to "
            f"{pickle.HIGHEST_PROTOCOL} are written (torch's default is 2)"
        )
    pickled, storages = dumps(obj, pickle_protocol)
    stem = archive_stem(f)
    byteorder = not _disable_byteorder_record
    if not _is_path(f):
        if not hasattr(f, "write"):
            raise TypeError(f"at.save: f must be a path or a binary file, got {type(f).__name__}")
        write_archive(f, stem, pickled, storages, byteorder)  # type: ignore[arg-type]
        return
    path = os.fsdecode(f)  # type: ignore[arg-type]
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".at-save-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write_archive(fh, stem, pickled, storages, byteorder)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)  # never a half-written file under the real name
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(
    f: str | os.PathLike | IO[bytes],
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    max_bytes: int | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Load an object saved by `at.save` or `torch.save` (torch's zip format) from `f`.

    - `weights_only` (None means True, torch's default since 2.6): rebuild only tensors,
      storages, dicts/OrderedDicts, lists, tuples, sets, numbers, strings, bytes, None and the
      classes allowed with `add_safe_globals` / `safe_globals`; anything else raises
      `WeightsUnpicklingError` naming it. `weights_only=False` runs Python's full unpickler:
      the file can then execute arbitrary code, so use it only for files you trust.
    - `map_location`: where storages go. The CPU is the only device: 'cpu',
      `device('cpu')`, a dict mapping locations ({'cuda:0': 'cpu'}) or a callable
      `(storage, location) -> storage` are accepted; a storage saved on a GPU needs one of
      them, and mapping to any other device raises.
    - `mmap=True` (paths only): the storages are memory-mapped copy-on-write instead of read.
    - `max_bytes`: the most bytes this load may read (the load limit if None).
    - `pickle_load_args`: `encoding` for Python 2 strings (default 'utf-8', as torch).

    Files in torch's legacy (pre-1.6) format raise a `LoadError` saying so; any damage is a
    `LoadError` naming the file. A path ending in `.safetensors` loads a safetensors file.
    """
    if _is_safetensors(f):  # safetensors dispatch
        from autotensor.serialization._safetensors import load_safetensors

        return load_safetensors(f, max_bytes=max_bytes)
    if weights_only is None:
        weights_only = True
    encoding = pickle_load_args.pop("encoding", "utf-8")
    if pickle_load_args:
        raise TypeError(
            f"load() got an unexpected keyword argument {next(iter(pickle_load_args))!r}"
        )
    if weights_only and pickle_module is not None:
        raise RuntimeError(
            "at.load: cannot load safely (weights_only=True) with an explicit pickle_module; "
            "pass weights_only=False to use it, only for a file you trust"
        )
    if mmap and not _is_path(f):
        raise ValueError("at.load: mmap=True needs f to be a path, not a file object")
    if (
        map_location is not None
        and not isinstance(map_location, dict)
        and not callable(map_location)
    ):
        from autotensor._device import check

        check(map_location, "at.load (map_location)")
    name = file_name(f)
    fh = open_regular(f, "checkpoint")
    try:
        head = sniff(fh)
        if not head.startswith(ZIP_MAGIC):
            _refuse_other_format(fh, head, name)
        mmap_path = os.fsdecode(f) if mmap and _is_path(f) else None  # type: ignore[arg-type]
        archive = ArchiveReader(fh, name, max_bytes, mmap_path)
        try:
            data = archive.pickle()
            storages = StorageLoader(archive, map_location, name)
            with loading(name):
                if weights_only:
                    obj = RestrictedUnpickler(data, storages, name, encoding).load()
                else:
                    module = pickle_module if pickle_module is not None else pickle
                    unpickler = (
                        FullUnpickler(io.BytesIO(data), storages, encoding=encoding)
                        if module is pickle
                        else _custom_unpickler(module, data, storages, encoding)
                    )
                    obj = unpickler.load()
            reads = sum(s.bfloat16_reads for s in storages.storages.values())
            if reads:
                warnings.warn(
                    f"at.load: {name} holds {reads} bfloat16 tensor(s); numpy has no bfloat16, "
                    f"so they were read as float32 (exactly: every bfloat16 is a float32)",
                    stacklevel=2,
                )
            return obj
        finally:
            archive.close()
    finally:
        if fh is not f:
            fh.close()


def _custom_unpickler(module: Any, data: bytes, storages: Any, encoding: str) -> Any:
    u = module.Unpickler(io.BytesIO(data), encoding=encoding)
    u.persistent_load = storages
    return u


def _refuse_other_format(fh: Any, head: bytes, name: str) -> None:
    if is_tar(fh):
        raise LoadError(
            "this is a checkpoint in torch's oldest (tar) format, which is not read here; "
            "re-save it with a current torch (torch.save(torch.load(f)) writes the zip format)",
            name,
        )
    if is_legacy(head):
        raise LoadError(
            "this is a checkpoint in torch's legacy (pre-zip) format, written by torch < 1.6 "
            "or with _use_new_zipfile_serialization=False; only the zip format is read. "
            "Re-save it with a current torch: torch.save(torch.load(f, weights_only=True), f2)",
            name,
        )
    if is_pickle(head):
        raise UnsafeContentError(
            "this is a bare pickle stream, not a torch checkpoint archive; it is not unpickled "
            "(unpickling can run arbitrary code)",
            name,
        )
    if not head:
        raise CorruptFileError("the file is empty", name)
    raise CorruptFileError(
        f"not a torch checkpoint (a zip archive starts with b'PK', this file with {head[:4]!r})",
        name,
    )


def get_unsafe_globals_in_checkpoint(f: str | os.PathLike | IO[bytes]) -> list[str]:
    """The `module.name` globals of a checkpoint that `weights_only=True` would refuse under
    the current allow-list (read without running the pickle), as torch's function of the
    same name."""
    from autotensor.serialization._unpickler import _user_table, resolve_torch_name

    name = file_name(f)
    fh = open_regular(f, "checkpoint")
    try:
        head = sniff(fh)
        if not head.startswith(ZIP_MAGIC):
            _refuse_other_format(fh, head, name)
        archive = ArchiveReader(fh, name, None, None)
        try:
            data = archive.pickle()
        finally:
            archive.close()
    finally:
        if fh is not f:
            fh.close()
    user = _user_table()
    out = []
    for full in globals_in(data):
        module, _, attr = full.rpartition(".")
        try:
            known = full in user or resolve_torch_name(module, attr) is not None
        except LoadError:
            known = True  # a torch dtype numpy lacks: refused, but not as an unsafe global
        if not known:
            out.append(full)
    return out

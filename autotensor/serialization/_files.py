"""Bounded reading of untrusted files: the checks every loader runs before it trusts a byte.

Note [Bounded loading]: a file handed to a loader may be hostile or merely damaged. Whatever
it holds, loading must end quickly with one named error (`LoadError` or a subclass, with the
file and the reason in the message) -- never a hang, a raw MemoryError/RecursionError, or a
read that does not stop. The rules, applied by every loader in the project:

1. Only regular files are read (`open_regular`). The path is opened with `O_NONBLOCK`, so a
   FIFO cannot block the open, and `fstat` on the opened descriptor (not the path, so a
   symlink cannot be swapped in between) must say "regular file": a directory, a FIFO, a
   socket or a device such as `/dev/zero` (also through a symlink) is refused.
2. A size a file declares (a header length, an array shape, a zip member's size) is checked
   against the bytes the file really has before anything is allocated for it.
3. Decompression is capped: at most the load limit (`get_load_limit()`, by default
   `DEFAULT_MAX_BYTES` = 4 GiB, per file) is ever produced, and a compressed member may expand
   to at most `DEFAULT_MAX_EXPANSION` (32) times its compressed size beyond 16 MiB (a zip
   bomb expands a thousand times), so what a hostile file can claim stays proportional to its
   size. Since a zip's declared member size may lie, members are read in chunks that stop one
   byte past the limit (`read_zip_member`, `read_bounded`).
4. Zip member names are checked before any member is read: absolute paths, `..` parts,
   backslashes, NUL bytes and duplicate names are refused (`open_zip`).
5. Nested text (JSON) is checked for depth before it is parsed (`parse_json`), so deep
   nesting is an error naming the file instead of a RecursionError.

The limit can be raised for a trusted large file: per call with a loader's `max_bytes=`
keyword, for a block with `with load_limit(n):`, or for the process with `set_load_limit(n)`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import reprlib
import stat
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

import numpy as np

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EXPANSION",
    "SMALL_EXPANSION_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_JSON_DEPTH",
    "CorruptFileError",
    "FileTooLargeError",
    "LoadError",
    "MissingFileError",
    "NotARegularFileError",
    "UnsafeContentError",
    "file_name",
    "file_size",
    "expansion_cap",
    "get_load_limit",
    "get_max_expansion",
    "json_depth",
    "load_limit",
    "open_regular",
    "open_zip",
    "parse_json",
    "read_bounded",
    "read_exact",
    "read_zip_member",
    "regular_file",
    "resolve_limit",
    "set_load_limit",
    "short_repr",
    "too_large",
]

DEFAULT_MAX_BYTES = 4 * 1024**3
"""The default load limit: the most bytes one load may decompress or allocate (4 GiB)."""

MAX_HEADER_BYTES = 100_000_000
"""The largest JSON header (safetensors header, structure entry) a loader accepts."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of JSON arrays/objects a loader accepts."""

_CHUNK = 1 << 20  # read and decompress in 1 MiB steps, so a lie is caught within one chunk

DEFAULT_MAX_EXPANSION = 32
"""How many times its compressed size one compressed member (zip, gzip) may expand to, beyond
`SMALL_EXPANSION_BYTES`: real tensor data compresses a few times at most, a zip bomb a
thousand times, so the memory a hostile file can claim stays proportional to its size."""

SMALL_EXPANSION_BYTES = 16 * 1024**2
"""Up to this size a compressed member may expand any number of times (all-zero buffers)."""

_limit = DEFAULT_MAX_BYTES
_expansion = DEFAULT_MAX_EXPANSION


_MAX_REASON = 1000


# -- errors ------------------------------------------------------------------------------------
class LoadError(RuntimeError):
    """A file could not be loaded: it is not a regular file, is damaged, declares more than
    the load limit allows, or holds unsafe content. The message names the file and the reason;
    `.file` and `.reason` hold them separately."""

    def __init__(self, reason: str, file: str | None = None) -> None:
        if len(reason) > _MAX_REASON:  # a reason quoting what a hostile file chose stays short
            reason = reason[: _MAX_REASON - 15] + " ... (cut short)"
        self.file = file
        self.reason = reason
        super().__init__(f"cannot load {file}: {reason}" if file is not None else reason)


class NotARegularFileError(LoadError):
    """The path is a directory, a FIFO, a socket or a device, not a regular file."""


class MissingFileError(LoadError, FileNotFoundError):
    """The path does not exist (also a FileNotFoundError, as torch raises)."""


class FileTooLargeError(LoadError):
    """A declared or decompressed size is over the load limit (see `set_load_limit`)."""


class CorruptFileError(LoadError, ValueError):
    """The file is truncated, damaged, or not in the format the loader reads (also a
    ValueError, which the data loaders raised for bad content before)."""


class UnsafeContentError(LoadError):
    """The file holds content that loading would have to execute (a pickle, an object array)
    or a zip member name that points outside the archive."""


# -- the load limit ----------------------------------------------------------------------------
def get_load_limit() -> int:
    """The most bytes one load may decompress or allocate (`DEFAULT_MAX_BYTES` unless set)."""
    return _limit


def get_max_expansion() -> int:
    """How many times its compressed size a compressed member may expand to (see
    `DEFAULT_MAX_EXPANSION`)."""
    return _expansion


def set_load_limit(max_bytes: int | None = None, *, max_expansion: int | None = None) -> None:
    """Set the load limit for the process: the most bytes one load may decompress or allocate,
    and how many times its compressed size a compressed member may expand to. `None` restores
    each default (`DEFAULT_MAX_BYTES`, `DEFAULT_MAX_EXPANSION`)."""
    global _limit, _expansion
    _limit = DEFAULT_MAX_BYTES if max_bytes is None else _check_limit(max_bytes)
    _expansion = DEFAULT_MAX_EXPANSION if max_expansion is None else _check_limit(max_expansion)


@contextlib.contextmanager
def load_limit(max_bytes: int | None = None, *, max_expansion: int | None = None) -> Iterator[None]:
    """`with load_limit(n):` -- `set_load_limit(n, ...)` inside the block only."""
    global _limit, _expansion
    old = _limit, _expansion
    set_load_limit(max_bytes, max_expansion=max_expansion)
    try:
        yield
    finally:
        _limit, _expansion = old


def _check_limit(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise TypeError(f"load limit must be a non-negative int number of bytes, got {n!r}")
    return int(n)


def expansion_cap(compressed_size: int, limit: int | None = None) -> int:
    """The most bytes a member of `compressed_size` compressed bytes may decompress to:
    `max(SMALL_EXPANSION_BYTES, max_expansion * compressed_size)`, within the load limit."""
    return min(resolve_limit(limit), max(SMALL_EXPANSION_BYTES, _expansion * compressed_size))


def resolve_limit(max_bytes: int | None) -> int:
    """A loader's `max_bytes=` keyword: the value given, or the process's load limit."""
    return _limit if max_bytes is None else _check_limit(max_bytes)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60


def short_repr(v: Any, n: int = 80) -> str:
    """repr(v) cut to n characters, for messages about values a hostile file chose. The repr
    itself is bounded (`reprlib`): a list of a million references to a million-item list,
    or an int of a million digits, costs no more to describe than a short one."""
    try:
        r = _REPR.repr(v)
    except Exception:  # an int past str()'s digit limit, a repr that fails
        r = f"<{type(v).__name__}>"
    return r if len(r) <= n else r[: n - 3] + "..."


def _human(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def too_large(what: str, size: int, limit: int, file: str) -> FileTooLargeError:
    return FileTooLargeError(
        f"{what} is {size} bytes ({_human(size)}), over the load limit of {limit} bytes "
        f"({_human(limit)}); raise it with max_bytes= or "
        f"autotensor.serialization.set_load_limit(n) if the file is trusted",
        file,
    )


# -- regular files -----------------------------------------------------------------------------
def file_name(f: Any) -> str:
    """How error messages name `f`: the path in quotes, or the file object's name."""
    if isinstance(f, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else "the given file object"


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(f: str | os.PathLike | IO[bytes], what: str = "file") -> BinaryIO:
    """Open `f` for reading, refusing anything that is not a regular file.

    A path is opened with `O_NONBLOCK` (a FIFO cannot hang the open), checked with `fstat` on
    the descriptor (a symlink to `/dev/zero` is a character device) and returned as a buffered
    binary file the caller closes. An open binary file object is checked the same way where
    it has a descriptor, must be seekable, and is returned as it is (the caller keeps owning
    it). Raises `NotARegularFileError`, `MissingFileError` or `LoadError`.
    """
    name = file_name(f)
    if not isinstance(f, (str, bytes, os.PathLike)):
        if not hasattr(f, "read"):
            raise TypeError(f"cannot load {what} from {type(f).__name__}: need a path or a file")
        fileno = None
        with contextlib.suppress(OSError, AttributeError, ValueError, io.UnsupportedOperation):
            fileno = f.fileno()
        if fileno is not None:
            _check_regular(fileno, what, name)
        try:  # a closed, write-only or text-mode file fails here, not in the middle of a read
            probe = f.read(0)
            seekable = f.seekable()
        except (OSError, ValueError, AttributeError) as e:
            raise LoadError(f"{what} cannot be read ({type(e).__name__}: {e})", name) from None
        if not isinstance(probe, bytes):
            raise LoadError(f"{what} is open in text mode; open it with mode 'rb'", name)
        if not seekable:
            raise LoadError(f"{what} must be a seekable binary file object", name)
        return f  # type: ignore[return-value]
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(f, flags)
    except FileNotFoundError:
        raise MissingFileError(f"no such {what}", name) from None
    except OSError as e:
        raise LoadError(f"cannot open {what} ({e.strerror or e})", name) from None
    try:
        _check_regular(fd, what, name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # regular files never block; plain reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_regular(fd: int, what: str, name: str) -> None:
    """`fd` is a regular file whose size is its content: a pseudo-file of procfs or sysfs
    (`/proc/self/mem`, `/proc/self/maps`) says "regular, 0 bytes" but reads something else
    or fails, so an empty-looking file must read as empty."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFileError(f"{what} is {_kind(st.st_mode)}, not a regular file", name)
    if st.st_size == 0 and hasattr(os, "pread"):
        try:
            pseudo = os.pread(fd, 1, 0) != b""
        except OSError:
            pseudo = True
        if pseudo:
            raise NotARegularFileError(
                f"{what} is a pseudo-file (procfs/sysfs: its size is 0 but it reads otherwise), "
                f"not a regular file",
                name,
            )


@contextlib.contextmanager
def regular_file(f: str | os.PathLike | IO[bytes], what: str = "file") -> Iterator[BinaryIO]:
    """`with regular_file(f) as fh:` -- `open_regular`, closing the file only if it opened it."""
    fh = open_regular(f, what)
    try:
        yield fh
    finally:
        if fh is not f:
            fh.close()


def file_size(fh: IO[bytes]) -> int:
    """Bytes from the current position to the end of `fh` (the position is kept)."""
    pos = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(pos)
    return end - pos


# -- bounded reads -----------------------------------------------------------------------------
def read_exact(fh: IO[bytes], n: int, file: str, what: str = "data") -> bytes:
    """Exactly `n` bytes of `fh`, checked against what is left of the file first (a declared
    size larger than the file is a truncated or corrupt file, found before allocating)."""
    if n < 0:
        raise CorruptFileError(f"{what} declares a negative size {n}", file)
    left = file_size(fh)
    if n > left:
        raise CorruptFileError(
            f"{what} declares {n} bytes but only {left} are left in the file (truncated or "
            f"corrupt)",
            file,
        )
    data = fh.read(n)
    if len(data) != n:
        raise CorruptFileError(f"{what}: file ended early (truncated)", file)
    return data


def read_bounded(stream: Any, limit: int, file: str, what: str = "data") -> bytes:
    """All of `stream` (a decompressing reader, say), but never more than `limit` bytes: it
    reads in chunks and stops one byte past the limit, however large the data claims to be."""
    parts: list[bytes] = []
    total = 0
    try:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileTooLargeError(
                    f"{what} expands past the load limit of {limit} bytes ({_human(limit)}); "
                    f"raise it with max_bytes= or autotensor.serialization.set_load_limit(n) "
                    f"if the file is trusted",
                    file,
                )
    except LoadError:
        raise
    except (zlib.error, zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise CorruptFileError(f"{what} is damaged ({type(e).__name__}: {e})", file) from None
    return b"".join(parts)


# -- zip archives ------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_member_name(name: str, file: str) -> None:
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or _DRIVE.match(name)
        or any(p in ("..",) for p in parts)
    ):
        raise UnsafeContentError(
            f"zip member name {short_repr(name)} points outside the archive (absolute path, '..', "
            f"backslash or NUL); refusing the archive",
            file,
        )


def open_zip(fh: IO[bytes], file: str, limit: int | None = None) -> zipfile.ZipFile:
    """A `ZipFile` over `fh` whose member names were checked (Note [Bounded loading], rule 4)
    and whose declared sizes together are within `limit` (the load limit if None)."""
    cap = resolve_limit(limit)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        raise CorruptFileError(
            f"not a valid zip archive, or truncated ({type(e).__name__}: {e})", file
        ) from None
    except Exception as e:  # struct.error and friends from a damaged central directory
        raise CorruptFileError(f"damaged zip archive ({type(e).__name__}: {e})", file) from None
    try:
        real = file_size(fh) + fh.tell()
        seen: set[str] = set()
        total = 0
        for info in zf.infolist():
            _check_member_name(info.filename, file)
            member = short_repr(info.filename)
            if info.header_offset + info.compress_size > real:
                raise CorruptFileError(
                    f"zip member {member} declares {info.compress_size} bytes at "
                    f"offset {info.header_offset}, past the end of the {real}-byte file "
                    f"(truncated or corrupt)",
                    file,
                )
            if info.compress_type != zipfile.ZIP_STORED:
                allowed = expansion_cap(info.compress_size, cap)
                if info.file_size > allowed:
                    raise FileTooLargeError(
                        f"zip member {member} declares {info.file_size} bytes "
                        f"({_human(info.file_size)}) from {info.compress_size} compressed, "
                        f"more than the {allowed} bytes allowed (a zip bomb?); raise the limits "
                        f"with autotensor.serialization.set_load_limit(n, max_expansion=k) if "
                        f"the file is trusted",
                        file,
                    )
            if info.filename in seen:
                raise UnsafeContentError(
                    f"zip member {member} appears twice; refusing an ambiguous archive",
                    file,
                )
            seen.add(info.filename)
            total += info.file_size
            if total > cap:
                raise too_large("the archive's declared content", total, cap, file)
    except BaseException:
        zf.close()
        raise
    return zf


def read_zip_member(
    zf: zipfile.ZipFile, member: str | zipfile.ZipInfo, file: str, limit: int | None = None
) -> bytes:
    """One member of `zf`, decompressed to at most `limit` bytes (the load limit if None).

    The declared size is checked first, and since it may lie the read itself stops one byte
    past the limit. A member whose data differs from its declared size or CRC is corrupt.
    """
    cap = resolve_limit(limit)
    try:
        info = member if isinstance(member, zipfile.ZipInfo) else zf.getinfo(member)
    except KeyError:
        raise CorruptFileError(f"the archive has no member {short_repr(member)}", file) from None
    what = f"zip member {short_repr(info.filename)}"
    if info.file_size > cap:
        raise too_large(what, info.file_size, cap, file)
    try:
        stream = zf.open(info)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
        raise CorruptFileError(f"{what} cannot be read ({type(e).__name__}: {e})", file) from None
    except Exception as e:
        raise CorruptFileError(f"{what} is damaged ({type(e).__name__}: {e})", file) from None
    with stream:
        data = read_bounded(stream, min(cap, info.file_size), file, what)
    if len(data) != info.file_size:
        raise CorruptFileError(
            f"{what} holds {len(data)} bytes but declares {info.file_size} (damaged)", file
        )
    return data


# -- JSON --------------------------------------------------------------------------------------
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays/objects in JSON text (strings are skipped), computed
    without recursion so that any depth can be measured."""
    bare = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    step = np.zeros(len(bare), dtype=np.int64)
    step[(bare == ord("[")) | (bare == ord("{"))] = 1
    step[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {short_repr(dup)} appears twice in one object")
    return out


def parse_json(
    data: bytes,
    file: str,
    what: str = "header",
    max_depth: int = MAX_JSON_DEPTH,
    max_bytes: int = MAX_HEADER_BYTES,
) -> Any:
    """`json.loads` of untrusted UTF-8 text, with its size and nesting depth checked first."""
    if len(data) > max_bytes:
        raise too_large(what, len(data), max_bytes, file)
    depth = json_depth(data)
    if depth > max_depth:
        raise CorruptFileError(
            f"{what} nests {depth} levels deep (at most {max_depth} are accepted)", file
        )
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        reason = f"{what} is not valid JSON ({type(e).__name__}: {e})"
        raise CorruptFileError(reason, file) from None

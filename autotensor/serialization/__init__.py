"""`autotensor.serialization`: reading and writing files of tensors, with bounded loading.

Every loader in the project reports failures as `LoadError` (or a subclass) naming the file
and the reason, and reads only what the load limit allows (Note [Bounded loading] in
`autotensor/serialization/_files.py`).
"""

from autotensor.serialization._files import (
    DEFAULT_MAX_BYTES,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    CorruptFileError,
    FileTooLargeError,
    LoadError,
    MissingFileError,
    NotARegularFileError,
    UnsafeContentError,
    file_name,
    file_size,
    get_load_limit,
    json_depth,
    load_limit,
    open_regular,
    open_zip,
    parse_json,
    read_bounded,
    read_exact,
    read_zip_member,
    regular_file,
    resolve_limit,
    set_load_limit,
    too_large,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
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
    "get_load_limit",
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
    "too_large",
]

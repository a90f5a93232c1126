"""`autotensor.serialization`: reading and writing files of tensors, with bounded loading.

`save` / `load` (also `at.save` / `at.load`) are torch's: the zip checkpoint format of
`torch.save`, weights-only loading by default with torch's allow-list functions
(`add_safe_globals`, `get_safe_globals`, `clear_safe_globals`, `safe_globals`,
`get_unsafe_globals_in_checkpoint`), and `.safetensors` paths in that format.

Every loader in the project reports failures as `LoadError` (or a subclass) naming the file
and the reason, and reads only what the load limit allows (Note [Bounded loading] in
`autotensor/serialization/_files.py`).
"""

from autotensor.serialization import _files
from autotensor.serialization._api import (
    DEFAULT_PROTOCOL,
    get_unsafe_globals_in_checkpoint,
    load,
    save,
)
from autotensor.serialization._files import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EXPANSION,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    SMALL_EXPANSION_BYTES,
    CorruptFileError,
    FileTooLargeError,
    LoadError,
    MissingFileError,
    NotARegularFileError,
    UnsafeContentError,
    expansion_cap,
    file_name,
    file_size,
    get_load_limit,
    get_max_expansion,
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
    short_repr,
    too_large,
)
from autotensor.serialization._safetensors import (
    SAFETENSORS_DTYPES,
    load_safetensors,
    safetensors_metadata,
    save_safetensors,
)
from autotensor.serialization._unpickler import (
    MAX_DEPTH,
    MAX_MEMO,
    MAX_STACK,
    Storage,
    WeightsUnpicklingError,
    add_safe_globals,
    clear_safe_globals,
    get_safe_globals,
    register_tensor_subclass,
    safe_globals,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "MAX_DEPTH",
    "MAX_MEMO",
    "MAX_STACK",
    "Storage",
    "WeightsUnpicklingError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "get_unsafe_globals_in_checkpoint",
    "load",
    "register_tensor_subclass",
    "safe_globals",
    "save",
    *_files.__all__,  # the bounded-loading helpers, listed once in their module
    "SAFETENSORS_DTYPES",
    "load_safetensors",
    "safetensors_metadata",
    "save_safetensors",
]

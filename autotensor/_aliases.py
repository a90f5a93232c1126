"""torch's package names for the layers built on the engine: `autotensor.nn` is `nn`,
`autotensor.optim` is `nn.optim`, `autotensor.utils.data` is `nn.data` (and each of their
submodules: `autotensor.nn.functional` is `nn.functional`, ...).

Note [Aliases]: the names are served by a meta-path finder that answers only for these
prefixes and whose loader hands back the module already imported under its real name. So
`import autotensor.nn.functional as F` gives the very module object `nn.functional` (the
same classes and functions, one copy of their state). Putting `nn` into `sys.modules` under
a second name would not do: the path finder would then find `nn/functional.py` again
below the alias and execute a second copy of it, with its own classes. The finder sits first
on `sys.meta_path` for that reason, and it imports the targets only when asked, so importing
autotensor never imports `nn` (the engine does not depend on the layers built on it).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

# alias prefix -> real package name. The targets are given as strings on purpose: the
# engine's source never imports them (see tests/test_layering.py).
ALIASES: dict[str, str] = {
    "autotensor.nn": "nn",
    "autotensor.optim": "nn.optim",
    "autotensor.utils.data": "nn.data",
}


def target(fullname: str) -> str | None:
    """The real module name behind an alias name, or None when it is not an alias."""
    for alias, real in ALIASES.items():
        if fullname == alias or fullname.startswith(alias + "."):
            return real + fullname[len(alias) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, real: str) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The real module, imported under its own name (a no-op when it already is). The
        # import system keeps the module's own __name__/__spec__ (it only fills in missing
        # ones), so the object stays exactly what `import nn...` gives.
        return importlib.import_module(self.real)

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its real name


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target_module: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        real = target(fullname)
        if real is None:
            return None
        if importlib.util.find_spec(real) is None:
            return None  # ImportError for the alias, as for any missing module
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=True)


_FINDER = _AliasFinder()


def install() -> None:
    """Put the finder first on sys.meta_path (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)

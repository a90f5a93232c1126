"""Who may import whom, checked on the source with `ast` (no import side effects).

1. Nothing under autotensor/ imports nn: the engine knows nothing of the layers built on it.
2. nn/ uses autotensor's public surface: no private module (a path part starting with '_')
   and no private name imported from autotensor. One allowance is listed below with its
   reason; anything new must either use the public API or be added there deliberately.
3. nn/ reads no private field of autotensor's objects: `obj._name` on anything but
   `self`/`cls` is flagged when `_name` is a name autotensor/ assigns on `self` or lists in
   `__slots__` (`_data`, `_vc`, `_edges`, ...); nn's own private attributes (`_modules`,
   `F._reduction`, ...) are not. The accesses that remain are counted per file in
   KNOWN_PRIVATE_ACCESS, and a count may only go down.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (file relative to the repo, "module.name") pairs that rule 2 accepts, with the reason.
ALLOWED_PRIVATE: dict = {}


def _imports(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, imported name or None) for every import in a file, nested ones too."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    return _imports_in(path.read_text(), package)


def _imports_in(src: str, package: tuple = ()) -> Iterator[tuple[int, str, str | None]]:
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the file's package
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module or ""
            for alias in node.names:
                yield node.lineno, module, alias.name


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_packages_exist() -> None:
    assert _files("autotensor"), "autotensor/ has no Python files"


@pytest.mark.parametrize("path", _files("autotensor"), ids=lambda p: str(p.relative_to(ROOT)))
def test_autotensor_never_imports_nn(path: Path) -> None:
    for line, module, _ in _imports(path):
        top = module.split(".")[0]
        assert top != "nn", f"{path.relative_to(ROOT)}:{line} imports {module!r}"


@pytest.mark.parametrize("path", _files("nn"), ids=lambda p: str(p.relative_to(ROOT)))
def test_nn_uses_only_public_autotensor(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    for line, module, name in _imports(path):
        if module.split(".")[0] != "autotensor":
            continue
        full = module if name is None else f"{module}.{name}"
        private = any(part.startswith("_") for part in full.split("."))
        if private and (rel, full) not in ALLOWED_PRIVATE:
            pytest.fail(f"{rel}:{line} imports private {full!r}; use autotensor's public API")


def test_the_checker_sees_imports() -> None:
    """Plain, from-, nested and relative imports are all seen (a checker that saw nothing
    would pass vacuously)."""
    src = "import nn\nfrom nn import functional\ndef f():\n    import nn.init\nfrom ._x import y\n"
    found = [(m, n) for _, m, n in _imports_in(src, ("nn", "sub"))]
    assert found == [("nn", None), ("nn", "functional"), ("nn.sub._x", "y"), ("nn.init", None)]


def test_importing_autotensor_does_not_load_nn() -> None:
    """The alias modules reach nn only when asked for (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import sys, autotensor\n"
        "assert 'nn' not in sys.modules, 'import autotensor loaded nn'\n"
        "autotensor.nn\n"
        "assert 'nn' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- rule 3: nn/ touches no private field of autotensor's objects -----------------------------
# An attribute access `obj._name` in nn/ on anything but `self`/`cls` is flagged when `_name`
# is a private field of autotensor's (a name that autotensor/ assigns on `self`, or lists in
# `__slots__`: `_data`, `_vc`, `_edges`, `_saved`, ...). nn's own private attributes (those
# nn/ defines and autotensor/ does not: `module._modules`, `F._reduction`, ...) are fine.
# KNOWN_PRIVATE_ACCESS lists the accesses that remain, per (file, name), with their count: the
# count may only go down (a new access fails the test; fix it or use a public seam such as
# `tensor.detach().numpy()`, `tensor.data`, `Tensor.__init__`).
KNOWN_PRIVATE_ACCESS: dict = {}


def _private_fields_of_autotensor() -> set[str]:
    names: set[str] = set()
    for path in _files("autotensor"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
            ):
                for c in ast.walk(node.value):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str):
                        names.add(c.value)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private_access(src: str, fields: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(src)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in fields
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            yield node.lineno, node.attr


def test_nn_touches_no_private_field_of_autotensor() -> None:
    fields = _private_fields_of_autotensor()
    assert {"_data", "_vcount", "_edges", "_saved"} <= fields  # the collector sees them
    found: dict = {}
    where: dict = {}
    for path in _files("nn"):
        rel = str(path.relative_to(ROOT))
        for line, name in _private_access(path.read_text(), fields):
            found[(rel, name)] = found.get((rel, name), 0) + 1
            where.setdefault((rel, name), []).append(line)
    worse = {
        k: (n, KNOWN_PRIVATE_ACCESS.get(k, 0))
        for k, n in found.items()
        if n > KNOWN_PRIVATE_ACCESS.get(k, 0)
    }
    assert not worse, "new private access from nn/ (file, name): (count, allowed): " + ", ".join(
        f"{k}: {v} at lines {where[k]}" for k, v in worse.items()
    )


def test_the_private_access_checker_sees_accesses() -> None:
    src = "def f(t, self):\n    a = t._data\n    self._data = 1\n    t.grad._vc[0] += 1\n"
    assert list(_private_access(src, {"_data", "_vc"})) == [(2, "_data"), (4, "_vc")]

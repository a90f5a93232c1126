"""Which torch calls do public PyTorch programs make, and which does autotensor have?

    python3 benchmarks/api_survey.py REPO [REPO ...] [--markdown docs/api_survey.md]

Each REPO is a git directory (bare or not); its HEAD is read with `git ls-tree`/`git show`,
so nothing needs to be checked out. Every `.py` file and every notebook's code cells that
mention torch are scanned; the files of one directory form one *program* (pytorch/examples'
`word_language_model/` is one program of three files). A name counts once per program.

Names are collected as

- `torch.X` (also through `import torch.nn.functional as F`-style aliases: `F.X`, `nn.X`,
  `optim.X`, `torch.utils.data.X`), normalised to `torch.X`, `F.X`, `nn.X`, `optim.X`,
  `data.X`, `torch.cuda.X`, ...;
- `.X(` where X is a method of `torch.Tensor` (needs torch installed to know the names),
  as `Tensor.X`. This over-counts a little (`.view(` on a non-tensor), which is fine for
  ranking.

The table lists each name, the number of programs using it and whether autotensor has it
(`autotensor.X`, `autotensor.Tensor.X`, `nn.functional.X`, `nn.X`, `nn.optim.X`,
`nn.data.X`).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

_DOTTED = re.compile(r"\b(torch|F|nn|optim)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
_METHOD = re.compile(r"\.([A-Za-z_]\w*)\(")
# Tensor methods that are also common names on other objects: not counted as Tensor calls
_AMBIGUOUS = {"add", "apply", "copy", "index", "items", "keys", "values", "update", "format",
              "split", "join", "step", "type", "get", "pop", "append", "extend", "sort",
              "count", "insert", "remove", "clear", "replace", "strip", "encode", "decode",
              "write", "read", "close", "load", "save", "train", "eval", "forward",
              "state_dict", "load_state_dict", "parameters", "zero_grad", "to", "cpu",
              "cuda", "float", "int", "long", "double", "bool", "half", "item", "tolist",
              "size", "numpy"}  # fmt: skip
_KEEP_METHODS = {"to", "cpu", "cuda", "float", "long", "item", "tolist", "size", "numpy",
                 "type", "split", "sort", "add", "copy", "int", "double", "bool",
                 "half"}  # fmt: skip


_MODULES = {
    "nn",
    "optim",
    "utils",
    "distributed",
    "multiprocessing",
    "cuda",
    "backends",
    "onnx",
    "fx",
    "jit",
    "autograd",
    "distributions",
    "testing",
    "profiler",
    "amp",
}


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout  # fmt: skip


def _sources(repo: str):
    """(path, source text) of every Python file and notebook at HEAD."""
    for path in _git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines():
        if not path.endswith((".py", ".ipynb")):
            continue
        text = _git(repo, "show", f"HEAD:{path}")
        if path.endswith(".ipynb"):
            try:
                cells = json.loads(text).get("cells", [])
            except json.JSONDecodeError:
                continue
            text = "\n".join(
                "".join(c.get("source", [])) for c in cells if c.get("cell_type") == "code"
            )
        if "torch" in text:
            yield path, text


def _normalise(head: str, rest: str) -> str | None:
    parts = rest.split(".")
    if head == "torch":
        if parts[0] == "nn" and len(parts) > 1:
            if parts[1] == "functional":
                return f"F.{parts[2]}" if len(parts) > 2 else None
            if parts[1] in ("init", "utils") and len(parts) > 2:
                return f"nn.{parts[1]}.{parts[2]}"
            return f"nn.{parts[1]}"
        if parts[0] == "optim" and len(parts) > 1:
            if parts[1] == "lr_scheduler" and len(parts) > 2:
                return f"optim.lr_scheduler.{parts[2]}"
            return f"optim.{parts[1]}"
        if parts[:2] == ["utils", "data"] and len(parts) > 2:
            return f"data.{parts[2]}"
        if parts[0] in (
            "cuda",
            "backends",
            "distributed",
            "autograd",
            "jit",
            "amp",
            "mps",
            "onnx",
            "utils",
            "multiprocessing",
            "fx",
            "testing",
            "accelerator",
            "compiler",
            "hub",
            "linalg",
            "fft",
            "special",
            "random",
            "distributions",
        ):
            return f"torch.{parts[0]}.{parts[1]}" if len(parts) > 1 else f"torch.{parts[0]}"
        if len(parts) == 1 and parts[0] in _MODULES:
            return None  # `import torch.nn`: the module itself, not a call
        return f"torch.{parts[0]}"
    if head == "F":
        return f"F.{parts[0]}"
    if head == "nn":
        if parts[0] == "functional" and len(parts) > 1:
            return f"F.{parts[1]}"
        if parts[0] in ("init", "utils") and len(parts) > 1:
            return f"nn.{parts[0]}.{parts[1]}"
        return f"nn.{parts[0]}"
    if head == "optim":
        if not (parts[0][:1].isupper() or parts[0] == "lr_scheduler"):
            return None  # a variable named optim (optim.step()), not the package
        if parts[0] == "lr_scheduler" and len(parts) > 1:
            return f"optim.lr_scheduler.{parts[1]}"
        return f"optim.{parts[0]}"
    return None


def names_in(text: str, tensor_methods: set) -> set:
    """The normalised torch names a source text uses."""
    found = set()
    for head, rest in _DOTTED.findall(text):
        name = _normalise(head, rest)
        if name:
            found.add(name)
    for m in _METHOD.findall(text):
        if m in tensor_methods and (m not in _AMBIGUOUS or m in _KEEP_METHODS):
            found.add(f"Tensor.{m}")
    return found


def survey(repos: list[str]) -> tuple[Counter, list[str]]:
    """Number of programs using each name, and the programs' names."""
    try:
        import torch

        methods = {m for m in dir(torch.Tensor) if not m.startswith("_")}
    except ImportError:  # without torch, only the dotted names are counted
        methods = set()
    programs: dict = defaultdict(set)
    for repo in repos:
        label = Path(repo).resolve().parent.name.replace("+", "/") if Path(repo).name == "repo" \
            else Path(repo).resolve().name  # fmt: skip
        for path, text in _sources(repo):
            programs[f"{label}:{str(Path(path).parent)}"] |= names_in(text, methods)
    counts: Counter = Counter()
    for names in programs.values():
        counts.update(names)
    return counts, sorted(programs)


def supported(name: str) -> bool | None:
    """Whether autotensor (or nn) offers `name`; None when it is outside the surveyed API."""
    import autotensor as at

    kind, _, attr = name.partition(".")
    try:
        if kind == "torch":
            obj = at
            for part in attr.split("."):
                obj = getattr(obj, part)
            return True
        if kind == "Tensor":
            return hasattr(at.Tensor, attr)
        import nn

        if kind == "F":
            return hasattr(nn.functional, attr)
        if kind == "nn":
            obj = nn
            for part in attr.split("."):
                obj = getattr(obj, part)
            return True
        if kind == "optim":
            obj = nn.optim
            for part in attr.split("."):
                obj = getattr(obj, part)
            return True
        if kind == "data":
            return hasattr(nn.data, attr)
    except AttributeError:
        return False
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("repos", nargs="+", help="git directories of the surveyed repositories")
    p.add_argument("--markdown", help="write the ranked table to this file")
    p.add_argument("--min-programs", type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    counts, programs = survey(args.repos)
    rows = [(n, c, supported(n)) for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if c >= args.min_programs]  # fmt: skip
    lines = ["| name | programs | supported |", "|---|---:|:---:|"]
    lines += [f"| `{n}` | {c} | {'yes' if s else 'no'} |" for n, c, s in rows]
    have = sum(1 for _, _, s in rows if s)
    summary = (f"{len(programs)} programs in {len(args.repos)} repositories; {len(rows)} names "
               f"used by at least {args.min_programs} programs, {have} supported.")  # fmt: skip
    print(summary)
    for n, c, s in rows:
        print(f"{c:4d}  {'yes' if s else 'NO ':3s}  {n}")
    if args.markdown:
        Path(args.markdown).write_text(
            "\n".join(
                [
                    summary,
                    "",
                    *lines,
                    "",
                    "Programs surveyed:",
                    "",
                    *[f"- `{pr}`" for pr in programs],
                    "",
                ]
            )  # fmt: skip
        )


if __name__ == "__main__":
    main()

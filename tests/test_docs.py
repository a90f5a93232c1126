"""The documentation's code runs: every ```python block of the Markdown pages under docs/
(and of README.md), page by page in one namespace, in a scratch directory, and the demo
script. A block that is a fragment on purpose is preceded by the line `<!-- not run -->`
(invisible when the page is rendered) and is skipped."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
PYTHON_BLOCK = re.compile(r"(<!-- not run[^>]*-->\s*\n)?^```python\n(.*?)^```", re.S | re.M)
# optional packages a page may need: without one, the page skips (with its name) instead of
# failing; an ImportError with the package installed still fails
OPTIONAL = ("graphviz", "torch", "onnxruntime", "onnx", "safetensors", "matplotlib", "tqdm")


def _blocks(page: Path) -> list[str]:
    """The runnable python blocks of a page, in order."""
    if not page.exists():
        return []
    return [code for skip, code in PYTHON_BLOCK.findall(page.read_text()) if not skip]


def test_docs_have_examples() -> None:
    assert _blocks(ROOT / "docs" / "extending.md"), "docs/extending.md lost its example"
    assert _blocks(ROOT / "docs" / "index.md")


def test_not_run_marker_skips_a_block(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```python\na = 1\n```\n<!-- not run: fragment -->\n```python\nb\n```\n")
    assert _blocks(page) == ["a = 1\n"]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files an example writes land in a scratch directory
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(_blocks(page)):
        code = compile(block, f"{page.relative_to(ROOT)} (python block {i})", "exec")
        try:
            exec(code, namespace)  # an exception fails the test with the page and block named
        except ImportError as err:
            missing = next((m for m in OPTIONAL if m in str(err) and not _importable(m)), None)
            if missing is None:
                raise
            pytest.skip(f"{page.relative_to(ROOT)} block {i} needs {missing}, not installed")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _load_demo():
    path = ROOT / "docs" / "examples" / "demo.py"
    spec = importlib.util.spec_from_file_location("autotensor_demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_trains(capsys: pytest.CaptureFixture) -> None:
    final = _load_demo().main(["--steps", "200"])
    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 3  # steps 0, 100, 200
    assert losses[-1] < losses[0] and final == pytest.approx(losses[-1], abs=1e-4)
    assert "training accuracy" in out


def test_demo_writes_dot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("autotensor.viz", reason="the visualiser is not available")
    dot = tmp_path / "graph.dot"
    _load_demo().main(["--steps", "1", "--dot", str(dot)])
    text = dot.read_text()
    assert text.startswith("digraph") and "MatMul" in text

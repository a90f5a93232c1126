"""Time the interactive graph page: building the HTML of a GPT-like model (4 blocks) and of
a 2-layer nn.LSTM over 64 steps (fused layers opened into all their steps), and opening
each page in headless Chromium until its script is ready.

    python benchmarks/bench_viz.py [--chromium /usr/bin/chromium] [--repeats 3]

Needs Graphviz's `dot`; the browser part needs playwright and a Chromium (skipped without).
Each figure is the best of `--repeats` runs; the forward and backward that record the graph
are not included (they run once, under `autotensor.viz.trace`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import autotensor as at

ROOT = Path(__file__).resolve().parents[1]


def _models():
    spec = importlib.util.spec_from_file_location(
        "draw_models", ROOT / "docs" / "examples" / "draw_models.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    dm = _models()
    cases = []
    model, loss = dm.gpt_loss(layers=4)
    cases.append(("GPT-like, 4 blocks", model, loss, {}))
    model, loss = dm.lstm_loss(steps=64)
    cases.append(("2-layer nn.LSTM, 64 steps, expand_fused=True", model, loss,
                  {"expand_fused": True}))  # fmt: skip
    pages = []
    for name, model, loss, kw in cases:
        n_ops = len(at.graph.topo_sort([loss.grad_fn]))
        best = float("inf")
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            page = at.viz.html(loss, module=model, show_values=True, show_grads=True, **kw)
            best = min(best, time.perf_counter() - t0)
        nodes = page.count('class="node"')
        print(f"html  {name}: {n_ops} ops, {nodes} drawn nodes, {len(page) / 1e6:.2f} MB, "
              f"{best:.2f} s")  # fmt: skip
        pages.append((name, page))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: playwright not installed, skipped")
        return
    if not os.path.exists(a.chromium):
        print(f"browser: no Chromium at {a.chromium}, skipped")
        return
    with tempfile.TemporaryDirectory() as d, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        for name, page in pages:
            path = Path(d) / "page.html"
            path.write_text(page, encoding="utf-8")
            best = float("inf")
            for _ in range(a.repeats):
                ctx = browser.new_context(offline=True)
                pg = ctx.new_page()
                t0 = time.perf_counter()
                pg.goto(path.as_uri())
                pg.wait_for_selector("body[data-ready='1']")
                best = min(best, time.perf_counter() - t0)
                ctx.close()
            print(f"open  {name}: {best:.2f} s (load, parse, layout and script ready)")
        browser.close()


if __name__ == "__main__":
    main()

"""Draw the pictures of docs/visualisation.md into docs/img/ (PNG and SVG).

    python docs/examples/draw_models.py [--out-dir docs/img]

Needs Graphviz's `dot` (apt-get install graphviz). The models use the `nn` package; the
chapter-1 graph uses autotensor ops only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import autotensor as at
import nn
from autotensor.viz import examples


def save(g, out_dir: Path, name: str) -> None:
    for fmt in ("png", "svg"):
        g.render(str(out_dir / name), format=fmt, cleanup=True)
    print(f"wrote {out_dir / name}.png and .svg")


def chapter1(out_dir: Path) -> None:
    """(a) f(X, W) = sum(sigmoid(X @ W)), values and gradients."""
    ex = examples.build("chapter1", trace_stats=True)
    ex.root.backward()
    g = at.viz.draw(
        ex.root,
        params=ex.params,
        inputs=ex.inputs,
        show_values=True,
        show_grads=True,
        title=ex.title,
    )
    save(g, out_dir, "chapter1")
    print(at.viz.text(ex.root, params=ex.params, inputs=ex.inputs, show_grads=True))


def deep_mlp(out_dir: Path) -> None:
    """(b) a 5-layer sigmoid MLP after one backward: the gradient shrinks layer by layer."""
    at.manual_seed(0)
    layers: list = [nn.Linear(13, 16), nn.Sigmoid()]
    for _ in range(3):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(16, 1))
    x, y = at.randn(32, 13), at.randn(32, 1)
    with at.viz.trace():
        loss = nn.MSELoss()(model(x), y)
    loss.backward()
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        direction="LR",
        title="5-layer sigmoid MLP, MSE loss: gradient norms after one backward",
    )
    save(g, out_dir, "mlp_grads")


class StackedLSTM(nn.Module):
    """Two LSTMCells stepped over time in Python: every step is recorded op by op."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList([nn.LSTMCell(n_in, hidden), nn.LSTMCell(hidden, hidden)])
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        state = [None, None]
        for t in range(x.shape[0]):
            inp = x[t]
            for k, cell in enumerate(self.cells):
                state[k] = cell(inp) if state[k] is None else cell(inp, state[k])
                inp = state[k][0]
        return self.head(inp)


def lstm(out_dir: Path, steps: int = 64) -> None:
    """(c) a 2-layer LSTM over 64 steps, time steps folded."""
    at.manual_seed(0)
    model = StackedLSTM(8, 16)
    x, y = at.randn(steps, 4, 8), at.randn(4, 1)
    with at.viz.trace():
        loss = nn.MSELoss()(model(x), y)
    loss.backward()
    n_ops = len(at.graph.topo_sort([loss.grad_fn]))
    t0 = time.perf_counter()
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        title=f"2-layer LSTM (LSTMCell) over {steps} steps: {n_ops} ops, steps folded",
    )
    print(f"lstm: {n_ops} ops drawn in {time.perf_counter() - t0:.3f}s")
    save(g, out_dir, "lstm_folded")
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        collapse=["cells.0", "cells.1"],
        title="the same LSTM, each cell collapsed",
    )
    save(g, out_dir, "lstm_collapsed")


def cnn(out_dir: Path) -> None:
    """(d) a CNN grouped by module, and the same with each layer collapsed."""
    at.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(72, 10),
    )
    x, y = at.randn(8, 1, 12, 12), at.randint(0, 10, (8,))
    with at.viz.trace():
        loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    g = at.viz.draw(loss, module=model, show_grads=True, title="CNN grouped by module")
    save(g, out_dir, "cnn_modules")
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        collapse=1,
        direction="LR",
        title="the same CNN, each layer collapsed (collapse=1)",
    )
    save(g, out_dir, "cnn_collapsed")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "img"))
    a = p.parse_args()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chapter1(out)
    deep_mlp(out)
    lstm(out)
    cnn(out)


if __name__ == "__main__":
    main()

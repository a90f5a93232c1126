"""A two-minute tour of autotensor: fit a tiny two-layer network to a noisy spiral with the
engine alone (tensors, autograd, a hand-written SGD step), printing the loss as it falls.

    python docs/examples/demo.py              # a few seconds; needs only numpy
    python docs/examples/demo.py --dot g.dot  # also write the recorded graph as DOT text

The optional graph needs the visualiser (autotensor.viz); render the DOT file with
Graphviz's `dot -Tsvg g.dot -o g.svg`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout too

import autotensor as at


def spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals in the plane: points (n, 2) float32 and labels (n,) int64."""
    t = rng.uniform(0.25, 1.0, n)
    label = rng.integers(0, 2, n)
    angle = 3 * np.pi * t + np.pi * label
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], 1) + rng.normal(0, 0.03, (n, 2))
    return x.astype(np.float32), label.astype(np.int64)


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--dot", help="write the graph of one loss computation to this DOT file")
    args = p.parse_args(argv)

    at.manual_seed(0)
    rng = np.random.default_rng(0)
    x_np, y_np = spiral(256, rng)
    x, y = at.from_numpy(x_np), at.from_numpy(y_np)

    # Parameters are leaf tensors that require grad; backward() fills their .grad.
    w1 = (at.randn(2, args.hidden) * 1.0).requires_grad_()
    b1 = at.zeros(args.hidden, requires_grad=True)
    w2 = (at.randn(args.hidden, 2) * (1.0 / args.hidden**0.5)).requires_grad_()
    b2 = at.zeros(2, requires_grad=True)
    params = [w1, b1, w2, b2]

    def loss_fn() -> at.Tensor:
        h = (x @ w1 + b1).tanh()  # (256, hidden)
        logits = h @ w2 + b2  # (256, 2)
        # cross-entropy: mean over the batch of -log softmax at the true class
        return -logits.log_softmax(1).gather(1, y.unsqueeze(1)).mean()

    start = time.perf_counter()
    for step in range(args.steps + 1):
        loss = loss_fn()
        loss.backward()  # the recorded graph, walked in reverse topological order
        with at.no_grad():  # the update itself must not be recorded
            for w in params:
                w -= args.lr * w.grad
                w.grad = None
        if step % 100 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    with at.no_grad():
        h = (x @ w1 + b1).tanh()
        accuracy = ((h @ w2 + b2).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.1%} in {time.perf_counter() - start:.2f} s")

    if args.dot:
        try:
            from autotensor import viz
        except ImportError:
            print("the graph visualiser (autotensor.viz) is not available; no DOT written")
        else:
            names = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
            Path(args.dot).write_text(viz.to_dot(loss_fn(), params=names))
            print(f"wrote the graph of one loss computation to {args.dot}")
    return float(loss.item())


if __name__ == "__main__":
    main()

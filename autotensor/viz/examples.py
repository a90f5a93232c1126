"""Example graphs for `autotensor-draw` and the documentation, written with autotensor ops only.

Each builder returns an `Example`: the root tensor (a scalar loss), the parameters by name,
`module=True` (ops are recorded inside `autotensor.graph.scope(name)` blocks, which the
visualiser draws as boxes) and a title. With `trace_stats=True` the forward pass runs inside
`autotensor.viz.trace()`, so value and gradient statistics of every op can be drawn.

- chapter1: the book's first computational graph, f(X, W) = sum(sigmoid(X @ W)).
- mlp: the book's Boston-housing network: Dense(13->13, sigmoid), Dense(13->1), MSE loss.
- lstm: a 2-layer LSTM unrolled over `steps` time steps (input projections in one GEMM per
  layer), a linear head on the last hidden state, MSE loss.
- cnn: two 3x3 convolutions (im2col from slices), ReLU, 2x2 max-pooling, a linear classifier
  and cross-entropy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autotensor as at
from autotensor.graph import scope


@dataclass
class Example:
    root: Any
    params: dict
    module: Any
    title: str
    inputs: dict | None = None


def _param(rng: np.random.Generator, *shape: int, scale: float | None = None) -> Any:
    fan_in = shape[-1] if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
    return at.tensor(rng.uniform(-s, s, size=shape).astype(np.float32), requires_grad=True)


def chapter1(seed: int = 0) -> Example:
    """f(X, W) = sum(sigmoid(X @ W)) with X (3, 3), W (3, 2); both require grad (the book
    computes dL/dX)."""
    rng = np.random.default_rng(seed)
    X = at.tensor(rng.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    W = at.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    L = (X @ W).sigmoid().sum()
    return Example(L, {"W": W}, None, "f(X, W) = sum(sigmoid(X @ W))", {"X": X})


def _linear(x: Any, w: Any, b: Any) -> Any:
    return at.functional.linear(x, w, b)


def mlp(seed: int = 0, batch: int = 32) -> Example:
    """The book's chapter-4 network on Boston-housing-shaped data (13 features)."""
    rng = np.random.default_rng(seed)
    p = {
        "dense1.weight": _param(rng, 13, 13),
        "dense1.bias": _param(rng, 13, scale=0.1),
        "dense2.weight": _param(rng, 1, 13),
        "dense2.bias": _param(rng, 1, scale=0.1),
    }
    x = at.tensor(rng.standard_normal((batch, 13)).astype(np.float32))
    y = at.tensor(rng.standard_normal((batch, 1)).astype(np.float32))
    with scope("mlp"):
        with scope("dense1"):
            h = _linear(x, p["dense1.weight"], p["dense1.bias"]).sigmoid()
        with scope("dense2"):
            out = _linear(h, p["dense2.weight"], p["dense2.bias"])
    with scope("loss"):
        loss = ((out - y) ** 2).mean()
    return Example(loss, p, True, "MLP 13-13-1 (sigmoid), MSE loss")


def lstm(
    seed: int = 0, steps: int = 64, layers: int = 2, batch: int = 4, inp: int = 8, hidden: int = 16
) -> Example:
    """A `layers`-layer LSTM (torch's gate order i, f, g, o) unrolled over `steps` steps."""
    rng = np.random.default_rng(seed)
    p: dict = {}
    for k in range(layers):
        n_in = inp if k == 0 else hidden
        p[f"lstm.weight_ih_l{k}"] = _param(rng, 4 * hidden, n_in, scale=hidden**-0.5)
        p[f"lstm.weight_hh_l{k}"] = _param(rng, 4 * hidden, hidden, scale=hidden**-0.5)
        p[f"lstm.bias_l{k}"] = _param(rng, 4 * hidden, scale=hidden**-0.5)
    p["head.weight"] = _param(rng, 1, hidden)
    p["head.bias"] = _param(rng, 1, scale=0.1)
    x = at.tensor(rng.standard_normal((steps, batch, inp)).astype(np.float32))
    y = at.tensor(rng.standard_normal((batch, 1)).astype(np.float32))
    seq = x
    with scope("lstm"):
        for k in range(layers):
            with scope(f"layer{k}"):
                w_ih, w_hh, b = (p[f"lstm.{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias"))
                # all input projections of the layer in one GEMM
                xp = at.functional.linear(seq, w_ih, b)
                h = at.zeros(batch, hidden)
                c = at.zeros(batch, hidden)
                hs = []
                for t in range(steps):
                    gates = xp[t] + h @ w_hh.T
                    i, f, g, o = gates.chunk(4, 1)
                    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                    h = o.sigmoid() * c.tanh()
                    hs.append(h)
                if k + 1 < layers:
                    seq = at.stack(hs)
    with scope("head"):
        out = _linear(h, p["head.weight"], p["head.bias"])
    with scope("loss"):
        loss = ((out - y) ** 2).mean()
    return Example(loss, p, True, f"{layers}-layer LSTM unrolled over {steps} steps")


def _conv2d(x: Any, w: Any, b: Any, pad: int) -> Any:
    """Cross-correlation by im2col: x (N, C, H, W), w (O, C, k, k) -> (N, O, H', W')."""
    n, c, hh, ww = x.shape
    o, _, k, _ = w.shape
    xp = at.functional.pad(x, (pad, pad, pad, pad)) if pad else x
    ho, wo = hh + 2 * pad - k + 1, ww + 2 * pad - k + 1
    cols = at.stack([xp[:, :, i : i + ho, j : j + wo] for i in range(k) for j in range(k)], 2)
    cols = cols.reshape(n, c * k * k, ho * wo)
    out = w.reshape(o, c * k * k) @ cols
    return (out + b.reshape(o, 1)).reshape(n, o, ho, wo)


def _max_pool2(x: Any) -> Any:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


def cnn(seed: int = 0, batch: int = 8) -> Example:
    """conv(1->4, 3x3) relu pool, conv(4->8, 3x3) relu pool, linear(8*3*3 -> 10), CE."""
    rng = np.random.default_rng(seed)
    p = {
        "conv1.weight": _param(rng, 4, 1, 3, 3, scale=1 / 3),
        "conv1.bias": _param(rng, 4, scale=0.1),
        "conv2.weight": _param(rng, 8, 4, 3, 3, scale=1 / 6),
        "conv2.bias": _param(rng, 8, scale=0.1),
        "fc.weight": _param(rng, 10, 72),
        "fc.bias": _param(rng, 10, scale=0.1),
    }
    x = at.tensor(rng.standard_normal((batch, 1, 12, 12)).astype(np.float32))
    y = rng.integers(0, 10, size=batch)
    with scope("cnn"):
        with scope("conv1"):
            h = _conv2d(x, p["conv1.weight"], p["conv1.bias"], 1)
        with scope("relu1"):
            h = h.relu()
        with scope("pool1"):
            h = _max_pool2(h)
        with scope("conv2"):
            h = _conv2d(h, p["conv2.weight"], p["conv2.bias"], 1)
        with scope("relu2"):
            h = h.relu()
        with scope("pool2"):
            h = _max_pool2(h)
        with scope("flatten"):
            h = h.reshape(batch, -1)
        with scope("fc"):
            logits = _linear(h, p["fc.weight"], p["fc.bias"])
    with scope("loss"):
        logp = at.functional.log_softmax(logits, 1)
        loss = -at.functional.gather(logp, 1, y.reshape(-1, 1)).mean()
    return Example(loss, p, True, "CNN: conv-relu-pool ×2, linear, cross-entropy")


MODELS: dict[str, Callable[..., Example]] = {
    "chapter1": chapter1,
    "mlp": mlp,
    "lstm": lstm,
    "cnn": cnn,
}


def build(name: str, seed: int = 0, trace_stats: bool = False, **kwargs: Any) -> Example:
    """Build example `name`; under `autotensor.viz.trace()` when trace_stats is set."""
    if name not in MODELS:
        raise ValueError(f"unknown example model {name!r}; choose from {sorted(MODELS)}")
    from autotensor.viz import trace

    ctx = trace() if trace_stats else contextlib.nullcontext()
    with ctx:
        return MODELS[name](seed=seed, **kwargs)

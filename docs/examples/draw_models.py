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


# -- a GPT-like model (token and position embeddings, pre-norm blocks with masked
# softmax attention, a tied output layer), built from nn.Linear, nn.LayerNorm, nn.Embedding
# and autotensor ops
class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, context: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        # -inf above the diagonal: position t attends to positions <= t
        self.mask = at.triu(at.full((context, context), float("-inf")), diagonal=1)

    def forward(self, x):
        B, T, C = x.shape
        dh = C // self.heads
        q, k, v = self.qkv(x).chunk(3, -1)
        q, k, v = (t.reshape(B, T, self.heads, dh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / dh**0.5) + self.mask[:T, :T]
        y = at.softmax(att, -1) @ v
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, context: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, context)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab: int = 32, d: int = 32, heads: int = 4, layers: int = 4,
                 context: int = 16) -> None:  # fmt: skip
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.blocks = nn.ModuleList([Block(d, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied: the embedding is used twice

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(at.arange(T))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def gpt_loss(layers: int = 4, seed: int = 0, batch: int = 4, context: int = 16):
    """(model, loss) of the GPT-like model on random tokens, traced for drawing."""
    at.manual_seed(seed)
    model = GPT(layers=layers, context=context)
    idx = at.randint(0, 32, (batch, context))
    target = at.randint(0, 32, (batch * context,))
    with at.viz.trace(module=model):
        logits = model(idx)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target)
    loss.backward()
    return model, loss


class LSTMRegressor(nn.Module):
    """nn.LSTM (one fused node per layer) and a linear head on the last step."""

    def __init__(self, inp: int = 8, hidden: int = 16, layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(inp, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def lstm_loss(steps: int = 64, seed: int = 0, batch: int = 4):
    """(model, loss) of a 2-layer nn.LSTM regressor over `steps` steps, traced."""
    at.manual_seed(seed)
    model = LSTMRegressor()
    x, y = at.randn(steps, batch, 8), at.randn(batch, 1)
    with at.viz.trace(module=model):
        loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    return model, loss


def gpt(out_dir: Path) -> None:
    """(e) a GPT-like model grouped by block, each block's parts collapsed; then one block
    opened, its attention drawn op by op."""
    model, loss = gpt_loss(layers=2)
    parts = [f"blocks.{k}.{p}" for k in range(2) for p in ("ln1", "attn", "ln2", "mlp")]
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        collapse=[*parts, "ln_f"],
        title="GPT-like model, 2 blocks; in each block its layer norms, attention and MLP "
        "collapsed",
    )
    save(g, out_dir, "gpt_blocks")
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        collapse=["blocks.0", "blocks.1.ln1", "blocks.1.ln2", "blocks.1.mlp", "ln_f"],
        title="the same model, the attention of block 1 opened",
    )
    save(g, out_dir, "gpt_attention")


def lstm_expanded(out_dir: Path) -> None:
    """(f) a 2-layer nn.LSTM with its fused layers opened into time steps."""
    model, loss = lstm_loss(steps=64)
    g = at.viz.draw(
        loss,
        module=model,
        show_grads=True,
        expand_fused=6,
        direction="LR",
        title="2-layer nn.LSTM over 64 steps, fused layers opened (expand_fused=6)",
    )
    save(g, out_dir, "lstm_expanded")


def starved(out_dir: Path) -> None:
    """(g) absolute and relative colours of a model with one starved layer: the middle
    layer's weights are 100x the others', so its gradient is tiny next to its weights; the
    loss is scaled by 1e-6, so every gradient is small in absolute terms."""
    at.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 1))
    with at.no_grad():
        model[1].weight.mul_(100.0)
    with at.viz.trace(module=model):
        loss = model(at.randn(16, 6)).pow(2).mean() * 1e-6
    loss.backward()
    for mode in ("absolute", "relative"):
        g = at.viz.draw(
            loss,
            module=model,
            show_grads=True,
            direction="LR",
            colour=mode,
            title=f"colour='{mode}'",
        )
        save(g, out_dir, f"starved_{mode}")


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
    gpt(out)
    lstm_expanded(out)
    starved(out)


if __name__ == "__main__":
    main()

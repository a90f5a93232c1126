"""The book's convolutional experiments on Fashion-MNIST, autotensor and torch side by side.

    python docs/examples/book_cnn.py                              # all three, full epoch
    python docs/examples/book_cnn.py --only ch5 --train-size 10000
    python docs/examples/book_cnn.py --only autoencoder --png docs/img/autoencoder.png

Both engines start from the same initial weights (torch's, copied across), see the same
batches in the same order and use the same optimizer settings; each row of the table gives
one engine's result. What differs: dropout masks (each engine draws its own), and float32
rounding, so the two runs drift apart slowly and end close, not equal.

Experiments (Weidman, *Deep Learning from Scratch*, 2019):
  ch5          chapter 5's CNN: Conv2d(1, 32, 5, padding 2) - tanh - flatten - Linear(25088,
               10); softmax cross-entropy; SGD lr 0.01 momentum 0.9; one epoch, batch 60.
  ch7          chapter 7's CNN: Conv2d(1, 16, 5) - tanh - dropout, Conv2d(16, 8, 5) - tanh -
               dropout, flatten, Linear(6272, 32) - tanh - dropout, Linear(32, 10) ('same'
               padding; the book's dropout keeps 80%: p = 0.2); same loss and optimizer.
  autoencoder  chapter 7's convolutional autoencoder with a 28-number code: encoder
               Conv2d(1, 14, 5) - tanh - Conv2d(14, 7, 5) - tanh - flatten - Linear(-, 28) -
               tanh; decoder Linear(28, -) - tanh - ConvTranspose2d(7, 14, 5) - tanh -
               ConvTranspose2d(14, 1, 5) - tanh; MSE on images scaled to [-1, 1]. The book's
               decoder keeps every layer at 28x28 with plain convolutions; here the encoder
               convolutions stride 2 (28 -> 14 -> 7) and the decoder's transposed
               convolutions undo that (7 -> 14 -> 28), which is what transposed convolutions
               are for and costs a sixteenth of the arithmetic. Saves a PNG: originals on
               top, then autotensor's and torch's reconstructions of test images.

The inputs of the classifiers are standardised with the training set's mean and standard
deviation, as in the book. Data: the IDX files of Fashion-MNIST (by default where Debian's
dataset-fashion-mnist package puts them), read by nn.data.FashionMNIST.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

import autotensor as at
import nn
import nn.functional as F
from nn import optim
from nn.data import FASHION_MNIST_ROOT, FashionMNIST

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("book_cnn.py trains torch side by side: pip install torch")


# -- the models, built from one description for either engine --------------------------------
def ch5_model(m: Any) -> Any:
    return m.Sequential(
        m.Conv2d(1, 32, 5, padding=2), m.Tanh(), m.Flatten(), m.Linear(32 * 28 * 28, 10)
    )


def ch7_model(m: Any) -> Any:
    return m.Sequential(
        m.Conv2d(1, 16, 5, padding=2), m.Tanh(), m.Dropout(0.2),
        m.Conv2d(16, 8, 5, padding=2), m.Tanh(), m.Dropout(0.2), m.Flatten(),
        m.Linear(8 * 28 * 28, 32), m.Tanh(), m.Dropout(0.2),
        m.Linear(32, 10),
    )  # fmt: skip


def autoencoder(m: Any, code: int = 28) -> Any:
    encoder = m.Sequential(
        m.Conv2d(1, 14, 5, stride=2, padding=2), m.Tanh(),  # 28 -> 14
        m.Conv2d(14, 7, 5, stride=2, padding=2), m.Tanh(),  # 14 -> 7
        m.Flatten(), m.Linear(7 * 7 * 7, code), m.Tanh(),
    )  # fmt: skip
    decoder = m.Sequential(
        m.Linear(code, 7 * 7 * 7), m.Tanh(), m.Unflatten(1, (7, 7, 7)),
        m.ConvTranspose2d(7, 14, 5, stride=2, padding=2, output_padding=1), m.Tanh(),  # 7 -> 14
        m.ConvTranspose2d(14, 1, 5, stride=2, padding=2, output_padding=1), m.Tanh(),  # -> 28
    )  # fmt: skip
    return m.Sequential(encoder, decoder)


def copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    ours.load_state_dict({k: at.tensor(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})  # fmt: skip


# -- training, the same loop for both engines -------------------------------------------------
class Engine:
    """What differs between autotensor and torch in the loop: tensor creation, losses."""

    def __init__(self, name: str, lib: Any, mlib: Any, fn: Any, opt: Any) -> None:
        self.name, self.lib, self.nn, self.F, self.optim = name, lib, mlib, fn, opt

    def tensor(self, a: np.ndarray) -> Any:
        return self.lib.from_numpy(np.ascontiguousarray(a))

    def no_grad(self) -> Any:
        return self.lib.no_grad()


AT = Engine("autotensor", at, nn, F, optim)
TORCH = Engine("torch", torch, torch.nn, torch.nn.functional, torch.optim)


def run(engine: Engine, model: Any, x: np.ndarray, y: np.ndarray, xt: np.ndarray,
        yt: np.ndarray, args: argparse.Namespace, classify: bool) -> dict:  # fmt: skip
    """One engine's training run over the shared batch order; returns its metrics."""
    opt = engine.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    order = np.random.default_rng(args.seed).permutation(len(x))
    losses = []
    model.train()
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        for start in range(0, len(x) - args.batch_size + 1, args.batch_size):
            idx = order[start : start + args.batch_size]
            xb = engine.tensor(x[idx])
            out = model(xb)
            if classify:
                loss = engine.F.cross_entropy(out, engine.tensor(y[idx]))
            else:
                loss = engine.F.mse_loss(out, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        order = np.random.default_rng(args.seed + epoch + 1).permutation(len(x))
    train_time = time.perf_counter() - t0
    model.eval()
    preds, recon = [], []
    with engine.no_grad():
        for start in range(0, len(xt), 500):
            out = model(engine.tensor(xt[start : start + 500])).numpy()
            (preds if classify else recon).append(out)
    res = {"train loss (last 100 batches)": float(np.mean(losses[-100:])),
           "train time s": train_time}  # fmt: skip
    if classify:
        logits = np.concatenate(preds)
        res["test accuracy"] = float((logits.argmax(1) == yt).mean())
        shifted = logits - logits.max(1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        res["test loss"] = float(-logp[np.arange(len(yt)), yt].mean())
    else:
        r = np.concatenate(recon)
        res["test MSE"] = float(((r - xt) ** 2).mean())
        res["reconstructions"] = r
    return res


def table(title: str, rows: dict[str, dict]) -> None:
    keys = [k for k in next(iter(rows.values())) if k != "reconstructions"]
    print(f"\n{title}")
    print(f"  {'':<30}" + "".join(f"{name:>14}" for name in rows))
    for k in keys:
        vals = "".join(f"{r[k]:>14.4f}" if "time" not in k else f"{r[k]:>14.1f}"
                       for r in rows.values())  # fmt: skip
        print(f"  {k:<30}{vals}")


def save_png(path: str, originals: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(originals)
    fig, axes = plt.subplots(3, n, figsize=(1.2 * n, 4.0))
    for row, (label, imgs) in enumerate(
        [("original", originals), ("autotensor", ours), ("torch", theirs)]
    ):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(imgs[i, 0], cmap="gray", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=9)
    fig.suptitle("Convolutional autoencoder, 28-number code: Fashion-MNIST test images",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=FASHION_MNIST_ROOT, help="directory of the IDX files")
    ap.add_argument("--only", default="ch5,ch7,autoencoder")
    ap.add_argument("--train-size", type=int, default=60000, help="first N training images")
    ap.add_argument("--test-size", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=20190402)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both engines")
    ap.add_argument("--png", default="docs/img/autoencoder.png")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    train, test = FashionMNIST(args.data, train=True), FashionMNIST(args.data, train=False)
    x, y = (a.numpy() for a in train.tensors(flatten=False))
    xt, yt = (a.numpy() for a in test.tensors(flatten=False))
    x, y, xt, yt = (
        x[: args.train_size],
        y[: args.train_size],
        xt[: args.test_size],
        yt[: args.test_size],
    )
    print(f"Fashion-MNIST from {args.data}: {len(x)} training and {len(xt)} test images; "
          f"batch {args.batch_size}, {args.epochs} epoch(s), SGD lr {args.lr} momentum 0.9, "
          f"seed {args.seed}, {args.threads} BLAS thread(s)")  # fmt: skip
    mean, std = x.mean(), x.std()
    results = {}
    builders = {"ch5": (ch5_model, True), "ch7": (ch7_model, True),
                "autoencoder": (autoencoder, False)}  # fmt: skip
    for name in args.only.split(","):
        build, classify = builders[name]
        if classify:
            xs, xts = (x - mean) / std, (xt - mean) / std
        else:
            xs, xts = x * 2 - 1, xt * 2 - 1
        torch.manual_seed(args.seed)
        at.manual_seed(args.seed)
        theirs, ours = build(torch.nn), build(nn)
        copy_weights(ours, theirs)
        rows = {
            "autotensor": run(AT, ours, xs, y, xts, yt, args, classify),
            "torch": run(TORCH, theirs, xs, y, xts, yt, args, classify),
        }
        table({"ch5": "Chapter 5 CNN", "ch7": "Chapter 7 CNN",
               "autoencoder": "Chapter 7 convolutional autoencoder"}[name], rows)  # fmt: skip
        if not classify and args.png:
            pick = np.arange(10) * (len(xts) // 10)
            save_png(args.png, xts[pick], rows["autotensor"]["reconstructions"][pick],
                     rows["torch"]["reconstructions"][pick])  # fmt: skip
            print(f"  saved {args.png}")
        results[name] = rows
    print(f"\ncommand: python docs/examples/book_cnn.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}")  # fmt: skip
    return results


if __name__ == "__main__":
    main()

"""The book's chapter-5 CNN trained here for one epoch, exported to ONNX, scored by onnxruntime.

    python benchmarks/onnx_book_cnn.py                      # full epoch, 60,000 images
    python benchmarks/onnx_book_cnn.py --train-size 6000    # a quick run

Model (Weidman, *Deep Learning from Scratch*, chapter 5): Conv2d(1, 32, 5, padding 2) -
tanh - flatten - Linear(25088, 10), softmax cross-entropy, SGD lr 0.01 momentum 0.9, batch
60, inputs standardised with the training set's mean and standard deviation. Prints the
test accuracy of autotensor's forward and of onnxruntime running the exported file, the
largest difference between their logits, and how many predictions differ.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import autotensor as at
import nn
import nn.functional as F
from nn.data import FASHION_MNIST_ROOT, FashionMNIST


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=FASHION_MNIST_ROOT, help="directory of the IDX files")
    p.add_argument("--train-size", type=int, default=60000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("needs onnx and onnxruntime: pip install 'autotensor[onnx]'")

    x, y = FashionMNIST(args.data, train=True).tensors(flatten=False)
    xt, yt = FashionMNIST(args.data, train=False).tensors(flatten=False)
    x, y = x.numpy()[: args.train_size], y.numpy()[: args.train_size]
    mean, std = x.mean(), x.std()
    x, xt_np, yt_np = (x - mean) / std, (xt.numpy() - mean) / std, yt.numpy()

    at.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.Tanh(), nn.Flatten(), nn.Linear(32 * 28 * 28, 10)
    )
    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = np.random.default_rng(args.seed).permutation(len(x))
    t0 = time.perf_counter()
    for start in range(0, len(x) - 59, 60):
        idx = order[start : start + 60]
        loss = F.cross_entropy(model(at.from_numpy(np.ascontiguousarray(x[idx]))),
                               at.from_numpy(y[idx]))  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0

    model.eval()
    with at.no_grad():
        ours = np.concatenate([
            model(at.from_numpy(np.ascontiguousarray(xt_np[s : s + 500]))).numpy()
            for s in range(0, len(xt_np), 500)
        ])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "ch5.onnx")
        at.onnx.export(model, (at.from_numpy(np.ascontiguousarray(xt_np[:2])),), path,
                       input_names=["images"], output_names=["logits"],
                       dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})  # fmt: skip
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        theirs = np.concatenate([
            sess.run(None, {"images": np.ascontiguousarray(xt_np[s : s + 500])})[0]
            for s in range(0, len(xt_np), 500)
        ])  # fmt: skip
    acc_ours = float((ours.argmax(1) == yt_np).mean())
    acc_ort = float((theirs.argmax(1) == yt_np).mean())
    print(f"trained on {len(x)} images for one epoch in {train_s:.1f} s")
    print(f"test accuracy, autotensor forward:      {acc_ours:.4f}")
    print(f"test accuracy, onnxruntime on the file: {acc_ort:.4f}")
    print(
        f"largest logit difference: {np.abs(ours - theirs).max():.3g}; "
        f"predictions that differ: {int((ours.argmax(1) != theirs.argmax(1)).sum())}"
    )


if __name__ == "__main__":
    main()

"""Convolution benchmarks: autotensor against torch on the same weights and batch.

    python benchmarks/bench_conv.py [--rounds 40] [--threads 1] [--only cnn_step,conv_fwd_bwd]

The figures in docs/cnn.md come from

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py --rounds 30

on the 2-core development machine, whose environment sets OPENBLAS_CORETYPE=Haswell (and
OPENBLAS_L2_SIZE) for every process: that pins numpy's OpenBLAS to its AVX2 kernels. Unset
for the benchmark alone, OpenBLAS picks its AVX-512 ('SkylakeX') kernels on this CPU, the
instruction set torch's MKL and oneDNN use, so both engines run the same class of kernels.
The table's header prints the kernels numpy runs (see "BLAS kernels" below).

Workloads (float32):
  cnn_step       one training step of Conv2d(1,16,3,p=1)-ReLU-MaxPool2d(2)-Conv2d(16,32,3,p=1)
                 -ReLU-MaxPool2d(2)-Flatten-Linear(1568,10), batch 64x1x28x28, cross-entropy,
                 SGD(lr=0.01): zero_grad, forward, loss, backward, step
  conv_fwd_bwd   Conv2d(3,64,3,p=1) forward + backward on 32x3x32x32 (a fixed output gradient)
  conv2_fwd_bwd  Conv2d(16,32,3,p=1) forward + backward on 64x16x14x14 (input grad too)
  maxpool        MaxPool2d(2) forward + backward on 64x16x28x28
  convT_fwd_bwd  ConvTranspose2d(16,8,3,stride=2,padding=1,output_padding=1) forward +
                 backward on 64x16x7x7
  conv_floor     conv_fwd_bwd's arithmetic in bare numpy, no autograd: the im2col gathers,
                 the forward products and the weight-gradient products, a chunk of images at
                 a time into preallocated, 64-byte aligned outputs, as the Conv2d primitive
                 does them; what autotensor's method needs at least on this BLAS (ratio to
                 the same torch step as conv_fwd_bwd). Its outputs must be aligned as the
                 primitive's are: numpy's own 16-byte alignment costs ~10% here (split
                 vector stores), and would make the floor depend on where malloc put it

Engines run in interleaved rounds (one step of each per round, after warm-up), each timed
with perf_counter; the table gives the median ms per step and the ratio autotensor/torch
of the medians ('ratio'), and the median over rounds of the ratio of a round's two steps
('paired'). Both use one BLAS thread by default (torch.set_num_threads, threadpoolctl for
numpy).

Why both: on a 2-core machine shared with other jobs, another process takes the core now
and then for a few milliseconds to seconds, and every step that runs meanwhile takes up to
twice as long. The two medians then depend on how many of each engine's steps such
stretches happened to cover; the two steps of one round run back to back, so their ratio
mostly sees the same conditions. Where the two columns differ by more than a few percent,
the run was disturbed: repeat it.

Both engines share one process, hence one allocator. By default glibc returns freed blocks
above its mmap threshold to the OS, so a step that allocates tens of MB pays a page fault
per 4 KiB page every time it runs -- and whether it does depends on the history of earlier
allocations (glibc raises the threshold adaptively): measured, torch's own conv_fwd_bwd
step swings between 2.4 and 13 ms with nothing else changed. `--malloc-tuning` (the
default) keeps freed memory in the process (mallopt M_MMAP_THRESHOLD and
M_TRIM_THRESHOLD), the steady state of a long training run, for both engines alike;
`--no-malloc-tuning` measures the default behaviour.

BLAS kernels: numpy's OpenBLAS picks its kernels from the CPU model, unless
OPENBLAS_CORETYPE names them; on a CPU it does not recognise it falls back to AVX2
('Haswell') kernels even where AVX-512 is available, while torch's MKL/oneDNN use AVX-512.
The table's header prints the kernels in use; set OPENBLAS_CORETYPE=SkylakeX on such a
machine, or unset it where the environment forces Haswell (see docs/cnn.md).

Clocks: `--clock wall` (the default) times each step with perf_counter; `--clock cpu` with
the calling thread's CPU time (time.thread_time). With one BLAS thread both engines run a
step entirely on the calling thread (torch's autograd runs CPU work on the thread that calls
backward), so the CPU clock leaves out the time another process held the core, the largest
noise on the shared machine, but still sees cache and memory-bus contention.

Noise: on a shared machine the medians move by 5-20% from run to run, and more when other
processes compete for the memory bus (numpy's im2col moves more memory than oneDNN's direct
convolution, so autotensor's figure moves more). Compare ratios, over several runs.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import autotensor as at
import nn
import nn.functional as F
from nn import optim

try:
    import torch
except ImportError:  # pragma: no cover - the benchmark needs torch as its reference
    sys.exit("bench_conv.py compares against torch: pip install torch")


def copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Copy torch's parameters into ours (same names and layouts)."""
    sd = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict({k: at.tensor(v) for k, v in sd.items()})


def cnn_pair(rng: np.random.Generator) -> tuple[Callable, Callable]:
    def model(m):
        return m.Sequential(
            m.Conv2d(1, 16, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
            m.Conv2d(16, 32, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
            m.Flatten(), m.Linear(1568, 10),
        )  # fmt: skip

    tm, am = model(torch.nn), model(nn)
    copy_weights(am, tm)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    xa, ya = at.tensor(x), at.tensor(y)
    xt, yt = torch.tensor(x), torch.tensor(y)
    ao = optim.SGD(am.parameters(), lr=0.01)
    to = torch.optim.SGD(tm.parameters(), lr=0.01)

    def ours():
        ao.zero_grad()
        loss = F.cross_entropy(am(xa), ya)
        loss.backward()
        ao.step()
        return loss.item()

    def theirs():
        to.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(xt), yt)
        loss.backward()
        to.step()
        return loss.item()

    return ours, theirs


def layer_pair(make: Callable, shape: tuple, rng: np.random.Generator,
               input_grad: bool) -> tuple[Callable, Callable]:  # fmt: skip
    """forward + backward with a fixed output gradient through one layer."""
    tm, am = make(torch.nn), make(nn)
    if list(tm.parameters()):
        copy_weights(am, tm)
    x = rng.standard_normal(shape).astype(np.float32)
    xa = at.tensor(x, requires_grad=input_grad)
    xt = torch.tensor(x, requires_grad=input_grad)
    with torch.no_grad():
        g = rng.standard_normal(tuple(tm(xt).shape)).astype(np.float32)
    ga, gt = at.tensor(g), torch.tensor(g)

    def ours():
        am.zero_grad()
        xa.grad = None
        am(xa).backward(ga)

    def theirs():
        tm.zero_grad()
        xt.grad = None
        tm(xt).backward(gt)

    return ours, theirs


def floor_pair(rng: np.random.Generator) -> tuple[Callable, Callable]:
    """conv_fwd_bwd's numpy work without autograd: per chunk of images the im2col gather and
    W @ cols, then per chunk the gather again and g @ cols^T (or cols @ g^T), and the sum
    over images."""
    from autotensor.ops.conv import _chunks, _empty, _wide_rows, as_window

    _, theirs = layer_pair(lambda m: m.Conv2d(3, 64, 3, padding=1), (32, 3, 32, 32), rng, False)
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    w2 = rng.standard_normal((64, 28)).astype(np.float32)  # 27 weights and the bias
    g = rng.standard_normal((32, 64, 1024)).astype(np.float32)
    win = as_window(3, 1, 1, 1)
    rows = _wide_rows(64, 28)
    # Preallocated and 64-byte aligned, as the primitive aligns its own (see _ALIGN there)
    out = _empty((32, 64, 1024), np.float32)
    acc = _empty((32, 64, rows) if rows else (32, 28, 64), np.float32)

    def ours():
        for s, cols in _chunks(x, win, True, rows):
            np.matmul(w2, cols[:, :28], out=out[s : s + cols.shape[0]])
        for s, cols in _chunks(x, win, True, rows):
            e = s + cols.shape[0]
            if rows:  # the orientation the primitive picks (see _wide_rows)
                np.matmul(g[s:e], cols.transpose(0, 2, 1), out=acc[s:e])
            else:
                np.matmul(cols, g[s:e].transpose(0, 2, 1), out=acc[s:e])
        acc.sum(0)

    return ours, theirs


WORKLOADS = {
    "cnn_step": lambda rng: cnn_pair(rng),
    "conv_fwd_bwd": lambda rng: layer_pair(
        lambda m: m.Conv2d(3, 64, 3, padding=1), (32, 3, 32, 32), rng, input_grad=False
    ),
    "conv2_fwd_bwd": lambda rng: layer_pair(
        lambda m: m.Conv2d(16, 32, 3, padding=1), (64, 16, 14, 14), rng, input_grad=True
    ),
    "maxpool": lambda rng: layer_pair(lambda m: m.MaxPool2d(2), (64, 16, 28, 28), rng, True),
    "convT_fwd_bwd": lambda rng: layer_pair(
        lambda m: m.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),
        (64, 16, 7, 7),
        rng,
        input_grad=True,
    ),
    "conv_floor": floor_pair,
}


def bench(ours: Callable, theirs: Callable, rounds: int, warmup: int = 3,
          clock: Callable[[], float] = time.perf_counter) -> tuple:  # fmt: skip
    for _ in range(warmup):
        ours()
        theirs()
    ta: list[float] = []
    tt: list[float] = []
    for r in range(rounds):
        # alternate which engine goes first, so neither always runs on a warmer cache
        pair = ((ours, ta), (theirs, tt)) if r % 2 == 0 else ((theirs, tt), (ours, ta))
        for fn, acc in pair:
            t0 = clock()
            fn()
            acc.append(clock() - t0)
    paired = statistics.median(a / t for a, t in zip(ta, tt))
    return statistics.median(ta) * 1e3, statistics.median(tt) * 1e3, paired


def tune_malloc() -> bool:
    """Keep freed memory in the process (glibc only): no page faults on reallocation."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30))


def blas_kernels() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']} {i.get('architecture', '?')}"
                         for i in threadpool_info() if i["user_api"] == "blas")  # fmt: skip
    except ImportError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--malloc-tuning", action=argparse.BooleanOptionalAction, default=True)
    clocks = "wall: perf_counter; cpu: this thread's CPU time (see 'Clocks')"
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help=clocks)
    args = ap.parse_args(argv)
    tuned = args.malloc_tuning and tune_malloc()
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    except ImportError:
        limiter = None
        print("threadpoolctl not installed: numpy's BLAS thread count is not limited")
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    rng = np.random.default_rng(0)
    print(f"numpy BLAS: {blas_kernels()}; torch {torch.__version__}; malloc tuning "
          f"{'on' if tuned else 'off'}")  # fmt: skip
    print(f"{'workload':<16}{'autotensor ms':>15}{'torch ms':>11}{'ratio':>8}{'paired':>8}")
    for name in names:
        at.manual_seed(0)
        torch.manual_seed(0)
        ours, theirs = WORKLOADS[name](rng)
        if name == "cnn_step":  # same weights and batch: the first losses must agree
            la, lt = ours(), theirs()
            assert abs(la - lt) < 1e-4 * max(1.0, abs(lt)), (la, lt)
        clock = time.thread_time if args.clock == "cpu" else time.perf_counter
        a, t, paired = bench(ours, theirs, args.rounds, clock=clock)
        print(f"{name:<16}{a:>15.2f}{t:>11.2f}{a / t:>7.2f}x{paired:>7.2f}x")
    env = ", ".join(f"{v}={os.environ[v]}" if v in os.environ else f"{v} unset"
                    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))  # fmt: skip
    print(f"(median of {args.rounds} interleaved rounds, {args.clock} clock, "
          f"{args.threads} BLAS thread(s), "
          f"float32; command: python benchmarks/bench_conv.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}; {env})")  # fmt: skip
    del limiter


if __name__ == "__main__":
    main()

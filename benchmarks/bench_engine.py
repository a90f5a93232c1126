"""Per-op overhead of the engine against torch eager: the cost of recording a node in the
forward pass and of running it in the backward sweep, with arrays too small to matter.

    python benchmarks/bench_engine.py [--rounds 40] [--only small_expr,small_fwd,chain_10k,...]

Workloads (float32, the same values in both engines):
  small_expr   y = ((a*b + c).tanh()).sum(); y.backward() on 16-element tensors
               (4 ops forward, 4 nodes backward); timed per iteration over a batch of
               iterations, so one timing is well above the timer's resolution
  small_fwd    its forward pass alone (the graph is recorded, then dropped): with
               small_expr, it splits the per-op cost into recording and backward
  chain_10k    y = x; 10,000 times y = y*1.0001 + 0.0001; y.backward()  (20,000 nodes)
  chain_20k    the same with 20,000 steps (40,000 nodes)

The engines run in interleaved rounds (one measurement of each per round, after warm-up,
alternating which goes first); the table gives the median time per iteration and the median
of the per-round ratios autotensor / torch, by wall clock and by CPU time of the benchmark
thread (steadier on a busy machine). Both use one BLAS thread (torch.set_num_threads(1);
threadpoolctl for numpy); the garbage collector runs between measurements, not inside them.
Targets: small_expr <= 1.2x torch; the 20,000-op chain (chain_10k: 10,000 steps of two ops)
<= 1.5x torch; chain_20k shows how both scale.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import autotensor as at

try:
    import torch
except ImportError:  # pragma: no cover - the benchmark needs torch as its reference
    sys.exit("bench_engine.py compares against torch: pip install torch")

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def small_expr(lib: object, reps: int) -> Callable[[], None]:
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal(16).astype(np.float32) for _ in range(3)]
    if lib is at:
        a, b, c = (at.tensor(v, requires_grad=True) for v in vals)
    else:
        a, b, c = (torch.tensor(v, requires_grad=True) for v in vals)

    def run() -> None:
        for _ in range(reps):
            y = ((a * b + c).tanh()).sum()
            y.backward()

    return run


def small_fwd(lib: object, reps: int) -> Callable[[], None]:
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal(16).astype(np.float32) for _ in range(3)]
    if lib is at:
        a, b, c = (at.tensor(v, requires_grad=True) for v in vals)
    else:
        a, b, c = (torch.tensor(v, requires_grad=True) for v in vals)

    def run() -> None:
        for _ in range(reps):
            ((a * b + c).tanh()).sum()

    return run


def chain(n: int) -> Callable[[object, int], Callable[[], None]]:
    def make(lib: object, reps: int) -> Callable[[], None]:
        x = (at if lib is at else torch).tensor([1.0], requires_grad=True)

        def run() -> None:
            for _ in range(reps):
                y = x
                for _ in range(n):
                    y = y * 1.0001 + 0.0001
                y.backward()

        return run

    return make


# name -> (factory(lib, reps) -> callable, iterations per measurement)
WORKLOADS = {
    "small_expr": (small_expr, 100),
    "small_fwd": (small_fwd, 100),
    "chain_10k": (chain(10_000), 1),
    "chain_20k": (chain(20_000), 1),
}


GC_ON = False  # set by --gc


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this thread) for one call of fn.

    By default the garbage collector is off while timing: collection pauses would land in
    whichever engine happens to be running. With --gc it stays on, as in a user's program:
    autotensor's graph is made of Python objects that the collector walks, torch's is not,
    so this is the figure a long graph really costs. (Objects alive before the first round,
    torch's modules among them, are frozen out of the collector's walks in both modes.)"""
    gc.collect()
    if not GC_ON:
        gc.disable()
    try:
        w0, c0 = time.perf_counter(), time.thread_time()
        fn()
        return time.perf_counter() - w0, time.thread_time() - c0
    finally:
        gc.enable()


def run(names: list[str], rounds: int) -> list[tuple]:
    """Per workload: (name, median wall ours, median wall torch, median per-round wall
    ratio, median per-round CPU ratio)."""
    rows = []
    for name in names:
        factory, reps = WORKLOADS[name]
        ours, theirs = factory(at, reps), factory(torch, reps)
        for _ in range(2):  # warm-up
            ours()
            theirs()
        w_ours, w_theirs, wall_ratio, cpu_ratio = [], [], [], []
        for r in range(rounds):
            if r % 2:  # alternate who goes first
                t, o = measure(theirs), measure(ours)
            else:
                o, t = measure(ours), measure(theirs)
            w_ours.append(o[0] / reps)
            w_theirs.append(t[0] / reps)
            wall_ratio.append(o[0] / t[0])
            cpu_ratio.append(o[1] / t[1] if t[1] > 0 else float("nan"))
        med = statistics.median
        rows.append((name, med(w_ours), med(w_theirs), med(wall_ratio), med(cpu_ratio)))
        print(f"  {name}: done", file=sys.stderr)
    return rows


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--only", default=",".join(WORKLOADS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gc", action="store_true", help="keep the garbage collector on")
    args = p.parse_args()
    global GC_ON
    GC_ON = args.gc
    gc.collect()
    gc.freeze()  # what the imports left alive is neither engine's graph
    names = [n for n in args.only.split(",") if n]
    torch.set_num_threads(args.threads)
    limit = threadpool_limits(args.threads) if threadpool_limits else None
    try:
        rows = run(names, args.rounds)
    finally:
        if limit is not None:
            limit.unregister()
    print(f"\ncommand: python {' '.join(sys.argv)}")
    gc_state = "on" if GC_ON else "off while timing"
    print(
        f"median of {args.rounds} interleaved rounds, {args.threads} BLAS thread(s), "
        f"garbage collector {gc_state}\n"
    )
    print(f"| workload | autotensor | torch {torch.__version__} | ratio | ratio (CPU time) |")
    print("|---|---|---|---|---|")
    for name, ours, theirs, ratio, cpu_ratio in rows:
        print(f"| {name} | {_fmt(ours)} | {_fmt(theirs)} | {ratio:.2f}x | {cpu_ratio:.2f}x |")
    print(
        "\nautotensor and torch: median time per iteration; ratios: median over rounds of the"
        "\nper-round ratio (wall clock, and CPU time of the benchmark thread, which a busy"
        "\nmachine disturbs less)."
    )


if __name__ == "__main__":
    main()

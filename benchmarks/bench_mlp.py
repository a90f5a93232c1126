"""Time one training step of three MLPs, autotensor/nn against torch, in one run.

    python benchmarks/bench_mlp.py [--rounds 15] [--only a,b,c] [--phases] [--profile a]

Workloads (float32, one BLAS thread for numpy and torch, same weights and batch):
  (a) 784-256-128-10 ReLU MLP, batch 128, cross-entropy, SGD(lr=0.01, momentum=0.9)
  (b) 1024-4096-1024 ReLU MLP, batch 1024, MSE, SGD(lr=0.01, momentum=0.9)
  (c) 2-16-16-1 ReLU MLP, 100 points, MSE, plain SGD(lr=0.01)

A step is zero_grad + forward + loss + backward + optimizer step. Rounds alternate which
library goes first; each round times `steps` consecutive steps per library, and the table
reports the median ms per step over rounds and the ratio ours / torch. Before timing, the
script checks that our float32 model's gradients and optimizer state are float32 and that
one step of ours and torch's agree. `--phases` adds the median time of each phase of a step
(zero_grad, forward + loss, backward, optimizer step); `--profile X` prints a cProfile of
our steps on workload X instead of timing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time

import numpy as np

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # still runs, but BLAS may use several threads: say so in the table
    threadpool_limits = None

import autotensor as at
import nn
from nn import optim

try:
    import torch
except ImportError:
    torch = None

WORKLOADS = {
    # name: (sizes, batch, loss, momentum, steps per round, target ratio)
    "a": ((784, 256, 128, 10), 128, "ce", 0.9, 20, 1.05),
    "b": ((1024, 4096, 1024), 1024, "mse", 0.9, 2, 1.05),
    "c": ((2, 16, 16, 1), 100, "mse", 0.0, 200, 1.00),
}
DESCRIPTION = {
    "a": "784-256-128-10 ReLU, batch 128, CE, SGD momentum",
    "b": "1024-4096-1024 ReLU, batch 1024, MSE, SGD momentum",
    "c": "2-16-16-1 ReLU, 100 points, MSE, plain SGD",
}


def build(name: str, seed: int = 0):
    sizes, batch, loss, momentum, _, _ = WORKLOADS[name]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    at.manual_seed(seed)
    ours = nn.Sequential(*layers)
    r = np.random.default_rng(seed)
    x = r.normal(size=(batch, sizes[0])).astype(np.float32)
    if loss == "ce":
        y = r.integers(0, sizes[-1], batch)
    else:
        y = r.normal(size=(batch, sizes[-1])).astype(np.float32)
    ours_loss = nn.CrossEntropyLoss() if loss == "ce" else nn.MSELoss()
    ours_opt = optim.SGD(ours.parameters(), lr=0.01, momentum=momentum)
    ours_step = _make_step(ours, ours_opt, ours_loss, at.tensor(x), at.tensor(y))
    theirs_step = None
    if torch is not None:
        tl = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            tl.append(torch.nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                tl.append(torch.nn.ReLU())
        theirs = torch.nn.Sequential(*tl)
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        t_loss = torch.nn.CrossEntropyLoss() if loss == "ce" else torch.nn.MSELoss()
        t_opt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=momentum)
        theirs_step = _make_step(theirs, t_opt, t_loss, torch.tensor(x), torch.tensor(y))
        theirs_step.model = theirs
    ours_step.model, ours_step.opt = ours, ours_opt
    return ours_step, theirs_step


def _make_step(model, opt, loss_fn, x, y):
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def phases():
        """The same step, returning the seconds spent in each phase."""
        t0 = time.perf_counter()
        opt.zero_grad()
        t1 = time.perf_counter()
        loss = loss_fn(model(x), y)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3

    step.phases = phases
    return step


def check(name: str) -> None:
    """float32 discipline and agreement with torch after a few steps."""
    ours, theirs = build(name)
    for _ in range(3):
        lo = ours()
        lt = theirs() if theirs is not None else None
    assert lo.dtype == np.float32, f"({name}) loss is {lo.dtype}"
    for pname, p in ours.model.named_parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, f"({name}) {pname}"
        for key, v in ours.opt.state[p].items():
            assert v.dtype == np.float32, f"({name}) optimizer state {key} of {pname}: {v.dtype}"
    if lt is not None:
        np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-4)
        ts = theirs.model.state_dict()
        for k, v in ours.model.state_dict().items():
            np.testing.assert_allclose(v.numpy(), ts[k].numpy(), rtol=1e-3, atol=1e-5)


def time_steps(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def bench(name: str, rounds: int) -> dict:
    ours, theirs = build(name)
    steps = WORKLOADS[name][4]
    for _ in range(3):  # warm up (allocator, BLAS, caches)
        ours()
        if theirs is not None:
            theirs()
    t_ours, t_theirs = [], []
    for r in range(rounds):
        order = [(ours, t_ours), (theirs, t_theirs)]
        if r % 2:
            order.reverse()
        for fn, out in order:
            if fn is not None:
                out.append(time_steps(fn, steps))
    med_o = statistics.median(t_ours) * 1e3
    med_t = statistics.median(t_theirs) * 1e3 if t_theirs else float("nan")
    return {"ours": med_o, "torch": med_t, "ratio": med_o / med_t, "target": WORKLOADS[name][5]}


def phase_table(name: str, rounds: int) -> None:
    """Median time per phase of a step (zero_grad, forward + loss, backward, optimizer step),
    ours and torch interleaved."""
    ours, theirs = build(name)
    steps = WORKLOADS[name][4]
    rows: dict[str, list] = {"ours": [], "torch": []}
    for r in range(rounds + 2):
        for lib, fn in (
            (("ours", ours), ("torch", theirs))
            if r % 2 == 0
            else (("torch", theirs), ("ours", ours))
        ):
            if fn is None:
                continue
            sums = np.zeros(4)
            for _ in range(steps):
                sums += fn.phases()
            if r >= 2:  # the first two rounds warm up
                rows[lib].append(sums / steps)
    print(f"({name}) median us per phase   zero_grad   forward  backward      step     total")
    for lib, vals in rows.items():
        if vals:
            med = np.median(np.array(vals), axis=0) * 1e6
            cells = "".join(f"{v:10.1f}" for v in med)
            print(f"    {lib:<24}{cells}{med.sum():10.1f}")


def profile(name: str, n: int) -> None:
    ours, _ = build(name)
    for _ in range(3):
        ours()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        ours()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default="a,b,c")
    ap.add_argument("--profile", default=None, help="workload to profile instead of timing")
    ap.add_argument("--phases", action="store_true", help="also time each phase of a step")
    args = ap.parse_args()
    limits = threadpool_limits(1) if threadpool_limits is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if args.profile:
        profile(args.profile, 20 * WORKLOADS[args.profile][4])
        return
    print(f"python {' '.join(sys.argv)}")
    print(f"threads: numpy BLAS {'1' if limits is not None else 'default (no threadpoolctl)'}, "
          f"torch {torch.get_num_threads() if torch is not None else '-'}")  # fmt: skip
    for n in names:
        check(n)
    print("checks: float32 grads and optimizer state, agreement with torch: ok")
    print(f"{'workload':<52} {'torch ms':>9} {'ours ms':>9} {'ratio':>7} {'target':>7}")
    for n in names:
        r = bench(n, args.rounds)
        flag = "ok" if r["ratio"] <= r["target"] else "MISSED"
        print(f"({n}) {DESCRIPTION[n]:<48} {r['torch']:9.3f} {r['ours']:9.3f} "
              f"{r['ratio']:6.2f}x {r['target']:5.2f}x {flag}")  # fmt: skip
    if args.phases:
        for n in names:
            phase_table(n, args.rounds)


if __name__ == "__main__":
    main()

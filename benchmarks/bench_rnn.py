"""Recurrent training step, autotensor vs torch, side by side.

The workload of the performance target: a character model with an embedding 65 -> 32, one
LSTM (or GRU) layer of hidden size 128, a Linear back to 65 at every step, batch 32 x 64
steps, cross-entropy over every step, plain SGD. Both libraries start from the same weights
(torch's, copied with load_state_dict) and train on the same batch; rounds are interleaved
(alternating which goes first) and the median time per step is reported, with one BLAS
thread for both.

    python benchmarks/bench_rnn.py                       # LSTM and GRU, 40 rounds
    python benchmarks/bench_rnn.py --rounds 100 --kinds lstm
    python benchmarks/bench_rnn.py --layer-only          # also time the recurrent layer alone
    python benchmarks/bench_rnn.py --pieces --kinds lstm # the LSTM layer's time, piece by piece

`--pieces` times, in plain numpy at the workload's shapes, what the fused LSTM layer is made
of: its matrix products (the GEMM floor: no layer can do less arithmetic) and its per-step
gate nonlinearities (numpy's float32 exp and tanh), beside the layer's own forward and
forward + backward and torch's. The part of the layer above the floor is per-step
elementwise work and the ufunc calls that carry it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import autotensor as at
import nn
import nn.functional as F

V, E, HID, B, T = 65, 32, 128, 32, 64


def build(kind: str, torch, batch_first: bool):
    """(ours, theirs): Embedding -> LSTM/GRU -> Linear, ours holding torch's weights."""

    class Ours(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(V, E)
            self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(E, HID, batch_first=batch_first)
            self.head = nn.Linear(HID, V)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    class Theirs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(V, E)
            rnn = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
            self.rnn = rnn(E, HID, batch_first=batch_first)
            self.head = torch.nn.Linear(HID, V)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0])

    torch.manual_seed(0)
    theirs = Theirs()
    ours = Ours()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                         strict=True)  # fmt: skip
    return ours, theirs


def bench_kind(kind: str, args: argparse.Namespace, torch, x_np, y_np) -> list[tuple]:
    """Rows (workload, ours wall, torch wall, ours cpu, torch cpu) for one recurrent kind."""
    batch_first = not args.seq_first
    ours, theirs = build(kind, torch, batch_first)
    opt_o = nn.optim.SGD(ours.parameters(), lr=0.1)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1)
    xo, yo = at.tensor(x_np), at.tensor(y_np.reshape(-1))
    xt, yt = torch.tensor(x_np), torch.tensor(y_np.reshape(-1))

    def step_ours() -> float:
        opt_o.zero_grad()
        loss = F.cross_entropy(ours(xo).reshape(-1, V), yo)
        loss.backward()
        opt_o.step()
        return loss.item()

    def step_theirs() -> float:
        opt_t.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(xt).reshape(-1, V), yt)
        loss.backward()
        opt_t.step()
        return loss.item()

    first = (step_ours(), step_theirs())  # same weights, same batch: the same loss
    print(f"{kind}: first-step loss autotensor {first[0]:.6f}, torch {first[1]:.6f}")
    for _ in range(args.warmup):
        step_ours(), step_theirs()
    rows = [(f"{kind.upper()} training step", *_interleave(step_ours, step_theirs, args.rounds))]
    if args.layer_only:
        rng = np.random.default_rng(1)
        h = rng.normal(size=(B, T, E) if batch_first else (T, B, E)).astype(np.float32)
        ha, ht = at.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)

        def layer_ours() -> None:
            ours.rnn(ha)[0].sum().backward()

        def layer_theirs() -> None:
            theirs.rnn(ht)[0].sum().backward()

        for _ in range(args.warmup):
            layer_ours()
            layer_theirs()
        rows.append((f"{kind.upper()} layer fwd+bwd", *_interleave(layer_ours, layer_theirs,
                                                                    args.rounds)))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=40, help="timed rounds (median reported)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--kinds", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both libraries")
    ap.add_argument("--seq-first", action="store_true", help="(T, B) layout instead of (B, T)")
    ap.add_argument("--layer-only", action="store_true",
                    help="also time the recurrent layer alone (forward + backward)")  # fmt: skip
    ap.add_argument("--pieces", action="store_true",
                    help="time the LSTM layer's GEMMs and gate math in plain numpy")  # fmt: skip
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (T, B) if args.seq_first else (B, T)
    x_np, y_np = rng.integers(0, V, shape), rng.integers(0, V, shape)
    rows = []
    with threadpool_limits(args.threads):
        for kind in args.kinds:
            rows += bench_kind(kind, args, torch, x_np, y_np)

    layout = "seq_first" if args.seq_first else "batch_first"
    print(
        f"\nemb {V}->{E}, hidden {HID}, Linear->{V}, batch {B} x seq {T} ({layout}), SGD, "
        f"float32, {args.threads} BLAS thread(s), median of {args.rounds} interleaved rounds"
    )
    print("wall: elapsed time; cpu: this process's CPU time (less disturbed by other load)")
    print(f"{'workload':<24}{'ours ms':>9}{'torch ms':>10}{'ratio':>7}  |{'ours cpu':>9}"
          f"{'torch cpu':>10}{'ratio':>7}")  # fmt: skip
    for name, a, b, ac, bc in rows:
        print(f"{name:<24}{a:>9.2f}{b:>10.2f}{a / b:>6.2f}x  |{ac:>9.2f}{bc:>10.2f}"
              f"{ac / bc:>6.2f}x")  # fmt: skip
    if args.pieces:
        with threadpool_limits(args.threads):
            pieces(torch, args.rounds)
    print("\ncommand: python " + " ".join(sys.argv))
    print(f"numpy BLAS kernels: {blas_kernels()} (see benchmarks/README.md on OPENBLAS_CORETYPE)")


def pieces(torch, rounds: int) -> None:
    """The fused LSTM layer's time split into its GEMMs and gate math, at the workload's
    shapes (feature-major per-step blocks, as the layer keeps them), in ms per call."""
    f32 = np.float32
    rng = np.random.default_rng(2)
    G, K, N = 4 * HID, E + 1 + HID, T * B

    def u(*shape: int) -> np.ndarray:
        return rng.uniform(-0.5, 0.5, shape).astype(f32)

    w_x, xt, acts = u(G, E + 1), u(T, E + 1, B), np.empty((T, G, B), f32)
    whh, whh_t, h, gemm_out = u(G, HID), u(HID, G), u(HID, B), np.empty((G, B), f32)
    dz, xk, w_ih = u(G, N), u(K, N), u(G, E)
    gates, cell = u(G, B), u(HID, B)

    def recurrent() -> None:  # one forward's (or backward's) T step GEMMs
        for _ in range(T):
            np.matmul(whh, h, out=gemm_out)

    def recurrent_back() -> None:
        for _ in range(T):
            np.matmul(whh_t, gates, out=h)

    def nonlinear() -> None:  # the three sigmoid gates by exp, tanh(g) and tanh(c), T steps
        s = gates[: 3 * HID]
        for _ in range(T):
            np.exp(s, out=s)
            s += 1
            np.reciprocal(s, out=s)
            np.tanh(gates[3 * HID :], out=gates[3 * HID :])
            np.tanh(cell, out=cell)  # (the values stay bounded from call to call)

    layer = nn.LSTM(E, HID, batch_first=True)
    x = at.tensor(u(B, T, E), requires_grad=True)
    t_layer = torch.nn.LSTM(E, HID, batch_first=True)
    xt_t = torch.tensor(x.numpy(force=True), requires_grad=True)

    def fwd_ours() -> None:
        with at.no_grad():
            layer(x)

    def fwd_theirs() -> None:
        with torch.no_grad():
            t_layer(xt_t)

    floor = {
        "input projection, all steps": lambda: np.matmul(w_x, xt, out=acts),
        "recurrent GEMMs, forward": recurrent,
        "recurrent GEMMs, backward": recurrent_back,
        "[dW_ih | db | dW_hh], one GEMM": lambda: dz @ xk.T,
        "dx = dZ W_ih": lambda: w_ih.T @ dz,
    }
    rest = {
        "gate nonlinearities (exp, tanh)": nonlinear,
        "layer forward, autotensor": fwd_ours,
        "layer forward, torch": fwd_theirs,
        "layer fwd+bwd, autotensor": lambda: layer(x)[0].sum().backward(),
        "layer fwd+bwd, torch": lambda: t_layer(xt_t)[0].sum().backward(),
    }
    print(f"\nLSTM layer pieces (B {B}, T {T}, I {E}, H {HID}, float32), ms per call, "
          f"min and median of {rounds}")  # fmt: skip
    total = 0.0
    for name, fn in {**floor, **rest}.items():
        fn()
        times = []
        for _ in range(rounds):
            t0 = time.process_time()
            fn()
            times.append((time.process_time() - t0) * 1e3)
        lo, mid = min(times), statistics.median(times)
        print(f"  {name:<36}{lo:>8.2f}{mid:>8.2f}")
        if name in floor:
            total += lo
        if name == "dx = dZ W_ih":
            print(f"  {'GEMM floor of fwd+bwd (sum of mins)':<36}{total:>8.2f}")


def _interleave(f_ours, f_theirs, rounds: int) -> tuple[float, float, float, float]:
    """Median ms (wall, then CPU time) of each, alternating which runs first each round."""
    wall: dict = {0: [], 1: []}
    cpu: dict = {0: [], 1: []}
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            f = f_ours if k == 0 else f_theirs
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    med = statistics.median
    return (med(wall[0]) * 1e3, med(wall[1]) * 1e3, med(cpu[0]) * 1e3, med(cpu[1]) * 1e3)


def blas_kernels() -> str:
    """Which BLAS (and which of its kernels) numpy runs: the figures depend on it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i.get('architecture', '?')}" for i in info) or "?"


if __name__ == "__main__":
    main()

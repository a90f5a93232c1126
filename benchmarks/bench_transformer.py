"""A GPT-like training step and scaled dot-product attention alone, autotensor vs torch.

Workloads (float32, one BLAS thread each unless --threads):
  gpt_step  a character-level GPT (4 layers, 4 heads, embedding 128, block 64, batch 16,
            vocab 65, causal self-attention through F.scaled_dot_product_attention, GELU MLP,
            tied embedding, AdamW): forward, cross-entropy, backward, optimizer step. The
            model is written once against a torch-like namespace and built for both
            libraries from the same initial weights.
  sdpa      F.scaled_dot_product_attention(q, k, v, is_causal=True) forward + backward at
            (16, 4, 64, 32).

Run from the repository root:
    python benchmarks/bench_transformer.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_transformer.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

N_LAYER, N_HEAD, N_EMBD, BLOCK, BATCH, VOCAB = 4, 4, 128, 64, 16, 65


def build(torch, nn, F):
    """The model, written once with torch's names (nanoGPT's layout)."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(N_EMBD)
            self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD)
            self.c_proj = nn.Linear(N_EMBD, N_EMBD)
            self.ln_2 = nn.LayerNorm(N_EMBD)
            self.c_fc = nn.Linear(N_EMBD, 4 * N_EMBD)
            self.gelu = nn.GELU()
            self.mlp_proj = nn.Linear(4 * N_EMBD, N_EMBD)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(N_EMBD, dim=2)
            hd = C // N_HEAD
            q = q.view(B, T, N_HEAD, hd).transpose(1, 2)
            k = k.view(B, T, N_HEAD, hd).transpose(1, 2)
            v = v.view(B, T, N_HEAD, hd).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(VOCAB, N_EMBD)
            self.wpe = nn.Embedding(BLOCK, N_EMBD)
            self.h = nn.ModuleList([Block() for _ in range(N_LAYER)])
            self.ln_f = nn.LayerNorm(N_EMBD)
            self.lm_head = nn.Linear(N_EMBD, VOCAB, bias=False)
            self.lm_head.weight = self.wte.weight  # weight tying

        def forward(self, idx, targets):
            pos = torch.arange(0, idx.shape[1])
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))

    return GPT()


def gpt_step(lib, weights: dict | None = None, seed: int = 0):
    """One AdamW training step of the model on `lib` (torch or autotensor), as a callable;
    `weights` (name -> ndarray, e.g. torch's state dict) makes both libraries start equal."""
    model = build(lib, lib.nn, lib.nn.functional)
    if weights is not None:
        model.load_state_dict(weights, strict=True)
        model.lm_head.weight = model.wte.weight  # loading copies into both names; keep tied
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.integers(0, VOCAB, (BATCH, BLOCK)))
    y = lib.tensor(rng.integers(0, VOCAB, (BATCH, BLOCK)))

    def step() -> float:
        opt.zero_grad()
        loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()

    step.model = model  # type: ignore[attr-defined]
    return step


def _interleave(f_ours, f_theirs, rounds: int) -> tuple[float, float, float, float]:
    """Median ms of each, alternating which runs first each round: wall-clock time, and this
    process's CPU time (which on a shared machine leaves out the time other processes held
    the cores; both libraries run on one thread here, so the two agree on an idle machine)."""
    wall: dict = {0: [], 1: []}
    cpu: dict = {0: [], 1: []}
    for r in range(rounds):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            f = f_ours if k == 0 else f_theirs
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - t0)
    med = statistics.median
    return (med(wall[0]) * 1e3, med(wall[1]) * 1e3, med(cpu[0]) * 1e3, med(cpu[1]) * 1e3)


def blas_kernels() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i.get('architecture', '?')}" for i in info) or "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20, help="timed rounds (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both libraries")
    ap.add_argument("--only", choices=["gpt_step", "sdpa"], default=None)
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    import autotensor as at
    import nn
    import nn.functional as F

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(args.threads):
        if args.only in (None, "gpt_step"):
            tm = build(torch, torch.nn, torch.nn.functional)
            am = build(at, nn, F)
            sd = {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}
            am.load_state_dict(sd, strict=True)
            am.lm_head.weight = am.wte.weight  # loading copies into both names; keep them tied
            topt = torch.optim.AdamW(tm.parameters(), lr=1e-3, weight_decay=0.1)
            aopt = nn.optim.AdamW(am.parameters(), lr=1e-3, weight_decay=0.1)
            x = rng.integers(0, VOCAB, (BATCH, BLOCK))
            y = rng.integers(0, VOCAB, (BATCH, BLOCK))
            xt, yt = torch.tensor(x), torch.tensor(y)
            xa, ya = at.tensor(x), at.tensor(y)
            losses: dict = {0: [], 1: []}

            def step_ours() -> None:
                aopt.zero_grad()
                loss = am(xa, ya)
                loss.backward()
                aopt.step()
                losses[0].append(loss.item())

            def step_theirs() -> None:
                topt.zero_grad()
                loss = tm(xt, yt)
                loss.backward()
                topt.step()
                losses[1].append(loss.item())

            for _ in range(args.warmup):
                step_ours()
                step_theirs()
            n0 = args.warmup
            # the same weights and batch each step: the first losses agree to float32 rounding
            print(f"first-step loss: ours {losses[0][0]:.6f}, torch {losses[1][0]:.6f}")
            times = _interleave(step_ours, step_theirs, args.rounds)
            rel = abs(losses[0][n0] - losses[1][n0]) / abs(losses[1][n0])
            print(f"loss after {n0} steps: ours {losses[0][n0]:.6f}, torch {losses[1][n0]:.6f}"
                  f" (rel {rel:.1e})")  # fmt: skip
            rows.append(("gpt_step", *times))
        if args.only in (None, "sdpa"):
            shape = (BATCH, N_HEAD, BLOCK, N_EMBD // N_HEAD)
            arrays = [rng.normal(size=shape).astype(np.float32) for _ in range(3)]
            g = rng.normal(size=shape).astype(np.float32)
            qa = [at.tensor(a, requires_grad=True) for a in arrays]
            qt = [torch.tensor(a, requires_grad=True) for a in arrays]
            ga, gt = at.tensor(g), torch.tensor(g)

            def sdpa_ours() -> None:
                F.scaled_dot_product_attention(*qa, is_causal=True).backward(ga)

            def sdpa_theirs() -> None:
                torch.nn.functional.scaled_dot_product_attention(*qt, is_causal=True).backward(gt)

            for _ in range(args.warmup):
                sdpa_ours()
                sdpa_theirs()
            times = _interleave(sdpa_ours, sdpa_theirs, args.rounds * 5)
            rows.append((f"sdpa fwd+bwd {shape}", *times))

    print(
        f"\nGPT: {N_LAYER} layers, {N_HEAD} heads, embedding {N_EMBD}, block {BLOCK}, batch "
        f"{BATCH}, vocab {VOCAB}, AdamW, float32, {args.threads} BLAS thread(s), median of "
        f"interleaved rounds ({args.rounds}; x5 for sdpa)"
    )
    print(f"{'workload':<30}{'ours ms':>9}{'torch ms':>10}{'ratio':>8}  {'cpu ratio':>9}")
    for name, a, b, ca, cb in rows:
        print(f"{name:<30}{a:>9.2f}{b:>10.2f}{a / b:>7.2f}x  {ca / cb:>8.2f}x")
    print("\ncommand: python " + " ".join(sys.argv))
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"numpy BLAS kernels: {blas_kernels()}; environment {env}")


if __name__ == "__main__":
    main()

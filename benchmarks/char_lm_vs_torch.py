"""The character language model trained in autotensor and in torch, side by side.

Both get the same model (Embedding 32 -> 1-layer LSTM, hidden 256 -> Linear), the same
initial weights (torch's, copied into ours), the same batches of 64-character windows in the
same order, Adam with the same settings and gradient-norm clipping; the held-out loss (nats
per character, on fixed windows of the last 10% of the text) is printed for both at
intervals, with the training time. Ours should be no worse than torch's within noise.

    python benchmarks/char_lm_vs_torch.py                      # 600 steps, a few minutes
    python benchmarks/char_lm_vs_torch.py --steps 3000 --eval-every 500
    python benchmarks/char_lm_vs_torch.py --text other.txt --hidden 128 --cell gru
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nn  # noqa: E402
from nn.data import CharCorpus  # noqa: E402


def _char_lm():
    """The example script, imported as a module."""
    spec = importlib.util.spec_from_file_location(
        "char_lm", ROOT / "docs" / "examples" / "char_lm.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--text", default=str(ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--eval-windows", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    args = ap.parse_args()

    if not Path(args.text).exists():
        sys.exit(f"{args.text} not found: give a text file with --text")
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    lm = _char_lm()
    corpus = CharCorpus(args.text)
    train_c, val_c = corpus.split(0.9)
    train_ids, val_ids = train_c.data.numpy(), val_c.data.numpy()
    V = corpus.vocab_size

    class TorchLM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(V, args.embed)
            rnn = torch.nn.LSTM if args.cell == "lstm" else torch.nn.GRU
            self.rnn = rnn(args.embed, args.hidden, batch_first=True)
            self.head = torch.nn.Linear(args.hidden, V)

        def forward(self, x):
            return self.head(self.rnn(self.embed(x))[0])

    torch.manual_seed(args.seed)
    theirs = TorchLM()
    ours = lm.CharLM(V, args.embed, args.hidden, 1, args.cell)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                         strict=True)  # fmt: skip
    opt_o = nn.optim.Adam(ours.parameters(), lr=args.lr)
    opt_t = torch.optim.Adam(theirs.parameters(), lr=args.lr)
    vx, vy = lm.eval_windows(val_ids, args.seq_len, args.eval_windows)

    def eval_theirs() -> float:
        theirs.eval()
        with torch.no_grad():
            logits = theirs(torch.from_numpy(vx))
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V),
                                                     torch.from_numpy(vy.reshape(-1)))  # fmt: skip
        theirs.train()
        return loss.item()

    data = lm.random_windows(train_ids, args.batch, args.seq_len, np.random.default_rng(args.seed))
    t_ours = t_theirs = 0.0
    rows = [(0, lm.evaluate(ours, vx, vy), eval_theirs(), 0.0, 0.0)]
    print(f"{args.text}: {len(corpus.text):,} characters, vocabulary {V}; {args.cell.upper()} "
          f"hidden {args.hidden}, batch {args.batch} x {args.seq_len}, Adam lr {args.lr}, "
          f"clip {args.clip}, {args.threads} BLAS thread(s)")  # fmt: skip
    print(f"{'step':>6}{'held-out ours':>15}{'held-out torch':>16}{'train ours':>12}"
          f"{'train torch':>13}")  # fmt: skip
    print(f"{0:>6}{rows[0][1]:>15.4f}{rows[0][2]:>16.4f}")
    run_o, run_t = [], []
    for step in range(1, args.steps + 1):
        x, y = next(data)
        t0 = time.perf_counter()
        loss = lm.loss_of(ours, x, y)
        opt_o.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ours.parameters(), args.clip)
        opt_o.step()
        run_o.append(loss.item())
        t1 = time.perf_counter()
        logits = theirs(torch.from_numpy(x))
        lt = torch.nn.functional.cross_entropy(
            logits.reshape(-1, V), torch.from_numpy(y.reshape(-1))
        )
        opt_t.zero_grad()
        lt.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), args.clip)
        opt_t.step()
        run_t.append(lt.item())
        t2 = time.perf_counter()
        t_ours += t1 - t0
        t_theirs += t2 - t1
        if step % args.eval_every == 0 or step == args.steps:
            row = (step, lm.evaluate(ours, vx, vy), eval_theirs(), np.mean(run_o), np.mean(run_t))
            rows.append(row)
            run_o, run_t = [], []
            print(f"{row[0]:>6}{row[1]:>15.4f}{row[2]:>16.4f}{row[3]:>12.4f}{row[4]:>13.4f}",
                  flush=True)  # fmt: skip
    final_o, final_t = rows[-1][1], rows[-1][2]
    print(f"\nfinal held-out loss: autotensor {final_o:.4f}, torch {final_t:.4f} "
          f"(difference {final_o - final_t:+.4f} nats/char)")  # fmt: skip
    print(f"training time: autotensor {t_ours:.1f} s ({t_ours / args.steps * 1e3:.1f} ms/step), "
          f"torch {t_theirs:.1f} s ({t_theirs / args.steps * 1e3:.1f} ms/step), ratio "
          f"{t_ours / t_theirs:.2f}x")  # fmt: skip
    print("\n--- autotensor sample (temperature 0.8) ---")
    print(lm.sample(ours, corpus, 300, "\n", 0.8, args.seed))
    print("\ncommand: python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()

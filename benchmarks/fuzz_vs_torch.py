"""A long differential campaign: random programs run on torch and on autotensor.

    python benchmarks/fuzz_vs_torch.py --programs 20000 --seed 0

Program k is generated from seed `seed + k` (tests/fuzzlib.py), so any failure reruns alone
with `--programs 1 --seed <its seed>`. Every distinct failure class (key: op + kind of
mismatch) is printed once, with a reproduction shrunk to the statements that still show it.
Keys listed in fuzzlib.DELIBERATE are counted apart (documented differences).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # a checkout

import fuzzlib
import torch

import autotensor as at


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--programs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-shrink", action="store_true", help="print failures as found")
    p.add_argument("--max-classes", type=int, default=50, help="stop after this many classes")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    first: dict[str, tuple[int, fuzzlib.Mismatch]] = {}
    counts: Counter = Counter()
    deliberate: Counter = Counter()
    n_stmts = 0
    for k in range(args.programs):
        seed = args.seed + k
        prog = fuzzlib.random_program(seed, torch)
        n_stmts += prog.n_statements()
        m = fuzzlib.classify(prog, torch, at)
        if m is None:
            continue
        if fuzzlib.is_deliberate(m):
            deliberate[m.key] += 1
            continue
        counts[m.key] += 1
        if m.key not in first:
            first[m.key] = (seed, m)
            print(f"[{k}] new failure class {m.key}: {m.detail}", flush=True)
            if len(first) >= args.max_classes:
                print("too many failure classes: stopping early")
                break
    elapsed = time.perf_counter() - t0

    for key, (seed, m) in sorted(first.items()):
        assert m.program is not None
        prog = m.program if args.no_shrink else fuzzlib.shrink(m.program, key, torch, at)
        again = fuzzlib.classify(prog, torch, at)
        print(f"\n=== {key}  ({counts[key]} programs; first: seed {seed})")
        print(f"    {again.detail if again else m.detail}")
        print("    " + prog.source().replace("\n", "\n    "))

    bad = sum(counts.values())
    raising = ("raise", "exception_class", "crash", "overlap", "expanded_inplace", "saved_version")
    n_raise = sum(n for key, n in counts.items() if key.rsplit(":", 1)[1] in raising)
    d_raise = sum(n for key, n in deliberate.items() if key.rsplit(":", 1)[1] in raising)
    listed = ", ".join(f"{key} x{n}" for key, n in sorted(deliberate.items()))
    print(
        f"\n{k + 1} programs ({n_stmts} statements) in {elapsed:.0f} s: {bad} with a "
        f"difference in {len(first)} classes, of which {n_raise} raise/no-raise or "
        f"exception-class disagreements; {sum(deliberate.values())} deliberate, {d_raise} of "
        f"them raising ({listed or 'none'})"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

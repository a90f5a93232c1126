"""Every training workload of the performance targets, autotensor against torch in one run,
and against the other numpy engines (mygrad, DeZero) where they are installed.

    python benchmarks/bench_all.py                        # all workloads, 15 rounds
    python benchmarks/bench_all.py --only mlp,cnn --rounds 30
    python benchmarks/bench_all.py --memory               # add peak memory per step
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_all.py

Workloads (float32; the same initial weights, torch's, copied into every engine; the same
batch): a step is zero_grad + forward + loss + backward + optimizer step.

  mlp         784-256-128-10 ReLU MLP, batch 128, cross-entropy, SGD(0.01, momentum 0.9)
  cnn         Conv2d(1,16,3,p=1)-ReLU-MaxPool(2)-Conv2d(16,32,3,p=1)-ReLU-MaxPool(2)-Linear,
              batch 64x1x28x28, cross-entropy, SGD(0.01)
  char_lstm   Embedding(65,32)-LSTM(128)-Linear(65), batch 32 x 64 steps, CE, SGD(0.1)
  chain_20k   y = y * 1.0001 + 0.0001 twenty thousand times on one number, then backward
  big_mlp     1024-4096-1024 ReLU MLP, batch 1024, MSE, SGD(0.01, momentum 0.9)
  tiny_mlp    2-16-16-1 ReLU MLP, 100 points, MSE, plain SGD(0.01)
  conv2d      Conv2d(3,64,3,p=1) forward + backward on 32x3x32x32 (a fixed output gradient)
  per_op      ((a*b + c).tanh()).sum().backward() on 16 elements; per_op_fwd: forward alone
  gpt         the GPT-like step of benchmarks/bench_transformer.py (4 layers, 4 heads,
              embedding 128, block 64, batch 16, AdamW), when that script is present

The autotensor and torch versions of each workload are one function written against torch's
API (`lib.nn.Linear`, `lib.nn.functional.cross_entropy`, `lib.optim.SGD`, ...), called with
either library: what runs on both is literally the same program. mygrad and DeZero have APIs
of their own; their versions are written beside, with the same shapes and update rules.

Rounds are interleaved (the engine order rotates every round); each round times a few
consecutive steps per engine; the table gives the median ms per step and each engine's
ratio to torch from the same run. Everything runs on one BLAS thread (torch.set_num_threads
and threadpoolctl for numpy). `--memory` runs each (workload, engine) in a fresh process and
reports the growth of peak RSS over a few steps (all engines) and the tracemalloc peak of
one step (numpy engines: numpy reports its allocations to tracemalloc).

DeZero predates numpy 2 (it uses np.int); this script restores that alias before importing
it, and only then.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import autotensor as at  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover - torch is the reference
    sys.exit("bench_all.py compares against torch: pip install -e '.[bench]'")
try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pragma: no cover
    sys.exit("bench_all.py needs threadpoolctl to pin numpy to one BLAS thread")

Step = Callable[[], Any]


def autotensor_lib() -> Any:
    """autotensor as a torch-like namespace (`lib.nn`, `lib.optim`, ...)."""
    if hasattr(at, "nn") and hasattr(at, "optim"):
        return at
    import nn  # older layout: the nn package beside the engine

    ns = SimpleNamespace(**{k: getattr(at, k) for k in dir(at) if not k.startswith("__")})
    ns.nn, ns.optim = nn, nn.optim
    return ns


LIBS = {"torch": torch}


def _copy_weights(ours: Any, theirs: Any) -> None:
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def _pair(build: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(torch model, autotensor model holding the same weights)."""
    torch.manual_seed(0)
    theirs = build(torch)
    ours = build(autotensor_lib())
    _copy_weights(ours, theirs)
    return theirs, ours


# -- workloads, written once against torch's API ----------------------------------------------
def _mlp_model(lib: Any, sizes: tuple[int, ...]) -> Any:
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lib.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def _train_step(lib: Any, model: Any, opt: Any, loss_fn: Any, x: Any, y: Any) -> Step:
    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _mlp_workload(sizes: tuple[int, ...], batch: int, loss: str, momentum: float) -> Callable:
    def make(lib: Any, model: Any) -> Step:
        r = np.random.default_rng(0)
        x = lib.from_numpy(r.normal(size=(batch, sizes[0])).astype(np.float32))
        if loss == "ce":
            y = lib.from_numpy(r.integers(0, sizes[-1], batch))
            fn = lib.nn.functional.cross_entropy
        else:
            y = lib.from_numpy(r.normal(size=(batch, sizes[-1])).astype(np.float32))
            fn = lib.nn.functional.mse_loss
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
        return _train_step(lib, model, opt, fn, x, y)

    return make


def _cnn_model(lib: Any) -> Any:
    n = lib.nn
    return n.Sequential(
        n.Conv2d(1, 16, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
        n.Conv2d(16, 32, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
        n.Flatten(), n.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def _cnn_step(lib: Any, model: Any) -> Step:
    r = np.random.default_rng(0)
    x = lib.from_numpy(r.normal(size=(64, 1, 28, 28)).astype(np.float32))
    y = lib.from_numpy(r.integers(0, 10, 64))
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    return _train_step(lib, model, opt, lib.nn.functional.cross_entropy, x, y)


V, E, HID, BATCH, STEPS = 65, 32, 128, 32, 64


def _lstm_model(lib: Any) -> Any:
    class CharLSTM(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = lib.nn.Embedding(V, E)
            self.rnn = lib.nn.LSTM(E, HID, batch_first=True)
            self.head = lib.nn.Linear(HID, V)

        def forward(self, x: Any) -> Any:
            return self.head(self.rnn(self.emb(x))[0])

    return CharLSTM()


def _lstm_step(lib: Any, model: Any) -> Step:
    r = np.random.default_rng(0)
    x = lib.from_numpy(r.integers(0, V, (BATCH, STEPS)))
    y = lib.from_numpy(r.integers(0, V, BATCH * STEPS))
    opt = lib.optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(out: Any, target: Any) -> Any:
        return lib.nn.functional.cross_entropy(out.reshape(-1, V), target)

    return _train_step(lib, model, opt, loss_fn, x, y)


def _conv_model(lib: Any) -> Any:
    return lib.nn.Conv2d(3, 64, 3, padding=1)


def _conv_step(lib: Any, model: Any) -> Step:
    r = np.random.default_rng(0)
    x = lib.from_numpy(r.normal(size=(32, 3, 32, 32)).astype(np.float32))
    g = lib.from_numpy(r.normal(size=(32, 64, 32, 32)).astype(np.float32))

    def step() -> None:
        model.zero_grad()
        model(x).backward(g)

    return step


def _chain_step(lib: Any, n: int = 20000) -> Step:
    x = lib.tensor([1.0], requires_grad=True)

    def step() -> None:
        y = x
        for _ in range(n):
            y = y * 1.0001 + 0.0001
        y.backward()

    return step


def _per_op(lib: Any, backward: bool) -> Step:
    r = np.random.default_rng(0)
    a, b, c = (lib.tensor(r.standard_normal(16).astype(np.float32), requires_grad=True)
               for _ in range(3))  # fmt: skip

    def step() -> None:
        for _ in range(100):
            y = ((a * b + c).tanh()).sum()
            if backward:
                y.backward()

    return step


def _model_workload(build: Callable[[Any], Any], make: Callable[[Any, Any], Step]) -> Callable:
    def engines() -> dict[str, Step]:
        theirs, ours = _pair(build)
        return {"torch": make(torch, theirs), "autotensor": make(autotensor_lib(), ours)}

    return engines


def _free_workload(make: Callable[[Any], Step]) -> Callable:
    def engines() -> dict[str, Step]:
        return {"torch": make(torch), "autotensor": make(autotensor_lib())}

    return engines


def _gpt_engines() -> dict[str, Step]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_transformer  # the GPT-like step, written once for both libraries

    torch.manual_seed(0)
    theirs = bench_transformer.gpt_step(torch)
    weights = {k: v.detach().numpy().copy() for k, v in theirs.model.state_dict().items()}
    return {"torch": theirs, "autotensor": bench_transformer.gpt_step(autotensor_lib(), weights)}


# name: (description, engines factory, steps per round, per-step divisor for the table)
WORKLOADS: dict[str, tuple[str, Callable[[], dict[str, Step]], int, int]] = {
    "mlp": ("MLP 784-256-128-10, batch 128, CE, SGD momentum",
            _model_workload(lambda lib: _mlp_model(lib, (784, 256, 128, 10)),
                            _mlp_workload((784, 256, 128, 10), 128, "ce", 0.9)), 10, 1),
    "cnn": ("CNN conv(1-16)-pool-conv(16-32)-pool-fc, batch 64",
            _model_workload(_cnn_model, _cnn_step), 2, 1),
    "char_lstm": ("char LSTM LM 65-32-LSTM128, batch 32 x 64",
                  _model_workload(_lstm_model, _lstm_step), 2, 1),
    "chain_20k": ("20,000-op scalar chain + backward", _free_workload(_chain_step), 1, 1),
    "big_mlp": ("MLP 1024-4096-1024, batch 1024, MSE",
                _model_workload(lambda lib: _mlp_model(lib, (1024, 4096, 1024)),
                                _mlp_workload((1024, 4096, 1024), 1024, "mse", 0.9)), 1, 1),
    "tiny_mlp": ("tiny MLP 2-16-16-1, 100 points, SGD",
                 _model_workload(lambda lib: _mlp_model(lib, (2, 16, 16, 1)),
                                 _mlp_workload((2, 16, 16, 1), 100, "mse", 0.0)), 50, 1),
    "conv2d": ("Conv2d 3->64 3x3 fwd+bwd, 32x3x32x32", _model_workload(_conv_model, _conv_step),
               2, 1),
    "per_op": ("per-op ((a*b+c).tanh()).sum().backward()",
               _free_workload(lambda lib: _per_op(lib, True)), 1, 100),
    "per_op_fwd": ("  the same, forward alone", _free_workload(lambda lib: _per_op(lib, False)),
                   1, 100),
    "gpt": ("GPT-like step 4x4, emb 128, block 64, batch 16", _gpt_engines, 1, 1),
}  # fmt: skip


# -- the other numpy engines ------------------------------------------------------------------
def _torch_arrays(build: Callable[[Any], Any]) -> list[np.ndarray]:
    torch.manual_seed(0)
    return [p.detach().numpy().copy() for p in build(torch).parameters()]


def _peer_mlp(engine: str, sizes: tuple[int, ...], batch: int, loss: str, mom: float) -> Step:
    ws = _torch_arrays(lambda lib: _mlp_model(lib, sizes))
    r = np.random.default_rng(0)
    x = r.normal(size=(batch, sizes[0])).astype(np.float32)
    y = (r.integers(0, sizes[-1], batch) if loss == "ce"
         else r.normal(size=(batch, sizes[-1])).astype(np.float32))  # fmt: skip
    if engine == "mygrad":
        import mygrad as mg
        from mygrad.nnet.activations import relu
        from mygrad.nnet.losses import softmax_crossentropy

        params = [mg.tensor(w.T.copy() if w.ndim == 2 else w) for w in ws]
        vel = [np.zeros_like(p.data) for p in params]

        def step() -> None:
            h = x
            for i in range(0, len(params), 2):
                h = mg.matmul(h, params[i]) + params[i + 1]
                if i < len(params) - 2:
                    h = relu(h)
            out = softmax_crossentropy(h, y) if loss == "ce" else mg.mean((h - y) ** 2)
            out.backward()
            for p, v in zip(params, vel):  # torch's momentum rule, in place
                if mom:
                    v *= mom
                    v += p.grad
                    p.data -= 0.01 * v
                else:
                    p.data -= 0.01 * p.grad

        return step
    import dezero
    import dezero.functions as DF

    model = dezero.Layer()
    for i, w in enumerate(ws):
        setattr(model, f"p{i}", dezero.Parameter(w.T.copy() if w.ndim == 2 else w))
    params = [getattr(model, f"p{i}") for i in range(len(ws))]
    opt = dezero.optimizers.MomentumSGD(0.01, mom) if mom else dezero.optimizers.SGD(0.01)
    opt.setup(model)

    def step() -> None:
        model.cleargrads()
        h = x
        for i in range(0, len(params), 2):
            h = DF.linear(h, params[i], params[i + 1])
            if i < len(params) - 2:
                h = DF.relu(h)
        out = DF.softmax_cross_entropy(h, y) if loss == "ce" else DF.mean_squared_error(h, y)
        out.backward()
        opt.update()

    return step


def _peer_scalar(engine: str, kind: str) -> Step:
    r = np.random.default_rng(0)
    if engine == "mygrad":
        import mygrad as mg

        make = mg.tensor
    else:
        import dezero

        make = dezero.Variable
    if kind == "chain":
        x = make(np.array([1.0], dtype=np.float32))

        def step() -> None:
            y = x
            for _ in range(20000):
                y = y * 1.0001 + 0.0001
            y.backward()

        return step
    a, b, c = (make(r.standard_normal(16).astype(np.float32)) for _ in range(3))
    fn = (lambda v: mg.tanh(v)) if engine == "mygrad" else None
    if engine == "dezero":
        import dezero.functions as DF

        fn = DF.tanh

    def run() -> None:
        for _ in range(100):
            y = fn(a * b + c).sum()
            if kind == "per_op":
                y.backward()

    return run


def _peer_conv(engine: str) -> Step:
    (w, b) = _torch_arrays(_conv_model)
    r = np.random.default_rng(0)
    x = r.normal(size=(32, 3, 32, 32)).astype(np.float32)
    g = r.normal(size=(32, 64, 32, 32)).astype(np.float32)
    if engine == "mygrad":
        import mygrad as mg
        from mygrad.nnet.layers import conv_nd

        W, B = mg.tensor(w), mg.tensor(b.reshape(1, -1, 1, 1))
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))

        def step() -> None:
            (conv_nd(xp, W, stride=1) + B).backward(g)

        return step
    import dezero
    import dezero.functions as DF

    W, B = dezero.Parameter(w), dezero.Parameter(b)

    def run() -> None:
        W.cleargrad()
        B.cleargrad()
        y = DF.conv2d(x, W, B, stride=1, pad=1)
        y.grad = dezero.Variable(g)
        y.backward()

    return run


def _peer_cnn(engine: str) -> Step:
    ws = _torch_arrays(_cnn_model)
    r = np.random.default_rng(0)
    x = r.normal(size=(64, 1, 28, 28)).astype(np.float32)
    y = r.integers(0, 10, 64)
    if engine != "dezero":
        raise KeyError(engine)
    import dezero
    import dezero.functions as DF

    model = dezero.Layer()
    for i, w in enumerate(ws):
        setattr(model, f"p{i}", dezero.Parameter(w.T.copy() if w.ndim == 2 else w))
    p = [getattr(model, f"p{i}") for i in range(len(ws))]
    opt = dezero.optimizers.SGD(0.01)
    opt.setup(model)

    def step() -> None:
        model.cleargrads()
        h = DF.pooling(DF.relu(DF.conv2d(x, p[0], p[1], pad=1)), 2, 2)
        h = DF.pooling(DF.relu(DF.conv2d(h, p[2], p[3], pad=1)), 2, 2)
        out = DF.linear(DF.reshape(h, (64, -1)), p[4], p[5])
        DF.softmax_cross_entropy(out, y).backward()
        opt.update()

    return step


PEERS: dict[str, Callable[[str], Step]] = {
    "mlp": lambda e: _peer_mlp(e, (784, 256, 128, 10), 128, "ce", 0.9),
    "big_mlp": lambda e: _peer_mlp(e, (1024, 4096, 1024), 1024, "mse", 0.9),
    "tiny_mlp": lambda e: _peer_mlp(e, (2, 16, 16, 1), 100, "mse", 0.0),
    "chain_20k": lambda e: _peer_scalar(e, "chain"),
    "per_op": lambda e: _peer_scalar(e, "per_op"),
    "per_op_fwd": lambda e: _peer_scalar(e, "fwd"),
    "conv2d": _peer_conv,
    "cnn": _peer_cnn,
}


def _available_peers() -> list[str]:
    found = []
    try:
        import mygrad  # noqa: F401

        found.append("mygrad")
    except ImportError:
        pass
    if not hasattr(np, "int"):
        np.int = int  # type: ignore[attr-defined]  # DeZero still uses the alias
    try:
        import dezero  # noqa: F401

        found.append("dezero")
    except Exception:
        pass
    return found


def engines_for(name: str, peers: list[str]) -> dict[str, Step]:
    steps = WORKLOADS[name][1]()
    for e in peers:
        try:
            steps[e] = PEERS[name](e)
        except (KeyError, ImportError, AttributeError, TypeError):
            continue  # that engine cannot run this workload
    return steps


# -- the GEMM-only floor of the big MLP ---------------------------------------------------------
def gemm_floor_step() -> Step:
    """The matrix products of one big_mlp step in bare numpy into preallocated outputs:
    two forward (x W1^T, h W2^T), three backward (dW2, dh, dW1)."""
    r = np.random.default_rng(0)
    f32 = np.float32
    x = r.normal(size=(1024, 1024)).astype(f32)
    w1, w2 = r.normal(size=(4096, 1024)).astype(f32), r.normal(size=(1024, 4096)).astype(f32)
    h, out = np.empty((1024, 4096), f32), np.empty((1024, 1024), f32)
    g = r.normal(size=(1024, 1024)).astype(f32)
    dw2, dh, dw1 = np.empty_like(w2), np.empty_like(h), np.empty_like(w1)

    def step() -> None:
        np.matmul(x, w1.T, out=h)
        np.matmul(h, w2.T, out=out)
        np.matmul(g.T, h, out=dw2)
        np.matmul(g, w2, out=dh)
        np.matmul(dh.T, x, out=dw1)

    return step


# -- measuring --------------------------------------------------------------------------------
def measure(steps: dict[str, Step], rounds: int, per_round: int) -> dict[str, float]:
    """Median seconds per step of each engine over interleaved rounds."""
    for fn in steps.values():  # warm-up: caches, workspaces, first-call costs
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    for r in range(rounds):
        rot = order[r % len(order) :] + order[: r % len(order)]
        for name in rot:
            fn = steps[name]
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append((time.perf_counter() - t0) / per_round)
    return {k: statistics.median(v) for k, v in times.items()}


def blas_kernels() -> str:
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
                     f"{i.get('num_threads')} thread(s))" for i in info) or "unknown"  # fmt: skip


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (resource.getpagesize() // 1024)


def memory_child(name: str, engine: str) -> None:
    """Run in a fresh process: print peak RSS growth over 3 steps, and tracemalloc's peak
    for one step (numpy engines)."""
    steps = engines_for(name, [engine] if engine not in ("torch", "autotensor") else [])
    fn = steps[engine]
    base = _rss_kb()
    for _ in range(3):
        fn()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    traced = -1.0
    if engine != "torch":
        tracemalloc.start()
        fn()
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(f"MEM {max(peak, 0) / 1024:.1f} {traced:.1f}")


def memory(name: str, engines: list[str]) -> dict[str, str]:
    out = {}
    for e in engines:
        res = subprocess.run([sys.executable, __file__, "--memory-child", name, e],
                             capture_output=True, text=True, timeout=900)  # fmt: skip
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("MEM")]
        if not line:
            out[e] = "n/a"
            continue
        rss, traced = line[0].split()[1:]
        out[e] = f"{rss} MB" + (f" ({traced} MB traced)" if float(traced) >= 0 else "")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--only", default="", help="comma-separated workload names")
    p.add_argument("--no-peers", action="store_true", help="torch and autotensor only")
    p.add_argument("--memory", action="store_true", help="also peak memory per step")
    p.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with threadpool_limits(1):
        if args.memory_child:
            peers = _available_peers()
            memory_child(*args.memory_child)
            return
        names = [n for n in (args.only.split(",") if args.only else WORKLOADS)]
        peers = [] if args.no_peers else _available_peers()
        print(
            f"numpy {np.__version__}, BLAS: {blas_kernels()}; torch {torch.__version__} "
            f"({torch.get_num_threads()} thread); peers: {', '.join(peers) or 'none'}"
        )
        print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
        head = f"{'workload':<48} {'torch ms':>10} {'autotensor':>11}"
        head += "".join(f" {e:>9}" for e in peers)
        print(head)
        for name in names:
            desc, _, per_round, div = WORKLOADS[name]
            try:
                steps = engines_for(name, peers)
            except Exception as err:
                print(f"{desc:<48} skipped: {type(err).__name__}: {err}")
                continue
            med = measure(steps, args.rounds, per_round)
            t = med["torch"]
            row = f"{desc:<48} {t * 1e3 / div:>10.4g} {med['autotensor'] / t:>10.2f}x"
            row += "".join(f" {med[e] / t:>8.2f}x" if e in med else f" {'-':>9}" for e in peers)
            print(row)
            if name == "big_mlp":
                floor = measure({"floor": gemm_floor_step()}, args.rounds, 1)["floor"]
                print(f"{'  GEMM-only floor (numpy, same products)':<48} {floor * 1e3:>10.4g} "
                      f"{floor / t:>10.2f}x   autotensor reaches "
                      f"{floor / med['autotensor']:.0%} of it")  # fmt: skip
            if args.memory:
                mem = memory(name, list(steps))
                print("  peak memory per step: " + "; ".join(f"{k} {v}" for k, v in mem.items()))


if __name__ == "__main__":
    main()

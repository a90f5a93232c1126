"""The experiments of *Deep Learning from Scratch* chapters 3 and 4, run with autotensor's
`nn` and with PyTorch side by side (same data, split, initial weights, batches, seed and
hyperparameters), printed as tables.

    python benchmarks/book_ch3_ch4.py                       # a few minutes (subsampled ch. 4)
    python benchmarks/book_ch3_ch4.py --full                # the book's sizes (much longer)
    python benchmarks/book_ch3_ch4.py --boston PATH --fashion DIR --only ch3
    python benchmarks/book_ch3_ch4.py --full --only ch4 --variant deeper --seeds 5
    python benchmarks/book_ch3_ch4.py --only ch4 --divergence

Chapter 3 (Boston housing; features standardised over the whole table, then the book's 70/30
split, scikit-learn's train_test_split with random_state=80718): linear regression, one hidden
sigmoid layer of 13, two hidden sigmoid layers of 13; N(0, 1) initial weights (the book's);
SGD lr 0.01, 50 epochs, batch 32, evaluated every 10 epochs with early stopping; test MAE and
RMSE.

Chapter 4 (on Fashion-MNIST instead of the book's MNIST; pixels standardised with the
training set's global mean and std, as the book does): 784-89-10 with tanh and softmax
cross-entropy, batch 60, evaluated every 10 epochs with early stopping, in the book's order of
improvements: SGD lr 0.1; momentum 0.9; + linear lr decay 0.15 -> 0.05; + exponential decay
0.2 -> 0.05; + Glorot initial weights; + dropout (keep 0.8); and the deeper 784-178-46-10
network with all of these (twice the epochs). The book's "glorot" scale is 2 / (fan_in +
fan_out) used as the standard deviation; here it is Glorot's own sqrt(2 / (fan_in + fan_out)).
Test accuracy (%) on all 10,000 test images.

These chapter-4 runs are chaotic (lr 0.1-0.2 with momentum 0.9): two runs whose weights differ
by one float32 ulp drift apart within about a hundred steps, in torch alone as much as between
torch and us (and in float64 too, only later), so ours and torch's accuracies can only agree
within the run-to-run noise. The `torch'` columns measure that noise: torch trained again
from initial weights moved by one ulp. The `epochs` column says how long each run trained
(ours/torch/torch'): early stopping ends a run at its first evaluation whose test loss is not
lower, so where a chaotic run happens to stall decides its length, and with it much of its
accuracy. `--seeds N` reruns each row with N seeds (initial weights, shuffling and dropout
masks) and prints the mean and spread of each column; `--variant` picks rows. Chapter 3 is
not chaotic and agrees to the printed digits.

By default chapter 4 trains on a seeded random subset of `--train-size` images for
`--epochs` epochs (evaluating every `--eval-every`) so that the whole script takes a few
minutes; `--full` uses the book's settings (60,000 images, 50 epochs, 100 for the deeper
network, evaluation every 10). Dropout masks come from each library's own generator, so the
dropout rows agree in distribution, not bit for bit.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import numpy as np

import autotensor as at
import nn
from nn import optim
from nn.data import FASHION_MNIST_ROOT, FashionMNIST, load_boston, standardize, train_test_split

try:
    import torch
except ImportError:
    torch = None


# -- models --------------------------------------------------------------------------------------
def make_ours(sizes, act, init, dropout, seed):
    """nn.Sequential of Linear layers with `act` between them, dropout after each hidden
    activation; weights and biases drawn from N(0, scale) as the book does."""
    g = at.Generator().manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out)
        scale = math.sqrt(2.0 / (n_in + n_out)) if init == "glorot" else 1.0
        nn.init.normal_(lin.weight, 0.0, scale, generator=g)
        nn.init.normal_(lin.bias, 0.0, scale, generator=g)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append({"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[act]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def make_torch(ours):
    """The same architecture in torch, with our initial weights copied in."""
    layers = []
    for m in ours:
        if isinstance(m, nn.Linear):
            layers.append(torch.nn.Linear(m.in_features, m.out_features))
        elif isinstance(m, nn.Dropout):
            layers.append(torch.nn.Dropout(m.p))
        else:
            layers.append({nn.Tanh: torch.nn.Tanh, nn.Sigmoid: torch.nn.Sigmoid}[type(m)]())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return model


def schedulers(lib, opt, decay, lr, final_lr, epochs):
    """The book's per-epoch lr decay from lr to final_lr over the run, as a torch-style
    scheduler: linear -> LinearLR, exponential -> ExponentialLR."""
    mod = optim.lr_scheduler if lib == "ours" else torch.optim.lr_scheduler
    if decay == "linear":
        return mod.LinearLR(opt, 1.0, final_lr / lr, total_iters=epochs - 1)
    if decay == "exponential":
        return mod.ExponentialLR(opt, (final_lr / lr) ** (1.0 / (epochs - 1)))
    return None


# -- the torch twin of nn.Trainer.fit --------------------------------------------------------------
def torch_fit(model, opt, sched, loss_fn, train, test, epochs, eval_every, batch_size, seed):
    """nn.Trainer.fit's loop written in torch: the same permutations (numpy, seeded once),
    contiguous batches, evaluation every eval_every epochs, early stopping that restores the
    best evaluated weights, the scheduler stepped after each epoch's evaluation. Returns the
    number of epochs run."""
    x, y = train
    xt, yt = torch.tensor(test[0]), torch.tensor(test[1])
    rng = np.random.default_rng(seed)
    best, best_state = math.inf, copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        model.train()
        perm = rng.permutation(len(x))
        xs, ys = torch.tensor(x[perm]), torch.tensor(y[perm])
        for s in range(0, len(x), batch_size):
            opt.zero_grad()
            loss_fn(model(xs[s : s + batch_size]), ys[s : s + batch_size]).backward()
            opt.step()
        if epoch % eval_every == 0:
            model.eval()
            with torch.no_grad():
                loss = float(loss_fn(model(xt), yt))
            if loss < best:
                best, best_state = loss, copy.deepcopy(model.state_dict())
            else:
                model.load_state_dict(best_state)
                return epoch
        if sched is not None:
            sched.step()
    return epochs


def run_pair(sizes, act, init, dropout, lr, momentum, decay, final_lr, loss, train, test,
             epochs, eval_every, batch_size, seed, noise=False):  # fmt: skip
    """Train the same model with ours and torch; returns (ours model, torch model, info).
    With `noise`, also train torch from initial weights moved by one ulp (info["twin"])."""
    ours = make_ours(sizes, act, init, dropout, seed)
    theirs = make_torch(ours) if torch is not None else None  # before training: same weights
    o_opt = optim.SGD(ours.parameters(), lr=lr, momentum=momentum)
    o_loss = nn.CrossEntropyLoss() if loss == "ce" else nn.MSELoss()
    at.manual_seed(seed)  # dropout masks
    trainer = nn.Trainer(ours, o_opt, o_loss, scheduler=schedulers("ours", o_opt, decay, lr,
                                                                    final_lr, epochs))  # fmt: skip
    t0 = time.perf_counter()
    hist = trainer.fit(train, test, epochs=epochs, eval_every=eval_every, batch_size=batch_size,
                       seed=seed, verbose=False, progress=False)  # fmt: skip
    t_ours = time.perf_counter() - t0
    info = {"epochs_ours": len(hist.train_loss), "time_ours": t_ours}
    if theirs is not None:
        torch.manual_seed(seed)
        t_opt = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=momentum)
        t_loss = torch.nn.CrossEntropyLoss() if loss == "ce" else torch.nn.MSELoss()
        t0 = time.perf_counter()
        info["epochs_torch"] = torch_fit(
            theirs, t_opt, schedulers("torch", t_opt, decay, lr, final_lr, epochs), t_loss,
            train, test, epochs, eval_every, batch_size, seed,
        )  # fmt: skip
        info["time_torch"] = time.perf_counter() - t0
        if noise:  # torch again from weights one ulp away: the run-to-run noise of the setup
            twin = make_torch(make_ours(sizes, act, init, dropout, seed))
            with torch.no_grad():
                for prm in twin.parameters():
                    prm.copy_(torch.tensor(np.nextafter(prm.numpy(), np.float32(np.inf))))
            t_opt = torch.optim.SGD(twin.parameters(), lr=lr, momentum=momentum)
            info["epochs_twin"] = torch_fit(
                twin, t_opt, schedulers("torch", t_opt, decay, lr, final_lr, epochs), t_loss,
                train, test, epochs, eval_every, batch_size, seed,
            )  # fmt: skip
            info["twin"] = twin
    return ours, theirs, info


def predict(model, x, lib):
    model.eval()
    if lib == "ours":
        with at.no_grad():
            return np.asarray(model(at.tensor(x)))
    with torch.no_grad():
        return model(torch.tensor(x)).numpy()


# -- chapter 3 -----------------------------------------------------------------------------------
def chapter3(path: Path, args) -> None:
    x, y, _ = load_boston(path)
    x = standardize(x.astype(np.float64)).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=80718)
    y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)
    print(f"\nChapter 3: Boston housing ({path}), train {len(x_train)}, test {len(x_test)}; "
          "SGD lr 0.01, 50 epochs, batch 32, eval every 10 with early stopping")  # fmt: skip
    print(f"{'model':<38}{'MAE ours':>10}{'MAE torch':>11}{'RMSE ours':>11}{'RMSE torch':>12}"
          f"{'epochs':>9}{'s ours/torch':>15}")  # fmt: skip
    models = [("linear regression", (13, 1)), ("one hidden layer (13, sigmoid)", (13, 13, 1)),
              ("two hidden layers (13, 13, sigmoid)", (13, 13, 13, 1))]  # fmt: skip
    for name, sizes in models:
        ours, theirs, info = run_pair(sizes, "sigmoid", "standard", 0.0, 0.01, 0.0, None, None,
                                      "mse", (x_train, y_train), (x_test, y_test), 50, 10, 32,
                                      20190501)  # fmt: skip
        p_o = predict(ours, x_test, "ours")
        row = [np.abs(p_o - y_test).mean(), None, np.sqrt(((p_o - y_test) ** 2).mean()), None]
        if theirs is not None:
            p_t = predict(theirs, x_test, "torch")
            row[1] = np.abs(p_t - y_test).mean()
            row[3] = np.sqrt(((p_t - y_test) ** 2).mean())
        cells = "".join(f"{v:>11.4f}" if v is not None else f"{'-':>11}" for v in row)
        ep = f"{info['epochs_ours']}/{info.get('epochs_torch', '-')}"
        tm = f"{info['time_ours']:.1f}/{info.get('time_torch', float('nan')):.1f}"
        print(f"{name:<38}{cells}{ep:>8}{tm:>15}")


# -- chapter 4 -----------------------------------------------------------------------------------
SEED = 20190119  # chapter 4's seed: initial weights, shuffling and dropout masks

# (key for --variant, row name, hyperparameters); "epochs": 2 means twice --epochs
VARIANTS = [
    ("sgd", "784-89-10 tanh, SGD lr 0.1", dict(lr=0.1, momentum=0.0)),
    ("momentum", "+ momentum 0.9", dict(lr=0.1, momentum=0.9)),
    ("linear", "+ linear lr decay 0.15 -> 0.05",
     dict(lr=0.15, momentum=0.9, decay="linear", final_lr=0.05)),
    ("exponential", "exponential lr decay 0.2 -> 0.05 (instead)",
     dict(lr=0.2, momentum=0.9, decay="exponential", final_lr=0.05)),
    ("glorot", "+ Glorot init", dict(lr=0.2, momentum=0.9, decay="exponential", final_lr=0.05,
                                     init="glorot")),
    ("dropout", "+ dropout (keep 0.8)", dict(lr=0.2, momentum=0.9, decay="exponential",
                                             final_lr=0.05, init="glorot", dropout=0.2)),
    ("deeper", "784-178-46-10, Glorot, dropout 0.8, momentum, exp. decay",
     dict(lr=0.2, momentum=0.9, decay="exponential", final_lr=0.05, init="glorot",
          dropout=0.2, sizes=(784, 178, 46, 10), epochs=2)),
]  # fmt: skip


def _mean_sd(values: list[float]) -> str:
    """ "mean ± sample standard deviation" (just the value for one run)."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def divergence(train, steps: int = 300, seed: int = SEED) -> None:
    """How fast two runs of the deeper network drift apart, step by step: ours against torch
    (float64 and float32) and torch against torch' (weights one float32 ulp away), all with
    the same initial weights, batches and dropout masks (drawn here from one numpy generator
    per run, so the dropout rows can be compared bit for bit). SGD lr 0.2, momentum 0.9.
    Prints max |w_a - w_b| / max |w_b| over the layers after chosen steps."""
    x, y = train
    sizes, p, lr, momentum = (784, 178, 46, 10), 0.2, 0.2, 0.9
    perm = np.random.default_rng(seed).permutation(len(x))
    marks = [s for s in (1, 2, 5, 10, 20, 50, 100, 150, 200, 300, 500) if s <= steps]

    def run(pair: str, dtype: str) -> list[float]:
        base = make_ours(sizes, "tanh", "glorot", p, seed)
        a = make_torch(base) if pair == "torch-torch'" else base
        b = make_torch(base)
        if pair == "torch-torch'":
            with torch.no_grad():
                for prm in a.parameters():
                    prm.copy_(torch.tensor(np.nextafter(prm.numpy(), np.float32(np.inf))))
        if dtype == "float64":  # the float32 draws, exactly, in float64
            a.double()
            b.double()
        runs = []
        for model in (a, b):
            is_torch = isinstance(model, torch.nn.Module)
            lib = torch if is_torch else at
            opt = (torch.optim.SGD if is_torch else optim.SGD)(
                model.parameters(), lr=lr, momentum=momentum
            )
            loss_fn = torch.nn.CrossEntropyLoss() if is_torch else nn.CrossEntropyLoss()
            runs.append((model, lib, opt, loss_fn, np.random.default_rng(seed + 1)))
        diffs = []
        for step in range(1, steps + 1):
            s = (step - 1) * 60 % (len(x) - 59)
            idx = perm[s : s + 60]
            for model, lib, opt, loss_fn, masks in runs:
                h = lib.from_numpy(x[idx].astype(dtype))
                for m in model:
                    if isinstance(m, (nn.Dropout, torch.nn.Dropout)):
                        keep = masks.random(tuple(h.shape)) >= p
                        h = h * lib.from_numpy((keep / (1.0 - p)).astype(dtype))
                    else:
                        h = m(h)
                opt.zero_grad()
                loss_fn(h, lib.from_numpy(y[idx])).backward()
                opt.step()
            if step in marks:
                w_a = [np.asarray(t.detach()) for t in a.parameters()]
                w_b = [t.detach().numpy() for t in b.parameters()]
                diffs.append(max(np.abs(u - v).max() / np.abs(v).max() for u, v in zip(w_a, w_b)))
        return diffs

    cols = [("ours-torch", "float64"), ("ours-torch", "float32"), ("torch-torch'", "float32")]
    print(
        f"\nDivergence of two runs of 784-178-46-10 (Glorot, dropout 0.2 with shared masks, "
        f"SGD lr {lr}, momentum {momentum}, batch 60): max relative weight difference"
    )
    print(f"{'step':>6}" + "".join(f"{a + ' ' + d:>26}" for a, d in cols))
    table = [run(a, d) for a, d in cols]
    for i, step in enumerate(marks):
        print(f"{step:>6}" + "".join(f"{col[i]:>26.2e}" for col in table))


def chapter4(root: Path, args) -> None:
    train_ds, test_ds = FashionMNIST(root, train=True), FashionMNIST(root, train=False)
    x_train, y_train = (np.asarray(t) for t in train_ds.tensors(scale=False))
    x_test, y_test = (np.asarray(t) for t in test_ds.tensors(scale=False))
    if args.train_size < len(x_train):
        keep = np.random.default_rng(0).permutation(len(x_train))[: args.train_size]
        x_train, y_train = x_train[keep], y_train[keep]
    mean, std = x_train.mean(), x_train.std()  # the book's global standardisation
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    train, test = (x_train, y_train), (x_test, y_test)
    if args.divergence:
        if torch is None:
            raise SystemExit("--divergence needs torch")
        divergence(train)
        return
    e, ev = args.epochs, args.eval_every
    keys = [k.strip() for k in args.variant.split(",")] if args.variant else None
    unknown = set(keys or ()) - {k for k, _, _ in VARIANTS}
    if unknown:
        raise SystemExit(f"--variant: unknown {sorted(unknown)}; known: "
                         f"{', '.join(k for k, _, _ in VARIANTS)}")  # fmt: skip
    seeds = [SEED + i for i in range(args.seeds)]
    print(f"\nChapter 4: Fashion-MNIST ({root}), train {len(x_train)}, test {len(x_test)}; "
          f"batch 60, {e} epochs ({2 * e} for the deeper net), eval every {ev} with early "
          f"stopping; seed{'s' if len(seeds) > 1 else ''} "
          f"{', '.join(map(str, seeds))}")  # fmt: skip
    print(f"{'variant':<58}{'ours':>9}{'torch':>9}{'diff':>7}{chr(39).join(['torch', '']):>9}"
          f"{'diff':>7}{'epochs':>13}{'s ours/torch':>14}")  # fmt: skip
    diffs, noises, summaries = [], [], []
    for key, name, v in VARIANTS:
        if keys is not None and key not in keys:
            continue
        epochs = v.get("epochs", 1) * e
        accs: dict[str, list[float]] = {"ours": [], "torch": [], "torch'": []}
        stops: dict[str, list[int]] = {"ours": [], "torch": [], "torch'": []}
        for seed in seeds:
            ours, theirs, info = run_pair(
                v.get("sizes", (784, 89, 10)), "tanh", v.get("init", "standard"),
                v.get("dropout", 0.0), v["lr"], v["momentum"], v.get("decay"),
                v.get("final_lr"), "ce", train, test, epochs, ev, 60, seed,
                noise=not args.no_noise,
            )  # fmt: skip
            acc_o = (predict(ours, x_test, "ours").argmax(1) == y_test).mean() * 100
            accs["ours"].append(acc_o)
            stops["ours"].append(info["epochs_ours"])
            acc_t = diff = acc_n = None
            if theirs is not None:
                acc_t = (predict(theirs, x_test, "torch").argmax(1) == y_test).mean() * 100
                diff = acc_o - acc_t
                diffs.append(abs(diff))
                accs["torch"].append(acc_t)
                stops["torch"].append(info["epochs_torch"])
            if "twin" in info:
                acc_n = (predict(info["twin"], x_test, "torch").argmax(1) == y_test).mean() * 100
                noises.append(abs(acc_t - acc_n))
                accs["torch'"].append(acc_n)
                stops["torch'"].append(info["epochs_twin"])
            label = name if len(seeds) == 1 else f"{name[:44]:<44} seed {seed}"
            cells = "".join(f"{a:9.2f}" if a is not None else f"{'-':>9}" for a in (acc_o, acc_t))
            df = f"{diff:+7.2f}" if diff is not None else f"{'-':>7}"
            nz = f"{acc_n:9.2f}{acc_t - acc_n:+7.2f}" if acc_n is not None else f"{'-':>9}{'-':>7}"
            ep = "/".join(str(info[k]) for k in ("epochs_ours", "epochs_torch", "epochs_twin")
                          if k in info)  # fmt: skip
            tm = f"{info['time_ours']:.1f}/{info.get('time_torch', float('nan')):.1f}"
            print(f"{label:<58}{cells}{df}{nz}{ep:>13}{tm:>14}")
        if len(seeds) > 1:
            summaries.append((name, epochs, accs, stops))
    if diffs:
        print(f"largest |ours - torch| accuracy difference: {max(diffs):.2f} points", end="")
        print(f"; largest |torch - torch'|: {max(noises):.2f} points" if noises else "")
    print(
        "epochs: the epochs each run trained, ours/torch/torch' (fewer than asked: early "
        "stopping fired)"
    )
    for name, epochs, accs, stops in summaries:
        print(f"\n{name}: test accuracy over {len(seeds)} seeds, mean ± standard deviation")
        for lib in ("ours", "torch", "torch'"):
            if accs[lib]:
                early = sum(s < epochs for s in stops[lib])
                print(f"  {lib:<7}{_mean_sd(accs[lib]):>15}   min {min(accs[lib]):.2f}, max "
                      f"{max(accs[lib]):.2f}; stopped early in {early} of {len(stops[lib])} "
                      f"runs (epochs {', '.join(map(str, stops[lib]))})")  # fmt: skip
        if accs["torch"]:
            both = accs["torch"] + accs["torch'"]
            sem = math.sqrt(np.var(accs["ours"], ddof=1) / len(accs["ours"])
                            + np.var(both, ddof=1) / len(both))  # fmt: skip
            print(f"  mean ours - mean of all torch runs: "
                  f"{np.mean(accs['ours']) - np.mean(both):+.2f} points (standard error "
                  f"{sem:.2f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    repo = Path(__file__).resolve().parents[1]
    ap.add_argument(
        "--boston",
        type=Path,
        default=None,
        help="boston_house_prices.csv (default: ../shared/data next to the repo)",
    )
    ap.add_argument(
        "--fashion",
        type=Path,
        default=Path(FASHION_MNIST_ROOT),
        help="directory with the Fashion-MNIST IDX files",
    )
    ap.add_argument("--only", default="ch3,ch4")
    ap.add_argument(
        "--variant",
        default=None,
        help="chapter-4 rows to run, comma-separated keys: "
        + ", ".join(k for k, _, _ in VARIANTS)
        + " (default: all)",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=1,
        help=f"run each chapter-4 row with this many seeds ({SEED}, {SEED + 1}, ...) and "
        "print the mean and spread of the accuracies",
    )
    ap.add_argument(
        "--train-size",
        type=int,
        default=12000,
        help="Fashion-MNIST training images used (a seeded random subset)",
    )
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument(
        "--full",
        action="store_true",
        help="the book's settings: 60000 images, 50 epochs, eval every 10",
    )
    ap.add_argument(
        "--no-noise",
        action="store_true",
        help="skip the torch' runs (torch from weights one ulp away)",
    )
    ap.add_argument(
        "--divergence",
        action="store_true",
        help="instead of the chapter-4 table: how fast ours and torch (and torch and torch') "
        "drift apart step by step on the deeper network, with shared dropout masks",
    )
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for numpy and torch")
    args = ap.parse_args()  # fmt: skip
    if args.full:
        args.train_size, args.epochs, args.eval_every = 60000, 50, 10
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    if torch is not None:
        torch.set_num_threads(args.threads)
    else:
        print("torch is not installed: only our columns are filled")
    print(f"python {' '.join(sys.argv)}")
    parts = [p.strip() for p in args.only.split(",")]
    if "ch3" in parts:
        path = args.boston or repo.parent / "shared" / "data" / "boston_house_prices.csv"
        if path.is_file():
            chapter3(path, args)
        else:
            print(f"\nChapter 3 skipped: no Boston csv at {path} (give --boston PATH)")
    if "ch4" in parts:
        try:
            chapter4(args.fashion, args)
        except FileNotFoundError as e:
            print(f"\nChapter 4 skipped: {e}")


if __name__ == "__main__":
    main()

"""A small MNIST-style CNN trained as pytorch/examples' mnist script trains its net:
argparse flags, device chosen by asking for an accelerator, Conv2d/Dropout/Linear,
log_softmax + nll_loss, Adadelta with StepLR, train and test loops, a saved state_dict.

Written once for either library: `main(torch, argv)` takes the module to use as `torch`
(`import torch` or `import autotensor as torch`; from the command line, `--backend`).
Data: 8x8 digits from a CSV (`--data path.csv[.gz]`, 64 pixels then the label per row) or,
by default, random images from `--seed`, so the run is small and fast.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import numpy as np


def make_net(torch: Any, dropout: float) -> Any:
    nn = torch.nn
    F = torch.nn.functional

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 8, 3, 1)
            self.dropout1 = nn.Dropout(dropout)
            self.dropout2 = nn.Dropout(2 * dropout)
            self.fc1 = nn.Linear(8 * 2 * 2, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x: Any) -> Any:
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def load_data(path: str | None, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 1 x 8 x 8 scaled to [0, 1], labels N) from the CSV, or random ones."""
    if path:
        rows = np.loadtxt(path, delimiter=",")[:n]
        return (rows[:, :64] / 16.0).reshape(-1, 1, 8, 8), rows[:, 64].astype(np.int64)
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8)), rng.integers(0, 10, n)


def train(args: Any, torch: Any, model: Any, device: Any, loader: Any, optimizer: Any) -> list:
    F = torch.nn.functional
    model.train()
    losses = []
    for data, target in loader:
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test(torch: Any, model: Any, device: Any, loader: Any) -> tuple[float, int]:
    F = torch.nn.functional
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            total += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    return total / len(loader.dataset), int(correct)


def main(torch: Any, argv: list[str] | None = None, init_state: dict | None = None) -> dict:
    p = argparse.ArgumentParser(description="MNIST-style CNN")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--test-batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=0.7)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--no-accel", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default=None)
    p.add_argument("--n", type=int, default=192)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--save-model", default=None, help="path for the trained state_dict")
    args = p.parse_args(argv)

    use_accel = not args.no_accel and torch.accelerator.is_available()
    torch.manual_seed(args.seed)
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    dtype = getattr(torch, args.dtype)

    x, y = load_data(args.data, args.seed, args.n)
    split = args.n * 3 // 4
    data = torch.utils.data
    train_set = data.TensorDataset(torch.tensor(x[:split], dtype=dtype), torch.tensor(y[:split]))
    test_set = data.TensorDataset(torch.tensor(x[split:], dtype=dtype), torch.tensor(y[split:]))
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size)
    test_loader = data.DataLoader(test_set, batch_size=args.test_batch_size)

    model = make_net(torch, args.dropout).to(device).to(dtype)
    if init_state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init_state.items()})
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
    losses, tests = [], []
    for _epoch in range(1, args.epochs + 1):
        losses += train(args, torch, model, device, train_loader, optimizer)
        tests.append(test(torch, model, device, test_loader))
        scheduler.step()
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)
    return {"losses": losses, "tests": tests, "initial": initial}


if __name__ == "__main__":
    cli = argparse.ArgumentParser(add_help=False)
    cli.add_argument("--backend", default="autotensor", choices=["autotensor", "torch"])
    known, rest = cli.parse_known_args()
    out = main(importlib.import_module(known.backend), rest)
    print(f"final train loss {out['losses'][-1]:.4f}; test (loss, correct) {out['tests'][-1]}")

"""`Trainer`: the training loop of *Deep Learning from Scratch* (Weidman, ch. 3-4), on `nn`.

    trainer = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                         nn.CrossEntropyLoss())
    history = trainer.fit((X_train, y_train), (X_test, y_test), epochs=50, eval_every=10,
                          batch_size=60, seed=1, metrics=["accuracy"])
    history.plot()

What `fit` does, as the book's Trainer:

- every epoch, shuffle the training data with a generator seeded once from `seed`, and take
  one optimizer step per batch of `batch_size` (the last batch may be smaller);
- every `eval_every` epochs, compute the loss (and metrics) on the test data;
- with `early_stopping`, keep a copy of the weights at each evaluation that improved the test
  loss; at the first evaluation where the loss rose, restore the best weights and stop.

Beyond the book: a `scheduler` stepped once per epoch (ReduceLROnPlateau gets the test loss
at each evaluation), a tqdm progress bar, a stop with the best weights restored when the
training loss becomes NaN or infinite, and a returned `History`.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import autotensor as at
from autotensor import Tensor
from nn.data import DataLoader, Dataset
from nn.optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["Trainer", "History", "accuracy", "mae", "rmse"]


# -- metrics -------------------------------------------------------------------------------------
def accuracy(pred: Tensor, target: Tensor) -> float:
    """Fraction of rows whose arg-max matches the target class (indices, or one-hot /
    probabilities, reduced by arg-max)."""
    p, t = np.asarray(pred.detach()), np.asarray(target.detach())
    if t.ndim == p.ndim:
        t = t.argmax(axis=-1)
    return float((p.argmax(axis=-1) == t).mean())


def mae(pred: Tensor, target: Tensor) -> float:
    """Mean absolute error."""
    p, t = np.asarray(pred.detach()), np.asarray(target.detach())
    return float(np.abs(p.reshape(t.shape) - t).mean())


def rmse(pred: Tensor, target: Tensor) -> float:
    """Root mean squared error."""
    p, t = np.asarray(pred.detach()), np.asarray(target.detach())
    return float(np.sqrt(((p.reshape(t.shape) - t) ** 2).mean()))


_METRICS: dict[str, Callable[[Tensor, Tensor], float]] = {
    "accuracy": accuracy, "acc": accuracy, "mae": mae, "rmse": rmse,
}  # fmt: skip


def _metric_fns(metrics: Iterable[Any]) -> dict[str, Callable[[Tensor, Tensor], float]]:
    """name -> function for metric names ("accuracy", "mae", "rmse") and functions."""
    out = {}
    for m in metrics:
        if isinstance(m, str):
            if m.lower() not in _METRICS:
                raise ValueError(f"Trainer: unknown metric {m!r}; known: {sorted(_METRICS)}")
            out[m] = _METRICS[m.lower()]
        else:
            out[getattr(m, "__name__", type(m).__name__)] = m
    return out


# -- history -------------------------------------------------------------------------------------
@dataclass
class History:
    """What `Trainer.fit` recorded.

    Attributes:
        train_loss: mean training loss of each epoch run (epoch e is train_loss[e - 1]).
        lr: the learning rate of the first param group during each epoch.
        eval_epochs: the epochs after which the test data was evaluated.
        test_loss: the test loss at each of those epochs.
        metrics: name -> values at each of those epochs.
        best_epoch, best_loss: the evaluation whose weights the model holds at the end (with
            early stopping or after a NaN stop; None when no evaluation ran).
        stop_reason: None (ran every epoch), "early stopping" or "non-finite loss".
    """

    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    best_loss: float = math.inf
    stop_reason: str | None = None

    @property
    def epochs(self) -> list[int]:
        """The epochs run: 1 .. len(train_loss)."""
        return list(range(1, len(self.train_loss) + 1))

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason is not None

    def plot(self, ax: Any = None, metrics: bool = True) -> Any:
        """Plot the losses per epoch (and the metrics on a second axis) with matplotlib;
        returns the Figure. Needs matplotlib (`pip install autotensor[plot]`)."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib: pip install matplotlib (or autotensor[plot])"
            ) from None
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        ax.plot(self.epochs, self.train_loss, label="train loss")
        if self.eval_epochs:
            ax.plot(self.eval_epochs, self.test_loss, "o-", label="test loss")
        if self.best_epoch is not None:
            ax.axvline(self.best_epoch, color="grey", ls=":", label=f"best ({self.best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(loc="upper left")
        if metrics and self.metrics:
            ax2 = ax.twinx()
            for name, vals in self.metrics.items():
                ax2.plot(self.eval_epochs, vals, "s--", label=name)
            ax2.legend(loc="upper right")
        return fig

    def __repr__(self) -> str:
        last = f"{self.train_loss[-1]:.4g}" if self.train_loss else "-"
        test = f"{self.test_loss[-1]:.4g}" if self.test_loss else "-"
        return (
            f"History(epochs={len(self.train_loss)}, train_loss={last}, test_loss={test}, "
            f"best_epoch={self.best_epoch}, stop_reason={self.stop_reason!r})"
        )


# -- data ----------------------------------------------------------------------------------------
def _as_array(x: Any, float_dtype: Any = None) -> np.ndarray:
    """x as an ndarray; floating numpy data is cast to `float_dtype` (the model's), so the
    float64 arrays numpy makes by default can be passed as they are."""
    if isinstance(x, Tensor):
        return np.asarray(x.detach())
    a = np.asarray(x)
    if float_dtype is not None and a.dtype.kind == "f" and a.dtype != float_dtype:
        a = a.astype(float_dtype)
    return a


class _ArrayBatches:
    """(X, y) arrays, shuffled each epoch with one generator, cut into contiguous batches
    (the book's permute_data + generate_batches)."""

    def __init__(
        self, x: Any, y: Any, batch_size: int, rng: np.random.Generator, dtype: Any = None
    ) -> None:
        self.x, self.y = _as_array(x, dtype), _as_array(y, dtype)
        if len(self.x) != len(self.y):
            raise ValueError(f"Trainer.fit: X has {len(self.x)} rows but y has {len(self.y)}")
        if len(self.x) == 0:
            raise ValueError("Trainer.fit: the training data is empty")
        self.batch_size, self.rng = batch_size, rng

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Any:
        perm = self.rng.permutation(len(self.x))
        x, y = self.x[perm], self.y[perm]
        for s in range(0, len(x), self.batch_size):
            yield (
                at.from_numpy(x[s : s + self.batch_size]),
                at.from_numpy(y[s : s + self.batch_size]),
            )


def _batches(
    data: Any, batch_size: int, rng: np.random.Generator, shuffle: bool, dtype: Any = None
) -> Any:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        seed = int(rng.integers(2**31))
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _ArrayBatches(data[0], data[1], batch_size, rng, dtype)
    raise TypeError(
        f"Trainer.fit: data must be an (X, y) pair, a Dataset or a DataLoader, got "
        f"{type(data).__name__}"
    )


def _is_bar_wanted(progress: bool | None) -> bool:
    if progress is False:
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True if progress else sys.stderr.isatty()


# -- the trainer ---------------------------------------------------------------------------------
class Trainer:
    """`Trainer(model, optimizer, loss_fn, scheduler=None)`: trains `model` with `optimizer`
    on `loss_fn(model(x), y)`; see the module docstring and `fit`."""

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        scheduler: Any = None,
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler = scheduler
        self.best_loss = math.inf
        self.best_state: dict[str, np.ndarray] | None = None

    # -- pieces ------------------------------------------------------------------------------
    def _dtype(self) -> Any:
        """The floating dtype of the model's first parameter (None without parameters)."""
        for p in self.model.parameters():
            return p.dtype
        return None

    def _snapshot(self) -> dict[str, np.ndarray]:
        """A deep copy of the model's weights and buffers."""
        return {k: np.asarray(v).copy() for k, v in self.model.state_dict().items()}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        # in place, so the optimizer keeps updating the same Parameters
        self.model.load_state_dict({k: v.copy() for k, v in state.items()})

    def evaluate(
        self, data: Any, metrics: Sequence[Any] = (), batch_size: int | None = None
    ) -> tuple[float, dict[str, float]]:
        """(loss, {metric: value}) of the model on `data` ((X, y), Dataset or DataLoader), in
        eval mode and without recording a graph. Batched losses are averaged by batch size.
        """
        fns = _metric_fns(metrics)
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        try:
            with at.no_grad():
                if isinstance(data, (tuple, list)) and len(data) == 2 and batch_size is None:
                    x, y = (at.from_numpy(_as_array(d, self._dtype())) for d in data)
                    pred = self.model(x)
                    return float(self.loss_fn(pred, y).item()), {
                        k: f(pred, y) for k, f in fns.items()
                    }
                preds, ys, total, n = [], [], 0.0, 0
                rng = np.random.default_rng(0)
                for xb, yb in _batches(data, batch_size or 1024, rng, False, self._dtype()):
                    p = self.model(xb)
                    total += float(self.loss_fn(p, yb).item()) * len(yb)
                    n += len(yb)
                    preds.append(np.asarray(p))
                    ys.append(np.asarray(yb))
                pred_t = at.from_numpy(np.concatenate(preds))
                y_t = at.from_numpy(np.concatenate(ys))
                return total / n, {k: f(pred_t, y_t) for k, f in fns.items()}
        finally:
            self.model.train(was_training)

    # -- the loop ----------------------------------------------------------------------------
    def fit(
        self,
        train_data: Any,
        test_data: Any = None,
        epochs: int = 100,
        eval_every: int = 10,
        batch_size: int = 32,
        seed: int | None = 1,
        early_stopping: bool = True,
        restart: bool = True,
        metrics: Iterable[str | Callable[[Tensor, Tensor], float]] = (),
        progress: bool | None = None,
        verbose: bool = True,
    ) -> History:
        """Train for up to `epochs` epochs; returns a `History`.

        Args:
            train_data, test_data: an (X, y) pair of Tensors/arrays (shuffled here each
                epoch; floating numpy arrays are cast to the model's dtype), a Dataset
                (loaded with a DataLoader of `batch_size`, shuffled), or a DataLoader (used
                as it is).
            eval_every: evaluate the test data after every this many epochs.
            seed: seeds the shuffling (None: a fresh random order every run).
            early_stopping: keep the best weights seen at an evaluation and stop, restoring
                them, at the first evaluation whose loss is not lower.
            restart: forget the best loss of a previous `fit` call.
            metrics: "accuracy", "mae", "rmse" or functions f(pred, target) -> float,
                computed on the test data at each evaluation.
            progress: a tqdm bar over the epochs (None: when tqdm is installed and stderr is
                a terminal).
            verbose: print a line at each evaluation, as the book does.
        """
        if epochs < 1 or eval_every < 1 or batch_size < 1:
            raise ValueError(
                f"Trainer.fit: epochs, eval_every and batch_size must be >= 1 (got {epochs}, "
                f"{eval_every}, {batch_size})"
            )
        metrics = list(metrics)
        rng = np.random.default_rng(seed)
        batches = _batches(train_data, batch_size, rng, True, self._dtype())
        if restart:
            self.best_loss = math.inf
        self.best_state = self._snapshot()  # the fallback if training fails before any eval
        hist = History(metrics={name: [] for name in _metric_fns(metrics)})
        bar = None
        if _is_bar_wanted(progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, desc="epochs", leave=False)

        def say(msg: str) -> None:
            if verbose:
                (bar.write if bar is not None else print)(msg)

        self.model.train()
        try:
            for epoch in range(1, epochs + 1):
                hist.lr.append(float(self.optimizer.param_groups[0]["lr"]))
                total, n = 0.0, 0
                for xb, yb in batches:
                    self.optimizer.zero_grad()
                    loss = self.loss_fn(self.model(xb), yb)
                    value = float(loss.item())
                    if not math.isfinite(value):
                        self._stop_on_nonfinite(hist, epoch, value)
                        return hist
                    loss.backward()
                    self.optimizer.step()
                    total += value * len(yb)
                    n += len(yb)
                hist.train_loss.append(total / n)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(train_loss=f"{total / n:.4g}")
                evaluate = test_data is not None and epoch % eval_every == 0
                if evaluate:
                    loss_v, mvals = self.evaluate(test_data, metrics)
                    hist.eval_epochs.append(epoch)
                    hist.test_loss.append(loss_v)
                    for k, v in mvals.items():
                        hist.metrics[k].append(v)
                    if not math.isfinite(loss_v):
                        self._stop_on_nonfinite(hist, epoch, loss_v, where="test")
                        return hist
                    if loss_v < self.best_loss:
                        self.best_loss = loss_v
                        self.best_state = self._snapshot()
                        hist.best_epoch, hist.best_loss = epoch, loss_v
                        say(f"Validation loss after {epoch} epochs is {loss_v:.3f}")
                    elif early_stopping:
                        self._restore(self.best_state)
                        hist.stop_reason = "early stopping"
                        say(
                            f"Loss increased after epoch {epoch}, final loss was "
                            f"{self.best_loss:.3f}, using the model from epoch "
                            f"{hist.best_epoch}"
                        )
                        return hist
                    else:
                        say(f"Validation loss after {epoch} epochs is {loss_v:.3f}")
                if self.scheduler is not None:
                    if isinstance(self.scheduler, ReduceLROnPlateau):
                        if evaluate:
                            self.scheduler.step(hist.test_loss[-1])
                    else:
                        self.scheduler.step()
            return hist
        finally:
            if bar is not None:
                bar.close()

    def _stop_on_nonfinite(
        self, hist: History, epoch: int, value: float, where: str = "training"
    ) -> None:
        self._restore(self.best_state)  # type: ignore[arg-type]
        hist.stop_reason = "non-finite loss"
        kept = (
            f"the weights from epoch {hist.best_epoch} (test loss {hist.best_loss:.4g})"
            if hist.best_epoch is not None
            else "the weights it had before this fit"
        )
        warnings.warn(
            f"Trainer.fit: the {where} loss became {value} in epoch {epoch}; stopping. The "
            f"model was restored to {kept}. Lower the learning rate or check the data.",
            RuntimeWarning,
            stacklevel=3,
        )

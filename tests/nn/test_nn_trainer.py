"""nn.Trainer: the book's loop (per-epoch shuffle from one seeded generator, contiguous
batches), early stopping that restores the best evaluated weights, NaN stops, history."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autotensor as at
import nn
from nn import optim
from nn.data import DataLoader, TensorDataset


def _regression(n=120, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)
    return x, y


def _mlp(seed=0):
    at.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1))


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_loop_is_the_books_loop():
    """fit == a hand-written loop: each epoch permutes the data with one generator seeded
    once, then steps on contiguous batches (the last one smaller)."""
    x, y = _regression(50)
    a, b = _mlp(), _mlp()
    nn.Trainer(a, optim.SGD(a.parameters(), lr=0.05, momentum=0.9), nn.MSELoss()).fit(
        (x, y), epochs=3, batch_size=16, seed=7, verbose=False, progress=False
    )
    opt, loss_fn, rng = optim.SGD(b.parameters(), lr=0.05, momentum=0.9), nn.MSELoss(), None
    rng = np.random.default_rng(7)
    for _ in range(3):
        perm = rng.permutation(50)
        xs, ys = x[perm], y[perm]
        for s in range(0, 50, 16):
            opt.zero_grad()
            loss_fn(b(at.tensor(xs[s : s + 16])), at.tensor(ys[s : s + 16])).backward()
            opt.step()
    for k, v in _weights(a).items():
        np.testing.assert_array_equal(v, _weights(b)[k], err_msg=k)


def test_trainer_matches_a_torch_loop():
    """The same loop in torch, from the same weights over the same batches, ends at the same
    weights (float32 tolerance)."""
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    x, y = _regression(64)
    ours = _mlp()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
    theirs.load_state_dict({k: torch.tensor(v) for k, v in _weights(ours).items()})
    nn.Trainer(ours, optim.Adam(ours.parameters(), lr=0.01), nn.MSELoss()).fit(
        (x, y), epochs=4, batch_size=10, seed=3, verbose=False, progress=False
    )
    opt = torch.optim.Adam(theirs.parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    for _ in range(4):
        perm = rng.permutation(64)
        for s in range(0, 64, 10):
            opt.zero_grad()
            i = perm[s : s + 10]
            torch.nn.functional.mse_loss(theirs(torch.tensor(x[i])), torch.tensor(y[i])).backward()
            opt.step()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(_weights(ours)[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


def _rising_test_loss_setup():
    """w x fitted to y = 2x from w = 0, evaluated against y = x: the test loss falls while w
    approaches 1, then rises."""
    r = np.random.default_rng(1)
    x = r.normal(size=(40, 1)).astype(np.float32)
    model = nn.Linear(1, 1, bias=False)
    with at.no_grad():
        model.weight.zero_()
    return model, (x, 2 * x), (x, x)


def test_early_stopping_restores_the_best_evaluated_weights():
    model, train, test = _rising_test_loss_setup()
    opt = optim.SGD(model.parameters(), lr=0.01)
    h = nn.Trainer(model, opt, nn.MSELoss()).fit(
        train, test, epochs=200, eval_every=2, batch_size=8, seed=5, verbose=False
    )
    assert h.stop_reason == "early stopping" and h.stopped_early
    assert h.test_loss[-1] >= h.test_loss[-2]  # stopped at the first rise
    assert h.best_loss == min(h.test_loss) and h.best_epoch == h.eval_epochs[-2]
    assert len(h.train_loss) == h.eval_epochs[-1] < 200
    # the weights are those after best_epoch epochs: rerun exactly that many, no stopping
    ref, _, _ = _rising_test_loss_setup()
    nn.Trainer(ref, optim.SGD(ref.parameters(), lr=0.01), nn.MSELoss()).fit(
        train, epochs=h.best_epoch, batch_size=8, seed=5, verbose=False
    )
    np.testing.assert_array_equal(model.weight.detach().numpy(), ref.weight.detach().numpy())
    loss, _ = nn.Trainer(model, opt, nn.MSELoss()).evaluate(test)
    assert loss == pytest.approx(h.best_loss, rel=1e-6)
    # the optimizer still drives the restored parameters (restored in place)
    assert opt.param_groups[0]["params"][0] is model.weight


def test_without_early_stopping_runs_all_epochs():
    model, train, test = _rising_test_loss_setup()
    h = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.01), nn.MSELoss()).fit(
        train, test, epochs=60, eval_every=3, batch_size=8, early_stopping=False, verbose=False
    )
    assert h.stop_reason is None and len(h.train_loss) == 60
    assert h.eval_epochs == list(range(3, 61, 3)) and h.test_loss[-1] > min(h.test_loss)


class _NanAfter:
    """MSE loss that turns into NaN from the given call on."""

    def __init__(self, calls):
        self.calls, self.n = calls, 0

    def __call__(self, pred, target):
        self.n += 1
        loss = ((pred - target) ** 2).mean()
        return loss * math.nan if self.n > self.calls else loss


def test_nan_loss_stops_and_keeps_the_best_model():
    x, y = _regression(40)
    model = _mlp()
    trainer = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.05), _NanAfter(5 * 4 + 2))
    with pytest.warns(RuntimeWarning, match=r"loss became nan in epoch 6.*restored.*epoch 4"):
        h = trainer.fit((x, y), (x, y), epochs=20, eval_every=2, batch_size=10, verbose=False)
    assert h.stop_reason == "non-finite loss" and h.best_epoch == 4
    assert len(h.train_loss) == 5  # epoch 6 never completed
    ref = _mlp()
    nn.Trainer(ref, optim.SGD(ref.parameters(), lr=0.05), nn.MSELoss()).fit(
        (x, y), epochs=4, batch_size=10, verbose=False
    )
    for k, v in _weights(ref).items():
        np.testing.assert_array_equal(_weights(model)[k], v, err_msg=k)
    assert all(np.isfinite(v).all() for v in _weights(model).values())


def test_nan_before_any_evaluation_restores_the_starting_weights():
    x, y = _regression(40)
    model = _mlp()
    start = _weights(model)
    trainer = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.05), _NanAfter(6))
    with pytest.warns(RuntimeWarning, match="before this fit"):
        h = trainer.fit((x, y), (x, y), epochs=5, eval_every=5, batch_size=10, verbose=False)
    assert h.best_epoch is None
    for k, v in start.items():
        np.testing.assert_array_equal(_weights(model)[k], v)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_diverging_training_is_caught():
    x, y = _regression(40)
    model = _mlp()
    with pytest.warns(RuntimeWarning, match="loss became (inf|nan)"):
        h = nn.Trainer(model, optim.SGD(model.parameters(), lr=1e6), nn.MSELoss()).fit(
            (x, 1e6 * y), epochs=50, batch_size=10, verbose=False
        )
    assert h.stop_reason == "non-finite loss"
    assert all(np.isfinite(v).all() for v in _weights(model).values())


def test_metrics_datasets_and_loaders():
    r = np.random.default_rng(2)
    x = r.normal(size=(90, 4)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    at.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    trainer = nn.Trainer(model, optim.Adam(model.parameters(), lr=0.01), nn.CrossEntropyLoss())
    h = trainer.fit(TensorDataset(x, labels), DataLoader(TensorDataset(x, labels), batch_size=7),
                    epochs=6, eval_every=3, batch_size=16, metrics=["accuracy"],
                    verbose=False)  # fmt: skip
    assert h.eval_epochs == [3, 6] and len(h.metrics["accuracy"]) == 2
    with at.no_grad():
        model.eval()
        pred = np.asarray(model(at.tensor(x)))
    acc = float((pred.argmax(1) == labels).mean())
    loss, m = trainer.evaluate((x, labels), ["accuracy"])
    assert m["accuracy"] == pytest.approx(acc) and h.metrics["accuracy"][-1] == pytest.approx(acc)
    assert h.test_loss[-1] == pytest.approx(loss, rel=1e-5)  # batched mean == full mean

    xr, yr = _regression(30)
    reg = _mlp()
    _, m = nn.Trainer(reg, optim.SGD(reg.parameters(), lr=0.1), nn.MSELoss()).evaluate(
        (xr, yr), ["mae", "rmse", lambda p, t: 42.0]
    )
    with at.no_grad():
        p = np.asarray(reg(at.tensor(xr)))
    assert m["mae"] == pytest.approx(np.abs(p - yr).mean(), rel=1e-6)
    assert m["rmse"] == pytest.approx(np.sqrt(((p - yr) ** 2).mean()), rel=1e-6)
    assert m["<lambda>"] == 42.0


def test_scheduler_steps_each_epoch_and_history():
    x, y = _regression(20)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    h = nn.Trainer(model, opt, nn.MSELoss(), scheduler=sched).fit(
        (x, y), epochs=4, batch_size=5, verbose=False
    )
    assert h.lr == [0.1, 0.05, 0.025, 0.0125] and h.epochs == [1, 2, 3, 4]
    assert "epochs=4" in repr(h)


def test_dropout_model_evaluated_in_eval_mode():
    x, y = _regression(30)
    at.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 32), nn.Dropout(0.5), nn.Linear(32, 1))
    trainer = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.01), nn.MSELoss())
    a, _ = trainer.evaluate((x, y))
    b, _ = trainer.evaluate((x, y))
    assert a == b and model.training  # deterministic, and the mode is restored


def test_plot_and_progress(capsys):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    x, y = _regression(30)
    model = _mlp()
    h = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.05), nn.MSELoss()).fit(
        (x, y), (x, y), epochs=4, eval_every=2, metrics=["mae"], progress=True, verbose=True
    )
    out = capsys.readouterr()
    assert "Validation loss after 2 epochs" in out.out
    fig = h.plot()
    lines = [ln.get_label() for ax in fig.axes for ln in ax.get_lines()]
    assert {"train loss", "test loss", "mae"} <= set(lines)


def test_bad_input():
    model = _mlp()
    trainer = nn.Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.MSELoss())
    with pytest.raises(ValueError, match="X has 5 rows but y has 4"):
        trainer.fit((np.zeros((5, 3)), np.zeros((4, 1))), verbose=False)
    with pytest.raises(TypeError, match=r"\(X, y\) pair, a Dataset or a DataLoader"):
        trainer.fit(np.zeros((5, 3)), verbose=False)
    with pytest.raises(ValueError, match="must be >= 1"):
        trainer.fit((np.zeros((5, 3)), np.zeros((5, 1))), epochs=0, verbose=False)
    with pytest.raises(ValueError, match="empty"):
        trainer.fit((np.zeros((0, 3)), np.zeros((0, 1))), verbose=False)


def test_float64_numpy_data_is_cast_to_the_model_dtype():
    x, y = _regression(20)
    a, b = _mlp(), _mlp()
    for model, data in ((a, (x, y)), (b, (x.astype(np.float64), y.astype(np.float64)))):
        nn.Trainer(model, optim.SGD(model.parameters(), lr=0.1), nn.MSELoss()).fit(
            data, epochs=2, batch_size=8, verbose=False
        )
    for k, v in _weights(a).items():
        assert _weights(b)[k].dtype == np.float32
        np.testing.assert_array_equal(_weights(b)[k], v)

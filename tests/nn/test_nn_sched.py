"""nn.optim.lr_scheduler against torch.optim.lr_scheduler: the same lr sequences."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autotensor as at
import nn
from nn import optim
from nn.optim import lr_scheduler as ours_sched

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
theirs_sched = torch.optim.lr_scheduler


def _opts(lrs=(0.1, 0.02)):
    """An SGD over two param groups, here and in torch."""
    a = [{"params": [at.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    b = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(a, lr=1.0, momentum=0.9), torch.optim.SGD(b, lr=1.0, momentum=0.9)


def _lambda(epoch):
    return 0.95**epoch + 0.01 * (epoch % 3)


CASES = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.5, end_factor=0.1, total_iters=12)),
    ("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=7)),
    ("ConstantLR", dict(factor=0.5, total_iters=4)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=_lambda)),
    ("LambdaLR", dict(lr_lambda=[_lambda, lambda e: 1.0 / (1 + e)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.9)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_lr_sequence_matches_torch(name, kw):
    o, t = _opts()
    so, st = getattr(ours_sched, name)(o, **kw), getattr(theirs_sched, name)(t, **kw)
    assert so.get_last_lr() == st.get_last_lr()
    assert so.last_epoch == st.last_epoch == 0
    for epoch in range(30):  # past T_max / total_iters: the curves continue as torch's do
        o.step()
        t.step()
        so.step()
        st.step()
        # the same float operations in the same order: identical, not just close
        assert so.get_last_lr() == st.get_last_lr(), f"epoch {epoch + 1}"
        assert [g["lr"] for g in o.param_groups] == [g["lr"] for g in t.param_groups]
        assert so.last_epoch == st.last_epoch


@pytest.mark.parametrize(
    "name,kw",
    [("StepLR", dict(step_size=3)), ("MultiStepLR", dict(milestones=[2, 5, 5])),
     ("ExponentialLR", dict(gamma=0.9)), ("LinearLR", dict(total_iters=6)),
     ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)), ("ConstantLR", dict(total_iters=3))],
)  # fmt: skip
def test_step_with_epoch_uses_closed_form(name, kw):
    o, t = _opts()
    so, st = getattr(ours_sched, name)(o, **kw), getattr(theirs_sched, name)(t, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates step(epoch)
        for epoch in [4, 9, 2, 13]:
            so.step(epoch)
            st.step(epoch)
            np.testing.assert_allclose(so.get_last_lr(), st.get_last_lr(), rtol=1e-15)


def test_cosine_closed_form_is_close_to_recursion():
    """The recursive sequence approximates eta_min + (b - eta_min)(1 + cos(pi t/T))/2."""
    o, _ = _opts((0.1,))
    s = ours_sched.CosineAnnealingLR(o, T_max=10, eta_min=0.001)
    for t in range(1, 25):
        s.step()
        expect = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2
        assert s.get_last_lr()[0] == pytest.approx(expect, rel=1e-9, abs=1e-15)


PLATEAU = [
    dict(),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(patience=0, threshold=0.1, threshold_mode="abs"),
    dict(mode="max", patience=1, factor=0.3),
    dict(mode="max", patience=0, threshold_mode="abs", threshold=0.05),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.015]),
    dict(patience=0, factor=0.5, min_lr=0.01, eps=1e-3),
]


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_on_plateau_matches_torch(kw):
    r = np.random.default_rng(3)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 6), 0.5 + r.uniform(-0.05, 0.05, 30)])
    o, t = _opts()
    so = ours_sched.ReduceLROnPlateau(o, **kw)
    st = theirs_sched.ReduceLROnPlateau(t, **kw)
    for i, m in enumerate(metrics):
        so.step(float(m))
        st.step(float(m))
        assert so.get_last_lr() == st.get_last_lr(), f"step {i}"
        assert (so.best, so.num_bad_epochs, so.cooldown_counter) == (
            st.best, st.num_bad_epochs, st.cooldown_counter
        )  # fmt: skip
    assert so.get_last_lr() != [0.1, 0.02]  # the test did exercise reductions


def test_reduce_on_plateau_validation():
    o, _ = _opts()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        ours_sched.ReduceLROnPlateau(o, factor=1.0)
    with pytest.raises(ValueError, match="unknown"):
        ours_sched.ReduceLROnPlateau(o, mode="up")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        ours_sched.ReduceLROnPlateau(o, min_lr=[0.1])


@pytest.mark.parametrize(
    "name,kw",
    [("StepLR", dict(step_size=3, gamma=0.5)), ("MultiStepLR", dict(milestones=[3, 6, 6])),
     ("CosineAnnealingLR", dict(T_max=8)), ("LinearLR", dict(total_iters=9)),
     ("LambdaLR", dict(lr_lambda=_lambda)), ("ReduceLROnPlateau", dict(patience=1))],
)  # fmt: skip
def test_state_dict_resume_through_save_load(name, kw, tmp_path):
    """Save optimizer + scheduler at epoch 5, load into fresh ones, continue: the same lrs as
    an uninterrupted run."""
    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.8, 0.85, 0.9, 0.91, 0.92, 0.93]

    def advance(s, o, epochs):
        out = []
        for e in epochs:
            o.step()
            s.step(metrics[e]) if name == "ReduceLROnPlateau" else s.step()
            out.append(s.get_last_lr())
        return out

    o, _ = _opts()
    straight = advance(getattr(ours_sched, name)(o, **kw), o, range(12))

    o1, _ = _opts()
    s1 = getattr(ours_sched, name)(o1, **kw)
    advance(s1, o1, range(5))
    nn.save({"opt": o1.state_dict(), "sched": s1.state_dict()}, tmp_path / "s.npz")
    ck = nn.load(tmp_path / "s.npz")
    o2, _ = _opts((0.5, 0.5))
    s2 = getattr(ours_sched, name)(o2, **kw)
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    assert advance(s2, o2, range(5, 12)) == straight[5:]


def test_validation_messages():
    o, t = _opts()
    for kw in (dict(start_factor=0.0), dict(end_factor=1.5)):
        with pytest.raises(ValueError) as theirs:
            theirs_sched.LinearLR(t, **kw)
        with pytest.raises(ValueError) as mine:
            ours_sched.LinearLR(o, **kw)
        assert str(mine.value) == str(theirs.value)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        ours_sched.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        ours_sched.StepLR(_opts()[0], step_size=2, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        ours_sched.LambdaLR(o, lr_lambda=[_lambda])

"""The schedulers real training scripts use, against torch.optim.lr_scheduler: the same lr
(and momentum) sequences, bit for bit, over many steps; state dicts; composition."""

from __future__ import annotations

import math
import warnings

import pytest

import autotensor as at
from nn import optim
from nn.optim import lr_scheduler as ours_sched

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
theirs_sched = torch.optim.lr_scheduler


def _opts(kind="SGD", lrs=(0.1, 0.02), **kw):
    """One optimizer over two param groups, here and in torch."""
    a = [{"params": [at.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    b = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    kw = kw or ({"momentum": 0.9} if kind == "SGD" else {})
    return getattr(optim, kind)(a, lr=1.0, **kw), getattr(torch.optim, kind)(b, lr=1.0, **kw)


def _hyper(opt):
    """What a scheduler may write into the groups: lr, momentum, betas."""
    return [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups]


def _lockstep(so, st, o, t, steps, optimizer_step=True):
    assert so.get_last_lr() == st.get_last_lr()
    assert _hyper(o) == _hyper(t)
    for i in range(steps):
        if optimizer_step:
            o.step()
            t.step()
        so.step()
        st.step()
        # the same float operations in the same order: identical, not just close
        assert so.get_last_lr() == st.get_last_lr(), f"step {i + 1}"
        assert _hyper(o) == _hyper(t), f"step {i + 1}"
        assert getattr(so, "last_epoch", None) == getattr(st, "last_epoch", None)


CASES = [
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.5), 40),
    ("PolynomialLR", dict(), 12),
    ("PolynomialLR", dict(total_iters=17, power=2.0), 30),
    ("PolynomialLR", dict(total_iters=9, power=0.5), 30),
    ("ConstantLR", dict(), 10),
    ("ConstantLR", dict(factor=0.25, total_iters=8), 15),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95), 30),
    ("MultiplicativeLR", dict(lr_lambda=[lambda e: 0.9, lambda e: 1.0 - 0.01 * e]), 30),
    ("CosineAnnealingWarmRestarts", dict(T_0=5), 40),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.001), 60),
    ("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=3), 40),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4), 50),
    ("CyclicLR", dict(base_lr=[0.01, 0.001], max_lr=[0.1, 0.05], step_size_up=3,
                      step_size_down=5, mode="triangular2"), 60),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range",
                      gamma=0.97), 60),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False), 30),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2, base_momentum=0.7,
                      max_momentum=[0.95, 0.85], scale_fn=lambda x: 0.5 * (1 + math.sin(x)),
                      scale_mode="iterations"), 40),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=50), 50),
    ("OneCycleLR", dict(max_lr=[0.1, 0.05], epochs=4, steps_per_epoch=9, pct_start=0.25,
                        anneal_strategy="linear"), 36),
    ("OneCycleLR", dict(max_lr=0.2, total_steps=40, three_phase=True, div_factor=10.0,
                        final_div_factor=100.0), 40),
    ("OneCycleLR", dict(max_lr=0.2, total_steps=30, three_phase=True, anneal_strategy="linear",
                        base_momentum=0.8, max_momentum=0.9), 30),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=20, cycle_momentum=False), 20),
]  # fmt: skip
IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,kw,steps", CASES, ids=IDS)
def test_sequence_matches_torch_exactly(name, kw, steps):
    o, t = _opts()
    so, st = getattr(ours_sched, name)(o, **kw), getattr(theirs_sched, name)(t, **kw)
    _lockstep(so, st, o, t, steps)


@pytest.mark.parametrize(
    "name,kw",
    [("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=3)),
     ("OneCycleLR", dict(max_lr=0.01, total_steps=25)),
     ("OneCycleLR", dict(max_lr=0.01, total_steps=25, three_phase=True, base_momentum=0.6))],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["Adam", "AdamW", "NAdam", "RAdam"])
def test_momentum_cycles_adam_beta1(name, kw, kind):
    o, t = _opts(kind)
    so, st = getattr(ours_sched, name)(o, **kw), getattr(theirs_sched, name)(t, **kw)
    _lockstep(so, st, o, t, 25, optimizer_step=False)
    assert o.param_groups[0]["betas"][1] == 0.999  # only beta1 cycles


def test_cycle_momentum_needs_a_momentum():
    o, t = _opts("Adagrad")
    for name, kw in [("CyclicLR", dict(base_lr=0.01, max_lr=0.1)),
                     ("OneCycleLR", dict(max_lr=0.1, total_steps=10))]:  # fmt: skip
        with pytest.raises(ValueError) as theirs:
            getattr(theirs_sched, name)(t, **kw)
        with pytest.raises(ValueError) as mine:
            getattr(ours_sched, name)(o, **kw)
        assert str(mine.value) == str(theirs.value)


def test_onecycle_past_total_steps_raises():
    o, t = _opts()
    so, st = ours_sched.OneCycleLR(o, 0.1, total_steps=5), theirs_sched.OneCycleLR(t, 0.1, 5)
    _lockstep(so, st, o, t, 5)
    with pytest.raises(ValueError) as theirs:
        st.step()
    with pytest.raises(ValueError) as mine:
        so.step()
    assert str(mine.value) == str(theirs.value)


def test_warm_restarts_fractional_epochs():
    """The per-batch form: step(epoch + i / iters), including jumps back and T_mult > 1."""
    for kw in (dict(T_0=4), dict(T_0=2, T_mult=2, eta_min=0.005)):
        o, t = _opts()
        so = ours_sched.CosineAnnealingWarmRestarts(o, **kw)
        st = theirs_sched.CosineAnnealingWarmRestarts(t, **kw)
        epochs = [e + i / 7 for e in range(12) for i in range(7)] + [3.5, 0.25, 30.0, 9.9]
        for ep in epochs:
            so.step(ep)
            st.step(ep)
            assert so.get_last_lr() == st.get_last_lr(), ep
            assert (so.T_cur, so.T_i, so.last_epoch) == (st.T_cur, st.T_i, st.last_epoch)
        with pytest.raises(ValueError, match="Expected non-negative epoch"):
            so.step(-1)


def _build(lib_sched, opt, recipe):
    if recipe == "warmup-cosine":
        return lib_sched.SequentialLR(
            opt,
            [
                lib_sched.LinearLR(opt, start_factor=0.1, total_iters=5),
                lib_sched.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4),
            ],
            milestones=[5],
        )
    if recipe == "three":
        return lib_sched.SequentialLR(
            opt,
            [
                lib_sched.ConstantLR(opt, factor=0.5, total_iters=3),
                lib_sched.ExponentialLR(opt, gamma=0.9),
                lib_sched.StepLR(opt, step_size=4, gamma=0.5),
            ],
            milestones=[4, 11],
        )
    if recipe == "poly-multistep":
        return lib_sched.SequentialLR(
            opt,
            [
                lib_sched.PolynomialLR(opt, total_iters=6, power=2.0),
                lib_sched.MultiStepLR(opt, milestones=[2, 6], gamma=0.3),
            ],
            milestones=[6],
        )
    if recipe == "chained":
        return lib_sched.ChainedScheduler(
            [
                lib_sched.ConstantLR(opt, factor=0.1, total_iters=3),
                lib_sched.ExponentialLR(opt, gamma=0.9),
                lib_sched.CosineAnnealingLR(opt, T_max=7),
            ]
        )
    if recipe == "chained-in-sequential":
        return lib_sched.SequentialLR(
            opt,
            [
                lib_sched.LinearLR(opt, start_factor=0.2, total_iters=4),
                lib_sched.ChainedScheduler(
                    [lib_sched.StepLR(opt, 3, gamma=0.5), lib_sched.ExponentialLR(opt, gamma=0.95)]
                ),
            ],
            milestones=[4],
        )
    raise AssertionError(recipe)  # fmt: skip


RECIPES = ["warmup-cosine", "three", "poly-multistep", "chained"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_composed_schedulers_match_torch(recipe):
    o, t = _opts()
    so, st = _build(ours_sched, o, recipe), _build(theirs_sched, t, recipe)
    _lockstep(so, st, o, t, 40)


def test_chained_inside_sequential_fails_at_the_milestone_as_in_torch():
    """torch restarts the next scheduler with its closed form at epoch 0, which a
    ChainedScheduler does not have: both libraries raise NotImplementedError there."""
    o, t = _opts()
    so, st = (_build(s, opt, "chained-in-sequential")
              for s, opt in ((ours_sched, o), (theirs_sched, t)))  # fmt: skip
    _lockstep(so, st, o, t, 3)
    with pytest.raises(NotImplementedError):
        st.step()
    with pytest.raises(NotImplementedError):
        so.step()


def _resume_case(name):
    mk = {
        "CyclicLR": lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
        "OneCycleLR": lambda s, o: s.OneCycleLR(o, 0.1, total_steps=30, three_phase=True),
        "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, 3, 2),
        "PolynomialLR": lambda s, o: s.PolynomialLR(o, total_iters=20, power=1.5),
        "MultiStepLR": lambda s, o: s.MultiStepLR(o, [4, 9, 9]),
        "MultiplicativeLR": lambda s, o: s.MultiplicativeLR(o, lambda e: 0.9),
        "SequentialLR": lambda s, o: _build(s, o, "warmup-cosine"),
        "ChainedScheduler": lambda s, o: _build(s, o, "chained"),
    }
    return mk[name]


@pytest.mark.parametrize(
    "name", ["CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts", "PolynomialLR",
             "MultiStepLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler"],
)  # fmt: skip
def test_state_dict_roundtrip_continues_identically(name):
    """Save optimizer + scheduler mid-run, load into fresh ones built the same way: the rest
    of the sequence is the uninterrupted one. The keys are torch's."""
    mk = _resume_case(name)
    o, t = _opts()
    s = mk(ours_sched, o)
    straight = []
    for _ in range(25):
        s.step()
        straight.append((s.get_last_lr(), _hyper(o)))

    o1, _ = _opts()
    s1 = mk(ours_sched, o1)
    for _ in range(10):
        s1.step()
    osd, ssd = o1.state_dict(), s1.state_dict()
    st = mk(theirs_sched, t)
    assert set(ssd) == set(st.state_dict())
    o2, _ = _opts(lrs=(0.7, 0.7))
    s2 = mk(ours_sched, o2)
    o2.load_state_dict(osd)
    s2.load_state_dict(ssd)
    rest = []
    for _ in range(15):
        s2.step()
        rest.append((s2.get_last_lr(), _hyper(o2)))
    assert rest == straight[10:]


def test_tensor_lr_is_filled_in_place():
    p, q = at.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    o = optim.SGD([p], lr=at.tensor(0.1, dtype=at.float64), momentum=0.9)
    t = torch.optim.SGD([q], lr=torch.tensor(0.1, dtype=torch.float64), momentum=0.9)
    lr_o = o.param_groups[0]["lr"]
    so, st = ours_sched.OneCycleLR(o, 0.1, total_steps=12), theirs_sched.OneCycleLR(t, 0.1, 12)
    for _ in range(12):
        so.step()
        st.step()
        assert o.param_groups[0]["lr"] is lr_o  # the same Tensor, refilled
        assert so.get_last_lr()[0] is not lr_o  # a copy
        assert float(so.get_last_lr()[0]) == float(st.get_last_lr()[0])


def test_get_lr_outside_step_warns_and_validation_messages():
    o, t = _opts()
    s = ours_sched.PolynomialLR(o)
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()
    bad = [
        ("CosineAnnealingWarmRestarts", dict(T_0=0)), ("CosineAnnealingWarmRestarts",
         dict(T_0=2, T_mult=0)), ("OneCycleLR", dict(max_lr=0.1)),
        ("OneCycleLR", dict(max_lr=0.1, total_steps=10, pct_start=1.5)),
        ("OneCycleLR", dict(max_lr=0.1, total_steps=10, anneal_strategy="exp")),
        ("OneCycleLR", dict(max_lr=[0.1], total_steps=10)),
        ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, mode="square")),
        ("ConstantLR", dict(factor=1.5)),
    ]  # fmt: skip
    for name, kw in bad:
        with pytest.raises(ValueError) as theirs:
            getattr(theirs_sched, name)(t, **kw)
        with pytest.raises(ValueError) as mine:
            getattr(ours_sched, name)(o, **kw)
        assert str(mine.value) == str(theirs.value), name
    lin = ours_sched.LinearLR(o)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        ours_sched.SequentialLR(o, [lin], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ours_sched.ChainedScheduler([lin, ours_sched.ReduceLROnPlateau(o)])
    other, _ = _opts()
    with pytest.raises(ValueError, match="same optimizer"):
        ours_sched.ChainedScheduler([lin, ours_sched.StepLR(other, 2)])
    with pytest.raises(TypeError, match="lr_lambda should be a function"):
        ours_sched.MultiplicativeLR(o, lr_lambda=0.9)


def test_step_with_epoch_closed_forms():
    o, t = _opts()
    for name, kw in [("PolynomialLR", dict(total_iters=8, power=2.0)),
                     ("MultiStepLR", dict(milestones=[2, 5, 5]))]:  # fmt: skip
        so, st = getattr(ours_sched, name)(o, **kw), getattr(theirs_sched, name)(t, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 7, 1, 12, 5]:
                so.step(epoch)
                st.step(epoch)
                assert so.get_last_lr() == st.get_last_lr()
        with pytest.warns(UserWarning, match="epoch parameter"):
            so.step(2)


# -- property: option values ---------------------------------------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None

if given is not None:

    @settings(max_examples=25, deadline=None)
    @given(
        total=st.integers(2, 60), pct=st.floats(0.05, 0.95), three=st.booleans(),
        strategy=st.sampled_from(["cos", "linear"]), div=st.floats(1.5, 100.0),
        final=st.floats(1.0, 1e5), kind=st.sampled_from(["SGD", "Adam"]),
    )  # fmt: skip
    def test_onecycle_any_options(total, pct, three, strategy, div, final, kind):
        o, t = _opts(kind)
        kw = dict(total_steps=total, pct_start=pct, three_phase=three, anneal_strategy=strategy,
                  div_factor=div, final_div_factor=final)  # fmt: skip
        try:
            sto = theirs_sched.OneCycleLR(t, 0.1, **kw)
            theirs_run = [sto.step() for _ in range(total)]
        except ZeroDivisionError:  # a phase of zero length (tiny total_steps): torch fails
            with pytest.raises(ZeroDivisionError):
                so = ours_sched.OneCycleLR(o, 0.1, **kw)
                [so.step() for _ in range(total)]
            return
        del theirs_run
        o, t = _opts(kind)
        so, sto = ours_sched.OneCycleLR(o, 0.1, **kw), theirs_sched.OneCycleLR(t, 0.1, **kw)
        _lockstep(so, sto, o, t, total, optimizer_step=False)

    @settings(max_examples=25, deadline=None)
    @given(
        up=st.integers(1, 9), down=st.one_of(st.none(), st.integers(1, 9)),
        mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
        gamma=st.floats(0.8, 1.0), momentum=st.booleans(),
    )  # fmt: skip
    def test_cyclic_any_options(up, down, mode, gamma, momentum):
        o, t = _opts()
        kw = dict(step_size_up=up, step_size_down=down, mode=mode, gamma=gamma,
                  cycle_momentum=momentum)  # fmt: skip
        so = ours_sched.CyclicLR(o, 0.001, [0.1, 0.05], **kw)
        sto = theirs_sched.CyclicLR(t, 0.001, [0.1, 0.05], **kw)
        _lockstep(so, sto, o, t, 40, optimizer_step=False)

    @settings(max_examples=25, deadline=None)
    @given(
        t0=st.integers(1, 8), mult=st.integers(1, 3), eta=st.floats(0.0, 0.01),
        total=st.integers(1, 25), power=st.floats(0.1, 3.0),
    )  # fmt: skip
    def test_restarts_and_polynomial_any_options(t0, mult, eta, total, power):
        o, t = _opts()
        so = ours_sched.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=mult, eta_min=eta)
        sto = theirs_sched.CosineAnnealingWarmRestarts(t, T_0=t0, T_mult=mult, eta_min=eta)
        _lockstep(so, sto, o, t, 40, optimizer_step=False)
        o, t = _opts()
        so = ours_sched.PolynomialLR(o, total_iters=total, power=power)
        sto = theirs_sched.PolynomialLR(t, total_iters=total, power=power)
        _lockstep(so, sto, o, t, 40, optimizer_step=False)


def test_warns_when_scheduler_steps_before_optimizer():
    o, _ = _opts()
    s = ours_sched.StepLR(o, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    o2, _ = _opts()
    s2 = ours_sched.StepLR(o2, 2)
    o2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.step()  # the right order: silent
    assert o2.state_dict()["param_groups"][0]["lr"] == 0.1  # the wrapper changes nothing else


@pytest.mark.parametrize(
    "name", ["CyclicLR", "OneCycleLR", "CosineAnnealingWarmRestarts", "PolynomialLR",
             "MultiStepLR", "SequentialLR", "ChainedScheduler"],
)  # fmt: skip
def test_state_dict_from_torch_loads_and_continues(name):
    """A torch scheduler's (and optimizer's) state dict, taken mid-run, loads into ours; ours
    then continues on torch's sequence, and ours loads back into torch."""
    mk = _resume_case(name)
    o, t = _opts()
    so, st = mk(ours_sched, o), mk(theirs_sched, t)
    _lockstep(so, st, o, t, 9)
    o2, t2 = _opts(lrs=(0.3, 0.3))
    s2, st2 = mk(ours_sched, o2), mk(theirs_sched, t2)
    tsd = t.state_dict()
    o2.load_state_dict({"state": {}, "param_groups": tsd["param_groups"]})
    s2.load_state_dict(st.state_dict())
    t2.load_state_dict(tsd)
    st2.load_state_dict(so.state_dict())
    _lockstep(s2, st, o2, t, 12, optimizer_step=False)
    _lockstep(so, st2, o, t2, 12, optimizer_step=False)


@pytest.mark.parametrize("base", ["LRScheduler", "_LRScheduler"])
def test_user_subclass_of_the_base_class(base):
    """A script's own scheduler: get_lr from base_lrs and last_epoch, as torch's docs show."""

    def make(lib):
        class Warmup(getattr(lib, base)):
            def __init__(self, opt, n):
                self.n = n
                super().__init__(opt)

            def get_lr(self):
                return [b * min(1.0, (self.last_epoch + 1) / self.n) for b in self.base_lrs]

        return Warmup

    o, t = _opts()
    _lockstep(make(ours_sched)(o, 4), make(theirs_sched)(t, 4), o, t, 8)

"""Adadelta, Adamax, NAdam, RAdam, ASGD and LBFGS against torch.optim, and the keywords and
state-dict layout every optimizer shares with torch.

Two kinds of trajectory evidence: (1) the whole training step (our autograd + our update
against torch's), and (2) the update rule alone, both sides fed the same gradient arrays, so
that rounding differences of the gradients (which some configurations amplify) cannot hide a
difference of the rule."""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
from nn import optim
from tests.nn.test_nn_optim import TOL, _data, _loss, _pair, _run, _to_numpy

NEW = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD"]
ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", *NEW]

CASES = [
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, betas=(0.8, 0.99))),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, t0=5, lambd=0.01, alpha=0.5)),
    ("ASGD", dict(lr=0.05, t0=3, weight_decay=0.1, maximize=True)),
]
IDS = [f"{n}-{'-'.join(k) or 'default'}" for n, k in CASES]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_training_trajectory_matches_torch(name, kw, dtype):
    """25 full training steps: the parameters equal torch's after every step."""
    ours, theirs = _pair(dtype)
    _run(getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw),
         ours, theirs, dtype, steps=25)  # fmt: skip


RULE_CASES = CASES + [
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.5, 0.9))),
    ("RAdam", dict(lr=0.05, betas=(0.9, 0.5))),  # rho_t <= 5 throughout: the SGD-like branch
    ("ASGD", dict(lr=0.1, t0=0, lambd=0.1, alpha=1.0)),
]


def _same_grads(o, t, ours, theirs, dtype, steps, rng):
    for step in range(steps):
        for a, b in zip(ours, theirs):
            g = rng.normal(size=a.shape).astype(dtype)
            a.grad, b.grad = at.tensor(g), torch.tensor(g)
        o.step()
        t.step()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(
                a.detach().numpy(), b.detach().numpy(), **TOL[dtype],
                err_msg=f"parameter {i} after step {step + 1}",
            )  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,kw", RULE_CASES, ids=[f"{n}-{'-'.join(k) or 'default'}" for n, k in RULE_CASES]
)
def test_update_rule_matches_torch_on_same_gradients(name, kw, dtype):
    ours, theirs = _pair(dtype)
    o, t = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    _same_grads(o, t, ours, theirs, dtype, 30, np.random.default_rng(7))


@needs_torch
@pytest.mark.parametrize("name", NEW)
def test_param_groups_and_state_layout(name):
    """Two groups with their own options: same group dicts and state keys/dtypes as torch."""
    extra = {"Adadelta": dict(rho=0.7), "Adamax": dict(betas=(0.8, 0.9)),
             "NAdam": dict(momentum_decay=0.01), "RAdam": dict(decoupled_weight_decay=True),
             "ASGD": dict(t0=2)}[name]  # fmt: skip
    groups = [dict(lr=0.05), dict(weight_decay=0.1, **extra)]
    ours, theirs = _pair(np.float64)
    mk = lambda ps: [{"params": ps[:2], **groups[0]}, {"params": ps[2:], **groups[1]}]  # noqa
    o, t = getattr(optim, name)(mk(ours), lr=0.01), getattr(torch.optim, name)(mk(theirs), lr=0.01)
    _run(o, t, ours, theirs, np.float64, steps=6)
    so, sd = o.state_dict(), t.state_dict()
    assert so["param_groups"] == sd["param_groups"]
    assert list(so["state"]) == list(sd["state"])
    for k, v in sd["state"].items():
        assert list(so["state"][k]) == list(v)
        for key, tv in v.items():
            mine = so["state"][k][key]
            assert mine.dtype == np.dtype(str(tv.dtype)[6:]) and mine.shape == tuple(tv.shape)
            np.testing.assert_allclose(mine.numpy(), tv.numpy(), rtol=1e-10, err_msg=key)


@needs_torch
def test_defaults_match_torch():
    p, q = [at.zeros(2, requires_grad=True)], [torch.zeros(2, requires_grad=True)]
    for name in [*NEW, "LBFGS"]:
        assert getattr(optim, name)(p).defaults == getattr(torch.optim, name)(q).defaults, name


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_state_dict_interchange_with_torch(name, dtype):
    """torch's state dict (as numpy) loads here and ours loads into torch; both continue on
    torch's trajectory. (Loaded scalar state such as NAdam's mu_product or ASGD's eta is
    cast to the parameters' dtype, as torch casts it.)"""
    kw = {"ASGD": dict(t0=3), "SGD": dict(lr=0.1, momentum=0.9), "Adam": dict(amsgrad=True),
          "RMSprop": dict(centered=True, momentum=0.5)}.get(name, {})  # fmt: skip
    ours, theirs = _pair(dtype)
    o, t = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    _run(o, t, ours, theirs, dtype, steps=5)

    fresh = [at.tensor(b.detach().numpy(), requires_grad=True) for b in theirs]
    o2 = getattr(optim, name)(fresh, **kw)
    o2.load_state_dict(_to_numpy(t.state_dict()))
    back = [torch.tensor(a.detach().numpy(), requires_grad=True) for a in ours]
    t2 = getattr(torch.optim, name)(back, **kw)
    sd = o.state_dict()
    t2.load_state_dict(
        {"state": {k: {n: torch.tensor(v.numpy()) for n, v in s.items()}
                   for k, s in sd["state"].items()},
         "param_groups": sd["param_groups"]}
    )  # fmt: skip
    _run(o2, t, fresh, theirs, dtype, steps=8)
    _run(o, t2, ours, back, dtype, steps=8)


@pytest.mark.parametrize("name", NEW + ["LBFGS"])
def test_state_dict_roundtrip_continues_bit_identically(name):
    x, y = (at.tensor(a) for a in _data(np.float32))
    kw = {"ASGD": dict(t0=3), "LBFGS": dict(lr=0.5, max_iter=3, history_size=4)}.get(name, {})

    def train(params, opt, n):
        for _ in range(n):

            def closure():
                opt.zero_grad()
                loss = _loss(at, params, x, y)
                loss.backward()
                return loss

            opt.step(closure)

    straight, _ = _pair(np.float32)
    train(straight, getattr(optim, name)(straight, **kw), 12)
    first, _ = _pair(np.float32)
    opt = getattr(optim, name)(first, **kw)
    train(first, opt, 6)
    saved = [p.detach().numpy().copy() for p in first]
    sd = opt.state_dict()
    resumed = [at.tensor(s, requires_grad=True) for s in saved]
    opt2 = getattr(optim, name)(resumed, **kw)
    opt2.load_state_dict(sd)
    train(first, opt, 6)
    train(resumed, opt2, 6)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# -- keywords shared by all optimizers ------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("keyword", ["foreach", "fused", "differentiable", "capturable"])
def test_unsupported_modes_raise_naming_optimizer_and_keyword(name, keyword):
    import inspect

    if keyword not in inspect.signature(getattr(torch.optim, name)).parameters:
        with pytest.raises(TypeError):  # torch does not take it either
            getattr(optim, name)([at.zeros(2, requires_grad=True)], **{keyword: True})
        return
    assert keyword in inspect.signature(getattr(optim, name)).parameters
    with pytest.raises(NotImplementedError, match=f"{name}: {keyword}=True"):
        getattr(optim, name)([at.zeros(2, requires_grad=True)], **{keyword: True})
    # the default-valued forms are accepted
    getattr(optim, name)([at.zeros(2, requires_grad=True)], **{keyword: None if keyword in (
        "foreach", "fused") else False})  # fmt: skip


@needs_torch
@pytest.mark.parametrize("name", ALL)
def test_signature_keywords_match_torch(name):
    import inspect

    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert list(ours) == list(theirs)
    for k in theirs:
        assert ours[k].default == theirs[k].default, k
        assert ours[k].kind == theirs[k].kind, k


@needs_torch
@pytest.mark.parametrize("name", NEW)
def test_lr_edits_in_param_groups_are_honoured(name):
    ours, theirs = _pair(np.float64)
    o, t = getattr(optim, name)(ours, lr=0.01), getattr(torch.optim, name)(theirs, lr=0.01)
    _run(o, t, ours, theirs, np.float64, steps=3)
    o.param_groups[0]["lr"] = t.param_groups[0]["lr"] = 0.003
    _run(o, t, ours, theirs, np.float64, steps=3)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_tensor_lr(name, dtype):
    """A float32 Tensor lr: torch computes with it as a float32 scalar; so do we."""
    ours, theirs = _pair(dtype)
    o = getattr(optim, name)(ours, lr=at.tensor(0.01))
    t = getattr(torch.optim, name)(theirs, lr=torch.tensor(0.01))
    _run(o, t, ours, theirs, dtype, steps=6)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        getattr(optim, name)(ours, lr=at.tensor([0.1, 0.2]))


@needs_torch
@pytest.mark.parametrize(
    "name,kw",
    [("Adadelta", dict(lr=-1.0)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1.0)),
     ("Adadelta", dict(weight_decay=-1.0)), ("Adamax", dict(betas=(1.0, 0.9))),
     ("Adamax", dict(eps=-1.0)), ("NAdam", dict(momentum_decay=-0.1)),
     ("NAdam", dict(betas=(0.9, 1.0))), ("RAdam", dict(lr=-0.1)),
     ("RAdam", dict(weight_decay=-0.1)), ("ASGD", dict(lr=-0.1)),
     ("ASGD", dict(weight_decay=-0.1)), ("LBFGS", dict(lr=-1.0))],
)  # fmt: skip
def test_invalid_hyperparameters_same_message_as_torch(name, kw):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([at.zeros(2, requires_grad=True)], **kw)
    assert str(ours.value) == str(theirs.value)


@needs_torch
def test_zero_grad_set_to_none_false_and_add_param_group():
    ours, theirs = _pair(np.float64)
    o = optim.NAdam(ours[:2], lr=0.01)
    t = torch.optim.NAdam(theirs[:2], lr=0.01)
    o.add_param_group({"params": ours[2:], "lr": 0.02, "momentum_decay": 0.01})
    t.add_param_group({"params": theirs[2:], "lr": 0.02, "momentum_decay": 0.01})
    assert o.param_groups[1].keys() == t.param_groups[1].keys()
    _run(o, t, ours, theirs, np.float64, steps=4)
    o.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in ours)


# -- LBFGS --------------------------------------------------------------------------------
def _rosenbrock(lib, params):
    x = params[0]
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _rosen_grad(x):
    """The Rosenbrock gradient in numpy, in x's dtype (the same arrays for both sides)."""
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * t * x[:-1] - 2 * (1 - x[:-1])
    g[1:] += 200 * t
    return g


def _lbfgs_pair(problem, dtype, **kw):
    if problem == "rosenbrock":
        x0 = np.array([-1.5, 2.0, 0.5, -0.3, 1.2], dtype=dtype)
        ours, theirs = [at.tensor(x0, requires_grad=True)], [torch.tensor(x0, requires_grad=True)]
    else:
        ours, theirs = _pair(dtype)
    return ours, theirs, optim.LBFGS(ours, **kw), torch.optim.LBFGS(theirs, **kw)


def _lbfgs_run(problem, dtype, steps, kw, same_grads=False):
    ours, theirs, o, t = _lbfgs_pair(problem, dtype, **kw)
    x, y = _data(dtype)

    def closure(lib, opt, params):
        def f():
            opt.zero_grad()
            if same_grads:  # loss and gradient from numpy: the same numbers for both sides
                arr = params[0].detach().numpy()
                params[0].grad = lib.tensor(_rosen_grad(arr))
                return lib.tensor(_rosenbrock(np, [arr]))
            loss = (_rosenbrock(lib, params) if problem == "rosenbrock"
                    else _loss(lib, params, lib.tensor(x), lib.tensor(y)))  # fmt: skip
            loss.backward()
            return loss

        return f

    co, ct = closure(at, o, ours), closure(torch, t, theirs)
    for step in range(steps):
        lo, lt = o.step(co), t.step(ct)
        np.testing.assert_allclose(float(lo), float(lt.detach()), **TOL[dtype])
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(
                a.detach().numpy(), b.detach().numpy(), **TOL[dtype],
                err_msg=f"parameter {i} after step {step + 1}",
            )  # fmt: skip
    so, st = o.state[ours[0]], t.state[theirs[0]]
    assert list(so) == list(st)
    assert so["func_evals"] == st["func_evals"] and so["n_iter"] == st["n_iter"]
    assert len(so["old_dirs"]) == len(st["old_dirs"])
    return o, t


@needs_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("max_iter", [1, 3])
@pytest.mark.parametrize("problem", ["rosenbrock", "mlp"])
def test_lbfgs_float64_trajectory_matches_torch(problem, max_iter, line_search_fn):
    """20 steps (up to 60 quasi-Newton iterations with a 5-pair history) in float64.

    (Longer runs near the optimum amplify the last-bit differences of the two autograds'
    gradients: the curvature pairs y = g_{k+1} - g_k cancel most of their digits.)"""
    lr = 1.0 if line_search_fn else (0.02 if problem == "rosenbrock" else 0.1)
    _lbfgs_run(problem, np.float64, 20, dict(lr=lr, max_iter=max_iter, history_size=5,
                                             line_search_fn=line_search_fn))  # fmt: skip


@needs_torch
@pytest.mark.parametrize(
    "problem,max_iter,line_search_fn,same_grads",
    [("rosenbrock", 1, None, True), ("rosenbrock", 2, None, True),
     ("rosenbrock", 2, None, False), ("mlp", 1, "strong_wolfe", False)],
)  # fmt: skip
def test_lbfgs_float32_trajectory_matches_torch(problem, max_iter, line_search_fn, same_grads):
    """float32, 20 steps. With same_grads both sides see the same gradient arrays (numpy
    Rosenbrock), so only the float32 recursion is compared.

    Longer float32 runs drift apart: torch's dot products (MKL) and numpy's round their
    float32 sums differently in the last bit (about a third of random 5-element dots), and
    the curvature pairs amplify it. float64 (above) is the strict check of the algorithm."""
    lr = 1.0 if line_search_fn else 0.02
    _lbfgs_run(problem, np.float32, 20, dict(lr=lr, max_iter=max_iter, history_size=5,
               line_search_fn=line_search_fn), same_grads=same_grads)  # fmt: skip


def test_lbfgs_converges_and_stops_on_tolerance():
    ours = [at.tensor([-1.2, 1.0], dtype=at.float64, requires_grad=True)]  # the classic start
    o = optim.LBFGS(ours, lr=1.0, max_iter=200, tolerance_grad=1e-9, tolerance_change=1e-15,
                    line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        o.zero_grad()
        loss = _rosenbrock(at, ours)
        loss.backward()
        return loss

    for _ in range(5):
        o.step(closure)
    np.testing.assert_allclose(ours[0].detach().numpy(), np.ones(2), atol=1e-6)
    evals = o.state[ours[0]]["func_evals"]
    o.step(closure)  # at the optimum: one evaluation, then the gradient test returns
    assert o.state[ours[0]]["func_evals"] == evals + 1


def test_lbfgs_errors():
    w = at.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [w]}, {"params": [at.zeros(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="requires a closure"):
        optim.LBFGS([w]).step(None)


# -- property: option values ------------------------------------------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None


def _options(name):
    f = st.floats
    common = {"lr": f(1e-4, 0.5), "weight_decay": st.sampled_from([0.0, 0.01, 0.3]),
              "maximize": st.booleans()}  # fmt: skip
    betas = st.tuples(f(0.0, 0.99), f(0.5, 0.9999))
    extra = {
        "Adadelta": {"rho": f(0.0, 1.0), "eps": f(1e-8, 1e-2)},
        "Adamax": {"betas": betas, "eps": f(1e-10, 1e-2)},
        "NAdam": {"betas": betas, "momentum_decay": f(0.0, 0.1),
                  "decoupled_weight_decay": st.booleans()},
        "RAdam": {"betas": betas, "decoupled_weight_decay": st.booleans()},
        "ASGD": {"lambd": f(0.0, 0.1), "alpha": f(0.1, 1.0), "t0": f(0.0, 6.0)},
    }[name]  # fmt: skip
    return st.fixed_dictionaries({**common, **extra})


if given is not None:

    @needs_torch
    @pytest.mark.parametrize("name", NEW)
    @settings(max_examples=12, deadline=None)
    @given(data=st.data())
    def test_update_rule_any_shape_and_options(name, data):
        """Random shape, options and gradients: 6 steps of ours equal torch's (float64)."""
        kw = data.draw(_options(name))
        shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
        r = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        w = r.normal(size=shape)
        ours, theirs = at.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        o, t = getattr(optim, name)([ours], **kw), getattr(torch.optim, name)([theirs], **kw)
        for _ in range(6):
            g = r.normal(size=shape)
            ours.grad, theirs.grad = at.tensor(g), torch.tensor(g)
            o.step()
            t.step()
        np.testing.assert_allclose(
            ours.detach().numpy(), theirs.detach().numpy(), **TOL[np.float64]
        )


@needs_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_interchange_with_torch(line_search_fn):
    """torch's LBFGS state (history lists, 0-d scalars, counters) loads here and ours into
    torch; each continues on the other's trajectory (float64)."""
    kw = dict(lr=1.0 if line_search_fn else 0.02, max_iter=3, history_size=4,
              line_search_fn=line_search_fn)  # fmt: skip
    o, t = _lbfgs_run("rosenbrock", np.float64, 4, kw)
    assert list(o.state_dict()["state"][0]) == list(t.state_dict()["state"][0])
    assert o.state_dict()["param_groups"] == t.state_dict()["param_groups"]

    def to_torch(v):
        if isinstance(v, list):
            return [to_torch(e) for e in v]
        return torch.tensor(v.numpy()) if isinstance(v, at.Tensor) else v

    x_o, x_t = o.param_groups[0]["params"][0], t.param_groups[0]["params"][0]
    fresh_o = [at.tensor(x_t.detach().numpy(), requires_grad=True)]
    fresh_t = [torch.tensor(x_o.detach().numpy(), requires_grad=True)]
    o2, t2 = optim.LBFGS(fresh_o, **kw), torch.optim.LBFGS(fresh_t, **kw)
    o2.load_state_dict(_to_numpy(t.state_dict()))
    sd = o.state_dict()
    t2.load_state_dict({"state": {0: {k: to_torch(v) for k, v in sd["state"][0].items()}},
                        "param_groups": sd["param_groups"]})  # fmt: skip

    def closure(lib, opt, ps):
        def f():
            opt.zero_grad()
            loss = _rosenbrock(lib, ps)
            loss.backward()
            return loss

        return f

    for a, b, pa, pb in [(o2, t, fresh_o, [x_t]), (o, t2, [x_o], fresh_t)]:
        for _ in range(4):
            a.step(closure(at, a, pa))
            b.step(closure(torch, b, pb))
            np.testing.assert_allclose(pa[0].detach().numpy(), pb[0].detach().numpy(),
                                       **TOL[np.float64])  # fmt: skip

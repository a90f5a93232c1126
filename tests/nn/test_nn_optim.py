"""nn.optim against torch.optim: same model, same initial weights, same data -> the same
parameter trajectory, step by step, for every optimizer and every option."""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
from nn import optim

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


# -- a small model written directly in tensors, mirrored in torch ---------------------------
def _weights(dtype, seed=0):
    r = np.random.default_rng(seed)
    return [
        r.normal(0, 0.5, (5, 3)), r.normal(0, 0.1, (5,)),
        r.normal(0, 0.5, (2, 5)), r.normal(0, 0.1, (2,)),
    ]  # fmt: skip


def _data(dtype, seed=1):
    r = np.random.default_rng(seed)
    return r.normal(size=(8, 3)).astype(dtype), r.normal(size=(8, 2)).astype(dtype)


def _loss(lib, params, x, y):
    w1, b1, w2, b2 = params
    h = (x @ w1.T + b1).tanh()
    return ((h @ w2.T + b2 - y) ** 2).mean()


def _pair(dtype, seed=0):
    ws = [w.astype(dtype) for w in _weights(dtype, seed)]
    ours = [at.tensor(w, requires_grad=True) for w in ws]
    theirs = [torch.tensor(w, requires_grad=True) for w in ws] if torch is not None else None
    return ours, theirs


def _groups(params, groups):
    """Split the four parameters into the param-group layout given (None: one plain list)."""
    if groups is None:
        return params
    return [{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}]


def _run(ours_opt, theirs_opt, ours, theirs, dtype, steps=20, sched=None):
    x, y = _data(dtype)
    xo, yo = at.tensor(x), at.tensor(y)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for step in range(steps):
        ours_opt.zero_grad()
        _loss(at, ours, xo, yo).backward()
        ours_opt.step()
        theirs_opt.zero_grad()
        _loss(torch, theirs, xt, yt).backward()
        theirs_opt.step()
        if sched is not None:
            sched[0].step()
            sched[1].step()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(
                a.detach().numpy(), b.detach().numpy(), **TOL[dtype],
                err_msg=f"parameter {i} after step {step + 1}",
            )  # fmt: skip


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.05, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.8), weight_decay=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True, betas=(0.8, 0.99))),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-3)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.05, maximize=True)),
]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,kw", CASES, ids=[f"{n}-{'-'.join(k) or 'default'}" for n, k in CASES]
)
def test_trajectory_matches_torch(name, kw, dtype):
    ours, theirs = _pair(dtype)
    _run(getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw),
         ours, theirs, dtype)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_trajectory(name):
    """Two groups with their own options; defaults fill the rest."""
    extra = {"SGD": dict(momentum=0.9), "Adam": dict(betas=(0.8, 0.9)), "AdamW": {},
             "RMSprop": dict(centered=True), "Adagrad": dict(lr_decay=0.01)}[name]  # fmt: skip
    groups = [dict(lr=0.05), dict(weight_decay=0.1, **extra)]
    ours, theirs = _pair(np.float64)
    o = getattr(optim, name)(_groups(ours, groups), lr=0.01)
    t = getattr(torch.optim, name)(_groups(theirs, groups), lr=0.01)
    assert [g["lr"] for g in o.param_groups] == [g["lr"] for g in t.param_groups]
    for go, gt in zip(o.param_groups, t.param_groups):
        assert set(go) == set(gt)
        assert {k: v for k, v in go.items() if k != "params"} == {
            k: v for k, v in gt.items() if k != "params"
        }
    _run(o, t, ours, theirs, np.float64)


@needs_torch
def test_defaults_match_torch():
    p = [at.zeros(2, requires_grad=True)]
    q = [torch.zeros(2, requires_grad=True)]
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        assert getattr(optim, name)(p).defaults == getattr(torch.optim, name)(q).defaults, name


@needs_torch
def test_float32_stays_float32():
    """Note [Optimizer dtypes]: parameters and every state buffer keep float32."""
    for name, kw in CASES:
        ours, _ = _pair(np.float32)
        opt = getattr(optim, name)(ours, **kw)
        x, y = (at.tensor(a) for a in _data(np.float32))
        for _ in range(2):
            opt.zero_grad()
            _loss(at, ours, x, y).backward()
            opt.step()
        for p in ours:
            assert p.dtype == np.float32 and p.grad.dtype == np.float32, (name, kw)
            for key, v in opt.state[p].items():
                assert v.dtype == np.float32, (name, kw, key, v.dtype)


@needs_torch
def test_closure_and_step_return():
    ours, theirs = _pair(np.float64)
    x, y = _data(np.float64)
    o, t = optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)

    def closure_o():
        o.zero_grad()
        loss = _loss(at, ours, at.tensor(x), at.tensor(y))
        loss.backward()
        return loss

    def closure_t():
        t.zero_grad()
        loss = _loss(torch, theirs, torch.tensor(x), torch.tensor(y))
        loss.backward()
        return loss

    for _ in range(3):
        lo, lt = o.step(closure_o), t.step(closure_t)
        np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-12)
    assert o.step() is None


@needs_torch
def test_zero_grad():
    ours, _ = _pair(np.float32)
    opt = optim.SGD(ours, lr=0.1)
    x, y = (at.tensor(a) for a in _data(np.float32))
    _loss(at, ours, x, y).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in ours)
    assert all(p.grad.shape == p.shape for p in ours)
    _loss(at, ours, x, y).backward()  # accumulates onto the zeros
    assert all(p.grad.numpy().any() for p in ours)
    opt.zero_grad()
    assert all(p.grad is None for p in ours)


def test_step_skips_params_without_grad_and_bumps_version():
    a = at.tensor([1.0, 2.0], requires_grad=True)
    b = at.tensor([3.0, 4.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    y = (a * a).sum()
    y.backward(retain_graph=True)
    opt.step()
    np.testing.assert_array_equal(b.detach().numpy(), [3.0, 4.0])
    assert b not in opt.state or len(opt.state[b]) == 0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()  # the graph saved a's old value; the step changed it in place


def test_modules_parameters():
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.5)
    w0 = model.weight.detach().numpy().copy()
    model(at.ones(4, 3)).sum().backward()
    opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), w0 - 0.5 * 4.0, rtol=1e-6)


@needs_torch
@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(lr=-1.0)), ("SGD", dict(lr=0.1, momentum=-0.5)),
        ("SGD", dict(lr=0.1, weight_decay=-1.0)), ("SGD", dict(lr=0.1, nesterov=True)),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
        ("Adam", dict(lr=-0.1)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.9))),
        ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-0.1)),
        ("AdamW", dict(betas=(0.9, 1.5))), ("RMSprop", dict(alpha=-0.1)),
        ("RMSprop", dict(momentum=-0.1)), ("RMSprop", dict(eps=-1.0)),
        ("Adagrad", dict(lr_decay=-1.0)), ("Adagrad", dict(initial_accumulator_value=-1.0)),
        ("Adagrad", dict(eps=-1.0)),
    ],
)  # fmt: skip
def test_invalid_hyperparameters_same_message_as_torch(name, kw):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([at.zeros(2, requires_grad=True)], **kw)
    assert str(ours.value) == str(theirs.value)


def test_bad_params():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(at.zeros(2, requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(2)], lr=0.1)
    w = at.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {w}}], lr=0.1)


@needs_torch
def test_add_param_group():
    ours, theirs = _pair(np.float64)
    o = optim.SGD(ours[:2], lr=0.1, momentum=0.9)
    t = torch.optim.SGD(theirs[:2], lr=0.1, momentum=0.9)
    o.add_param_group({"params": ours[2:], "lr": 0.01})
    t.add_param_group({"params": theirs[2:], "lr": 0.01})
    assert o.param_groups[1]["momentum"] == 0.9
    _run(o, t, ours, theirs, np.float64, steps=5)


@needs_torch
def test_named_params():
    ours, _ = _pair(np.float32)
    opt = optim.SGD([(f"p{i}", p) for i, p in enumerate(ours)], lr=0.1)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["p0", "p1", "p2", "p3"]


# -- state dicts -------------------------------------------------------------------------------
def _to_numpy(sd):
    """A torch state dict with every tensor turned into an ndarray."""
    if isinstance(sd, dict):
        return {k: _to_numpy(v) for k, v in sd.items()}
    if isinstance(sd, list):
        return [_to_numpy(v) for v in sd]
    if isinstance(sd, torch.Tensor):
        return sd.detach().numpy().copy()
    return sd


def _compare_state_dicts(ours, theirs, tol):
    assert list(ours["state"]) == list(theirs["state"])
    for k in theirs["state"]:
        assert list(ours["state"][k]) == list(theirs["state"][k]), k
        for key, v in theirs["state"][k].items():
            mine = ours["state"][k][key]
            assert mine.shape == tuple(v.shape) and mine.dtype == np.dtype(str(v.dtype)[6:])
            np.testing.assert_allclose(mine.numpy(), v.numpy(), **tol, err_msg=f"{k}.{key}")
    assert ours["param_groups"] == theirs["param_groups"]


@needs_torch
@pytest.mark.parametrize(
    "name,kw",
    [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
     ("AdamW", dict(lr=0.01)), ("RMSprop", dict(centered=True, momentum=0.5)),
     ("Adagrad", dict(lr=0.1))],
)  # fmt: skip
def test_state_dict_layout_and_torch_interchange(name, kw):
    """Our state_dict has torch's layout and values; torch's state (converted to numpy)
    loads into ours and both then continue on the same trajectory."""
    ours, theirs = _pair(np.float32)
    o = getattr(optim, name)(_groups(ours, [{}, {"lr": 0.02}]), **kw)
    t = getattr(torch.optim, name)(_groups(theirs, [{}, {"lr": 0.02}]), **kw)
    _run(o, t, ours, theirs, np.float32, steps=4)
    _compare_state_dicts(o.state_dict(), t.state_dict(), TOL[np.float32])

    fresh = [at.tensor(b.detach().numpy(), requires_grad=True) for b in theirs]
    o2 = getattr(optim, name)(_groups(fresh, [{}, {}]), **kw)
    o2.load_state_dict(_to_numpy(t.state_dict()))
    assert o2.param_groups[1]["lr"] == 0.02
    _run(o2, t, fresh, theirs, np.float32, steps=6)


@needs_torch
@pytest.mark.parametrize(
    "name,kw",
    [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adam", dict(lr=0.01, amsgrad=True)),
     ("AdamW", dict(lr=0.01, weight_decay=0.1)), ("RMSprop", dict(centered=True, momentum=0.5)),
     ("Adagrad", dict(lr=0.1, lr_decay=0.1))],
)  # fmt: skip
def test_state_dict_roundtrip_through_save_load(name, kw, tmp_path):
    """Save the optimizer (and model) after 10 steps, load into fresh objects, continue 10:
    identical to 20 uninterrupted steps."""
    x, y = (at.tensor(a) for a in _data(np.float32))

    def train(params, opt, n):
        for _ in range(n):
            opt.zero_grad()
            _loss(at, params, x, y).backward()
            opt.step()

    straight, _ = _pair(np.float32)
    train(straight, getattr(optim, name)(straight, **kw), 20)

    first, _ = _pair(np.float32)
    opt = getattr(optim, name)(first, **kw)
    train(first, opt, 10)
    nn.save({"params": [p.detach() for p in first], "optim": opt.state_dict()},
            tmp_path / "ckpt.npz")  # fmt: skip
    train(first, opt, 3)  # moves on; must not affect what was saved

    ckpt = nn.load(tmp_path / "ckpt.npz")
    resumed, _ = _pair(np.float32, seed=5)
    with at.no_grad():
        for p, saved in zip(resumed, ckpt["params"]):
            p.copy_(saved)
    opt2 = getattr(optim, name)(resumed, **kw)
    opt2.load_state_dict(ckpt["optim"])
    train(resumed, opt2, 10)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@needs_torch
def test_load_state_dict_errors():
    ours, _ = _pair(np.float32)
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    other = optim.SGD(ours[:2], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        other.load_state_dict(sd)
    two = optim.SGD(_groups(ours, [{}, {}]), lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        two.load_state_dict(sd)


def test_repr():
    opt = optim.SGD([at.zeros(2, requires_grad=True)], lr=0.1)
    assert repr(opt).startswith("SGD (\nParameter Group 0\n") and "lr: 0.1" in repr(opt)


# -- nn.utils: clipping and flat vectors ------------------------------------------------------
def _grads_pair():
    """Gradients of the small model (torch's, copied), plus a pair of leaves whose gradients
    come from our engine, which may hand both one shared array (they meet in one sum)."""
    ours, theirs = _pair(np.float32)
    x, y = _data(np.float32)
    u, v = at.tensor([1.0, -2.0], requires_grad=True), at.tensor([0.5, 3.0], requires_grad=True)
    tu, tv = (
        torch.tensor([1.0, -2.0], requires_grad=True),
        torch.tensor([0.5, 3.0], requires_grad=True),
    )
    (_loss(at, ours, at.tensor(x), at.tensor(y)) * 30 + ((u + v) * 4).sum()).backward()
    (_loss(torch, theirs, torch.tensor(x), torch.tensor(y)) * 30 + ((tu + tv) * 4).sum()).backward()
    for a, b in zip(ours, theirs):  # the same gradients exactly, so only clipping is compared
        a.grad = at.tensor(b.grad.numpy())
    return ours + [u, v], theirs + [tu, tv]


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _grads_pair()
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.dtype == np.float32 and total.shape == ()
    np.testing.assert_allclose(total.item(), total_t.item(), rtol=1e-5)
    for a, b in zip(ours, theirs):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-7)


@needs_torch
def test_clip_grad_value_and_nonfinite():
    ours, theirs = _grads_pair()
    nn.utils.clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    w = at.tensor([1.0, 2.0], requires_grad=True)
    w.grad = at.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([at.zeros(2, requires_grad=True)], 1.0).item() == 0.0


@needs_torch
def test_parameters_to_vector_and_back():
    ours, theirs = _pair(np.float64)
    vec = nn.utils.parameters_to_vector(ours)
    np.testing.assert_array_equal(
        vec.detach().numpy(), torch.nn.utils.parameters_to_vector(theirs).detach().numpy()
    )
    (vec * at.arange(vec.shape[0], dtype=at.float64)).sum().backward()  # differentiable
    np.testing.assert_array_equal(ours[0].grad.numpy().reshape(-1), np.arange(15))
    new = at.arange(vec.shape[0], dtype=at.float64) * 0.5
    nn.utils.vector_to_parameters(new, ours)
    np.testing.assert_array_equal(ours[2].detach().numpy(), (np.arange(20, 30) * 0.5).reshape(2, 5))
    with pytest.raises(ValueError, match="hold 32 elements"):
        nn.utils.vector_to_parameters(at.zeros(5), ours)
    with pytest.raises(TypeError, match="expected Tensor"):
        nn.utils.vector_to_parameters(np.zeros(32), ours)


# -- property: any parameter shape and hyperparameters ------------------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None


def _options(name):
    f = st.floats
    common = {"lr": f(1e-4, 0.5), "weight_decay": st.sampled_from([0.0, 0.01, 0.3]),
              "maximize": st.booleans()}  # fmt: skip
    extra = {
        "SGD": {"momentum": st.sampled_from([0.0, 0.5, 0.9]), "dampening": f(0.0, 0.5)},
        "Adam": {"betas": st.tuples(f(0.0, 0.99), f(0.5, 0.9999)), "eps": f(1e-10, 1e-2),
                 "amsgrad": st.booleans()},
        "AdamW": {"betas": st.tuples(f(0.0, 0.99), f(0.5, 0.9999)), "amsgrad": st.booleans()},
        "RMSprop": {"alpha": f(0.5, 0.999), "momentum": st.sampled_from([0.0, 0.7]),
                    "centered": st.booleans(), "eps": f(1e-10, 1e-2)},
        "Adagrad": {"lr_decay": f(0.0, 0.2), "initial_accumulator_value": f(0.0, 1.0)},
    }[name]  # fmt: skip
    return st.fixed_dictionaries({**common, **extra})


if given is not None:

    @needs_torch
    @pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
    @settings(max_examples=15, deadline=None)
    @given(data=st.data())
    def test_update_rule_any_shape_and_options(name, data):
        """Random shape, options and gradients: 4 steps of ours equal torch's (float64)."""
        kw = data.draw(_options(name))
        shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
        seed = data.draw(st.integers(0, 2**16))
        r = np.random.default_rng(seed)
        w = r.normal(size=shape)
        ours, theirs = at.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
        o, t = getattr(optim, name)([ours], **kw), getattr(torch.optim, name)([theirs], **kw)
        for _ in range(4):
            g = r.normal(size=shape)
            ours.grad, theirs.grad = at.tensor(g), torch.tensor(g)
            o.step()
            t.step()
        np.testing.assert_allclose(
            ours.detach().numpy(), theirs.detach().numpy(), **TOL[np.float64]
        )


# -- the blockwise SGD update against the whole-array rule -----------------------------------
SGD_RULES = [
    dict(lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False),
    dict(lr=0.01, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False),
    dict(lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.01, nesterov=False),
    dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.1, nesterov=True),
]


@pytest.mark.parametrize("rule", SGD_RULES, ids=lambda r: f"m{r['momentum']}n{r['nesterov']}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["large", "small", "transposed", "ragged"])
def test_sgd_update_blocks_matches_sgd_update(rule, dtype, layout):
    from nn.optim.sgd import _BLOCK, sgd_update, sgd_update_blocks

    r = np.random.default_rng(3)
    shape = {"large": (16, _BLOCK + 5), "small": (7, 9), "transposed": (16 * _BLOCK // 64, 64),
             "ragged": (16 * _BLOCK + 11,)}[layout]  # fmt: skip
    param, grad, buf = (r.normal(size=shape).astype(dtype) for _ in range(3))
    if layout == "transposed":  # not contiguous: the whole-array rule
        grad = np.ascontiguousarray(grad.T).T
    buf_in = buf if rule["momentum"] else None
    p_ref, b_ref = param.copy(), None if buf_in is None else buf_in.copy()
    out_ref = sgd_update(p_ref, grad, b_ref, **rule)
    out = sgd_update_blocks(param, grad, buf_in, **rule)
    np.testing.assert_array_equal(param, p_ref)  # the same elementwise operations, bit for bit
    if buf_in is None:
        assert out is None and out_ref is None
    else:
        assert out is buf_in
        np.testing.assert_array_equal(buf_in, b_ref)


@needs_torch
def test_sgd_momentum_on_a_large_parameter_matches_torch():
    r = np.random.default_rng(4)
    w0 = (r.normal(size=(600, 1000)) * 0.02).astype(np.float32)  # blockwise updates
    x = r.normal(size=(4, 600)).astype(np.float32)
    ours = at.tensor(w0, requires_grad=True)
    theirs = torch.tensor(w0, requires_grad=True)
    o = optim.SGD([ours], lr=0.1, momentum=0.9)
    t = torch.optim.SGD([theirs], lr=0.1, momentum=0.9)
    for _ in range(3):
        for opt, w, lib in ((o, ours, at), (t, theirs, torch)):
            opt.zero_grad()
            ((lib.from_numpy(x) @ w) ** 2).mean().backward()
            opt.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **TOL[np.float32])

"""Recurrent layers against torch.

torch's modules are the oracle: the same weights (torch's state_dict loaded as numpy with
strict=True) and inputs must give the same outputs, final states, and gradients of every
parameter, the input and the initial state, for every option combination, on both of our
implementations (fused primitives and composed cells). The cells also pass gradcheck in
float64, and the fused primitives are checked against finite differences by
tests/test_primitives.py (they are found there automatically).
"""

from __future__ import annotations

import importlib.util
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
from autotensor.ops.recurrent import _WORKSPACE, GRULayer, LSTMLayer, RNNLayer

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
if torch is not None:  # torch-side definitions of the parity tests
    TDT = {np.float32: torch.float32, np.float64: torch.float64}
T, B, I, H = 4, 3, 5, 6  # all different, so a transposed weight cannot go unnoticed

MODES = ["RNN_TANH", "RNN_RELU", "GRU", "LSTM"]


def close(ours, theirs, dtype, what=""):
    a = ours.detach().numpy() if isinstance(ours, at.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def make(mode, dtype=np.float64, seed=0, **kw):
    """(ours, torch's) with torch's random weights copied into ours (strict)."""
    torch.manual_seed(seed)
    if mode.startswith("RNN"):
        nl = "relu" if mode == "RNN_RELU" else "tanh"
        theirs = torch.nn.RNN(I, H, nonlinearity=nl, **kw)
        ours = nn.RNN(I, H, nonlinearity=nl, **kw)
    else:
        theirs = getattr(torch.nn, mode)(I, H, **kw)
        ours = getattr(nn, mode)(I, H, **kw)
    theirs = theirs.to(TDT[dtype])
    ours.to(dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                         strict=True)  # fmt: skip
    return ours, theirs


def states_of(mode, res):
    """The final state tensors of a result: (h_n,) or (h_n, c_n)."""
    return tuple(res[1]) if mode == "LSTM" else (res[1],)


def compare(mode, ours, theirs, x, hx, dtype, rng, what=""):
    """Forward both, backward a random weighting of the output and every final state, and
    compare outputs, states and all gradients (parameters, input, initial states)."""
    xo = at.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ho = ht = None
    if hx is not None:
        ho = tuple(at.tensor(h, requires_grad=True) for h in hx)
        ht = tuple(torch.tensor(h, requires_grad=True) for h in hx)
    ro = ours(xo, None if ho is None else (ho if mode == "LSTM" else ho[0]))
    rt = theirs(xt, None if ht is None else (ht if mode == "LSTM" else ht[0]))
    outs_o = (ro[0],) + states_of(mode, ro)
    outs_t = (rt[0],) + states_of(mode, rt)
    loss_o = loss_t = 0
    for k, (a, b) in enumerate(zip(outs_o, outs_t)):
        close(a, b, dtype, f"{what} result {k}")
        w = rng.normal(size=tuple(b.shape)).astype(dtype)
        loss_o = loss_o + (a * at.tensor(w)).sum()
        loss_t = loss_t + (b * torch.tensor(w)).sum()
    loss_o.backward()
    loss_t.backward()
    close(xo.grad, xt.grad, dtype, f"{what} input grad")
    if hx is not None:
        for k, (a, b) in enumerate(zip(ho, ht)):
            close(a.grad, b.grad, dtype, f"{what} grad of initial state {k}")
    tp = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(tp), (names, list(tp))
    for name, p in ours.named_parameters():
        close(p.grad, tp[name].grad, dtype, f"{what} grad of {name}")


def inputs(mode, rng, dtype, layers, dirs, batch_first, with_state, proj=0, batch=B):
    x = rng.normal(size=(batch, T, I) if batch_first else (T, batch, I)).astype(dtype)
    hx = None
    if with_state:
        hx = [rng.normal(size=(layers * dirs, batch, proj or H)).astype(dtype)]
        if mode == "LSTM":
            hx.append(rng.normal(size=(layers * dirs, batch, H)).astype(dtype))
    return x, hx


# -- every option combination, both implementations, float64 ---------------------------------
COMBOS = list(itertools.product(MODES, [1, 2], [False, True], [False, True], [False, True],
                                 [True, False]))  # fmt: skip


@needs_torch
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize(
    "mode,layers,bidir,batch_first,with_state,bias",
    COMBOS,
    ids=[f"{m}-L{n}-{'bi' if b else 'uni'}-{'bf' if f else 'tf'}-{'h0' if s else 'noh0'}"
         f"-{'bias' if bb else 'nobias'}" for m, n, b, f, s, bb in COMBOS],
)  # fmt: skip
def test_matches_torch(mode, layers, bidir, batch_first, with_state, bias, fused, rng):
    ours, theirs = make(mode, num_layers=layers, bidirectional=bidir, batch_first=batch_first,
                        bias=bias)  # fmt: skip
    ours.fused = fused
    x, hx = inputs(mode, rng, np.float64, layers, 2 if bidir else 1, batch_first, with_state)
    compare(mode, ours, theirs, x, hx, np.float64, rng)


@needs_torch
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("mode", MODES)
def test_matches_torch_float32(mode, fused, rng):
    """float32 end to end: results and gradients within float32 rounding of torch, and
    every gradient stays float32."""
    ours, theirs = make(mode, np.float32, num_layers=2, bidirectional=True)
    ours.fused = fused
    x, hx = inputs(mode, rng, np.float32, 2, 2, False, True)
    compare(mode, ours, theirs, x, hx, np.float32, rng)
    assert all(p.grad.dtype == np.float32 for p in ours.parameters())


@needs_torch
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("layers,bidir,with_state", [(1, False, True), (2, True, False),
                                                     (2, True, True)])  # fmt: skip
def test_lstm_projection_matches_torch(layers, bidir, with_state, fused, rng):
    ours, theirs = make("LSTM", num_layers=layers, bidirectional=bidir, proj_size=3)
    ours.fused = fused
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    x, hx = inputs("LSTM", rng, np.float64, layers, 2 if bidir else 1, False, with_state, 3)
    compare("LSTM", ours, theirs, x, hx, np.float64, rng)


@needs_torch
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_matches_torch(mode, batch_first, fused, rng):
    """2-D input (T, input_size) is one sequence; states are 2-D then too."""
    ours, theirs = make(mode, num_layers=2, bidirectional=True, batch_first=batch_first)
    ours.fused = fused
    x = rng.normal(size=(T, I))
    hx = [rng.normal(size=(4, H))] + ([rng.normal(size=(4, H))] if mode == "LSTM" else [])
    compare(mode, ours, theirs, x, hx, np.float64, rng)
    compare(mode, ours, theirs, x, None, np.float64, rng)
    out = ours(at.tensor(x))
    assert out[0].shape == (T, 2 * H)


@needs_torch
@settings(max_examples=12, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    t=st.integers(1, 6),
    b=st.integers(1, 4),
    i=st.integers(1, 5),
    h=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_fused_matches_torch_any_shape(mode, t, b, i, h, seed):
    """Property: the fused layers agree with torch for any (T, B, input, hidden)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    kw = dict(nonlinearity="relu" if mode == "RNN_RELU" else "tanh") if "RNN" in mode else {}
    cls = "RNN" if "RNN" in mode else mode
    theirs = getattr(torch.nn, cls)(i, h, **kw).double()
    ours = getattr(nn, cls)(i, h, **kw).to(np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.normal(size=(t, b, i))
    xo, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo)[0], theirs(xt)[0]
    close(yo, yt, np.float64, "output")
    w = rng.normal(size=yo.shape)
    (yo * at.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(xo.grad, xt.grad, np.float64, "input grad")
    close(ours.weight_hh_l0.grad, theirs.weight_hh_l0.grad, np.float64, "weight_hh grad")


# -- cells -----------------------------------------------------------------------------------
CELLS = ["RNNCell-tanh", "RNNCell-relu", "GRUCell", "LSTMCell"]


def make_cell(name, dtype=np.float64, bias=True):
    cls, _, nl = name.partition("-")
    kw = dict(nonlinearity=nl) if nl else {}
    torch.manual_seed(1)
    theirs = getattr(torch.nn, cls)(I, H, bias=bias, **kw).to(TDT[dtype])
    ours = getattr(nn, cls)(I, H, bias=bias, **kw).to(dtype)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()},
                         strict=True)  # fmt: skip
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("name", CELLS)
def test_cell_matches_torch(name, batched, bias, rng):
    ours, theirs = make_cell(name, bias=bias)
    lead = (B,) if batched else ()
    x = rng.normal(size=lead + (I,))
    states = [rng.normal(size=lead + (H,)) for _ in range(2 if name == "LSTMCell" else 1)]
    xo, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    so = [at.tensor(s, requires_grad=True) for s in states]
    st_ = [torch.tensor(s, requires_grad=True) for s in states]
    ro = ours(xo, tuple(so) if name == "LSTMCell" else so[0])
    rt = theirs(xt, tuple(st_) if name == "LSTMCell" else st_[0])
    ro = ro if isinstance(ro, tuple) else (ro,)
    rt = rt if isinstance(rt, tuple) else (rt,)
    lo = lt = 0
    for a, b in zip(ro, rt):
        close(a, b, np.float64, name)
        w = rng.normal(size=tuple(b.shape))
        lo = lo + (a * at.tensor(w)).sum()
        lt = lt + (b * torch.tensor(w)).sum()
    lo.backward()
    lt.backward()
    close(xo.grad, xt.grad, np.float64, "input grad")
    for a, b in zip(so, st_):
        close(a.grad, b.grad, np.float64, "state grad")
    tp = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        close(p.grad, tp[n].grad, np.float64, n)
    # no state given: zeros, as torch
    r0 = ours(at.tensor(x))
    t0 = theirs(torch.tensor(x))
    close(r0[0] if isinstance(r0, tuple) else r0, t0[0] if isinstance(t0, tuple) else t0,
          np.float64, "zero state")  # fmt: skip


@pytest.mark.parametrize(
    "cell,gates",
    [(nn.recurrent.rnn_tanh_cell, 1), (nn.recurrent.rnn_relu_cell, 1),
     (nn.recurrent.gru_cell, 3), (nn.recurrent.lstm_cell, 4)],
    ids=["rnn_tanh", "rnn_relu", "gru", "lstm"],
)  # fmt: skip
def test_cell_gradcheck(cell, gates, rng):
    """First and second derivatives of the composed cells against finite differences."""
    b, i, h = 2, 3, 2

    def t(*shape):
        return at.tensor(rng.uniform(-0.8, 0.8, shape), dtype=at.float64, requires_grad=True)

    args = (t(b, i), t(b, h), t(gates * h, i), t(gates * h, h), t(gates * h), t(gates * h))
    if gates == 4:
        c = t(b, h)

        def fn(x, hh, w_ih, w_hh, b_ih, b_hh, cc):
            return cell(x, (hh, cc), w_ih, w_hh, b_ih, b_hh)

        args = args + (c,)
    else:
        fn = cell
    assert at.gradcheck(fn, args)
    assert at.gradgradcheck(fn, args)


def test_lstm_cell_projection_gradcheck(rng):
    def t(*shape):
        return at.tensor(rng.uniform(-0.8, 0.8, shape), dtype=at.float64, requires_grad=True)

    args = (t(2, 3), t(2, 2), t(2, 3), t(12, 3), t(12, 2), t(12), t(12), t(2, 3))

    def fn(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr):
        return nn.recurrent.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh, w_hr)

    assert at.gradcheck(fn, args)


# -- fused primitives vs the composed reference ----------------------------------------------
@needs_torch
@pytest.mark.parametrize("mode", MODES)
def test_fused_equals_composed_and_primitive_checks(mode, rng):
    """The two implementations agree in float64 (results and gradients), and the fused
    primitive passes the engine's check_function (gradcheck from its own samples)."""
    ours, _ = make(mode, num_layers=2, bidirectional=True, batch_first=True)
    x = rng.normal(size=(B, T, I))
    res = {}
    for fused in (True, False):
        ours.fused = fused
        ours.zero_grad()
        xo = at.tensor(x, requires_grad=True)
        r = ours(xo)
        flat = [r[0], *states_of(mode, r)]
        sum((o * o).sum() for o in flat).backward()
        res[fused] = (
            [o.detach().numpy() for o in flat]
            + [xo.grad.numpy()]
            + [p.grad.numpy() for p in ours.parameters()]
        )
    for a, b in zip(res[True], res[False]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    op = {"LSTM": LSTMLayer, "GRU": GRULayer}.get(mode, RNNLayer)
    assert at.testing.check_function(op) >= 5


@needs_torch
def test_fused_backward_is_first_order_only_composed_is_not(rng):
    """create_graph through the fused layer raises a clear error; fused=False gives second
    derivatives (checked against torch)."""
    ours, theirs = make("LSTM")
    x = rng.normal(size=(T, B, I))
    xo = at.tensor(x, requires_grad=True)
    out = ours(xo)[0]
    with pytest.raises(RuntimeError, match="LSTMLayer.*not differentiable"):
        at.grad(out.sum(), xo, create_graph=True)
    ours.fused = False
    xo = at.tensor(x, requires_grad=True)
    (g,) = at.grad((ours(xo)[0] ** 2).sum(), xo, create_graph=True)
    (gg,) = at.grad((g * g).sum(), xo)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((theirs(xt)[0] ** 2).sum(), xt, create_graph=True)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), xt)
    close(gg, ggt, np.float64, "second derivative")


@needs_torch
def test_overlapping_graphs_and_retain_graph(rng):
    """Work arrays are recycled between calls: two graphs alive at once, a retained graph
    walked twice and a graph released before backward must all keep correct values."""
    ours, theirs = make("LSTM", dtype=np.float32, num_layers=2)
    xs = [rng.normal(size=(T, B, I)).astype(np.float32) for _ in range(3)]
    outs = [ours(at.tensor(x))[0] for x in xs[:2]]
    del outs[0]  # released before its backward: its arrays may now be reused
    ours(at.tensor(xs[2]))[0].sum().backward()
    g_a = ours.weight_hh_l0.grad.numpy().copy()
    ours.zero_grad()
    outs[0].sum().backward(retain_graph=True)
    g_b = ours.weight_hh_l0.grad.numpy().copy()
    outs[0].sum().backward()
    g_b2 = ours.weight_hh_l0.grad.numpy() - g_b
    for x, g in ((xs[2], g_a), (xs[1], g_b), (xs[1], g_b2)):
        theirs.zero_grad()
        theirs(torch.tensor(x))[0].sum().backward()
        close(g, theirs.weight_hh_l0.grad, np.float32, "weight_hh grad")
    with pytest.raises(RuntimeError, match="second time"):
        outs[0].sum().backward()
    assert _WORKSPACE._bytes <= _WORKSPACE.max_bytes


@needs_torch
def test_inplace_change_of_output_is_detected(rng):
    ours, _ = make("GRU")
    out, h = ours(at.tensor(rng.normal(size=(T, B, I)), requires_grad=True))
    with at.no_grad():
        out.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (out.sum() + h.sum()).backward()


# -- state_dict, stacking, training ----------------------------------------------------------
@needs_torch
def test_torch_lstm_state_dict_loads_strict_and_round_trips():
    theirs = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    ours = nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)
    res = ours.load_state_dict({k: v.numpy() for k, v in sd.items()}, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    back = torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                          for k, v in ours.state_dict().items()}, strict=True)  # fmt: skip
    x = np.random.default_rng(0).normal(size=(B, T, I)).astype(np.float32)
    close(ours(at.tensor(x))[0], back(torch.tensor(x))[0], np.float32, "after round trip")
    bad = {k: v.numpy() for k, v in sd.items() if k != "bias_hh_l1"}
    with pytest.raises(RuntimeError, match="bias_hh_l1"):
        ours.load_state_dict(bad, strict=True)


@needs_torch
@pytest.mark.parametrize("mode", MODES)
def test_parameters_and_init_as_torch(mode):
    ours, theirs = make(mode, num_layers=2, bidirectional=True, bias=False)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    assert repr(ours) == repr(theirs)
    fresh = nn.LSTM(I, 64)
    bound = 1 / np.sqrt(64)
    for p in fresh.parameters():
        a = p.detach().numpy()
        assert a.min() >= -bound and a.max() <= bound and a.std() > bound / 3
    assert len(fresh.all_weights) == 1 and len(fresh.all_weights[0]) == 4


class GRUThenLSTM(nn.Module):
    """The book's stack of layers of different kinds: GRU -> LSTM -> Linear."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(I, H, batch_first=True)
        self.lstm = nn.LSTM(H, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.lstm(self.gru(x)[0])[0])


if torch is not None:  # torch-side definitions of the parity tests

    class TorchGRUThenLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(I, H, batch_first=True)
            self.lstm = torch.nn.LSTM(H, 4, batch_first=True)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.lstm(self.gru(x)[0])[0])


@needs_torch
def test_gru_feeding_lstm_matches_torch_and_trains(rng):
    torch.manual_seed(3)
    theirs = TorchGRUThenLSTM().double()
    ours = GRUThenLSTM().to(np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.normal(size=(8, T, I))
    y = (x.sum(-1, keepdims=True) > 0).astype(np.float64) * np.ones((1, 1, 2))
    opt_o = nn.optim.SGD(ours.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        lo = ((ours(at.tensor(x)) - at.tensor(y)) ** 2).mean()
        lt = ((theirs(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        np.testing.assert_allclose(lo.item(), lt.item(), rtol=1e-9)
        opt_o.zero_grad()
        theirs.zero_grad()
        lo.backward()
        lt.backward()
        opt_o.step()
        with torch.no_grad():  # plain SGD (torch.optim's first use costs seconds of imports)
            for p in theirs.parameters():
                p -= 0.1 * p.grad
        losses.append(lo.item())
    assert losses[-1] < 0.7 * losses[0]


@needs_torch
def test_dropout_between_layers_only_in_training(rng):
    ours, theirs = make("GRU", num_layers=3, dropout=0.5)
    x = rng.normal(size=(T, B, I))
    ours.train()
    a, b = (ours(at.tensor(x))[0].detach().numpy() for _ in range(2))
    assert not np.allclose(a, b)  # a fresh mask each call
    ours.eval()
    theirs.eval()
    close(ours(at.tensor(x))[0], theirs(torch.tensor(x))[0], np.float64, "eval")
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(I, H, dropout=0.2)
    one = nn.LSTM(I, H, num_layers=2, dropout=1.0)  # p = 1: layer 2 sees only zeros
    one.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out1 = one(at.tensor(rng.normal(size=(T, B, I)).astype(np.float32)))[0]
        out2 = one(at.tensor(rng.normal(size=(T, B, I)).astype(np.float32)))[0]
    np.testing.assert_array_equal(out1.detach().numpy(), out2.detach().numpy())


# -- bad input -------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("mode", ["RNN_TANH", "GRU", "LSTM"])
def test_bad_input_errors(mode, rng):
    name = "RNN" if "RNN" in mode else mode
    ours, _ = make(mode, dtype=np.float32, num_layers=2)
    x = at.tensor(rng.normal(size=(T, B, I)).astype(np.float32))
    with pytest.raises(RuntimeError, match=rf"{name}: .*Expected {I}, got {I + 1}"):
        ours(at.tensor(rng.normal(size=(T, B, I + 1)).astype(np.float32)))
    with pytest.raises(RuntimeError, match=rf"{name}: Expected sequence length"):
        ours(at.zeros((0, B, I)))
    with pytest.raises(ValueError, match=rf"{name}: Expected input to be 2D or 3D, got 4D"):
        ours(at.zeros((T, B, I, 1)))
    bad_h = at.zeros((1, B, H))  # 2 layers need 2 states
    hx = (bad_h, at.zeros((2, B, H))) if mode == "LSTM" else bad_h
    with pytest.raises(RuntimeError, match=rf"h_0 of shape \(2, {B}, {H}\), got \(1, {B}, {H}\)"):
        ours(x, hx)
    if mode == "LSTM":
        with pytest.raises(RuntimeError, match=rf"c_0 of shape \(2, {B}, {H}\), got"):
            ours(x, (at.zeros((2, B, H)), at.zeros((2, B + 1, H))))
    with pytest.raises(RuntimeError, match="dtype"):
        ours(at.tensor(rng.normal(size=(T, B, I))))  # float64 input, float32 weights
    cell = nn.GRUCell(I, H)
    with pytest.raises(
        RuntimeError, match=rf"GRUCell: expected hx of shape \({B}, {H}\).*got \({B}, {H + 1}\)"
    ):
        cell(at.zeros((B, I)), at.zeros((B, H + 1)))
    with pytest.raises(RuntimeError, match=rf"GRUCell: input has {I + 2} features"):
        cell(at.zeros((B, I + 2)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(I, H, proj_size=2)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(I, H, proj_size=H)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        nn.RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(I, H, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(I, 0)


def test_fused_primitive_shape_errors(rng):
    x = rng.normal(size=(T, B, I))
    w_ih, w_hh = rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, H))
    with pytest.raises(RuntimeError, match=r"LSTMLayer.*h0 must have shape \(3, 6\), got \(3, 5\)"):
        LSTMLayer.apply(at.tensor(x), at.tensor(rng.normal(size=(B, H - 1))), None,
                        at.tensor(w_ih), at.tensor(w_hh))  # fmt: skip
    with pytest.raises(RuntimeError, match="the sequence is empty"):
        GRULayer.apply(at.zeros((0, B, I), dtype=at.float64), None,
                       at.tensor(w_ih[: 3 * H]), at.tensor(w_hh[: 3 * H]))  # fmt: skip
    with pytest.raises(TypeError, match="one floating dtype"):
        RNNLayer.apply(at.tensor(x), None, at.tensor(w_ih[:H].astype(np.float32)),
                       at.tensor(w_hh[:H]))  # fmt: skip


# -- the character language model example ----------------------------------------------------
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tinyshakespeare.txt"


def _char_lm():
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "char_lm.py"
    spec = importlib.util.spec_from_file_location("char_lm_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def shakespeare():
    if not DATA.exists():
        pytest.skip(f"{DATA} not found: the language-model tests need tinyshakespeare.txt")
    return DATA.read_text(encoding="utf-8")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_lm_learns_and_samples(shakespeare, cell):
    lm = _char_lm()
    corpus = nn.data.CharCorpus(text=shakespeare[:120_000])
    ids = corpus.data.numpy()
    train_ids, val_ids = ids[:100_000], ids[100_000:]
    at.manual_seed(0)
    model = lm.CharLM(corpus.vocab_size, embed=16, hidden=64, cell=cell)
    val = lm.eval_windows(val_ids, 32, 32)
    before = lm.evaluate(model, *val)
    losses = lm.train(model, train_ids, steps=80, batch=16, seq_len=32, lr=1e-2, progress=False)
    after = lm.evaluate(model, *val)
    assert len(losses) == 80 and np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.8
    assert after < before - 0.8, (before, after)
    text = lm.sample(model, corpus, 60, prompt="ROMEO:", temperature=0.8, seed=1)
    assert text.startswith("ROMEO:") and len(text) == 66 and set(text) <= set(corpus.chars)
    assert text == lm.sample(model, corpus, 60, prompt="ROMEO:", temperature=0.8, seed=1)
    greedy = lm.sample(model, corpus, 40, temperature=0)
    assert greedy == lm.sample(model, corpus, 40, temperature=0, seed=123)  # no randomness
    with pytest.raises(ValueError, match="temperature"):
        lm.sample(model, corpus, 5, temperature=-1)


def test_char_lm_script_runs_end_to_end(shakespeare, tmp_path, capsys):
    lm = _char_lm()
    small = tmp_path / "small.txt"
    small.write_text(shakespeare[:30_000], encoding="utf-8")
    weights = tmp_path / "lm.npz"
    lm.main([str(small), "--steps", "6", "--hidden", "24", "--embed", "8", "--seq-len", "16",
             "--batch", "4", "--eval-every", "3", "--sample-len", "20",
             "--save", str(weights)])  # fmt: skip
    out = capsys.readouterr().out
    assert "held-out loss before training" in out and "--- sample (temperature 0.8) ---" in out
    assert weights.exists()
    lm.main([str(small), "--steps", "0", "--hidden", "24", "--embed", "8", "--seq-len", "16",
             "--load", str(weights), "--sample-len", "10"])  # fmt: skip
    assert "trained 0 steps" in capsys.readouterr().out

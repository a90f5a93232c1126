"""nn.utils.rnn (pad_sequence, pack_padded_sequence, pad_packed_sequence, pack_sequence,
unpad/unpack_sequence, PackedSequence) and the recurrent layers on packed input, against
torch: values and gradients in float32 and float64, the packing metadata, hypothesis over
batches of random lengths, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at
import nn
from nn.utils import rnn

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
trnn = torch.nn.utils.rnn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def _close(a, t, dtype, what=""):
    a = a.detach().numpy() if isinstance(a, at.Tensor) else np.asarray(a)
    np.testing.assert_allclose(a, t.detach().numpy(), err_msg=what, **TOL[dtype])


def test_import_paths():
    import autotensor.nn.utils.rnn as alias

    assert alias is rnn and nn.utils.rnn is rnn
    from autotensor.nn.utils.rnn import PackedSequence  # noqa: F401


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side, dtype, rng):
    arrays = [rng.normal(size=(n, 3)).astype(dtype) for n in (2, 5, 1)]
    ours = [at.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    pa = rnn.pad_sequence(ours, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    pt = trnn.pad_sequence(theirs, batch_first=batch_first, padding_value=-1.5,
                           padding_side=side)  # fmt: skip
    _close(pa, pt, dtype)
    g = rng.normal(size=tuple(pt.shape)).astype(dtype)
    pa.backward(at.tensor(g))
    pt.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        _close(a.grad, t.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce", [([5, 3, 3, 1], True), ([2, 5, 3, 5], False)])
def test_pack_and_pad_round_trip_match_torch(lengths, enforce, batch_first, dtype, rng):
    shape = (4, 5, 3) if batch_first else (5, 4, 3)
    x = rng.normal(size=shape).astype(dtype)
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pa = rnn.pack_padded_sequence(xa, lengths, batch_first=batch_first, enforce_sorted=enforce)
    pt = trnn.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=enforce)
    assert isinstance(pa, rnn.PackedSequence)
    _close(pa.data, pt.data, dtype)
    np.testing.assert_array_equal(pa.batch_sizes.numpy(), pt.batch_sizes.numpy())
    for a, t in ((pa.sorted_indices, pt.sorted_indices),
                 (pa.unsorted_indices, pt.unsorted_indices)):  # fmt: skip
        assert (a is None) == (t is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), t.numpy())
    ya, la = rnn.pad_packed_sequence(pa, batch_first=batch_first, padding_value=7.0,
                                     total_length=6)  # fmt: skip
    yt, lt = trnn.pad_packed_sequence(pt, batch_first=batch_first, padding_value=7.0,
                                      total_length=6)  # fmt: skip
    _close(ya, yt, dtype)
    np.testing.assert_array_equal(la.numpy(), lt.numpy())
    assert la.dtype == at.int64
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    _close(xa.grad, xt.grad, dtype)


def test_pack_sequence_and_unpack(rng):
    arrays = [rng.normal(size=(n, 2)) for n in (3, 4, 1)]
    pa = rnn.pack_sequence([at.tensor(a) for a in arrays], enforce_sorted=False)
    pt = trnn.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    _close(pa.data, pt.data, np.float64)
    for a, t in zip(rnn.unpack_sequence(pa), trnn.unpack_sequence(pt)):
        _close(a, t, np.float64)
    padded = rnn.pad_sequence([at.tensor(a) for a in arrays], batch_first=True)
    for a, src in zip(rnn.unpad_sequence(padded, [3, 4, 1], batch_first=True), arrays):
        np.testing.assert_array_equal(a.numpy(), src)


def _recurrent_pair(cls, dtype, rng, **kw):
    tm = getattr(torch.nn, cls)(3, 5, **kw)
    am = getattr(nn, cls)(3, 5, **kw)
    if dtype == np.float64:
        tm, am = tm.double(), am.double()
    am.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()},
                       strict=True)  # fmt: skip
    return am, tm


RNN_CASES = [
    ("LSTM", dict(), [4, 2, 4, 1], True),
    ("LSTM", dict(num_layers=2, bidirectional=True), [2, 4, 1, 3], False),
    ("LSTM", dict(batch_first=True, proj_size=2), [3, 3, 1], True),
    ("GRU", dict(num_layers=2), [1, 4, 2, 4], False),
    ("GRU", dict(bidirectional=True, batch_first=True), [4, 3, 3, 2], True),
    ("RNN", dict(nonlinearity="relu", bidirectional=True), [3, 1, 4], False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize(
    "cls,kw,lengths,enforce",
    RNN_CASES,
    ids=[f"{c}{sorted(k.items())}{lens}" for c, k, lens, _ in RNN_CASES],
)
def test_recurrent_layers_on_packed_input_match_torch(cls, kw, lengths, enforce, with_hx, dtype,
                                                      rng):  # fmt: skip
    if enforce:
        lengths = sorted(lengths, reverse=True)
    am, tm = _recurrent_pair(cls, dtype, rng, **kw)
    b, t = len(lengths), max(lengths)
    bf = kw.get("batch_first", False)
    x = rng.normal(size=(b, t, 3) if bf else (t, b, 3)).astype(dtype)
    xa, xt = at.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pa = rnn.pack_padded_sequence(xa, lengths, batch_first=bf, enforce_sorted=enforce)
    pt = trnn.pack_padded_sequence(xt, lengths, batch_first=bf, enforce_sorted=enforce)
    hx_a = hx_t = None
    if with_hx:
        n = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        hs = [rng.normal(size=(n, b, kw.get("proj_size") or 5)).astype(dtype)]
        if cls == "LSTM":
            hs.append(rng.normal(size=(n, b, 5)).astype(dtype))
        ha = [at.tensor(h, requires_grad=True) for h in hs]
        ht = [torch.tensor(h, requires_grad=True) for h in hs]
        hx_a, hx_t = (tuple(ha), tuple(ht)) if cls == "LSTM" else (ha[0], ht[0])
    oa, sa = am(pa, hx_a)
    ot, st = tm(pt, hx_t)
    assert isinstance(oa, rnn.PackedSequence)
    _close(oa.data, ot.data, dtype, "output data")
    np.testing.assert_array_equal(oa.batch_sizes.numpy(), ot.batch_sizes.numpy())
    states_a = list(sa) if cls == "LSTM" else [sa]
    states_t = list(st) if cls == "LSTM" else [st]
    for a, tt in zip(states_a, states_t):
        _close(a, tt, dtype, "final state")
    ya, _ = rnn.pad_packed_sequence(oa, batch_first=bf)
    yt, _ = trnn.pad_packed_sequence(ot, batch_first=bf)
    loss_a = (ya * ya).sum() + sum((s * s).sum() for s in states_a)
    loss_t = (yt * yt).sum() + sum((s * s).sum() for s in states_t)
    loss_a.backward()
    loss_t.backward()
    _close(xa.grad, xt.grad, dtype, "input grad")
    tp = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        _close(p.grad, tp[name].grad, dtype, name)
    if with_hx:
        for a, tt in zip(ha, ht):
            _close(a.grad, tt.grad, dtype, "hx grad")


def test_packed_lstm_over_random_lengths():
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies

    @hyp.settings(max_examples=15)
    @hyp.given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=5),
               bidirectional=st.booleans(), seed=st.integers(0, 2**16))  # fmt: skip
    def check(lengths, bidirectional, seed):
        rng = np.random.default_rng(seed)
        am, tm = _recurrent_pair("LSTM", np.float64, rng, bidirectional=bidirectional)
        x = rng.normal(size=(max(lengths), len(lengths), 3))
        pa = rnn.pack_padded_sequence(at.tensor(x), lengths, enforce_sorted=False)
        pt = trnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False)
        (oa, (ha, ca)), (ot, (ht, ct)) = am(pa), tm(pt)
        _close(oa.data, ot.data, np.float64)
        _close(ha, ht, np.float64)
        _close(ca, ct, np.float64)

    check()


def test_packing_errors():
    x = at.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match="greater than 0"):
        rnn.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(RuntimeError, match="one length per sequence"):
        rnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(RuntimeError, match="exceeds the padded length"):
        rnn.pack_padded_sequence(x, [5, 2, 1])
    packed = rnn.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        rnn.pad_packed_sequence(packed, total_length=3)

"""Fused recurrent primitives: one Elman RNN, GRU or LSTM layer over a whole sequence.

A recurrent layer composed from elementwise primitives records ~15 graph nodes per time
step and runs the backward sweep over all of them in Python; for a 64-step sequence that
overhead, not the arithmetic, dominates. These primitives run the time loop in numpy:

- forward: the input projections of all steps in ONE GEMM before the loop (a column of
  ones appended to x carries the biases), one GEMM per step for all gates, and the gate
  activations of every step kept for backward;
- backward: the reverse loop in numpy (one GEMM per step carries the gradient to the
  previous hidden state), then the weight gradients as one GEMM over all steps:
  [dW_ih | db | dW_hh] = sum_t dZ_t^T [x_t | 1 | h_{t-1}], a (G, T*B) @ (T*B, I+1+H)
  product, and dx = dZ W_ih another.

Their backward works on raw arrays, so `differentiable_backward = False` (torch's
once_differentiable): create_graph through them raises. The composed layers in
`nn.recurrent`, built from primitives and differentiable to any order, are the reference
the tests compare these against, and what `nn` uses when asked not to fuse.

Gate layouts are PyTorch's: the rows of w_ih / w_hh are the gates stacked in the order
RNN: (h), GRU: (r, z, n), LSTM: (i, f, g, o).

Shapes: x is (T, B, I), or (B, T, I) with batch_first=True; `out` has x's layout. Internal
per-step buffers are time-major (and feature-major in the LSTM, Note [feature-major steps]).
h0 / c0 may be None (zeros).

Note [sigmoid through tanh]: sigmoid(z) = 0.5 * tanh(z / 2) + 0.5 exactly, and scaling by
0.5 is exact in binary floating point. So the weight rows of the sigmoid gates are halved
once per call, after which one `tanh` over the whole (B, gates) block and one multiply-add
with per-column constants yield every activation of a step: 3 ufunc calls instead of one
or more per gate. The two forms agree to rounding; the tanh form never overflows.

Note [LSTM gate rows]: inside LSTMLayer the gate blocks are in the order (i, f, o, g), the
three sigmoid gates first, and the weight rows of those three are negated (exact) so that a
step's pre-activations hold -z there: 1 / (1 + exp(-z)) is then three ufunc calls over one
contiguous (3H, B) block, and `tanh` runs over the g block alone. numpy's float32 exp costs
half its tanh here (measured 1.3 against 2.6 ns per element; the forward of the char-LSTM
workload, 64 steps of (512, 32) gates, 10.8 -> 9.4 ms). exp(-z) overflows to inf for
z < -88 (float32), where 1 / (1 + inf) = 0 is within 1e-38 of the sigmoid. Backward
works on gradients with respect to z itself, in the same row order, and puts the weight
gradient's rows back into torch's order at the end.

Note [workspace]: a fresh multi-megabyte numpy array is fresh memory from the operating
system, and faulting its pages in on first write cost about a quarter of the LSTM backward.
The large work arrays (gate activations kept from forward to backward, scratch arrays of
backward) are therefore recycled through `_WORKSPACE`. They never leave the primitive:
returned outputs and gradients are always fresh arrays. Scratch arrays go back at the end of
backward; the arrays a node keeps for backward go back when the node itself is released.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from autotensor.function import Function
from autotensor.tensor import _new
from autotensor.testing.sample import Sample


class _Workspace:
    """Free lists of work arrays keyed by (shape, dtype), holding at most `max_bytes`."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._free: dict = {}
        self._bytes = 0

    def take(self, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of this shape and dtype (recycled when one is free)."""
        lst = self._free.get((shape, dtype))
        if lst:
            try:
                a = lst.pop()
            except IndexError:  # emptied by another thread meanwhile
                return np.empty(shape, dtype)
            self._bytes -= a.nbytes
            return a
        return np.empty(shape, dtype)

    def give(self, *arrays: np.ndarray | None) -> None:
        """Hand arrays back for reuse; the caller must hold no other reference to them."""
        for a in arrays:
            if a is None or self._bytes + a.nbytes > self.max_bytes:
                continue
            self._free.setdefault((a.shape, a.dtype), []).append(a)
            self._bytes += a.nbytes

    def clear(self) -> None:
        self._free.clear()
        self._bytes = 0


_WORKSPACE = _Workspace()


class _FusedLayer(Function):
    """Shared base: the arrays a node keeps for backward (`_bufs`) return to the workspace
    when the node is released (Note [workspace])."""

    _bufs: tuple = ()
    hs: np.ndarray  # the hidden states of every step, set by forward
    # Checked by tests/test_primitives.py: sample shapes this primitive cannot take, and why.
    shape_exemptions = {"0-d": "a recurrent layer takes (T, N, I) sequences"}
    # Note [per-step records]: the visualiser draws a fused layer as its time steps. Setting
    # `record_steps = True` on a node (autotensor.viz.trace does) makes its backward store
    # in `step_grads` the L2 norm of each per-step gradient it computes anyway, one float per
    # step and tensor; the default path pays one attribute read per backward call.
    record_steps = False
    step_grads: dict | None = None
    # names of the per-step tensors, in drawing order: gate activations, then states
    step_names: tuple = ()

    def step_values(self) -> dict[str, np.ndarray] | None:
        """The per-step tensors forward kept for backward, time-major: name -> (T, B, n)
        view, indexed by time step (not processing order); None once released."""
        return None

    def __del__(self) -> None:
        if self._bufs:
            try:
                _WORKSPACE.give(*self._bufs)
            except Exception:  # interpreter shutdown: nothing to recycle into
                pass


# -- helpers ---------------------------------------------------------------------------------
def _norm(a: np.ndarray) -> float:
    """L2 norm over all entries (Note [per-step records])."""
    return float(np.linalg.norm(a.reshape(-1)))


def _step_record(names: tuple, T: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(T) for k in names}


def _tensors(*grads: np.ndarray | None) -> tuple:
    """Gradients as Tensors (None stays None), as the engine expects from a backward."""
    return tuple(None if g is None else _new(g) for g in grads)


def _check_dtypes(op: str, arrays: dict) -> np.dtype:
    dts = {name: a.dtype for name, a in arrays.items() if a is not None}
    kinds = set(dts.values())
    if len(kinds) != 1 or next(iter(kinds)).kind != "f":
        desc = ", ".join(f"{k}: {v}" for k, v in dts.items())
        raise TypeError(f"{op}: all inputs must share one floating dtype, got {desc}")
    return next(iter(kinds))


def _check_shape(op: str, name: str, a: np.ndarray | None, expected: tuple) -> None:
    if a is not None and a.shape != expected:
        raise RuntimeError(f"{op}: {name} must have shape {expected}, got {a.shape}")


def _sizes(op: str, x: np.ndarray, w_ih: np.ndarray, n_gates: int, batch_first: bool) -> tuple:
    """(T, B, I, H) from x and w_ih, with the shape errors named."""
    if x.ndim != 3:
        layout = "(B, T, input_size)" if batch_first else "(T, B, input_size)"
        raise RuntimeError(f"{op}: x must be {layout}, got shape {x.shape}")
    B, T, I = x.shape if batch_first else (x.shape[1], x.shape[0], x.shape[2])
    if T == 0:
        raise RuntimeError(f"{op}: the sequence is empty (x has shape {x.shape})")
    if w_ih.ndim != 2 or w_ih.shape[1] != I or w_ih.shape[0] % n_gates:
        raise RuntimeError(
            f"{op}: w_ih must be ({n_gates} * hidden_size, {I}) for x of shape {x.shape}, "
            f"got {w_ih.shape}"
        )
    return T, B, I, w_ih.shape[0] // n_gates


def _time_major(a: np.ndarray | None, batch_first: bool) -> np.ndarray | None:
    """A (T, B, ...) view of an array laid out like x."""
    return a.swapaxes(0, 1) if batch_first and a is not None else a


def _steps(T: int, reverse: bool, backward: bool = False) -> range:
    """Time indices in processing order (forward), or its reverse (backward)."""
    fwd = range(T - 1, -1, -1) if reverse else range(T)
    return fwd[::-1] if backward else fwd


def _inputs_with_ones(x: np.ndarray, batch_first: bool, extra: int) -> np.ndarray:
    """A workspace array A (T*B, I + 1 + extra), rows in time-major order: A[:, :I] = x,
    A[:, I] = 1, A[:, I+1:] left for the caller (the previous hidden states, in backward).

    With the ones column the biases ride along in the GEMMs: [x | 1] @ [W_ih | b]^T is the
    input projection plus bias, and dZ^T @ [x | 1 | h_prev] is [dW_ih | db | dW_hh] at once.
    """
    T, B, I = x.shape[1::-1] + x.shape[2:] if batch_first else x.shape
    a = _WORKSPACE.take((T * B, I + 1 + extra), x.dtype)
    a.reshape(T, B, a.shape[1])[..., :I] = _time_major(x, batch_first)
    a[:, I] = 1
    return a


def _fill_prev(a: np.ndarray, hs: np.ndarray, h0: np.ndarray | None, reverse: bool) -> None:
    """Write into the last columns of `a` (rows in time-major order) the state each step
    consumed: h_{t-1} in processing order, h0 (or zeros) for the first step processed."""
    T, B, P = hs.shape
    prev = a.reshape(T, B, a.shape[1])[..., a.shape[1] - P :]
    first, rest, src = (T - 1, slice(None, -1), hs[1:]) if reverse else (0, slice(1, None),
                                                                         hs[:-1])  # fmt: skip
    prev[first] = 0 if h0 is None else h0
    prev[rest] = src


def _weights_with_bias(w: np.ndarray, b: np.ndarray | None, scale: np.ndarray) -> np.ndarray:
    """[w * scale | b * scale] (G, I + 1): the input-side weights with the bias column."""
    out = np.empty((w.shape[0], w.shape[1] + 1), w.dtype)
    np.multiply(w, scale[:, None], out=out[:, :-1])
    out[:, -1] = 0 if b is None else b * scale
    return out


@functools.lru_cache(maxsize=16)
def _lstm_rows(H: int) -> np.ndarray:
    """Row indices taking torch's gate blocks (i, f, g, o) to the internal order (i, f, o, g)
    (Note [LSTM gate rows]); the permutation is its own inverse. Cached (np.r_ costs tens
    of microseconds, twice per training step) and read-only, since callers share it."""
    rows = np.r_[0 : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]
    rows.flags.writeable = False
    return rows


def _batch_major(a: np.ndarray, batch_first: bool) -> np.ndarray:
    """A fresh array from a time-major one, laid out as the caller's x."""
    return np.ascontiguousarray(a.swapaxes(0, 1)) if batch_first else a


def _layer_samples(rng: np.random.Generator, n_gates: int) -> Iterator:
    """Small float64 cases: (x, h0, [c0,] w_ih, w_hh, b_ih, b_hh[, w_hr]) and flags."""
    u = rng.uniform
    T, B, I, H = 3, 2, 3, 2
    lstm = n_gates == 4

    def case(T: int, B: int, H: int, bias: bool = True, P: int | None = None) -> list:
        P = H if P is None else P
        args: list[np.ndarray | None] = [u(-1, 1, (T, B, I)), u(-1, 1, (B, P))]
        if lstm:
            args.append(u(-1, 1, (B, H)))
        args += [u(-0.8, 0.8, (n_gates * H, I)), u(-0.8, 0.8, (n_gates * H, P))]
        args += [u(-0.5, 0.5, (n_gates * H,)), u(-0.5, 0.5, (n_gates * H,))] if bias else [None] * 2
        if lstm:
            args.append(u(-0.8, 0.8, (P, H)) if P != H else None)
        return args

    yield Sample(*case(T, B, H), reverse=False)
    yield Sample(*case(T, B, H), reverse=True, note="reverse")
    yield Sample(*case(T, B, H, bias=False), reverse=False, note="no bias")
    a = case(T, B, H)
    a[0] = np.ascontiguousarray(a[0].transpose(1, 0, 2))
    yield Sample(*a, reverse=True, batch_first=True, note="batch_first, reverse")
    a = case(T, B, H)
    a[3 if lstm else 2] = u(-0.8, 0.8, (I, n_gates * H)).T  # w_ih as a transposed view
    yield Sample(*a, reverse=False, note="transposed w_ih")
    a = case(1, 1, H)
    yield Sample(*a, nondiff=(1, 2) if lstm else (1,), reverse=False,
                 note="size-1: one step, batch 1, constant initial state")  # fmt: skip
    a = case(T, B, H)
    a[1 : 3 if lstm else 2] = [None] * (2 if lstm else 1)
    yield Sample(*a, reverse=False, note="no initial state (zeros)")
    yield Sample(*case(T, 0, H), reverse=False, note="empty batch")
    if lstm:
        yield Sample(*case(T, B, 3, P=2), reverse=True, note="projection")


# -- Elman RNN -------------------------------------------------------------------------------
class RNNLayer(_FusedLayer):
    """Elman RNN layer over a sequence: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),
    act = tanh or relu.

    Shapes: x (T, B, I) (or (B, T, I) with batch_first), h0 (B, H) or None, w_ih (H, I),
    w_hh (H, H), b_ih, b_hh (H,) or None -> out (T, B, H) (h_t at every step, laid out like
    x), h_n (B, H) (the last state processed: h_{T-1}, or h_0 with reverse=True, which runs
    t = T-1 .. 0).

    Backward: with dz_t = (g_out_t + dh_t) * act'(h_t), dh_{t-1} = dz_t W_hh; then
    [dW_ih | db | dW_hh] = sum_t dz_t^T [x_t | 1 | h_{t-1}] in one GEMM, dx_t = dz_t W_ih.
    """

    takes_arrays = True
    differentiable_backward = False
    step_names = ("h",)

    def step_values(self) -> dict[str, np.ndarray] | None:
        hs = getattr(self, "hs", None)
        return None if hs is None else {"h": hs}

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh",
                reverse=False, batch_first=False):  # fmt: skip
        op = "RNNLayer"
        dt = _check_dtypes(op, {"x": x, "h0": h0, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih,
                                "b_hh": b_hh})  # fmt: skip
        T, B, I, H = _sizes(op, x, w_ih, 1, batch_first)
        _check_shape(op, "h0", h0, (B, H))
        _check_shape(op, "w_hh", w_hh, (H, H))
        _check_shape(op, "b_ih", b_ih, (H,))
        _check_shape(op, "b_hh", b_hh, (H,))
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{op}: unknown nonlinearity {nonlinearity!r}")
        xa = _inputs_with_ones(x, batch_first, H)
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        w1 = _weights_with_bias(w_ih, bias, np.ones(H, dt))
        # h_t, time-major; the pre-activations are written here first and activated in place
        hs = _WORKSPACE.take((T, B, H), dt) if batch_first else np.empty((T, B, H), dt)
        np.matmul(xa[:, : I + 1], w1.T, out=hs.reshape(T * B, H))
        whh_t = w_hh.T
        h = h0
        tanh = nonlinearity == "tanh"
        for t in _steps(T, reverse):
            z = hs[t]
            if h is not None:
                z += h @ whh_t
            if tanh:
                np.tanh(z, out=z)
            else:
                np.maximum(z, 0, out=z)
            h = z
        out = _batch_major(hs, batch_first)
        ctx._bufs = (xa, hs) if batch_first else (xa,)
        ctx.hs = hs
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.flags = (tanh, reverse, batch_first, b_ih is not None, b_hh is not None)
        ctx.seq_info = (T, reverse)  # for drawing the layer as its steps
        ctx.set_materialize_grads(False)
        return out, h.copy()

    @staticmethod
    def backward(ctx, g_out, g_hn):
        x, h0, w_ih, w_hh, out = (getattr(s, "_data", s) for s in ctx.saved_tensors)
        xa, hs = ctx._bufs[0], ctx.hs
        tanh, reverse, bf, has_bih, has_bhh = ctx.flags
        T, B, H = hs.shape
        I = xa.shape[1] - 1 - H
        dt = hs.dtype
        dz = _WORKSPACE.take(hs.shape, dt)  # act'(h), then times the incoming gradient
        if tanh:
            np.multiply(hs, hs, out=dz)
            np.subtract(1, dz, out=dz)
        else:
            np.greater(hs, 0, out=dz, casting="unsafe")
        dh = np.zeros((B, H), dt) if g_hn is None else g_hn._data.copy()
        go = None if g_out is None else _time_major(g_out._data, bf)
        rec = _step_record(("h", "z"), T) if ctx.record_steps else None
        for t in _steps(T, reverse, backward=True):
            if go is not None:
                dh += go[t]
            d = dz[t]
            d *= dh
            if rec is not None:  # gradients of h_t and of its pre-activation
                rec["h"][t] = _norm(dh)
                rec["z"][t] = _norm(d)
            dh = d @ w_hh
        ctx.step_grads = rec
        need = ctx.needs_input_grad
        flat = dz.reshape(T * B, H)
        dx = _batch_major((flat @ w_ih).reshape(T, B, I), bf) if need[0] else None
        dw_ih = dw_hh = db_ih = db_hh = None
        if need[2] or need[3] or need[4] or need[5]:
            _fill_prev(xa, hs, h0, reverse)
            allw = flat.T @ xa  # [dW_ih | db | dW_hh] in one GEMM
            dw_ih = allw[:, :I].copy() if need[2] else None
            db_ih = allw[:, I].copy() if has_bih and need[4] else None
            dw_hh = allw[:, I + 1 :].copy() if need[3] else None
            db_hh = allw[:, I].copy() if has_bhh and need[5] else None
        _WORKSPACE.give(dz)
        return _tensors(dx, dh if need[1] else None, dw_ih, dw_hh, db_ih, db_hh)

    @staticmethod
    def sample_inputs(rng):
        yield from _layer_samples(rng, 1)
        s = next(_layer_samples(rng, 1))
        yield Sample(*s.args, nonlinearity="relu", note="relu")


# -- GRU -------------------------------------------------------------------------------------
class GRULayer(_FusedLayer):
    """GRU layer over a sequence (PyTorch's formulation, gates r, z, n):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    Shapes: x (T, B, I) (or (B, T, I) with batch_first), h0 (B, H) or None, w_ih (3H, I),
    w_hh (3H, H), b_ih, b_hh (3H,) or None -> out (T, B, H) laid out like x, h_n (B, H).
    reverse=True runs t = T-1 .. 0.

    Backward per step (dh = g_out_t + carried gradient): dn = dh (1 - z) (1 - n^2),
    dz = dh (h - n) z (1 - z), dr = dn (W_hn h + b_hn) r (1 - r); the input-side gate
    gradient is (dr, dz, dn), the hidden-side one (dr, dz, dn * r), and
    dh_{t-1} = dh z + (dr, dz, dn r) W_hh. Weight gradients are GEMMs over all steps.
    """

    takes_arrays = True
    differentiable_backward = False

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False,
                batch_first=False):  # fmt: skip
        op = "GRULayer"
        dt = _check_dtypes(op, {"x": x, "h0": h0, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih,
                                "b_hh": b_hh})  # fmt: skip
        T, B, I, H = _sizes(op, x, w_ih, 3, batch_first)
        _check_shape(op, "h0", h0, (B, H))
        _check_shape(op, "w_hh", w_hh, (3 * H, H))
        _check_shape(op, "b_ih", b_ih, (3 * H,))
        _check_shape(op, "b_hh", b_hh, (3 * H,))
        H2 = 2 * H
        # Note [sigmoid through tanh]: r and z rows halved (exact), n rows unchanged.
        scale = np.ones(3 * H, dt)
        scale[:H2] = 0.5
        xa = _inputs_with_ones(x, batch_first, 0)
        gx = _WORKSPACE.take((T, B, 3 * H), dt)  # input-side pre-activations
        np.matmul(xa, _weights_with_bias(w_ih, b_ih, scale).T, out=gx.reshape(T * B, 3 * H))
        whh_t = (w_hh * scale[:, None]).T
        # the hidden-side bias, materialised: a same-shape add is ~3x faster than a broadcast
        bhh = np.broadcast_to(b_hh * scale if b_hh is not None else np.zeros(3 * H, dt),
                              (B, 3 * H)).copy()  # fmt: skip
        rz = _WORKSPACE.take((T, B, H2), dt)  # r, z after their sigmoids
        ns = _WORKSPACE.take((T, B, H), dt)  # n
        ghn = _WORKSPACE.take((T, B, H), dt)  # W_hn h + b_hn, needed for dr
        hs = _WORKSPACE.take((T, B, H), dt) if batch_first else np.empty((T, B, H), dt)
        h = np.zeros((B, H), dt) if h0 is None else h0
        for t in _steps(T, reverse):
            gh = h @ whh_t
            gh += bhh
            a = rz[t]
            np.add(gx[t, :, :H2], gh[:, :H2], out=a)
            np.tanh(a, out=a)
            a *= 0.5
            a += 0.5
            ghn[t] = gh[:, H2:]
            n = ns[t]
            np.multiply(a[:, :H], gh[:, H2:], out=n)
            n += gx[t, :, H2:]
            np.tanh(n, out=n)
            hn = hs[t]
            np.subtract(h, n, out=hn)  # h' = n + z (h - n)
            hn *= a[:, H:]
            hn += n
            h = hn
        _WORKSPACE.give(gx)
        out = _batch_major(hs, batch_first)
        ctx._bufs = (xa, rz, ns, ghn, hs) if batch_first else (xa, rz, ns, ghn)
        ctx.hs = hs
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.flags = (reverse, batch_first, b_ih is not None, b_hh is not None)
        ctx.seq_info = (T, reverse)  # for drawing the layer as its steps
        ctx.set_materialize_grads(False)
        return out, h.copy()

    @staticmethod
    def backward(ctx, g_out, g_hn):
        x, h0, w_ih, w_hh, out = (getattr(s, "_data", s) for s in ctx.saved_tensors)
        xa, rz, ns, ghn = ctx._bufs[:4]
        hs = ctx.hs
        reverse, bf, has_bih, has_bhh = ctx.flags
        T, B, H = ns.shape
        I = xa.shape[1] - 1
        H2, N = 2 * H, T * B
        dt = hs.dtype
        ws = _WORKSPACE
        ha = ws.take((N, H + 1), dt)  # [h_prev | 1]: the hidden side's weights and bias
        ha[:, H] = 1
        _fill_prev(ha[:, :H], hs, h0, reverse)
        prev = ha[:, :H].reshape(T, B, H)
        # Factors of the per-step products, for all steps at once (vectorised outside the loop)
        d_rz = ws.take(rz.shape, dt)
        np.multiply(rz, rz, out=d_rz)
        np.subtract(rz, d_rz, out=d_rz)  # sigmoid' = s (1 - s)
        d_n = ws.take(ns.shape, dt)
        np.multiply(ns, ns, out=d_n)
        np.subtract(1, d_n, out=d_n)  # tanh' = 1 - n^2
        one_minus_z = ws.take(ns.shape, dt)
        np.subtract(1, rz[..., H:], out=one_minus_z)
        h_minus_n = ws.take(ns.shape, dt)
        np.subtract(prev, ns, out=h_minus_n)
        dgx = ws.take((T, B, 3 * H), dt)  # gradient of the input-side pre-activations
        dgh = ws.take((T, B, 3 * H), dt)  # ... and of the hidden-side ones
        dh = np.zeros((B, H), dt) if g_hn is None else g_hn._data.copy()
        go = None if g_out is None else _time_major(g_out._data, bf)
        rec = _step_record(("r", "z", "n", "h"), T) if ctx.record_steps else None
        for t in _steps(T, reverse, backward=True):
            if go is not None:
                dh += go[t]
            g = dgx[t]
            dn = g[:, H2:]
            np.multiply(dh, one_minus_z[t], out=dn)
            if rec is not None:  # gradients of h_t and of the gate activations
                rec["h"][t] = _norm(dh)
                rec["n"][t] = _norm(dn)
            dn *= d_n[t]
            dzr = g[:, :H2]
            np.multiply(dn, ghn[t], out=dzr[:, :H])  # dr (before sigmoid')
            np.multiply(dh, h_minus_n[t], out=dzr[:, H:])  # dz (before sigmoid')
            if rec is not None:
                rec["r"][t] = _norm(dzr[:, :H])
                rec["z"][t] = _norm(dzr[:, H:])
            dzr *= d_rz[t]
            gh = dgh[t]
            gh[:, :H2] = dzr
            np.multiply(dn, rz[t, :, :H], out=gh[:, H2:])
            dh *= rz[t, :, H:]
            dh += gh @ w_hh
        need = ctx.needs_input_grad
        flat_x = dgx.reshape(N, 3 * H)
        flat_h = dgh.reshape(N, 3 * H)
        dx = _batch_major((flat_x @ w_ih).reshape(T, B, I), bf) if need[0] else None
        dw_ih = db_ih = dw_hh = db_hh = None
        if need[2] or need[4]:
            gi = flat_x.T @ xa  # [dW_ih | db_ih]
            dw_ih = gi[:, :I].copy() if need[2] else None
            db_ih = gi[:, I].copy() if has_bih and need[4] else None
        if need[3] or need[5]:
            gw = flat_h.T @ ha  # [dW_hh | db_hh]
            dw_hh = gw[:, :H].copy() if need[3] else None
            db_hh = gw[:, H].copy() if has_bhh and need[5] else None
        ctx.step_grads = rec
        ws.give(ha, d_rz, d_n, one_minus_z, h_minus_n, dgx, dgh)
        return _tensors(dx, dh if need[1] else None, dw_ih, dw_hh, db_ih, db_hh)

    @staticmethod
    def sample_inputs(rng):
        return _layer_samples(rng, 3)

    step_names = ("r", "z", "n", "h")

    def step_values(self) -> dict[str, np.ndarray] | None:
        if not self._bufs:
            return None
        rz, ns = self._bufs[1], self._bufs[2]
        H = ns.shape[2]
        return {"r": rz[..., :H], "z": rz[..., H:], "n": ns, "h": self.hs}


# -- LSTM ------------------------------------------------------------------------------------
class LSTMLayer(_FusedLayer):
    """LSTM layer over a sequence (PyTorch's formulation, gates i, f, g, o):

        (i, f, g, o) = (sigmoid, sigmoid, tanh, sigmoid)(W_ih x + b_ih + W_hh h + b_hh)
        c' = f * c + i * g
        h' = o * tanh(c')            (with w_hr: h' = (o * tanh(c')) W_hr^T, the projection)

    Shapes: x (T, B, I) (or (B, T, I) with batch_first), h0 (B, P) or None, c0 (B, H) or
    None, w_ih (4H, I), w_hh (4H, P), b_ih, b_hh (4H,) or None, w_hr (P, H) or None (P = H
    without it) -> out (T, B, P) laid out like x, h_n (B, P), c_n (B, H).
    reverse=True runs t = T-1 .. 0.

    Backward per step (dh = g_out_t + carried gradient, m = o tanh(c), dm = dh or dh W_hr):
    do = dm tanh(c), dc += dm o (1 - tanh(c)^2), di = dc g, df = dc c_{t-1}, dg = dc i,
    each times its activation's derivative to give dZ_t; dc_{t-1} = dc f and
    dh_{t-1} = dZ_t W_hh. After the loop, [dW_ih | db | dW_hh] = sum_t dZ_t^T [x_t | 1 |
    h_{t-1}] is one GEMM, and dx = dZ W_ih another.

    Note [feature-major steps]: inside the time loop every per-step array is kept
    transposed, features x batch: the gates of a step are one (4H, B) block whose gate
    sub-blocks (H, B) are contiguous, and the states are (H, B). Elementwise work on a
    contiguous block costs a third of the same work on a column block of a (B, 4H) array
    (numpy walks the latter row by row), and the step GEMM W_hh (4H, P) @ h (P, B) is no
    slower than h (B, P) @ W_hh^T. The big products before and after the loop are unchanged
    in cost; a few transposing copies (~1 MB) connect the two layouts.
    """

    takes_arrays = True
    differentiable_backward = False
    step_names = ("i", "f", "g", "o", "c", "h")

    def step_values(self) -> dict[str, np.ndarray] | None:
        if not self._bufs:
            return None
        acts, cs, hs = self._bufs[1], self._bufs[2], self._bufs[4]
        H = cs.shape[1]
        out = {k: acts[:, j * H : (j + 1) * H].transpose(0, 2, 1) for j, k in enumerate("ifog")}
        out["c"] = cs.transpose(0, 2, 1)
        out["h"] = hs.transpose(0, 2, 1)
        return out

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, reverse=False,
                batch_first=False):  # fmt: skip
        op = "LSTMLayer"
        dt = _check_dtypes(op, {"x": x, "h0": h0, "c0": c0, "w_ih": w_ih, "w_hh": w_hh,
                                "b_ih": b_ih, "b_hh": b_hh, "w_hr": w_hr})  # fmt: skip
        T, B, I, H = _sizes(op, x, w_ih, 4, batch_first)
        P = H if w_hr is None else w_hr.shape[0]
        _check_shape(op, "w_hr", w_hr, (P, H))
        _check_shape(op, "h0", h0, (B, P))
        _check_shape(op, "c0", c0, (B, H))
        _check_shape(op, "w_hh", w_hh, (4 * H, P))
        _check_shape(op, "b_ih", b_ih, (4 * H,))
        _check_shape(op, "b_hh", b_hh, (4 * H,))
        H2, H3, G = 2 * H, 3 * H, 4 * H
        ws = _WORKSPACE
        # Note [LSTM gate rows]: the gates in the order (i, f, o, g), the sigmoid rows negated.
        rows = _lstm_rows(H)
        sign = np.ones(G, dt)
        sign[:H3] = -1
        # xk (I + 1 + P, T, B): the rows of x^T, a row of ones (the biases ride along in the
        # GEMMs), and room for the previous states h_{t-1}^T, filled in backward, so that
        # [dW_ih | db | dW_hh] = dZ @ xk^T is a single GEMM there.
        xk = ws.take((I + 1 + P, T, B), dt)
        xk[:I] = x.transpose(2, 1, 0) if batch_first else x.transpose(2, 0, 1)
        xk[I] = 1
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        acts = ws.take(
            (T, G, B), dt
        )  # pre-activations, then activations (Note [feature-major steps])
        xt = ws.take((T, I + 1, B), dt)  # [x_t^T; 1] per step, contiguous for the batched GEMM
        xt[...] = xk[: I + 1].transpose(1, 0, 2)
        w1 = _weights_with_bias(w_ih[rows], None if bias is None else bias[rows], sign)
        np.matmul(w1, xt, out=acts)  # T GEMMs (G, I+1, B)
        ws.give(xt)
        whh = w_hh[rows] * sign[:, None]  # (G, P), C-contiguous
        cs = ws.take((T, H, B), dt)
        tcs = ws.take((T, H, B), dt)  # tanh(c)
        hs = ws.take((T, P, B), dt)
        ms = hs if w_hr is None else ws.take((T, H, B), dt)  # o * tanh(c)
        out = np.empty((B, T, P) if batch_first else (T, B, P), dt)
        out_t = out.swapaxes(0, 1) if batch_first else out  # (T, B, P) view
        ig = np.empty((H, B), dt)
        rec_gemm = np.empty((G, B), dt)  # W_hh h_{t-1}, one buffer for every step
        h = None if h0 is None else h0.T
        c = None if c0 is None else c0.T
        with np.errstate(over="ignore"):  # exp(-z) = inf for z << 0: sigmoid(z) = 0, exact
            for t in _steps(T, reverse):
                a = acts[t]
                if h is not None:
                    np.matmul(whh, h, out=rec_gemm)
                    a += rec_gemm
                s = a[:H3]  # -z of i, f, o: sigmoid(z) = 1 / (1 + exp(-z))
                np.exp(s, out=s)
                s += 1
                np.reciprocal(s, out=s)
                g = np.tanh(a[H3:], out=a[H3:])
                ct = cs[t]
                if c is not None:
                    np.multiply(a[H:H2], c, out=ct)
                    np.multiply(a[:H], g, out=ig)
                    ct += ig
                else:
                    np.multiply(a[:H], g, out=ct)
                tc = np.tanh(ct, out=tcs[t])
                np.multiply(a[H2:H3], tc, out=ms[t])
                if w_hr is not None:
                    np.matmul(w_hr, ms[t], out=hs[t])
                h, c = hs[t], ct
                out_t[t] = h.T  # a small transposing copy per step (cache-warm) beats one large
        ctx._bufs = (xk, acts, cs, tcs, hs) + (() if w_hr is None else (ms,))
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, w_hr, out)
        ctx.flags = (reverse, batch_first, b_ih is not None, b_hh is not None)
        ctx.seq_info = (T, reverse)  # for drawing the layer as its steps
        ctx.set_materialize_grads(False)
        return out, h.T.copy(), c.T.copy()

    @staticmethod
    def backward(ctx, g_out, g_hn, g_cn):
        x, h0, c0, w_ih, w_hh, w_hr, out = (getattr(s, "_data", s) for s in ctx.saved_tensors)
        xk, acts, cs, tcs, hs = ctx._bufs[:5]
        ms = ctx._bufs[5] if w_hr is not None else hs  # m = o tanh(c), as in forward
        reverse, bf, has_bih, has_bhh = ctx.flags
        T, H, B = cs.shape
        P = hs.shape[1]
        I = xk.shape[0] - 1 - P
        H2, H3, G, N = 2 * H, 3 * H, 4 * H, T * B
        dt = cs.dtype
        ws = _WORKSPACE
        # dZ, the gradient of the gate pre-activations, stored (G, T, B): as a (G, T*B)
        # matrix it feeds the products over all steps after the loop.
        dz = ws.take((G, T, B), dt)
        dh = np.zeros((P, B), dt) if g_hn is None else g_hn._data.T.copy()
        dc = np.zeros((H, B), dt) if g_cn is None else g_cn._data.T.copy()
        c_init = np.zeros((H, B), dt) if c0 is None else c0.T
        go = None
        if g_out is not None:  # the incoming gradient in the loop's layout, (T, P, B)
            go = ws.take((T, P, B), dt)
            go[...] = g_out._data.transpose(1, 2, 0) if bf else g_out._data.transpose(0, 2, 1)
        dhs = None if w_hr is None else ws.take((T, P, B), dt)  # gradient of each h_t
        rows = _lstm_rows(H)  # Note [LSTM gate rows]
        whh_t = np.ascontiguousarray(w_hh[rows].T)  # (P, G)
        whr_t = None if w_hr is None else np.ascontiguousarray(w_hr.T)  # (H, P)
        d = np.empty((G, B), dt)  # this step's gate gradients
        der = np.empty((G, B), dt)  # ... and activation derivatives
        tmp = np.empty((H, B), dt)
        dh_next = np.empty((P, B), dt)  # the step GEMM's output; swapped with dh each step
        first = T - 1 if reverse else 0
        step_back = 1 if reverse else -1
        # Everything per step works on cache-warm (H, B) / (G, B) blocks: computing the
        # activation derivatives here costs less than extra passes over the (T, G, B) arrays.
        rec = _step_record(("i", "f", "g", "o", "c", "h"), T) if ctx.record_steps else None
        for t in _steps(T, reverse, backward=True):
            if go is not None:
                dh += go[t]
            if dhs is not None:
                dhs[t] = dh
                dm = whr_t @ dh
            else:
                dm = dh
            a = acts[t]
            tc = tcs[t]
            np.multiply(dm, tc, out=d[H2:H3])  # do
            # dc += dm o (1 - tanh(c)^2), as dm (o - m tanh(c)) with the kept m = o tanh(c)
            np.multiply(ms[t], tc, out=tmp)
            np.subtract(a[H2:H3], tmp, out=tmp)
            tmp *= dm
            dc += tmp
            np.multiply(dc, a[H3:], out=d[:H])  # di
            np.multiply(dc, c_init if t == first else cs[t + step_back], out=d[H:H2])  # df
            np.multiply(dc, a[:H], out=d[H3:])  # dg
            if rec is not None:  # gradients of h_t, c_t and the gate activations
                rec["h"][t] = _norm(dh)
                rec["c"][t] = _norm(dc)
                for j, k in enumerate("ifog"):
                    rec[k][t] = _norm(d[j * H : (j + 1) * H])
            dc *= a[H:H2]
            np.multiply(a, a, out=der)
            np.subtract(1, der[H3:], out=der[H3:])  # tanh' = 1 - g^2
            np.subtract(a[:H3], der[:H3], out=der[:H3])  # sigmoid' = s - s^2
            d *= der
            dz[:, t] = d  # (a GEMM reading dz[:, t] in place, row stride T*B, is slower)
            np.matmul(whh_t, d, out=dh_next)
            dh, dh_next = dh_next, dh
        need = ctx.needs_input_grad
        dz2 = dz.reshape(G, N)  # columns in xk's (t, b) order
        dx = None
        if need[0]:
            dxt = (w_ih[rows].T @ dz2).reshape(I, T, B)
            dx = np.ascontiguousarray(dxt.transpose(2, 1, 0) if bf else dxt.transpose(1, 2, 0))
        dw_ih = dw_hh = db_ih = db_hh = None
        if need[3] or need[4] or need[5] or need[6]:
            prev = xk[I + 1 :]  # (P, T, B): the state each step consumed
            first_h = 0 if h0 is None else h0.T
            if reverse:
                prev[:, -1] = first_h
                prev[:, :-1] = hs[1:].transpose(1, 0, 2)
            else:
                prev[:, 0] = first_h
                prev[:, 1:] = hs[:-1].transpose(1, 0, 2)
            # [dW_ih | db | dW_hh] in one GEMM, its rows back in torch's gate order
            allw = (dz2 @ xk.reshape(xk.shape[0], N).T)[rows]
            dw_ih = allw[:, :I].copy() if need[3] else None
            db_ih = allw[:, I].copy() if has_bih and need[5] else None
            dw_hh = allw[:, I + 1 :].copy() if need[4] else None
            db_hh = allw[:, I].copy() if has_bhh and need[6] else None
        dw_hr = None
        if w_hr is not None and need[7]:
            dw_hr = dhs.transpose(1, 0, 2).reshape(P, N) @ ms.transpose(0, 2, 1).reshape(N, H)
        ctx.step_grads = rec
        ws.give(dz, go, dhs)
        return _tensors(dx, dh.T.copy() if need[1] else None, dc.T.copy() if need[2] else None,
                        dw_ih, dw_hh, db_ih, db_hh, dw_hr)  # fmt: skip

    @staticmethod
    def sample_inputs(rng):
        return _layer_samples(rng, 4)

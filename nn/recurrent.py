"""Recurrent layers with PyTorch's interface: `RNN`, `GRU`, `LSTM` and their cells.

Constructor arguments, parameter names and shapes, gate order (GRU: r, z, n; LSTM: i, f,
g, o), initialisation and return values are torch's, so a torch `state_dict` loads here
unchanged (and back).

Two implementations of the same mathematics:

- composed (`rnn_tanh_cell`, `rnn_relu_cell`, `gru_cell`, `lstm_cell` and the layer loop in
  `_run_composed`): built from autotensor primitives, so its gradient comes from theirs and
  is differentiable to any order. The cells use it. It is the reference.
- fused (`autotensor.ops.RNNLayer`, `GRULayer`, `LSTMLayer`): one primitive per layer and
  direction that runs the time loop in numpy, a few times faster in training. The layers use
  it by default; set `module.fused = False` to run the composed path instead (needed for
  double backward, which the fused primitives do not support).

Both compute the input-to-hidden products of all time steps in one GEMM before the loop, and
the hidden-to-hidden products of all gates of a step in one GEMM.
"""

from __future__ import annotations

import math
from typing import Any

import autotensor as at
from autotensor import functional as AF
from autotensor.ops.recurrent import GRULayer, LSTMLayer, RNNLayer
from autotensor.tensor import Tensor
from nn import functional as F
from nn import init
from nn.module import Module, Parameter
from nn.utils import rnn as rnn_utils

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase",
    "gru_cell", "lstm_cell", "rnn_relu_cell", "rnn_tanh_cell",
]  # fmt: skip

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}


# -- composed cells (the reference) ----------------------------------------------------------
def _rnn_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    """h' = act(gx + h W_hh^T + b_hh), where gx = x W_ih^T + b_ih was computed beforehand."""
    z = gx + AF.linear(h, w_hh, b_hh)
    return z.relu() if relu else z.tanh()


def _gru_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """One GRU step from the input projection gx = x W_ih^T + b_ih (B, 3H):

    r = sigmoid(gx_r + W_hr h + b_hr), z = sigmoid(gx_z + W_hz h + b_hz),
    n = tanh(gx_n + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.
    """
    gh = AF.linear(h, w_hh, b_hh)
    x_r, x_z, x_n = gx.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (1 - z) * n + z * h


def _lstm_step(gx: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None,
               w_hr: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One LSTM step from the input projection gx = x W_ih^T + b_ih (B, 4H):

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (gx + h W_hh^T + b_hh) split in four,
    c' = f * c + i * g, h' = o * tanh(c') (then h' W_hr^T with a projection).
    """
    gates = gx + AF.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = AF.linear(h, w_hr)
    return h, c


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:  # fmt: skip
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).  Shapes: x (B, I), h (B, H) -> (B, H)."""
    return _rnn_step(AF.linear(input, w_ih, b_ih), hx, w_hh, b_hh, relu=False)


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:  # fmt: skip
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh).  Shapes: x (B, I), h (B, H) -> (B, H)."""
    return _rnn_step(AF.linear(input, w_ih, b_ih), hx, w_hh, b_hh, relu=True)


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:  # fmt: skip
    """One GRU step (torch's formulation, see `_gru_step`).  Shapes: x (B, I), h (B, H),
    w_ih (3H, I), w_hh (3H, H) -> h' (B, H)."""
    return _gru_step(AF.linear(input, w_ih, b_ih), hx, w_hh, b_hh)


def lstm_cell(input: Tensor, hx: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              w_hr: Tensor | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One LSTM step (see `_lstm_step`).  Shapes: x (B, I), (h (B, P), c (B, H)),
    w_ih (4H, I), w_hh (4H, P), w_hr (P, H) or None (P = H) -> (h' (B, P), c' (B, H))."""
    h, c = hx
    return _lstm_step(AF.linear(input, w_ih, b_ih), h, c, w_hh, b_hh, w_hr)


# -- cells -----------------------------------------------------------------------------------
def _shape(t: Any) -> tuple:
    return tuple(t.shape)


class RNNCellBase(Module):
    """Shared parameters of the cells: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih,
    bias_hh (G*H,), all ~ U(-1/sqrt(H), 1/sqrt(H)) as torch."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        dt = at.get_default_dtype() if dtype is None else dtype
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(at.empty((g, input_size), dtype=dt))
        self.weight_hh = Parameter(at.empty((g, hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(at.empty((g,), dtype=dt))
            self.bias_hh = Parameter(at.empty((g,), dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prepare(self, input: Tensor, hx: Any, n_states: int) -> tuple[Tensor, list, bool]:
        """Checks shapes; returns the batched input, the batched states (zeros when hx is
        None) and whether the input was unbatched (1-D)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                f"(shape {_shape(input)})"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input has {input.shape[-1]} features (shape {_shape(input)}), "
                f"expected input_size={self.input_size}"
            )
        _check_dtype(name, input, self.weight_ih)
        unbatched = input.ndim == 1
        batch = 1 if unbatched else input.shape[0]
        if hx is None:
            states = [at.zeros((batch, self.hidden_size), dtype=input.dtype)] * n_states
        else:
            states = list(hx) if n_states == 2 else [hx]
            if len(states) != n_states:
                raise ValueError(f"{name}: hx must be a tuple (h, c), got {len(states)} tensors")
            want = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
            for k, s in enumerate(states):
                label = ("h", "c")[k] if n_states == 2 else "hx"
                if _shape(s) != want:
                    raise RuntimeError(
                        f"{name}: expected {label} of shape {want} for input of shape "
                        f"{_shape(input)}, got {_shape(s)}"
                    )
                _check_dtype(name, input, s, label)
            if unbatched:
                states = [s.unsqueeze(0) for s in states]
        if unbatched:
            input = input.unsqueeze(0)
        return input, states, unbatched


class RNNCell(RNNCellBase):
    """Elman RNN cell: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.

    Shapes: input (B, I) or (I,), hx (B, H) or (H,) (zeros when omitted) -> h' like hx.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        cell = rnn_relu_cell if self.nonlinearity == "relu" else rnn_tanh_cell
        h = cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class GRUCell(RNNCellBase):
    """GRU cell (gates r, z, n as torch; see `gru_cell`).

    Shapes: input (B, I) or (I,), hx (B, H) or (H,) (zeros when omitted) -> h' like hx;
    weight_ih (3H, I), weight_hh (3H, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        h = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """LSTM cell (gates i, f, g, o as torch; see `lstm_cell`).

    Shapes: input (B, I) or (I,), hx = (h, c), each (B, H) or (H,) (zeros when omitted)
    -> (h', c'); weight_ih (4H, I), weight_hh (4H, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:  # fmt: skip
        x, (h, c), unbatched = self._prepare(input, hx, 2)
        h, c = lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


# -- layers ----------------------------------------------------------------------------------
def _check_sizes(name: str, input_size: Any, hidden_size: Any) -> None:
    for label, v, least in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise ValueError(f"{name}: {label} must be an integer >= {least}, got {v!r}")


def _check_dtype(name: str, input: Tensor, other: Tensor, label: str = "the weights") -> None:
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"{name}: input has dtype {input.dtype} but {label} have dtype {other.dtype}; "
            f"convert one of them (e.g. module.to({input.dtype}) or input.to({other.dtype}))"
        )


def _run_composed(mode: str, x: Tensor, h0: Tensor | None, c0: Tensor | None,
                  w: tuple, reverse: bool, batch_first: bool) -> tuple:  # fmt: skip
    """One layer and direction from the composed cells; same contract as the fused
    primitives: returns (out laid out like x, h_n[, c_n])."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    xt = x.transpose(0, 1) if batch_first else x
    T, B = xt.shape[0], xt.shape[1]
    gx = AF.linear(xt, w_ih, b_ih)  # (T, B, G): the input side of every step in one GEMM
    steps = range(T - 1, -1, -1) if reverse else range(T)
    gxs = gx.unbind(0)
    hidden = w_hh.shape[1]
    h = h0 if h0 is not None else at.zeros((B, hidden), dtype=x.dtype)
    c: Any = None  # the cell state, in LSTM mode
    if mode == "LSTM":
        c = c0 if c0 is not None else at.zeros((B, w_hh.shape[0] // 4), dtype=x.dtype)
    hs: list = [None] * T
    for t in steps:
        if mode == "LSTM":
            h, c = _lstm_step(gxs[t], h, c, w_hh, b_hh, w_hr)
        elif mode == "GRU":
            h = _gru_step(gxs[t], h, w_hh, b_hh)
        else:
            h = _rnn_step(gxs[t], h, w_hh, b_hh, relu=mode == "RNN_RELU")
        hs[t] = h
    out = at.stack(hs, 1 if batch_first else 0)
    return (out, h, c) if mode == "LSTM" else (out, h)


def _run_fused(mode: str, x: Tensor, h0: Tensor | None, c0: Tensor | None,
               w: tuple, reverse: bool, batch_first: bool) -> tuple:  # fmt: skip
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    if mode == "LSTM":
        return LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=reverse,
                               batch_first=batch_first)  # fmt: skip
    if mode == "GRU":
        return GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=reverse,
                              batch_first=batch_first)  # fmt: skip
    return RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh,
                          nonlinearity="relu" if mode == "RNN_RELU" else "tanh",
                          reverse=reverse, batch_first=batch_first)  # fmt: skip


class RNNBase(Module):
    """Multi-layer, optionally bidirectional recurrent network (the base of RNN, GRU, LSTM).

    Parameters, per layer k and direction (suffix "" or "_reverse"), with G gates and
    real_hidden = proj_size or hidden_size:
        weight_ih_l{k} (G*hidden, input_size if k == 0 else num_directions * real_hidden)
        weight_hh_l{k} (G*hidden, real_hidden), bias_ih_l{k}, bias_hh_l{k} (G*hidden,)
        weight_hr_l{k} (proj_size, hidden) (LSTM with proj_size > 0 only)
    all initialised U(-1/sqrt(hidden), 1/sqrt(hidden)) as torch.

    forward(input, hx=None):
        input (T, B, input_size) ((B, T, input_size) with batch_first) or unbatched
        (T, input_size); hx (num_layers * num_directions, B, real_hidden) (2-D unbatched)
        or, for LSTM, a tuple (h_0, c_0), c_0 with hidden_size; zeros when omitted.
    Returns output (T, B, num_directions * real_hidden) (batch_first: (B, T, ...)), the top
    layer's h_t at every step (both directions concatenated), and h_n (for LSTM (h_n, c_n)),
    the final state of every layer and direction.

    `dropout` zeroes each layer's output (except the last) with that probability, in
    training mode only. The attribute `fused` (default True) selects the fused per-layer
    primitives; False runs the composed cells (differentiable to any order).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0 <= dropout <= 1)
        ):
            raise ValueError(
                f"{name}: dropout should be a number in range [0, 1] representing the "
                f"probability of an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            import warnings

            warnings.warn(
                f"{name}: dropout option adds dropout after all but last recurrent layer, so "
                f"non-zero dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.fused = True
        dt = at.get_default_dtype() if dtype is None else dtype
        dirs = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        names = []
        for layer in range(num_layers):
            for d in range(dirs):
                in_size = input_size if layer == 0 else real_hidden * dirs
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes: list[tuple[str, tuple[int, ...]]] = [("weight_ih", (gate_size, in_size)),
                          ("weight_hh", (gate_size, real_hidden))]  # fmt: skip
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(at.empty(shape, dtype=dt)))
                    names.append(base + sfx)
        self._flat_weights_names = names
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Kept for torch compatibility: parameters here are never packed, so nothing to do."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """Per layer and direction, the list of its parameters (torch's order)."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional
                                                                   else 1))  # fmt: skip
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def _weights(self, layer: int, reverse: bool) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx), get("weight_hr" + sfx))  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- forward -----------------------------------------------------------------------------
    def _name(self) -> str:
        return type(self).__name__

    def _check_input(self, input: Any) -> Tensor:
        name = self._name()
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(
                f"{name}: Expected input to be 2D or 3D, got {input.ndim}D instead (shape "
                f"{_shape(input)})"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{name}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.shape[-1]} (input shape {_shape(input)})"
            )
        t_dim = 1 if self.batch_first and input.ndim == 3 else 0
        if input.shape[t_dim] == 0:
            raise RuntimeError(
                f"{name}: Expected sequence length to be larger than 0 (input shape "
                f"{_shape(input)}, time dim {t_dim})"
            )
        _check_dtype(name, input, self.weight_ih_l0)
        return input

    def _check_state(self, s: Any, label: str, want: tuple, input: Tensor) -> Tensor:
        name = self._name()
        if not isinstance(s, Tensor):
            raise TypeError(f"{name}: {label} must be a Tensor, got {type(s).__name__}")
        if _shape(s) != want:
            raise RuntimeError(
                f"{name}: Expected {label} of shape {want}, got {_shape(s)} (input shape "
                f"{_shape(input)})"
            )
        _check_dtype(name, input, s, label)
        return s

    def forward(self, input: Tensor, hx: Any = None) -> tuple:
        if isinstance(input, rnn_utils.PackedSequence):  # variable-length batch
            return rnn_utils.forward_packed(self, input, hx)
        name = self._name()
        input = self._check_input(input)
        lstm = self.mode == "LSTM"
        unbatched = input.ndim == 2
        dirs = 2 if self.bidirectional else 1
        n_states = self.num_layers * dirs
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        if unbatched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        batch = input.shape[0 if self.batch_first else 1]

        h0: Any = None
        c0: Any = None  # LSTM only
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) for LSTM")
                h0, c0 = hx
            else:
                if isinstance(hx, (tuple, list)):
                    raise TypeError(f"{name}: hx must be a Tensor, not a {type(hx).__name__}")
                h0 = hx
            lead = (n_states,) if unbatched else (n_states, batch)
            h0 = self._check_state(h0, "h_0", lead + (real_hidden,), input)
            if lstm:
                c0 = self._check_state(c0, "c_0", lead + (self.hidden_size,), input)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if lstm else None

        run = _run_fused if self.fused else _run_composed
        layer_input = input
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                res = run(self.mode, layer_input, None if h0 is None else h0[k],
                          None if c0 is None else c0[k], self._weights(layer, d == 1),
                          d == 1, self.batch_first)  # fmt: skip
                outs.append(res[0])
                h_n.append(res[1])
                if lstm:
                    c_n.append(res[2])
            out = outs[0] if dirs == 1 else at.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                out = F.dropout(out, self.dropout, True)
            layer_input = out

        output = layer_input
        h = h_n[0].unsqueeze(0) if len(h_n) == 1 else at.stack(h_n, 0)
        c: Any = None
        if lstm:
            c = c_n[0].unsqueeze(0) if len(c_n) == 1 else at.stack(c_n, 0)
        if unbatched:
            output = output.squeeze(0 if self.batch_first else 1)
            h = h.squeeze(1)
            c = c.squeeze(1) if lstm else None
        return (output, (h, c)) if lstm else (output, h)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False); see RNNBase for shapes.
    Returns (output, h_n).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)
        self.nonlinearity = nonlinearity


class GRU(RNNBase):
    """GRU (gates r, z, n as torch):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h

    GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False); see RNNBase for shapes. Returns (output, h_n).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """LSTM (gates i, f, g, o as torch):

        i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c' = f * c + i * g,  h' = o * tanh(c')  (h' W_hr^T with proj_size > 0)

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0); see RNNBase for shapes. Returns
    (output, (h_n, c_n)); h_n has proj_size features when projecting, c_n hidden_size.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

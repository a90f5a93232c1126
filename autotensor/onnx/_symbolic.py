"""One mapping per primitive: the ONNX operators that compute what its forward computes.

Each mapping is `fn(b, ev) -> [output name, ...]` with `b` the Builder and `ev` the recorded
call (`ev.args`, `ev.kwargs` as given to `Op.apply`, `ev.outputs` the Tensors it returned).
Shapes that a primitive received as Python values are written so that a dynamic batch size
still works where that is possible: Reshape copies leading sizes that did not change (0) and
infers one (-1); broadcasts that the engine inserted in front of an elementwise op become
ONNX's own broadcasting.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from autotensor.onnx._export import Builder, Event, UnsupportedOperatorError, onnx_dtype
from autotensor.tensor import Tensor

Mapping = Callable[[Builder, Event], list[str]]
MAPPINGS: dict[str, Mapping] = {}
_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


def _maps(*names: str) -> Callable[[Mapping], Mapping]:
    def register(fn: Mapping) -> Mapping:
        for n in names:
            MAPPINGS[n] = fn
        return fn

    return register


def map_event(b: Builder, ev: Event, consumers: dict[int, list[Any]]) -> list[str]:
    fn = MAPPINGS.get(ev.name)
    if fn is None:
        raise UnsupportedOperatorError(
            f"onnx.export: no ONNX mapping for the primitive {ev.name} (inputs "
            f"{_describe(ev.args)}); see autotensor.onnx.supported_ops()"
        )
    if ev.name == "BroadcastTo":
        return _broadcast_to(b, ev, consumers)
    return fn(b, ev)


_SIGNATURES: dict[Any, inspect.Signature] = {}


def _p(ev: Event, name: str) -> Any:
    """Argument `name` of the recorded call, positional or keyword, default filled in."""
    bound = ev.bound
    if bound is None:
        sig = _SIGNATURES.get(ev.op)
        if sig is None:
            sig = _SIGNATURES[ev.op] = inspect.signature(ev.op.forward)
        ba = sig.bind(None, *ev.args, **ev.kwargs)
        ba.apply_defaults()
        bound = ba.arguments
        ev.bound = bound
    return bound[name]


def _describe(args: tuple) -> str:
    return ", ".join(
        f"{tuple(a.shape)}:{a.dtype}" if isinstance(a, Tensor) else type(a).__name__ for a in args
    )


def _out_dtype(ev: Event, i: int = 0) -> np.dtype:
    return ev.outputs[i]._data.dtype


def _operand(b: Builder, x: Any, dtype: np.dtype) -> str:
    """A tensor operand cast to dtype, or a Python scalar as a constant of dtype."""
    if isinstance(x, (Tensor, np.ndarray)):
        return b.value(x, dtype)
    return b.scalar(x, dtype)


def _unsupported(ev: Event, what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(f"onnx.export: {ev.name} with {what} has no ONNX mapping")


# -- elementwise ------------------------------------------------------------------------------
_BINARY = {
    "Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow",
    "Maximum": "Max", "Minimum": "Min",
}  # fmt: skip


@_maps(*_BINARY)
def _binary(b: Builder, ev: Event) -> list[str]:
    dt = _out_dtype(ev)
    x, y = (_operand(b, a, dt) for a in ev.args[:2])
    return b.node(_BINARY[ev.name], [x, y])


_UNARY = {
    "Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Sin": "Sin", "Cos": "Cos",
    "Tanh": "Tanh", "Sigmoid": "Sigmoid", "ReLU": "Relu", "Erf": "Erf", "Abs": "Abs",
    "Sign": "Sign", "Floor": "Floor", "Ceil": "Ceil", "Clone": "Identity",
}  # fmt: skip


@_maps(*_UNARY)
def _unary(b: Builder, ev: Event) -> list[str]:
    return b.node(_UNARY[ev.name], [b.value(ev.args[0])])


@_maps("Log1p")
def _log1p(b: Builder, ev: Event) -> list[str]:
    x = b.value(ev.args[0])
    one = b.scalar(1, _out_dtype(ev))
    return b.node("Log", b.node("Add", [x, one]))


@_maps("Trunc")
def _trunc(b: Builder, ev: Event) -> list[str]:
    x = b.value(ev.args[0])
    neg = b.node("Less", [x, b.scalar(0, _out_dtype(ev))])
    return b.node("Where", [neg[0], b.node("Ceil", [x])[0], b.node("Floor", [x])[0]])


@_maps("Round")
def _round(b: Builder, ev: Event) -> list[str]:
    x = b.value(ev.args[0])
    decimals = _p(ev, "decimals")
    if not decimals:
        return b.node("Round", [x])
    scale = b.scalar(10.0**decimals, _out_dtype(ev))
    return b.node("Div", [b.node("Round", b.node("Mul", [x, scale]))[0], scale])


@_maps("Where")
def _where(b: Builder, ev: Event) -> list[str]:
    dt = _out_dtype(ev)
    cond = b.value(ev.args[0], np.bool_)
    return b.node("Where", [cond, _operand(b, ev.args[1], dt), _operand(b, ev.args[2], dt)])


@_maps("Clamp")
def _clamp(b: Builder, ev: Event) -> list[str]:
    dt = _out_dtype(ev)
    x = b.value(ev.args[0])
    lo = _p(ev, "min")
    hi = _p(ev, "max")
    # Max/Min rather than Clip: bounds may be tensors, and NaN must stay NaN as in torch.
    if lo is not None:
        x = b.node("Max", [x, _operand(b, lo, dt)])[0]
    if hi is not None:
        x = b.node("Min", [x, _operand(b, hi, dt)])[0]
    return [x] if x != b.value(ev.args[0]) else b.node("Identity", [x])


@_maps("Cast")
def _cast(b: Builder, ev: Event) -> list[str]:
    return b.node("Cast", [b.value(ev.args[0])], to=onnx_dtype(_out_dtype(ev)))


_COMPARE = {
    "equal": "Equal", "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
    "greater_equal": "GreaterOrEqual",
}  # fmt: skip


@_maps(*_COMPARE, "not_equal")
def _compare(b: Builder, ev: Event) -> list[str]:
    x, y = ev.args[:2]
    dt = np.result_type(
        x._data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype,
        y._data.dtype
        if isinstance(y, Tensor)
        else np.min_scalar_type(y)
        if np.isscalar(y)
        else np.asarray(y).dtype,
    )
    xs = _operand(b, x, dt)
    ys = _operand(b, y, dt)
    if ev.name == "not_equal":
        return b.node("Not", b.node("Equal", [xs, ys]))
    return b.node(_COMPARE[ev.name], [xs, ys])


# -- linear algebra ---------------------------------------------------------------------------
@_maps("MatMul")
def _matmul(b: Builder, ev: Event) -> list[str]:
    dt = _out_dtype(ev)
    return b.node("MatMul", [b.value(ev.args[0], dt), b.value(ev.args[1], dt)])


@_maps("Linear")
def _linear(b: Builder, ev: Event) -> list[str]:
    x, w = b.value(ev.args[0]), b.value(ev.args[1])
    y = b.node("MatMul", [x, b.node("Transpose", [w], perm=[1, 0])[0]])
    bias = _p(ev, "b")
    return y if bias is None else b.node("Add", [y[0], b.value(bias)])


# -- movement ---------------------------------------------------------------------------------
def _dynamic(ev: Event, shape: tuple, i: int = 0) -> list[int]:
    """Positions of output i's shape that differ in the partner recording (made with the
    dynamic axes one longer): the sizes that follow a dynamic axis."""
    other = ev.partner.outputs[i].shape if ev.partner is not None else shape
    if len(other) != len(shape):
        raise _unsupported(ev, "a rank that changes with the dynamic axes")
    return [j for j, (a, c) in enumerate(zip(shape, other)) if a != c]


@_maps("Reshape")
def _reshape(b: Builder, ev: Event) -> list[str]:
    """Squeeze/Unsqueeze when only size-1 dims come or go (every other size stays free),
    else Reshape to the recorded sizes with -1 for the one that follows a dynamic axis."""
    x = ev.args[0]
    in_shape, out_shape = tuple(x.shape), tuple(ev.outputs[0].shape)
    cur = b.value(x)
    if in_shape and [n for n in in_shape if n != 1] == [n for n in out_shape if n != 1]:
        gone = [i for i, n in enumerate(in_shape) if n == 1]
        new = [i for i, n in enumerate(out_shape) if n == 1]
        if gone:
            cur = b.node("Squeeze", [cur, b.ints(gone)])[0]
        if new:
            cur = b.node("Unsqueeze", [cur, b.ints(new)])[0]
        return [cur] if gone or new else b.node("Identity", [cur])
    dyn = _dynamic(ev, out_shape)
    if len(dyn) > 1:
        raise _unsupported(ev, f"sizes {dyn} of {out_shape} all following dynamic axes")
    target = list(out_shape)
    if dyn:
        target[dyn[0]] = -1
    return b.node("Reshape", [cur, b.ints(target)])


@_maps("Permute")
def _permute(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    dims = _p(ev, "dims")
    perm = [int(d) % max(x.ndim, 1) for d in dims]
    return b.node("Transpose", [b.value(x)], perm=perm)


def _broadcast_to(b: Builder, ev: Event, consumers: dict[int, list[Any]]) -> list[str]:
    x, out = ev.args[0], ev.outputs[0]
    users = consumers.get(id(out), [])
    if users and all(getattr(u, "broadcasts", False) for u in users):
        # inserted in front of an elementwise op (Note [Broadcasting]): ONNX broadcasts
        return b.node("Identity", [b.value(x)])
    in_shape, shape = tuple(x.shape), list(out.shape)
    dyn = _dynamic(ev, tuple(shape))
    lead = len(shape) - len(in_shape)
    for i, n in enumerate(in_shape):
        if n == shape[lead + i]:
            shape[lead + i] = 1  # Expand broadcasts both ways: 1 keeps the input's size
    if any(shape[j] != 1 for j in dyn):
        raise _unsupported(ev, "a broadcast to a size that follows a dynamic axis")
    return b.node("Expand", [b.value(x), b.ints(shape)])


MAPPINGS["BroadcastTo"] = lambda b, ev: []  # dispatched by map_event (needs the consumers)


@_maps("Cat")
def _cat(b: Builder, ev: Event) -> list[str]:
    xs = list(_p(ev, "xs"))
    dt = _out_dtype(ev)
    axis = int(ev.kwargs.get("dim", 0)) % ev.outputs[0].ndim
    return b.node("Concat", [b.value(x, dt) for x in xs], axis=axis)


@_maps("Split")
def _split(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    sizes = _p(ev, "sizes")
    dim = int(_p(ev, "dim")) % x.ndim
    return b.node("Split", [b.value(x), b.ints(sizes)], n_out=len(ev.outputs), axis=dim)


@_maps("Flip")
def _flip(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    dims = _p(ev, "dims")
    dims = [int(d) % x.ndim for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
    n = len(dims)
    return b.node(
        "Slice",
        [b.value(x), b.ints([-1] * n), b.ints([_INT64_MIN] * n), b.ints(dims), b.ints([-1] * n)],
    )


@_maps("Gather")
def _gather(b: Builder, ev: Event) -> list[str]:
    x, dim, index = _p(ev, "x"), _p(ev, "dim"), _p(ev, "index")
    return b.node("GatherElements", [b.value(x), b.value(index, np.int64)], axis=int(dim) % x.ndim)


@_maps("ScatterAdd")
def _scatter_add(b: Builder, ev: Event) -> list[str]:
    x, dim, index, src = _p(ev, "x"), _p(ev, "dim"), _p(ev, "index"), _p(ev, "src")
    dt = _out_dtype(ev)
    return b.node(
        "ScatterElements",
        [b.value(x, dt), b.value(index, np.int64), b.value(src, dt)],
        axis=int(dim) % x.ndim,
        reduction="add",
    )


@_maps("Pad")
def _pad(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    pads = list(_p(ev, "pads"))
    value = _p(ev, "value")
    lo, hi = [0] * x.ndim, [0] * x.ndim
    for i in range(len(pads) // 2):  # torch order: last dim first
        lo[x.ndim - 1 - i], hi[x.ndim - 1 - i] = pads[2 * i], pads[2 * i + 1]
    if min(lo + hi, default=0) < 0:
        raise _unsupported(ev, "negative padding")
    return b.node(
        "Pad", [b.value(x), b.ints(lo + hi), b.scalar(value, _out_dtype(ev))], mode="constant"
    )


@_maps("GetItem")
def _getitem(b: Builder, ev: Event) -> list[str]:
    """numpy's indexing (what GetItem's forward runs) as Slice, Gather and Unsqueeze.

    Ints and one index array are gathered from the last dim down; with an array present,
    numpy moves its dims to the front when the advanced indices (ints and the array) are
    not adjacent, and a Transpose does the same."""
    x = ev.args[0]
    index = _p(ev, "index")
    items = list(index) if isinstance(index, tuple) else [index]
    items = [np.asarray(i) if isinstance(i, list) else i for i in items]
    arrays = [i for i in items if _is_array(i)]
    if len(arrays) > 1 or any(_arr(i).dtype.kind == "b" for i in arrays):
        raise _unsupported(ev, "a boolean mask or several index arrays")
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in [i for i in items if not _is_array(i)]:
        k = next(j for j, i in enumerate(items) if i is Ellipsis and not _is_array(i))
        items[k : k + 1] = [slice(None)] * (x.ndim - n_real)
    items += [slice(None)] * (x.ndim - sum(1 for i in items if i is not None))

    cur = b.value(x)
    starts, ends, axes, steps = [], [], [], []
    real = [i for i in items if i is not None]
    for d, it in enumerate(real):
        if isinstance(it, slice) and it != slice(None):
            step = 1 if it.step is None else int(it.step)
            if step < 0:
                raise _unsupported(ev, "a negative step")
            starts.append(0 if it.start is None else int(it.start))
            ends.append(_INT64_MAX if it.stop is None else int(it.stop))
            axes.append(d)
            steps.append(step)
    if axes:
        slices = [cur, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)]
        cur = b.node("Slice", slices)[0]
    for d in reversed(range(len(real))):
        it = real[d]
        if isinstance(it, slice):
            continue
        idx = b.value(it, np.int64) if _is_array(it) else b.const(np.asarray(int(it)))
        cur = b.node("Gather", [cur, idx], axis=d)[0]
    # The result's dims in the order the steps above leave them.
    layout: list[str] = []
    for it in items:
        if it is None:
            layout.append("new")
        elif isinstance(it, slice):
            layout.append("keep")
        elif _is_array(it):
            layout.extend(["array"] * _arr(it).ndim)
    new_axes = [j for j, kind in enumerate(layout) if kind == "new"]
    if new_axes:
        cur = b.node("Unsqueeze", [cur, b.ints(new_axes)])[0]
    advanced = [j for j, it in enumerate(items) if it is not None and not isinstance(it, slice)]
    if arrays and advanced[-1] - advanced[0] + 1 != len(advanced):
        perm = [j for j, k in enumerate(layout) if k == "array"]
        perm += [j for j, k in enumerate(layout) if k != "array"]
        cur = b.node("Transpose", [cur], perm=perm)[0]
    return [cur] if cur != b.lookup(x) else b.node("Identity", [cur])


def _is_array(i: Any) -> bool:
    return isinstance(i, (np.ndarray, Tensor))


def _arr(i: Any) -> np.ndarray:
    return i._data if isinstance(i, Tensor) else np.asarray(i)


# -- reductions -------------------------------------------------------------------------------
def _axes(x: Any, dim: Any) -> list[int] | None:
    if dim is None:
        return None
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    return [int(d) % max(x.ndim, 1) for d in dims]


def _reduce(b: Builder, ev: Event, op_type: str) -> list[str]:
    x = ev.args[0]
    dim = _p(ev, "dim")
    keep = bool(_p(ev, "keepdim"))
    axes = _axes(x, dim)
    inputs = [b.value(x, _out_dtype(ev))]
    if axes is not None:
        inputs.append(b.ints(axes))
    if x.ndim == 0:
        return b.node("Identity", inputs[:1])
    return b.node(op_type, inputs, keepdims=int(keep))


@_maps("Sum")
def _sum(b: Builder, ev: Event) -> list[str]:
    return _reduce(b, ev, "ReduceSum")


@_maps("Prod")
def _prod(b: Builder, ev: Event) -> list[str]:
    return _reduce(b, ev, "ReduceProd")


@_maps("Amax")
def _amax(b: Builder, ev: Event) -> list[str]:
    return _reduce(b, ev, "ReduceMax")


@_maps("Amin")
def _amin(b: Builder, ev: Event) -> list[str]:
    return _reduce(b, ev, "ReduceMin")


@_maps("MaxDim", "MinDim")
def _max_dim(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    dim = int(_p(ev, "dim")) % max(x.ndim, 1)
    keep = int(bool(_p(ev, "keepdim")))
    xs = b.value(x)
    red, arg = ("ReduceMax", "ArgMax") if ev.name == "MaxDim" else ("ReduceMin", "ArgMin")
    values = b.node(red, [xs, b.ints([dim])], keepdims=keep)
    indices = b.node(arg, [xs], axis=dim, keepdims=keep)
    return values + indices


@_maps("Cumsum")
def _cumsum(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    dim = int(_p(ev, "dim")) % max(x.ndim, 1)
    return b.node("CumSum", [b.value(x, _out_dtype(ev)), b.const(np.asarray(dim, np.int64))])


@_maps("Softmax", "LogSoftmax")
def _softmax(b: Builder, ev: Event) -> list[str]:
    x = ev.args[0]
    dim = int(_p(ev, "dim")) % max(x.ndim, 1)
    return b.node(ev.name, [b.value(x, _out_dtype(ev))], axis=dim)


@_maps("MseLoss")
def _mse(b: Builder, ev: Event) -> list[str]:
    x, y = ev.args[:2]
    reduction = _p(ev, "reduction")
    d = b.node("Sub", [b.value(x), b.value(y)])[0]
    sq = b.node("Mul", [d, d])
    if reduction == "none":
        return sq
    return b.node("ReduceMean" if reduction == "mean" else "ReduceSum", sq, keepdims=0)


@_maps("CrossEntropy")
def _cross_entropy(b: Builder, ev: Event) -> list[str]:
    x, t = ev.args[:2]
    target = b.value(np.asarray(t, dtype=np.int64))
    return b.node("SoftmaxCrossEntropyLoss", [b.value(x), target], reduction="mean")


# -- convolution and pooling ------------------------------------------------------------------
def _window_attrs(win: Any) -> dict[str, Any]:
    return {
        "kernel_shape": [win.kh, win.kw],
        "strides": [win.sh, win.sw],
        "pads": [win.top, win.left, win.bottom, win.right],
        "dilations": [win.dh, win.dw],
    }


@_maps("Conv2d")
def _conv2d(b: Builder, ev: Event) -> list[str]:
    x, w, bias, win = _p(ev, "x"), _p(ev, "w"), _p(ev, "b"), _p(ev, "win")
    groups = int(_p(ev, "groups"))
    inputs = [b.value(x), b.value(w)] + ([b.value(bias)] if bias is not None else [])
    return b.node("Conv", inputs, group=groups, **_window_attrs(win))


@_maps("MaxPool2d")
def _max_pool2d(b: Builder, ev: Event) -> list[str]:
    x, win = _p(ev, "x"), _p(ev, "win")
    if _p(ev, "return_indices"):
        raise _unsupported(ev, "return_indices=True")
    return b.node("MaxPool", [b.value(x)], **_window_attrs(win))


@_maps("Im2Col")
def _im2col(b: Builder, ev: Event) -> list[str]:
    """torch's unfold as a grouped convolution with one-hot kernels: output channel
    c kh kw + i kw + j copies x[c] at kernel position (i, j) (exact: one product by 1)."""
    x, win = _p(ev, "x"), _p(ev, "win")
    if _p(ev, "ones"):
        raise _unsupported(ev, "ones=True")
    c, k = x.shape[1], win.kh * win.kw
    eye = np.zeros((c * k, 1, win.kh, win.kw), dtype=x._data.dtype)
    for ch in range(c):
        for p in range(k):
            eye[ch * k + p, 0, p // win.kw, p % win.kw] = 1
    cols = b.node("Conv", [b.value(x), b.const(eye, hint="unfold")], group=c, **_window_attrs(win))
    return b.node("Reshape", [cols[0], b.ints([0, c * k, -1])])


@_maps("Col2Im")
def _col2im(b: Builder, ev: Event) -> list[str]:
    cols, hw, win = _p(ev, "cols"), _p(ev, "hw"), _p(ev, "win")
    attrs = _window_attrs(win)
    del attrs["kernel_shape"]
    return b.node("Col2Im", [b.value(cols), b.ints(hw), b.ints([win.kh, win.kw])], **attrs)


# -- recurrent layers -------------------------------------------------------------------------
def _rows(w: Any, order: list[int], n: int) -> np.ndarray | None:
    """Gate blocks of a (n_gates H, ...) weight put in ONNX's order."""
    if w is None:
        return None
    a = w._data if isinstance(w, Tensor) else np.asarray(w)
    h = a.shape[0] // n
    return np.concatenate([a[g * h : (g + 1) * h] for g in order], axis=0)


def _recurrent(b: Builder, ev: Event, op_type: str, order: list[int], n: int) -> list[str]:
    lstm = op_type == "LSTM"
    x, h0, w_ih, w_hh = _p(ev, "x"), _p(ev, "h0"), _p(ev, "w_ih"), _p(ev, "w_hh")
    b_ih, b_hh = _p(ev, "b_ih"), _p(ev, "b_hh")
    c0 = _p(ev, "c0") if lstm else None
    if lstm and _p(ev, "w_hr") is not None:
        raise _unsupported(ev, "a projection (proj_size > 0)")
    reverse, batch_first = bool(_p(ev, "reverse")), bool(_p(ev, "batch_first"))
    hidden = w_hh.shape[0] // n
    dt = w_ih._data.dtype if isinstance(w_ih, Tensor) else np.asarray(w_ih).dtype
    W = _rows(w_ih, order, n)[None]  # type: ignore[index]
    R = _rows(w_hh, order, n)[None]  # type: ignore[index]
    zero = np.zeros(n * hidden, dtype=dt)
    bi = _rows(b_ih, order, n) if b_ih is not None else zero
    bh = _rows(b_hh, order, n) if b_hh is not None else zero
    B = np.concatenate([bi, bh])[None]
    for t in (w_ih, w_hh, b_ih, b_hh):  # weights must not depend on the inputs
        if t is not None:
            b.constants.append((np.asarray(t._data if isinstance(t, Tensor) else t), ev.name))
    xs = b.value(x)
    if batch_first:
        xs = b.node("Transpose", [xs], perm=[1, 0, 2])[0]

    def state(s: Any) -> str:
        if s is None:
            return ""
        arr = s._data if isinstance(s, Tensor) else np.asarray(s)
        if b.lookup(s) is None and not arr.any():
            return ""  # zeros: ONNX's default, and it keeps the batch size free
        return b.node("Unsqueeze", [b.value(s), b.ints([0])])[0]

    inputs = [xs, b.const(W, hint="W"), b.const(R, hint="R"), b.const(B, hint="B"), "",
              state(h0)]  # fmt: skip
    attrs: dict[str, Any] = {"hidden_size": hidden}
    if reverse:
        attrs["direction"] = "reverse"
    if lstm:
        inputs.append(state(c0))
    if op_type == "GRU":
        attrs["linear_before_reset"] = 1
    if op_type == "RNN":
        nl = _p(ev, "nonlinearity")
        attrs["activations"] = ["Relu" if nl == "relu" else "Tanh"]
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = b.node(op_type, inputs, n_out=3 if lstm else 2, **attrs)
    y = b.node("Squeeze", [outs[0], b.ints([1])])[0]  # (T, 1, B, H) -> (T, B, H)
    if batch_first:
        y = b.node("Transpose", [y], perm=[1, 0, 2])[0]
    states = [b.node("Squeeze", [o, b.ints([0])])[0] for o in outs[1:]]
    return [y] + states


@_maps("RNNLayer")
def _rnn(b: Builder, ev: Event) -> list[str]:
    return _recurrent(b, ev, "RNN", [0], 1)


@_maps("GRULayer")
def _gru(b: Builder, ev: Event) -> list[str]:
    return _recurrent(b, ev, "GRU", [1, 0, 2], 3)  # torch r, z, n -> ONNX z, r, h


@_maps("LSTMLayer")
def _lstm(b: Builder, ev: Event) -> list[str]:
    return _recurrent(b, ev, "LSTM", [0, 3, 1, 2], 4)  # torch i, f, g, o -> ONNX i, o, f, c


# -- primitives composed of several ONNX operators --------------------------------------------
@_maps("Rsqrt")
def _rsqrt(b: Builder, ev: Event) -> list[str]:
    return b.node("Reciprocal", b.node("Sqrt", [b.value(_p(ev, "x"))]))


@_maps("Logsumexp")
def _logsumexp(b: Builder, ev: Event) -> list[str]:
    return _reduce(b, ev, "ReduceLogSumExp")


@_maps("Remainder", "FloorDivide")
def _floor_ops(b: Builder, ev: Event) -> list[str]:
    """x - floor(x / y) y and floor(x / y), for floating dtypes (torch's rounding toward
    -inf; ONNX's integer Div truncates, so integer inputs are refused)."""
    dt = _out_dtype(ev)
    if dt.kind != "f":
        raise _unsupported(ev, f"{dt} inputs")
    x, y = (_operand(b, a, dt) for a in ev.args[:2])
    q = b.node("Floor", b.node("Div", [x, y]))
    if ev.name == "FloorDivide":
        return q
    return b.node("Sub", [x, b.node("Mul", [q[0], y])[0]])


@_maps("ScaledDotProductAttention")
def _sdpa(b: Builder, ev: Event) -> list[str]:
    """softmax(q k^T scale + mask) v, with torch's rule that a row whose keys are all masked
    attends to nothing (ONNX's Softmax gives NaN there: replaced by 0)."""
    q, k, v = _p(ev, "q"), _p(ev, "k"), _p(ev, "v")
    mask, scale, keep = _p(ev, "mask"), _p(ev, "scale"), _p(ev, "keep")
    if keep is not None:
        raise _unsupported(ev, "dropout (export in eval mode, or dropout_p=0)")
    dt = _out_dtype(ev)
    perm = list(range(k.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    kt = b.node("Transpose", [b.value(k)], perm=perm)[0]
    s = b.node("MatMul", [b.value(q), kt])[0]
    if scale != 1.0:
        s = b.node("Mul", [s, b.scalar(scale, dt)])[0]
    if mask is not None:
        s = b.node("Add", [s, b.value(mask, dt)])[0]
    p = b.node("Softmax", [s], axis=-1)[0]
    if mask is not None:
        p = b.node("Where", [b.node("IsNaN", [p])[0], b.scalar(0, dt), p])[0]
    return b.node("MatMul", [p, b.value(v)])


@_maps("LayerNorm")
def _layer_norm(b: Builder, ev: Event) -> list[str]:
    """ONNX LayerNormalization (opset 17) over the trailing normalised dims; absent affine
    parameters become constants 1 and 0 of the normalised shape."""
    x, w, bias = _p(ev, "x"), _p(ev, "weight"), _p(ev, "bias")
    shape = tuple(_p(ev, "normalized_shape"))
    dt = _out_dtype(ev)
    scale = b.value(w) if w is not None else b.const(np.ones(shape, dt))
    shift = b.value(bias) if bias is not None else b.const(np.zeros(shape, dt))
    out = b.node(
        "LayerNormalization", [b.value(x), scale, shift], axis=-len(shape),
        epsilon=float(_p(ev, "eps")),
    )  # fmt: skip
    return out[:1]


@_maps("Gelu")
def _gelu(b: Builder, ev: Event) -> list[str]:
    """ONNX Gelu from opset 20; before it, x (1 + erf(x / sqrt 2)) / 2 or the tanh form in
    elementary operators."""
    x = b.value(_p(ev, "x"))
    approximate = _p(ev, "approximate")
    if b.opset >= 20:
        return b.node("Gelu", [x], approximate=approximate)
    dt = _out_dtype(ev)
    if approximate == "none":
        inner = b.node("Erf", [b.node("Mul", [x, b.scalar(1.0 / np.sqrt(2.0), dt)])[0]])[0]
    else:
        cube = b.node("Mul", [b.node("Mul", [x, x])[0], x])[0]
        poly = b.node("Add", [x, b.node("Mul", [cube, b.scalar(0.044715, dt)])[0]])[0]
        inner = b.node("Tanh", [b.node("Mul", [poly, b.scalar(np.sqrt(2.0 / np.pi), dt)])[0]])[0]
    half = b.node("Mul", [x, b.scalar(0.5, dt)])[0]
    return b.node("Mul", [half, b.node("Add", [inner, b.scalar(1.0, dt)])[0]])

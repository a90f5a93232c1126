"""Recording a forward and assembling the ONNX graph (see autotensor/onnx/__init__.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

import autotensor as at
from autotensor import graph as _graph
from autotensor.grad_mode import enable_grad
from autotensor.tensor import Tensor


class ExportError(RuntimeError):
    """The model cannot be written as a faithful ONNX graph."""


class UnsupportedOperatorError(ExportError):
    """A primitive has no ONNX mapping."""


# -- recording --------------------------------------------------------------------------------
class Event:
    """One primitive call seen during the forward: op (a Function subclass, or the name of a
    comparison), its arguments as given, and its output Tensors."""

    __slots__ = ("op", "args", "kwargs", "outputs", "bound", "partner")

    def __init__(self, op: Any, args: tuple, kwargs: dict, outputs: tuple) -> None:
        self.op, self.args, self.kwargs, self.outputs = op, args, kwargs, outputs
        self.bound: dict | None = None
        self.partner: Event | None = None  # the same call in the other recording

    @property
    def name(self) -> str:
        return self.op if isinstance(self.op, str) else self.op.__name__


def record(fn: Any, args: tuple, kwargs: dict) -> tuple[Any, list[Event]]:
    """Run fn(*args, **kwargs) with every primitive call recorded, grad mode on (so that the
    graph-recording path, which every primitive takes, is the one observed)."""
    events: list[Event] = []

    def observe(op: Any, a: tuple, kw: dict, outs: tuple) -> None:
        events.append(Event(op, a, kw, tuple(outs)))

    with _graph.observe(observe), enable_grad():
        out = fn(*args, **kwargs)
    return out, events


def _flatten(obj: Any) -> Iterator[Any]:
    if isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _flatten(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _flatten(o)
    else:
        yield obj


# -- the graph under construction -------------------------------------------------------------
class Builder:
    """ONNX nodes, initializers and value names for one export.

    Values are found by the identity of the Tensor or of its array (an array handed to a
    primitive, such as embedding indices, is the input Tensor's own array)."""

    def __init__(self, opset: int, named: dict[int, tuple[str, np.ndarray]]) -> None:
        import onnx

        self.onnx = onnx
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: dict[int, str] = {}
        self._keep: list[Any] = []  # ids are only unique while their objects live
        self._named = named  # id -> (parameter or buffer name, array)
        self._count = itertools.count()
        self.constants: list[tuple[np.ndarray, str]] = []  # (value, reading op)
        self.current = ""  # the op being mapped, for messages

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._count)}"

    def bind(self, obj: Any, name: str) -> None:
        self._names[id(obj)] = name
        self._keep.append(obj)
        if isinstance(obj, Tensor):
            self._names.setdefault(id(obj._data), name)
            self._keep.append(obj._data)

    def lookup(self, obj: Any) -> str | None:
        name = self._names.get(id(obj))
        if name is None and isinstance(obj, Tensor):
            name = self._names.get(id(obj._data))
        if name is None:
            key = id(obj._data) if isinstance(obj, Tensor) else id(obj)
            hit = self._named.get(key) or self._named.get(id(obj))
            if hit is not None:
                name = hit[0]
                self.initializers.append(self.onnx.numpy_helper.from_array(hit[1], name))
                self.bind(obj, name)
        return name

    def value(self, obj: Any, dtype: Any = None) -> str:
        """The ONNX name of a Tensor/array argument (a constant if it is neither an input,
        a parameter nor produced by a recorded op), cast to `dtype` if given."""
        if obj is None:
            return ""
        name = self.lookup(obj)
        if name is None:
            arr = np.asarray(obj._data if isinstance(obj, Tensor) else obj)
            if dtype is not None:
                arr = arr.astype(dtype)
                return self.const(arr, checked=True)
            name = self.const(arr, checked=True)
            self.bind(obj, name)
            return name
        if dtype is not None and np.dtype(dtype) != _dtype_of(obj):
            return self.node("Cast", [name], to=onnx_dtype(dtype))[0]
        return name

    def scalar(self, value: Any, dtype: Any) -> str:
        """A Python scalar operand (weak: it takes the tensor's dtype, as in torch)."""
        return self.const(np.asarray(value, dtype=dtype))

    def const(self, arr: np.ndarray, checked: bool = False, hint: str = "const") -> str:
        name = self.fresh(hint)
        arr = np.asarray(arr, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        if checked:  # a copy: the forward may reuse the buffer it handed over
            self.constants.append((arr.copy(), self.current))
        return name

    def ints(self, values: Any) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint="shape")

    def node(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> list[str]:
        outs = [self.fresh(op_type.lower()) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(
            self.onnx.helper.make_node(op_type, inputs, outs, name=self.fresh(op_type), **attrs)
        )
        return outs


def _dtype_of(obj: Any) -> np.dtype:
    return obj._data.dtype if isinstance(obj, Tensor) else np.asarray(obj).dtype


def onnx_dtype(dtype: Any) -> int:
    import onnx

    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


# -- export -----------------------------------------------------------------------------------
def _split_args(args: Any) -> tuple[tuple, dict]:
    if isinstance(args, Tensor):
        return (args,), {}
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if args and isinstance(args[-1], dict):
        return args[:-1], dict(args[-1])
    return args, {}


def _perturbed(t: Any, rng: np.random.Generator, grow: tuple[int, ...] = ()) -> Any:
    """An input with other values (float noise; integers rolled, so indices stay valid),
    one longer along each axis in `grow` (the dynamic axes): the second recording made with
    it finds constants that secretly depend on the inputs, and which sizes follow the
    dynamic axes."""
    if not isinstance(t, Tensor) or t._data.size == 0:
        return t
    d = t._data
    for axis in grow:  # one more slice along the axis, a copy of the first
        d = np.concatenate([d, np.take(d, [0], axis=axis)], axis=axis)
    if d.dtype.kind == "f":
        scale = float(np.std(d)) or 1.0  # fresh values of the same spread, other signs
        new = np.asarray(rng.standard_normal(d.shape) * scale + float(np.mean(d))).astype(d.dtype)
    elif d.dtype.kind in "iu":
        new = np.roll(d.reshape(-1), 1).reshape(d.shape)
        if np.array_equal(new, d):
            new = d[::-1].copy() if d.ndim else d.copy()
    else:
        new = d.copy()
    return at.from_numpy(np.ascontiguousarray(new))


def _axes_of(spec: Any, ndim: int) -> tuple[int, ...]:
    if spec is None:
        return ()
    axes = spec.keys() if isinstance(spec, dict) else spec
    return tuple(sorted({int(a) % max(ndim, 1) for a in axes}))


def _leaf_copy(t: Any) -> Any:
    """Example inputs as fresh leaves; floating ones require grad so that every op on them is
    recorded through the observed path."""
    if not isinstance(t, Tensor):
        return t
    c = at.from_numpy(np.array(t._data, copy=True))
    if c._data.dtype.kind == "f":
        c.requires_grad_(True)
    return c


def _named_arrays(model: Any) -> dict[int, tuple[str, np.ndarray]]:
    named: dict[int, tuple[str, np.ndarray]] = {}
    for getter in ("named_parameters", "named_buffers"):
        fn = getattr(model, getter, None)
        if fn is None:
            continue
        for name, t in fn():
            if t is None:
                continue
            named.setdefault(id(t), (name, t._data))
            named.setdefault(id(t._data), (name, t._data))
    return named


def _trace_once(model: Any, args: tuple, kwargs: dict) -> tuple[Any, list[Event], tuple]:
    inputs = tuple(_leaf_copy(a) for a in args)
    kw = {k: _leaf_copy(v) for k, v in kwargs.items()}
    out, events = record(model, inputs, kw)
    return out, events, inputs + tuple(kw.values())


def _build(
    opset: int,
    model: Any,
    inputs: list,
    names: list[str],
    events: list[Event],
    partners: list[Event],
) -> Builder:
    from autotensor.onnx._symbolic import map_event

    b = Builder(opset, _named_arrays(model))
    for t, name in zip(inputs, names):
        b.bind(t, name)
    consumers: dict[int, list[Any]] = {}
    for ev in events:
        for a in ev.args:
            if isinstance(a, Tensor):
                consumers.setdefault(id(a), []).append(ev.op)
    for ev, partner in zip(events, partners):
        b.current = ev.name
        ev.partner = partner
        for t, name in zip(ev.outputs, map_event(b, ev, consumers)):
            b.bind(t, name)
    return b


def export_model(
    model: Any,
    args: Any,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, Any],
    opset: int,
    verbose: bool = False,
) -> Any:
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "onnx.export needs the 'onnx' package: pip install 'autotensor[onnx]'"
        ) from err
    pos, kw = _split_args(args)
    tensors_in = [a for a in list(pos) + list(kw.values()) if isinstance(a, Tensor)]
    if len(input_names) > len(tensors_in):
        raise ValueError(
            f"onnx.export: {len(input_names)} input_names for {len(tensors_in)} tensor inputs"
        )
    in_names = input_names + [f"input_{i}" for i in range(len(input_names), len(tensors_in))]
    grow = {id(t): _axes_of(dynamic_axes.get(n), t.ndim) for t, n in zip(tensors_in, in_names)}
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()
    try:
        out, events, inputs = _trace_once(model, pos, kw)
        rng = np.random.default_rng(20240917)  # a stream of its own, unrelated to at.manual_seed
        pert = tuple(_perturbed(a, rng, grow.get(id(a), ())) for a in pos)
        pkw = {k: _perturbed(v, rng, grow.get(id(v), ())) for k, v in kw.items()}
        _, events2, inputs2 = _trace_once(model, pert, pkw)
    finally:
        if was_training:
            model.train()
    if [e.name for e in events2] != [e.name for e in events]:
        raise ExportError(
            "onnx.export: the model ran different operators for other input values or sizes "
            "(data-dependent control flow), which one ONNX graph cannot express"
        )

    flat_in = [t for t in inputs if isinstance(t, Tensor)]
    flat_out = [o for o in _flatten(out)]
    for o in flat_out:
        if not isinstance(o, Tensor):
            raise ExportError(f"onnx.export: the model returned a {type(o).__name__}, not a Tensor")
    if len(output_names) > len(flat_out):
        raise ValueError(
            f"onnx.export: {len(output_names)} output_names for {len(flat_out)} outputs"
        )
    out_names = output_names + [f"output_{i}" for i in range(len(output_names), len(flat_out))]
    unknown = set(dynamic_axes) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(
            f"onnx.export: dynamic_axes names {sorted(unknown)} that are neither inputs "
            f"{in_names} nor outputs {out_names}"
        )

    # Each recording is mapped with the other as its partner: a size that differs between
    # the two follows a dynamic axis (Reshape then infers it), and the constants both read
    # must be the same.
    b = _build(opset, model, flat_in, in_names, events, events2)
    b2 = _build(opset, model, [a for a in inputs2 if isinstance(a, Tensor)], in_names, events2,
                events)  # fmt: skip
    for (c1, op), (c2, _) in zip(b.constants, b2.constants):
        if c1.shape != c2.shape:
            raise ExportError(
                f"onnx.export: {op} reads a constant of shape {c1.shape} whose size follows "
                f"a dynamic axis (made with the input's size, e.g. at.zeros(x.shape[0], ...)); "
                f"export with that axis static, or build it from the input (zeros_like)"
            )
        if not np.array_equal(c1, c2, equal_nan=True):
            raise ExportError(
                f"onnx.export: {op} reads a value of shape {c1.shape} that changes with the "
                f"inputs but was not computed by an exportable operator (computed from raw "
                f"arrays, random, or with .item()/.numpy()); it cannot be exported"
            )

    graph_inputs = [
        _value_info(name, t, dynamic_axes.get(name)) for t, name in zip(flat_in, in_names)
    ]
    graph_outputs = []
    for t, name in zip(flat_out, out_names):
        src = b.lookup(t)
        if src is None:
            src = b.value(t)
        b.nodes.append(onnx.helper.make_node("Identity", [src], [name], name=f"output/{name}"))
        graph_outputs.append(_value_info(name, t, dynamic_axes.get(name)))
    used = {i for n in b.nodes for i in n.input} | {n for n in in_names}
    inits = [i for i in b.initializers if i.name in used]
    g = onnx.helper.make_graph(b.nodes, "autotensor", graph_inputs, graph_outputs, inits)
    proto = onnx.helper.make_model(
        g,
        opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="autotensor",
        producer_version=at.__version__,
    )
    proto.ir_version = min(proto.ir_version, 10)  # what current runtimes read
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    return proto


def _value_info(name: str, t: Tensor, dyn: Any) -> Any:
    import onnx

    shape: list[Any] = list(t._data.shape)
    if dyn is not None:
        axes = dyn.items() if isinstance(dyn, dict) else ((a, None) for a in dyn)
        for axis, label in axes:
            axis = int(axis)
            if not -len(shape) <= axis < len(shape):
                raise ValueError(
                    f"onnx.export: dynamic axis {axis} of {name!r} is out of range for its "
                    f"shape {tuple(t._data.shape)}"
                )
            shape[axis] = label or f"{name}_dim{axis % len(shape)}"
    return onnx.helper.make_tensor_value_info(name, onnx_dtype(t._data.dtype), shape)

"""The backward engine: reverse topological sweep, accumulation, graph freeing.

Gradients are kept per (node, output index) in `pending` while the sweep runs; a node runs
once all its consumers have run (reverse topological order), so the gradient it receives is
complete. Leaf gradients are summed in `leaf_grads` and written to `.grad` at the end (leaf
hooks see the total, as in torch).

Note [Graph freeing]: unless retain_graph, each node drops its saved tensors after it has
run; a second backward that needs them raises. Edges are kept, so a graph that saved nothing
(`y = x + x`) can be walked twice, as in torch.

Note [Higher order]: the sweep runs with grad mode = create_graph; backward rules are
written in Tensor ops, so with create_graph=True the gradients carry their own graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autotensor import anomaly, graph
from autotensor.grad_mode import _state
from autotensor.tensor import Tensor, _new


def _as_seq(x: Any) -> list:
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _root_grads(roots: list[Tensor], grads: list, create_graph: bool) -> list[Tensor]:
    if len(grads) < len(roots):
        grads = grads + [None] * (len(roots) - len(grads))
    out: list = []
    for r, g in zip(roots, grads):
        if not isinstance(r, Tensor):
            raise TypeError(f"backward: expected Tensor roots, got {type(r).__name__}")
        if not r.requires_grad:
            raise RuntimeError(
                f"element {len(out)} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if r._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; the output has "
                    f"shape {tuple(r._data.shape)}: pass gradient= of that shape"
                )
            g = _new(np.ones(r._data.shape, r._data.dtype))
        elif not isinstance(g, Tensor):
            g = _new(np.asarray(g, dtype=r._data.dtype))
        if g._data.shape != r._data.shape:
            raise RuntimeError(
                f"backward: gradient has shape {tuple(g._data.shape)} but the output has shape "
                f"{tuple(r._data.shape)}"
            )
        out.append(g if create_graph else g.detach())
    return out


def execute(
    roots: Sequence[Tensor],
    grads: Sequence[Any],
    retain_graph: bool | None,
    create_graph: bool,
    capture: Sequence[Tensor] | None = None,
    accumulate: bool = True,
) -> list:
    """Run backward from `roots` in the three steps of docs/design.md: seed the roots'
    gradients, sweep the nodes in reverse topological order, write the leaves' gradients.

    accumulate=True writes `.grad` on leaves (restricted to `capture` when given);
    accumulate=False returns the gradients of the `capture` tensors instead (autograd.grad).
    """
    if retain_graph is None:
        retain_graph = create_graph
    r = roots[0] if len(roots) == 1 else None
    if not grads and r.__class__ is Tensor and r.grad_fn is not None and r._data.size == 1:
        pending, leaf_grads, order = _seed_loss(r)
    else:
        pending, leaf_grads, order = _seed(list(roots), list(grads), create_graph)
    cap = None if capture is None else _Capture(capture)
    prev_mode = _state.enabled
    _state.enabled = create_graph  # Note [Higher order]
    try:
        _sweep(order, pending, leaf_grads, cap, create_graph, retain_graph)
    finally:
        _state.enabled = prev_mode
    return _write_leaves(leaf_grads, cap, accumulate, create_graph)


# -- 1. seed ---------------------------------------------------------------------------------
def _seed(roots: list, grads: list, create_graph: bool) -> tuple:
    """Reference: (pending gradients per node, leaf gradients, nodes to visit) for the roots
    and their given (or implicit) gradients."""
    pending: dict = {}
    leaf_grads: dict = {}
    for r, g in zip(roots, _root_grads(roots, grads, create_graph)):
        if r.grad_fn is None:
            _add_leaf(leaf_grads, r, g)
        else:
            lst = pending.setdefault(r.grad_fn, [None] * len(r.grad_fn._out_meta))
            nr = r._output_nr
            lst[nr] = g if lst[nr] is None else lst[nr] + g
    order = graph.topo_sort([r.grad_fn for r in roots if r.grad_fn is not None])
    return pending, leaf_grads, order


def _seed_loss(r: Tensor) -> tuple:
    """`_seed` for loss.backward(): one scalar root, an implicit gradient of 1, built without
    np.ones' Python-level overhead (Note [Recording cost])."""
    node: Any = r.grad_fn
    shape = r._data.shape
    ones = np.array(1, r._data.dtype)
    g = _new(ones if shape == () else ones.reshape(shape))
    n_out = len(node._out_meta)
    lst: list = [g]
    if n_out != 1:
        lst = [None] * n_out
        lst[r._output_nr] = g
    return {node: lst}, {}, graph.topo_sort((node,))


class _Capture:
    """The tensors whose gradients autograd.grad / backward(inputs=) asked for: non-leaf ones
    are read when their node runs, leaf ones when the leaves are written."""

    def __init__(self, tensors: Sequence[Tensor]) -> None:
        self.tensors = list(tensors)
        self.grads: list = [None] * len(self.tensors)
        self.nodes: dict = {}
        self.leaves: dict = {}
        for i, t in enumerate(self.tensors):
            if t.grad_fn is None:
                self.leaves.setdefault(id(t), []).append(i)
            else:
                self.nodes.setdefault((t.grad_fn, t._output_nr), []).append(i)

    def see_node(self, node: Any, gl: list) -> None:
        for nr in range(len(gl)):
            for i in self.nodes.get((node, nr), ()):
                self.grads[i] = gl[nr]


# -- 2. sweep --------------------------------------------------------------------------------
def _sweep(order: list, pending: dict, leaf_grads: dict, cap: _Capture | None,
           create_graph: bool, retain_graph: bool) -> None:  # fmt: skip
    """Visit the nodes consumers-first; each runs its rule once all the gradients of its
    outputs have arrived, and adds what it returns to the pending gradients of its inputs
    (another node's output, or a leaf)."""
    anomaly_on = anomaly._anomaly.enabled
    slow = anomaly_on or create_graph  # the checks of _run_node are needed on every node
    cap_nodes = cap is not None and cap.nodes
    pop = pending.pop
    for node in reversed(order):
        gl = pop(node, None)
        if gl is None:
            continue  # nothing flows through this node
        if node._hooks is not None or node._retained is not None:
            _output_hooks(node, gl)
        if cap_nodes:
            cap.see_node(node, gl)  # type: ignore[union-attr]
        if slow or len(gl) != 1 or gl[0] is None:
            gin = _run_node(node, gl, create_graph)
            if anomaly_on:
                anomaly.check_backward(node, gin)
        else:
            gin = _run_one(node, gl[0])
        for e, g in zip(node._edges, gin):
            if e is None or g is None:
                continue
            if e.__class__ is Tensor or isinstance(e, Tensor):
                # a leaf: summed here, written to .grad after the sweep
                ed = e._data
                gd = g._data if g.__class__ is Tensor else None
                if gd is None or gd.shape != ed.shape or gd.dtype is not ed.dtype:
                    g = _check(node, g, ed.shape, ed.dtype)
                key = id(e)
                cur = leaf_grads.get(key)
                leaf_grads[key] = (e, g) if cur is None else (e, _sum(cur[1], g, create_graph))
                continue
            # output 0 of a producer node (the node itself), or (producer node, output index)
            if type(e) is tuple:
                n, nr = e
            else:
                n, nr = e, 0
            shape, dtype = n._out_meta[nr]
            gd = g._data if g.__class__ is Tensor else None
            if gd is None or gd.shape != shape or gd.dtype is not dtype:
                g = _check(node, g, shape, dtype)
            lst = pending.get(n)
            if lst is None:
                if nr == 0 and len(n._out_meta) == 1:
                    pending[n] = [g]
                else:
                    lst = pending[n] = [None] * len(n._out_meta)
                    lst[nr] = g
            elif lst[nr] is None:
                lst[nr] = g
            else:
                lst[nr] = _sum(lst[nr], g, create_graph)
        if not retain_graph and node._saved is not None:  # Note [Graph freeing]
            node._saved = None
            node._freed = True


# -- 3. write leaves -------------------------------------------------------------------------
def _write_leaves(leaf_grads: dict, cap: _Capture | None, accumulate: bool,
                  create_graph: bool) -> list:  # fmt: skip
    """Leaf hooks see each leaf's total; then `.grad` accumulates it (or, for autograd.grad,
    the captured gradients are returned)."""
    restrict = cap is not None
    cap_leaves = cap.leaves if cap is not None else {}
    captured = cap.grads if cap is not None else []
    given: set = set()  # arrays handed to a .grad already: never give one to two leaves
    for key, (leaf, g) in leaf_grads.items():
        if leaf._hooks:
            for h in leaf._hooks:
                r = h(g)
                if r is not None:
                    g = r
        for i in cap_leaves.get(key, ()):
            captured[i] = g
        if accumulate and (not restrict or key in cap_leaves):
            if create_graph:
                leaf.grad = g if leaf.grad is None else leaf.grad + g
            elif leaf.grad is None:
                leaf.grad = _new(_own_array(g._data, given))
            else:
                _accumulate(leaf, g)
    if accumulate and cap is not None and cap.nodes:  # backward(inputs=[non-leaf])
        for t, g in zip(cap.tensors, captured):
            if t.grad_fn is not None and g is not None:
                g = g if create_graph else g.detach()
                t.grad = g if t.grad is None else t.grad + g
    return captured


def _accumulate(leaf: Tensor, g: Tensor) -> None:
    """leaf.grad += g in place, as torch's AccumulateGrad without create_graph (so a
    reference to the old .grad sees the sum too); a .grad that cannot take it in place (a
    read-only or other-shaped one set by hand) is replaced by the sum."""
    d, gd = leaf.grad._data, g._data  # type: ignore[union-attr]
    if d.shape == gd.shape and d.dtype == gd.dtype and d.flags.writeable:
        np.add(d, gd, out=d)
        if leaf.grad._vcount is not None:  # type: ignore[union-attr]
            leaf.grad._vc[0] += 1  # type: ignore[union-attr]
    else:
        leaf.grad = _sum(leaf.grad, g, False)  # type: ignore[arg-type]


def _own_array(d: np.ndarray, given: set) -> np.ndarray:
    """.grad must be a writeable array of its own: optimizers and zero_() update it in place
    (a rule may return a broadcast view, or one gradient for two inputs)."""
    owner = id(d if d.base is None else d.base)
    if not d.flags.writeable or owner in given:
        d = d.copy()
        owner = id(d)
    given.add(owner)
    return d


def _add_leaf(leaf_grads: dict, leaf: Tensor, g: Tensor) -> None:
    key = id(leaf)
    cur = leaf_grads.get(key)
    leaf_grads[key] = (leaf, g if cur is None else _sum(cur[1], g, _state.enabled))


def _sum(a: Tensor, b: Tensor, create_graph: bool) -> Tensor:
    """a + b, out of place (a rule may return one gradient object for two inputs); without
    create_graph, straight on the arrays, since no graph is wanted."""
    if create_graph:
        return a + b
    out = a._data + b._data
    return _new(out if out.__class__ is np.ndarray else np.asarray(out))


def _check(node: Any, g: Any, shape: tuple, dtype: Any) -> Tensor:
    """Tinygrad's assertion as an error: a rule returned a gradient of the wrong shape."""
    if not isinstance(g, Tensor):
        g = _new(np.asarray(g))
    if g._data.shape != shape:
        raise RuntimeError(
            f"{node.name()} returned a gradient of shape {tuple(g._data.shape)} for an input "
            f"of shape {tuple(shape)}"
        )
    if g._data.dtype != dtype:
        g = g.to(dtype)
    return g


def _run_node(node: Any, gl: list, create_graph: bool) -> tuple:
    """Call node.backward with one gradient per output (zeros where none arrived)."""
    if (len(gl) > 1 or gl[0] is None) and node._materialize and any(g is None for g in gl):
        gl = [
            g if g is not None else _new(np.zeros(shape, dtype))
            for g, (shape, dtype) in zip(gl, node._out_meta)
        ]
    if create_graph and not node.differentiable_backward:
        raise RuntimeError(
            f"{node.name()}: its backward is not differentiable (once_differentiable); "
            f"create_graph=True cannot pass through it"
        )
    out = type(node).backward(node, *gl)
    if type(out) is not tuple:
        out = (out,)
    if len(out) != len(node._edges):
        out = _match_inputs(node, out)
    return out


def _run_one(node: Any, g: Tensor) -> tuple:
    """`_run_node` for one output whose gradient arrived, without anomaly mode or
    create_graph (Note [Recording cost]): no zeros to fill in, nothing to check."""
    gin = type(node).backward(node, g)
    if type(gin) is not tuple:
        gin = (gin,)
    if len(gin) != len(node._edges):
        gin = _match_inputs(node, gin)
    return gin


def _match_inputs(node: Any, out: tuple) -> tuple:
    """One gradient per forward input: trailing Nones may be dropped or missing."""
    n_in = len(node._edges)
    if len(out) > n_in and all(o is None for o in out[n_in:]):
        return out[:n_in]
    if len(out) < n_in and all(e is None for e in node._edges[len(out) :]):
        return out + (None,) * (n_in - len(out))  # trailing non-Tensor arguments
    raise RuntimeError(
        f"{node.name()}: backward returned {len(out)} gradients, expected {n_in} "
        f"(one per forward input)"
    )


def _output_hooks(node: Any, gl: list) -> None:
    """Hooks and retain_grad of non-leaf tensors, applied when their gradient is complete."""
    for nr in range(len(gl)):
        g = gl[nr]
        if g is None:
            continue
        if node._hooks and nr in node._hooks:
            for h in node._hooks[nr]:
                r = h(g)
                if r is not None:
                    g = r
            gl[nr] = g
        if node._retained and nr in node._retained:
            t = node._retained[nr]()
            if t is not None:
                gd = g if _state.enabled else g.detach()
                t.grad = gd if t.grad is None else t.grad + gd


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate d(tensors)/d(leaf) into each leaf's `.grad` (torch.autograd.backward)."""
    roots = _as_seq(tensors)
    caps = _as_seq(inputs) if inputs is not None else None
    execute(roots, _as_seq(grad_tensors), retain_graph, create_graph, caps, accumulate=True)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) without touching `.grad` (torch.autograd.grad)."""
    roots = _as_seq(outputs)
    ins = _as_seq(inputs)
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    res = execute(roots, _as_seq(grad_outputs), retain_graph, create_graph, ins, accumulate=False)
    out = []
    for i, (t, g) in enumerate(zip(ins, res)):
        if g is None:
            if materialize_grads:
                g = _new(np.zeros_like(t._data))
            elif not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {tuple(t.shape)}) was not used in the graph of the "
                    f"outputs; pass allow_unused=True if this is intended"
                )
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return tuple(out)

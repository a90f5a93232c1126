"""What gets drawn: the recorded graph turned into drawable units, boxes and edges.

The pipeline, each step on the result of the one before:

1. `GraphView`: the nodes in `graph.topo_sort` order (the one traversal), the leaves, the
   constants a `trace` saw, and each node's module path (from `node._scope`).
2. fold: runs of consecutive identical blocks in that order (the time steps of an RNN) keep
   their first block; the others map onto it (`Fold`).
3. collapse: module boxes chosen by name or depth become one unit each.
4. cut: with `max_nodes`, only the ops nearest the roots are kept; one note stands for the rest.

Units are identified by strings derived from topological positions, never from `id()`, so the
same graph always gives the same picture and the same DOT text.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotensor import graph
from autotensor.tensor import Tensor
from autotensor.viz._stats import is_fused, saved_entries, value_stats


# -- input checking ----------------------------------------------------------------------------
def as_roots(obj: Any, fn: str) -> list[Tensor]:
    """The root tensors of `obj`: a Tensor or a (nested) list/tuple of Tensors."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out: list[Tensor] = []
        stack = [obj]
        while stack:
            cur = stack.pop()
            if isinstance(cur, Tensor):
                out.append(cur)
            elif isinstance(cur, (list, tuple)):
                stack.extend(reversed(cur))
            else:
                raise TypeError(
                    f"autotensor.viz.{fn}: roots must be Tensors; got an element of type "
                    f"{type(cur).__name__} inside the {type(obj).__name__}"
                )
        if not out:
            raise ValueError(f"autotensor.viz.{fn}: no root tensor given (empty sequence)")
        return out
    raise TypeError(
        f"autotensor.viz.{fn}: expected a Tensor or a sequence of Tensors (the result of a "
        f"computation) as the root, got {type(obj).__name__}"
    )


def param_names(params: Any, module: Any) -> dict[int, str]:
    """id(tensor) -> name, from `params` (a dict or (name, tensor) pairs) or the module."""
    if params is None and module is not None and hasattr(module, "named_parameters"):
        params = module.named_parameters()
    if params is None:
        return {}
    items = params.items() if isinstance(params, dict) else params
    names: dict[int, str] = {}
    for item in items:
        try:
            name, t = item
        except (TypeError, ValueError):
            raise TypeError(
                "autotensor.viz: params must be a dict {name: tensor} or (name, tensor) pairs, "
                "e.g. dict(model.named_parameters())"
            ) from None
        if not isinstance(t, Tensor):
            raise TypeError(f"autotensor.viz: params[{name!r}] is {type(t).__name__}, not a Tensor")
        names.setdefault(id(t), str(name))
    return names


# -- the graph as recorded -----------------------------------------------------------------------
@dataclass
class Inp:
    """One drawn input of a node: from op output (kind 'op', ref=(index, nr)), a leaf
    (kind 'leaf', ref=leaf index) or a constant (kind 'const', ref=const index)."""

    slot: int
    kind: str
    ref: Any


@dataclass
class Const:
    shape: tuple
    dtype: Any
    stats: Any


class GraphView:
    """The recorded graph reachable from the roots, indexed by topological position."""

    def __init__(
        self, roots: list[Tensor], params: Any, module: Any, group: bool, inputs: Any = None
    ) -> None:
        self.roots = roots
        self.pname = param_names(params, module if module is not True else None)
        self.iname = param_names(inputs, None) if inputs is not None else {}
        heads: list[Any] = []
        seen: set = set()
        for r in roots:
            n = r.grad_fn
            if n is not None and n not in seen:
                seen.add(n)
                heads.append(n)
        self.nodes: list = graph.topo_sort(heads)
        self.index: dict = {n: i for i, n in enumerate(self.nodes)}
        self.leaves: list[Tensor] = []
        leaf_ix: dict[int, int] = {}
        self.consts: list[Const] = []
        const_ix: dict[int, int] = {}
        keep_alive = []  # referents of weakrefs, so their ids stay unique while we build
        self.inputs: list[list[Inp]] = []
        for node in self.nodes:
            ins = []
            for k, e in enumerate(node._edges):
                if e is None:
                    continue
                if type(e) is tuple:
                    ins.append(Inp(k, "op", (self.index[e[0]], e[1])))
                elif not isinstance(e, Tensor):  # output 0 of a node: the node itself
                    ins.append(Inp(k, "op", (self.index[e], 0)))
                else:
                    j = leaf_ix.get(id(e))
                    if j is None:
                        j = leaf_ix[id(e)] = len(self.leaves)
                        self.leaves.append(e)
                    ins.append(Inp(k, "leaf", j))
            for c in node.__dict__.get("_viz_consts", ()):
                obj = c.ref()
                key = id(obj) if obj is not None else None
                j = const_ix.get(key) if key is not None else None
                if j is None:
                    j = len(self.consts)
                    self.consts.append(Const(c.shape, c.dtype, c.stats))
                    if key is not None:
                        const_ix[key] = j
                        keep_alive.append(obj)
                ins.append(Inp(c.slot, "const", j))
            ins.sort(key=lambda x: x.slot)
            self.inputs.append(ins)
        # roots that are leaves: a tensor with no graph is drawn as the single leaf it is
        self.root_refs: list[tuple[str, Any]] = []
        for r in roots:
            if r.grad_fn is not None:
                self.root_refs.append(("op", (self.index[r.grad_fn], r._output_nr)))
            elif r.requires_grad:
                j = leaf_ix.get(id(r))
                if j is None:
                    j = leaf_ix[id(r)] = len(self.leaves)
                    self.leaves.append(r)
                self.root_refs.append(("leaf", j))
            else:
                self.consts.append(Const(r._data.shape, r._data.dtype, value_stats(r._data)))
                self.root_refs.append(("const", len(self.consts) - 1))
        # box keys per node, outermost first: per module call where a trace(module=...)
        # recorded the calls (("call", serial)), else per module (id) or scope name (str);
        # mod_paths are the per-module keys, used to find repeats (calls of a module in a
        # loop fold like time steps)
        self.scope_paths: list[tuple] = [()] * len(self.nodes)
        self.mod_paths: list[tuple] = self.scope_paths
        self.box_labels: dict[Any, tuple[str, str]] = {}  # key -> (name, class name)
        self.call_label: dict[tuple, tuple[int, int]] = {}  # call key -> (k, n): call k of n
        if group:
            self._scopes(module)

    def _scopes(self, module: Any) -> None:
        names: dict[int, str] = {}
        if module is not None and module is not True:
            for name, m in module.named_modules():
                names.setdefault(id(m), name)
        cache: dict[tuple, tuple] = {}
        self.mod_paths = [()] * len(self.nodes)
        calls_of: dict[Any, set[int]] = {}
        for i, node in enumerate(self.nodes):
            sc = node._scope
            if not sc:
                continue
            call = node.__dict__.get("_viz_call")
            ck = (id(sc), id(call))
            hit = cache.get(ck)
            if hit is None:
                chain = call.chain() if call is not None else {}
                keys: list[Any] = []
                mkeys: list[Any] = []
                for p, owner in enumerate(sc, 1):
                    key = owner if isinstance(owner, str) else id(owner)
                    mkeys.append(key)
                    if key not in self.box_labels:
                        if isinstance(owner, str):
                            self.box_labels[key] = (owner, "")
                        else:
                            nm = names.get(id(owner))
                            cls = type(owner).__name__
                            self.box_labels[key] = (cls if nm in (None, "") else nm, cls)
                    c = chain.get(p)
                    if c is not None and c.owner is owner:
                        ckey = ("call", c.serial)
                        self.box_labels[ckey] = self.box_labels[key]
                        calls_of.setdefault(key, set()).add(c.serial)
                        keys.append(ckey)
                    else:
                        keys.append(key)
                hit = cache[ck] = (tuple(keys), tuple(mkeys))
            self.scope_paths[i], self.mod_paths[i] = hit
        for serials in calls_of.values():
            ordered = sorted(serials)
            for k, serial in enumerate(ordered, 1):
                self.call_label[("call", serial)] = (k, len(ordered))

    def qualname(self, path: tuple) -> str:
        """Dotted name of the box at the end of `path` (module names are already qualified)."""
        name, cls = self.box_labels[path[-1]]
        if cls or len(path) == 1:
            return name
        parts = [self.box_labels[k][0] for k in path if not self.box_labels[k][1]]
        return ".".join(parts)


# -- folding repeated structure ------------------------------------------------------------------
@dataclass
class Fold:
    """Blocks [start + k*period, start + (k+1)*period), k < count, are identical; block 0 is
    drawn and stands for all."""

    start: int
    period: int
    count: int
    key: tuple = ()

    @property
    def stop(self) -> int:
        return self.start + self.period * self.count


def _tokens(view: GraphView) -> np.ndarray:
    """An integer per node: equal when the op, its output shapes, its module path, its
    number of inputs and the leaves it reads are equal.

    Inputs that are results of other ops are left out on purpose: the first time step of an
    RNN reads a constant initial state where later steps read the previous step's result,
    and should still fold with them. How a block is wired inside is checked separately
    (`_block_shape`).
    """
    table: dict = {}
    out = np.empty(len(view.nodes), dtype=np.int64)
    for i, node in enumerate(view.nodes):
        leaves = []
        for inp in view.inputs[i]:
            if inp.kind == "leaf":
                leaf = view.leaves[inp.ref]
                name = view.pname.get(id(leaf))
                leaves.append((inp.slot, name or (leaf._data.shape, leaf._data.dtype)))
        key = (type(node), node._out_meta, view.mod_paths[i], len(node._edges), tuple(leaves))
        out[i] = table.setdefault(key, len(table))
    return out


def _block_shape(view: GraphView, start: int, period: int, k: int) -> list:
    """For each node of block k, its inputs from inside the same block, as offsets."""
    lo = start + k * period
    hi = lo + period
    shape = []
    for i in range(lo, hi):
        shape.append(
            tuple(
                (inp.slot, inp.ref[0] - lo, inp.ref[1])
                for inp in view.inputs[i]
                if inp.kind == "op" and lo <= inp.ref[0] < hi
            )
        )
    return shape


def _align(view: GraphView, start: int, period: int, stop: int, min_count: int) -> int:
    """The start, within the first block of the periodic range [start, stop), that makes as
    few edges as possible cross block boundaries: for an RNN that puts the boundary between
    time steps (only the state crosses) rather than inside one."""
    if period == 1 or period > 400:
        return start
    best, best_a = None, 0
    for a in range(period):
        if (stop - start - a) // period < min_count:
            break
        lo = start + a + period
        hi = lo + period
        crossing = 0
        for i in range(lo, min(hi, stop)):
            for inp in view.inputs[i]:
                if inp.kind == "op" and start <= inp.ref[0] < lo:
                    crossing += 1
        if best is None or crossing < best:
            best, best_a = crossing, a
    return start + best_a


def find_folds(view: GraphView, min_count: int, min_cover: int = 8) -> list[Fold]:
    """Maximal runs of >= min_count consecutive identical blocks, chosen greedily (largest
    coverage first, then shortest period), not overlapping, and checked structurally."""
    n = len(view.nodes)
    if n < 2 * min_count:
        return []
    tok = _tokens(view)
    cands = []
    max_p = min(n // min_count, 4096)
    for p in range(1, max_p + 1):
        eq = tok[:-p] == tok[p:]
        if not eq.any():
            continue
        d = np.diff(np.concatenate(([0], eq.view(np.int8), [0])))
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        need = (min_count - 1) * p
        for s, e in zip(starts.tolist(), ends.tolist()):
            length = e - s
            if length >= need:
                count = (length + p) // p
                if count * p >= min_cover:
                    cands.append((count * p, p, s, s + length + p))
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    taken = np.zeros(n, dtype=bool)
    folds: list[Fold] = []
    for _, p, s, stop in cands:
        if taken[s:stop].any():
            continue
        s = _align(view, s, p, stop, min_count)
        count = (stop - s) // p
        # structural check: every block wired inside itself as block 0 is
        ref = _block_shape(view, s, p, 0)
        ok = 1
        while ok < count and _block_shape(view, s, p, ok) == ref:
            ok += 1
        if ok < min_count or ok * p < min_cover or taken[s : s + p * ok].any():
            continue
        folds.append(Fold(s, p, ok))
        taken[s : s + p * ok] = True
    folds.sort(key=lambda f: f.start)
    for k, f in enumerate(folds):
        f.key = ("fold", k)
    return folds


# -- units ---------------------------------------------------------------------------------------
@dataclass
class Unit:
    """A drawn node. kind: op | leaf | const | box (collapsed module) | cut | saved."""

    uid: str
    kind: str
    path: tuple  # the boxes it sits in, outermost first
    ref: Any = None  # op: node index; leaf/const: index; box: list of node indices
    members: list = field(default_factory=list)  # op: indices it stands for (folded ones)
    absorbed: list = field(default_factory=list)  # box: leaves / consts drawn inside it
    extra: dict = field(default_factory=dict)


@dataclass
class Edge:
    src: str
    dst: str
    kind: str  # data | recur | state | saved | cut
    # ('op', (i, nr)) / ('leaf', j) / ('step', (i, name, t)) whose gradient flows back along it
    grad_ref: Any = None
    nr: int | None = None  # producer output index when the producer has several outputs
    count: int = 1
    slot: int | None = None  # the consumer's input position (kept for fused layers)
    lhead: tuple | None = None  # box path the edge ends at (drawn to the box's border)
    ltail: tuple | None = None  # box path the edge starts from


@dataclass
class Layout:
    view: GraphView
    units: dict[str, Unit]
    order: list[str]
    edges: list[Edge]
    folds: list[Fold]
    boxes: dict[tuple, dict]  # box path -> {'fold': Fold} or {'fold': None, 'name', 'cls', ...}
    cut: dict | None
    root_units: list[str]
    members: dict[int, list[int]]  # drawn op index -> the op indices it stands for


def _collapse_test(collapse: Any) -> tuple[int | None, set[str]]:
    if collapse is None or collapse is False:
        return None, set()
    if isinstance(collapse, bool):
        raise TypeError("autotensor.viz: collapse must be a depth (int) or a list of names")
    if isinstance(collapse, int):
        if collapse < 0:
            raise ValueError(f"autotensor.viz: collapse depth must be >= 0, got {collapse}")
        return collapse, set()
    if isinstance(collapse, str):
        return None, {collapse}
    if isinstance(collapse, Iterable):
        return None, {str(c) for c in collapse}
    raise TypeError(
        f"autotensor.viz: collapse must be a depth (int) or a list of module names, "
        f"got {type(collapse).__name__}"
    )


def _is_fold(k: Any) -> bool:
    return isinstance(k, tuple) and bool(k) and k[0] == "fold"


def layout(
    view: GraphView,
    fold_min: int | None,
    collapse: Any,
    max_nodes: int | None,
    show_saved: bool,
    expand_fused: Any = False,
) -> Layout:
    """Decide the units, boxes and edges to draw (see the module docstring)."""
    nodes = view.nodes
    n = len(nodes)
    folds = find_folds(view, fold_min) if fold_min else []

    # 1. fold: representative of every node, and the fold each visible block-0 node is in
    rep = list(range(n))
    block = [0] * n
    fold_of: list[Fold | None] = [None] * n
    for f in folds:
        for k in range(f.count):
            base = f.start + k * f.period
            for r in range(f.period):
                rep[base + r] = f.start + r
                block[base + r] = k
                fold_of[base + r] = f
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(rep[i], []).append(i)

    # box path of each drawn op: its scope path, with the fold box inserted after the part
    # of the path that all of the fold's block-0 nodes share
    paths: dict[int, tuple] = {}
    boxes: dict[tuple, dict] = {}
    fold_prefix: dict[tuple, tuple] = {}
    for f in folds:
        # over the first two repeats: a box that differs between repeats (one call of a
        # module per repeat) goes inside the fold box, not around it
        ps = [view.scope_paths[i] for i in range(f.start, f.start + 2 * f.period)]
        common = ps[0]
        for p in ps[1:]:
            c = 0
            while c < min(len(common), len(p)) and common[c] == p[c]:
                c += 1
            common = common[:c]
        fold_prefix[f.key] = common
    for i in range(n):
        if rep[i] != i:
            continue
        sp = view.scope_paths[i]
        fi = fold_of[i]
        if fi is not None:
            c = len(fold_prefix[fi.key])
            path = sp[:c] + (fi.key,) + sp[c:]
        else:
            path = sp
        paths[i] = path
        for d in range(1, len(path) + 1):
            pre = path[:d]
            if pre not in boxes:
                key = pre[-1]
                if isinstance(key, tuple) and key and key[0] == "fold":
                    boxes[pre] = {"fold": folds[key[1]]}
                else:
                    scope_pre = tuple(k for k in pre if not _is_fold(k))
                    boxes[pre] = {
                        "fold": None,
                        "name": view.box_labels[key][0],
                        "cls": view.box_labels[key][1],
                        "qualname": view.qualname(scope_pre),
                        "depth": len(scope_pre) - 1,
                        "call": view.call_label.get(key) if isinstance(key, tuple) else None,
                    }
    # a call box inside a fold box stands for the calls of all repeats: "calls 1-64 of 64"
    for i, path in paths.items():
        fpos = [d for d, k in enumerate(path) if _is_fold(k)]
        if not fpos or len(members[i]) < 2:
            continue
        for d in range(fpos[0] + 1, len(path)):
            key = path[d]
            if not (isinstance(key, tuple) and key[0] == "call"):
                continue
            b = boxes[path[: d + 1]]
            got = b.setdefault("calls", set())
            for m in members[i]:
                mk = view.scope_paths[m][d - 1] if d - 1 < len(view.scope_paths[m]) else None
                lab = view.call_label.get(mk) if isinstance(mk, tuple) else None
                if lab:
                    got.add(lab[0])

    # 2. collapse: the first box on a node's path that is to be collapsed takes the node
    depth, names = _collapse_test(collapse)
    units: dict[str, Unit] = {}
    order: list[str] = []
    unit_of_op: list[str] = [""] * n
    box_units: dict[tuple, str] = {}

    def add(u: Unit) -> Unit:
        units[u.uid] = u
        order.append(u.uid)
        return u

    for i in range(n):
        if rep[i] != i:
            continue
        path = paths[i]
        cut_at = None
        if depth is not None or names:
            for d in range(1, len(path) + 1):
                b = boxes[path[:d]]
                if b["fold"] is None and (
                    b["depth"] == depth or b["qualname"] in names or b["name"] in names
                ):
                    cut_at = d
                    break
        if cut_at is None:
            u = add(Unit(f"op{i}", "op", path, i, members[i]))
        else:
            bp = path[:cut_at]
            uid = box_units.get(bp)
            if uid is None:
                uid = box_units[bp] = f"box{len(box_units)}"
                b = boxes[bp]
                add(Unit(uid, "box", path[: cut_at - 1], [], [], extra={"box": b}))
            u = units[uid]
            u.ref.append(i)
            u.members.extend(members[i])
        for m in members[i]:
            unit_of_op[m] = u.uid

    # leaves and constants: one unit each, or inside the collapsed box that alone uses them
    # (a leaf or constant read only by folded-away repeats is not drawn: the drawn repeat
    # shows its own, e.g. the input of its time step)
    consumers: dict[tuple, list[str]] = {}
    for i in range(n):
        if rep[i] != i:
            continue
        for inp in view.inputs[i]:
            if inp.kind != "op":
                lst = consumers.setdefault((inp.kind, inp.ref), [])
                if unit_of_op[i] not in lst:
                    lst.append(unit_of_op[i])
    for kind, ref in view.root_refs:
        if kind != "op":
            consumers.setdefault((kind, ref), [])
    src_unit: dict[tuple, str] = {}
    for key in sorted(consumers, key=lambda k: (k[0] != "leaf", k[1])):
        users = consumers[key]
        kind, ref = key
        if len(users) == 1 and units[users[0]].kind == "box":
            units[users[0]].absorbed.append(key)
            src_unit[key] = users[0]
            continue
        # sit in the innermost box shared by all users, so a parameter of one module is
        # drawn inside that module's box (inside a fold box too: the cell that runs every
        # time step owns its weights)
        ps = [units[u].path for u in users]
        common = ps[0] if ps else ()
        for p in ps[1:]:
            c = 0
            while c < min(len(common), len(p)) and common[c] == p[c]:
                c += 1
            common = common[:c]
        uid = f"{kind}{ref}"
        add(Unit(uid, kind, common, ref))
        src_unit[key] = uid

    # edges, de-duplicated in first-seen order
    edges: list[Edge] = []
    edge_ix: dict[tuple, int] = {}

    def link(src: str, dst: str, kind: str, grad_ref: Any, nr: int | None, slot: int) -> None:
        # a fused layer drawn as its steps needs to know which input an edge feeds
        fused_dst = expand_fused and units[dst].kind == "op" and is_fused(nodes[units[dst].ref])
        key = (src, dst, kind, nr, slot if fused_dst else None)
        j = edge_ix.get(key)
        if j is None:
            edge_ix[key] = len(edges)
            edges.append(Edge(src, dst, kind, grad_ref, nr, slot=slot))
        else:
            edges[j].count += 1

    for i in range(n):
        dst = unit_of_op[i]
        for inp in view.inputs[i]:
            if inp.kind == "op":
                j, nr = inp.ref
                src = unit_of_op[j]
                fo = fold_of[i]
                recur = fo is not None and fold_of[j] is fo and block[j] < block[i]
                if src == dst and not recur:
                    continue  # inside one collapsed box
                multi = len(nodes[j]._out_meta) > 1
                link(
                    src,
                    dst,
                    "recur" if recur else "data",
                    ("op", (rep[j], nr)),
                    nr if multi else None,
                    inp.slot,
                )
            else:
                src = src_unit.get((inp.kind, inp.ref))
                if src is not None and src != dst:
                    link(
                        src,
                        dst,
                        "data",
                        (inp.kind, inp.ref) if inp.kind == "leaf" else None,
                        None,
                        inp.slot,
                    )

    root_units = []
    for kind, ref in view.root_refs:
        uid = unit_of_op[ref[0]] if kind == "op" else src_unit[(kind, ref)]
        if uid not in root_units:
            root_units.append(uid)

    # 3. cut: keep the op-like units nearest the roots
    cut = None
    op_like = [u for u in order if units[u].kind in ("op", "box")]
    if max_nodes is not None and len(op_like) > max_nodes:
        cut = _cut(units, order, edges, root_units, max_nodes, view)
        order = [u for u in order if u in units]

    # 4. fused recurrent layers drawn as their time steps
    if expand_fused:
        limit = None if expand_fused is True else int(expand_fused)
        _expand_fused(view, units, order, edges, boxes, root_units, limit)

    # 5. saved tensors of the drawn ops
    if show_saved:
        for uid in list(order):
            u = units[uid]
            if u.kind != "op":
                continue
            node = nodes[u.ref]
            entries: list[tuple[str, Any]] = []
            if getattr(node, "_freed", False):
                entries.append(("freed", None))
            else:
                for skind, obj in saved_entries(node):
                    if skind == 1:
                        entries.append(("output", obj[1]))
                    elif isinstance(obj, Tensor):
                        entries.append(("input", obj._data))
                    elif isinstance(obj, np.ndarray):
                        entries.append(("array", obj))
            for k, (what, arr) in enumerate(entries):
                sid = f"saved{u.ref}_{k}"
                add(Unit(sid, "saved", u.path, (what, arr)))
                edges.append(Edge(sid, uid, "saved"))

    used_boxes = {}
    for uid in order:
        p = units[uid].path
        for d in range(1, len(p) + 1):
            used_boxes[p[:d]] = boxes[p[:d]]
    return Layout(view, units, order, edges, folds, used_boxes, cut, root_units, members)


def _cut(
    units: dict[str, Unit],
    order: list[str],
    edges: list[Edge],
    root_units: list[str],
    max_nodes: int,
    view: GraphView,
) -> dict:
    """Keep the `max_nodes` op units first reached walking back from the roots (BFS), drop
    the rest with the leaves only they used, and put one note where they were."""
    producers: dict[str, list[str]] = {}
    for e in edges:
        producers.setdefault(e.dst, []).append(e.src)
    keep: set[str] = set()
    seen = set(root_units)
    queue = deque(root_units)
    kept_ops = 0
    while queue and kept_ops < max_nodes:
        u = queue.popleft()
        if units[u].kind in ("op", "box"):
            kept_ops += 1
        keep.add(u)
        for p in producers.get(u, ()):
            if p not in seen:
                seen.add(p)
                queue.append(p)
    # leaves/consts feeding a kept op stay
    for e in edges:
        if e.dst in keep and units[e.src].kind in ("leaf", "const"):
            keep.add(e.src)
    dropped = [u for u in order if u not in keep]
    ops_dropped: Counter[str] = Counter()
    n_ops = 0
    for u in dropped:
        unit = units[u]
        if unit.kind == "op":
            for m in unit.members:
                ops_dropped[type(view.nodes[m]).__name__] += 1
                n_ops += 1
        elif unit.kind == "box":
            for m in unit.members:
                ops_dropped[type(view.nodes[m]).__name__] += 1
                n_ops += 1
    n_leaves = sum(units[u].kind in ("leaf", "const") for u in dropped)
    for u in dropped:
        del units[u]
    new_edges: list[Edge] = []
    seen_cut: set[str] = set()
    for e in edges:
        if e.src in units and e.dst in units:
            new_edges.append(e)
        elif e.dst in units and e.dst not in seen_cut:
            seen_cut.add(e.dst)
            new_edges.append(Edge("cut", e.dst, "cut"))
    edges[:] = new_edges
    info = {"ops": n_ops, "leaves": n_leaves, "by_op": ops_dropped.most_common(), "max": max_nodes}
    units["cut"] = Unit("cut", "cut", (), info)
    order.insert(0, "cut")
    return info


# -- fused recurrent layers, opened -------------------------------------------------------------
def _expand_fused(
    view: GraphView,
    units: dict[str, Unit],
    order: list[str],
    edges: list[Edge],
    boxes: dict[tuple, dict],
    root_units: list[str],
    limit: int | None,
) -> None:
    """Replace the unit of each fused recurrent layer node (one node for a whole layer) by
    one box per time step holding its gates and states (Note [per-step records] in
    autotensor/ops/recurrent.py gives the numbers): a box per layer, in it a box per step
    with a `gates` node (LSTM i, f, g, o; GRU r, z, n) and one node per state (c, h), the
    state edges running from each step into the next. With `limit`, only the first and last
    steps (limit in all) are drawn and one node stands for the steps between."""
    targets = [
        uid
        for uid in order
        if units[uid].kind == "op"
        and len(units[uid].members) == 1
        and is_fused(view.nodes[units[uid].ref])
        and getattr(view.nodes[units[uid].ref], "seq_info", None)
    ]
    if not targets:
        return
    plan: dict[str, dict] = {}
    for uid in targets:
        u = units[uid]
        i = u.ref
        node = view.nodes[i]
        T, reverse = node.seq_info
        proc = list(range(T - 1, -1, -1)) if reverse else list(range(T))
        if limit is not None and T > max(limit, 2):
            head, tail = proc[: -(-limit // 2)], proc[T - limit // 2 :]
            hidden = proc[len(head) : T - len(tail)]
        else:
            head, tail, hidden = proc, [], []
        states = [k for k in node.step_names if k in ("c", "h")]
        gates = [k for k in node.step_names if k not in ("c", "h")]
        lpath = u.path + (("fused", i),)
        boxes[lpath] = {
            "fold": None,
            "kind": "fused",
            "name": type(node).__name__,
            "cls": "",
            "qualname": "",
            "depth": len(u.path),
            "steps": T,
            "reverse": reverse,
        }
        del units[uid]
        pos = order.index(uid)
        new: list[str] = []

        def add(unit: Unit, new: list[str] = new) -> None:
            units[unit.uid] = unit
            new.append(unit.uid)

        step_units: dict[int, dict[str, str]] = {}
        for t in head + tail:
            spath = lpath + (("step", i, t),)
            boxes[spath] = {
                "fold": None,
                "kind": "step",
                "name": f"t = {t}",
                "cls": "",
                "qualname": "",
                "depth": len(u.path) + 1,
            }
            su: dict[str, str] = {}
            if gates:
                gid = f"{uid}t{t}g"
                add(Unit(gid, "fgates", spath, (i, t, tuple(gates))))
                su["gates"] = gid
            for k in states:
                sid = f"{uid}t{t}{k}"
                add(Unit(sid, "fstate", spath, (i, t, k)))
                su[k] = sid
            step_units[t] = su
        skip = None
        if hidden:
            skip = f"{uid}skip"
            add(Unit(skip, "fskip", lpath, (i, hidden)))
        order[pos : pos + 1] = new
        first_in = {t: (su.get("gates") or su["h"]) for t, su in step_units.items()}
        plan[uid] = {
            "i": i,
            "node": node,
            "T": T,
            "proc": proc,
            "shown": head + tail,
            "head": head,
            "tail": tail,
            "skip": skip,
            "steps": step_units,
            "first_in": first_in,
            "lpath": lpath,
        }
        # inside a step: gates -> c -> h (the o gate also feeds h), gates -> h (GRU)
        for t, su in step_units.items():
            g = su.get("gates")
            if g and "c" in su:
                edges.append(Edge(g, su["c"], "data", None))
                edges.append(Edge(su["c"], su["h"], "data", ("step", (i, "c", t))))
                edges.append(Edge(g, su["h"], "data", None))
            elif g:
                edges.append(Edge(g, su["h"], "data", None))
        # from each step into the next in processing order: h into the gates, c into c
        seq: list[int | None] = [*head, *([None] if skip else []), *tail]
        for a, b in zip(seq, seq[1:]):
            if a is None:  # the skipped steps, into the first step after them
                assert skip is not None and b is not None
                edges.append(Edge(skip, first_in[b], "state", ("step", (i, "h", hidden[-1]))))
                continue
            if b is None:
                assert skip is not None
                edges.append(Edge(step_units[a]["h"], skip, "state", ("step", (i, "h", a))))
                continue
            sa, sb = step_units[a], step_units[b]
            edges.append(Edge(sa["h"], first_in[b], "state", ("step", (i, "h", a))))
            if "c" in sa:
                edges.append(Edge(sa["c"], sb["c"], "state", ("step", (i, "c", a))))
    # edges that ran into or out of a layer's single node
    lstm_like = {uid: "c" in p["steps"][p["shown"][0]] for uid, p in plan.items()}
    out: list[Edge] = []
    for e in edges:
        if e.dst in plan or e.src in plan:
            pass
        else:
            out.append(e)
            continue
        if e.dst in plan:
            p = plan[e.dst]
            first = p["shown"][0]
            s0 = p["steps"][first]
            if e.src in plan and e.slot == 0 and e.nr == 0:
                continue  # layer into layer: per step, below
            if e.slot == 0:  # the input sequence, to the layer box
                src, ltail = e.src, None
                if e.src in plan:
                    src, ltail = _layer_out(plan[e.src], e.nr, lstm_like[e.src])
                out.append(Edge(src, p["first_in"][first], "data", e.grad_ref, e.nr,
                                lhead=p["lpath"], ltail=ltail))  # fmt: skip
            elif e.slot == 1:  # h0 into the first step
                out.append(Edge(e.src, p["first_in"][first], "data", e.grad_ref, e.nr))
            elif e.slot == 2 and lstm_like[e.dst]:  # c0
                out.append(Edge(e.src, s0["c"], "data", e.grad_ref, e.nr))
            else:  # weights and biases: used by every step, drawn into the layer box
                out.append(Edge(e.src, p["first_in"][first], "data", e.grad_ref, e.nr,
                                lhead=p["lpath"]))  # fmt: skip
            continue
        p = plan[e.src]
        src, ltail = _layer_out(p, e.nr, lstm_like[e.src])
        out.append(Edge(src, e.dst, e.kind, e.grad_ref, e.nr, ltail=ltail))
    # one fused layer feeding the next: h_t of the lower layer into step t of the upper one
    for e in edges:
        if e.dst in plan and e.src in plan and e.slot == 0 and e.nr == 0:
            lo, hi = plan[e.src], plan[e.dst]
            for t in hi["shown"]:
                if t in lo["steps"]:
                    out.append(Edge(lo["steps"][t]["h"], hi["first_in"][t], "data",
                                    ("step", (lo["i"], "h", t))))  # fmt: skip
                elif lo["skip"]:
                    out.append(Edge(lo["skip"], hi["first_in"][t], "data", None))
    edges[:] = out
    for k, uid in enumerate(root_units):
        if uid in plan:
            root_units[k] = plan[uid]["steps"][plan[uid]["proc"][-1]]["h"] if (
                plan[uid]["proc"][-1] in plan[uid]["steps"]) else plan[uid]["skip"]  # fmt: skip


def _layer_out(p: dict, nr: int | None, lstm: bool) -> tuple[str, tuple | None]:
    """The unit an output of a fused layer leaves from: h_n and c_n from the last step
    processed; the whole output sequence from that step's h, drawn from the layer box."""
    last = p["proc"][-1]
    su = p["steps"].get(last)
    if su is None:
        return p["skip"], p["lpath"]
    if nr == 2 and lstm:
        return su["c"], None
    if nr == 1:
        return su["h"], None
    return su["h"], p["lpath"]


def resolve_fold(fold_repeats: Any, n_ops: int) -> int | None:
    """The minimum number of repeats to fold, or None for no folding."""
    if fold_repeats is None or fold_repeats is False:
        return None
    if fold_repeats == "auto":
        return 3 if n_ops > 150 else None
    if fold_repeats is True:
        return 3
    if isinstance(fold_repeats, int) and not isinstance(fold_repeats, bool):
        if fold_repeats < 2:
            raise ValueError(
                f"autotensor.viz: fold_repeats must be >= 2 repeats, got {fold_repeats}"
            )
        return fold_repeats
    raise TypeError(
        f"autotensor.viz: fold_repeats must be True, False, 'auto' or a minimum number of "
        f"repeats, got {fold_repeats!r}"
    )


__all__: Sequence[str] = ["GraphView", "layout", "as_roots", "find_folds", "resolve_fold"]

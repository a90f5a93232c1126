"""DOT text for a `Layout`: HTML-like labels, gradient colours, module and fold boxes, legend.

Colour scale (Note [gradient colours]): the L2 norm of the gradient reaching a tensor is
binned by decade between `grad_range = (lo, hi)`; below `lo` is "vanishing" (deep blue), above
`hi` "exploding" (deep red), an exact zero grey and NaN/Inf magenta. A node is filled with the
colour of the gradient of its output (a leaf: of its `.grad`); an edge carries the colour of
the gradient of the tensor flowing along it (the producer's output). A node that stands for
a folded run shows the range over all repeats and is coloured by the end of that range
farther from the middle of the scale, so one vanishing step is not averaged away.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autotensor.viz._model import Layout, Unit
from autotensor.viz._stats import (
    GradStats,
    ValueStats,
    fused_steps,
    leaf_grad,
    op_grad,
    op_values,
    value_stats,
)

FONT = "Helvetica"
# node fills when gradients are not shown
FILL_OP = "#eef1f6"
FILL_PARAM = "#fff2b3"
FILL_INPUT = "#d9f0d3"
FILL_CONST = "#ffffff"
FILL_BOX = "#e6dcf5"
FILL_NONE = "#ffffff"  # show_grads, but no gradient recorded for this tensor

VANISH = ("#313695", "white")
EXPLODE = ("#a50026", "white")
ZERO = ("#bdbdbd", "black")
NONFINITE = ("#ff00ff", "black")
DECADES = [  # from lo upwards, one per decade (ColorBrewer RdYlBu, reversed)
    ("#4575b4", "white"),
    ("#74add1", "black"),
    ("#abd9e9", "black"),
    ("#e0f3f8", "black"),
    ("#ffffbf", "black"),
    ("#fee090", "black"),
    ("#fdae61", "black"),
    ("#f46d43", "black"),
]


def edge_colour(fill: str) -> str:
    """A darker shade of a pale fill, so that an edge in that colour stays visible."""
    r, g, b = (int(fill[k : k + 2], 16) for k in (1, 3, 5))
    lum = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    if lum < 0.7:
        return fill
    f = 0.7 / lum * 0.85
    return "#{:02x}{:02x}{:02x}".format(*(int(c * f) for c in (r, g, b)))


def grad_colour(g: GradStats | None, lo: float, hi: float) -> tuple[str, str] | None:
    """(fill, font colour) for a gradient, or None when there is none."""
    if g is None:
        return None
    if not g.finite or not math.isfinite(g.norm):
        return NONFINITE
    if g.norm == 0.0:
        return ZERO
    if g.norm < lo:
        return VANISH
    if g.norm >= hi:
        return EXPLODE
    span = math.log10(hi) - math.log10(lo)
    k = int((math.log10(g.norm) - math.log10(lo)) / span * len(DECADES))
    return DECADES[min(max(k, 0), len(DECADES) - 1)]


# Note [relative colours]: with colour='relative' a gradient is judged against its own
# model rather than fixed thresholds. A parameter's norm is divided by the norm of the
# parameter itself (|g| / |w|, the ratio an update step scales), and the ratio by the median
# of that ratio over the drawn parameters; any other tensor's norm is divided by the median
# gradient norm of the op results. 1 is then "typical for this model", and a layer whose
# ratio is 1e-4 of its peers' is starved even when every gradient of the model is small.
RELATIVE_RANGE = (1e-4, 1e4)


def legend_rows(lo: float, hi: float, relative: bool = False) -> list[tuple[str, str, str]]:
    """(fill, font, text) rows of the colour legend, exploding first."""
    x = " × median" if relative else ""
    rows = [(*EXPLODE, f"≥ {_sci(hi)}{x}  exploding")]
    edges = [
        10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) * k / len(DECADES))
        for k in range(len(DECADES) + 1)
    ]
    for k in reversed(range(len(DECADES))):
        rows.append((*DECADES[k], f"{_sci(edges[k])} – {_sci(edges[k + 1])}{x}"))
    rows.append((*VANISH, f"< {_sci(lo)}{x}  {'starved' if relative else 'vanishing'}"))
    rows.append((*ZERO, "0  (no gradient)"))
    rows.append((*NONFINITE, "NaN / Inf"))
    return rows


# -- formatting ---------------------------------------------------------------------------------
def _sci(x: float) -> str:
    if x == 0:
        return "0"
    e = math.floor(math.log10(abs(x)) + 1e-12)
    m = x / 10**e
    return f"1e{e}" if abs(m - 1) < 1e-9 else f"{m:.2g}e{e}"


def fmt(x: float) -> str:
    """Short, fixed formatting of a statistic (deterministic for the same value)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.2e}"


def shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if len(shape) != 1 else f"({shape[0]},)"


def meta_str(metas: tuple) -> list[str]:
    """'(4, 3) float32' per output; equal outputs of a multi-output op are merged."""
    if len(metas) > 1 and all(m == metas[0] for m in metas):
        s, d = metas[0]
        return [f"{shape_str(s)} {d} ×{len(metas)}"]
    return [f"{shape_str(s)} {d}" for s, d in metas]


def value_str(v: ValueStats | None) -> list[str]:
    if v is None:
        return []
    if v.nan + v.inf == v.size:
        return []
    if v.size == 1:
        return [f"= {fmt(v.mean)}"]
    return [f"μ {fmt(v.mean)}  σ {fmt(v.std)}", f"[{fmt(v.min)}, {fmt(v.max)}]"]


def flag_str(v: ValueStats | GradStats | None, what: str) -> str | None:
    if v is None or v.finite:
        return None
    parts = []
    if v.nan:
        parts.append(f"NaN×{v.nan}")
    if v.inf:
        parts.append(f"Inf×{v.inf}")
    return f"! {what} " + " ".join(parts)


_ATTRS = (
    "dim",
    "dims",
    "keepdim",
    "lo",
    "hi",
    "p",
    "negative_slope",
    "eps",
    "stride",
    "padding",
    "dilation",
    "groups",
    "kernel_size",
    "approximate",
    "reduction",
)


def op_title(node: Any) -> str:
    """The op's class name with its small configuration attributes: Sum(dims=(1,))."""
    name = type(node).__name__
    parts = []
    d = node.__dict__
    for a in _ATTRS:
        if a in d:
            v = d[a]
            if (
                isinstance(v, (bool, int, float, str))
                or v is None
                or (isinstance(v, tuple) and len(v) <= 4 and all(isinstance(x, int) for x in v))
            ):
                parts.append(f"{a}={v}")
    return f"{name}({', '.join(parts)})" if parts else name


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def grad_of_step(node: Any, name: str, t: int) -> GradStats | None:
    """The recorded gradient norm of a per-step tensor of a fused layer, or None."""
    grads = getattr(node, "step_grads", None)
    if not grads or name not in grads:
        return None
    v = float(grads[name][t])
    if math.isfinite(v):
        return GradStats(v, 0, 0)
    return GradStats(v, int(math.isnan(v)), int(math.isinf(v)))


def html(rows: list[tuple[str, str]]) -> str:
    """An HTML-like label: rows of (text, style) with style in {b, s, w (warning), i}."""
    out = ['<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">']
    for text, style in rows:
        t = esc(text)
        if style == "b":
            t = f"<B>{t}</B>"
        elif style == "s":
            t = f'<FONT POINT-SIZE="9">{t}</FONT>'
        elif style == "w":
            t = f'<FONT POINT-SIZE="9" COLOR="#d00000"><B>{t}</B></FONT>'
        elif style == "i":
            t = f'<FONT POINT-SIZE="9"><I>{t}</I></FONT>'
        elif style == "raw":
            t = text
        out.append(f"<TR><TD>{t}</TD></TR>")
    out.append("</TABLE>>")
    return "".join(out)


def _hdr(text: str) -> str:
    """The name of the module that ran a node, as the first line of the node's label."""
    return f'<FONT POINT-SIZE="8" COLOR="#56608a"><I>{esc(text)}</I></FONT>'


def q(s: str) -> str:
    """A quoted DOT string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def attrs(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={q(str(v))}")
    return "[" + " ".join(parts) + "]"


def call_text(b: dict) -> str:
    """'  call 2 of 3' for a box that is one call of a module called several times; for a
    call box inside a fold box, the calls its repeats stand for ('  calls 1–64 of 64')."""
    call = b.get("call")
    if not call or call[1] < 2:
        return ""
    ks = b.get("calls")
    if ks and len(ks) > 1:
        return f"  calls {min(ks)}–{max(ks)} of {call[1]}"
    return f"  call {call[0]} of {call[1]}"


# -- per-unit labels ----------------------------------------------------------------------------
class Emitter:
    def __init__(
        self,
        lay: Layout,
        show_values: bool,
        show_grads: bool,
        grad_range: tuple,
        legend: bool | None,
        title: str | None,
        direction: str = "TB",
        verbose: bool = True,
        colour: str = "absolute",
        ids: bool = False,
    ) -> None:
        self.lay = lay
        self.verbose = verbose
        self.direction = direction
        self.view = lay.view
        self.show_values = show_values
        self.show_grads = show_grads
        self.relative = colour == "relative"
        self.lo, self.hi = RELATIVE_RANGE if self.relative else grad_range
        self.legend = show_grads if legend is None else legend
        self.title = title
        self.ids = ids  # element ids for the interactive page (and its colour maps)
        self.paint: dict[str, tuple[str, str]] = {}  # element id -> (fill, font colour)
        # node id -> fills of its coloured label cells (gate rows, strips), in label order:
        # in the SVG each is a polygon with a transparent stroke, in the same order
        self.cells: dict[str, list[tuple[str, str]]] = {}  # (fill, font colour or "")
        self.cluster_ids: dict[tuple, str] = {}  # box path -> cluster id, once emitted
        self.op_median = 1.0
        self.param_median = 1.0
        self.root_ops = {ref[0] for kind, ref in lay.view.root_refs if kind == "op"}
        if self.relative:
            self._medians()
        # folds that have an edge from one repeat into the next (an RNN's state)
        self.recurrent = set()
        for e in lay.edges:
            if e.kind == "recur":
                for k in lay.units[e.dst].path:
                    if isinstance(k, tuple):
                        self.recurrent.add(k)
        self.missing_values = 0
        self.missing_grads = 0

    # relative colours (Note [relative colours])
    def _medians(self) -> None:
        ops = []
        for i, node in enumerate(self.view.nodes):
            if i in self.root_ops:
                continue
            for nr in range(len(node._out_meta)):
                g = op_grad(node, nr)
                if g is not None and g.finite and g.norm > 0:
                    ops.append(g.norm)
        ratios = []
        for t in self.view.leaves:
            if id(t) in self.view.pname:
                r = self._ratio(t)
                if r is not None and r > 0:
                    ratios.append(r)
        self.op_median = float(np.median(ops)) if ops else 1.0
        self.param_median = float(np.median(ratios)) if ratios else 1.0

    @staticmethod
    def _ratio(t: Any) -> float | None:
        g = leaf_grad(t)
        if g is None or not g.finite:
            return None
        w = float(np.linalg.norm(t._data.reshape(-1)))
        return g.norm / w if w > 0 else None

    def _rel(self, g: GradStats) -> GradStats:
        """An op result's gradient on the colour scale in use."""
        if not self.relative:
            return g
        return GradStats(g.norm / self.op_median, g.nan, g.inf)

    def leaf_colour(self, t: Any) -> tuple[str, str] | None:
        g = leaf_grad(t)
        if g is None:
            return None
        if self.relative and g.finite:
            if id(t) in self.view.pname:
                r = self._ratio(t)
                if r is None:
                    return grad_colour(g, self.lo, self.hi)
                return grad_colour(GradStats(r / self.param_median, 0, 0), self.lo, self.hi)
            g = self._rel(g)
        return grad_colour(g, self.lo, self.hi)

    def colour(self, g: GradStats | None) -> tuple[str, str] | None:
        return None if g is None else grad_colour(self._rel(g), self.lo, self.hi)

    def _paint(self, key: str, colour: tuple[str, str] | None, default: str) -> None:
        if self.ids:
            self.paint[key] = colour if colour is not None else (default, "black")

    # statistics, with the range over folded repeats
    def _grads_of(self, idx: list[int], nr: int) -> list[GradStats]:
        out = []
        for i in idx:
            g = op_grad(self.view.nodes[i], nr)
            if g is not None:
                out.append(g)
        return out

    def _grad_colour_range(self, gs: list[GradStats]) -> tuple[str, str] | None:
        if not gs:
            return None
        gs = [self._rel(g) for g in gs]
        bad = [g for g in gs if not g.finite]
        if bad:
            return NONFINITE
        mid = 0.5 * (math.log10(self.lo) + math.log10(self.hi))
        nz = [g for g in gs if g.norm > 0]
        if not nz:
            return ZERO
        ext = max(nz, key=lambda g: abs(math.log10(g.norm) - mid))
        return grad_colour(ext, self.lo, self.hi)

    def _strip(self, members: list[int], n_out: int, cells: int = 32, uid: str = "") -> str:
        """An HTML row of small cells coloured by the gradient norm of each repeat, first on
        the left (groups of repeats when there are more than `cells`, coloured like a folded
        node: by the norm farthest from the middle of the scale)."""
        per = -(-len(members) // cells)
        groups = []
        for k in range(0, len(members), per):
            groups.append(
                [g for nr in range(n_out) for g in self._grads_of(members[k : k + per], nr)]
            )
        return self._strip_cells(groups, cells, uid)

    def _strip_cells(self, groups: list[list[GradStats]], cells: int, uid: str) -> str:
        out = ['<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>']
        for gs in groups:
            c = self._grad_colour_range(gs)
            fill = c[0] if c else FILL_NONE
            if self.ids and uid:
                self.cells.setdefault(uid, []).append((fill, ""))
            out.append(f'<TD BGCOLOR="{fill}" WIDTH="{max(3, 96 // cells)}" HEIGHT="7"></TD>')
        out.append("</TR></TABLE>")
        return "".join(out)

    def op_rows(self, u: Unit) -> tuple[list, tuple[str, str] | None]:
        node = self.view.nodes[u.ref]
        rows = [(op_title(node), "b")]
        if self.verbose:
            rows += [(m, "s") for m in meta_str(node._out_meta)]
        colour = None
        n_out = len(node._out_meta)
        if self.show_values:
            v = op_values(node, 0) if n_out == 1 else None
            if n_out == 1 and v is None:
                self.missing_values += 1
            rows += [(s, "s") for s in value_str(v)]
            f = flag_str(v, "value")
            if f:
                rows.append((f, "w"))
        if self.show_grads:
            gs_all = []
            for nr in range(n_out):
                gs = self._grads_of(u.members, nr)
                gs_all += gs
                if not gs:
                    continue
                pre = f"[{nr}] " if n_out > 1 else ""
                if len(u.members) > 1 and len(gs) > 1:
                    norms = [g.norm for g in gs]
                    rows.append(
                        (f"{pre}|g| {fmt(min(norms))} … {fmt(max(norms))} (×{len(gs)})", "s")
                    )
                else:
                    rows.append((f"{pre}|g| {fmt(gs[0].norm)}", "s"))
                bad = [g for g in gs if not g.finite]
                if bad:
                    rows.append((flag_str(bad[0], "grad") or "", "w"))
            if not gs_all and node._out_meta[0][1].kind in "fc":
                self.missing_grads += 1
            colour = self._grad_colour_range(gs_all)
            if self.relative and u.ref in self.root_ops:
                colour = None  # the seed gradient (1 for a loss) says nothing about the model
            if len(u.members) > 1 and gs_all:
                # a folded node: a strip of colours, one per repeat (or per group of repeats),
                # first repeat on the left, shows how the gradient changes over the repeats;
                # the node itself is not filled, so its text stays readable
                rows.append((self._strip(u.members, n_out, uid=u.uid), "raw"))
                colour = None
        return rows, colour

    def leaf_rows(self, j: int) -> tuple[list, str, tuple[str, str] | None]:
        t = self.view.leaves[j]
        name = self.view.pname.get(id(t))
        iname = self.view.iname.get(id(t))
        if name:
            rows = [(name, "b")]
        elif iname:
            rows = [(iname, "b"), ("input", "i")]
        else:
            rows = [("input", "i")]
        if self.verbose:
            rows.append((meta_str(((t._data.shape, t._data.dtype),))[0], "s"))
        if self.show_values:
            v = value_stats(t._data)
            rows += [(s, "s") for s in value_str(v)]
            f = flag_str(v, "value")
            if f:
                rows.append((f, "w"))
        colour = None
        if self.show_grads:
            g = leaf_grad(t)
            if g is not None:
                rows.append((f"|g| {fmt(g.norm)}", "s"))
                f = flag_str(g, "grad")
                if f:
                    rows.append((f, "w"))
            colour = self.leaf_colour(t)
        return rows, ("param" if name else "input"), colour

    def const_rows(self, j: int) -> list:
        c = self.view.consts[j]
        rows = [("constant", "i")]
        if self.verbose:
            rows.append((meta_str(((c.shape, c.dtype),))[0], "s"))
        if self.show_values:
            rows += [(s, "s") for s in value_str(c.stats)]
            f = flag_str(c.stats, "value")
            if f:
                rows.append((f, "w"))
        return rows

    def box_rows(self, u: Unit) -> tuple[list, tuple[str, str] | None]:
        b = u.extra["box"]
        title = b["qualname"] or b["name"]
        rows = [(title, "b")]
        if b["cls"] and b["cls"] != title:
            rows.append((b["cls"], "i"))
        k = len(u.members)
        reps = max((len(self.lay.members.get(i, ())) for i in u.ref), default=1)
        per = f" in {reps} repeats" if reps > 1 else ""
        rows.append((f"{k} op{'' if k == 1 else 's'}{per}", "s"))
        # outputs: edges leaving the box
        outs = []
        for e in self.lay.edges:
            if e.src == u.uid and e.grad_ref and e.grad_ref[0] == "op":
                i, nr = e.grad_ref[1]
                s, d = self.view.nodes[i]._out_meta[nr]
                txt = f"→ {shape_str(s)} {d}"
                if txt not in outs:
                    outs.append(txt)
        rows += [(o, "s") for o in outs[:3]]
        if len(outs) > 3:
            rows.append((f"… {len(outs) - 3} more outputs", "s"))
        leaves = [ref for kind, ref in u.absorbed if kind == "leaf"]
        shown = 0
        for j in leaves:
            t = self.view.leaves[j]
            name = self.view.pname.get(id(t), "input")
            if shown < 4:
                rows.append((f"{name} {shape_str(t._data.shape)}", "s"))
            shown += 1
        if shown > 4:
            rows.append((f"… {shown - 4} more", "s"))
        colour = None
        if self.show_grads:
            gs = []
            seen = set()
            for e in self.lay.edges:
                if e.src == u.uid and e.grad_ref and e.grad_ref[0] == "op":
                    i, nr = e.grad_ref[1]
                    if (i, nr) not in seen:
                        seen.add((i, nr))
                        gs += self._grads_of(self.lay.members.get(i, [i]), nr)
            if gs:
                norms = [g.norm for g in gs]
                if len(gs) > 1 and min(norms) != max(norms):
                    rows.append((f"|g| out {fmt(min(norms))} … {fmt(max(norms))}", "s"))
                else:
                    rows.append((f"|g| out {fmt(norms[0])}", "s"))
            colour = self._grad_colour_range(gs)
            folded = [self.lay.members[i] for i, _ in seen if len(self.lay.members[i]) > 1]
            if folded and gs:  # stands for folded repeats: the strip, as on a folded op
                rows.append((self._strip(folded[0], 1, uid=u.uid), "raw"))
                colour = None
        return rows, colour

    def edge_colour_of(self, ref: Any) -> tuple[str, str] | None:
        """The colour of the gradient flowing back along an edge; from a folded producer,
        coloured like the folded node (the extreme over its repeats)."""
        if ref is not None and ref[0] == "op":
            ms = self.lay.members.get(ref[1][0], ())
            if len(ms) > 1:
                return self._grad_colour_range(self._grads_of(ms, ref[1][1]))
        if ref is not None and ref[0] == "leaf":
            return self.leaf_colour(self.view.leaves[ref[1]])
        return self.colour(self.edge_grad(ref))

    def edge_grad(self, ref: Any) -> GradStats | None:
        if ref is None:
            return None
        kind, r = ref
        if kind == "leaf":
            return leaf_grad(self.view.leaves[r])
        if kind == "step":
            return grad_of_step(self.view.nodes[r[0]], r[1], r[2])
        return op_grad(self.view.nodes[r[0]], r[1])

    # -- fused layers drawn as their steps -------------------------------------------------------
    def _step_meta(self, node: Any, name: str) -> str:
        metas = node._out_meta
        m = metas[2] if (name == "c" or name not in ("h",)) and len(metas) > 2 else metas[1]
        return meta_str((m,))[0]

    def fgates_label(self, u: Unit) -> tuple[str, tuple[str, str] | None]:
        i, t, gates = u.ref
        node = self.view.nodes[i]
        _, vals, _ = fused_steps(node)
        act = {"g": "tanh", "n": "tanh"}
        meta = esc(self._step_meta(node, gates[0]))
        cells = [f'<TR><TD><B>gates</B>  <FONT POINT-SIZE="8">{meta}</FONT></TD></TR>']
        for k in gates:
            parts = [f"{k} = {act.get(k, 'σ')}(·)"]
            if self.show_values and vals and k in vals:
                v = vals[k][t]
                if v is not None:
                    parts.append(f"μ {fmt(v.mean)}")
            g = grad_of_step(node, k, t)
            c = None
            if self.show_grads and g is not None:
                parts.append(f"|g| {fmt(g.norm)}")
                c = self.colour(g)
            fill, font = c if c is not None else ("#ffffff", "black")
            if self.ids:
                self.cells.setdefault(u.uid, []).append((fill, font))
            cells.append(
                f'<TR><TD ALIGN="LEFT" BGCOLOR="{fill}"><FONT POINT-SIZE="9" '
                f'COLOR="{font}">{esc("   ".join(parts))}</FONT></TD></TR>'
            )
        label = (
            '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">'
            + "".join(cells)
            + "</TABLE>>"
        )
        return label, None

    def fstate_rows(self, u: Unit) -> tuple[list, tuple[str, str] | None]:
        i, t, k = u.ref
        node = self.view.nodes[i]
        _, vals, _ = fused_steps(node)
        rows = [(f"{k}[{t}]", "b")]
        if self.verbose:
            rows.append((self._step_meta(node, k), "s"))
        if self.show_values and vals and k in vals:
            rows += [(x, "s") for x in value_str(vals[k][t])]
        colour = None
        if self.show_grads:
            g = grad_of_step(node, k, t)
            if g is not None:
                rows.append((f"|g| {fmt(g.norm)}", "s"))
                colour = self.colour(g)
        return rows, colour

    def fskip_rows(self, u: Unit) -> list:
        i, hidden = u.ref
        node = self.view.nodes[i]
        rows = [
            (f"steps {min(hidden)}–{max(hidden)} not drawn", "b"),
            (f"({len(hidden)} steps)", "s"),
        ]
        gs = [g for t in hidden if (g := grad_of_step(node, "h", t)) is not None]
        if self.show_grads and gs:
            norms = [g.norm for g in gs]
            rows.append((f"|g h| {fmt(min(norms))} … {fmt(max(norms))}", "s"))
            per = -(-len(gs) // 32)
            groups = [gs[k : k + per] for k in range(0, len(gs), per)]
            rows.append((self._strip_cells(groups, 32, u.uid), "raw"))
        return rows

    # -- the whole text ------------------------------------------------------------------------
    def node_line(self, u: Unit, header: str | None = None) -> str:
        a: dict[str, Any]
        colour = None
        if u.kind == "op":
            rows, colour = self.op_rows(u)
            a = {"label": html(rows), "fillcolor": FILL_OP}
            if len(u.members) > 1:
                a["penwidth"] = "2"
                a["peripheries"] = "2"
        elif u.kind == "leaf":
            rows, what, colour = self.leaf_rows(u.ref)
            a = {
                "label": html(rows),
                "shape": "box",
                "style": "filled",
                "fillcolor": FILL_PARAM if what == "param" else FILL_INPUT,
            }
        elif u.kind == "const":
            a = {
                "label": html(self.const_rows(u.ref)),
                "shape": "box",
                "style": "dashed",
                "color": "#888888",
            }
        elif u.kind == "box":
            rows, colour = self.box_rows(u)
            a = {"label": html(rows), "shape": "box3d", "style": "filled", "fillcolor": FILL_BOX}
        elif u.kind == "fgates":
            label, colour = self.fgates_label(u)
            a = {"label": label, "shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff",
                 "margin": "0.04,0.03"}  # fmt: skip
        elif u.kind == "fstate":
            rows, colour = self.fstate_rows(u)
            a = {"label": html(rows), "fillcolor": FILL_OP}
        elif u.kind == "fskip":
            a = {"label": html(self.fskip_rows(u)), "shape": "note", "style": "dashed",
                 "color": "#7a5195"}  # fmt: skip
        elif u.kind == "saved":
            what, arr = u.ref
            if what == "freed":
                rows = [("saved tensors", "i"), ("freed by backward", "s")]
            else:
                rows = [(f"saved {what}", "i"), (meta_str(((arr.shape, arr.dtype),))[0], "s")]
                if self.show_values:
                    rows += [(s, "s") for s in value_str(value_stats(arr))]
            a = {
                "label": html(rows),
                "shape": "box",
                "style": "dotted",
                "fontsize": "9",
                "color": "#777777",
            }
        else:  # cut
            info = u.ref
            by = ", ".join(f"{k} ×{v}" for k, v in info["by_op"][:4])
            if len(info["by_op"]) > 4:
                by += ", …"
            rows = [
                (f"… {info['ops']} earlier ops not drawn", "b"),
                (f"(max_nodes={info['max']}; {info['leaves']} leaves with them)", "s"),
                (by, "s"),
            ]
            a = {"label": html(rows), "shape": "note", "style": "dashed", "color": "#555555"}
        if header:
            a["label"] = a["label"].replace("<TR>", f"<TR><TD>{_hdr(header)}</TD></TR><TR>", 1)
        if self.show_grads and u.kind in ("op", "leaf", "box", "fstate"):
            if colour is None:
                if u.kind == "box":
                    a["fillcolor"] = FILL_BOX
                else:
                    a["fillcolor"] = FILL_OP if len(u.members) > 1 else FILL_NONE
            else:
                a["fillcolor"], a["fontcolor"] = colour
                if colour == NONFINITE:
                    a["penwidth"] = "3"
            self._paint(u.uid, colour, a["fillcolor"])
        if self.ids:
            a["id"] = u.uid
        return f"{u.uid} {attrs(a)}"

    def edge_line(self, e: Any, k: int = 0) -> str:
        a: dict[str, Any] = {}
        if e.kind == "saved":
            a = {"style": "dotted", "arrowhead": "odot", "color": "#777777"}
        elif e.kind == "cut":
            a = {"style": "dashed", "color": "#999999"}
        else:
            if e.kind == "recur":
                a.update({"style": "dashed", "constraint": "false", "color": "#7a5195"})
            elif e.kind == "state":
                a.update({"color": "#7a5195"})
            if e.nr is not None and not (e.ltail or e.lhead):
                a["taillabel"] = f"{e.nr}"
                a["fontsize"] = "8"
            if self.show_grads:
                c = self.edge_colour_of(e.grad_ref)
                if c is not None:
                    a["color"] = edge_colour(c[0])
                    a["penwidth"] = "2"
                if self.ids:
                    self.paint[f"e{k}"] = (a.get("color", "#666666"), "")
            if e.lhead and e.lhead in self.cluster_ids:
                a["lhead"] = self.cluster_ids[e.lhead]
            if e.ltail and e.ltail in self.cluster_ids:
                a["ltail"] = self.cluster_ids[e.ltail]
        if self.ids:
            a["id"] = f"e{k}"
        return f"{e.src} -> {e.dst}" + (f" {attrs(a)}" if a else "")

    def box_label(self, b: dict) -> str:
        f = b["fold"]
        kind = b.get("kind")
        if kind == "fused":
            rev = ", reversed" if b["reverse"] else ""
            return f"{b['name']} · {b['steps']} time steps{rev}"
        if kind == "step":
            return b["name"]
        if f is not None:
            label = (
                f"repeated ×{f.count}  ({f.period} ops per repeat; "
                f"{f.period * (f.count - 1)} folded)"
            )
            if f.key in self.recurrent:
                second = "dashed edges: into the next repeat"
                return f'<{esc(label)}<BR ALIGN="LEFT"/>{esc(second)}<BR ALIGN="LEFT"/>>'
            return label
        name = b["name"]
        label = f"{name} · {b['cls']}" if b["cls"] and b["cls"] != name else name
        return label + call_text(b)

    def lines(self) -> list[str]:
        lay = self.lay
        # A module box around a single drawn node is not drawn: its name becomes the first
        # line of the node (a box per activation function only adds clutter, and an edge
        # entering a narrow box crosses its label).
        count: dict[tuple, int] = {}
        for uid in lay.order:
            p = lay.units[uid].path
            for d in range(1, len(p) + 1):
                count[p[:d]] = count.get(p[:d], 0) + 1
        paths: dict[str, tuple] = {}
        node_lines = {}
        for uid in lay.order:
            p = lay.units[uid].path
            header = None
            for d in range(1, len(p) + 1):
                if count[p[:d]] == 1:
                    inner = [lay.boxes[p[:j]] for j in range(d, len(p) + 1)]
                    if all(b["fold"] is None for b in inner):
                        header = " › ".join(self.box_label(b) for b in inner)
                        p = p[: d - 1]
                    break
            paths[uid] = p
            node_lines[uid] = self.node_line(lay.units[uid], header)
        g_attrs = {
            "rankdir": self.direction,
            "fontname": FONT,
            "nodesep": "0.25",
            "ranksep": "0.35",
            "newrank": "true",
        }
        if any(e.lhead or e.ltail for e in lay.edges):
            g_attrs["compound"] = "true"  # edges drawn to a box's border (fused layers)
        out = [
            f"\tgraph {attrs(g_attrs)}\n",
            f"\tnode {attrs({'shape': 'box', 'style': 'rounded,filled', 'fontname': FONT, 'fontsize': '10', 'color': '#555555', 'margin': '0.10,0.05', 'height': '0.3'})}\n",  # noqa: E501
            f"\tedge {attrs({'color': '#666666', 'arrowsize': '0.6', 'fontname': FONT})}\n",
        ]
        notes = []
        if self.title:
            notes.append(self.title)
        if self.missing_values or self.missing_grads:
            what = []
            if self.missing_values:
                what.append(f"values of {self.missing_values}")
            if self.missing_grads:
                what.append(f"gradients of {self.missing_grads}")
            notes.append(
                f"{' and '.join(what)} op results were not recorded: run the forward pass "
                f"inside `with autotensor.viz.trace():` (or call retain_grad())"
            )
        if notes:
            out.append(f"\tlabel={q(chr(10).join(notes))} labelloc=t fontsize=11\n")
        # boxes as a tree; each unit declared inside its innermost box
        children: dict[tuple, list] = {}
        members: dict[tuple, list[str]] = {}
        for uid in lay.order:
            p = paths[uid]
            members.setdefault(p, []).append(uid)
            for d in range(1, len(p) + 1):
                parent, me = p[: d - 1], p[:d]
                lst = children.setdefault(parent, [])
                if me not in lst:
                    lst.append(me)
        counter = [0]

        def emit(path: tuple, indent: str) -> None:
            for uid in members.get(path, ()):
                out.append(f"{indent}{node_lines[uid]}\n")
            for child in children.get(path, ()):
                b = lay.boxes[child]
                k = counter[0]
                counter[0] += 1
                if b["fold"] is not None:
                    style = {"style": "dashed,rounded", "color": "#7a5195", "fontcolor": "#7a5195"}
                elif b.get("kind") == "step":
                    style = {"style": "rounded", "color": "#b9a6cf", "fontcolor": "#7a5195"}
                elif b.get("kind") == "fused":
                    style = {"style": "rounded,filled", "fillcolor": "#fbf7ff", "color": "#7a5195"}
                else:
                    depth = b["depth"]
                    shade = ["#f7f7fb", "#eef0f8", "#e4e8f4", "#dae0f0"][min(depth, 3)]
                    style = {"style": "rounded,filled", "fillcolor": shade, "color": "#8c96b4"}
                out.append(f"{indent}subgraph cluster_{k} {{\n")
                self.cluster_ids[child] = f"cluster_{k}"
                a = {"label": self.box_label(b), "fontsize": "10", "labeljust": "l", **style}
                if self.ids:
                    a["id"] = f"cluster_{k}"
                out.append(f"{indent}\tgraph {attrs(a)}\n")
                emit(child, indent + "\t")
                out.append(f"{indent}}}\n")

        emit((), "\t")
        for k, e in enumerate(lay.edges):
            out.append(f"\t{self.edge_line(e, k)}\n")
        if self.legend:
            out.extend(self.legend_lines())
        return out

    def legend_lines(self) -> list[str]:
        rows = [
            '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">',
        ]
        for line in self.legend_title():
            rows.append(f'<TR><TD COLSPAN="2">{line}</TD></TR>')
        for fill, _font, text in legend_rows(self.lo, self.hi, self.relative):
            rows.append(
                f'<TR><TD BGCOLOR="{fill}" WIDTH="20"> </TD>'
                f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{esc(text)}</FONT></TD></TR>'
            )
        rows.append("</TABLE>>")
        label = "".join(rows)
        return [
            "\tsubgraph cluster_legend {\n",
            f"\t\tgraph {attrs({'label': 'legend', 'style': 'rounded', 'color': '#aaaaaa', 'fontsize': '9'})}\n",  # noqa: E501
            f"\t\tlegend {attrs({'label': label, 'shape': 'plaintext', 'style': 'solid'})}\n",
            "\t}\n",
        ]

    def legend_title(self) -> list[str]:
        """The legend's heading: which scale the colours are on."""
        if not self.relative:
            return ["<B>|gradient| (L2 norm)</B>"]
        return [
            "<B>relative |gradient|</B>",
            f'<FONT POINT-SIZE="9">parameters: (|g| / |w|) ÷ median {esc(_sci(self.param_median))}</FONT>',  # noqa: E501
            f'<FONT POINT-SIZE="9">other tensors: |g| ÷ median {esc(_sci(self.op_median))}</FONT>',
        ]

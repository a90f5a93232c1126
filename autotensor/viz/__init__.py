"""`autotensor.viz`: draw the graph that autograd records, with shapes, values and gradients.

    import autotensor as at

    with at.viz.trace():                       # optional: keep statistics of every op
        loss = (at.sigmoid(X @ W)).sum()
    loss.backward()
    g = at.viz.draw(loss, params={"W": W}, show_values=True, show_grads=True)
    g.render("graph", format="svg")           # needs Graphviz's `dot` program
    print(at.viz.text(loss, show_grads=True))  # the same graph as text

One drawn node per recorded op (its class name, output shape and dtype), leaves named from
`params` or marked as inputs, constants when a `trace` saw them, edges from each input to the
op that consumes it. See docs/visualisation.md for the pictures and every option.

Design: the nodes come from `autotensor.graph.topo_sort` (the traversal the engine uses), in
recording order, and drawn ids are topological positions, so the DOT text of a graph is the
same every time. The `graphviz` Python package is imported only by `draw`; `to_dot` and
`text` need neither it nor the `dot` program.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from autotensor.viz._dot import Emitter, fmt, meta_str
from autotensor.viz._html import HTMLPage
from autotensor.viz._html import page as _page
from autotensor.viz._model import GraphView, as_roots, layout, resolve_fold
from autotensor.viz._stats import (
    GradStats,
    ValueStats,
    grad_reached,
    grad_stats,
    leaf_grad,
    op_grad,
    op_values,
    trace,
    value_stats,
)

__all__ = [
    "draw",
    "html",
    "HTMLPage",
    "to_dot",
    "text",
    "trace",
    "GraphvizNotFoundError",
    "main",
    "ValueStats",
    "GradStats",
    "value_stats",
    "grad_stats",
]

INSTALL_HINT = (
    "Graphviz's `dot` program was not found on PATH, and rendering needs it. Install it with "
    "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`conda install graphviz`. The DOT text is available without it: `.source` on the "
    "drawing, or autotensor.viz.to_dot(...)."
)


class GraphvizNotFoundError(RuntimeError):
    """Rendering was asked for but the `dot` program is not installed.

    The exception actually raised also derives from `graphviz.ExecutableNotFound`, so code
    written for the graphviz package catches it too.
    """


_DRAWING_CLASS: Any = None


def _drawing_class() -> Any:
    """A graphviz.Digraph whose render/pipe explain how to install `dot` when it is missing."""
    global _DRAWING_CLASS
    if _DRAWING_CLASS is not None:
        return _DRAWING_CLASS
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "autotensor.viz.draw needs the `graphviz` Python package: pip install graphviz "
            "(or pip install 'autotensor[viz]'). autotensor.viz.to_dot(...) and "
            "autotensor.viz.text(...) work without it."
        ) from None

    class _DotMissing(GraphvizNotFoundError, graphviz.ExecutableNotFound):
        def __init__(self, msg: str) -> None:
            RuntimeError.__init__(self, msg)

    class Drawing(graphviz.Digraph):
        """The drawn graph: a graphviz.Digraph (`.source`, `.render()`, `.pipe()`)."""

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as err:
                raise _DotMissing(INSTALL_HINT) from err

        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as err:
                raise _DotMissing(INSTALL_HINT) from err

        def _repr_svg_(self) -> str:
            """SVG for notebooks (Jupyter also finds `_repr_mimebundle_`)."""
            return self.pipe(format="svg", encoding="utf-8")

    _DRAWING_CLASS = Drawing
    return Drawing


def _check_module(module: Any) -> None:
    if module is None or module is True or module is False:
        return
    if not hasattr(module, "named_modules"):
        raise TypeError(
            f"autotensor.viz: module must be a model with named_modules() (an nn.Module) or "
            f"True (boxes named from the recorded scopes), got {type(module).__name__}"
        )


def _colour_mode(fn: str, colour: str, color: str | None) -> str:
    mode = color if color is not None else colour
    if mode not in ("absolute", "relative"):
        raise ValueError(
            f"autotensor.viz.{fn}: colour must be 'absolute' or 'relative', got {mode!r}"
        )
    return mode


def _layout(
    root_or_roots: Any,
    fn: str,
    params: Any = None,
    module: Any = None,
    max_nodes: int | None = None,
    direction: str = "TB",
    show_saved: bool = False,
    collapse: Any = (),
    fold_repeats: Any = "auto",
    grad_range: tuple[float, float] = (1e-6, 1e2),
    inputs: Any = None,
    expand_fused: Any = False,
) -> Any:
    """Check the arguments shared by draw, to_dot and html, and lay the graph out."""
    roots = as_roots(root_or_roots, fn)
    _check_module(module)
    if direction not in ("TB", "LR", "BT", "RL"):
        raise ValueError(
            f"autotensor.viz.{fn}: direction must be TB, LR, BT or RL, got {direction!r}"
        )
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(
            f"autotensor.viz.{fn}: max_nodes must be a positive int, got {max_nodes!r}"
        )
    if not (
        expand_fused is True
        or expand_fused is False
        or (isinstance(expand_fused, int) and expand_fused >= 1)
    ):
        raise ValueError(
            f"autotensor.viz.{fn}: expand_fused must be True, False or the number of time "
            f"steps to draw (>= 1), got {expand_fused!r}"
        )
    lo, hi = grad_range
    if not (0 < lo < hi):
        raise ValueError(f"autotensor.viz.{fn}: grad_range must be (lo, hi) with 0 < lo < hi")
    group = module is not None and module is not False
    view = GraphView(roots, params, module, group, inputs)
    fold_min = resolve_fold(fold_repeats, len(view.nodes))
    if collapse not in (None, (), []) and not group:
        raise ValueError(
            f"autotensor.viz.{fn}: collapse needs module boxes: pass module=model (or "
            f"module=True for boxes named from autotensor.graph.scope blocks)"
        )
    return layout(view, fold_min, collapse, max_nodes, show_saved, expand_fused)


def _body(
    root_or_roots: Any,
    fn: str,
    params: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    module: Any = None,
    max_nodes: int | None = None,
    direction: str = "TB",
    show_saved: bool = False,
    collapse: Any = (),
    fold_repeats: Any = "auto",
    grad_range: tuple[float, float] = (1e-6, 1e2),
    legend: bool | None = None,
    title: str | None = None,
    inputs: Any = None,
    verbose: bool = True,
    expand_fused: Any = False,
    colour: str = "absolute",
    color: str | None = None,
) -> list[str]:
    """The body lines of the DOT text (shared by draw and to_dot)."""
    mode = _colour_mode(fn, colour, color)
    lay = _layout(
        root_or_roots,
        fn,
        params,
        module,
        max_nodes,
        direction,
        show_saved,
        collapse,
        fold_repeats,
        grad_range,
        inputs,
        expand_fused,
    )
    em = Emitter(lay, show_values, show_grads, grad_range, legend, title, direction, verbose, mode)
    return em.lines()


def to_dot(
    root_or_roots: Any,
    params: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    module: Any = None,
    max_nodes: int | None = None,
    direction: str = "TB",
    show_saved: bool = False,
    collapse: Any = (),
    fold_repeats: Any = "auto",
    grad_range: tuple[float, float] = (1e-6, 1e2),
    legend: bool | None = None,
    title: str | None = None,
    inputs: Any = None,
    verbose: bool = True,
    expand_fused: Any = False,
    colour: str = "absolute",
    color: str | None = None,
) -> str:
    """The DOT text of `draw(...)` (same arguments); needs neither graphviz nor `dot`."""
    body = _body(
        root_or_roots,
        "to_dot",
        params=params,
        show_values=show_values,
        show_grads=show_grads,
        module=module,
        max_nodes=max_nodes,
        direction=direction,
        show_saved=show_saved,
        collapse=collapse,
        fold_repeats=fold_repeats,
        grad_range=grad_range,
        legend=legend,
        title=title,
        inputs=inputs,
        verbose=verbose,
        expand_fused=expand_fused,
        colour=colour,
        color=color,
    )
    return "digraph autotensor {\n" + "".join(body) + "}\n"


def draw(
    root_or_roots: Any,
    params: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    module: Any = None,
    max_nodes: int | None = None,
    direction: str = "TB",
    show_saved: bool = False,
    collapse: Any = (),
    fold_repeats: Any = "auto",
    grad_range: tuple[float, float] = (1e-6, 1e2),
    legend: bool | None = None,
    title: str | None = None,
    inputs: Any = None,
    verbose: bool = True,
    expand_fused: Any = False,
    colour: str = "absolute",
    color: str | None = None,
) -> Any:
    """Draw the graph recorded behind one or more result tensors; returns a graphviz.Digraph.

    Args:
        root_or_roots: a Tensor, or a (nested) list/tuple of Tensors (e.g. `(out, (h, c))`).
            A tensor with no graph (a leaf) is drawn as that single leaf.
        params: names for leaves, `dict(model.named_parameters())` or (name, tensor) pairs;
            defaults to `module.named_parameters()` when `module` is a model. Other leaves
            that require grad are marked "input"; tensors that need no gradient are drawn as
            "constant" when a `trace()` recorded them (the graph itself does not keep them).
        show_values: mean, std, min and max of each tensor (NaN/Inf counted and flagged).
            Leaves always have them; an op result has them when it was recorded under
            `trace()`, kept with `retain_grad()`, or saved by its op for backward.
        show_grads: the L2 norm of the gradient of each tensor after backward, and colours:
            nodes and edges on a log scale of that norm (Note [gradient colours] in _dot.py),
            with a legend. Op results need `trace()` or `retain_grad()`.
        module: a model with `named_modules()`: ops are grouped into one nested box per
            module that ran them (names from `named_modules()`); True: boxes for the
            `autotensor.graph.scope(...)` blocks that were open, named by their owner.
            Under `trace(module=model)` each call of a module is its own box
            ("call 2 of 3").
        max_nodes: draw at most this many op nodes (those nearest the roots); one note
            stands for the rest and says how many of which ops were cut.
        direction: 'TB' (inputs at the top), 'LR', 'BT' or 'RL'.
        show_saved: also draw what each op saved for backward (or that backward freed it).
        collapse: module boxes to draw as one node each: a list of module names
            ("encoder", "layers.0"), or a depth (1: the children of the model).
        fold_repeats: fold runs of identical consecutive blocks of ops (the time steps of an
            RNN) into the first block, boxed and marked "repeated ×N"; True folds runs of 3
            or more, an int sets that minimum, 'auto' (default) folds only graphs of more
            than 150 ops, False never.
        grad_range: (lo, hi) of the absolute colour scale: norms below lo are "vanishing",
            from hi "exploding"; the decades between get one colour each.
        legend: draw the colour legend (default: when show_grads).
        title: a line written above the picture.
        inputs: names for input leaves, {name: tensor} (e.g. {"X": X}); drawn as inputs.
        verbose: False draws op and leaf names only, without shapes and dtypes.
        expand_fused: draw each fused recurrent layer (nn.LSTM/GRU/RNN record one node per
            layer) as its time steps: a box per step with its gates and states, coloured by
            the per-step gradient norms its backward computed (recorded under `trace()`).
            True draws every step; an int N draws the first and last steps, N in all.
        colour: 'absolute' (default: fixed thresholds, `grad_range`) or 'relative'
            (Note [relative colours] in _dot.py: a parameter by |g|/|w| against the median
            ratio of the parameters, other tensors by |g| against the median op result);
            the legend names the scale. `color` is the same argument.

    Returns:
        A graphviz.Digraph subclass: `.source` is the DOT text, `.render(filename,
        format='svg'|'png'|'pdf')` writes a file through `dot`, and notebooks display it.
        Without `dot` installed, rendering raises GraphvizNotFoundError saying how to
        install it.

    Raises:
        TypeError: the root is not a Tensor (or sequence of Tensors), or `module` has no
            `named_modules()`.
        ImportError: the `graphviz` Python package is not installed (to_dot works without).
    """
    body = _body(
        root_or_roots,
        "draw",
        params=params,
        show_values=show_values,
        show_grads=show_grads,
        module=module,
        max_nodes=max_nodes,
        direction=direction,
        show_saved=show_saved,
        collapse=collapse,
        fold_repeats=fold_repeats,
        grad_range=grad_range,
        legend=legend,
        title=title,
        inputs=inputs,
        verbose=verbose,
        expand_fused=expand_fused,
        colour=colour,
        color=color,
    )
    g = _drawing_class()(name="autotensor")
    g.body.extend(body)
    return g


# -- interactive page ---------------------------------------------------------------------------
def html(
    root_or_roots: Any,
    params: Any = None,
    module: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    max_nodes: int | None = None,
    direction: str = "TB",
    show_saved: bool = False,
    collapse: Any = (),
    fold_repeats: Any = "auto",
    grad_range: tuple[float, float] = (1e-6, 1e2),
    title: str | None = None,
    inputs: Any = None,
    verbose: bool = True,
    expand_fused: Any = False,
    colour: str = "absolute",
    color: str | None = None,
) -> HTMLPage:
    """The graph as one self-contained interactive HTML page (a str; notebooks show it).

    The SVG that `dot` draws is embedded with a small script, nothing is loaded from the
    network: a click on a module box collapses or opens it, hovering a node shows its full
    statistics (shape, dtype, mean/std/min/max, gradient norm, bytes saved for backward and,
    under `trace()`, the line of code that created it), a search box highlights nodes and
    parameters by name, and with `show_grads` a switch repaints the colours between the
    absolute and the relative scale (both computed here; `colour` picks the one shown first).
    The other arguments are those of `draw`. Needs Graphviz's `dot` (GraphvizNotFoundError
    says how to install it). `HTMLPage.save(path)` writes the file.
    """
    mode = _colour_mode("html", colour, color)
    lay = _layout(
        root_or_roots,
        "html",
        params,
        module,
        max_nodes,
        direction,
        show_saved,
        collapse,
        fold_repeats,
        grad_range,
        inputs,
        expand_fused,
    )
    args = (lay, show_values, show_grads, grad_range, False, title, direction, verbose)
    em_abs = Emitter(*args, "absolute", ids=True)
    lines = em_abs.lines()
    em_rel = None
    if show_grads:
        em_rel = Emitter(*args, "relative", ids=True)
        rel_lines = em_rel.lines()
        if mode == "relative":
            lines = rel_lines
    g = _drawing_class()(name="autotensor")
    g.body.extend(lines)
    svg = g.pipe(format="svg", encoding="utf-8")
    text_ = _page(lay, svg, em_abs, em_rel, title or "autotensor graph")
    if mode == "relative":  # start on the relative scale: swap which legend shows first
        text_ = text_.replace('<body data-scale="absolute">', '<body data-scale="relative">')
        text_ = text_.replace(
            'value="absolute" checked> absolute', 'value="absolute"> absolute'
        ).replace('value="relative"> relative', 'value="relative" checked> relative')
        text_ = text_.replace(
            'id="legend-absolute" class="legend"',
            'id="legend-absolute" class="legend" style="display:none"',
        ).replace(
            'id="legend-relative" class="legend" style="display:none"',
            'id="legend-relative" class="legend"',
        )
    return HTMLPage(text_)


# -- text form ----------------------------------------------------------------------------------
def text(
    root_or_roots: Any,
    params: Any = None,
    show_values: bool = False,
    show_grads: bool = False,
    module: Any = None,
    inputs: Any = None,
) -> str:
    """The same graph as text: one line per tensor in topological order.

    Each leaf is listed just before the first op that uses it. A line reads::

        %3  Sigmoid   (4, 2) float32   <- %2   [fc1]   mean=.. std=.. min=.. max=..  |g|=..

    with `<-` naming the inputs (`%k:n` for output n of a multi-output op), the module box in
    brackets (when `module` is given), value statistics (show_values) and gradient norms
    (show_grads, ASCII `|g|`; `?` when not recorded, `none` when a trace saw that no
    gradient reached it), and `NaN=`/`Inf=` counts when there are any.
    """
    roots = as_roots(root_or_roots, "text")
    _check_module(module)
    group = module is not None and module is not False
    view = GraphView(roots, params, module, group, inputs)
    lines: list[tuple[str, str, str, str, str]] = []
    names: dict[tuple, str] = {}
    root_ops = {ref[0] for kind, ref in view.root_refs if kind == "op"}
    root_leaves = {(kind, ref) for kind, ref in view.root_refs if kind != "op"}

    def stats(v: ValueStats | None, g: GradStats | None, grad_known: bool) -> str:
        parts = []
        if show_values and v is not None:
            if v.size == 1:
                parts.append(f"value={fmt(v.mean)}")
            else:
                parts.append(
                    f"mean={fmt(v.mean)} std={fmt(v.std)} min={fmt(v.min)} max={fmt(v.max)}"
                )
            if not v.finite:
                parts.append(f"NaN={v.nan} Inf={v.inf}")
        if show_grads:
            if g is not None:
                parts.append(f"|g|={fmt(g.norm)}")
                if not g.finite:
                    parts.append(f"gradNaN={g.nan} gradInf={g.inf}")
            elif grad_known:
                parts.append("|g|=?")
        return "  ".join(parts)

    def leaf_line(kind: str, ref: int) -> str:
        key = (kind, ref)
        if key in names:
            return names[key]
        k = names[key] = f"%{len(lines)}"
        if kind == "leaf":
            t = view.leaves[ref]
            nm = view.pname.get(id(t))
            iname = view.iname.get(id(t))
            what = f"{nm} (param)" if nm else (f"{iname} (input)" if iname else "input")
            meta = meta_str(((t._data.shape, t._data.dtype),))[0]
            st = stats(value_stats(t._data), leaf_grad(t), True)
        else:
            c = view.consts[ref]
            what, meta = "constant", meta_str(((c.shape, c.dtype),))[0]
            st = stats(c.stats, None, False)
        tag = "  [root]" if key in root_leaves else ""
        lines.append((k, what, meta, tag, st))
        return k

    for i, node in enumerate(view.nodes):
        srcs = []
        for inp in view.inputs[i]:
            if inp.kind == "op":
                j, nr = inp.ref
                s = names[("op", j)]
                srcs.append(f"{s}:{nr}" if len(view.nodes[j]._out_meta) > 1 else s)
            else:
                srcs.append(leaf_line(inp.kind, inp.ref))
        k = names[("op", i)] = f"%{len(lines)}"
        meta = " ".join(meta_str(node._out_meta))
        where = ""
        if view.scope_paths[i]:
            where = f"  [{view.qualname(view.scope_paths[i])}]"
        multi = len(node._out_meta) > 1
        st_parts = []
        for nr in range(len(node._out_meta)):
            g = op_grad(node, nr)
            s = stats(op_values(node, nr), g, node._out_meta[nr][1].kind in "fc")
            if g is None and show_grads and grad_reached(node):
                s = s.replace("|g|=?", "|g|=none")  # traced: no gradient reached it
            if s:
                st_parts.append(f"[{nr}] {s}" if multi else s)
        tag = "  [root]" if i in root_ops else ""
        lines.append(
            (
                k,
                type(node).__name__,
                meta,
                f"  <- {', '.join(srcs)}{where}{tag}",
                "  ".join(st_parts),
            )
        )
    for kind, ref in view.root_refs:
        if kind != "op":
            leaf_line(kind, ref)
    w0 = max((len(x[0]) for x in lines), default=2)
    w1 = max((len(x[1]) for x in lines), default=4)
    w2 = max((len(x[2]) for x in lines), default=4)
    n_ops = len(view.nodes)
    head = f"autotensor graph: {n_ops} op{'s' if n_ops != 1 else ''}, {len(view.leaves)} leaves"
    out = [head]
    for k, what, meta, rest, st in lines:
        line = f"{k:<{w0}}  {what:<{w1}}  {meta:<{w2}}{rest}"
        if st:
            line += "   " + st
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


# -- command line -------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """`autotensor-draw` / `python -m autotensor.viz`: draw an example model's graph to a file."""
    from autotensor.viz import examples

    p = argparse.ArgumentParser(
        prog="autotensor-draw",
        description="Draw the autograd graph of an example model (built with autotensor ops) "
        "to a file: .svg, .png or .pdf (through Graphviz's dot), .dot (DOT text) or .txt "
        "(the text form).",
    )
    p.add_argument("--model", choices=sorted(examples.MODELS), default="mlp")
    p.add_argument("-o", "--out", help="output file (default: <model>.svg)")
    p.add_argument("--values", action="store_true", help="show value statistics")
    p.add_argument("--grads", action="store_true", help="run backward; colour by gradient norm")
    p.add_argument("--steps", type=int, default=64, help="time steps of the lstm example")
    p.add_argument("--no-fold", action="store_true", help="do not fold repeated time steps")
    p.add_argument("--no-group", action="store_true", help="no module boxes")
    p.add_argument("--collapse", help="module depth (int) or comma-separated module names")
    p.add_argument("--max-nodes", type=int, default=None)
    p.add_argument("--saved", action="store_true", help="draw saved tensors")
    p.add_argument("--direction", default="TB", choices=["TB", "LR", "BT", "RL"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--html", metavar="FILE", help="write the interactive HTML page to FILE")
    p.add_argument("--relative", action="store_true", help="colour on the relative scale")
    a = p.parse_args(argv)
    out = a.html or a.out or f"{a.model}.svg"
    fmt_ = out.rsplit(".", 1)[-1].lower() if "." in out else "svg"
    kwargs = {"steps": a.steps} if a.model == "lstm" else {}
    ex = examples.build(a.model, seed=a.seed, trace_stats=a.values or a.grads, **kwargs)
    if a.grads:
        ex.root.backward()
    collapse: Any = ()
    if a.collapse:
        collapse = int(a.collapse) if a.collapse.isdigit() else a.collapse.split(",")
    opts = dict(
        params=ex.params,
        show_values=a.values,
        show_grads=a.grads,
        module=None if a.no_group else ex.module,
        max_nodes=a.max_nodes,
        direction=a.direction,
        show_saved=a.saved,
        collapse=collapse,
        fold_repeats=False if a.no_fold else "auto",
        title=ex.title,
        inputs=ex.inputs,
        colour="relative" if a.relative else "absolute",
    )
    try:
        if a.html:
            page_opts = {k: v for k, v in opts.items() if k != "legend"}
            _write(out, html(ex.root, **page_opts))
        elif fmt_ == "txt":
            src = text(ex.root, ex.params, a.values, a.grads, opts["module"], ex.inputs)
            _write(out, src)
        elif fmt_ in ("dot", "gv"):
            _write(out, to_dot(ex.root, **opts))
        else:
            g = draw(ex.root, **opts)
            data = g.pipe(format=fmt_)
            with open(out, "wb") as f:
                f.write(data)
    except (GraphvizNotFoundError, ImportError) as err:
        print(f"autotensor-draw: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def _write(path: str, s: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(s)


if __name__ == "__main__":  # pragma: no cover - python -m autotensor.viz runs __main__.py
    sys.exit(main())

"""Tests of autotensor.viz: real files rendered by the real `dot`, checked as SVG.

Oracles: torch's autograd graph for the number of op nodes and for gradient norms and values
shown in labels; the construction of a graph for what is known about it (3 ops, 64 time
steps, parameter names and shapes).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import autotensor as at
from autotensor import graph
from autotensor.viz import examples

graphviz = pytest.importorskip("graphviz", reason="graphviz Python package not installed")
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAS_DOT, reason="Graphviz `dot` not installed: apt-get install graphviz"
)
SVG = "{http://www.w3.org/2000/svg}"
REPO = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------
def render_svg(g, tmp_path: Path, name: str = "g") -> ET.Element:
    path = g.render(str(tmp_path / name), format="svg", cleanup=True)
    assert Path(path).stat().st_size > 0
    return ET.parse(path).getroot()


def svg_nodes(root: ET.Element) -> dict[str, ET.Element]:
    """Drawn nodes by DOT id (the <title> graphviz writes for each)."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            out[g.find(f"{SVG}title").text] = g
    return out


def _points(elem: ET.Element, with_text: bool) -> list[tuple[float, float]]:
    pts = []
    for e in elem.iter():
        if e.tag in (f"{SVG}polygon", f"{SVG}polyline"):
            for pair in e.get("points").split():
                x, y = pair.split(",")
                pts.append((float(x), float(y)))
        elif e.tag == f"{SVG}path":
            nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", e.get("d"))]
            pts += list(zip(nums[0::2], nums[1::2]))
        elif with_text and e.tag == f"{SVG}text":
            pts.append((float(e.get("x")), float(e.get("y"))))
    return pts


def svg_clusters(root: ET.Element) -> dict[str, tuple[str, tuple]]:
    """Cluster id -> (its label, its bounding box). graphviz writes clusters and nodes as
    siblings, so what lies in a box is found by geometry (`inside`)."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "cluster":
            pts = _points(g, with_text=False)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            label = " ".join(t.text for t in g.iter(f"{SVG}text") if t.text)
            out[g.find(f"{SVG}title").text] = (label, (min(xs), min(ys), max(xs), max(ys)))
    return out


def inside(node: ET.Element, box: tuple) -> bool:
    x0, y0, x1, y1 = box
    return all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in _points(node, with_text=True))


def texts(elem: ET.Element) -> list[str]:
    return [t.text for t in elem.iter(f"{SVG}text") if t.text]


def ops_in_dot(src: str) -> list[str]:
    return re.findall(r"^\s*(op\d+) \[", src, flags=re.M)


def torch_op_count(t) -> int:
    """Nodes of torch's backward graph behind t, AccumulateGrad excluded."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        stack.extend(f for f, _ in n.next_functions)
    return sum(1 for n in seen if type(n).__name__ != "AccumulateGrad")


def number_after(label_texts: list[str], prefix: str) -> float:
    for s in label_texts:
        s = s.strip()
        if s.startswith(prefix):
            return float(s[len(prefix) :].split()[0])
    raise AssertionError(f"no text starting with {prefix!r} in {label_texts}")


def chapter1(rng, requires_x=True):
    X = at.tensor(rng.standard_normal((3, 3)), dtype=at.float32, requires_grad=requires_x)
    W = at.tensor(rng.standard_normal((3, 2)), dtype=at.float32, requires_grad=True)
    return X, W


class Box:
    """A duck-typed module: named_modules(), named_parameters(), and a call that opens a
    graph scope, as nn.Module.__call__ does."""

    def __init__(self, fn, **children):
        self.fn = fn
        self.children = children
        self.params = {}

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, c in self.children.items():
            yield from c.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix=""):
        for name, p in self.params.items():
            yield (f"{prefix}.{name}" if prefix else name), p
        for name, c in self.children.items():
            yield from c.named_parameters(f"{prefix}.{name}" if prefix else name)

    def __call__(self, *args):
        tok = graph.push_scope(self)
        try:
            return self.fn(self, *args)
        finally:
            graph.pop_scope(tok)


def linear_box(rng, n_in, n_out):
    b = Box(lambda m, x: at.functional.linear(x, m.params["weight"], m.params["bias"]))
    b.params["weight"] = at.tensor(
        rng.standard_normal((n_out, n_in)) * 0.3, dtype=at.float32, requires_grad=True
    )
    b.params["bias"] = at.tensor(np.zeros(n_out), dtype=at.float32, requires_grad=True)
    return b


def mlp_model(rng):
    fc1, fc2 = linear_box(rng, 5, 4), linear_box(rng, 4, 2)
    return Box(lambda m, x: m.children["fc2"](m.children["fc1"](x).tanh()), fc1=fc1, fc2=fc2)


# -- the book's chapter-1 graph, rendered -------------------------------------------------------
@needs_dot
def test_chapter1_svg_nodes_names_shapes(rng, tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    X, W = chapter1(rng)
    L = (X @ W).sigmoid().sum()
    g = at.viz.draw(L, params={"W": W}, inputs={"X": X})
    root = render_svg(g, tmp_path)
    notebook = ET.fromstring(g._repr_svg_().encode())  # what a notebook displays
    assert len(svg_nodes(notebook)) == len(svg_nodes(root)) == 5
    nodes = svg_nodes(root)
    ops = [k for k in nodes if k.startswith("op")]
    Xt = torch.tensor(X.detach().numpy(), requires_grad=True)
    Wt = torch.tensor(W.detach().numpy(), requires_grad=True)
    assert len(ops) == torch_op_count((Xt @ Wt).sigmoid().sum()) == 3
    leaves = [k for k in nodes if k.startswith("leaf")]
    assert len(leaves) == 2
    all_text = texts(root)
    for op in ("MatMul", "Sigmoid"):
        assert op in all_text
    assert any(s.startswith("Sum") for s in all_text)
    w_node = next(nodes[k] for k in leaves if "W" in texts(nodes[k]))
    assert "(3, 2) float32" in texts(w_node)
    x_node = next(nodes[k] for k in leaves if "X" in texts(nodes[k]))
    assert "input" in texts(x_node) and "(3, 3) float32" in texts(x_node)
    # edges run input -> op -> output: 2 leaf edges + MatMul->Sigmoid->Sum
    edges = [
        g_.find(f"{SVG}title").text for g_ in root.iter(f"{SVG}g") if g_.get("class") == "edge"
    ]
    assert len(edges) == 4
    assert all("&#45;&gt;" in e or "->" in e for e in edges)


@needs_dot
def test_values_and_grad_norms_match_torch(rng, tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    X, W = chapter1(rng)
    with at.viz.trace():
        S = (X @ W).sigmoid()
        L = S.sum()
    L.backward()
    root = render_svg(at.viz.draw(L, params={"W": W}, show_values=True, show_grads=True), tmp_path)
    nodes = svg_nodes(root)
    Xt = torch.tensor(X.detach().numpy(), requires_grad=True)
    Wt = torch.tensor(W.detach().numpy(), requires_grad=True)
    St = (Xt @ Wt).sigmoid()
    St.retain_grad()
    St.sum().backward()
    sig = next(n for n in nodes.values() if "Sigmoid" in texts(n))
    t = texts(sig)
    assert number_after(t, "|g|") == pytest.approx(St.grad.norm().item(), rel=1e-3)
    mean_std = next(s for s in t if s.startswith("μ"))
    mu, sd = re.findall(r"[-\d.e+]+", mean_std)[:2]
    assert float(mu) == pytest.approx(St.mean().item(), rel=1e-3)
    assert float(sd) == pytest.approx(St.std(unbiased=False).item(), rel=1e-3)
    lo_hi = next(s for s in t if s.startswith("["))
    lo, hi = (float(v) for v in lo_hi.strip("[]").split(","))
    assert lo == pytest.approx(St.min().item(), rel=1e-3)
    assert hi == pytest.approx(St.max().item(), rel=1e-3)
    w = next(n for n in nodes.values() if "W" in texts(n))
    assert number_after(texts(w), "|g|") == pytest.approx(Wt.grad.norm().item(), rel=1e-3)
    # colour legend: a cluster with the scale's ends
    clusters = svg_clusters(root)
    assert "cluster_legend" in clusters
    legend = texts(nodes["legend"])
    assert inside(nodes["legend"], clusters["cluster_legend"][1])
    joined = " ".join(legend)
    assert "vanishing" in joined and "exploding" in joined and "NaN / Inf" in joined
    assert len([s for s in legend if "–" in s]) == 8  # one row per decade


def test_grad_colour_scale():
    from autotensor.viz import _dot
    from autotensor.viz._stats import GradStats

    lo, hi = 1e-6, 1e2
    assert _dot.grad_colour(GradStats(1e-7, 0, 0), lo, hi) == _dot.VANISH
    assert _dot.grad_colour(GradStats(1e3, 0, 0), lo, hi) == _dot.EXPLODE
    assert _dot.grad_colour(GradStats(0.0, 0, 0), lo, hi) == _dot.ZERO
    assert _dot.grad_colour(GradStats(math.nan, 1, 0), lo, hi) == _dot.NONFINITE
    assert _dot.grad_colour(None, lo, hi) is None
    # one colour per decade, increasing with the norm
    cols = [_dot.grad_colour(GradStats(10.0 ** (e + 0.5), 0, 0), lo, hi) for e in range(-6, 2)]
    assert cols == _dot.DECADES
    assert len(_dot.legend_rows(lo, hi)) == len(_dot.DECADES) + 4


# -- modules, collapse --------------------------------------------------------------------------
@needs_dot
def test_module_boxes_nested_and_param_names(rng, tmp_path):
    model = mlp_model(rng)
    x = at.tensor(rng.standard_normal((3, 5)), dtype=at.float32)
    y = model(x).sum()
    root = render_svg(at.viz.draw(y, module=model), tmp_path)
    clusters = svg_clusters(root)
    by_label = {lab: box for lab, box in clusters.values()}
    assert set(by_label) == {"Box", "fc1 · Box", "fc2 · Box"}  # the model: its class
    nodes = svg_nodes(root)
    named = {" ".join(texts(n)): n for n in nodes.values()}
    w1 = next(n for t, n in named.items() if t.startswith("fc1.weight"))
    assert "(4, 5) float32" in texts(w1)
    assert inside(w1, by_label["fc1 · Box"]) and not inside(w1, by_label["fc2 · Box"])
    w2 = next(n for t, n in named.items() if t.startswith("fc2.weight"))
    assert inside(w2, by_label["fc2 · Box"])
    # nesting: both layers' boxes lie inside the model's box; every op is in the model's box
    mx0, my0, mx1, my1 = by_label["Box"]
    for lab in ("fc1 · Box", "fc2 · Box"):
        x0, y0, x1, y1 = by_label[lab]
        assert mx0 <= x0 and my0 <= y0 and x1 <= mx1 and y1 <= my1
    ops = [n for k, n in nodes.items() if k.startswith("op")]
    total = next(n for n in ops if texts(n)[0].startswith("Sum"))  # .sum() after model(x)
    assert not inside(total, by_label["Box"])
    assert all(inside(n, by_label["Box"]) for n in ops if n is not total)
    tanh = next(n for n in ops if "Tanh" in texts(n))  # run by the model, not by a layer
    assert not inside(tanh, by_label["fc1 · Box"]) and not inside(tanh, by_label["fc2 · Box"])
    # a graph without module= has no boxes
    root2 = render_svg(at.viz.draw(y), tmp_path, "flat")
    assert svg_clusters(root2) == {}


def test_collapse_by_name_and_depth(rng):
    model = mlp_model(rng)
    x = at.tensor(rng.standard_normal((3, 5)), dtype=at.float32)
    y = model(x).sum()
    full = at.viz.to_dot(y, module=model)
    n_full = len(ops_in_dot(full))
    fc1_ops = sum(1 for n in graph.topo_sort([y.grad_fn]) if model.children["fc1"] in n._scope)
    col = at.viz.to_dot(y, module=model, collapse=["fc1"])
    assert len(ops_in_dot(col)) == n_full - fc1_ops
    boxes = re.findall(r"^\s*(box\d+) \[(.*)\]$", col, flags=re.M)
    assert len(boxes) == 1
    assert "fc1" in boxes[0][1] and f"{fc1_ops} ops" in boxes[0][1]
    assert "fc1.weight (4, 5)" in boxes[0][1]  # the parameter is listed inside the box
    by_depth = at.viz.to_dot(y, module=model, collapse=1)
    assert len(re.findall(r"^\s*box\d+ \[", by_depth, flags=re.M)) == 2
    assert (
        len(re.findall(r"^\s*box\d+ \[", at.viz.to_dot(y, module=model, collapse=0), flags=re.M))
        == 1
    )
    with pytest.raises(ValueError, match="collapse needs module boxes"):
        at.viz.to_dot(y, collapse=1)


def test_string_scopes_with_module_true(rng):
    x = at.tensor(rng.standard_normal((2, 3)), dtype=at.float32, requires_grad=True)
    with graph.scope("encoder"):
        with graph.scope("block"):
            h = x.tanh()
    y = (h * 2).sum()
    with graph.scope("encoder"):
        z = x.exp() * 3.0
    y = y + z.sum()
    src = at.viz.to_dot(y, module=True)
    assert 'label="encoder"' in src  # a box: several ops ran in it
    # a box around one op is not drawn; the op's label names it
    assert 'label="block"' not in src
    tanh = next(ln for ln in src.splitlines() if "<B>Tanh</B>" in ln)
    assert "<I>block</I>" in tanh
    with graph.scope("solo"):
        w = x.sin()
    src = at.viz.to_dot((w + x).sum(), module=True)
    assert "cluster" not in src and "<I>solo</I>" in src
    with pytest.raises(TypeError, match="named_modules"):
        at.viz.to_dot(y, module=object())


# -- determinism, text form ---------------------------------------------------------------------
def test_dot_is_deterministic():
    a = examples.build("mlp", seed=3, trace_stats=True)
    a.root.backward()
    b = examples.build("mlp", seed=3, trace_stats=True)
    b.root.backward()
    kw = dict(show_values=True, show_grads=True, module=True, show_saved=True)
    s1 = at.viz.to_dot(a.root, a.params, **kw)
    assert s1 == at.viz.to_dot(a.root, a.params, **kw)  # same graph twice
    assert s1 == at.viz.to_dot(b.root, b.params, **kw)  # an equal graph built again
    assert at.viz.draw(a.root, a.params, **kw).source == s1
    assert not re.search(r"\d{9,}", s1)  # no id()-like numbers


def test_text_form(rng):
    X, W = chapter1(rng)
    with at.viz.trace():
        L = (X @ W).sigmoid().sum()
    L.backward()
    txt = at.viz.text(L, params={"W": W}, show_grads=True, show_values=True)
    lines = txt.splitlines()
    assert lines[0] == "autotensor graph: 3 ops, 2 leaves"
    body = lines[1:]
    assert len(body) == 5  # 2 leaves + 3 ops, one line each
    kinds = [ln.split()[1] for ln in body]
    assert kinds == ["input", "W", "MatMul", "Sigmoid", "Sum"]
    # topological: every input named on a line was defined on an earlier line
    for k, ln in enumerate(body):
        assert ln.startswith(f"%{k} ")
        for ref in re.findall(r"%(\d+)", ln.split("<-")[1] if "<-" in ln else ""):
            assert int(ref) < k
    assert "(3, 2) float32" in body[1] and "(3, 2) float32" in body[2]
    assert "[root]" in body[4]
    w_norm = float(re.search(r"\|g\|=(\S+)", body[1]).group(1))
    assert w_norm == pytest.approx(float(np.linalg.norm(W.grad.numpy())), rel=1e-3)
    assert "mean=" in body[3] and "|g|=" in body[3]


# -- bad input ----------------------------------------------------------------------------------
def test_bad_roots():
    for bad in (3.0, np.ones(3), None, "loss"):
        with pytest.raises(TypeError, match="expected a Tensor"):
            at.viz.to_dot(bad)
        with pytest.raises(TypeError, match="expected a Tensor"):
            at.viz.text(bad)
    with pytest.raises(TypeError, match="must be Tensors"):
        at.viz.to_dot([at.ones(2), 1.0])
    with pytest.raises(ValueError, match="no root"):
        at.viz.to_dot([])
    with pytest.raises(ValueError, match="direction"):
        at.viz.to_dot(at.ones(2), direction="up")
    with pytest.raises(TypeError, match="params"):
        at.viz.to_dot(at.ones(2), params={"w": np.ones(2)})


@needs_dot
def test_leaf_root_draws_single_node(tmp_path):
    w = at.ones(2, 3, requires_grad=True)
    root = render_svg(at.viz.draw(w, params={"w": w}), tmp_path)
    nodes = svg_nodes(root)
    assert list(nodes) == ["leaf0"]
    assert "w" in texts(nodes["leaf0"]) and "(2, 3) float32" in texts(nodes["leaf0"])
    c = at.zeros(4)  # no grad at all: a constant
    assert "constant" in at.viz.to_dot(c)
    assert at.viz.text(c).splitlines()[1].split()[1] == "constant"


@needs_dot
def test_freed_graph_still_drawable(rng, tmp_path):
    x = at.tensor(rng.standard_normal((4, 3)), dtype=at.float32, requires_grad=True)
    y = (x.exp() * x).sum()
    before = at.viz.to_dot(y, show_saved=True, show_values=True)
    assert "saved output" in before and "saved input" in before
    saving = [n for n in graph.topo_sort([y.grad_fn]) if n._saved]
    assert saving
    y.backward()  # frees the saved tensors
    assert all(n._freed and n._saved is None for n in saving)
    after = at.viz.to_dot(y, show_saved=True, show_values=True)
    assert len(ops_in_dot(after)) == len(ops_in_dot(before)) == 3
    assert "freed by backward" in after and "saved output" not in after
    root = render_svg(at.viz.draw(y, show_saved=True, show_values=True), tmp_path)
    assert len([k for k in svg_nodes(root) if k.startswith("op")]) == 3


# -- statistics: NaN/Inf, retain_grad, trace ----------------------------------------------------
def test_nan_inf_flagged(rng):
    x = at.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    with at.viz.trace(), np.errstate(all="ignore"):
        y = x.log()  # NaN, -Inf, finite
        z = (y * 1.0).sum()
        z.backward()
    src = at.viz.to_dot(z, show_values=True, show_grads=True)
    assert "NaN×1 Inf×1" in src  # the value of log(x)
    assert "! grad" in src  # x's gradient 1/x has Inf at 0
    assert '"#ff00ff"' in src  # NaN/Inf colour used
    txt = at.viz.text(z, show_values=True)
    log_line = next(ln for ln in txt.splitlines() if " Log " in ln)
    assert "NaN=1 Inf=1" in log_line


def test_retain_grad_without_trace(rng):
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    a = rng.standard_normal((3, 4))
    x = at.tensor(a, dtype=at.float64, requires_grad=True)
    h = (x * 3.0).tanh()
    h.retain_grad()
    y = (h * h).sum()
    y.backward()
    src = at.viz.to_dot(y, show_grads=True, show_values=True)
    xt = torch.tensor(a, requires_grad=True)
    ht = (xt * 3.0).tanh()
    ht.retain_grad()
    (ht * ht).sum().backward()
    tanh_label = next(ln for ln in src.splitlines() if "<B>Tanh</B>" in ln)
    g = float(re.search(r"\|g\| ([^<\s]+)", tanh_label).group(1))
    assert g == pytest.approx(ht.grad.norm().item(), rel=1e-3)
    # the Mul op's value was not recorded: the picture says how to get it
    assert "autotensor.viz.trace()" in src


def test_trace_restores_observer_and_costs_nothing_after():
    assert graph._observer is None
    x = at.ones(3, requires_grad=True)
    with at.viz.trace() as tr:
        assert graph._observer is not None
        y = (x * 2).sum()
    assert graph._observer is None
    assert tr.count == 2
    z = (x * 2).sum()  # recorded outside: no statistics kept
    assert "_viz_values" in y.grad_fn.__dict__
    assert "_viz_values" not in z.grad_fn.__dict__
    assert z.grad_fn._hooks is None


# -- folding, cutting, performance --------------------------------------------------------------
@pytest.mark.parametrize("steps", [5, 17])
def test_rnn_steps_fold(rng, steps):
    w = at.tensor(rng.standard_normal((6, 6)) * 0.5, dtype=at.float32, requires_grad=True)
    u = at.tensor(rng.standard_normal((3, 6)) * 0.5, dtype=at.float32, requires_grad=True)
    xs = at.tensor(rng.standard_normal((steps, 2, 3)), dtype=at.float32)
    h = at.zeros(2, 6)
    for t in range(steps):
        h = (xs[t] @ u + h @ w).tanh()
    loss = h.sum()
    n_ops = len(graph.topo_sort([loss.grad_fn]))
    src = at.viz.to_dot(loss, fold_repeats=True)
    assert f"repeated ×{steps}" in src
    per_step = (n_ops - 1) // steps  # construction: the same ops each step, then Sum
    assert len(ops_in_dot(src)) == n_ops - per_step * (steps - 1)
    # the recurrence: dashed edges back into the step, explained in the box's label
    assert "dashed edges: into the next repeat" in src
    assert re.search(r"op\d+ -> op\d+ \[style=\"dashed\" constraint=\"false\"", src)
    # under a trace each step's input x[t] is known as a constant: only the drawn step's is
    # shown, not one per step
    with at.viz.trace():
        h = at.zeros(2, 6)
        for t in range(steps):
            h = (xs[t] @ u + h @ w).tanh()
    traced = at.viz.to_dot(h.sum(), fold_repeats=True)
    assert len(re.findall(r"^\s*const\d+ \[", traced, flags=re.M)) == 2  # x[0] and h0
    unfolded = at.viz.to_dot(loss, fold_repeats=False)
    assert len(ops_in_dot(unfolded)) == n_ops
    assert "repeated" not in unfolded


@needs_dot
def test_lstm_2layer_64_steps_fast_folded_readable(tmp_path):
    t0 = time.perf_counter()
    ex = examples.build("lstm", steps=64, trace_stats=True)
    ex.root.backward()
    n_ops = len(graph.topo_sort([ex.root.grad_fn]))
    assert n_ops > 1500  # thousands of recorded ops
    t1 = time.perf_counter()
    g = at.viz.draw(ex.root, params=ex.params, module=True, show_grads=True, show_values=True)
    t_draw = time.perf_counter() - t1
    assert t_draw < 5.0, f"drawing {n_ops} ops took {t_draw:.2f}s"
    # the two layers' steps (stack along dim 0 is one cat and a reshape, so no repeat of its own)
    assert g.source.count("repeated ×64") == 2
    drawn = ops_in_dot(g.source)
    assert len(drawn) < 80
    t2 = time.perf_counter()
    root = render_svg(g, tmp_path)
    t_render = time.perf_counter() - t2
    assert t_render < 10.0
    clusters = svg_clusters(root)
    labels = [c[0] for c in clusters.values()]
    assert sum(lab.startswith("repeated ×64") for lab in labels) == 2
    for name in ("lstm", "layer0", "layer1", "head", "loss"):
        assert name in labels
    assert "cluster_legend" in clusters
    assert len([k for k in svg_nodes(root) if k.startswith("op")]) == len(drawn)
    print(
        f"lstm: {n_ops} ops, build+backward {t1 - t0:.2f}s, draw {t_draw:.2f}s, "
        f"dot {t_render:.2f}s, {len(drawn)} op nodes drawn"
    )


def test_max_nodes_cut_note():
    ex = examples.build("lstm", steps=8)
    n_ops = len(graph.topo_sort([ex.root.grad_fn]))
    src = at.viz.to_dot(ex.root, max_nodes=40, fold_repeats=False)
    drawn = ops_in_dot(src)
    assert len(drawn) == 40
    m = re.search(r"(\d+) earlier ops not drawn", src)
    assert m and int(m.group(1)) + 40 == n_ops
    assert "max_nodes=40" in src
    # the ops kept are those nearest the root: the loss's ops are all there
    assert f"op{n_ops - 1} " in src
    with pytest.raises(ValueError, match="max_nodes"):
        at.viz.to_dot(ex.root, max_nodes=0)


# -- a small property test: op count agrees with torch's graph ----------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

UNARY = ["exp", "tanh", "sigmoid", "square", "double", "add_self", "sum0", "transpose"]

if given is not None:

    @settings(max_examples=25, deadline=None)
    @given(
        ops=st.lists(st.sampled_from(UNARY), min_size=1, max_size=8),
        shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    )
    def test_op_count_matches_torch(ops, shape):
        torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")

        def run(x, lib):
            for op in ops:
                if op == "exp":
                    x = x.exp()
                elif op == "tanh":
                    x = x.tanh()
                elif op == "sigmoid":
                    x = x.sigmoid()
                elif op == "square":
                    x = x * x
                elif op == "double":
                    x = x * 2.0
                elif op == "add_self":
                    x = x + x
                elif op == "sum0":
                    x = x.sum(0, keepdim=True)
                elif op == "transpose":
                    x = x.transpose(0, 1)
            return x.sum()

        a = np.linspace(-1, 1, shape[0] * shape[1]).reshape(shape)
        with np.errstate(all="ignore"):  # chained exp may overflow: the graph is the same
            ours = run(at.tensor(a, requires_grad=True), at)
        theirs = run(torch.tensor(a, requires_grad=True), torch)
        src = at.viz.to_dot(ours)
        assert len(ops_in_dot(src)) == torch_op_count(theirs)
        txt = at.viz.text(ours)
        assert len(txt.splitlines()) == 1 + torch_op_count(theirs) + 1  # header, ops, leaf
        assert src == at.viz.to_dot(ours)


# -- rendering without `dot`, the command line --------------------------------------------------
def test_render_without_dot_says_how_to_install(tmp_path, monkeypatch):
    ex = examples.build("chapter1")
    g = at.viz.draw(ex.root, params=ex.params)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None
    assert "digraph autotensor" in g.source  # the DOT text needs no dot
    for call in (
        lambda: g.render(str(tmp_path / "x"), format="svg"),
        lambda: g.pipe(format="png"),
        g._repr_svg_,
    ):
        with pytest.raises(at.viz.GraphvizNotFoundError, match="apt-get install graphviz") as e:
            call()
        assert isinstance(e.value, graphviz.ExecutableNotFound)
    rc = at.viz.main(["--model", "chapter1", "-o", str(tmp_path / "c.svg")])
    assert rc == 1 and not (tmp_path / "c.svg").exists()
    assert at.viz.main(["--model", "chapter1", "-o", str(tmp_path / "c.dot")]) == 0
    assert (tmp_path / "c.dot").read_text().startswith("digraph autotensor {")


@needs_dot
def test_cli_draws_example_models(tmp_path):
    out = tmp_path / "mlp.svg"
    assert at.viz.main(["--model", "mlp", "--grads", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    t = texts(root)
    assert "dense1.weight" in t and "(13, 13) float32" in t
    assert "cluster_legend" in svg_clusters(root)
    assert "legend" in svg_nodes(root)
    out_txt = tmp_path / "cnn.txt"
    assert at.viz.main(["--model", "cnn", "-o", str(out_txt)]) == 0
    assert out_txt.read_text().startswith("autotensor graph:")
    # python -m autotensor.viz, in a fresh interpreter
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "autotensor.viz",
            "--model",
            "chapter1",
            "-o",
            str(tmp_path / "c.png"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_autotensor_never_imports_nn():
    code = (
        "import sys, autotensor, autotensor.viz, autotensor.viz.examples; "
        "print('nn' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_edges_coloured_like_the_gradient_they_carry(rng):
    from autotensor.viz import _dot

    X, W = chapter1(rng)
    with at.viz.trace():
        L = (X @ W).sigmoid().sum()
    L.backward()
    src = at.viz.to_dot(L, params={"W": W}, show_grads=True, direction="LR")
    assert 'rankdir="LR"' in src
    fills = dict(re.findall(r'^\s*(\w+) \[.*?fillcolor="(#[0-9a-f]{6})"', src, flags=re.M))
    edges = re.findall(r'^\s*(\w+) -> (\w+) \[color="(#[0-9a-f]{6})"', src, flags=re.M)
    assert len(edges) == 4
    for a, _, colour in edges:  # an edge carries its producer's gradient
        assert colour == _dot.edge_colour(fills[a])


def test_with_nn_modules(rng):
    nn = pytest.importorskip("nn", reason="nn package not importable")
    if not all(hasattr(nn, k) for k in ("Sequential", "Linear", "Tanh")):
        pytest.skip("nn.Sequential / nn.Linear / nn.Tanh not available")
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    x = at.tensor(rng.standard_normal((3, 5)), dtype=at.float32)
    with at.viz.trace():
        y = model(x).sum()
    y.backward()
    src = at.viz.to_dot(y, module=model, show_grads=True)
    assert 'label="0 · Linear"' in src and 'label="2 · Linear"' in src
    assert 'label="Sequential"' in src
    for name, p in model.named_parameters():
        assert f"<B>{name}</B>" in src  # params named from the model by default
        assert _dot_shape(p) in src
    collapsed = at.viz.to_dot(y, module=model, collapse=1)
    assert len(re.findall(r"^\s*box\d+ \[", collapsed, flags=re.M)) == 3
    txt = at.viz.text(y, module=model)
    assert "[0]" in txt and "[2]" in txt


def _dot_shape(t) -> str:
    from autotensor.viz._dot import shape_str

    return shape_str(tuple(t.shape))


def test_cell_module_folded_then_collapsed(rng):
    """A cell module called every step: its steps fold, and the collapsed cell stands for all
    of them, with the recurrence as a dashed edge onto itself."""
    steps = 12
    cell = Box(lambda m, x, h: (x @ m.params["u"] + h @ m.params["w"]).tanh())
    for name, shape in (("u", (3, 5)), ("w", (5, 5))):
        cell.params[name] = at.tensor(
            rng.standard_normal(shape), dtype=at.float32, requires_grad=True
        )

    def run(m, xs):
        h = at.zeros(2, 5)
        for t in range(xs.shape[0]):
            h = m.children["cell"](xs[t], h)
        return h.sum()

    model = Box(run, cell=cell)
    xs = at.tensor(rng.standard_normal((steps, 2, 3)), dtype=at.float32)
    with at.viz.trace():
        loss = model(xs)
    loss.backward()
    n_cell_ops = sum(1 for n in graph.topo_sort([loss.grad_fn]) if cell in n._scope)
    src = at.viz.to_dot(loss, module=model, fold_repeats=True, collapse=["cell"], show_grads=True)
    assert f"repeated ×{steps}" in at.viz.to_dot(loss, module=model, fold_repeats=True)
    boxes = re.findall(r"^\s*(box\d+) \[(.*)\]$", src, flags=re.M)
    assert len(boxes) == 1
    uid, label = boxes[0]
    assert f"{n_cell_ops} ops in {steps} repeats" in label  # stands for every step's ops
    assert "cell.u (3, 5)" in label and "cell.w (5, 5)" in label
    assert re.search(rf"{uid} -> {uid} \[style=\"dashed\" constraint=\"false\"", src)
    # the strip of per-step colours is drawn in the collapsed node
    assert label.count('HEIGHT="7"') == steps
    compact = at.viz.to_dot(loss, module=model, verbose=False)
    assert "float32" not in compact and "Tanh" in compact


def test_without_graphviz_package(monkeypatch):
    import autotensor.viz as viz

    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now fails
    monkeypatch.setattr(viz, "_DRAWING_CLASS", None)
    x = at.ones(2, requires_grad=True)
    y = (x * 3).sum()
    with pytest.raises(ImportError, match="pip install graphviz"):
        viz.draw(y)
    assert viz.to_dot(y).startswith("digraph autotensor {")  # needs no graphviz
    assert "Mul" in viz.text(y)

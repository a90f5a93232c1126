"""The graph of a real model, explorable: a box per module call, fused recurrent layers drawn
as their time steps (with the per-step gradient norms of the composed path), relative colours,
and the HTML page's content. Rendering goes through the real `dot` program."""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import autotensor as at
import nn

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)
pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")


def _svg(g) -> str:
    return g.pipe(format="svg", encoding="utf-8")


def _cluster_labels(svg: str) -> list[str]:
    """The label text of every box (cluster) in an SVG drawn by dot."""
    out = []
    for m in re.finditer(r'<g id="[^"]*" class="cluster">(.*?)</g>', svg, flags=re.S):
        texts = re.findall(r"<text[^>]*>(.*?)</text>", m.group(1), flags=re.S)
        out.append(html.unescape(" ".join(texts)).replace("\xa0", " "))
    return out


def _node_fill(svg: str, dot_name: str) -> str:
    """The fill of the shape of node `dot_name` (its <title>) in an SVG drawn by dot."""
    m = re.search(
        r'<g id="[^"]*" class="node">\s*<title>' + re.escape(dot_name) + r"</title>\s*"
        r'<(?:polygon|path|ellipse) fill="([^"]+)"',
        svg,
    )
    assert m, f"node {dot_name} not in the SVG"
    return m.group(1)


# -- a box per module call ----------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).tanh() + x


class Looped(nn.Module):
    """blocks[1] applied three times in a row, then blocks[0] once."""

    def __init__(self, repeats: int = 3) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.repeats = repeats

    def forward(self, x):
        for _ in range(self.repeats):
            x = self.blocks[1](x)
        return self.blocks[0](x).sum()


@needs_dot
def test_each_call_of_a_module_is_its_own_box():
    at.manual_seed(0)
    model = Looped()
    with at.viz.trace(module=model):
        loss = model(at.randn(2, 4))
    loss.backward()
    svg = _svg(at.viz.draw(loss, module=model, show_grads=True, fold_repeats=False))
    labels = _cluster_labels(svg)
    calls = [lab for lab in labels if lab.startswith("blocks.1 · Block")]
    assert sorted(calls) == [f"blocks.1 · Block  call {k} of 3" for k in (1, 2, 3)]
    # called once: no "call k of n"
    assert "blocks.0 · Block" in labels
    # nested calls nest: each Block call holds its own Linear call (a 2-node box: the
    # Linear op and, in the first call, the input drawn as a constant)
    inner = [lab for lab in labels if lab.startswith("blocks.1.fc")]
    assert len(inner) <= 3 and all("of 3" in lab for lab in inner)
    # without a trace of the calls, one box for all three (the earlier behaviour)
    with at.viz.trace():
        loss2 = model(at.randn(2, 4))
    loss2.backward()
    labels2 = _cluster_labels(_svg(at.viz.draw(loss2, module=model, fold_repeats=False)))
    assert sum(lab.startswith("blocks.1 · Block") for lab in labels2) == 1
    assert not any("call" in lab for lab in labels2)


def test_calls_in_a_loop_fold_like_time_steps():
    at.manual_seed(0)
    model = Looped(repeats=8)
    with at.viz.trace(module=model):
        loss = model(at.randn(2, 4))
    loss.backward()
    src = at.viz.to_dot(loss, module=model, fold_repeats=True, show_grads=True)
    assert "repeated ×8" in src
    # the one drawn call box inside the fold stands for all eight calls
    assert "calls 1–8 of 8" in src
    assert "call 2 of 8" not in src


def test_trace_hooks_removed_on_exit():
    model = Looped()
    with at.viz.trace(module=model) as tr:
        model(at.randn(2, 4))
    assert tr.calls == 1 + 4 + 4 and tr.count > 0  # the model, 4 Block calls, 4 Linear calls
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    with pytest.raises(TypeError, match="named_modules"):
        at.viz.trace(module=42)


# -- fused recurrent layers, opened -------------------------------------------------------------
def _lstm_pair(T: int, B: int = 3, I: int = 5, H: int = 4):
    """A 1-layer nn.LSTM and an nn.LSTMCell with the same float64 weights and a loss that
    reads every step (so every step's gradient is non-trivial)."""
    at.manual_seed(1)
    lstm = nn.LSTM(I, H).double()
    cell = nn.LSTMCell(I, H).double()
    with at.no_grad():
        for a, b in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                     ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):  # fmt: skip
            getattr(cell, a).copy_(getattr(lstm, b))
    x = at.randn(T, B, I, dtype=at.float64)
    w = at.randn(T, B, H, dtype=at.float64)
    return lstm, cell, x, w


@needs_dot
def test_expanded_lstm_steps_and_per_step_grad_norms_match_the_composed_path():
    T, H = 7, 4
    lstm, cell, x, w = _lstm_pair(T, H=H)
    with at.viz.trace():
        out, (hn, cn) = lstm(x)
        loss = (out * w).sum() + (cn**2).sum()
    loss.backward()
    node = out.grad_fn
    assert type(node).__name__ == "LSTMLayer"

    # the composed path: LSTMCell stepped in Python, every intermediate kept
    hs, cs = [], []
    h = c = at.zeros(3, H, dtype=at.float64)
    with at.viz.trace(module=cell) as tr:
        for t in range(T):
            h, c = cell(x[t], (h, c))
            h.retain_grad()
            c.retain_grad()
            hs.append(h)
            cs.append(c)
        loss2 = (at.stack(hs, 0) * w).sum() + (c**2).sum()
    loss2.backward()
    assert tr.calls == T
    np.testing.assert_allclose(loss.item(), loss2.item(), rtol=1e-12)
    sg = node.step_grads
    for t in range(T):
        np.testing.assert_allclose(sg["h"][t], np.linalg.norm(hs[t].grad.numpy()), rtol=1e-6)
        np.testing.assert_allclose(sg["c"][t], np.linalg.norm(cs[t].grad.numpy()), rtol=1e-6)
    # gates: in each call of the cell the sigmoids are f, i, o and the tanhs g, tanh(c)
    steps: dict[int, list] = {}
    for n in at.graph.topo_sort([loss2.grad_fn]):
        call = n.__dict__.get("_viz_call")
        if call is not None:
            steps.setdefault(call.serial, []).append(n)
    assert len(steps) == T
    for t, serial in enumerate(sorted(steps)):
        sig = [n for n in steps[serial] if type(n).__name__ == "Sigmoid"]
        tanh = [n for n in steps[serial] if type(n).__name__ == "Tanh"]
        composed = {"f": sig[0], "i": sig[1], "o": sig[2], "g": tanh[0]}
        for k, n in composed.items():
            want = n._viz_grads[0].norm
            np.testing.assert_allclose(sg[k][t], want, rtol=1e-6, atol=1e-12, err_msg=f"{k}[{t}]")

    # drawn: one box per time step, the per-step norms in the labels
    g = at.viz.draw(out, show_grads=True, expand_fused=True)
    svg = _svg(g)
    labels = _cluster_labels(svg)
    assert sorted(lab for lab in labels if lab.startswith("t = ")) == sorted(
        f"t = {t}" for t in range(T)
    )
    assert any(lab.startswith(f"LSTMLayer · {T} time steps") for lab in labels)
    src = g.source
    for t in range(T):
        assert f"|g| {at.viz.fmt(sg['h'][t])}" in src


def test_expand_fused_two_layers_wires_steps_and_limits():
    at.manual_seed(0)
    model = nn.LSTM(3, 4, num_layers=2)
    x = at.randn(20, 2, 3)
    with at.viz.trace():
        out, _ = model(x)
        loss = out[-1].sum()
    loss.backward()
    src = at.viz.to_dot(loss, show_grads=True, expand_fused=True)
    assert src.count("LSTMLayer · 20 time steps") == 2
    assert len(re.findall(r'label="t = \d+"', src)) == 40
    # layer 1's h_t feeds step t of layer 2
    ids = re.findall(r"^\s*(op\d+)t5h \[", src, flags=re.M)
    assert len(ids) == 2
    lo, hi = sorted(ids, key=lambda s: int(s[2:]))
    assert re.search(rf"^\s*{lo}t5h -> {hi}t5g\b", src, flags=re.M)
    # an int draws that many steps, one note for the rest
    short = at.viz.to_dot(loss, show_grads=True, expand_fused=6)
    assert len(re.findall(r'label="t = \d+"', short)) == 12
    assert short.count("steps 3–16 not drawn") == 2
    with pytest.raises(ValueError, match="expand_fused"):
        at.viz.to_dot(loss, expand_fused=0)


def test_gru_and_rnn_expand_with_recorded_norms():
    at.manual_seed(0)
    for cls, names in ((nn.GRU, ("r", "z", "n", "h")), (nn.RNN, ("h",))):
        m = cls(3, 4)
        with at.viz.trace():
            out, h = m(at.randn(5, 2, 3))
        out.sum().backward()
        node = out.grad_fn
        assert set(names) <= set(node.step_grads)
        assert all(np.all(np.isfinite(node.step_grads[k])) for k in names)
        src = at.viz.to_dot(out, show_grads=True, expand_fused=True)
        assert len(re.findall(r'label="t = \d+"', src)) + src.count("t = ") >= 5


def test_fused_path_records_nothing_without_trace():
    m = nn.LSTM(3, 4)
    out, _ = m(at.randn(5, 2, 3))
    out.sum().backward()
    assert out.grad_fn.step_grads is None


# -- relative colours ---------------------------------------------------------------------------
@needs_dot
def test_relative_colour_singles_out_a_starved_layer():
    """Three linear layers; the middle one's weights are 100x larger than the others', so
    its gradient is small relative to its weights (|g|/|w| ~1e-4 of the others') although
    its absolute gradient norm is like theirs."""
    at.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 1))
    with at.no_grad():
        model[1].weight.mul_(100.0)
    loss = model(at.randn(16, 6)).pow(2).mean() * 1e-6  # every gradient small in absolute
    loss.backward()
    params = dict(model.named_parameters())
    ids = {}
    src = at.viz.to_dot(loss, module=model, show_grads=True)
    for name in ("0.weight", "1.weight", "2.weight"):
        m = re.search(r"^\s*(leaf\d+) \[label=<[^\n]*?<B>" + re.escape(name) + "</B>", src,
                      flags=re.M)  # fmt: skip
        ids[name] = m.group(1)
    fills = {}
    for mode in ("absolute", "relative"):
        svg = _svg(at.viz.draw(loss, module=model, show_grads=True, colour=mode))
        fills[mode] = {n: _node_fill(svg, i) for n, i in ids.items()}
        assert ("relative |gradient|" in svg) == (mode == "relative")
    order = [f for f, _ in at.viz._dot.DECADES]
    scale = [at.viz._dot.VANISH[0], *order, at.viz._dot.EXPLODE[0]]

    def cls(fill: str) -> int:
        return scale.index(fill)

    a, r = fills["absolute"], fills["relative"]
    # absolute: all in the "vanishing" end; the starved layer does not stand out
    assert abs(cls(a["1.weight"]) - cls(a["0.weight"])) <= 1
    # relative: its colour class changes and it is the lowest, >= 3 classes below the others
    assert r["1.weight"] != a["1.weight"]
    assert cls(r["1.weight"]) + 3 <= min(cls(r["0.weight"]), cls(r["2.weight"]))
    ratio = [np.linalg.norm(p.grad.numpy()) / np.linalg.norm(p.detach().numpy()) for p in
             (params["0.weight"], params["1.weight"])]  # fmt: skip
    assert ratio[1] < 1e-3 * ratio[0]
    # the American spelling is the same argument
    assert at.viz.to_dot(loss, module=model, show_grads=True, color="relative") == at.viz.to_dot(
        loss, module=model, show_grads=True, colour="relative"
    )
    with pytest.raises(ValueError, match="colour"):
        at.viz.to_dot(loss, colour="rainbow")


# -- the page -----------------------------------------------------------------------------------
def _models():
    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "draw_models.py"
    spec = importlib.util.spec_from_file_location("draw_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_dot
def test_html_page_self_contained_for_gpt_and_lstm():
    dm = _models()
    gpt, gpt_loss = dm.gpt_loss(layers=4)
    labels = re.findall(r"blocks\.\d · Block", at.viz.to_dot(gpt_loss, module=gpt))
    assert sorted(set(labels)) == [f"blocks.{k} · Block" for k in range(4)]
    for model, loss, kw in (
        (gpt, gpt_loss, {}),
        (*dm.lstm_loss(steps=64), {"expand_fused": True}),
    ):
        page = at.viz.html(loss, module=model, show_values=True, show_grads=True, **kw)
        assert isinstance(page, str) and page.startswith("<!DOCTYPE html>")
        assert "<svg" in page and 'id="viz-data"' in page
        # nothing from outside: no external script, style sheet or image
        assert not re.search(r"<script[^>]+src=|<link\b|https?://(?!www\.w3\.org)", page)
        assert "iframe" in page._repr_html_()


@needs_dot
def test_cli_html(tmp_path):
    out = tmp_path / "mlp.html"
    assert at.viz.main(["--model", "mlp", "--grads", "--values", "--html", str(out)]) == 0
    text = out.read_text()
    assert "<svg" in text and "find:" in text


def test_recording_steps_leaves_the_gradients_unchanged():
    """Recording per-step norms (Note [per-step records]) only reads what backward computes."""
    grads = []
    for record in (False, True):
        at.manual_seed(3)
        m = nn.LSTM(3, 4, num_layers=2, proj_size=2).double()
        x = at.randn(6, 2, 3, dtype=at.float64, requires_grad=True)
        out, (h, c) = m(x)
        if record:
            for t in (out, h, c):
                node = t.grad_fn
                while node is not None and type(node).__name__ != "LSTMLayer":
                    node = next((n for n, _ in node.next_functions if isinstance(n, at.Function)),
                                None)  # fmt: skip
                if node is not None:
                    node.record_steps = True
        (out.sum() + c.pow(2).sum()).backward()
        assert (out.grad_fn.step_grads is not None) == record
        grads.append([x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in m.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


class CellLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(3, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = c = at.zeros(2, 4)
        for t in range(x.shape[0]):
            h, c = self.cell(x[t], (h, c))
        return self.head(h).sum()


def test_cell_calls_fold_inside_one_fold_box_and_collapse():
    at.manual_seed(0)
    model = CellLoop()
    with at.viz.trace(module=model):
        loss = model(at.randn(20, 2, 3))
    loss.backward()
    src = at.viz.to_dot(loss, module=model, show_grads=True)
    # the fold box is around the call box that stands for all twenty calls
    fold, call = src.index("repeated ×20"), src.index("cell · LSTMCell  calls 1–20 of 20")
    assert fold < call
    assert "call 2 of 20" not in src
    col = at.viz.to_dot(loss, module=model, show_grads=True, collapse=["cell"])
    boxes = re.findall(r"^\s*box\d+ \[(.*)$", col, flags=re.M)
    assert len(boxes) == 1 and "in 20 repeats" in boxes[0]

"""The interactive page: one self-contained HTML file around the SVG that `dot` draws.

Nothing is fetched: the SVG is inline, and so are a small style sheet, the data (statistics
per drawn node, the members of every box, the colours of both scales) and a small script.
The script does four things on the static drawing:

- a click on a box (a module call, a fold, a fused layer, a time step) collapses it: its
  nodes and the edges between them leave the DOM (kept aside, put back by the next click),
  and the box shows how many nodes it holds;
- hovering a node shows its full statistics in a tooltip (shape, dtype, mean/std/min/max,
  gradient norm, bytes saved for backward, the line of code that created it);
- the search box highlights the nodes whose name, op or module matches;
- the colour switch repaints nodes, edges and cells with the absolute or the relative scale
  (both computed here, Note [relative colours] in _dot.py), and swaps the legend.

Element ids in the SVG are the drawn unit ids (`op3`, `leaf0`, `cluster_2`, `e5`), set
through DOT `id` attributes, so the data and the drawing meet without parsing labels.
"""

# ruff: noqa: E501  (the inline script keeps its statements on one line each)
from __future__ import annotations

import html as _html
import json
from typing import Any

from autotensor.viz._dot import Emitter, esc, fmt, legend_rows, meta_str, op_title
from autotensor.viz._model import Layout
from autotensor.viz._stats import (
    fused_steps,
    leaf_grad,
    op_grad,
    op_values,
    saved_entries,
    source_line,
    value_stats,
)


class HTMLPage(str):
    """The page as a string (write it to a .html file); notebooks display it inline
    (`_repr_html_`, in an iframe so its script and styles stay apart from the notebook's)."""

    def _repr_html_(self) -> str:
        return (
            '<iframe style="width:100%;height:640px;border:1px solid #ccc" srcdoc="'
            + _html.escape(str(self), quote=True)
            + '"></iframe>'
        )

    def save(self, path: str) -> None:
        """Write the page to `path` (UTF-8)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(str(self))


# -- data for the script ------------------------------------------------------------------------
def _vstats(v: Any) -> dict | None:
    if v is None:
        return None
    d = {"mean": fmt(v.mean), "std": fmt(v.std), "min": fmt(v.min), "max": fmt(v.max)}
    if not v.finite:
        d["nan"], d["inf"] = v.nan, v.inf
    return d


def _saved_bytes(node: Any) -> str:
    if getattr(node, "_freed", False):
        return "freed by backward"
    total = 0
    for _kind, obj in saved_entries(node):
        a = obj[1] if _kind == 1 else getattr(obj, "_data", obj)
        total += int(getattr(a, "nbytes", 0))
    for a in getattr(node, "_bufs", ()) or ():
        total += int(getattr(a, "nbytes", 0))
    return _bytes(total)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def unit_info(lay: Layout, em: Emitter, uid: str) -> dict:
    """What the tooltip shows for one drawn unit, and the text the search box matches."""
    view = lay.view
    u = lay.units[uid]
    where = " › ".join(
        em.box_label(lay.boxes[u.path[:d]])
        for d in range(1, len(u.path) + 1)
        if u.path[:d] in lay.boxes
    )
    info: dict[str, Any] = {"where": where}
    if u.kind == "op":
        node = view.nodes[u.ref]
        outs = []
        for nr, m in enumerate(node._out_meta):
            gs = [g for i in u.members if (g := op_grad(view.nodes[i], nr)) is not None]
            o: dict[str, Any] = {"meta": meta_str((m,))[0], "values": _vstats(op_values(node, nr))}
            if gs:
                norms = [g.norm for g in gs]
                o["grad"] = fmt(norms[0]) if len(norms) == 1 else (
                    f"{fmt(min(norms))} … {fmt(max(norms))} over {len(norms)} repeats")  # fmt: skip
            outs.append(o)
        info.update(
            title=op_title(node),
            kind="op",
            outputs=outs,
            saved=_saved_bytes(node),
            source=source_line(node) or "not recorded (run the forward under viz.trace())",
        )
        if len(u.members) > 1:
            info["repeats"] = len(u.members)
        info["search"] = f"{type(node).__name__} {where}"
    elif u.kind == "leaf":
        t = view.leaves[u.ref]
        name = view.pname.get(id(t)) or view.iname.get(id(t)) or "input"
        g = leaf_grad(t)
        o = {"meta": meta_str(((t._data.shape, t._data.dtype),))[0],
             "values": _vstats(value_stats(t._data))}  # fmt: skip
        if g is not None:
            o["grad"] = fmt(g.norm)
            r = em._ratio(t)
            if r is not None:
                o["ratio"] = fmt(r)
        info.update(
            title=name,
            kind="parameter" if id(t) in view.pname else "input",
            outputs=[o],
            saved="",
            source="",
        )
        info["search"] = f"{name} {where}"
    elif u.kind in ("fstate", "fgates"):
        i, t = u.ref[0], u.ref[1]
        node = view.nodes[i]
        names = [u.ref[2]] if u.kind == "fstate" else list(u.ref[2])
        _, vals, grads = fused_steps(node)
        outs = []
        for k in names:
            o = {"meta": f"{k}[{t}]  {em._step_meta(node, k)}"}
            if vals and k in vals:
                o["values"] = _vstats(vals[k][t])
            if grads and k in grads:
                o["grad"] = fmt(float(grads[k][t]))
            outs.append(o)
        info.update(
            title=f"{type(node).__name__} step {t}: " + ", ".join(names),
            kind="time step",
            outputs=outs,
            saved="",
            source=source_line(node) or "",
        )
        info["search"] = f"{' '.join(names)} step {t} {type(node).__name__} {where}"
    elif u.kind == "box":
        b = u.extra["box"]
        info.update(title=b["qualname"] or b["name"], kind="collapsed module",
                    outputs=[], saved="", source="")  # fmt: skip
        info["ops"] = len(u.members)
        info["search"] = f"{b['qualname']} {b['name']} {b['cls']}"
    else:
        info.update(title=u.kind, kind=u.kind, outputs=[], saved="", source="")
        info["search"] = u.kind
    return info


def _legend_html(em: Emitter) -> str:
    heads = em.legend_title()
    rows = "".join(
        f'<tr><td class="sw" style="background:{fill}"></td><td>{esc(text)}</td></tr>'
        for fill, _font, text in legend_rows(em.lo, em.hi, em.relative)
    )
    head = "".join(f'<tr><td colspan="2">{h}</td></tr>' for h in heads)
    return f"<table>{head}{rows}</table>"


# -- the page -----------------------------------------------------------------------------------
def page(lay: Layout, svg: str, em_abs: Emitter, em_rel: Emitter | None, title: str) -> str:
    """The HTML text: the SVG inline and the script with its data."""
    units = {uid: unit_info(lay, em_abs, uid) for uid in lay.order}
    members: dict[str, list[str]] = {}
    for uid in lay.order:
        p = lay.units[uid].path
        for d in range(1, len(p) + 1):
            cid = em_abs.cluster_ids.get(p[:d])
            if cid is not None:
                members.setdefault(cid, []).append(uid)
    edges = [[f"e{k}", e.src, e.dst] for k, e in enumerate(lay.edges)]
    data = {
        "units": units,
        "members": members,
        "edges": edges,
        "paint": {"absolute": em_abs.paint, "relative": em_rel.paint if em_rel else {}},
        "cells": {"absolute": em_abs.cells, "relative": em_rel.cells if em_rel else {}},
    }
    legends = ""
    if em_abs.show_grads:
        legends = f'<div id="legend-absolute" class="legend">{_legend_html(em_abs)}</div>'
        if em_rel is not None:
            legends += (
                f'<div id="legend-relative" class="legend" style="display:none">'
                f"{_legend_html(em_rel)}</div>"
            )
    switch = ""
    if em_rel is not None:
        switch = (
            '<label><input type="radio" name="scale" value="absolute" checked> absolute</label>'
            '<label><input type="radio" name="scale" value="relative"> relative</label>'
        )
    # the SVG without its XML prolog (it is inline)
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.format(
        title=esc(title),
        svg=svg,
        legends=legends,
        switch=switch,
        data=payload,
        style=_STYLE,
        script=_SCRIPT,
    )


_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#222}
#bar{position:sticky;top:0;z-index:2;background:#f4f4f8;border-bottom:1px solid #ccc;
 padding:6px 10px;display:flex;gap:14px;align-items:center;flex-wrap:wrap;font-size:13px}
#search{width:16em;padding:2px 4px}
#graph{padding:8px;overflow:auto}
#graph svg{max-width:none}
g.cluster{cursor:pointer}
g.cluster.collapsed>polygon,g.cluster.collapsed>path{fill:#d9d2ea;stroke:#7a5195;stroke-width:2}
g.node.hit>polygon:first-of-type,g.node.hit>path:first-of-type,g.node.hit>ellipse{
 stroke:#e8000b;stroke-width:4}
#tip{position:fixed;display:none;z-index:3;background:#fffff4;border:1px solid #888;
 padding:6px 8px;font-size:12px;max-width:520px;box-shadow:2px 2px 6px rgba(0,0,0,.2);
 pointer-events:none;white-space:pre-wrap}
.legend{position:fixed;right:8px;top:48px;background:#fff;border:1px solid #bbb;
 font-size:11px;padding:4px;z-index:2}
.legend td.sw{width:18px}
"""

_SCRIPT = r"""
(function(){
const D = JSON.parse(document.getElementById('viz-data').textContent);
const svg = document.querySelector('#graph svg');
const tip = document.getElementById('tip');
const byId = id => svg.querySelector('[id="' + id + '"]');
// -- tooltips
function fmtInfo(u){
  let s = u.title + '  (' + u.kind + ')';
  if (u.where) s += '\nin ' + u.where;
  if (u.repeats) s += '\nstands for ' + u.repeats + ' repeats';
  if (u.ops) s += '\n' + u.ops + ' ops';
  for (const o of u.outputs){
    s += '\n' + o.meta;
    if (o.values){ const v = o.values;
      s += '\n  mean ' + v.mean + '  std ' + v.std + '  min ' + v.min + '  max ' + v.max;
      if (v.nan !== undefined) s += '  NaN ' + v.nan + '  Inf ' + v.inf; }
    if (o.grad !== undefined) s += '\n  |grad| ' + o.grad;
    if (o.ratio !== undefined) s += '   |grad|/|w| ' + o.ratio;
  }
  if (u.saved) s += '\nsaved for backward: ' + u.saved;
  if (u.source) s += '\ncreated at: ' + u.source;
  return s;
}
for (const g of svg.querySelectorAll('g.node')){
  const u = D.units[g.id]; if (!u) continue;
  const t = g.querySelector('title'); if (t) t.remove();  // no native tooltip on top
  g.addEventListener('mouseenter', () => { tip.textContent = fmtInfo(u); tip.style.display = 'block'; });
  g.addEventListener('mousemove', ev => { tip.style.left = (ev.clientX + 14) + 'px'; tip.style.top = (ev.clientY + 14) + 'px'; });
  g.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
}
// -- collapsing boxes
const removed = {};      // element id -> [element, parent]
const owner = {};        // element id -> the cluster that removed it
const edgesOf = {};
for (const [eid, s, d] of D.edges){ (edgesOf[s] = edgesOf[s] || []).push(eid); (edgesOf[d] = edgesOf[d] || []).push(eid); }
function take(id, cid){ if (removed[id]) return; const el = byId(id); if (!el) return;
  removed[id] = [el, el.parentNode]; owner[id] = cid; el.remove(); }
function collapse(cid){
  const inside = new Set(D.members[cid] || []);
  for (const id of inside){ take(id, cid);
    for (const e of edgesOf[id] || []){
      const ed = D.edges.find(x => x[0] === e);  // small graphs per box; fine
      if (inside.has(ed[1]) && inside.has(ed[2])) take(e, cid); } }
  const c = byId(cid); c.classList.add('collapsed');
  const txt = c.querySelector('text');
  if (txt){ txt.dataset.label = txt.textContent; txt.textContent += '  [' + inside.size + ' nodes: click to open]'; }
}
function expand(cid){
  for (const id of Object.keys(owner)) if (owner[id] === cid){
    const [el, parent] = removed[id]; parent.appendChild(el); delete removed[id]; delete owner[id]; }
  const c = byId(cid); c.classList.remove('collapsed');
  const txt = c.querySelector('text'); if (txt && txt.dataset.label) txt.textContent = txt.dataset.label;
}
for (const c of svg.querySelectorAll('g.cluster')){
  if (!D.members[c.id]) continue;
  c.addEventListener('click', ev => { ev.stopPropagation();
    if (c.classList.contains('collapsed')) expand(c.id); else collapse(c.id); });
}
window.vizCollapse = collapse; window.vizExpand = expand;
// -- search
const box = document.getElementById('search'), count = document.getElementById('count');
box.addEventListener('input', () => {
  const q = box.value.trim().toLowerCase();
  for (const g of svg.querySelectorAll('g.node.hit')) g.classList.remove('hit');
  if (!q){ count.textContent = ''; return; }
  const hits = Object.keys(D.units).filter(id => (D.units[id].title + ' ' + D.units[id].search).toLowerCase().includes(q));
  let first = null;
  for (const id of hits){ if (owner[id]) expand(owner[id]); const el = byId(id);
    if (el){ el.classList.add('hit'); first = first || el; } }
  count.textContent = hits.length + (hits.length === 1 ? ' match' : ' matches');
  if (first) first.scrollIntoView({block: 'center', inline: 'center'});
});
// -- colour scale
function repaint(mode){
  const P = D.paint[mode] || {}, C = D.cells[mode] || {};
  for (const id in P){ const el = byId(id) || (removed[id] && removed[id][0]); if (!el) continue;
    const [fill, font] = P[id];
    if (el.classList.contains('edge')){
      for (const p of el.querySelectorAll('path')) p.setAttribute('stroke', fill);
      for (const p of el.querySelectorAll('polygon')){ p.setAttribute('stroke', fill); p.setAttribute('fill', fill); }
    } else {
      const shape = el.querySelector('polygon, path, ellipse'); if (shape) shape.setAttribute('fill', fill);
      if (font) for (const t of el.querySelectorAll('text')) t.setAttribute('fill', font);
    } }
  for (const id in C){ const el = byId(id) || (removed[id] && removed[id][0]); if (!el) continue;
    // each coloured cell is a polygon with a transparent stroke; its text follows it
    let k = -1;
    for (const child of el.children){
      if (child.tagName === 'polygon' && child.getAttribute('stroke') === 'transparent'){
        k += 1; if (C[id][k]) child.setAttribute('fill', C[id][k][0]);
      } else if (child.tagName === 'text' && k >= 0 && C[id][k] && C[id][k][1]) child.setAttribute('fill', C[id][k][1]);
    } }
  for (const m of ['absolute', 'relative']){ const l = document.getElementById('legend-' + m);
    if (l) l.style.display = m === mode ? 'block' : 'none'; }
  document.body.dataset.scale = mode;
}
for (const r of document.querySelectorAll('input[name=scale]')) r.addEventListener('change', () => repaint(r.value));
window.vizRepaint = repaint;
document.body.dataset.ready = '1';
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>{style}</style></head>
<body data-scale="absolute">
<div id="bar"><b>{title}</b>
<span>find: <input id="search" type="search" placeholder="node or parameter name">
<span id="count"></span></span>
<span>colour scale: {switch}</span>
<span style="color:#666">click a box to collapse or open it; hover a node for its statistics</span>
</div>
{legends}
<div id="graph">{svg}</div>
<div id="tip"></div>
<script type="application/json" id="viz-data">{data}</script>
<script>{script}</script>
</body></html>
"""

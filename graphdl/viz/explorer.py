"""The graph explorer: one self-contained HTML file (``gd.render(outputs, "graph.html")``,
``graphdl render model.py -o graph.html``).

The page holds the Graphviz SVG of the graph (drawn as `graphdl.viz.dot.to_dot` draws it, every
scope expanded), a JSON table describing every node, and a small script; nothing is loaded from the
network. In the page: click a scope's frame to fold or unfold it (its nodes hide behind the frame,
edges into it stay); hover or click a node to see its op, type, the line of the user's code that
built it and, when ``at=`` values were given, its value and its adjoint (for arrays: shape,
min/max/mean, norm and a small histogram); a search box highlights the matching nodes; a switch
shows the primal graph, the derivative graph or both.

Values are computed node by node with the engine's reference evaluator (`graphdl.ops.evaluate`),
so nothing is compiled; a node whose operands have no value (an input left out of ``at``) has
none either.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops.evaluate import evaluate
from graphdl.ops.leaves import INPUT
from graphdl.viz import styles
from graphdl.viz.dot import (
    INSTALL_HINT,
    RenderError,
    _Drawer,
    _new_digraph,
    _outputs,
    _plan,
    cluster_name,
    dot_available,
)

HISTOGRAM_BINS = 12


def to_html(graph: Node | Sequence[Node], *, wrt: Any = None,
            at: Mapping[Node | str, Any] | None = None, collapse: Any = None,
            rankdir: str | None = None, title: str | None = None, max_nodes: int | None = 400,
            legend: bool = True, links: bool = False, **unused: Any) -> str:
    """The explorer page of ``graph`` as one HTML string. ``wrt``: also draw the gradient (as
    `to_dot`); ``at``: input values (by node or name) to show each node's value and adjoint;
    ``collapse``: scopes folded when the page opens (as `to_dot`'s, unfolded with a click)."""
    import graphviz

    wanted = {k: v for k, v in unused.items() if v not in (None, False)}
    if wanted:
        raise ValueError(f"render: the .html explorer does not take {', '.join(sorted(wanted))}")
    outs = _outputs(graph)
    plan = _plan(outs, wrt)
    digraph = _new_digraph(rankdir or ("TB" if wrt not in (None, False) else "LR"), title)
    drawer = _Drawer(plan, "", None, max_nodes, links)
    drawer.draw(digraph)
    if legend:
        styles.add_legend(digraph, drawer.kinds_used(), links and bool(plan.adjoint_links),
                          column=digraph.graph_attr["rankdir"] in ("TB", "BT"))
    if not dot_available():
        raise RenderError(f"render: an .html explorer needs Graphviz's 'dot' program, which is "
                          f"not on PATH. {INSTALL_HINT}")
    try:
        svg = digraph.pipe(format="svg").decode("utf-8")
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"render: dot failed on the explorer's drawing: {exc.stderr!r}") from exc
    svg = svg[svg.index("<svg"):]
    values = _values(plan.nodes, outs, at) if at is not None else {}
    adjoint_of = {primal: adjoint for adjoint, primal in plan.adjoint_links}
    folded = _Drawer(plan, "", collapse, None)
    data = {"nodes": {}, "clusters": {}, "folded": [], "values": bool(at is not None)}
    for node in plan.nodes:
        ident = drawer.node_id(node)
        entry = {
            "label": plan.labels[node].replace("\\n", " "), "op": node.op.name,
            "type": node.type_str(), "dtype": str(node.dtype), "name": node.name or "",
            "origin": node.origin, "kind": plan.kinds[node],
            "side": "backward" if drawer.backward(ident, node) else "forward",
            "scope": "/".join(drawer.scopes[node]),
        }
        if node in values:
            entry["value"] = _summary(values[node])
        if node in adjoint_of and adjoint_of[node] in values:
            entry["adjoint"] = _summary(values[adjoint_of[node]])
        data["nodes"][ident] = entry
        path = drawer.scopes[node]
        for k in range(1, len(path) + 1):
            cluster = data["clusters"].setdefault(cluster_name("", path[:k]),
                                                  {"label": path[k - 1], "members": []})
            cluster["members"].append(ident)
        if folded.folded[node]:
            name = cluster_name("", folded.folded[node])
            if name not in data["folded"]:
                data["folded"].append(name)
    return _PAGE.format(title=html.escape(title or "graphdl graph"), svg=svg,
                        data=_script_json(data), script=_SCRIPT, style=_STYLE)


def _values(nodes: list[Node], outs: list[Node], at: Mapping[Node | str, Any]
            ) -> dict[Node, Any]:
    """Each node's value for the given inputs (by node or name), where all its operands have
    one."""
    given: dict[Node, Any] = {}
    by_name = {n.name: n for n in nodes if n.op is INPUT and n.name}
    for key, value in at.items():
        node = by_name.get(key) if isinstance(key, str) else key
        if node is None:
            raise ValueError(f"render: at= names {key!r}, which is no input of the graph "
                             f"(inputs: {', '.join(sorted(by_name)) or 'none'})")
        array = np.asarray(value, dtype=node.dtype)
        expected = node.shape
        if array.ndim != len(expected) or any(
                d is not None and d != a for d, a in zip(expected, array.shape)):
            raise ValueError(f"render: at= value for {node.label()} has shape {array.shape}, "
                             f"expected {node.type_str()}")
        given[node] = array
    values: dict[Node, Any] = {}
    for node in nodes:
        if node.op is INPUT:
            if node in given:
                values[node] = given[node]
            continue
        if not all(i in values for i in node.inputs):
            continue
        try:
            values[node] = evaluate(node, [values[i] for i in node.inputs])
        except Exception:  # noqa: BLE001 - a value the page cannot show is left out
            continue
    return values


def _number(x: float) -> float | str:
    return float(f"{float(x):.6g}") if math.isfinite(x) else str(x)


def _summary(value: Any) -> dict[str, Any]:
    """A value as the page shows it: a scalar itself; an array its shape, min/max/mean, norm and
    a histogram of its finite entries."""
    array = np.asarray(value)
    if array.ndim == 0:
        return {"shape": [], "value": _number(float(array)) if array.dtype.kind in "fiub"
                else str(array)}
    out: dict[str, Any] = {"shape": list(array.shape)}
    if array.size == 0 or array.dtype.kind not in "fiub":
        return out
    flat = array.astype(np.float64).ravel()
    finite = flat[np.isfinite(flat)]
    out.update(min=_number(flat.min()), max=_number(flat.max()), mean=_number(flat.mean()),
               norm=_number(float(np.linalg.norm(flat))))
    if finite.size:
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
        out["hist"] = [int(c) for c in counts]
        out["range"] = [_number(edges[0]), _number(edges[-1])]
    return out


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no ``</`` can end it early)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body { font-family: monospace; margin: 0; display: flex; flex-direction: column; height: 100vh; }
#gd-bar { padding: 6px 10px; border-bottom: 1px solid #ced4da; display: flex; gap: 12px;
          align-items: center; flex-wrap: wrap; }
#gd-main { display: flex; flex: 1; min-height: 0; }
#gd-graph { flex: 1; overflow: auto; }
#gd-info { width: 340px; border-left: 1px solid #ced4da; padding: 8px; overflow: auto;
           white-space: pre-wrap; font-size: 12px; }
#gd-info h3 { margin: 4px 0; font-size: 13px; }
.gd-hist { display: flex; align-items: flex-end; height: 40px; gap: 1px; margin: 4px 0; }
.gd-hist div { background: #4c6ef5; width: 14px; }
g.node, g.cluster { cursor: pointer; }
g.cluster > polygon, g.cluster > path { pointer-events: all; }
g.gd-hidden { display: none; }
g.gd-dim { opacity: 0.2; }
g.gd-hit polygon, g.gd-hit path { stroke: #e03131; stroke-width: 3px; }
g.gd-selected polygon { stroke: #f08c00; stroke-width: 3px; }
g.cluster.gd-folded polygon, g.cluster.gd-folded path { fill: #f3f0ff; stroke-width: 2px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style></head>
<body>
<div id="gd-bar"><strong>{title}</strong>
<label>search <input id="gd-search" type="search" placeholder="op, name or shape"></label>
<label>show <select id="gd-view"><option value="both">primal and derivative</option>
<option value="primal">primal only</option><option value="derivative">derivative only</option>
</select></label>
<button id="gd-fold-all" type="button">fold all scopes</button>
<button id="gd-unfold-all" type="button">unfold all</button>
<span id="gd-status"></span></div>
<div id="gd-main"><div id="gd-graph">{svg}</div>
<div id="gd-info">Hover or click a node to see it; click a scope's frame to fold it.</div></div>
<script id="gd-data" type="application/json">{data}</script>
<script>{script}</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("gd-data").textContent);
  const svg = document.querySelector("#gd-graph svg");
  const info = document.getElementById("gd-info");
  const nodes = {}, clusters = {}, edges = [];
  svg.querySelectorAll("g.node").forEach(function (g) {
    const id = g.querySelector("title").textContent;
    nodes[id] = g; g.setAttribute("data-gd", id);
  });
  svg.querySelectorAll("g.edge").forEach(function (g) {
    const ends = g.querySelector("title").textContent.split("->");
    edges.push({g: g, a: ends[0], b: ends[1]});
  });
  svg.querySelectorAll("g.cluster").forEach(function (g) {
    const name = g.querySelector("title").textContent;
    if (data.clusters[name]) { clusters[name] = g; g.setAttribute("data-gd-scope", name); }
  });
  const folded = new Set(data.folded);
  let view = "both", query = "", selected = null;

  function shown(id) {
    const n = data.nodes[id];
    if (!n) return true;  // legend entries
    if (view === "primal" && n.side === "backward") return false;
    if (view === "derivative" && n.side === "forward" && n.kind !== "shared"
        && n.kind !== "input") return false;
    return true;
  }
  function hiddenBy(id) {  // the outermost folded scope holding the node, if any
    let found = null;
    folded.forEach(function (name) {
      if (data.clusters[name].members.indexOf(id) >= 0 &&
          (found === null || name.length < found.length)) found = name;
    });
    return found;
  }
  function update() {
    const q = query.toLowerCase();
    let hits = 0;
    Object.keys(nodes).forEach(function (id) {
      const g = nodes[id], n = data.nodes[id];
      const visible = shown(id) && hiddenBy(id) === null;
      g.classList.toggle("gd-hidden", !visible);
      const hit = q !== "" && n !== undefined &&
        (n.label + " " + n.name + " " + n.op + " " + n.type).toLowerCase().indexOf(q) >= 0;
      if (hit && visible) hits += 1;
      g.classList.toggle("gd-hit", hit);
      g.classList.toggle("gd-dim", q !== "" && !hit);
    });
    edges.forEach(function (e) {
      const a = hiddenBy(e.a), b = hiddenBy(e.b);
      const inside = a !== null && a === b;
      e.g.classList.toggle("gd-hidden", inside || !shown(e.a) || !shown(e.b));
    });
    Object.keys(clusters).forEach(function (name) {
      const g = clusters[name], c = data.clusters[name];
      const isFolded = folded.has(name);
      g.classList.toggle("gd-folded", isFolded);
      const text = g.querySelector("text");
      const note = " (" + c.members.length + " nodes, folded)";
      if (text) text.textContent = c.label + (isFolded ? note : "");
      let inFolded = false;
      folded.forEach(function (other) {
        if (other !== name && name.indexOf(other + "__") === 0) inFolded = true;
      });
      g.classList.toggle("gd-hidden", inFolded);
    });
    document.getElementById("gd-status").textContent =
      (q ? hits + " match" + (hits === 1 ? "" : "es") + "; " : "") + folded.size + " folded";
  }
  function line(parent, text, tag) {
    const el = document.createElement(tag || "div");
    el.textContent = text; parent.appendChild(el); return el;
  }
  function showValue(parent, caption, v) {
    if (!v) return;
    if (v.value !== undefined) { line(parent, caption + ": " + v.value); return; }
    line(parent, caption + ": shape [" + v.shape.join(", ") + "]");
    if (v.min !== undefined) {
      line(parent, "  min " + v.min + "  max " + v.max + "  mean " + v.mean + "  norm " + v.norm);
    }
    if (v.hist) {
      const box = document.createElement("div"); box.className = "gd-hist";
      box.title = "histogram over [" + v.range.join(", ") + "]";
      const top = Math.max.apply(null, v.hist) || 1;
      v.hist.forEach(function (c) {
        const bar = document.createElement("div");
        bar.style.height = Math.max(1, Math.round(40 * c / top)) + "px"; bar.title = String(c);
        box.appendChild(bar);
      });
      parent.appendChild(box);
    }
  }
  function describe(id) {
    const n = data.nodes[id];
    if (!n) return;
    info.textContent = "";
    line(info, n.label, "h3");
    line(info, "op: " + n.op);
    line(info, "type: " + n.type + "  (dtype " + n.dtype + ")");
    if (n.name) line(info, "name: " + n.name);
    line(info, "kind: " + n.kind + (n.side === "backward" ? " (backward sweep)" : ""));
    if (n.scope) line(info, "scope: " + n.scope);
    line(info, "built at: " + n.origin);
    showValue(info, "value", n.value);
    showValue(info, "adjoint", n.adjoint);
    if (data.values && !n.value) line(info, "value: not computed (an input has no value)");
  }
  Object.keys(nodes).forEach(function (id) {
    const g = nodes[id];
    g.addEventListener("mouseenter", function () { if (selected === null) describe(id); });
    g.addEventListener("click", function (ev) {
      ev.stopPropagation();
      if (selected !== null && nodes[selected]) nodes[selected].classList.remove("gd-selected");
      selected = selected === id ? null : id;
      if (selected !== null) g.classList.add("gd-selected");
      describe(id);
    });
  });
  Object.keys(clusters).forEach(function (name) {
    clusters[name].addEventListener("click", function (ev) {
      ev.stopPropagation();
      if (folded.has(name)) folded.delete(name); else folded.add(name);
      update();
    });
  });
  document.getElementById("gd-search").addEventListener("input", function (ev) {
    query = ev.target.value.trim(); update();
  });
  document.getElementById("gd-view").addEventListener("change", function (ev) {
    view = ev.target.value; update();
  });
  document.getElementById("gd-fold-all").addEventListener("click", function () {
    Object.keys(clusters).forEach(function (name) { folded.add(name); }); update();
  });
  document.getElementById("gd-unfold-all").addEventListener("click", function () {
    folded.clear(); update();
  });
  update();
  function fromHash() {  // page.html#n12: a trace row's link selects its node
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    if (!wanted || !nodes[wanted]) return;
    if (selected !== null && nodes[selected]) nodes[selected].classList.remove("gd-selected");
    selected = wanted; nodes[wanted].classList.add("gd-selected"); describe(wanted);
    nodes[wanted].scrollIntoView({block: "center", inline: "center"});
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
"""

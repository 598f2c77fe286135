"""Drawing graphs with Graphviz: ``gd.to_dot`` builds a ``graphviz.Digraph``, ``gd.render``
writes it as .svg, .png, .pdf or .dot.

A node shows its op, the user's name, its shape and dtype; inputs, shared parameters, constants,
outputs and the nodes differentiation added are styled apart (see `graphdl.viz.styles`) and a
legend says which is which. With ``wrt=`` the gradient ``gd.grad`` returns is drawn too (the same
sweep builds it: `gradient_with_map`): each node it adds sits in the backward scope of the primal
node it belongs to (``∂dense1`` mirrors ``dense1``), and edges of the backward sweep are laid out
against the data flow, so the backward pass runs beside the forward one, layer by layer, back to
the parameters; gradient outputs are labelled ``∂loss/∂dense1.W``; dashed links from each adjoint
to its primal node are drawn only with ``links=True``. Where ``gd.grad`` differentiated a stable
form of the graph (``log_softmax(z)`` for a written ``log(softmax(z))``), that form is drawn
beside the written one. A `Trace` draws as the graph with each node's value and tangent or
adjoint (record nodes, as micrograd's ``draw_dot``).

Name scopes become clusters; ``collapse=`` folds them into single boxes, and ``max_nodes`` stops a
drawing nobody could read with a message saying how to make it smaller. Building DOT source needs
only the ``graphviz`` Python package; producing .svg/.png/.pdf needs Graphviz's ``dot`` program.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphdl.errors import GraphError
from graphdl.ir.node import Node
from graphdl.ir.scopes import scopes_of
from graphdl.ir.walk import toposort
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.ops.registry import as_node
from graphdl.viz import formulas as fx
from graphdl.viz import styles
from graphdl.viz.trace import Trace

FORMATS = ("svg", "png", "pdf", "dot", "gv")
INSTALL_HINT = (
    "Install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install "
    "graphviz; conda: conda install -c conda-forge graphviz; Windows: winget install graphviz) "
    "or write DOT source instead with a .dot path (gd.to_dot(...).source needs no program)."
)


class RenderError(GraphError, RuntimeError):
    """A drawing could not be produced (Graphviz's ``dot`` program is missing or failed)."""


class GraphTooLargeError(GraphError, ValueError):
    """More nodes than ``max_nodes`` would be drawn."""


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on PATH (needed for .svg/.png/.pdf, not for DOT)."""
    return shutil.which("dot") is not None


# --- what to draw -----------------------------------------------------------------------------
BACKWARD = "∂"
"""Prefix of a backward scope: the adjoint nodes of scope ``dense1`` are drawn in ``∂dense1``."""


@dataclass
class _Plan:
    """The nodes of one drawing, each with its kind and label, the adjoint links, and the scope
    of each node differentiation added (its primal owner's scope, mirrored)."""

    nodes: list[Node]
    kinds: dict[Node, str]
    labels: dict[Node, str]
    adjoint_links: list[tuple[Node, Node]] = field(default_factory=list)  # (adjoint, primal)
    records: bool = False
    scopes: dict[Node, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Gradient:
    grads: list[Node]
    bar: dict[Node, Node]  # primal -> its adjoint
    owners: dict[Node, Node]  # node the sweep built -> the primal node whose adjoint rule built it


def gradient_with_map(cost: Node, wrt: Sequence[Node]) -> tuple[list[Node], dict[Node, Node]]:
    """``gd.grad(cost, wrt)`` together with the adjoint of every primal node it passed through
    (primal -> adjoint node): the very sweep ``gd.grad`` runs
    (`graphdl.autodiff.api.cost_adjoints`),
    stability rewrites included, so the drawn gradient is the one ``gd.grad`` returns. A primal key
    may be a node of the stabilized graph (``log_softmax(z)`` for a written ``log(softmax(z))``)."""
    sweep = _gradient_sweep(cost, wrt)
    return sweep.grads, sweep.bar


def _gradient_sweep(cost: Node, wrt: Sequence[Node]) -> _Gradient:
    """`gradient_with_map` plus, for each node the sweep built, the primal node it belongs to:
    the node it is the adjoint of, else the node whose derivative rule built it (node ids grow as
    nodes are built, so the sweep's ``observe`` hook marks where each rule's nodes end)."""
    import bisect

    from graphdl.autodiff.api import cost_adjoints
    from graphdl.errors import DifferentiationError
    from graphdl.ir.node import next_node_id
    from graphdl.ops.shape_ops import zeros_like

    if cost.shape != () or cost.dtype.kind != "f":
        raise DifferentiationError(f"to_dot(wrt=...): the output {cost.label()} must be a float "
                                   f"scalar to draw its gradient, got {cost.type_str()}")
    for w in wrt:
        if w.dtype.kind != "f":
            raise DifferentiationError(f"to_dot(wrt=...): cannot differentiate with respect to "
                                       f"{w.label()} of dtype {w.dtype} (needs a float)")
    start = next_node_id()
    ends: list[int] = []  # ends[k]: nodes built by rules[k] have ids below it
    rules: list[Node] = []

    def observe(parent: Node, node: Node, slot: int, contribution: Node, total: Node) -> None:
        if rules and rules[-1] is node:
            ends[-1] = next_node_id()
        else:
            rules.append(node)
            ends.append(next_node_id())

    bar = cost_adjoints(cost, list(wrt), observe=observe)
    grads = [bar[w] if w in bar else zeros_like(w) for w in wrt]
    owners: dict[Node, Node] = {}
    for primal, adjoint in bar.items():
        owners.setdefault(adjoint, primal)
    for w, g in zip(wrt, grads):
        owners.setdefault(g, w)
    for node in toposort(grads):
        if node not in owners and node.id >= start:
            k = bisect.bisect_right(ends, node.id)
            if k < len(rules):
                owners[node] = rules[k]
    return _Gradient(grads, bar, owners)


def _outputs(graph: Node | Sequence[Node]) -> list[Node]:
    items = graph if isinstance(graph, (list, tuple)) else [graph]
    outs = [as_node(o) for o in items]
    if not outs:
        raise ValueError("to_dot: no outputs given")
    return outs


def _default_wrt(outs: list[Node]) -> list[Node]:
    return [n for n in toposort(outs) if n.op in (INPUT, SHARED) and n.dtype.kind == "f"]


def _wrt_names(outs: list[Node], wrt: Any) -> tuple[list[Node], list[str]]:
    """The nodes to differentiate with respect to, and the name each gradient is labelled by (a
    mapping's keys, as ``module.named_parameters()`` gives: ``dense2.W``; else the node's name)."""
    if wrt is True:
        targets = _default_wrt(outs)
        return targets, [_display_name(t) for t in targets]
    if isinstance(wrt, Mapping):
        return _outputs(list(wrt.values())), [str(k) for k in wrt]
    targets = _outputs(wrt)
    return targets, [_display_name(t) for t in targets]


def _display_name(node: Node) -> str:
    return node.name or node.label()


def _plan(outs: list[Node], wrt: Any) -> _Plan:
    primal = toposort(outs)
    kinds = {n: _leaf_kind(n) for n in primal}
    kinds.update({o: "output" for o in outs if not o.is_leaf})
    links: list[tuple[Node, Node]] = []
    nodes = list(primal)
    labels: dict[Node, str] = {}
    backward_scopes: dict[Node, tuple[str, ...]] = {}
    if wrt is not None and wrt is not False:
        if len(outs) != 1:
            raise ValueError("to_dot: wrt= draws the gradient of one scalar output")
        targets, names = _wrt_names(outs, wrt)
        sweep = _gradient_sweep(outs[0], targets)
        grads, bar = sweep.grads, sweep.bar
        primal_set = set(primal)
        # the graph gd.grad differentiated, where a stability rewrite changed the one written
        for node in toposort(list(bar)):
            if node not in primal_set:
                nodes.append(node)
                kinds[node] = _leaf_kind(node) if node.is_leaf else "stabilized"
        primal_set.update(nodes)
        for node in toposort(grads):
            if node not in primal_set:
                nodes.append(node)
                kinds[node] = "derivative"
        cost = outs[0]
        cost_name = cost.name or "loss"
        if not cost.name and not cost.is_leaf:
            labels[cost] = _escape(cost_name) + "\\n" + _label(cost)
        for w, name in zip(targets, names):  # a parameter is shown by the key it is known by
            if name != w.name and w.op is SHARED:
                labels[w] = _escape(name) + "\\n" + _label(w).split("\\n")[-1]
        for g, name in zip(grads, names):
            if g not in primal_set:
                kinds[g] = "gradient"
                labels[g] = _escape(f"∂{cost_name}/∂{name}  {g.type_str()}")
        drawn = set(nodes)
        links = [(adj, p) for p, adj in bar.items()
                 if p in primal_set and adj in drawn and adj not in primal_set]
        primal_scopes = scopes_of(set(sweep.owners.values()) | primal_set)
        primal_scopes.update(_stable_scopes(primal, [n for n in nodes if kinds[n] == "stabilized"],
                                            primal_scopes, set(bar)))
        backward_scopes.update({n: primal_scopes[n] for n in nodes if kinds[n] == "stabilized"})
        for node in nodes:
            owner = sweep.owners.get(node)
            if node not in primal_set and owner is not None:
                backward_scopes[node] = tuple(BACKWARD + s for s in primal_scopes[owner])
    for n in nodes:
        labels.setdefault(n, _label(n))
    return _Plan(nodes, kinds, labels, links, scopes=backward_scopes)


def _stable_scopes(written: list[Node], stable: list[Node],
                   scopes: dict[Node, tuple[str, ...]], used: set[Node]
                   ) -> dict[Node, tuple[str, ...]]:
    """Scopes for the stable form's nodes (built after the user's scopes closed): a node that
    repeats a written one (same op, attributes and inputs) takes its scope, a new one (the fused
    ``softmax_xent``) the scope most of the written nodes it replaced were in."""
    def key(node: Node, inputs: list[Node]) -> tuple:
        return (node.op.name, repr(sorted(node.attrs.items(), key=lambda kv: kv[0])),
                tuple(i.id for i in inputs))

    by_key = {key(n, list(n.inputs)): n for n in written if not n.is_leaf}
    twin: dict[Node, Node] = {}
    for node in stable:  # in topological order, so inputs are matched first
        match = by_key.get(key(node, [twin.get(i, i) for i in node.inputs]))
        if match is not None:
            twin[node] = match
    matched = set(twin.values())
    replaced = [scopes[n] for n in written
                if not n.is_leaf and n not in matched and n not in used and scopes[n]]
    common = max(set(replaced), key=replaced.count) if replaced else ()
    return {n: scopes[twin[n]] if n in twin else common for n in stable}


def _leaf_kind(node: Node) -> str:
    if node.op is INPUT:
        return "input"
    if node.op is SHARED:
        return "shared"
    if node.op is CONSTANT:
        return "constant"
    return "op"


def _escape(text: str) -> str:
    """User text inside a DOT string: backslashes doubled (quotes are escaped by graphviz)."""
    return text.replace("\\", "\\\\")


def _label(node: Node) -> str:
    """``name`` / ``op f64[?,64]`` (and short attributes such as the reduction axis)."""
    if node.op is CONSTANT:
        value = node.attrs["value"]
        if np.ndim(value) == 0:
            return fx.fmt_number(value, 4)
        return f"constant {node.type_str()}"
    kind = node.op.name
    if node.op is SHARED:
        kind = "shared"
    attrs = [_attr_text(k, v) for k, v in node.attrs.items()
             if k in ("axis", "axes", "shape", "keepdims", "dtype") and v not in (None, False)]
    body = " ".join([kind, node.type_str(), *attrs])
    lines = [node.name, body] if node.name else [body]
    return "\\n".join(_escape(line) for line in lines)


def _attr_text(key: str, value: Any) -> str:
    if value is True:
        return key
    if isinstance(value, tuple) and len(value) == 1 and key in ("axis", "axes"):
        value = value[0]
    return f"{key}={value}"


def _trace_plan(trace: Trace, rankdir: str) -> _Plan:
    plan = _plan(trace.outputs, None)
    for node in plan.nodes:
        plan.labels[node] = _record(trace, node, stacked=rankdir in ("LR", "RL"))
    plan.records = True
    return plan


_RECORD_SPECIAL = re.compile(r'([{}|<>"\\])')


def _record(trace: Trace, node: Node, stacked: bool) -> str:
    """``v_1 = ln v_{-1} | value 0.693 | tangent 0.5 | adjoint 1`` (escaped for DOT). Fields
    are stacked one above the other in either direction: a record's top level runs across the
    rank direction, so left-to-right drawings need no braces and top-down ones do."""
    def esc(text: str) -> str:
        return _RECORD_SPECIAL.sub(r"\\\1", text)

    label = trace.labels[node]
    if node.op is CONSTANT and not label.startswith("c_"):
        return esc(label)
    if node in trace.variables:
        head = f"{label} = {trace.names[node]}"
    elif node.op is CONSTANT:
        head = f"{label} = constant"
    else:
        head = f"{label} = {fx.primal_formula(node, [trace.labels[p] for p in node.inputs])}"
    fields = [head, f"value {fx.fmt_value(trace.values[node], trace.digits)}"]
    if node in trace.tangents:
        fields.append(f"tangent {fx.fmt_value(trace.tangents[node], trace.digits)}")
    if node in trace.adjoints:
        fields.append(f"adjoint {fx.fmt_value(trace.adjoints[node], trace.digits)}")
    body = " | ".join(esc(f) for f in fields)
    return body if stacked else "{" + body + "}"


def cluster_name(prefix: str, path: tuple[str, ...]) -> str:
    """The Graphviz subgraph name (and the SVG cluster's title) of scope ``path``."""
    return f"cluster_{prefix}" + "__".join(
        re.sub(r"\W", "_", s.replace(BACKWARD, "back_", 1)) for s in path)


# --- drawing -----------------------------------------------------------------------------------
class _Drawer:
    """Adds one plan to a (sub)graph: clusters for scopes, folded scopes, edges, links."""

    def __init__(self, plan: _Plan, prefix: str, collapse: Any, max_nodes: int | None,
                 links: bool = False) -> None:
        self.plan = plan
        self.prefix = prefix
        self.links = links
        self.scopes = scopes_of(plan.nodes)
        self.scopes.update(plan.scopes)
        self.folded = {n: self._fold(self.scopes[n], collapse) for n in plan.nodes}
        for node in plan.nodes:  # gradient outputs stay visible beside their folded scope
            if self.folded[node] and plan.kinds[node] == "gradient":
                self.scopes[node] = self.folded[node][:-1]
                self.folded[node] = ()
        self.fold_ids: dict[tuple[str, ...], str] = {}
        self.fold_sizes: dict[tuple[str, ...], int] = {}
        for path in self.folded.values():
            if path:
                self.fold_ids.setdefault(path, f"{prefix}scope{len(self.fold_ids)}")
                self.fold_sizes[path] = self.fold_sizes.get(path, 0) + 1
        count = sum(1 for n in plan.nodes if not self.folded[n]) + len(self.fold_ids)
        if max_nodes is not None and count > max_nodes:
            raise GraphTooLargeError(self._too_large(count, max_nodes))

    @staticmethod
    def _fold(path: tuple[str, ...], collapse: Any) -> tuple[str, ...]:
        if not path or not collapse:
            return ()
        if collapse is True:
            return path[:1]
        if isinstance(collapse, int):
            return path[:max(collapse, 1)]
        wanted = {collapse} if isinstance(collapse, str) else set(collapse)
        for k in range(1, len(path) + 1):
            if path[k - 1] in wanted or "/".join(path[:k]) in wanted:
                return path[:k]
        return ()

    def _too_large(self, count: int, max_nodes: int) -> str:
        tops: dict[str, int] = {}
        for path in self.scopes.values():
            if path:
                tops[path[0]] = tops.get(path[0], 0) + 1
        hint = ("fold name scopes with collapse=True (scopes: "
                + ", ".join(f"{s} ({k} nodes)" for s, k in sorted(tops.items())) + "), "
                if tops else "build the model inside gd.name_scope(...) blocks and fold them "
                "with collapse=True, ")
        return (f"to_dot: the drawing would have {count} nodes, more than max_nodes={max_nodes}; "
                f"{hint}draw part of the graph (pass an intermediate node as the output), "
                "or raise max_nodes")

    def node_id(self, node: Node) -> str:
        path = self.folded[node]
        return self.fold_ids[path] if path else f"{self.prefix}n{node.id}"

    def backward(self, ident: str, node: Node) -> bool:
        """Whether ``node`` (drawn as ``ident``) belongs to the backward sweep."""
        path = self.folded[node]
        if path:
            return path[0].startswith(BACKWARD)
        return self.plan.kinds[node] in ("derivative", "gradient")

    def kinds_used(self) -> list[str]:
        used = {self.plan.kinds[n] for n in self.plan.nodes if not self.folded[n]}
        if self.fold_ids:
            used.add("scope")
        return [k for k in styles.KINDS if k in used]

    def draw(self, graph: Any) -> None:
        items: dict[tuple[str, ...], list[tuple[str, str, dict[str, str]]]] = {}
        for node in self.plan.nodes:
            if self.folded[node]:
                continue
            attrs = styles.node_style(self.plan.kinds[node])
            if self.plan.records:
                attrs["shape"] = "record"
            attrs["tooltip"] = _escape(f"{node.op.name} {node.type_str()} ({node.origin})")
            items.setdefault(self.scopes[node], []).append(
                (self.node_id(node), self.plan.labels[node], attrs))
        for path, ident in self.fold_ids.items():
            size = self.fold_sizes[path]
            label = _escape(path[-1]) + f"\\n{size} node" + ("s" if size != 1 else "")
            items.setdefault(path[:-1], []).append((ident, label, styles.node_style("scope")))
        self._clusters(graph, (), items)
        self._edges(graph)
        if not self.links:
            return
        for adjoint, primal in self.plan.adjoint_links:
            a, p = self.node_id(adjoint), self.node_id(primal)
            if a != p:
                graph.edge(a, p, tooltip="adjoint of", **styles.ADJOINT_LINK)

    def _clusters(self, graph: Any, path: tuple[str, ...], items: dict) -> None:
        for ident, label, attrs in items.get(path, []):
            graph.node(ident, label, **attrs)
        below = sorted({p[:len(path) + 1] for p in items if len(p) > len(path)
                        and p[:len(path)] == path})
        for child in below:
            name = cluster_name(self.prefix, child)
            with graph.subgraph(name=name) as sub:
                sub.attr(label=_escape(child[-1]), style="rounded,dashed", color="#7950f2",
                         fontname=styles.FONT)
                self._clusters(sub, child, items)

    def _edges(self, graph: Any) -> None:
        """One edge per (source, target) pair drawn. Edges inside the backward sweep are laid
        out from consumer to producer (and drawn with the arrow turned back), so each adjoint
        lands at the rank of its primal node: the backward sweep runs under the forward one,
        layer by layer, in the opposite direction, instead of doubling the drawing's length.
        An edge into or out of a folded scope is labelled by the shapes it carries."""
        seen: dict[tuple[str, str], int] = {}
        labels: dict[tuple[str, str], str] = {}
        shapes: dict[tuple[str, str], list[str]] = {}
        back: dict[tuple[str, str], bool] = {}
        for node in self.plan.nodes:
            ordered = len(node.inputs) > 1 and not node.op.commutative
            for slot, parent in enumerate(node.inputs):
                key = (self.node_id(parent), self.node_id(node))
                if key[0] == key[1]:
                    continue
                seen[key] = seen.get(key, 0) + 1
                back[key] = self.backward(key[0], parent) and self.backward(key[1], node)
                if ordered and not self.folded[node]:
                    labels[key] = ",".join(filter(None, [labels.get(key), str(slot)]))
                if self.folded[node] or self.folded[parent]:
                    known = shapes.setdefault(key, [])
                    if parent.type_str() not in known:
                        known.append(parent.type_str())
        for key, count in seen.items():
            attrs: dict[str, str] = {}
            if key in shapes:  # between folded scopes: what flows along the edge
                more = len(shapes[key]) > 2
                attrs["label"] = ", ".join(shapes[key][:2]) + (", …" if more else "")
            elif key in labels:  # operand order matters (x - y): number the slots at the arrow
                attrs["taillabel" if back[key] else "headlabel"] = labels[key]
            elif count > 1:  # the same value used twice (x * x)
                attrs["label"] = f"×{count}"
            if back[key]:
                graph.edge(key[1], key[0], dir="back", **attrs)
            else:
                graph.edge(*key, **attrs)


def _new_digraph(rankdir: str, title: str | None):
    import graphviz

    graph = graphviz.Digraph("graphdl", graph_attr=dict(styles.GRAPH_ATTR, rankdir=rankdir),
                             node_attr=styles.NODE_ATTR, edge_attr=styles.EDGE_ATTR)
    if title:
        graph.attr(label=_escape(title), labelloc="t", fontsize="14")
    return graph


def to_dot(graph: Node | Sequence[Node] | Trace, *, wrt: Any = None, optimized: bool = False,
           compare: bool = False, rankdir: str | None = None, legend: bool = True,
           collapse: bool | int | str | Iterable[str] | None = None,
           max_nodes: int | None = 400, title: str | None = None, links: bool = False):
    """A ``graphviz.Digraph`` of the graph (it shows itself in Jupyter).

    ``graph``: output node(s), or a `Trace` (drawn with its values). ``wrt``: also draw the
    gradient of the (scalar) output with respect to these nodes (``True``: every float input and
    shared variable; a mapping such as ``model.named_parameters()`` names each gradient output
    by its key, ``∂loss/∂dense2.W``). Each node the gradient adds is drawn in the backward scope
    of the primal node it belongs to (``∂dense1`` beside ``dense1``); ``links=True`` also draws a
    dashed link from each adjoint to its primal node. ``optimized``: draw the graph after
    ``gd.function``'s optimizer; ``compare``: the graph as written and optimized side by side.
    ``collapse``: fold name scopes, backward ones included (``True`` for every top-level scope,
    an int for the scopes at that nesting depth, e.g. ``2`` for the layers of a model, or scope
    names). ``max_nodes``: refuse larger drawings.
    """
    if isinstance(graph, Trace):
        rankdir = rankdir or "LR"
        plan = _trace_plan(graph, rankdir)
        digraph = _new_digraph(rankdir, title)
        drawer = _Drawer(plan, "", collapse, max_nodes)
        drawer.draw(digraph)
        if legend:
            styles.add_legend(digraph, drawer.kinds_used(), False)
        return digraph
    outs = _outputs(graph)
    if compare:
        return _compare(outs, wrt, rankdir or "TB", legend, collapse, max_nodes, title, links)
    plan = _plan(outs, wrt)
    if optimized:
        plan = _plan_optimized(plan, outs)
    digraph = _new_digraph(rankdir or "LR", title)
    drawer = _Drawer(plan, "", collapse, max_nodes, links)
    drawer.draw(digraph)
    if legend:
        styles.add_legend(digraph, drawer.kinds_used(), links and bool(plan.adjoint_links),
                          column=digraph.graph_attr["rankdir"] in ("TB", "BT"))
    return digraph


def _optimize(nodes: list[Node]) -> tuple[list[Node], Any]:
    from graphdl.rewriting import optimize

    final, report = optimize(list(nodes))
    return list(final), report


def _plan_optimized(plan: _Plan, outs: list[Node]) -> _Plan:
    """The plan's outputs after optimization, kinds kept (outputs and gradients stay marked)."""
    ends = [n for n in plan.nodes if plan.kinds[n] in ("output", "gradient")] or outs
    ends = list(dict.fromkeys(outs + [n for n in ends if n not in outs]))
    final, _ = _optimize(ends)
    is_gradient = [plan.kinds.get(e) == "gradient" for e in ends]
    primal = set(toposort([f for f, g in zip(final, is_gradient) if not g]))
    nodes = toposort(final)
    kinds = {n: _leaf_kind(n) if n in primal or n.op in (INPUT, SHARED) else "derivative"
             for n in nodes}
    for f, gradient in zip(final, is_gradient):
        if not f.is_leaf:
            kinds[f] = "gradient" if gradient else "output"
    return _Plan(nodes, kinds, {n: _label(n) for n in nodes})


def _compare(outs, wrt, rankdir, legend, collapse, max_nodes, title, links):
    from graphdl.ir.graph import count_nodes

    written = _plan(outs, wrt)
    optimized = _plan_optimized(written, outs)
    digraph = _new_digraph(rankdir, title)
    kinds: list[str] = []
    for prefix, caption, plan in (("a_", "as written", written), ("b_", "optimized", optimized)):
        drawer = _Drawer(plan, prefix, collapse, max_nodes, links)
        ops = count_nodes(plan.nodes, include_leaves=False)
        with digraph.subgraph(name=f"cluster_{prefix}side") as side:
            side.attr(label=f"{caption}: {ops} operations", style="rounded", color="#868e96",
                      fontname=styles.FONT)
            drawer.draw(side)
        kinds += [k for k in drawer.kinds_used() if k not in kinds]
    if legend:
        styles.add_legend(digraph, [k for k in styles.KINDS if k in kinds],
                          links and bool(written.adjoint_links))
    return digraph


def render(graph: Any, path: str | Path, **options: Any) -> Path:
    """Write ``graph`` (nodes, a `Trace` or a ``graphviz.Digraph``) to ``path``; the extension
    picks the format: .svg, .png, .pdf (need Graphviz's ``dot``), .dot/.gv (DOT source), or
    .html: one self-contained interactive explorer (`graphdl.viz.explorer.to_html`; takes
    ``at=`` values too)."""
    import graphviz

    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt == "html":
        from graphdl.viz.explorer import to_html

        if isinstance(graph, graphviz.Digraph):
            raise ValueError("render: an .html explorer is drawn from the graph's nodes, not "
                             "from a graphviz.Digraph")
        if isinstance(graph, Trace):  # the trace's graph at the trace's inputs
            options.setdefault("at", {v: graph.values[v] for v in graph.variables
                                      if v.op is INPUT})
            if graph.adjoints and len(graph.outputs) == 1 and graph.outputs[0].shape == ():
                options.setdefault("wrt", True)
            graph = graph.outputs
        target.write_text(to_html(graph, **options), encoding="utf-8")
        return target
    if fmt not in FORMATS:
        raise ValueError(f"render: cannot tell the format of {str(target)!r}; use one of "
                         + ", ".join("." + f for f in (*FORMATS, "html")))
    digraph = graph if isinstance(graph, graphviz.Digraph) else to_dot(graph, **options)
    if fmt in ("dot", "gv"):
        target.write_text(digraph.source, encoding="utf-8")
        return target
    if not dot_available():
        raise RenderError(f"render: writing {target.name} needs Graphviz's 'dot' program, which "
                          f"is not on PATH. {INSTALL_HINT}")
    try:
        data = digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise RenderError(f"render: Graphviz's 'dot' program could not be run. {INSTALL_HINT}"
                          ) from exc
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"render: dot failed on {target.name}: {exc.stderr!r}") from exc
    target.write_bytes(data)
    return target

"""Looking at a graph: a scannable text form and an export to networkx."""

from __future__ import annotations

from collections.abc import Iterable

from graphdl.ir.node import Node
from graphdl.ir.walk import toposort


def format_graph(outputs: Node | Iterable[Node]) -> str:
    """One line per node in topological order, JAX-style: ``%3:f64[?,10] = matmul %1 %2``.

    Names the user gave follow in quotes; ids make shared subgraphs visible.
    """
    outs = [outputs] if isinstance(outputs, Node) else list(outputs)
    order = toposort(outs)
    number = {node: i for i, node in enumerate(order)}
    lines = []
    for node in order:
        head = f"%{number[node]}:{node.type_str()}"
        if node.op.name == "constant":
            value = node.attrs["value"]
            body = f"constant {value!r}" if node.ndim == 0 else f"constant <array {node.shape}>"
        elif node.is_leaf:
            body = node.op.name
        else:
            args = " ".join(f"%{number[p]}" for p in node.inputs)
            attrs = {k: v for k, v in node.attrs.items()}
            attr_text = " " + " ".join(f"{k}={v!r}" for k, v in attrs.items()) if attrs else ""
            body = f"{node.op.name} {args}{attr_text}"
        name = f"  '{node.name}'" if node.name else ""
        lines.append(f"{head} = {body}{name}")
    lines.append("return " + ", ".join(f"%{number[o]}" for o in outs))
    return "\n".join(lines)


def to_networkx(outputs: Node | Iterable[Node]):
    """A ``networkx.MultiDiGraph`` of the graph: nodes keyed by id with op/shape/dtype/name
    attributes, an edge per input slot (``slot`` attribute), from input to consumer."""
    import networkx as nx

    outs = [outputs] if isinstance(outputs, Node) else list(outputs)
    graph = nx.MultiDiGraph()
    for node in toposort(outs):
        graph.add_node(node.id, op=node.op.name, shape=node.shape, dtype=str(node.dtype),
                       name=node.name, node=node)
        for slot, parent in enumerate(node.inputs):
            graph.add_edge(parent.id, node.id, slot=slot)
    return graph


def count_nodes(outputs: Node | Iterable[Node], include_leaves: bool = True) -> int:
    """How many nodes the outputs depend on (the measure of graph size used in reports)."""
    outs = [outputs] if isinstance(outputs, Node) else list(outputs)
    return sum(1 for n in toposort(outs) if include_leaves or not n.is_leaf)

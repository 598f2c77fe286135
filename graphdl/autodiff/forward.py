"""Forward mode as a graph transformation: the tangent sweep.

The lecture's forward sweep: seed the inputs' tangents (v-dot), then walk the graph in
topological order and give every node the tangent its op's JVP rule computes from its inputs'
tangents. A tangent known to be zero is ``None`` and never becomes a node.

This is the only forward sweep in graphdl: the tangent tables of `graphdl.viz.trace` watch it
through ``observe`` instead of running a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from graphdl.ir.node import Node
from graphdl.ir.walk import toposort

Observer = Callable[[Node, Node], None]
"""``observe(node, tangent)``: the sweep built ``tangent`` (v-dot of ``node``) from the tangents of
``node``'s inputs."""


def tangents(outputs: Sequence[Node], seeds: Mapping[Node, Node],
             observe: Observer | None = None) -> dict[Node, Node]:
    """The tangent of every node that depends on a seeded node (missing means zero).

    ``observe``, if given, is called with each tangent the sweep builds, in its order.
    """
    dot: dict[Node, Node] = dict(seeds)
    for node in toposort(outputs):
        if node in dot or node.is_leaf:
            continue
        incoming = [dot.get(p) for p in node.inputs]
        if all(t is None for t in incoming) or node.op.zero_derivative:
            continue
        rule = node.op.jvp if node.op.jvp is not None else _through_decomposition
        # a loop's rule differentiates its body with this same sweep (ops cannot import it)
        t = (rule(node, incoming, tangents) if getattr(rule, "needs_sweep", False)
             else rule(node, incoming))
        if t is not None:
            dot[node] = t
            if observe is not None:
                observe(node, t)
    return dot


def _through_decomposition(node: Node, incoming: list[Node | None]) -> Node | None:
    """The JVP of an op without a rule of its own, by a sweep over its plain-op form
    (``Op.decompose``, e.g. the fused cross-entropy ops)."""
    plain = node.op.plain_form(node)
    seeds = {x: t for x, t in zip(node.inputs, incoming) if t is not None}
    return tangents([plain], seeds).get(plain)

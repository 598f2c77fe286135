"""Reverse mode as a graph transformation: the adjoint sweep.

The lecture's reverse sweep, node by node: walk the primal graph backwards in the lecture's
numbering (v_n, v_{n-1}, ..., `graphdl.ir.walk.depth_order`), and for each node v_i with adjoint
v-bar_i, ask its op's VJP rule for the contributions v-bar_i * dv_i/dv_j to each input v_j and add
them into v-bar_j. The result is a graph of ordinary nodes that reuses the primal nodes (so
compiling [cost, *grads] computes the forward part once), and can be optimized, compiled,
rendered and differentiated again.

Only nodes that lie between ``wrt`` and the outputs are visited; a zero adjoint is ``None`` and is
never materialized or multiplied through.

This is the only reverse sweep in graphdl: the trace tables (`graphdl.viz.trace`) and the drawn
gradients (`graphdl.viz.dot`) watch it through ``observe`` instead of running a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from graphdl.ir.node import Node
from graphdl.ir.walk import depends_on, depth_order
from graphdl.ops import elementwise as ew

Observer = Callable[[Node, Node, int, Node, Node], None]
"""``observe(parent, node, slot, contribution, total)``: one accumulation
v-bar_parent (+)= v-bar_node * d node / d parent, where ``parent`` is ``node.inputs[slot]``;
``total`` is the new v-bar_parent (``total is contribution`` for the first term)."""


def adjoints(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node],
             observe: Observer | None = None) -> dict[Node, Node]:
    """The adjoint of every node between ``wrt`` and ``outputs`` (missing means zero).

    ``observe``, if given, is called at each accumulation, in the order of the sweep (see
    `Observer`); the returned dict holds each node's final adjoint.
    """
    order = depth_order(outputs)
    live = depends_on(order, wrt)
    bar: dict[Node, Node] = {}
    for out, ct in zip(outputs, cotangents):
        if out in live:
            _accumulate(bar, out, ct)
    for node in reversed(order):
        g = bar.get(node)
        if g is None or node.is_leaf or node not in live:
            continue
        op = node.op
        if op.zero_derivative:
            continue
        rule = op.vjp if op.vjp is not None else _through_decomposition
        # a loop's rule differentiates its body with this same sweep (ops cannot import it)
        parts = rule(node, g, adjoints) if getattr(rule, "needs_sweep", False) else rule(node, g)
        for slot, (parent, contribution) in enumerate(zip(node.inputs, parts)):
            if contribution is not None and parent in live:
                total = _accumulate(bar, parent, contribution)
                if observe is not None:
                    observe(parent, node, slot, contribution, total)
    return bar


def _accumulate(bar: dict[Node, Node], node: Node, contribution: Node) -> Node:
    """v-bar_node += contribution. A node with several results (a loop, `graphdl.ops.control`)
    has a tuple of adjoints, one per result (None for zero), added result by result."""
    previous = bar.get(node)
    if previous is None:
        total = contribution
    elif type(contribution) is tuple:
        total = tuple(a if b is None else b if a is None else ew.add(a, b)
                      for a, b in zip(previous, contribution))
    else:
        total = ew.add(previous, contribution)
    bar[node] = total
    return total


def _through_decomposition(node: Node, g: Node) -> list[Node | None]:
    """The VJP of an op without a rule of its own, by a sweep over its plain-op form
    (``Op.decompose``, e.g. the fused cross-entropy ops)."""
    plain = node.op.plain_form(node)
    floats = [x for x in node.inputs if x.dtype.kind == "f"]
    bar = adjoints([plain], [g], floats)
    return [bar.get(x) if x.dtype.kind == "f" else None for x in node.inputs]

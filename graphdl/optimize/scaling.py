"""Sink scalar factors: ``W - lr * dW`` for every parameter becomes one ``lr`` at the source.

A training step ends with ``p - lr * g`` for each parameter: one multiplication per gradient,
each over a whole weight matrix. All those gradients are *linear* in the seed of the reverse
sweep (the ``1/n`` of a mean loss), so scaling that one number by ``lr`` scales every gradient
at once and the per-parameter multiplications disappear. Hand-written NumPy does not do this
(``g *= lr`` per parameter); a graph compiler can prove it is exact up to rounding.

The rewrite, for a scalar constant ``c``: find a node ``T`` such that every path from ``T`` to
the outputs goes through linear ops (each op says how it is linear, in ``Op.extra["linear"]``)
and ends in an *exit* ``c * X``. Then ``T -> c * T`` and each exit ``c * X -> X`` give the same
values. ``T`` is chosen 0-d, so the new multiplication costs nothing.

Linearity kinds (``Op.extra["linear"]``): ``"all"`` — linear when every operand is scaled
(``a + b``); ``"one"`` — linear in whichever single operand is scaled (``a * b``, ``a @ b``);
``"first"`` — linear in operand 0 only, the others must not be scaled (``sum``, ``a / b``,
``reshape``, the adjoints of indexing). Ops without the key stop the rewrite.
"""

from __future__ import annotations

import heapq
from collections import Counter

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import CONSTANT
from graphdl.optimize.rewriter import rebuild

NAME = "c * (linear in T) for every exit -> (c * T) once"
BUDGET = 20  # node visits per graph node, over all tried candidates: keeps the pass linear


def sink_scale(outputs: list[Node], order: list[Node], strict: bool = False,
               kept: dict | None = None) -> tuple[list[Node], Counter, Counter]:
    """The pass: at most one rewrite per run (the manager's rounds repeat it)."""
    exits = {n: _exit_parts(n) for n in order}
    exits = {n: parts for n, parts in exits.items() if parts is not None}
    if not exits:
        return outputs, Counter(), Counter()
    position = {n: i for i, n in enumerate(order)}
    consumers: dict[Node, list[Node]] = {}
    for node in order:
        for p in set(node.inputs):
            consumers.setdefault(p, []).append(node)
    returned = set(outputs)
    budget = [BUDGET * len(order)]
    for top in order:
        if top.ndim != 0 or top.op is CONSTANT or top.dtype.kind != "f" or not top.inputs:
            continue
        found = _cone(top, exits, consumers, position, returned, budget)
        if found is not None:
            c, cone, exit_nodes = found
            return _rewrite(outputs, order, top, c, cone, exit_nodes), Counter({NAME: 1}), \
                Counter()
        if budget[0] <= 0:
            break
    return outputs, Counter(), Counter()


def _exit_parts(node: Node) -> tuple[Node, Node] | None:
    """``(c, X)`` when ``node`` is ``c * X`` with ``c`` a 0-d constant and the product X's type."""
    if node.op.name != "multiply":
        return None
    a, b = node.inputs
    for c, x in ((a, b), (b, a)):
        if (c.op is CONSTANT and c.ndim == 0 and x.op is not CONSTANT
                and x.dtype == node.dtype and x.shape == node.shape and x.dtype.kind == "f"):
            return c, x
    return None


def _key(c: Node) -> tuple:
    return (repr(c.attrs["value"]), str(c.dtype), bool(c.attrs.get("weak", False)))


def _cone(top: Node, exits: dict[Node, tuple[Node, Node]], consumers: dict[Node, list[Node]],
          position: dict[Node, int], returned: set[Node], budget: list[int]
          ) -> tuple[Node, set[Node], list[Node]] | None:
    """``(c, cone, exits)`` when everything downstream of ``top`` is linear up to exits by
    one constant ``c``; None otherwise."""
    cone = {top}
    exit_nodes: list[Node] = []
    c_key = None
    c_node = None
    heap = [(position[n], id(n), n) for n in consumers.get(top, ())]
    heapq.heapify(heap)
    seen: set[Node] = set()
    while heap:
        budget[0] -= 1
        _, _, node = heapq.heappop(heap)
        if node in seen:
            continue
        seen.add(node)
        parts = exits.get(node)
        if parts is not None and parts[1] in cone and parts[0] not in cone:
            key = _key(parts[0])
            if c_key is not None and key != c_key:
                return None
            c_key, c_node = key, parts[0]
            exit_nodes.append(node)
            continue
        if node in returned or not _linear(node, cone):
            return None
        cone.add(node)
        for user in consumers.get(node, ()):
            if user not in seen:
                heapq.heappush(heap, (position[user], id(user), user))
    if top in returned or not any(exits[e][1].ndim > 0 for e in exit_nodes):
        return None  # (only 0-d products: moving the factor would gain nothing, and loop)
    if c_node.dtype != top.dtype and not c_node.attrs.get("weak", False):
        return None
    return c_node, cone, exit_nodes


def _linear(node: Node, cone: set[Node]) -> bool:
    kind = node.op.extra.get("linear")
    if kind is None or node.dtype.kind != "f":
        return False
    scaled = [x in cone for x in node.inputs]
    if kind == "all":
        return all(scaled)
    if kind == "one":
        return sum(scaled) == 1
    if kind == "first":
        return scaled[0] and not any(scaled[1:])
    return False


def _rewrite(outputs: list[Node], order: list[Node], top: Node, c: Node, cone: set[Node],
             exit_nodes: list[Node]) -> list[Node]:
    exits = set(exit_nodes)
    new: dict[Node, Node] = {}
    for node in order:
        if node is top:
            new[node] = ew.multiply(c, top)
        elif node in exits:
            _, x = _exit_parts(node)
            new[node] = new.get(x, x)
        elif node.inputs:
            inputs = tuple(new.get(p, p) for p in node.inputs)
            new[node] = rebuild(node, inputs)
    return [new.get(o, o) for o in outputs]

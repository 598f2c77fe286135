"""Sink scalar factors: ``W - lr * dW`` for every parameter becomes one ``lr`` at the source.

A training step ends with ``p - lr * g`` for each parameter: one multiplication per gradient,
each over a whole weight matrix. All those gradients are *linear* in the seed of the reverse
sweep (the ``1/n`` of a mean loss), so scaling that one number by ``lr`` scales every gradient
at once and the per-parameter multiplications disappear. Hand-written NumPy does not do this
(``g *= lr`` per parameter); a graph compiler can prove it is exact up to rounding.

The rewrite, for a scalar constant ``c``: find a node ``T`` such that every path from ``T`` to
the outputs goes through linear ops (each op says how it is linear, in ``Op.linear``)
and ends in an *exit* ``c * X``. Then ``T -> c * T`` and each exit ``c * X -> X`` give the same
values. ``T`` is chosen 0-d, so the new multiplication costs nothing. A loss summing several
means (multi-task learning) has one seed per term: they are scaled together.

Linearity kinds (``Op.linear``): ``"all"`` — linear when every operand is scaled
(``a + b``); ``"one"`` — linear in whichever single operand is scaled (``a * b``, ``a @ b``);
``"first"`` — linear in operand 0 only, the others must not be scaled (``sum``, ``a / b``,
``reshape``, the adjoints of indexing). Ops without the key stop the rewrite.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import NamedTuple

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import CONSTANT
from graphdl.rewriting.rewriter import rebuild

NAME = "c * (linear in T) for every exit -> (c * T) once"
BUDGET = 20  # node visits per graph node, over all tried candidates: keeps the pass linear


def sink_scale(outputs: list[Node], order: list[Node], strict: bool = False,
               kept: dict | None = None) -> tuple[list[Node], Counter, Counter]:
    """The pass: at most one rewrite per run (the manager's rounds repeat it).

    Each 0-d node is tried as the one source. A loss that is a sum of several means (multi-task
    learning) has one seed per term, and each alone fails where the terms' gradients are added;
    those seeds are then tried together."""
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
    partial: list[Node] = []  # sources that failed only where an unscaled term is added
    for top in order:
        if top.ndim != 0 or top.op is CONSTANT or top.dtype.kind != "f" or not top.inputs:
            continue
        found, why = _cone([top], exits, consumers, position, returned, budget)
        if found is not None:
            return _rewrite(outputs, order, found), Counter({NAME: 1}), Counter()
        if why == "partial":
            partial.append(top)
        if budget[0] <= 0:
            break
    if len(partial) > 1 and budget[0] > 0:
        found, _ = _cone(partial, exits, consumers, position, returned, budget)
        if found is not None:
            return _rewrite(outputs, order, found), Counter({NAME: 1}), Counter()
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


class _Found(NamedTuple):
    factor: Node  # the constant c
    sources: list[Node]  # the 0-d nodes that get multiplied by c
    cone: set[Node]  # everything computed from them, linearly, up to the exits
    exits: list[Node]  # the products c * X that become X


def _cone(tops: list[Node], exits: dict[Node, tuple[Node, Node]],
          consumers: dict[Node, list[Node]], position: dict[Node, int], returned: set[Node],
          budget: list[int]) -> tuple[_Found | None, str]:
    """Everything downstream of ``tops``, when it is linear in them up to exits by one
    constant; else None and why: ``"partial"`` when the walk stopped at a sum with a term not
    computed from ``tops`` (another source might supply it), ``"hard"`` otherwise."""
    sources = set(tops)
    cone = set(tops)
    exit_nodes: list[Node] = []
    c_key = None
    c_node = None
    heap = [(position[n], id(n), n) for top in tops for n in consumers.get(top, ())]
    heapq.heapify(heap)
    seen: set[Node] = set()
    while heap:
        budget[0] -= 1
        _, _, node = heapq.heappop(heap)
        if node in seen:
            continue
        seen.add(node)
        if node in sources:  # one source computed from another: it would be scaled twice
            return None, "hard"
        parts = exits.get(node)
        if parts is not None and parts[1] in cone and parts[0] not in cone:
            key = _key(parts[0])
            if c_key is not None and key != c_key:
                return None, "hard"
            c_key, c_node = key, parts[0]
            exit_nodes.append(node)
            continue
        if node in returned:
            return None, "hard"
        linear = _linear(node, cone)
        if not linear:
            partly = node.op.linear == "all" and node.dtype.kind == "f"
            return None, "partial" if partly else "hard"
        cone.add(node)
        for user in consumers.get(node, ()):
            if user not in seen:
                heapq.heappush(heap, (position[user], id(user), user))
    if any(t in returned for t in tops) or not any(exits[e][1].ndim > 0 for e in exit_nodes):
        return None, "hard"  # (only 0-d products: moving the factor would gain nothing, and loop)
    weak = c_node.attrs.get("weak", False)
    if not weak and any(c_node.dtype != t.dtype for t in tops):
        return None, "hard"
    return _Found(c_node, list(tops), cone, exit_nodes), ""


def _linear(node: Node, cone: set[Node]) -> bool:
    kind = node.op.linear
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


def _rewrite(outputs: list[Node], order: list[Node], found: _Found) -> list[Node]:
    sources = set(found.sources)
    exits = set(found.exits)
    new: dict[Node, Node] = {}
    for node in order:
        if node in sources:
            new[node] = ew.multiply(found.factor, node)
        elif node in exits:
            _, x = _exit_parts(node)
            new[node] = new.get(x, x)
        elif node.inputs:
            inputs = tuple(new.get(p, p) for p in node.inputs)
            new[node] = rebuild(node, inputs)
    return [new.get(o, o) for o in outputs]

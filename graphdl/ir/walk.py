"""Graph walks: small, iterative (graphs of 10^5 nodes must not hit the recursion limit)."""

from __future__ import annotations

from collections.abc import Iterable

from graphdl.ir.node import Node


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """Every ancestor of ``outputs`` (themselves included), each after all of its inputs.

    Depth-first with an explicit stack of input iterators; the order is deterministic (inputs
    left to right). A node is marked when first pushed: in an acyclic graph a node on the stack
    is never an input of a node above it, so no separate "on the stack" set is needed. Nodes
    hash by identity, so the marks are a set of nodes (cheaper than a set of ``id`` numbers).
    """
    order: list[Node] = []
    seen: set[Node] = set()
    for root in outputs:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def ancestors(outputs: Iterable[Node]) -> set[Node]:
    return set(toposort(outputs))


def graph_inputs(outputs: Iterable[Node]) -> list[Node]:
    """The symbolic inputs (op ``input``) the outputs depend on, in first-use order."""
    return [n for n in toposort(outputs) if n.op.name == "input"]


def shared_variables(outputs: Iterable[Node]) -> list[Node]:
    return [n for n in toposort(outputs) if n.op.name == "shared"]


def consumers(order: Iterable[Node]) -> dict[Node, list[Node]]:
    """For each node in ``order``, the nodes in ``order`` that read it."""
    users: dict[Node, list[Node]] = {}
    for node in order:
        users.setdefault(node, [])
        for parent in node.inputs:
            users.setdefault(parent, []).append(node)
    return users


def depends_on(order: list[Node], sources: Iterable[Node]) -> set[Node]:
    """Nodes in a topological ``order`` that depend on any of ``sources`` (sources included)."""
    reached = set(sources)
    for node in order:
        if node not in reached and any(p in reached for p in node.inputs):
            reached.add(node)
    return reached


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


def depth_order(outputs: Iterable[Node]) -> list[Node]:
    """Every ancestor of ``outputs`` by depth (the longest path from a leaf), ties in `toposort`'s
    order: a topological order that numbers a graph the way the lecture's traces do (for
    ln(x1) + x1*x2 - sin(x2): the leaves, then ln, ×, sin, +, −). Linear time: one bucket per
    depth, filled in `toposort`'s order.
    """
    depth: dict[Node, int] = {}
    levels: list[list[Node]] = []
    for node in toposort(outputs):
        inputs = node.inputs
        d = 0 if not inputs else 1 + (depth[inputs[0]] if len(inputs) == 1
                                      else max([depth[p] for p in inputs]))
        depth[node] = d
        if d == len(levels):  # parents are shallower, so d is at most one past the deepest level
            levels.append([])
        levels[d].append(node)
    return [node for level in levels for node in level]


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


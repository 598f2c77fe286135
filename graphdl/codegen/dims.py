"""Symbolic sizes: which unknown (``None``) sizes are provably the same at run time.

Static shapes say ``f64[?,32]`` for both the pre-activation of a hidden layer and the gradient
flowing back into it, so on their own they cannot prove that one array may be overwritten with
the other's result: a ``?`` might be 1 in one and 7 in the other, and broadcasting would then
need a bigger buffer. Yet both sizes are the batch size of the same input ``X``. This module
follows every unknown size from the input it comes from through the graph, so the buffer-reuse
planner (`graphdl.codegen.inplace`) can write ``delta *= mask`` in place, as a person would.

A size is an ``int`` (static) or a `Size` token. Two nodes whose sizes are the same tokens have
the same run-time shape. Rules are conservative: where an op's result size is not provably one
of its operands' sizes, the result gets a fresh token (equal only to itself).

Elementwise ops are handled here (broadcasting); other ops opt in with ``Op.dims``:
either an operand index (the result has that operand's sizes, e.g. softmax) or a function
``(node, operand_sizes) -> sizes`` whose entries are operands' entries, ints, or None (unknown).
Ops without a rule get fresh tokens for their unknown sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

from graphdl.ir.node import Node


class Size:
    """An unknown size, equal only to itself (``label`` is for reading, not for comparing)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Size({self.label})"


Dim = Union[int, Size]
Dims = tuple[Dim, ...]
DimsRule = Callable[[Node, Sequence[Dims]], Dims]


def symbolic_sizes(schedule: Sequence[Node]) -> dict[Node, Dims]:
    """Sizes of every node of ``schedule`` (operands before their users)."""
    sizes: dict[Node, Dims] = {}
    for node in schedule:
        shape = node.shape
        if None not in shape:  # static: the sizes are the shape (10^5-node graphs: keep it cheap)
            sizes[node] = shape
            continue
        operands = [sizes.get(p) or fresh(p) for p in node.inputs]
        if node.op.elementwise and operands:
            first = operands[0]
            same = len(first) == len(shape) and all(o is first for o in operands)
            sizes[node] = first if same else broadcast(node, operands)
            continue
        sizes[node] = _checked(node, _apply_rule(node, operands))
    return sizes


def fresh(node: Node) -> Dims:
    """The static sizes of ``node``, with a new token for each unknown one."""
    return tuple(Size(f"{node.op.name}:{axis}") if d is None else d
                 for axis, d in enumerate(node.shape))


def broadcast(node: Node, operands: Sequence[Dims]) -> Dims:
    """Right-aligned broadcasting: an axis keeps a token only when every operand that is not
    statically 1 there carries that same token (a static size wins, as in shape inference)."""
    out: list[Dim] = []
    for axis, static in enumerate(node.shape):
        if static is not None:
            out.append(static)
            continue
        from_end = node.ndim - axis
        seen = {id(d): d for dims in operands if len(dims) >= from_end
                for d in [dims[-from_end]] if d != 1}
        out.append(next(iter(seen.values())) if len(seen) == 1 else Size(f"bcast:{axis}"))
    return tuple(out)


def _apply_rule(node: Node, operands: list[Dims]) -> Dims:
    if not node.inputs:
        return fresh(node)
    if node.op.elementwise:
        return broadcast(node, operands)
    rule = node.op.dims
    if rule is None:
        return fresh(node)
    if isinstance(rule, int):
        return operands[rule]
    return rule(node, operands)


def _checked(node: Node, dims: Dims) -> Dims:
    """A rule's sizes, with static sizes taken from shape inference (the authority)."""
    if len(dims) != node.ndim:
        return fresh(node)
    return tuple(s if s is not None else d if isinstance(d, Size) else Size("?")
                 for s, d in zip(node.shape, dims))

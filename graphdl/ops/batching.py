"""Pieces shared by the ops' batching rules (the ``batch`` field of `Op`, used by `gd.vmap`).

A batching rule ``batch(node, inputs, batched)`` gets a node of the original graph, its operands
in the batched graph and one flag per operand (does it carry the leading batch axis?). It returns
the node computing ``node`` for every batch entry at once: with a leading batch axis (rank
``node.ndim + 1``), or without one (rank ``node.ndim``) when the value cannot vary along the batch
(``axis_size``). Most rules are one of a few patterns, written once here:

- elementwise ops broadcast from the right, so an operand whose rank is below the result's needs
  its missing axes inserted *after* the batch axis (`align`), never before it;
- ops taking axes see every axis shifted by one (`shift_axes`);
- ops whose run-time helper needs every operand to have the batch axis get the unbatched ones
  repeated along it (`lift`, a read-only ``np.broadcast_to`` view when sizes are static).
"""

from __future__ import annotations

from collections.abc import Sequence

from graphdl.ir.node import Node


def align(x: Node, rank: int) -> Node:
    """A batched ``x`` with size-1 axes inserted after the batch axis up to ``rank`` axes per
    batch entry (so it broadcasts against a rank-``rank`` result as each entry did)."""
    from graphdl.ops import shape_ops

    missing = rank + 1 - x.ndim
    if missing <= 0:
        return x
    return shape_ops.expand_dims(x, tuple(range(1, 1 + missing)))


def shift_axes(axis: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Axes of one entry (None: all ``ndim`` of them) as axes of the batched operand."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    return tuple(a + 1 for a in axis)


def broadcast_batch(x: Node, like: Node) -> Node:
    """``x`` (unbatched) repeated along a new leading axis as long as ``like``'s batch axis."""
    from graphdl.ops import elementwise as ew
    from graphdl.ops import indexing, shape_ops

    lifted = shape_ops.expand_dims(x, 0)
    size = like.shape[0]
    if size is not None and None not in x.shape:
        return shape_ops.broadcast_to(lifted, (size,) + x.shape)
    # the batch size is known only at run time: add zeros shaped (B, 1, ..., 1) taken from `like`
    column = like if like.ndim == 1 else indexing.getitem(like, (slice(None),) + (0,) * (
        like.ndim - 1))
    zeros = shape_ops.zeros_like(column, x.dtype)
    if x.ndim:
        zeros = shape_ops.expand_dims(zeros, tuple(range(1, x.ndim + 1)))
    return ew.add(lifted, zeros)


def lift(inputs: Sequence[Node], batched: Sequence[bool]) -> list[Node]:
    """Every operand with the batch axis: the unbatched ones repeated along it."""
    like = next(x for x, b in zip(inputs, batched) if b)
    return [x if b else broadcast_batch(x, like) for x, b in zip(inputs, batched)]


def batch_elementwise(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """The rule of every elementwise op: align the batched operands' ranks, apply the op."""
    from graphdl.ops.registry import apply

    args = [align(x, node.ndim) if b else x for x, b in zip(inputs, batched)]
    return apply(node.op, *args, **node.attrs)


def batch_axis_attr(key: str):
    """The rule of an op with one axis attribute ``key`` (softmax's ``axis``): shift it."""

    def rule(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
        from graphdl.ops.registry import apply

        attrs = dict(node.attrs)
        attrs[key] = attrs[key] + 1
        return apply(node.op, *lift(inputs, batched), **attrs)

    return rule

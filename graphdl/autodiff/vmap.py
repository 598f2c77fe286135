"""The batching transformation (JAX's vmap) as a graph rewrite.

``vmap(outputs, {x: xs})`` rebuilds the graph of ``outputs`` with the node ``x`` replaced by
``xs``, which holds a batch of values for it along a new leading axis. Walking the graph in
topological order, a node none of whose inputs carries the batch axis is kept as it is (shared
with the original graph, computed once per call), and every other node is rebuilt by its op's
batching rule (`Op.batch`, written next to the op; `graphdl.ops.batching` has the common
patterns), which returns a node with the batch axis in front. The result computes, in one
vectorized pass, what a Python loop over the batch entries would compute entry by entry.

This is what makes Jacobians one sweep (`graphdl.autodiff.jacobian`): a VJP graph with a
symbolic cotangent, vmapped over the rows of the identity, gives every row of the Jacobian at
once, and the graph does not grow with the number of rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ir.walk import toposort
from graphdl.ops import batching
from graphdl.ops import elementwise as ew
from graphdl.ops.registry import as_node


def vmap(outputs: Node | list[Node], batched: Mapping[Node, Any]) -> Node | list[Node]:
    """``outputs`` computed for a batch of values of some nodes at once.

    ``batched`` maps nodes of the graph (usually inputs) to nodes holding their values stacked
    along a new leading axis: ``xs`` of shape ``(B,) + x.shape`` (or arrays, made constants).
    Every output gets the leading batch axis, also one that does not depend on them (repeated).
    Ops without a batching rule raise NotImplementedError naming the op and the node.
    """
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    outs = [as_node(o) for o in outs]
    values = {node: _check_batched(node, as_node(value)) for node, value in batched.items()}
    if not values:
        raise ValueError("vmap: give at least one node to batch")
    sizes = {v.shape[0] for v in values.values()} - {None}
    if len(sizes) > 1:
        raise ShapeError(f"vmap: batched values have different batch sizes {sorted(sizes)}")
    like = next(iter(values.values()))

    new: dict[Node, Node] = {}
    has_batch: dict[Node, bool] = {}
    for node in toposort(outs):
        if node in values:
            new[node], has_batch[node] = values[node], True
            continue
        inputs = [new[p] for p in node.inputs]
        flags = [has_batch[p] for p in node.inputs]
        if not any(f if type(f) is bool else any(f) for f in flags):
            same = all(a is b for a, b in zip(inputs, node.inputs))
            new[node] = node if same else Node(node.op, tuple(inputs), node.attrs, node.shape,
                                               node.dtype, node.name, node.origin)
            has_batch[node] = False
            continue
        if node.op.batch is None:
            raise NotImplementedError(
                f"vmap: op {node.op.name} has no batching rule (node {node.label()} created at "
                f"{node.origin})")
        rule = node.op.batch
        # a loop's rule batches its body with this same transformation (ops cannot import it)
        out = rule(node, inputs, flags, vmap) if getattr(rule, "needs_sweep", False) else rule(
            node, inputs, flags)
        if type(out) is tuple:  # a node with several results: (node, which ones are batched)
            new[node], has_batch[node] = out
            continue
        _check_rule(node, out)
        new[node], has_batch[node] = out, out.ndim == node.ndim + 1
    results = [new[o] if has_batch[o] else batching.broadcast_batch(new[o], like) for o in outs]
    return results if isinstance(outputs, (list, tuple)) else results[0]


def _check_batched(node: Node, value: Node) -> Node:
    entry = value.shape[1:]
    if value.ndim != node.ndim + 1 or any(
        a is not None and b is not None and a != b for a, b in zip(entry, node.shape)
    ):
        raise ShapeError(f"vmap: batched value for {node.label()} ({fmt_shape(node.shape)}) must "
                         f"have shape (batch,) + {fmt_shape(node.shape)}, got "
                         f"{fmt_shape(value.shape)}")
    if value.dtype != node.dtype:
        if value.dtype.kind != node.dtype.kind and node.dtype.kind != "f":
            raise DTypeError(f"vmap: batched value for {node.label()} has dtype {value.dtype}, "
                             f"expected {node.dtype}")
        value = ew.cast(value, node.dtype)
    return value


def _check_rule(node: Node, out: Node) -> None:
    """A rule's result must be the node's type with or without the batch axis in front."""
    body = out.shape[1:] if out.ndim == node.ndim + 1 else out.shape
    fits = out.ndim in (node.ndim, node.ndim + 1) and all(
        a is None or b is None or a == b for a, b in zip(body, node.shape))
    if not fits or out.dtype != node.dtype:
        raise AssertionError(  # a bug in a batching rule, not in the user's graph
            f"vmap: the batching rule of {node.op.name} turned {node.label()} "
            f"{node.type_str()} into {out.type_str()}")

"""Canonical shapes: transposes, reshapes and broadcasts that cancel, sums of broadcasts,
and arithmetic moved before a broadcast (part of the ``canonicalize`` family).

Every rule here fires only when the *static* shapes prove it: a size ``None`` may be 1 or
anything at run time, so "same shape" means equal static shapes with no unknown size.
"""

from __future__ import annotations

import numpy as np

from graphdl.ir.node import Node
from graphdl.ir.shapes import size_of
from graphdl.ops import elementwise as ew
from graphdl.ops import shape_ops
from graphdl.ops.leaves import constant
from graphdl.ops.registry import apply
from graphdl.rewriting.patterns import as_dtype, fit, same_type
from graphdl.rewriting.rewriter import node_rewriter

FAMILY = "canonicalize"


# --- shapes --------------------------------------------------------------------------------------
@node_rewriter(FAMILY, ["transpose"], "transpose(transpose(x)) -> transpose(x)")
def transpose_of_transpose(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name != "transpose":
        return None
    first, second = inner.attrs["axes"], node.attrs["axes"]
    return shape_ops.transpose(inner.inputs[0], [first[a] for a in second])


@node_rewriter(FAMILY, ["reshape"], "reshape(reshape(x)) -> reshape(x)")
def reshape_of_reshape(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name not in ("reshape", "reshape_like"):
        return None
    source = inner.inputs[0]
    if source.shape == node.shape and None not in node.shape:
        return source
    return apply(node.op, source, **node.attrs)


@node_rewriter(FAMILY, ["reshape", "reshape_like", "broadcast_to", "broadcast_like", "sum_to"],
               "reshape/broadcast/sum_to to its own shape -> x")
def shape_op_to_same_shape(node: Node) -> Node | None:
    x = node.inputs[0]
    if x.shape == node.shape and None not in x.shape:
        return x
    return None


@node_rewriter(FAMILY, ["broadcast_to"], "broadcast_to(broadcast_to(x)) -> broadcast_to(x)")
def broadcast_of_broadcast(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name != "broadcast_to":
        return None
    return shape_ops.broadcast_to(inner.inputs[0], node.shape)


@node_rewriter(FAMILY, ["squeeze"], "squeeze(expand_dims(x)) -> x")
def squeeze_of_expand(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name == "expand_dims" and inner.attrs["axis"] == node.attrs["axis"]:
        return inner.inputs[0]
    return None


@node_rewriter(FAMILY, ["expand_dims"], "expand_dims(squeeze(x)) -> x")
def expand_of_squeeze(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name == "squeeze" and inner.attrs["axis"] == node.attrs["axis"]:
        source = inner.inputs[0]
        return source if source.shape == node.shape else None
    return None


# --- sums of broadcasts --------------------------------------------------------------------------
@node_rewriter(FAMILY, ["sum", "mean"], "sum(broadcast(x)) -> x * n")
def sum_of_broadcast(node: Node) -> Node | None:
    """A scalar broadcast to n elements sums to n * x (and averages to x): one multiplication
    instead of materializing and summing n copies. Only with a known n > 0 (the mean of nothing
    is NaN, and 0 * inf would be NaN where the sum of no infinities is 0)."""
    spread = node.inputs[0]
    if spread.op.name != "broadcast_to" or node.attrs["axis"] is not None:
        return None
    x = spread.inputs[0]
    n = size_of(spread.shape)
    if x.ndim != 0 or node.ndim != 0 or not n:
        return None
    if node.op.name == "mean":
        return fit(x, node)
    return same_type(ew.multiply(as_dtype(x, node.dtype), n), node)


@node_rewriter(FAMILY, ["axis_size"], "axis_size over known sizes -> constant")
def axis_size_known(node: Node) -> Node | None:
    x = node.inputs[0]
    axes = node.attrs["axis"]
    unknown = tuple(a for a in axes if x.shape[a] is None)
    if unknown == axes:
        return None
    known = int(np.prod([x.shape[a] for a in axes if x.shape[a] is not None]))
    if not unknown:
        return constant(np.int64(known))
    rest = apply(node.op, x, axis=unknown)
    return rest if known == 1 else same_type(ew.multiply(rest, known), node)



# --- broadcasting moved after the arithmetic -----------------------------------------------------
@node_rewriter(FAMILY, ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum"],
               "f(broadcast(a), s) -> broadcast(f(a, s))")
def elementwise_before_broadcast(node: Node) -> Node | None:
    """Arithmetic with a scalar commutes with broadcasting: do it on the small array."""
    for i in (0, 1):
        spread, s = node.inputs[i], node.inputs[1 - i]
        if spread.op.name not in ("broadcast_to", "broadcast_like") or s.ndim != 0:
            continue
        a = spread.inputs[0]
        inner = apply(node.op, *([a, s] if i == 0 else [s, a]))
        if inner.shape != a.shape:
            continue
        return same_type(apply(spread.op, inner, *spread.inputs[1:], **spread.attrs), node)
    return None


@node_rewriter(FAMILY, ["softmax_xent_grad", "xent_rows_grad"],
               "softmax_xent_grad(broadcast(g)) -> (g)")
def xent_grad_of_broadcast(node: Node) -> Node | None:
    """The fused gradient broadcasts its cotangent itself (a 0-d one too)."""
    g = node.inputs[0]
    if g.op.name not in ("broadcast_to", "broadcast_like") or g.inputs[0].ndim > g.ndim:
        return None
    try:
        return same_type(apply(node.op, g.inputs[0], *node.inputs[1:], **node.attrs), node)
    except ValueError:  # ShapeError: the small cotangent does not broadcast to the labels
        return None


@node_rewriter(FAMILY, ["*"], "f(broadcast(a), x) -> f(a, x) (x spans the shape)")
def broadcast_operand_implicit(node: Node) -> Node | None:
    """An elementwise operand broadcast explicitly to a shape the other operands already span
    needs no explicit broadcast: NumPy broadcasts it as it computes (no array of that shape is
    read). Typical source: the gradient of ``c * sum(W ** 2)``, whose ``c`` reaches ``2 * W``
    spread to ``W``'s shape."""
    if not node.op.elementwise or len(node.inputs) < 2 or None in node.shape:
        return None
    for i, spread in enumerate(node.inputs):
        if spread.op.name not in ("broadcast_to", "broadcast_like"):
            continue
        inputs = list(node.inputs)
        inputs[i] = spread.inputs[0]
        try:
            candidate = apply(node.op, *inputs, **node.attrs)
        except ValueError:  # ShapeError: the small operand does not broadcast on its own
            continue
        if candidate.shape == node.shape and candidate.dtype == node.dtype:
            return candidate
    return None


@node_rewriter(FAMILY, ["*"], "f(c[1,...,1], x) -> f(c, x) (x spans the shape)")
def one_element_constant(node: Node) -> Node | None:
    """A one-element constant array as an operand whose extra axes the other operands already
    span becomes a 0-d constant: the same values, and later rules (constants multiplied
    together, scalar arithmetic) recognize it."""
    if not node.op.elementwise or len(node.inputs) < 2 or None in node.shape:
        return None
    for i, c in enumerate(node.inputs):
        if c.op.name != "constant" or c.ndim == 0 or size_of(c.shape) != 1:
            continue
        inputs = list(node.inputs)
        inputs[i] = constant(np.asarray(c.attrs["value"]).reshape(()), dtype=c.dtype)
        candidate = apply(node.op, *inputs, **node.attrs)
        if candidate.shape == node.shape and candidate.dtype == node.dtype:
            return candidate
    return None

"""Algebraic simplification: identities that hold for *every* input, written as local rewrites.

What is deliberately not here, and why:

- ``x * 0 -> 0`` for floats: ``inf * 0`` and ``nan * 0`` are NaN, so the rewrite would hide a
  NaN. It is applied to integer and boolean ``x`` only, where it is exact.
- ``x - x -> 0`` and ``x / x -> 1``: wrong for inf and NaN (and 0 / 0).
- ``exp(log(x)) -> x``: NaN for negative ``x``. (``log(exp(x)) -> x`` is kept: it only removes
  an overflow, ``log(exp(1000))`` is inf where ``x`` is 1000.)
- Re-association of constants (``2 * (3 * x) -> 6 * x``): it changes rounding and may overflow
  where the written form does not (``1e200 * (1e200 * 1e-300)``).

``x + 0 -> x`` may turn ``-0.0 + 0.0 = +0.0`` into ``-0.0``; that is the only change of sign of
zero these rules make (moving a negation, ``-(a - b) -> b - a``, has the same effect). Rules on
shapes (transposes, reshapes, broadcasts) only fire when the static shapes prove them.
"""

from __future__ import annotations

import numpy as np

from graphdl.ir.node import Node
from graphdl.ir.shapes import size_of
from graphdl.ops import elementwise as ew
from graphdl.ops import shape_ops
from graphdl.ops.leaves import CONSTANT, constant
from graphdl.ops.registry import apply
from graphdl.optimize.patterns import (
    as_dtype,
    fit,
    is_constant,
    negated,
    same_type,
)
from graphdl.optimize.rewriter import node_rewriter

FAMILY = "canonicalize"


def _identity(node: Node, operand: int) -> Node | None:
    """The node's operand ``operand`` standing for the whole node (the other is neutral)."""
    return fit(node.inputs[operand], node, (node.inputs[1 - operand],))


# --- neutral elements ---------------------------------------------------------------------------
@node_rewriter(FAMILY, ["add"], "x + 0 -> x")
def add_zero(node: Node) -> Node | None:
    a, b = node.inputs
    if is_constant(b, 0):
        return _identity(node, 0)
    if is_constant(a, 0):
        return _identity(node, 1)
    return None


@node_rewriter(FAMILY, ["subtract"], "x - 0 -> x")
def subtract_zero(node: Node) -> Node | None:
    return _identity(node, 0) if is_constant(node.inputs[1], 0) else None


@node_rewriter(FAMILY, ["subtract"], "0 - x -> -x")
def zero_minus(node: Node) -> Node | None:
    a, b = node.inputs
    if not is_constant(a, 0) or b.dtype.kind == "b":
        return None
    x = fit(b, node, (a,))
    return None if x is None else ew.negative(x)


@node_rewriter(FAMILY, ["multiply"], "x * 1 -> x")
def multiply_one(node: Node) -> Node | None:
    a, b = node.inputs
    if is_constant(b, 1):
        return _identity(node, 0)
    if is_constant(a, 1):
        return _identity(node, 1)
    return None


@node_rewriter(FAMILY, ["multiply"], "x * -1 -> -x")
def multiply_minus_one(node: Node) -> Node | None:
    if node.dtype.kind not in "fic":
        return None
    for i in (0, 1):
        if is_constant(node.inputs[1 - i], -1):
            x = _identity(node, i)
            return None if x is None else ew.negative(x)
    return None


@node_rewriter(FAMILY, ["multiply"], "x * 0 -> 0 (integers)")
def multiply_zero(node: Node) -> Node | None:
    if node.dtype.kind not in "iub" or None in node.shape:
        return None
    if any(is_constant(x, 0) for x in node.inputs):
        return constant(np.zeros(node.shape, dtype=node.dtype))
    return None


@node_rewriter(FAMILY, ["divide"], "x / 1 -> x")
def divide_one(node: Node) -> Node | None:
    return _identity(node, 0) if is_constant(node.inputs[1], 1) else None


# --- negation: pulled outward so it cancels or merges into a subtraction ----------------------------
@node_rewriter(FAMILY, ["negative"], "--x -> x")
def double_negation(node: Node) -> Node | None:
    inner = negated(node.inputs[0])
    return inner if inner is not None and inner.dtype == node.dtype else None


@node_rewriter(FAMILY, ["negative"], "-(a - b) -> b - a")
def negate_difference(node: Node) -> Node | None:
    x = node.inputs[0]
    return ew.subtract(x.inputs[1], x.inputs[0]) if x.op.name == "subtract" else None


@node_rewriter(FAMILY, ["add"], "a + -b -> a - b")
def add_negative(node: Node) -> Node | None:
    a, b = node.inputs
    nb = negated(b)
    if nb is not None:
        return same_type(ew.subtract(a, nb), node)
    na = negated(a)
    return same_type(ew.subtract(b, na), node) if na is not None else None


@node_rewriter(FAMILY, ["subtract"], "a - -b -> a + b")
def subtract_negative(node: Node) -> Node | None:
    a, b = node.inputs
    nb = negated(b)
    return same_type(ew.add(a, nb), node) if nb is not None else None


@node_rewriter(FAMILY, ["multiply", "divide"], "(-a) * b -> -(a * b)")
def pull_negation(node: Node) -> Node | None:
    a, b = node.inputs
    na, nb = negated(a), negated(b)
    if na is None and nb is None:
        return None
    inner = apply(node.op, a if na is None else na, b if nb is None else nb)
    return same_type(inner if na is not None and nb is not None else ew.negative(inner), node)


@node_rewriter(FAMILY, ["sum", "mean", "take_along_axis", "take", "getitem", "transpose",
                        "reshape", "expand_dims", "squeeze"], "f(-x) -> -f(x) (linear f)")
def negation_through_linear(node: Node) -> Node | None:
    """Sums, means and rearrangements commute exactly with negation; moving it out lets it meet
    (and cancel) another negation or fold into a subtraction."""
    inner = negated(node.inputs[0])
    if inner is None or node.dtype.kind == "b":
        return None
    return same_type(ew.negative(apply(node.op, inner, *node.inputs[1:], **node.attrs)), node)


# --- functions and their inverses ------------------------------------------------------------
@node_rewriter(FAMILY, ["log"], "log(exp(x)) -> x")
def log_of_exp(node: Node) -> Node | None:
    x = node.inputs[0]
    return fit(x.inputs[0], node) if x.op.name == "exp" else None


# --- shapes ----------------------------------------------------------------------------------------
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


# --- sums of broadcasts ------------------------------------------------------------------------------
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


# --- negation absorbed into a constant or an existing negation ---------------------------------------
_LINEAR_IN_FIRST = {"broadcast_to", "broadcast_like", "expand_dims", "squeeze", "reshape",
                    "reshape_like", "transpose", "sum", "mean", "take_along_axis", "take",
                    "getitem", "sum_to", "take_along_adjoint", "take_adjoint", "index_adjoint",
                    "softmax_xent_grad", "concat_piece"}


def absorb_negation(x: Node, depth: int = 4) -> Node | None:
    """``-x`` written *without* a new negation (by negating a constant, dropping a negation, or
    swapping a subtraction somewhere inside ``x``), or None when that is not possible."""
    if x.op.name == "negative":
        return x.inputs[0]
    if x.op is CONSTANT:
        return _negated_constant(x)
    if depth == 0:
        return None
    if x.op.name == "subtract":
        return ew.subtract(x.inputs[1], x.inputs[0])
    if x.op.name in ("multiply", "divide"):
        for i in (0, 1):
            inner = absorb_negation(x.inputs[i], depth - 1)
            if inner is not None:
                args = [inner, x.inputs[1]] if i == 0 else [x.inputs[0], inner]
                return apply(x.op, *args, **x.attrs)
        return None
    if x.op.name in _LINEAR_IN_FIRST:
        inner = absorb_negation(x.inputs[0], depth - 1)
        if inner is not None:
            return apply(x.op, inner, *x.inputs[1:], **x.attrs)
    return None


def _negated_constant(c: Node) -> Node | None:
    v = c.attrs["value"]
    if c.dtype.kind == "f":
        pass
    elif c.dtype.kind == "i" and not c.attrs["weak"]:
        if np.any(np.asarray(v) == np.iinfo(c.dtype).min):
            return None
    else:
        return None
    if c.attrs["weak"]:
        return constant(-v) if isinstance(v, float) or abs(v) < 2**62 else None
    return constant(np.negative(v), dtype=c.dtype)


@node_rewriter(FAMILY, ["negative"], "-x absorbed into a constant or negation inside x")
def negation_absorbed(node: Node) -> Node | None:
    return same_type(absorb_negation(node.inputs[0]), node)


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


# --- broadcasting moved after the arithmetic ---------------------------------------------------------
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


@node_rewriter(FAMILY, ["softmax_xent_grad"], "softmax_xent_grad(broadcast(g)) -> (g)")
def xent_grad_of_broadcast(node: Node) -> Node | None:
    """The fused gradient broadcasts its cotangent itself."""
    g = node.inputs[0]
    if g.op.name not in ("broadcast_to", "broadcast_like") or g.inputs[0].ndim != g.ndim:
        return None
    try:
        return same_type(apply(node.op, g.inputs[0], *node.inputs[1:], **node.attrs), node)
    except ValueError:  # ShapeError: the small cotangent does not broadcast to the labels
        return None

"""Algebraic simplification: identities that hold for *every* input, written as local rewrites.

What is deliberately not here, and why:

- ``x * 0 -> 0`` for floats: ``inf * 0`` and ``nan * 0`` are NaN, so the rewrite would hide a
  NaN. It is applied to integer and boolean ``x`` only, where it is exact.
- ``x - x -> 0`` and ``x / x -> 1``: wrong for inf and NaN (and 0 / 0).
- ``exp(log(x)) -> x``: NaN for negative ``x``. (``log(exp(x)) -> x``, which only removes an
  overflow, is a stability rule: `graphdl.rewriting.stabilize`, so gradients are taken of it.)
- Re-association of constants (``2 * (3 * x) -> 6 * x``): it changes rounding and may overflow
  where the written form does not (``1e200 * (1e200 * 1e-300)``). The one exception is a factor
  that is a power of two (``c * (2 * x) -> (2c) * x``, the derivative of ``c * x**2``): scaling
  by a power of two is exact, so both forms round the same product the same way; they differ
  only where the written ``2 * x`` overflows and the merged form does not.

``x + 0 -> x`` may turn ``-0.0 + 0.0 = +0.0`` into ``-0.0``; that is the only change of sign of
zero these rules make (moving a negation, ``-(a - b) -> b - a``, has the same effect). The rules
on shapes of the same family are in `graphdl.rewriting.shapes`.
"""

from __future__ import annotations

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import CONSTANT, constant
from graphdl.ops.registry import apply
from graphdl.rewriting.patterns import (
    fit,
    is_constant,
    negated,
    same_type,
)
from graphdl.rewriting.rewriter import node_rewriter

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


# --- negation: pulled outward so it cancels or merges into a subtraction -------------------------
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


# --- negation absorbed into a constant or an existing negation -----------------------------------
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
    if x.op.linear == "first" and not x.op.elementwise:  # moves, sums, gathers, scatters
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


def _power_of_two(c: Node) -> bool:
    """A 0-d constant +-2**k (exact to scale by)."""
    if c.op is not CONSTANT or c.ndim != 0 or c.dtype.kind not in "iuf":
        return False
    v = float(c.attrs["value"])
    if v == 0 or not np.isfinite(v):
        return False
    mantissa, _ = np.frexp(abs(v))
    return mantissa == 0.5


@node_rewriter(FAMILY, ["multiply"], "c * (2**k * x) -> (c * 2**k) * x")
def scale_by_power_of_two(node: Node) -> Node | None:
    """Two constant factors merged when one is a power of two (exact; see the module notes)."""
    for i in (0, 1):
        c, inner = node.inputs[i], node.inputs[1 - i]
        if c.op is not CONSTANT or c.ndim != 0 or inner.op.name != "multiply":
            continue
        for j in (0, 1):
            k, x = inner.inputs[j], inner.inputs[1 - j]
            if k.op is not CONSTANT or k.ndim != 0 or not (_power_of_two(c) or _power_of_two(k)):
                continue
            if node.dtype.kind != "f" or x.dtype != node.dtype:
                continue
            with np.errstate(all="ignore"):  # in the product's own precision, as at run time
                product = np.multiply(np.asarray(c.attrs["value"], node.dtype),
                                      np.asarray(k.attrs["value"], node.dtype))
            if not np.isfinite(product) or (product != 0 and abs(product) < np.finfo(
                    node.dtype).tiny):
                continue  # the merged factor would overflow or go subnormal: keep as written
            candidate = apply(node.op, constant(product, dtype=node.dtype), x)
            if candidate.shape == node.shape and candidate.dtype == node.dtype:
                return candidate
    return None

"""Specialization: the cheapest NumPy for what is left.

- Small integer powers become multiplications: ``x**2 -> square(x)`` (exact: IEEE pow is
  correctly rounded there), ``x**3 -> square(x) * x`` and ``x**4 -> square(square(x))`` (one or
  two roundings instead of pow's one: a relative difference of a few ulp), ``x**1 -> x``,
  ``x**-1 -> 1 / x`` (floats; NumPy refuses negative integer powers of integers).
- ``x * x -> square(x)``, ``a * (1 / b) -> a / b`` (one rounding instead of two, and no overflow
  of ``1 / b`` for tiny ``b``).
- A cross-entropy and its gradient (``softmax_xent``, ``softmax_xent_grad``) become
  ``xent_rows`` and ``xent_rows_grad`` over shared ``z - max z``, its ``exp`` and their sums, so
  a training step computes the softmax once; a cotangent of equal values becomes one number.
- Operands read only for their run-time shape (the reference of ``broadcast_like``, ``sum_to``,
  ``axis_size``, the scatter adjoints) are traced back through elementwise ops to the earliest
  node of that shape, so the intermediate is not kept alive (or computed) just to be measured.
"""

from __future__ import annotations

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import fused
from graphdl.ops.leaves import CONSTANT, constant
from graphdl.ops.registry import REGISTRY, apply
from graphdl.rewriting.patterns import as_dtype, fit, keeps_shape, same_type, value
from graphdl.rewriting.rewriter import node_rewriter

FAMILY = "specialize"


def _integer_exponent(node: Node) -> int | None:
    k = value(node)
    if k is None or np.ndim(k) != 0 or isinstance(k, (bool, np.bool_)):
        return None
    k = k.item() if isinstance(k, np.generic) else k
    if isinstance(k, float) and not k.is_integer():
        return None
    return int(k)


@node_rewriter(FAMILY, ["power"], "x ** k -> multiplications (small integer k)")
def small_integer_power(node: Node) -> Node | None:
    base, exponent = node.inputs
    k = _integer_exponent(exponent)
    if k is None or node.dtype.kind not in "fiu" or base.dtype.kind not in "fiu":
        return None
    if not np.can_cast(base.dtype, node.dtype, casting="same_kind"):
        return None
    x = as_dtype(base, node.dtype)
    if k == 1:
        return fit(x, node, (exponent,))
    if k == 2:
        return same_type(ew.square(x), node)
    if k == 3:
        return same_type(ew.multiply(ew.square(x), x), node)
    if k == 4:
        return same_type(ew.square(ew.square(x)), node)
    if k == -1 and node.dtype.kind == "f":
        return same_type(ew.reciprocal(x), node)
    return None


@node_rewriter(FAMILY, ["multiply"], "x * x -> square(x)")
def self_product(node: Node) -> Node | None:
    a, b = node.inputs
    return same_type(ew.square(a), node) if a is b else None


@node_rewriter(FAMILY, ["multiply"], "a * (1 / b) -> a / b")
def multiply_reciprocal(node: Node) -> Node | None:
    for i in (0, 1):
        r = node.inputs[i]
        if r.op.name == "reciprocal":
            return same_type(ew.divide(node.inputs[1 - i], r.inputs[0]), node)
    return None


# --- operands read only for their shape ----------------------------------------------------------
# ops declaring operands read only for their shape (``Op.shape_only``)
SHAPE_ONLY = [op.name for op in REGISTRY.values() if op.shape_only]


def shape_source(ref: Node, depth: int = 16) -> Node:
    """The earliest node with ``ref``'s run-time shape, found through elementwise ops: the shape
    of ``-x`` or ``x * 2`` is the shape of ``x``, which is then all these ops need to keep."""
    for _ in range(depth):
        if not ref.op.elementwise or not ref.inputs:
            break
        for i, x in enumerate(ref.inputs):
            others = ref.inputs[:i] + ref.inputs[i + 1:]
            if x.op is not CONSTANT and keeps_shape(x, ref, others):
                ref = x
                break
        else:
            break
    return ref


@node_rewriter(FAMILY, SHAPE_ONLY, "shape of f(x) -> shape of x")
def shape_only_operand(node: Node) -> Node | None:
    """In the last family of a round, so a node first gets its stabilized replacement (whose
    shape is then followed back), rather than a shape source that only the reference kept."""
    inputs = list(node.inputs)
    for slot in node.op.shape_only:
        inputs[slot] = shape_source(inputs[slot])
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return None
    return same_type(apply(node.op, *inputs, **node.attrs), node)


# --- the fused cross-entropy pair, lowered to shared parts ---------------------------------------
@node_rewriter(FAMILY, ["softmax_xent"], "softmax_xent -> xent_rows(shared parts)")
def xent_to_parts(node: Node) -> Node:
    """The loss as ``xent_rows`` over ``z - max(z)``, ``exp`` of it and its sums: the parts its
    gradient needs too (`xent_grad_to_parts`); CSE then merges the two copies, so a training
    step computes the softmax once instead of once in the loss and once in the gradient."""
    z, idx = node.inputs
    axis = node.attrs["axis"]
    shifted, _, sums = fused.shared_parts(z, axis)
    return fused.xent_rows(shifted, sums, idx, axis=axis)


@node_rewriter(FAMILY, ["softmax_xent_grad"],
               "softmax_xent_grad -> xent_rows_grad(shared parts)")
def xent_grad_to_parts(node: Node) -> Node:
    g, z, idx = node.inputs
    axis = node.attrs["axis"]
    _, e, sums = fused.shared_parts(z, axis)
    return fused.xent_rows_grad(g, e, sums, idx, axis=axis)


def _one_number(g: Node) -> Node | None:
    """``g`` as a 0-d node when all its elements are one number: a constant array of equal
    values, or one divided or multiplied by a 0-d node (the ``-1 / n`` of a mean's gradient,
    which reaches the loss as a ``[1, 1]`` array). None otherwise."""
    if g.ndim == 0:
        return None
    if g.op is CONSTANT:
        v = np.asarray(g.attrs["value"])
        if v.size and bool(np.all(v == v.flat[0])):
            return constant(v.flat[0])  # a NumPy scalar: typed, as the array was
        return None
    if g.op.name in ("divide", "multiply"):
        a, b = g.inputs
        if g.op.name == "multiply" and a.ndim == 0:
            a, b = b, a
        one = _one_number(a) if b.ndim == 0 else None
        if one is not None:
            scalar = apply(g.op, one, b)
            return scalar if scalar.dtype == g.dtype else None
    return None


@node_rewriter(FAMILY, ["softmax_xent_grad", "xent_rows_grad"],
               "cross-entropy cotangent of equal values -> one number")
def xent_grad_scalar_cotangent(node: Node) -> Node | None:
    """One multiply by a number instead of an array broadcast over every row (and no
    ``[1, 1]`` array division first)."""
    g = _one_number(node.inputs[0])
    if g is None:
        return None
    return apply(node.op, g, *node.inputs[1:], **node.attrs)

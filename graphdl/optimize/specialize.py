"""Specialization: the cheapest NumPy for what is left.

- Small integer powers become multiplications: ``x**2 -> square(x)`` (exact: IEEE pow is
  correctly rounded there), ``x**3 -> square(x) * x`` and ``x**4 -> square(square(x))`` (one or
  two roundings instead of pow's one: a relative difference of a few ulp), ``x**1 -> x``,
  ``x**-1 -> 1 / x`` (floats; NumPy refuses negative integer powers of integers).
- ``x * x -> square(x)``, ``a * (1 / b) -> a / b`` (one rounding instead of two, and no overflow
  of ``1 / b`` for tiny ``b``).
- Operands read only for their run-time shape (the reference of ``broadcast_like``, ``sum_to``,
  ``axis_size``, the scatter adjoints) are traced back through elementwise ops to the earliest
  node of that shape, so the intermediate is not kept alive (or computed) just to be measured.
"""

from __future__ import annotations

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import CONSTANT
from graphdl.ops.registry import apply
from graphdl.optimize.patterns import as_dtype, fit, keeps_shape, same_type, value
from graphdl.optimize.rewriter import node_rewriter

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
SHAPE_ONLY = {"broadcast_like": (1,), "sum_to": (1,), "reshape_like": (1,), "zeros_like": (0,),
              "axis_size": (0,), "take_along_adjoint": (1,), "take_adjoint": (1,),
              "index_adjoint": (1,)}


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


@node_rewriter(FAMILY, list(SHAPE_ONLY), "shape of f(x) -> shape of x")
def shape_only_operand(node: Node) -> Node | None:
    """In the last family of a round, so a node first gets its stabilized replacement (whose
    shape is then followed back), rather than a shape source that only the reference kept."""
    inputs = list(node.inputs)
    for slot in SHAPE_ONLY[node.op.name]:
        inputs[slot] = shape_source(inputs[slot])
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return None
    return same_type(apply(node.op, *inputs, **node.attrs), node)

"""Constant folding: a node whose inputs are all constants becomes a constant.

The value is computed by `graphdl.ops.evaluate` with the op's own NumPy expression
(`Op.emit_expr`, evaluated with the same kernels generated code uses), so a folded constant is
exactly what the compiled function would have computed. The result keeps the node's static dtype
as a *typed* constant: a node is never weak, even when it combines weak Python numbers, so
consumers see the same dtype.

Results larger than `FOLD_LIMIT` elements are not folded: ``broadcast_to(0.0, (10**4, 10**4))``
should stay a cheap view built at run time, not an 800 MB array baked into the function. A fold
that fails or warns (``1 / 0`` with Python ints, a NumPy error) is left to run time, where it
raises or warns as the user wrote it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ir.shapes import size_of
from graphdl.ops.evaluate import evaluate
from graphdl.ops.leaves import CONSTANT, constant
from graphdl.rewriting.rewriter import node_rewriter

FOLD_LIMIT = 1 << 16  # elements


@node_rewriter("fold", ["*"], "fold constants")
def fold_constants(node: Node) -> Node | None:
    inputs = node.inputs
    if not inputs:  # leaves (constants, inputs, shared variables): nothing to compute
        return None
    for p in inputs:  # tried on every node of every graph: a plain loop, no generator
        if p.op is not CONSTANT:
            return None
    size = size_of(node.shape)
    if size is None or size > FOLD_LIMIT:
        return None
    if not node.op.allocates and size > size_of(inputs[0].shape):
        return None  # a free view at run time (a broadcast); folded, an array baked into the code
    result = _value(node, [p.attrs["value"] for p in node.inputs])
    if result is None:
        return None
    return constant(result, dtype=node.dtype)


def _value(node: Node, values: list[Any]) -> np.ndarray | None:
    """The node's value for input ``values``, or None when it cannot be had quietly."""
    try:
        with np.errstate(all="raise"):
            result = np.asarray(evaluate(node, values))  # the op's own NumPy code
    except Exception:  # noqa: BLE001 - whatever fails is left to run time, as written
        return None
    if result.shape != node.shape or result.dtype != node.dtype:
        return None
    return result

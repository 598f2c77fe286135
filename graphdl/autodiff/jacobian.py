"""Jacobians in one batched sweep.

The lecture's argument decides the mode: with n inputs and m outputs, forward mode needs n
tangent sweeps (one per input direction) and reverse mode m adjoint sweeps (one per output
direction), so ``auto`` picks forward when x has fewer elements than y. Instead of building those
sweeps one by one, graphdl builds *one* sweep with a symbolic seed and batches it
(`graphdl.autodiff.vmap`) over the rows of the identity: reverse mode is the VJP vmapped over a
batch of basis cotangents, forward mode the JVP vmapped over a batch of basis tangents. The
graph has the same number of nodes for a 5x5 and a 500x500 Jacobian, the primal part is computed
once, and each batched node is one vectorized NumPy call at run time (no Python loop over rows).

The Jacobian has shape ``y.shape + x.shape``; both shapes must be static.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from graphdl.autodiff.api import jvp, vjp, wrt_list
from graphdl.autodiff.vmap import vmap
from graphdl.errors import DifferentiationError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape, size_of
from graphdl.ir.walk import ancestors
from graphdl.ops import shape_ops
from graphdl.ops.leaves import constant, tensor
from graphdl.ops.registry import as_node


def jacobian(y: Node, x: Node, mode: Literal["auto", "forward", "reverse"] = "auto",
             disconnected: Literal["raise", "zero"] = "raise") -> Node:
    """dy/dx with shape ``y.shape + x.shape``, by one batched forward or reverse sweep.

    A ``y`` that does not depend on ``x`` at all is an error naming ``x`` (as in `grad`), unless
    ``disconnected="zero"``: then the Jacobian is zeros."""
    if isinstance(x, (list, tuple)):
        raise TypeError("jacobian: x must be one graph node; for several, call jacobian once "
                        "per node")
    (x,), _ = wrt_list(x, "jacobian")
    if disconnected not in ("raise", "zero"):
        raise ValueError(f"jacobian: disconnected must be 'raise' or 'zero', got "
                         f"{disconnected!r}")
    y = as_node(y)
    m, n = size_of(y.shape), size_of(x.shape)
    if m is None or n is None:
        raise DifferentiationError(
            f"jacobian: needs static shapes, got y {fmt_shape(y.shape)} and x {fmt_shape(x.shape)}"
        )
    if mode not in ("auto", "forward", "reverse"):
        raise ValueError(f"jacobian: mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
    if disconnected == "raise" and x not in ancestors([y]):
        raise DifferentiationError(
            f"jacobian: {y.label()} does not depend on {x.label()} ({x.type_str()}); is it the "
            f"node the graph was built from? (pass disconnected=\"zero\" if a zero Jacobian "
            f"is intended)")
    if mode == "auto":
        mode = "forward" if n < m else "reverse"
    if m == 0 or n == 0:
        return constant(np.zeros(y.shape + x.shape, dtype=np.result_type(y.dtype, x.dtype)))
    if mode == "forward":
        seed = tensor("tangent", x.shape, x.dtype)
        tangent = jvp(y, x, seed, disconnected="zero")
        columns = vmap(tangent, {seed: _identity(n, x)})  # (n,) + y.shape
        flat = shape_ops.transpose(shape_ops.reshape(columns, (n, m)))
    else:
        seed = tensor("cotangent", y.shape, y.dtype)
        flat = vmap(vjp(y, x, seed, disconnected="zero"), {seed: _identity(m, y)})
    return shape_ops.reshape(flat, y.shape + x.shape)


def _identity(k: int, like: Node) -> Node:
    """The k basis vectors shaped like ``like``, stacked: the batch of seeds."""
    return constant(np.eye(k, dtype=like.dtype).reshape((k,) + like.shape))

"""Jacobians by forward or reverse sweeps.

The lecture's argument decides the mode: with n inputs and m outputs, forward mode needs n sweeps
(one per input direction) and reverse mode m sweeps (one per output direction), so ``auto`` picks
forward when x has fewer elements than y. Every sweep is part of one graph, seeded with a constant
basis vector; the compiled function evaluates all of them as straight-line code (no Python loop at
run time), and the optimizer's CSE shares the primal part between sweeps.

The Jacobian has shape ``y.shape + x.shape``; both shapes must be static.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from graphdl.autodiff.api import jvp, vjp
from graphdl.errors import DifferentiationError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape, size_of
from graphdl.ops import shape_ops
from graphdl.ops.leaves import constant
from graphdl.ops.registry import as_node


def jacobian(y: Node, x: Node, mode: Literal["auto", "forward", "reverse"] = "auto") -> Node:
    """dy/dx with shape ``y.shape + x.shape``."""
    y, x = as_node(y), as_node(x)
    m, n = size_of(y.shape), size_of(x.shape)
    if m is None or n is None:
        raise DifferentiationError(
            f"jacobian: needs static shapes, got y {fmt_shape(y.shape)} and x {fmt_shape(x.shape)}"
        )
    if mode == "auto":
        mode = "forward" if n < m else "reverse"
    if mode == "forward":
        columns = [_flat(jvp(y, x, _basis(j, x))) for j in range(n)]
        flat = shape_ops.stack(columns, axis=1) if columns else constant(np.zeros((m, 0)))
    elif mode == "reverse":
        rows = [_flat(vjp(y, x, _basis(i, y))) for i in range(m)]
        flat = shape_ops.stack(rows, axis=0) if rows else constant(np.zeros((0, n)))
    else:
        raise ValueError(f"jacobian: mode must be 'auto', 'forward' or 'reverse', got {mode!r}")
    return shape_ops.reshape(flat, y.shape + x.shape)


def _basis(k: int, like: Node) -> Node:
    e = np.zeros(size_of(like.shape), dtype=like.dtype)
    e[k] = 1
    return constant(e.reshape(like.shape))


def _flat(node: Node) -> Node:
    return shape_ops.reshape(node, (-1,))

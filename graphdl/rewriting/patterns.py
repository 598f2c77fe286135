"""Small predicates the rewrites share: "is this the constant 1?", "does dropping this operand
keep the run-time shape?", "give this node the shape and dtype of the one it replaces".

The subtle part is the run-time shape. A static size ``None`` may turn out to be 1 and be
stretched by the other operand, so ``x + 0`` may only become ``x`` when the zero cannot enlarge
any axis of ``x`` (`keeps_shape`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import shape_ops
from graphdl.ops.leaves import CONSTANT

FLOAT_KINDS = "fc"


def value(node: Node) -> Any | None:
    """The value of a constant node (as NumPy sees it), else None."""
    if node.op is not CONSTANT:
        return None
    return node.attrs["value"]


def is_constant(node: Node, target: float) -> bool:
    """A constant whose every element equals ``target`` (no NaN)."""
    if node.op is not CONSTANT:
        return False
    v = node.attrs["value"]
    if isinstance(v, np.ndarray):
        return v.size > 0 and bool(np.all(v == target))
    return bool(v == target)


def is_scalar_constant(node: Node, target: float) -> bool:
    return node.ndim == 0 and is_constant(node, target)


def keeps_shape(x: Node, result: Node, others: tuple[Node, ...]) -> bool:
    """Does ``x`` have the run-time shape of ``result``, an elementwise op over ``x`` and
    ``others``? True when the static shapes agree and no other operand could stretch an axis of
    ``x`` whose size is unknown (such an axis may be 1 at run time)."""
    if x.shape != result.shape:
        return False
    for i, size in enumerate(x.shape):
        if size is not None:
            continue
        from_end = x.ndim - i
        for other in others:
            if other.ndim >= from_end and other.shape[-from_end] != 1:
                return False
    return True


def fit(x: Node, like: Node, others: tuple[Node, ...] = ()) -> Node | None:
    """``x`` given ``like``'s shape and dtype when that keeps its values (a cast to a promoted
    dtype, a broadcast to a fully known shape), else None."""
    if not keeps_shape(x, like, others):
        if None in like.shape or x.ndim > like.ndim:
            return None
        x = shape_ops.broadcast_to(x, like.shape)
    if x.dtype != like.dtype:
        if not np.can_cast(x.dtype, like.dtype, casting="same_kind"):
            return None
        x = ew.cast(x, like.dtype)
    return x


def as_dtype(x: Node, dtype: np.dtype) -> Node:
    """``x`` cast to ``dtype`` (itself when it already has it)."""
    return x if x.dtype == dtype else ew.cast(x, dtype)


def same_type(candidate: Node | None, node: Node) -> Node | None:
    """``candidate`` if it has ``node``'s static shape and dtype, else None: for rules whose
    result type may differ in corner cases (a weak Python-number constant meeting float32)."""
    if candidate is None or candidate.shape != node.shape or candidate.dtype != node.dtype:
        return None
    return candidate


def is_op(node: Node, name: str) -> bool:
    return node.op.name == name


def negated(node: Node) -> Node | None:
    """``y`` when ``node`` is ``-y``, else None."""
    return node.inputs[0] if node.op.name == "negative" else None


def other_operand(node: Node, i: int) -> Node:
    return node.inputs[1 - i]

"""Linear algebra: matmul (``@``, batched, with NumPy's 1-d rules); dot and the other
contractions are in `graphdl.ops.contractions`.

matmul's adjoints are ``g @ b.T`` and ``a.T @ g``, summed over the batch axes along which an
operand was broadcast (also a size-1 batch axis) and cast to the operand's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes, fmt_shape
from graphdl.ops import batching, reductions, shape_ops
from graphdl.ops import elementwise as ew
from graphdl.ops.notation import Notation
from graphdl.ops.registry import Op, apply


def _matmul_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    a, b = inputs
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least one axis "
                         f"({a.label()}: {fmt_shape(a.shape)}, {b.label()}: {fmt_shape(b.shape)})")
    a_shape = (1,) + a.shape if a.ndim == 1 else a.shape
    b_shape = b.shape + (1,) if b.ndim == 1 else b.shape
    k_a, k_b = a_shape[-1], b_shape[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise ShapeError(
            f"matmul: inner sizes differ: {a.label()} has shape {fmt_shape(a.shape)} and "
            f"{b.label()} has shape {fmt_shape(b.shape)} ({k_a} != {k_b})"
        )
    batch = broadcast_shapes("matmul", [a_shape[:-2], b_shape[:-2]], [a.label(), b.label()])
    out = batch + (a_shape[-2], b_shape[-1])
    if a.ndim == 1:
        out = out[:-2] + out[-1:]
    if b.ndim == 1:
        out = out[:-1]
    try:
        dtype = np.matmul.resolve_dtypes((a.dtype, b.dtype, None))[-1]
    except TypeError as exc:
        raise DTypeError(f"matmul: no loop for {a.dtype} @ {b.dtype}") from exc
    return out, dtype


def _as_matrix_cotangent(g: Node, a: Node, b: Node) -> Node:
    """The cotangent with the axes NumPy dropped for 1-d operands put back."""
    if a.ndim == 1:
        g = shape_ops.expand_dims(g, g.ndim - 1 if b.ndim > 1 else g.ndim)
    if b.ndim == 1:
        g = shape_ops.expand_dims(g, g.ndim)
    return g


def _matrix_vector_vjp(node: Node, g: Node) -> list[Node | None] | None:
    """The adjoints of ``A @ v`` and ``v @ A`` (A a matrix, v a vector) written as what they
    are: the vector's adjoint is a matrix-vector product (``A.T @ g``, ``A @ g``) and the
    matrix's an outer product, without the general rule's size-1 axes (one statement each, and
    contiguous operands for the numba backend)."""
    a, b = node.inputs
    grads: list[Node | None] = [None, None]
    if a.ndim == 2 and b.ndim == 1:
        if a.dtype.kind in "fc":
            grads[0] = ew.cast(ew.multiply(shape_ops.expand_dims(g, 1), b), a.dtype)
        if b.dtype.kind in "fc":
            grads[1] = ew.cast(matmul(shape_ops.transpose(a), g), b.dtype)
        return grads
    if a.ndim == 1 and b.ndim == 2:
        if a.dtype.kind in "fc":
            grads[0] = ew.cast(matmul(b, g), a.dtype)
        if b.dtype.kind in "fc":
            grads[1] = ew.cast(ew.multiply(shape_ops.expand_dims(a, 1), g), b.dtype)
        return grads
    return None


def _matmul_vjp(node: Node, g: Node) -> list[Node | None]:
    simple = _matrix_vector_vjp(node, g)
    if simple is not None:
        return simple
    a, b = node.inputs
    a2 = shape_ops.expand_dims(a, 0) if a.ndim == 1 else a
    b2 = shape_ops.expand_dims(b, 1) if b.ndim == 1 else b
    g2 = _as_matrix_cotangent(g, a, b)
    grads: list[Node | None] = [None, None]
    if a.dtype.kind in "fc":  # each adjoint takes its operand's dtype (float32 @ float64)
        ga = _sum_batch(matmul(g2, shape_ops.matrix_transpose(b2)), a2, b2)
        grads[0] = ew.cast(shape_ops.squeeze(ga, ga.ndim - 2) if a.ndim == 1 else ga, a.dtype)
    if b.dtype.kind in "fc":
        gb = _sum_batch(matmul(shape_ops.matrix_transpose(a2), g2), b2, a2)
        grads[1] = ew.cast(shape_ops.squeeze(gb, gb.ndim - 1) if b.ndim == 1 else gb, b.dtype)
    return grads


def _sum_batch(g: Node, operand: Node, other: Node) -> Node:
    """``g`` (shaped like the product's batch axes + ``operand``'s matrix axes) summed over the
    batch axes along which ``operand`` was broadcast: the leading axes it lacks and its size-1
    batch axes (e.g. a (2, 1, m, k) operand times a (3, k, n) one).

    Only batch axes can be broadcast; an unknown batch size facing a batch axis of the other
    operand that is not 1 waits for run time (`sum_to`), everything else is decided now.
    """
    batch, other_batch = operand.shape[:-2], other.shape[:-2]
    for j, size in enumerate(batch):
        from_end = len(batch) - j
        facing = other_batch[-from_end] if len(other_batch) >= from_end else 1
        if size is None and facing != 1:
            return apply(reductions.SUM_TO, g, operand)
    return reductions.unbroadcast(g, operand, [operand])


def _matmul_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    ta, tb = tangents
    a, b = node.inputs
    left = matmul(ta, b) if ta is not None else None
    right = matmul(a, tb) if tb is not None else None
    if left is None or right is None:
        return left if right is None else right
    return ew.add(left, right)


def _matmul_dims(node: Node, operands: Sequence[tuple]) -> tuple:
    """Rows from ``a``, columns from ``b`` (symbolic sizes, `graphdl.codegen.dims`)."""
    a, b = operands
    if len(a) < 2 or len(b) < 2:
        return (None,) * node.ndim
    return (None,) * (node.ndim - 2) + (a[-2], b[-1])


def _matmul_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """A batched 1-d operand becomes a stack of row (left) or column (right) matrices, whose
    extra axis is squeezed again at the end; then every batched operand gets size-1 axes after
    the batch axis until its batch axis lines up in front of the other operand's axes."""
    a, b = inputs
    squeeze: list[int] = []
    if batched[0] and a.ndim == 2:
        a = shape_ops.expand_dims(a, 1)
        squeeze.append(-1 if b.ndim == 1 else -2)  # an unbatched 1-d b drops the last axis
    if batched[1] and b.ndim == 2:
        b = shape_ops.expand_dims(b, 2)
        squeeze.append(-1)
    rank = max(x.ndim - 1 if f else x.ndim for x, f in zip((a, b), batched))
    a = batching.align(a, rank) if batched[0] else a
    b = batching.align(b, rank) if batched[1] else b
    out = matmul(a, b)
    return shape_ops.squeeze(out, tuple(out.ndim + s for s in squeeze)) if squeeze else out


MATMUL = Op("matmul", _matmul_infer, "{0} @ {1}", jvp=_matmul_jvp, vjp=_matmul_vjp,
            sympy=lambda sp, a, at: np.matmul(a[0], a[1]),
            doc="Batched matrix product with NumPy's rules for 1-d operands.",
            dims=_matmul_dims, linear="one",
            batch=_matmul_batch,
            notation=Notation("{0} @ {1}", adjoint=("{g} @ {1}ᵀ", "{0}ᵀ @ {g}"), bilinear=True))


def matmul(a: Any, b: Any) -> Node:
    """``a @ b`` as ``np.matmul``."""
    return apply(MATMUL, a, b)

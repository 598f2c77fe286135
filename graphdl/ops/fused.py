"""Fused ops the optimizer introduces: softmax cross-entropy with integer labels and its gradient.

``softmax_xent(z, idx, axis)`` is ``-take_along_axis(log_softmax(z, axis), idx, axis)``, the
cross-entropy of softmax(z) at integer labels, computed as ``logsumexp(z) - z[idx]`` after
subtracting the row maximum: finite for logits of +-1000, and without materializing the full
log-probability array. Its gradient ``softmax_xent_grad(g, z, idx, axis)`` is the textbook
``softmax(z) * g - onehot(idx) * g`` (with ``g`` summed along ``axis``), computed in one pass as
a careful person writes it: the probabilities, scaled, with ``g`` subtracted at the labels. ``g``
may be anything that broadcasts to the picked shape (the optimizer passes the ``1/n`` of a mean
without spreading it over the batch first).

When a graph computes both the loss and its gradient (a training step), the optimizer's
``specialize`` pass lowers the pair to shared parts: ``shifted = z - max(z)``, ``e = exp(shifted)``
and ``sums = sum(e)`` are computed once, then ``xent_rows(shifted, sums, idx)`` gives the loss
rows (``log(sums) - shifted[idx]``) and ``xent_rows_grad(g, e, sums, idx)`` the gradient
(``e * (g / sums)`` with ``g`` subtracted at the labels), so the softmax is not computed twice.

Users rarely build these directly: the optimizer's ``stabilize`` rewrites turn the written forms
(``log(softmax(z))[y]``, ``log_softmax(z)[y]`` and their gradients) into them. Each declares its
plain-op decomposition (``Op.decompose``: `decompose_xent`, `decompose_xent_grad`, ...), and
`graphdl.autodiff` differentiates through it wherever the op gives no rule of its own (only
``softmax_xent``'s VJP is its own: the fused gradient), so grad-of-grad still works and this
module needs nothing from autodiff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes, fmt_shape, normalize_axis
from graphdl.ops import batching, indexing, reductions, shape_ops, softmax
from graphdl.ops import elementwise as ew
from graphdl.ops.registry import Op, apply, as_node


def _check(op: str, z: Node, idx: Node, axis: int) -> None:
    if z.dtype.kind != "f":
        raise DTypeError(f"{op}: logits must be floats, got {z.label()} of dtype {z.dtype}")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: labels must be integers, got {idx.label()} of dtype "
                         f"{idx.dtype}")
    if idx.ndim != z.ndim:
        raise ShapeError(f"{op}: labels {idx.label()} {fmt_shape(idx.shape)} must have the rank "
                         f"of the logits {z.label()} {fmt_shape(z.shape)}")


def _xent_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    z, idx = inputs
    _check("softmax_xent", z, idx, attrs["axis"])
    shape, _ = indexing.TAKE_ALONG_AXIS.infer(inputs, attrs)
    return shape, z.dtype


def _grad_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    g, z, idx = inputs
    _check("softmax_xent_grad", z, idx, attrs["axis"])
    if g.dtype != z.dtype:
        raise DTypeError(f"softmax_xent_grad: cotangent {g.label()} has dtype {g.dtype}, the "
                         f"logits {z.label()} {z.dtype}")
    picked, _ = indexing.TAKE_ALONG_AXIS.infer((z, idx), attrs)
    if g.ndim > idx.ndim or broadcast_shapes("softmax_xent_grad", [g.shape, picked],
                                             [g.label(), "labels"]) != picked:
        raise ShapeError(f"softmax_xent_grad: cotangent {g.label()} {fmt_shape(g.shape)} does "
                         f"not broadcast to the picked shape {fmt_shape(picked)}")
    return z.shape, z.dtype


def decompose_xent(z: Node, idx: Node, axis: int) -> Node:
    """softmax_xent as plain ops: logsumexp(z) - z[idx]."""
    lse = softmax.logsumexp(z, axis=axis, keepdims=True)
    return ew.subtract(lse, indexing.take_along_axis(z, idx, axis=axis))


def decompose_xent_grad(g: Node, z: Node, idx: Node, axis: int) -> Node:
    """softmax_xent_grad as plain ops: softmax(z) * sum(g) - scatter(g at idx)."""
    if g.shape != idx.shape:
        g = shape_ops.broadcast_like(g, idx)
    total = reductions.sum(g, axis=axis, keepdims=True)
    scattered = apply(indexing.TAKE_ALONG_ADJOINT, g, z, idx, axis=axis)
    return ew.subtract(ew.multiply(softmax.softmax(z, axis=axis), total), scattered)


def _decomposition(build):
    """``Op.decompose`` from a builder taking the operands and the axis: autodiff differentiates
    a fused node through its plain-op form for the rules the op does not give itself."""
    return lambda node: build(*node.inputs, node.attrs["axis"])


def _xent_vjp(node: Node, g: Node) -> list[Node | None]:
    z, idx = node.inputs
    return [apply(SOFTMAX_XENT_GRAD, ew.cast(g, z.dtype), z, idx, **node.attrs), None]


def _xent_grad_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """Logits and labels get the batch axis; the cotangent only needs to broadcast to the
    picked shape, so a batched one is aligned after the batch axis and an unbatched one kept."""
    g, z, idx = inputs
    like = next(x for x, b in zip(inputs, batched) if b)
    z = z if batched[1] else batching.broadcast_batch(z, like)
    idx = idx if batched[2] else batching.broadcast_batch(idx, like)
    g = batching.align(g, idx.ndim - 1) if batched[0] else g
    return apply(SOFTMAX_XENT_GRAD, g, z, idx, axis=node.attrs["axis"] + 1)


SOFTMAX_XENT = Op(
    "softmax_xent", _xent_infer, "_rt.softmax_xent({0}, {1}, axis={axis})",
    vjp=_xent_vjp, decompose=_decomposition(decompose_xent),
    doc="-log softmax(z)[idx] along axis, computed stably as logsumexp(z) - z[idx].",
    batch=batching.batch_axis_attr("axis"),
)
SOFTMAX_XENT_GRAD = Op(
    "softmax_xent_grad", _grad_infer, "_rt.softmax_xent_grad({0}, {1}, {2}, axis={axis})",
    decompose=_decomposition(decompose_xent_grad),
    doc="The VJP of softmax_xent: softmax(z) * sum(g) - g at idx.",
    batch=_xent_grad_batch,
    dims=1,  # the logits' sizes (graphdl.codegen.dims)
    linear="first",  # in the cotangent g (graphdl.rewriting.scaling)
)


def softmax_xent(logits: Any, indices: Any, axis: int = -1) -> Node:
    """Per-label cross-entropy ``-log softmax(logits)[indices]`` along ``axis``;
    ``indices`` has the rank of ``logits`` (``y[:, None]`` for one label per row)."""
    z, idx = as_node(logits), as_node(indices)
    return apply(SOFTMAX_XENT, z, idx, axis=normalize_axis("softmax_xent", axis, z.ndim))


def softmax_xent_grad(g: Any, logits: Any, indices: Any, axis: int = -1) -> Node:
    z, idx = as_node(logits), as_node(indices)
    return apply(SOFTMAX_XENT_GRAD, as_node(g), z, idx,
                 axis=normalize_axis("softmax_xent_grad", axis, z.ndim))


# --- the pair lowered to shared parts (see the module docstring) ---------------------------------
def _rows_check(op: str, shifted: Node, sums: Node, idx: Node, axis: int) -> None:
    _check(op, shifted, idx, axis)
    expected = tuple(1 if i == axis else d for i, d in enumerate(shifted.shape))
    if sums.ndim != shifted.ndim or any(
            s is not None and e is not None and s != e for s, e in zip(sums.shape, expected)):
        raise ShapeError(f"{op}: sums {sums.label()} {fmt_shape(sums.shape)} must be "
                         f"{fmt_shape(expected)}, the shifted logits {shifted.label()} summed "
                         f"along axis {axis} with keepdims")
    if sums.dtype != shifted.dtype:
        raise DTypeError(f"{op}: sums {sums.label()} has dtype {sums.dtype}, the logits "
                         f"{shifted.label()} {shifted.dtype}")


def _rows_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    shifted, sums, idx = inputs
    _rows_check("xent_rows", shifted, sums, idx, attrs["axis"])
    shape, _ = indexing.TAKE_ALONG_AXIS.infer((shifted, idx), attrs)
    return shape, shifted.dtype


def _rows_grad_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    g, e, sums, idx = inputs
    _grad_infer((g, e, idx), attrs)
    _rows_check("xent_rows_grad", e, sums, idx, attrs["axis"])
    return e.shape, e.dtype


def decompose_rows(shifted: Node, sums: Node, idx: Node, axis: int) -> Node:
    """xent_rows as plain ops: log(sums) - shifted[idx]."""
    return ew.subtract(ew.log(sums), indexing.take_along_axis(shifted, idx, axis=axis))


def decompose_rows_grad(g: Node, e: Node, sums: Node, idx: Node, axis: int) -> Node:
    """xent_rows_grad as plain ops: e / sums * sum(g) - scatter(g at idx)."""
    if g.shape != idx.shape:
        g = shape_ops.broadcast_like(g, idx)
    total = reductions.sum(g, axis=axis, keepdims=True)
    scattered = apply(indexing.TAKE_ALONG_ADJOINT, g, e, idx, axis=axis)
    return ew.subtract(ew.multiply(ew.divide(e, sums), total), scattered)


def _rows_grad_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    g, e, sums, idx = inputs
    like = next(x for x, b in zip(inputs, batched) if b)
    e, sums, idx = (x if b else batching.broadcast_batch(x, like)
                    for x, b in zip((e, sums, idx), batched[1:]))
    g = batching.align(g, idx.ndim - 1) if batched[0] else g
    return apply(XENT_ROWS_GRAD, g, e, sums, idx, axis=node.attrs["axis"] + 1)


XENT_ROWS = Op(
    "xent_rows", _rows_infer, "_rt.xent_rows({0}, {1}, {2}, axis={axis})",
    decompose=_decomposition(decompose_rows),
    doc="log(sums) - shifted[idx]: softmax_xent from the shifted logits and their exp-sums.",
    batch=batching.batch_axis_attr("axis"),
)
XENT_ROWS_GRAD = Op(
    "xent_rows_grad", _rows_grad_infer, "_rt.xent_rows_grad({0}, {1}, {2}, {3}, axis={axis})",
    decompose=_decomposition(decompose_rows_grad),
    doc="e / sums * sum(g) - g at idx: softmax_xent_grad from exp(shifted) and its sums.",
    batch=_rows_grad_batch,
    dims=1, linear="first",  # as softmax_xent_grad
)


def xent_rows(shifted: Any, sums: Any, indices: Any, axis: int = -1) -> Node:
    s = as_node(shifted)
    return apply(XENT_ROWS, s, as_node(sums), as_node(indices),
                 axis=normalize_axis("xent_rows", axis, s.ndim))


def xent_rows_grad(g: Any, e: Any, sums: Any, indices: Any, axis: int = -1) -> Node:
    e = as_node(e)
    return apply(XENT_ROWS_GRAD, as_node(g), e, as_node(sums), as_node(indices),
                 axis=normalize_axis("xent_rows_grad", axis, e.ndim))


def shared_parts(z: Node, axis: int) -> tuple[Node, Node, Node]:
    """``(z - max(z), exp(z - max(z)), sum(exp(z - max(z))))`` along ``axis``, kept dims: what
    the loss rows and their gradient both need (CSE merges the two lowerings' copies)."""
    shifted = ew.subtract(z, reductions.max(z, axis=axis, keepdims=True))
    e = ew.exp(shifted)
    return shifted, e, reductions.sum(e, axis=axis, keepdims=True)

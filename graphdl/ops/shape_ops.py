"""Shape ops: reshape, transpose, expand_dims, squeeze, broadcasting, concatenate, stack, indexing.

These move elements without arithmetic, so their derivatives move cotangents back the other way:
reshape back, transpose by the inverse permutation, scatter into zeros for indexing. Where an
unknown size keeps a shape from being known when the graph is built, the ``*_like`` variants take
the run-time shape from a reference node.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes, fmt_shape, normalize_axes, normalize_axis, size_of
from graphdl.ops import batching
from graphdl.ops.notation import Notation, reshape_form
from graphdl.ops.registry import Op, apply, as_node


def _same_op(node: Node, tangents: list[Node | None]) -> Node | None:
    """JVP of a linear op with one differentiable input: the op applied to the tangent."""
    if tangents[0] is None:
        return None
    return apply(node.op, tangents[0], *node.inputs[1:], **node.attrs)


def move_op(name: str, infer: Any, emit: Any, **rules: Any) -> Op:
    """Define an op that moves elements without arithmetic (reshape, transpose, broadcasts):
    NumPy returns a view of the first operand (so buffer reuse never writes into it and it
    allocates nothing), the op is linear in that operand and, unless ``rules`` say otherwise,
    its tangent is the op applied to the operand's tangent."""
    rules.setdefault("jvp", _same_op)
    return Op(name, infer, emit, view=True, linear="first", **rules)


# --- batching (gd.vmap): the same move with the batch axis kept in front ----------------------
def _reshape_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """Prepend the batch size to the target (as -1 when the entry's shape is fully known)."""
    (x,) = inputs
    if None not in node.shape:
        return apply(RESHAPE, x, shape=(-1,) + node.shape)
    if x.shape[0] is None:
        raise NotImplementedError(f"vmap: reshape {node.label()} to {fmt_shape(node.shape)} "
                                  "needs a static batch size (reshape takes one -1)")
    return apply(RESHAPE, x, shape=(x.shape[0],) + tuple(node.attrs["shape"]))


def _broadcast_to_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    x = batching.align(inputs[0], node.ndim)
    if x.shape[0] is not None:
        return apply(BROADCAST_TO, x, shape=(x.shape[0],) + node.attrs["shape"])
    from graphdl.ops import elementwise as ew
    from graphdl.ops.leaves import constant

    return ew.add(x, constant(np.zeros(node.attrs["shape"], dtype=x.dtype)))  # unknown batch


def _broadcast_like_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """The reference gets the batch axis (np.broadcast_to takes its whole run-time shape)."""
    x, reference = inputs
    if not batched[1]:
        reference = batching.broadcast_batch(reference, x)
    if batched[0]:
        x = batching.align(x, node.ndim)
    return apply(BROADCAST_LIKE, x, reference)


def _shifted(key: str):
    def rule(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
        return apply(node.op, inputs[0], **{**node.attrs, key: batching.shift_axes(
            node.attrs[key], inputs[0].ndim - 1)})

    return rule


def _expand_dims_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    return apply(EXPAND_DIMS, inputs[0], axis=batching.shift_axes(node.attrs["axis"], 0))


# --- reshape ------------------------------------------------------------------------------------
def _reshape_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    target = attrs["shape"]
    if sum(d == -1 for d in target) > 1:
        raise ShapeError(f"reshape: at most one -1 in the target shape, got {target}")
    known = size_of(x.shape)
    rest = size_of(tuple(d for d in target if d != -1))
    if -1 in target:
        if known is None:
            out = tuple(None if d == -1 else d for d in target)
        elif rest == 0 or known % rest:
            raise ShapeError(f"reshape: cannot reshape {x.label()} of shape "
                             f"{fmt_shape(x.shape)} into {fmt_shape(target)}")
        else:
            out = tuple(known // rest if d == -1 else d for d in target)
    else:
        if known is not None and known != rest:
            raise ShapeError(f"reshape: cannot reshape {x.label()} of shape "
                             f"{fmt_shape(x.shape)} ({known} elements) into {fmt_shape(target)}")
        out = tuple(target)
    return out, x.dtype


def _reshape_vjp(node: Node, g: Node) -> list[Node | None]:
    return [reshape_like(g, node.inputs[0])]


RESHAPE = move_op("reshape", _reshape_infer, "np.reshape({0}, {shape})", vjp=_reshape_vjp,
                  sympy=lambda sp, a, at: np.reshape(a[0], at["shape"]), batch=_reshape_batch,
                  notation=Notation(reshape_form, linear=True, adjoint=("reshape({g})",)))


def _reshape_like_vjp(node: Node, g: Node) -> list[Node | None]:
    return [reshape_like(g, node.inputs[0]), None]


RESHAPE_LIKE = move_op("reshape_like", lambda inputs, attrs: (inputs[1].shape, inputs[0].dtype),
                       "np.reshape({0}, np.shape({1}))", vjp=_reshape_like_vjp,
                       doc="Reshape to the run-time shape of a reference node.",
                       batch=lambda node, inputs, batched: apply(
                           RESHAPE_LIKE, *batching.lift(inputs, batched)), shape_only=(1,))


def reshape(x: Any, shape: Sequence[int] | int) -> Node:
    """``x`` with a new shape (one size may be -1), as ``np.reshape``."""
    x = as_node(x)
    target = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(d) for d in shape)
    if target == x.shape:
        return x
    return apply(RESHAPE, x, shape=target)


def reshape_like(x: Node, reference: Node) -> Node:
    """``x`` reshaped to ``reference``'s shape, static when known, else taken at run time."""
    if x.shape == reference.shape and None not in x.shape:
        return x
    if None not in reference.shape:
        return reshape(x, reference.shape)
    return apply(RESHAPE_LIKE, x, reference)


# --- transpose ----------------------------------------------------------------------------------
def _transpose_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    axes = attrs["axes"]
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes "
                         f"({x.label()}: {fmt_shape(x.shape)})")
    return tuple(x.shape[a] for a in axes), x.dtype


def _emit_transpose(args: Sequence[str], attrs: dict[str, Any]) -> str:
    axes = attrs["axes"]
    if axes == tuple(reversed(range(len(axes)))):
        return f"{args[0]}.T" if len(axes) == 2 else f"np.transpose({args[0]})"
    return f"np.transpose({args[0]}, {axes!r})"


def _transpose_vjp(node: Node, g: Node) -> list[Node | None]:
    return [transpose(g, tuple(int(a) for a in np.argsort(node.attrs["axes"])))]


TRANSPOSE = move_op(
    "transpose", _transpose_infer, _emit_transpose, vjp=_transpose_vjp,
    sympy=lambda sp, a, at: np.transpose(a[0], at["axes"]),
    dims=lambda node, sizes: tuple(sizes[0][a] for a in node.attrs["axes"]),
    batch=lambda node, inputs, batched: apply(
        TRANSPOSE, inputs[0], axes=(0,) + batching.shift_axes(node.attrs["axes"], 0)),
        notation=Notation("{0}ᵀ", linear=True, adjoint=("{g}ᵀ",)))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Node:
    """Permute axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    x = as_node(x)
    perm = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        normalize_axis("transpose", int(a), x.ndim) for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    return apply(TRANSPOSE, x, axes=perm)


def matrix_transpose(x: Any) -> Node:
    """Swap the last two axes (batched ``.T`` for matmul)."""
    x = as_node(x)
    perm = list(range(x.ndim))
    perm[-2:] = perm[-1], perm[-2]
    return transpose(x, perm)


# --- expand_dims / squeeze ------------------------------------------------------------------------
def _expand_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    shape = list(inputs[0].shape)
    for a in attrs["axis"]:
        shape.insert(a, 1)
    return tuple(shape), inputs[0].dtype


def _squeeze_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    for a in attrs["axis"]:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"squeeze: axis {a} of {x.label()} has size {x.shape[a]}, not 1")
    return tuple(d for i, d in enumerate(x.shape) if i not in attrs["axis"]), x.dtype


EXPAND_DIMS = move_op("expand_dims", _expand_infer, "np.expand_dims({0}, {axis})",
                      vjp=lambda node, g: [squeeze(g, node.attrs["axis"])],
                      sympy=lambda sp, a, at: np.expand_dims(a[0], at["axis"]),
                      batch=_expand_dims_batch,
                      notation=Notation("expand_dims({0})", linear=True, adjoint=("squeeze({g})",)))
SQUEEZE = move_op("squeeze", _squeeze_infer, "np.squeeze({0}, {axis})",
                  vjp=lambda node, g: [expand_dims(g, node.attrs["axis"])],
                  sympy=lambda sp, a, at: np.squeeze(a[0], at["axis"]), batch=_shifted("axis"),
                  notation=Notation("squeeze({0})", linear=True, adjoint=("expand_dims({g})",)))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Node:
    """Insert size-1 axes at ``axis`` (positions in the result), as ``np.expand_dims``."""
    x = as_node(x)
    axes = normalize_axes("expand_dims", axis, x.ndim + (1 if isinstance(axis, int) else len(axis)))
    return apply(EXPAND_DIMS, x, axis=axes)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Node:
    """Remove size-1 axes (all statically known ones when ``axis`` is None)."""
    x = as_node(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, x.ndim)
    if not axes:
        return x
    return apply(SQUEEZE, x, axis=axes)


# --- broadcasting ---------------------------------------------------------------------------------
def _broadcast_to_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    target = attrs["shape"]
    out = broadcast_shapes("broadcast_to", [x.shape, target], [x.label(), "target"])
    if len(x.shape) > len(target) or out != target:
        raise ShapeError(f"broadcast_to: cannot broadcast {x.label()} of shape "
                         f"{fmt_shape(x.shape)} to {fmt_shape(target)}")
    return target, x.dtype


def _broadcast_vjp(node: Node, g: Node) -> list[Node | None]:
    x = node.inputs[0]
    from graphdl.ops.reductions import unbroadcast  # above this module (see graphdl.ops)

    return [unbroadcast(g, x, [x, node])] + [None] * (len(node.inputs) - 1)


BROADCAST_TO = move_op("broadcast_to", _broadcast_to_infer, "np.broadcast_to({0}, {shape})",
                       vjp=_broadcast_vjp,
                       sympy=lambda sp, a, at: np.broadcast_to(a[0], at["shape"]),
                       batch=_broadcast_to_batch,
                       notation=Notation("broadcast({0})", linear=True, adjoint=("sum_to({g})",)))
BROADCAST_LIKE = move_op(
    "broadcast_like",
    lambda inputs, attrs: (broadcast_shapes("broadcast_like", [n.shape for n in inputs],
                                            [n.label() for n in inputs]), inputs[0].dtype),
    "np.broadcast_to({0}, np.shape({1}))", vjp=_broadcast_vjp,
    doc="Broadcast to the run-time shape of a reference node.", batch=_broadcast_like_batch,
    shape_only=(1,),  # read only for its shape (specialize)
)


def broadcast_to(x: Any, shape: Sequence[int]) -> Node:
    """``x`` broadcast to a static ``shape`` (a read-only view, as ``np.broadcast_to``)."""
    x = as_node(x)
    target = tuple(int(d) for d in shape)
    return x if x.shape == target else apply(BROADCAST_TO, x, shape=target)


def broadcast_like(x: Node, reference: Node) -> Node:
    """``x`` broadcast to ``reference``'s shape; static when that shape is fully known."""
    if x.shape == reference.shape and None not in x.shape:
        return x
    if None not in reference.shape:
        return broadcast_to(x, reference.shape)
    if x.shape == reference.shape and x.ndim == 0:
        return x
    return apply(BROADCAST_LIKE, x, reference)


# --- concatenate / stack --------------------------------------------------------------------------
def _concat_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    axis = attrs["axis"]
    first = inputs[0]
    out = list(first.shape)
    for other in inputs[1:]:
        if other.ndim != first.ndim or any(
            i != axis and a is not None and b is not None and a != b
            for i, (a, b) in enumerate(zip(first.shape, other.shape))
        ):
            raise ShapeError(f"concatenate: shapes differ off axis {axis}: "
                             + ", ".join(f"{n.label()}: {fmt_shape(n.shape)}" for n in inputs))
    sizes = [n.shape[axis] for n in inputs]
    out[axis] = None if None in sizes else int(np.sum(sizes))
    dtype = np.result_type(*[n.dtype for n in inputs])
    return tuple(out), dtype


def _concat_vjp(node: Node, g: Node) -> list[Node | None]:
    axis = node.attrs["axis"]
    pieces = []
    for i, part in enumerate(node.inputs):
        if part.dtype.kind not in "fc":
            pieces.append(None)
            continue
        piece = apply(CONCAT_PIECE, g, *node.inputs, axis=axis, index=i)
        pieces.append(piece if piece.dtype == part.dtype else _cast(piece, part.dtype))
    return pieces


def _cast(x: Node, dtype: np.dtype) -> Node:
    """An adjoint brought back to its operand's dtype (a float32 part of a float64 concat)."""
    from graphdl.ops.elementwise import cast

    return cast(x, dtype)


def _concat_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    if all(t is None for t in tangents):
        return None
    from graphdl.ops.elementwise import cast

    filled = [cast(t, node.dtype) if t is not None else zeros_like(x, node.dtype)
              for t, x in zip(tangents, node.inputs)]
    return apply(CONCATENATE, *filled, axis=node.attrs["axis"])


def _concat_piece_vjp(node: Node, g: Node) -> list[Node | None]:
    parts = node.inputs[1:]
    filled = [g if i == node.attrs["index"] else zeros_like(p, g.dtype) for i, p in
              enumerate(parts)]
    return [apply(CONCATENATE, *filled, axis=node.attrs["axis"])] + [None] * len(parts)


CONCATENATE = Op("concatenate", _concat_infer,
                 lambda args, attrs: f"np.concatenate([{', '.join(args)}], axis={attrs['axis']})",
                 jvp=_concat_jvp, vjp=_concat_vjp,
                 sympy=lambda sp, a, at: np.concatenate(a, axis=at["axis"]),
                 batch=batching.batch_axis_attr("axis"),
                 linear="all")  # linear when all parts scale (graphdl.rewriting.scaling)
CONCAT_PIECE = move_op(
    "concat_piece",
    lambda inputs, attrs: (inputs[1 + attrs["index"]].shape, inputs[0].dtype),
    lambda args, attrs: (f"_rt.concat_piece({args[0]}, {attrs['axis']}, {attrs['index']}, "
                         f"[{', '.join(args[1:])}])"),  # a slice of the cotangent: a view
    jvp=lambda node, t: None if t[0] is None else apply(CONCAT_PIECE, t[0], *node.inputs[1:],
                                                        **node.attrs),
    vjp=_concat_piece_vjp, batch=batching.batch_axis_attr("axis"),
    doc="The part of a concatenation's cotangent that belongs to one operand.",
)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Node:
    """Join nodes along an existing axis, as ``np.concatenate``."""
    nodes = [as_node(x) for x in xs]
    if not nodes:
        raise ValueError("concatenate: needs at least one operand")
    if nodes[0].ndim == 0:
        raise ShapeError("concatenate: zero-dimensional operands cannot be concatenated")
    return apply(CONCATENATE, *nodes, axis=normalize_axis("concatenate", axis, nodes[0].ndim))


def stack(xs: Sequence[Any], axis: int = 0) -> Node:
    """Join nodes along a new axis, as ``np.stack`` (expand_dims, then concatenate)."""
    nodes = [as_node(x) for x in xs]
    if not nodes:
        raise ValueError("stack: needs at least one operand")
    axis = normalize_axis("stack", axis, nodes[0].ndim + 1)
    return concatenate([expand_dims(n, axis) for n in nodes], axis=axis)


# --- zeros ----------------------------------------------------------------------------------------
ZEROS_LIKE = Op("zeros_like", lambda inputs, attrs: (inputs[0].shape, np.dtype(attrs["dtype"])),
                "np.zeros(np.shape({0}), dtype={dtype})", zero_derivative=True,
                doc="Zeros shaped like a reference at run time (materialized only when needed).",
                batch=lambda node, inputs, batched: apply(ZEROS_LIKE, inputs[0], **node.attrs),
                shape_only=(0,))


def zeros_like(x: Node, dtype: Any = None) -> Node:
    from graphdl.ops.leaves import constant

    dtype = np.dtype(dtype or x.dtype)
    if None not in x.shape:
        return constant(np.zeros(x.shape, dtype=dtype))
    return apply(ZEROS_LIKE, x, dtype=dtype.name)

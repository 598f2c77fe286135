"""Indexing: basic slicing (``x[0]``, ``x[:, 1:]``), take, take_along_axis and one_hot.

Basic indices are kept as a tuple of plain entries: an int, ``("slice", start, stop, step)``, or
``"newaxis"``; the Ellipsis is expanded when the node is built. Adjoints scatter the cotangent into
zeros of the operand's shape (with ``np.add.at`` where indices may repeat: a row taken twice gets
both cotangents). Integer indices get no adjoint; one_hot has zero derivative.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape, normalize_axis
from graphdl.ops import batching
from graphdl.ops.notation import Notation
from graphdl.ops.registry import Op, apply, as_node


def _normalize_index(x: Node, index: Any) -> tuple:
    entries = index if isinstance(index, tuple) else (index,)
    used = sum(1 for e in entries if e is not None and e is not Ellipsis)
    if used > x.ndim:
        raise ShapeError(f"index: too many indices ({used}) for {x.label()} of rank {x.ndim}")
    out: list[Any] = []
    for e in entries:
        if e is Ellipsis:
            out.extend([("slice", None, None, None)] * (x.ndim - used))
            used = x.ndim
        elif e is None:
            out.append("newaxis")
        elif isinstance(e, slice):
            parts = (e.start, e.stop, e.step)
            if any(p is not None and not isinstance(p, numbers.Integral) for p in parts):
                raise TypeError(f"index: slice bounds must be ints, got {e}")
            out.append(("slice", *[None if p is None else int(p) for p in parts]))
        elif isinstance(e, numbers.Integral) and not isinstance(e, bool):
            out.append(int(e))
        else:
            raise TypeError(f"index: unsupported index {e!r} for {x.label()}; use ints, slices, "
                            "None, ..., or an integer node (gd.take)")
    return tuple(out)


def _getitem_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    shape: list[int | None] = []
    axis = 0
    for e in attrs["index"]:
        if e == "newaxis":
            shape.append(1)
            continue
        size = x.shape[axis]
        if isinstance(e, int):
            if size is not None and not -size <= e < size:
                raise ShapeError(f"index: {e} is out of bounds for axis {axis} of {x.label()} "
                                 f"with size {size}")
        else:
            _, start, stop, step = e
            if step == 0:
                raise ShapeError("index: slice step cannot be zero")
            if size is None:
                shape.append(None)
            else:
                shape.append(len(range(*slice(start, stop, step).indices(size))))
        axis += 1
    shape.extend(x.shape[axis:])
    return tuple(shape), x.dtype


def render_index(index: tuple) -> str:
    """The index as Python source: ``[:, 1:]`` style."""
    parts = []
    for e in index:
        if e == "newaxis":
            parts.append("None")
        elif isinstance(e, int):
            parts.append(str(e))
        else:
            _, start, stop, step = e
            text = f"{'' if start is None else start}:{'' if stop is None else stop}"
            parts.append(text + (f":{step}" if step is not None else ""))
    return ", ".join(parts) if len(parts) != 1 or parts[0] == "" else parts[0]


def _emit_getitem(args: Sequence[str], attrs: dict[str, Any]) -> str:
    rendered = render_index(attrs["index"])
    return f"{args[0]}[{rendered or '()'}]"


def _getitem_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    return None if tangents[0] is None else apply(GETITEM, tangents[0], **node.attrs)


def _getitem_vjp(node: Node, g: Node) -> list[Node | None]:
    return [apply(INDEX_ADJOINT, g, node.inputs[0], **node.attrs)]


def python_index(index: tuple) -> tuple:
    """The stored index as a Python index again (``("slice", 1, None, None)`` -> ``1:``)."""
    return tuple(None if e == "newaxis" else e if isinstance(e, int) else slice(*e[1:])
                 for e in index)


def _sympy_index_adjoint(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> np.ndarray:
    out = np.full(np.shape(args[1]), sp.Integer(0), dtype=object)
    out[python_index(attrs["index"])] = args[0]
    return out


# --- batching (gd.vmap) ------------------------------------------------------------------------
_ALL = ("slice", None, None, None)


def _take_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    x, indices = inputs
    axis = node.attrs["axis"]
    if not batched[1]:
        return apply(TAKE, x, indices, axis=axis + 1)
    if not batched[0]:  # np.take puts the indices' axes (batch first) at `axis`: move it to 0
        out = apply(TAKE, x, indices, axis=axis)
        from graphdl.ops import shape_ops

        rest = [a for a in range(out.ndim) if a != axis]
        return shape_ops.transpose(out, [axis] + rest)
    return _gather_per_entry(x, indices, axis)


def _gather_per_entry(x: Node, indices: Node, axis: int) -> Node:
    """take with a different index array per entry, as one take_along_axis: the entry's other
    axes broadcast against size-1 axes of the indices, the indices' extra axes against size-1
    axes inserted into x."""
    from graphdl.ops import shape_ops

    rank, k = x.ndim - 1, indices.ndim - 1
    a = axis + 1
    spread = shape_ops.expand_dims(x, tuple(range(a + 1, a + k))) if k > 1 else x
    before = tuple(range(1, a))
    after = tuple(range(a + max(k, 1), rank + max(k, 1)))
    inserted = before + ((a,) if k == 0 else ()) + after  # a scalar index gets a size-1 axis
    idx = shape_ops.expand_dims(indices, inserted) if inserted else indices
    out = apply(TAKE_ALONG_AXIS, spread, idx, axis=a)
    return shape_ops.squeeze(out, a) if k == 0 else out


def _take_adjoint_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    if batched[2]:
        raise NotImplementedError(
            f"vmap: take_adjoint {node.label()} with batched indices has no batching rule (the "
            "indices of take come from integer inputs; vmap over them is not differentiated)")
    g, like = batching.lift(inputs[:2], batched[:2])
    return apply(TAKE_ADJOINT, g, like, inputs[2], axis=node.attrs["axis"] + 1)


def _getitem_form(args: Sequence[str], attrs: dict[str, Any]) -> str:
    """``v_1[0, 1:3]``: basic indexing as the user wrote it (traces and drawings)."""
    return f"{args[0]}[{render_index(attrs['index'])}]"


GETITEM = Op("getitem", _getitem_infer, _emit_getitem, jvp=_getitem_jvp, vjp=_getitem_vjp,
             sympy=lambda sp, a, at: a[0][python_index(at["index"])],
             view=True,  # basic indexing returns a view of the operand
             batch=lambda node, inputs, batched: apply(
                 GETITEM, inputs[0], index=(_ALL,) + node.attrs["index"]),
             linear="first",
             notation=Notation(_getitem_form, linear=True, adjoint=("scatter({g})",)))


def _emit_index_adjoint(args: Sequence[str], attrs: dict[str, Any]) -> str:
    rendered = render_index(attrs["index"]) or "()"
    return f"_rt.scatter_basic({args[0]}, {args[1]}, np.s_[{rendered}])"


INDEX_ADJOINT = Op(
    "index_adjoint", lambda inputs, attrs: (inputs[1].shape, inputs[0].dtype),
    _emit_index_adjoint,
    jvp=lambda node, t: None if t[0] is None else apply(INDEX_ADJOINT, t[0], node.inputs[1],
                                                        **node.attrs),
    vjp=lambda node, g: [apply(GETITEM, g, **node.attrs), None],
    sympy=_sympy_index_adjoint,
    doc="Zeros shaped like the indexed operand with the cotangent written at the index.",
    batch=lambda node, inputs, batched: apply(
        INDEX_ADJOINT, *batching.lift(inputs, batched), index=(_ALL,) + node.attrs["index"]),
    linear="first",
    shape_only=(1,),  # read only for its shape (specialize)
)


def getitem(x: Any, index: Any) -> Node:
    """Basic NumPy indexing; an integer node as the index means ``take`` along axis 0."""
    x = as_node(x)
    if isinstance(index, Node):
        return take(x, index, axis=0)
    if isinstance(index, tuple) and any(isinstance(e, Node) for e in index):
        raise TypeError("index: mixing integer nodes with other indices is not supported; use "
                        "gd.take or gd.take_along_axis")
    return apply(GETITEM, x, index=_normalize_index(x, index))


# --- take ---------------------------------------------------------------------------------------
def _check_indices(op: str, indices: Node) -> None:
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got {indices.label()} of dtype "
                         f"{indices.dtype}")


def _take_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    x, indices = inputs
    _check_indices("take", indices)
    axis = attrs["axis"]
    return x.shape[:axis] + indices.shape + x.shape[axis + 1:], x.dtype


TAKE = Op(
    "take", _take_infer, "np.take({0}, {1}, axis={axis})",
    jvp=lambda node, t: None if t[0] is None else apply(TAKE, t[0], node.inputs[1], **node.attrs),
    vjp=lambda node, g: [apply(TAKE_ADJOINT, g, *node.inputs, **node.attrs), None],
    batch=_take_batch, linear="first",
)
TAKE_ADJOINT = Op(
    "take_adjoint", lambda inputs, attrs: (inputs[1].shape, inputs[0].dtype),
    "_rt.take_adjoint({0}, {1}, {2}, {axis})",
    jvp=lambda node, t: None if t[0] is None else apply(TAKE_ADJOINT, t[0], *node.inputs[1:],
                                                        **node.attrs),
    vjp=lambda node, g: [apply(TAKE, g, node.inputs[2], **node.attrs), None, None],
    doc="Adds the cotangent into zeros at the taken indices (repeats accumulate).",
    batch=_take_adjoint_batch, linear="first",
    shape_only=(1,),  # read only for its shape (specialize)
)


def take(x: Any, indices: Any, axis: int = 0) -> Node:
    """Elements of ``x`` at integer ``indices`` along ``axis``, as ``np.take``."""
    x, indices = as_node(x), as_node(indices)
    return apply(TAKE, x, indices, axis=normalize_axis("take", axis, x.ndim))


def _take_along_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    x, indices = inputs
    _check_indices("take_along_axis", indices)
    if indices.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices {indices.label()} {fmt_shape(indices.shape)} "
                         f"must have the rank of {x.label()} {fmt_shape(x.shape)}")
    axis = attrs["axis"]
    out = []
    for i, (a, b) in enumerate(zip(x.shape, indices.shape)):
        if i == axis:
            out.append(b)
        elif a is not None and b is not None and a != b and 1 not in (a, b):
            raise ShapeError(f"take_along_axis: {x.label()} {fmt_shape(x.shape)} and indices "
                             f"{fmt_shape(indices.shape)} differ at axis {i}")
        else:
            out.append(b if a in (1, None) and b not in (1,) else a)
    return tuple(out), x.dtype


TAKE_ALONG_AXIS = Op(
    "take_along_axis", _take_along_infer, "np.take_along_axis({0}, {1}, axis={axis})",
    jvp=lambda node, t: None if t[0] is None else apply(TAKE_ALONG_AXIS, t[0], node.inputs[1],
                                                        **node.attrs),
    vjp=lambda node, g: [apply(TAKE_ALONG_ADJOINT, g, *node.inputs, **node.attrs), None],
    batch=batching.batch_axis_attr("axis"), linear="first",
)
TAKE_ALONG_ADJOINT = Op(
    "take_along_adjoint", lambda inputs, attrs: (inputs[1].shape, inputs[0].dtype),
    "_rt.take_along_adjoint({0}, {1}, {2}, {axis})",
    jvp=lambda node, t: None if t[0] is None else apply(TAKE_ALONG_ADJOINT, t[0],
                                                        *node.inputs[1:], **node.attrs),
    vjp=lambda node, g: [apply(TAKE_ALONG_AXIS, g, node.inputs[2], **node.attrs), None, None],
    doc="Adds the cotangent into zeros at the gathered positions.",
    batch=batching.batch_axis_attr("axis"), linear="first",
    shape_only=(1,),  # read only for its shape (specialize)
)


def take_along_axis(x: Any, indices: Any, axis: int) -> Node:
    """``np.take_along_axis``: e.g. the logit of each row's label, ``indices = y[:, None]``."""
    x, indices = as_node(x), as_node(indices)
    return apply(TAKE_ALONG_AXIS, x, indices, axis=normalize_axis("take_along_axis", axis, x.ndim))


# --- one_hot ------------------------------------------------------------------------------------
def _one_hot_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    _check_indices("one_hot", inputs[0])
    return inputs[0].shape + (attrs["depth"],), np.dtype(attrs["dtype"])


ONE_HOT = Op("one_hot", _one_hot_infer,
             "np.asarray({0}[..., None] == np.arange({depth}), dtype={dtype})",
             zero_derivative=True, doc="Integer labels to indicator rows: zero derivative.",
             sympy=lambda sp, a, at: np.frompyfunc(
                 lambda label, k: sp.Piecewise((1, sp.Eq(label, k)), (0, True)), 2, 1,
             )(np.expand_dims(a[0], -1), np.arange(at["depth"])),
             batch=lambda node, inputs, batched: apply(ONE_HOT, inputs[0], **node.attrs))


def one_hot(labels: Any, depth: int, dtype: Any = "float64") -> Node:
    """Rows of zeros with a one at each label; a compiled function refuses labels outside
    [0, depth) given as an argument (`graphdl.codegen.indices`)."""
    return apply(ONE_HOT, labels, depth=int(depth), dtype=np.dtype(dtype).name)

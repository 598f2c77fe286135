"""Reductions: sum, mean, max, min, prod, argmax, and summing a cotangent back to a shape.

Reductions keep their axes as a sorted tuple (or None for all axes) and a ``keepdims`` flag, the
NumPy meaning. Derivatives re-expand the reduced cotangent with `expand_reduced` and broadcast it
back over the operand. Ties in max/min split the derivative equally among the tied elements
(max of [2, 5, 5] has gradient [0, 0.5, 0.5]). prod's derivative is the product of the other
elements, exact where elements are zero; argmax/argmin are indices with zero derivative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import normalize_axes, size_of
from graphdl.ops import batching, shape_ops
from graphdl.ops import elementwise as ew
from graphdl.ops.notation import Notation, call
from graphdl.ops.registry import Op, apply


def _reduced_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(kind: str):
    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        (x,) = inputs
        axes = attrs["axis"] if attrs["axis"] is not None else tuple(range(x.ndim))
        if kind == "sum_like":
            dtype = np.add.reduce(np.zeros(1, dtype=x.dtype)).dtype
        elif kind == "mean":
            dtype = np.mean(np.zeros(1, dtype=x.dtype)).dtype
        elif kind == "index":
            dtype = np.dtype("int64")
        else:
            dtype = x.dtype
        if x.dtype.kind not in "biufc":
            raise DTypeError(f"{kind}: cannot reduce dtype {x.dtype} ({x.label()})")
        return _reduced_shape(x.shape, axes, attrs["keepdims"]), dtype

    return infer


_FAST_ROWS = {"np.add.reduce": "np.add", "np.maximum.reduce": "np.maximum",
              "np.minimum.reduce": "np.minimum"}


def _emit_reduction(function: str):
    def emit(args: Sequence[str], attrs: dict[str, Any]) -> str:
        parts = [args[0]]
        axis = attrs["axis"]
        # two shapes NumPy reduces slowly, sent to helpers that check the rank at run time:
        # the columns of a matrix (bias gradients) and short rows (logits, with keepdims)
        if function == "np.add.reduce" and axis == (0,) and not attrs["keepdims"]:
            return f"_rt.column_sums({args[0]})"
        if function in _FAST_ROWS and axis == (1,) and attrs["keepdims"]:
            return f"_rt.row_reduce({_FAST_ROWS[function]}, {args[0]})"
        if axis is not None:
            parts.append(f"axis={axis[0] if len(axis) == 1 else axis!r}")
        elif function.endswith(".reduce"):
            parts.append("axis=None")  # a ufunc's reduce defaults to axis 0
        if attrs["keepdims"]:
            parts.append("keepdims=True")
        return f"{function}({', '.join(parts)})"

    return emit


def expand_reduced(g: Node, x: Node, axis: tuple[int, ...] | None, keepdims: bool) -> Node:
    """A reduced cotangent brought back to ``x``'s rank and broadcast over ``x``'s shape."""
    axes = axis if axis is not None else tuple(range(x.ndim))
    if not keepdims and axes and g.ndim > 0:  # (a 0-d cotangent broadcasts as it is)
        g = shape_ops.expand_dims(g, axes)
    return shape_ops.broadcast_like(g, x)


def _sum_vjp(node: Node, g: Node) -> list[Node | None]:
    return [expand_reduced(g, node.inputs[0], node.attrs["axis"], node.attrs["keepdims"])]


def _sum_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    return None if t is None else apply(node.op, t, **node.attrs)


def reduced_count(x: Node, axis: tuple[int, ...] | None) -> Node:
    """How many elements a reduction over ``axis`` combines, as a node of ``x``'s dtype."""
    axes = axis if axis is not None else tuple(range(x.ndim))
    static = size_of(tuple(x.shape[a] for a in axes))
    if static is not None:
        return ew.cast(np.asarray(static), x.dtype)
    return ew.cast(apply(AXIS_SIZE, x, axis=axes), x.dtype)


def _mean_vjp(node: Node, g: Node) -> list[Node | None]:
    x = node.inputs[0]
    spread = expand_reduced(g, x, node.attrs["axis"], node.attrs["keepdims"])
    return [ew.divide(spread, reduced_count(x, node.attrs["axis"]))]


def _chooser_vjp(node: Node, g: Node) -> list[Node | None]:
    x = node.inputs[0]
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    chosen = ew.cast(ew.equal(x, expand_reduced(node, x, axis, keepdims)), x.dtype)
    ties = sum(chosen, axis=axis, keepdims=True)
    spread = expand_reduced(g, x, axis, keepdims)
    return [ew.multiply(spread, ew.divide(chosen, ties))]


def _chooser_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    if t is None:
        return None
    x = node.inputs[0]
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    chosen = ew.cast(ew.equal(x, expand_reduced(node, x, axis, keepdims)), x.dtype)
    weights = ew.divide(chosen, sum(chosen, axis=axis, keepdims=True))
    return sum(ew.multiply(t, weights), axis=axis, keepdims=keepdims)


def _prod_partials(node: Node) -> Node:
    """d prod / d x_i = the product of the *other* elements, without dividing by zero.

    ``prod / x_i`` is nan where x_i = 0, yet the derivative is defined there: with one zero it is
    the product of the nonzero elements at the zero and 0 elsewhere, with two or more zeros it is
    0. Written as ``p * z / x_i`` off the zeros (p: product of the nonzero elements, z: product of
    the zeros, 1 when there are none), so second derivatives are exact too where at most one
    element is zero.
    """
    x = node.inputs[0]
    axis = node.attrs["axis"]
    is_zero = ew.equal(x, 0)
    nonzero = ew.where(is_zero, 1, x)
    p = prod(nonzero, axis=axis, keepdims=True)
    z = prod(ew.where(is_zero, x, 1), axis=axis, keepdims=True)
    zeros = sum(is_zero, axis=axis, keepdims=True)
    at_zero = ew.where(ew.equal(zeros, 1), p, 0)
    return ew.where(is_zero, at_zero, ew.divide(ew.multiply(p, z), nonzero))


def _prod_vjp(node: Node, g: Node) -> list[Node | None]:
    x = node.inputs[0]
    spread = expand_reduced(g, x, node.attrs["axis"], node.attrs["keepdims"])
    return [ew.multiply(spread, _prod_partials(node))]


def _prod_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    if t is None:
        return None
    return sum(ew.multiply(t, _prod_partials(node)), axis=node.attrs["axis"],
               keepdims=node.attrs["keepdims"])


def reduce_symbolic(x: np.ndarray, attrs: dict[str, Any], combine: Any) -> np.ndarray:
    """A reduction over an object array of SymPy expressions (what the ``sympy`` rules of
    non-elementwise ops receive): ``combine`` gets the elements of each reduced group as a list.
    NumPy's own reductions cannot do max/min there (they would compare symbols)."""
    axes = attrs["axis"] if attrs["axis"] is not None else tuple(range(x.ndim))
    kept = [i for i in range(x.ndim) if i not in axes]
    groups = np.transpose(x, kept + list(axes)).reshape([x.shape[i] for i in kept] + [-1])
    out = np.empty(groups.shape[:-1], dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = combine(list(groups[index]))
    return out.reshape(_reduced_shape(x.shape, axes, attrs["keepdims"]))


def _sympy_reduction(combine: Any):
    """The ``sympy`` rule of a reduction: ``combine(sympy, elements)`` on each group."""
    return lambda sp, args, attrs: reduce_symbolic(args[0], attrs, lambda xs: combine(sp, xs))


def _reduction_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """Reduce the same axes, shifted past the batch axis. argmax/argmin over all axes index the
    flattened entry, so each entry is flattened first."""
    (x,) = inputs
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    if node.op.zero_derivative and axis is None:  # argmax, argmin
        flat = shape_ops.reshape(x, _batched_flat_shape(x, node))
        out = apply(node.op, flat, axis=(1,), keepdims=False)
        return shape_ops.expand_dims(out, tuple(range(1, x.ndim))) if keepdims else out
    return apply(node.op, x, axis=batching.shift_axes(axis, x.ndim - 1), keepdims=keepdims)


def _batched_flat_shape(x: Node, node: Node) -> tuple[int, int]:
    """(batch, -1) or (-1, entry size): reshape takes one unknown size."""
    if x.shape[0] is not None:
        return (x.shape[0], -1)
    entry = size_of(x.shape[1:])
    if entry is None:
        raise NotImplementedError(f"vmap: {node.op.name} over all axes of {node.label()} needs "
                                  "the batch size or the entry size to be static")
    return (-1, entry)


def _reduced_dims(node: Node, operands: Sequence[tuple]) -> tuple:
    """Symbolic sizes (`graphdl.codegen.dims`): the kept axes keep their operand's sizes."""
    x = operands[0]
    axes = range(len(x)) if node.attrs["axis"] is None else node.attrs["axis"]
    keep = node.attrs["keepdims"]
    return tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes)


def reduction_op(name: str, kind: str, emit: Any, **rules: Any) -> Op:
    """Define a reduction over the attributes ``axis`` (a sorted tuple or None) and ``keepdims``.

    ``kind`` sets the dtype rule: ``"sum_like"`` (NumPy's accumulator dtype), ``"mean"``,
    ``"index"`` (int64) or ``"same"``. Batching shifts the axes past the batch axis and unknown
    sizes flow through the kept axes; ``rules`` are the remaining `Op` fields (derivative rules,
    sympy, doc, linear).
    """
    return Op(name, _reduce_infer(kind), emit, batch=_reduction_batch, dims=_reduced_dims,
              **rules)


SUM = reduction_op("sum", "sum_like", _emit_reduction("np.add.reduce"), jvp=_sum_jvp,
                   vjp=_sum_vjp, sympy=_sympy_reduction(lambda sp, xs: sp.Add(*xs)),
                   linear="first",
                   notation=Notation(call("sum"), linear=True, adjoint=("broadcast({g})",)))


def _emit_mean(args: Sequence[str], attrs: dict[str, Any]) -> str:
    """A sum divided by a count: a third of ``np.mean``'s call overhead at small sizes.

    (Integer sums accumulate in int64, as ``np.sum`` does; the division makes them float64.)
    """
    x = args[0]
    if not x.isidentifier():  # a literal: no .size to ask
        return _emit_reduction("np.mean")(args, attrs)
    axis = attrs["axis"]
    # over no axes (vmap of a 0-d mean makes one): each element is its own mean
    count = f"{x}.size" if axis is None else " * ".join(f"{x}.shape[{a}]" for a in axis) or "1"
    total = _emit_reduction("np.add.reduce")(args, attrs)
    return f"{total} / {count if axis is None or len(axis) == 1 else f'({count})'}"


MEAN = reduction_op("mean", "mean", _emit_mean, jvp=_sum_jvp, vjp=_mean_vjp,
                    sympy=_sympy_reduction(lambda sp, xs: sp.Add(*xs) / len(xs)),
                    linear="first",
                    notation=Notation(call("mean"), linear=True, adjoint=("broadcast({g}) / n",)))
MAX = reduction_op("max", "same", _emit_reduction("np.maximum.reduce"), jvp=_chooser_jvp,
                   vjp=_chooser_vjp, sympy=_sympy_reduction(lambda sp, xs: sp.Max(*xs)),
                   doc="Ties split the derivative equally.", notation=Notation(call("max")))
MIN = reduction_op("min", "same", _emit_reduction("np.minimum.reduce"), jvp=_chooser_jvp,
                   vjp=_chooser_vjp, sympy=_sympy_reduction(lambda sp, xs: sp.Min(*xs)),
                   doc="Ties split the derivative equally.", notation=Notation(call("min")))
PROD = reduction_op("prod", "sum_like", _emit_reduction("np.multiply.reduce"), jvp=_prod_jvp,
                    vjp=_prod_vjp, sympy=_sympy_reduction(lambda sp, xs: sp.Mul(*xs)),
                    doc="Its derivative is the product of the other elements, exact at zeros "
                        "too.", notation=Notation(call("prod")))
ARGMAX = reduction_op("argmax", "index", _emit_reduction("np.argmax"), zero_derivative=True,
                      doc="An index: zero derivative.", notation=Notation(call("argmax")))
ARGMIN = reduction_op("argmin", "index", _emit_reduction("np.argmin"), zero_derivative=True,
                      doc="An index: zero derivative.", notation=Notation(call("argmin")))


def _emit_axis_size(args: Sequence[str], attrs: dict[str, Any]) -> str:
    # ``.shape[a]`` (a Python int) is ~50x cheaper than ``np.size(x, a)`` at small sizes
    return " * ".join(f"{args[0]}.shape[{a}]" for a in attrs["axis"]) or "1"


AXIS_SIZE = Op("axis_size", lambda inputs, attrs: ((), np.dtype("int64")), _emit_axis_size,
               zero_derivative=True, doc="The number of elements along some axes, at run time.",
               batch=lambda node, inputs, batched: apply(  # the same for every entry: unbatched
                   AXIS_SIZE, inputs[0],
                   axis=batching.shift_axes(node.attrs["axis"], inputs[0].ndim - 1)),
               shape_only=(0,))


def _reduction(op: Op):
    def build(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Node:
        from graphdl.ops.registry import as_node

        x = as_node(x)
        axes = None if axis is None else normalize_axes(op.name, axis, x.ndim)
        if axes is not None and len(axes) == x.ndim and op not in (ARGMAX, ARGMIN):
            axes = None  # every axis: written the short way
        if op in (ARGMAX, ARGMIN) and axes is not None and len(axes) != 1:
            raise ValueError(f"{op.name}: takes one axis or None, got {axis}")
        return apply(op, x, axis=axes, keepdims=bool(keepdims))

    build.__name__ = op.name
    build.__doc__ = f"{op.name} over ``axis`` (None: all axes), as in NumPy. {op.doc}".strip()
    return build


sum = _reduction(SUM)  # noqa: A001
mean = _reduction(MEAN)
max = _reduction(MAX)  # noqa: A001
min = _reduction(MIN)  # noqa: A001
prod = _reduction(PROD)
argmax = _reduction(ARGMAX)
argmin = _reduction(ARGMIN)


# --- summing a broadcast cotangent back to its operand ------------------------------------------
def _sum_to_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    return inputs[1].shape, inputs[0].dtype


def _sum_to_vjp(node: Node, g: Node) -> list[Node | None]:
    return [shape_ops.broadcast_like(g, node.inputs[0]), None]


def _sum_to_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    return None if tangents[0] is None else apply(SUM_TO, tangents[0], node.inputs[1])


def _sum_to_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """Both operands with the batch axis; the term's extra leading axes (which sum_to would
    take from the front, batch axis included) are summed first, after the batch axis."""
    term, reference = batching.lift(inputs, batched)
    lead = term.ndim - reference.ndim
    if lead > 0:
        term = apply(SUM, term, axis=tuple(range(1, 1 + lead)), keepdims=False)
    return apply(SUM_TO, term, reference)


SUM_TO = Op("sum_to", _sum_to_infer, "_rt.sum_to({0}, np.shape({1}))", jvp=_sum_to_jvp,
            vjp=_sum_to_vjp,
            doc="Sum a broadcast value back to the run-time shape of a reference; used where "
                "unknown sizes keep the reduction axes from being known when the graph is built.",
            # it returns its operand itself when no axis needs summing, but usually sums into a
            # new array: it may alias (buffer reuse) and still counts as allocating (schedule)
            view=True, allocates=True, batch=_sum_to_batch, linear="first", shape_only=(1,))


def unbroadcast(term: Node, operand: Node, siblings: Sequence[Node]) -> Node:
    """``term`` (shaped like the broadcast of ``siblings``) summed back to ``operand``'s shape.

    The axes to sum are decided statically whenever the static shapes settle them; only when an
    unknown size meets another unknown (or a known size > 1) does the sum wait for run time.
    """
    ts, os_ = term.shape, operand.shape
    lead = len(ts) - len(os_)
    axes = list(range(lead))
    for i, od in enumerate(os_):
        td = ts[lead + i]
        if od == 1 and td != 1:
            axes.append(lead + i)
        elif od is None and td != od or od is None and _may_broadcast(operand, siblings, i):
            return apply(SUM_TO, term, operand)
    if not axes:
        return term
    keep = [a for a in axes if a >= lead]
    summed = sum(term, axis=axes, keepdims=False) if not keep else sum(term, axis=axes,
                                                                         keepdims=True)
    if keep and lead:
        summed = shape_ops.squeeze(summed, tuple(range(lead)))
    return summed


def _may_broadcast(operand: Node, siblings: Sequence[Node], axis: int) -> bool:
    """Could ``operand``'s unknown size at ``axis`` be a 1 stretched to a sibling's size?"""
    from_end = operand.ndim - axis
    for other in siblings:
        if other is operand or other.ndim < from_end:
            continue
        if other.shape[-from_end] != 1:
            return True
    return False

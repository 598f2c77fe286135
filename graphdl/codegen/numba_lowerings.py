"""Per-op lowerings of the numba backend (`graphdl.codegen.numba_backend`), keyed by the `Op`.

Each returns the right-hand side of the op's statement in a numba kernel, given the node, its
operands' code, its attributes and the statement's variable. Ops with axes (reductions, the
softmax family, gathers, the fused cross-entropy) move the axis last and call a loop from
`graphdl.codegen.numba_kernels` on a ``(rows, k)`` view; shape ops spell out the cases where a
0-d value (a scalar in a kernel) becomes an array or back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.codegen.numba_backend import LOWERINGS, Lowering, lowers, np_type, unsupported
from graphdl.ir.node import Node
from graphdl.ops import contractions as con
from graphdl.ops import fused, linalg
from graphdl.ops import indexing as ix
from graphdl.ops import linalg_solvers as las
from graphdl.ops import reductions as red
from graphdl.ops import shape_ops as shp
from graphdl.ops import softmax as sm
from graphdl.ops import special as spc


# --- the (rows, k) layout the kernels work on --------------------------------------------------
def _perm(ndim: int, axis: int) -> tuple[list[int], list[int]]:
    perm = [i for i in range(ndim) if i != axis] + [axis]
    return perm, [perm.index(i) for i in range(ndim)]


def as_rows(a: str, ndim: int, axis: int, k: str | None = None) -> str:
    """``a`` as a 2-d (rows, k) array with ``axis`` last (a view for 2-d operands)."""
    if ndim == 2:
        return a if axis == 1 else f"{a}.T"
    perm, _ = _perm(ndim, axis)
    src = a if axis == ndim - 1 else f"np.transpose({a}, {tuple(perm)})"
    return f"np.ascontiguousarray({src}).reshape((-1, {k or f'{a}.shape[{axis}]'}))"


def from_rows(code: str, sizes: Sequence[str], axis: int) -> str:
    """The inverse of `as_rows` for a result of the given sizes (one per original axis)."""
    ndim = len(sizes)
    if ndim == 2:
        return code if axis == 1 else f"{code}.T"
    perm, inverse = _perm(ndim, axis)
    out = f"{code}.reshape({shape_code([sizes[i] for i in perm])})"
    return out if axis == ndim - 1 else f"np.transpose({out}, {tuple(inverse)})"


def shape_code(sizes: Sequence[str]) -> str:
    return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"


def _sizes(a: str, ndim: int) -> list[str]:
    return [f"{a}.shape[{i}]" for i in range(ndim)]


def _product(a: str, axes: Sequence[int]) -> str:
    return " * ".join(f"{a}.shape[{i}]" for i in axes) or "1"


# --- reductions -------------------------------------------------------------------------------
def reduce_expr(node: Node, a: str, kind: str) -> str:
    """``kind`` (sum, max, min, prod, argmax, argmin, logsumexp) of array ``a`` over the node's
    axes: the reduced axes moved last (or, for sums over leading axes, kept first)."""
    x, attrs = node.inputs[0], node.attrs
    if not a.isidentifier():
        raise unsupported(node, "a reduction of a literal")
    axes = tuple(range(x.ndim)) if attrs["axis"] is None else tuple(attrs["axis"])
    kept = [i for i in range(x.ndim) if i not in axes]
    data = a
    if kind in ("sum", "prod") and x.dtype.kind in "biu" and x.dtype != np.int64:
        data = f"{a}.astype(np.int64)"  # integer sums accumulate in int64, as NumPy's
    elif kind == "logsumexp" and x.dtype.kind != "f":
        data = f"{a}.astype({np_type(node.dtype)})"
    rows, cols = _product(a, kept), _product(a, axes)
    flat = x.ndim != 2 or len(axes) != 1  # 2-d operands go in as they are, of any layout
    if kind == "sum" and axes == tuple(range(len(axes))) and kept:  # leading axes: down columns
        data = f"np.ascontiguousarray({data}).reshape(({cols}, {rows}))" if flat else data
        core = f"_nb.sum_cols({data})"
    else:
        perm = kept + list(axes)
        if perm != sorted(perm):
            data = f"{data}.T" if not flat else f"np.transpose({data}, {tuple(perm)})"
        data = f"np.ascontiguousarray({data}).reshape(({rows}, {cols}))" if flat else data
        core = f"_nb.{kind}_rows({data})"
    if node.ndim == 0:
        return f"{core}[0]"
    sizes = ["1" if i in axes else f"{a}.shape[{i}]" for i in range(x.ndim)
             if attrs["keepdims"] or i not in axes]
    as_is = len(kept) == 1 and sizes == [f"{a}.shape[{kept[0]}]"]  # (rows,) already
    return core if as_is else f"{core}.reshape({shape_code(sizes)})"


def _reduction(kind: str) -> Lowering:
    def lower(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
        if node.inputs[0].ndim == 0:  # a reduction of one number
            return "0" if kind.startswith("arg") else f"{np_type(node.dtype)}({args[0]})"
        return reduce_expr(node, args[0], kind)

    return lower


for _op in (red.SUM, red.MAX, red.MIN, red.PROD, red.ARGMAX, red.ARGMIN, sm.LOGSUMEXP):
    LOWERINGS[_op] = _reduction(_op.name)  # the kernels are named after the reduction


@lowers(red.MEAN)
def _mean(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, t = node.inputs[0], np_type(node.dtype)
    if x.ndim == 0:
        return f"{t}({args[0]})"
    axes = range(x.ndim) if attrs["axis"] is None else attrs["axis"]
    return f"{reduce_expr(node, args[0], 'sum')} / {t}({_product(args[0], axes)})"


@lowers(red.SUM_TO)
def _sum_to(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, ref = node.inputs
    if ref.ndim == 0:
        return f"{np_type(node.dtype)}({args[0]})" if x.ndim == 0 else (
            f"_nb.sum_rows(np.ascontiguousarray({args[0]}).reshape((1, {args[0]}.size)))[0]")
    a, lead = args[0], x.ndim - ref.ndim
    data = f"np.ascontiguousarray({a})"
    if lead:  # leading axes are always summed: down the columns of (leading, rest) first
        rest = range(lead, x.ndim)
        data = (f"_nb.sum_cols({data}.reshape(({_product(a, range(lead))}, {_product(a, rest)})))"
                f".reshape({shape_code([f'{a}.shape[{i}]' for i in rest])})")
    return f"_nb.sum_to({data}, {args[1]}.shape)"


# --- the softmax family and the fused cross-entropy ---------------------------------------------
def _float(node: Node, i: int, a: str, dtype: np.dtype) -> str:
    return a if node.inputs[i].dtype == dtype else f"{a}.astype({np_type(dtype)})"


@lowers(sm.SOFTMAX, sm.LOG_SOFTMAX)
def _softmax(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, axis = _float(node, 0, args[0], node.dtype), attrs["axis"]
    perm, inverse = _perm(node.ndim, axis)
    moved = x if axis == node.ndim - 1 else f"np.transpose({x}, {tuple(perm)})"
    out = f"_nb.{'softmax' if node.op is sm.SOFTMAX else 'log_softmax'}_last({moved})"
    return out if axis == node.ndim - 1 else f"np.transpose({out}, {tuple(inverse)})"


def _picked(node: Node, z: str, idx: str, axis: int) -> str:
    """take_along_axis(z, idx, axis) through the (rows, k) gather."""
    ndim = node.inputs[0].ndim
    core = f"_nb.take_along_rows({as_rows(z, ndim, axis)}, {as_rows(idx, ndim, axis)})"
    return from_rows(core, _sizes(idx, ndim), axis)


def _cotangent_rows(node: Node, g: Node, a: str, idx: str, axis: int) -> str:
    """The cotangent of a fused gradient as (1 or rows, 1 or m): 2-d ones as they are (the
    kernel broadcasts), others spread over the labels' shape first."""
    ndim = node.ndim
    if g.ndim == ndim == 2:
        return as_rows(a, ndim, axis)
    if g.ndim == 0 and ndim == 2:
        return f"np.full((1, 1), {a}, {np_type(node.dtype)})"
    if g.ndim == 0:
        spread = f"np.full({idx}.shape, {a}, {np_type(node.dtype)})"
    else:
        spread = f"np.broadcast_to({a}, {idx}.shape)"
    return as_rows(spread, ndim, axis, k=f"{idx}.shape[{axis}]")


@lowers(fused.SOFTMAX_XENT)
def _softmax_xent(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (z, idx), axis, ndim = args, attrs["axis"], node.ndim
    core = f"_nb.softmax_xent_rows({as_rows(z, ndim, axis)}, {as_rows(idx, ndim, axis)})"
    return from_rows(core, _sizes(idx, ndim), axis)


@lowers(fused.SOFTMAX_XENT_GRAD)
def _softmax_xent_grad(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, z, idx), axis, ndim = args, attrs["axis"], node.ndim
    rows = [_cotangent_rows(node, node.inputs[0], g, idx, axis), as_rows(z, ndim, axis),
            as_rows(idx, ndim, axis)]
    return from_rows(f"_nb.softmax_xent_grad_rows({', '.join(rows)})", _sizes(z, ndim), axis)


@lowers(fused.XENT_ROWS)
def _xent_rows(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shifted, sums, idx = args
    return f"np.log({sums}) - {_picked(node, shifted, idx, attrs['axis'])}"


@lowers(fused.XENT_ROWS_GRAD)
def _xent_rows_grad(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, e, sums, idx), axis, ndim = args, attrs["axis"], node.ndim
    rows = [_cotangent_rows(node, node.inputs[0], g, idx, axis), as_rows(e, ndim, axis),
            as_rows(sums, ndim, axis, k="1"), as_rows(idx, ndim, axis)]
    return from_rows(f"_nb.xent_rows_grad_rows({', '.join(rows)})", _sizes(e, ndim), axis)


# --- gathers and their adjoints ---------------------------------------------------------------
@lowers(ix.TAKE_ALONG_AXIS)
def _take_along(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return _picked(node, args[0], args[1], attrs["axis"])


@lowers(ix.TAKE_ALONG_ADJOINT)
def _take_along_adjoint(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, like, idx), axis, ndim = args, attrs["axis"], node.ndim
    core = (f"_nb.take_along_adjoint_rows({as_rows(g, ndim, axis)}, {like}.shape[{axis}], "
            f"{as_rows(idx, ndim, axis)})")
    return from_rows(core, _sizes(like, ndim), axis)


@lowers(ix.TAKE)
def _take(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[1].ndim > 1:
        raise unsupported(node, "numba takes one 1-d index array per indexing")
    return f"{args[0]}[{':, ' * attrs['axis']}{args[1]}]"


@lowers(ix.TAKE_ADJOINT)
def _take_adjoint(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, like, idx), axis, ndim = args, attrs["axis"], node.ndim
    if node.inputs[2].ndim != 1:
        raise unsupported(node, "only 1-d indices are lowered")
    order = [axis] + [i for i in range(ndim) if i != axis]  # the taken axis first: (k, rest)
    moved = g if axis == 0 else f"np.transpose({g}, {tuple(order)})"
    core = (f"_nb.take_adjoint_rows(np.ascontiguousarray({moved}).reshape(({g}.shape[{axis}], "
            f"-1)), {like}.shape[{axis}], {idx})")
    out = f"{core}.reshape({shape_code([f'{like}.shape[{i}]' for i in order])})"
    inverse = tuple(order.index(i) for i in range(ndim))
    return out if axis == 0 else f"np.transpose({out}, {inverse})"


@lowers(ix.ONE_HOT)
def _one_hot(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    labels, t = args[0], np_type(node.dtype)
    if node.inputs[0].ndim == 0:
        return f"(np.arange({attrs['depth']}) == {labels}).astype({t})"
    return f"({labels}[..., None] == np.arange({attrs['depth']})).astype({t})"


@lowers(ix.GETITEM)
def _getitem(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[0].ndim == 0:
        if node.ndim == 0:
            return args[0]
        return f"np.full({(1,) * node.ndim}, {args[0]}, {np_type(node.dtype)})"
    return node.op.emit_expr(args, attrs)


@lowers(ix.INDEX_ADJOINT)
def _index_adjoint(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    from graphdl.ops.indexing import render_index

    (g, like), index = args, render_index(attrs["index"]) or "..."
    # two statements on the node's line: numba has no expression that assigns into a slice
    return f"np.zeros({like}.shape, {np_type(node.dtype)}); {var}[{index}] = {g}"


@lowers(linalg.MATMUL)
def _matmul(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    a, b = node.inputs
    if a.ndim > 2 or b.ndim > 2 or a.ndim == 0 or b.ndim == 0:
        raise unsupported(node, "numba's @ takes 1-d and 2-d operands only")
    if a.dtype != b.dtype or a.dtype.kind not in "fc":
        raise unsupported(node, f"numba's @ needs two float operands of one dtype, got "
                                f"{a.dtype} @ {b.dtype}")
    return f"{args[0]} @ {args[1]}"


# --- shapes: 0-d values are scalars, so reshapes to and from () are spelled out -----------------
def _full(node: Node, shape: str, value: str) -> str:
    return f"np.full({shape}, {value}, {np_type(node.dtype)})"


@lowers(shp.RESHAPE, shp.RESHAPE_LIKE)
def _reshape(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shape = repr(tuple(attrs["shape"])) if node.op is shp.RESHAPE else f"{args[1]}.shape"
    if node.inputs[0].ndim == 0:
        return args[0] if node.ndim == 0 else _full(node, shape, args[0])
    if node.ndim == 0:
        return f"_nb.item({args[0]})"
    return f"np.ascontiguousarray({args[0]}).reshape({shape})"


@lowers(shp.TRANSPOSE)
def _transpose(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return args[0] if node.ndim == 0 else node.op.emit_expr(args, attrs)


@lowers(shp.EXPAND_DIMS)
def _expand_dims(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[0].ndim == 0:
        return _full(node, repr((1,) * node.ndim), args[0])
    index = ", ".join("None" if i in attrs["axis"] else ":" for i in range(node.ndim))
    return f"{args[0]}[{index}]"


@lowers(shp.SQUEEZE)
def _squeeze(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x = node.inputs[0]
    index = ", ".join("0" if i in attrs["axis"] else ":" for i in range(x.ndim))
    return f"{args[0]}[{index}]"


@lowers(shp.BROADCAST_TO, shp.BROADCAST_LIKE)
def _broadcast(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shape = repr(tuple(attrs["shape"])) if node.op is shp.BROADCAST_TO else f"{args[1]}.shape"
    if node.ndim == 0:
        return args[0]
    if node.inputs[0].ndim == 0:
        return _full(node, shape, args[0])
    return f"np.broadcast_to({args[0]}, {shape})"


@lowers(shp.ZEROS_LIKE)
def _zeros_like(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    t = np_type(node.dtype)
    return f"{t}(0)" if node.ndim == 0 else f"np.zeros({args[0]}.shape, {t})"


@lowers(shp.CONCATENATE)
def _concatenate(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return f"np.concatenate(({', '.join(args)},), axis={attrs['axis']})"


@lowers(shp.CONCAT_PIECE)
def _concat_piece(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    g, parts, axis = args[0], args[1:], attrs["axis"]
    start = " + ".join(f"{p}.shape[{axis}]" for p in parts[:attrs["index"]]) or "0"
    stop = f"{start} + {parts[attrs['index']]}.shape[{axis}]" if start != "0" else (
        f"{parts[attrs['index']]}.shape[{axis}]")
    return f"{g}[{':, ' * axis}{start}:{stop}]"


# --- refused by name: NumPy functions numba's nopython mode does not have -----------------------
@lowers(con.EINSUM, con.DIAGONAL, con.EYE_LIKE)
def _no_contraction(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    raise unsupported(node, "numba has no np.einsum or np.diagonal")


@lowers(spc.ERF, spc.ERFC, spc.ERFINV, spc.GAMMALN, spc.DIGAMMA, spc.POLYGAMMA, spc.XLOGY)
def _no_scipy(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    raise unsupported(node, "numba's nopython mode cannot call scipy.special")


@lowers(las.SOLVE, las.INV, las.DET, las.LOGABSDET, las.DET_SIGN, las.CHOLESKY,
        las.SOLVE_TRIANGULAR)
def _no_batched_linalg(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    raise unsupported(node, "numba's np.linalg takes single 2-d matrices, not stacks")

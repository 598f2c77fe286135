"""The numba backend: the whole graph as one ``numba.njit`` kernel (``gd.function(...,
backend="numba")``).

At small sizes a NumPy training step is ~30 library calls, and their Python overhead, not the
arithmetic, is most of its time. Compiled to one kernel a call is one dispatch. The statements are
the NumPy emitter's (same schedule, names, buffer reuse and comments; `emitter.Dialect` is the
hook); only each op's right-hand side may differ, and those differences live here, keyed by op
name, like PyTensor's ``numba_funcify`` dispatch: an op's own definition stays the reference
NumPy, and a backend that cannot run it says so here rather than in every op module.

numba's nopython mode differs from NumPy in ways the lowerings work around:
- no ``ufunc.reduce``, ``keepdims=``, ``out=`` keywords, ``np.take_along_axis`` or ``del``;
  reductions and the softmax family move their axis last and run loops from
  `graphdl.codegen.numba_kernels` over a ``(rows, k)`` view; ufunc outputs are positional;
- scalar typing: a Python float literal or a float64 scalar turns float32 arrays into float64.
  0-d values are therefore numba scalars (never 0-d arrays), and every 0-d operand of an
  elementwise op is cast to the dtype the op computes in (``np.float32(0.5) * x``), so float32
  graphs stay float32 end to end, as NumPy 2's weak scalars do.
An op this module cannot lower raises `NumbaLoweringError` when the function is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphdl.codegen.emitter import literal
from graphdl.errors import GraphError
from graphdl.ir.node import Node

INSTALL_HINT = "pip install graphdl[numba]"


class NumbaUnavailable(GraphError, ImportError):
    """backend="numba" was asked for but numba (or the SciPy its np.dot needs) is missing."""


class NumbaLoweringError(GraphError, NotImplementedError):
    """An op (or an op with these operands) that the numba backend cannot lower."""


def require_numba() -> Any:
    """The numba module, or `NumbaUnavailable` saying how to install it."""
    try:
        import numba
        import scipy.linalg  # noqa: F401 - numba's np.dot / @ call SciPy's BLAS
    except ImportError as exc:
        raise NumbaUnavailable(f"backend='numba' needs numba and SciPy ({exc}); install them "
                               f"with `{INSTALL_HINT}`, or use backend='numpy'") from exc
    return numba


def unsupported(node: Node, why: str) -> NumbaLoweringError:
    return NumbaLoweringError(
        f"backend='numba' cannot compile {node.op.name} node {node.label()} (created at "
        f"{node.origin}): {why}; compile this function with backend='numpy'")


def np_type(dtype: np.dtype) -> str:
    """The NumPy scalar type as code numba accepts (``np.bool_``, not ``np.bool``)."""
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


Lowering = Callable[[Node, list[str], dict[str, Any], str], str]
LOWERINGS: dict[str, Lowering] = {}  # op name -> right-hand side of the op's statement


def lowers(*names: str) -> Callable[[Lowering], Lowering]:
    def register(fn: Lowering) -> Lowering:
        for name in names:
            LOWERINGS[name] = fn
        return fn

    return register


# --- elementwise: 0-d operands cast to the dtype the op computes in ----------------------------
def _weak(node: Node) -> bool:
    return node.op.name == "constant" and bool(node.attrs.get("weak"))


def operands(node: Node, args: Sequence[str]) -> list[str]:
    """``args`` with each 0-d operand cast to the op's computing dtype (see module docstring)."""
    target = node.dtype
    if target.kind == "b":  # comparisons: the operands' common dtype, weak numbers following
        strong = [p.dtype for p in node.inputs if not _weak(p)]
        target = np.result_type(*strong) if strong else None
    if target is None or target.kind not in "iuf":
        return list(args)
    first = 1 if node.op.name == "where" else 0  # where's condition stays boolean
    return [f"{np_type(target)}({a})" if i >= first and p.ndim == 0 and p.dtype != target else a
            for i, (p, a) in enumerate(zip(node.inputs, args))]


_ELEMENTWISE_TEMPLATES = {  # templates with literals in them, the literals typed
    "reciprocal": "{t}(1) / {0}",
    "sigmoid": "{t}(0.5) * np.tanh({t}(0.5) * {0}) + {t}(0.5)",
    "softplus": "np.logaddexp({t}(0), {0})",
    "relu": "np.maximum({0}, {t}(0))",
}
_INTO_TEMPLATES = {"reciprocal": "np.divide({t}(1), {0}, {out})",
                   "relu": "np.maximum({0}, {t}(0), {out})"}


def elementwise(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    cast = operands(node, args)
    name, t = node.op.name, np_type(node.dtype)
    if name == "cast":
        return f"{t}({args[0]})" if node.inputs[0].ndim == 0 else f"{args[0]}.astype({t})"
    if name in _ELEMENTWISE_TEMPLATES:
        return _ELEMENTWISE_TEMPLATES[name].format(*cast, t=t)
    if node.ndim == 0 and name == "where":  # np.where of scalars gives a 0-d array
        return f"({cast[1]} if {cast[0]} else {cast[2]})"
    if node.ndim == 0 and name == "clip":
        return f"np.minimum(np.maximum({cast[0]}, {cast[1]}), {cast[2]})"
    return node.op.emit_expr(cast, attrs)


def elementwise_into(node: Node, args: list[str], out: str) -> str:
    cast = operands(node, args)
    name = node.op.name
    if name in _INTO_TEMPLATES:
        return _INTO_TEMPLATES[name].format(*cast, t=np_type(node.dtype), out=out)
    return node.op.inplace.replace(", out={out})", ", {out})").format(*cast, out=out)


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


for _kind in ("sum", "max", "min", "prod", "argmax", "argmin", "logsumexp"):
    LOWERINGS[_kind] = _reduction(_kind)


@lowers("mean")
def _mean(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, t = node.inputs[0], np_type(node.dtype)
    if x.ndim == 0:
        return f"{t}({args[0]})"
    axes = range(x.ndim) if attrs["axis"] is None else attrs["axis"]
    return f"{reduce_expr(node, args[0], 'sum')} / {t}({_product(args[0], axes)})"


@lowers("sum_to")
def _sum_to(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, ref = node.inputs
    if ref.ndim == 0:
        return f"{np_type(node.dtype)}({args[0]})" if x.ndim == 0 else (
            f"_nb.sum_rows(np.ascontiguousarray({args[0]}).reshape((1, {args[0]}.size)))[0]")
    return (f"_nb.sum_to(np.ascontiguousarray({args[0]}).ravel(), "
            f"np.array({args[0]}.shape), np.array({args[1]}.shape)).reshape({args[1]}.shape)")


# --- the softmax family and the fused cross-entropy ---------------------------------------------
def _float(node: Node, i: int, a: str, dtype: np.dtype) -> str:
    return a if node.inputs[i].dtype == dtype else f"{a}.astype({np_type(dtype)})"


@lowers("softmax", "log_softmax")
def _softmax(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x, axis = _float(node, 0, args[0], node.dtype), attrs["axis"]
    perm, inverse = _perm(node.ndim, axis)
    moved = x if axis == node.ndim - 1 else f"np.transpose({x}, {tuple(perm)})"
    out = f"_nb.{node.op.name}_last({moved})"
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


@lowers("softmax_xent")
def _softmax_xent(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (z, idx), axis, ndim = args, attrs["axis"], node.ndim
    core = f"_nb.softmax_xent_rows({as_rows(z, ndim, axis)}, {as_rows(idx, ndim, axis)})"
    return from_rows(core, _sizes(idx, ndim), axis)


@lowers("softmax_xent_grad")
def _softmax_xent_grad(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, z, idx), axis, ndim = args, attrs["axis"], node.ndim
    rows = [_cotangent_rows(node, node.inputs[0], g, idx, axis), as_rows(z, ndim, axis),
            as_rows(idx, ndim, axis)]
    return from_rows(f"_nb.softmax_xent_grad_rows({', '.join(rows)})", _sizes(z, ndim), axis)


@lowers("xent_rows")
def _xent_rows(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shifted, sums, idx = args
    return f"np.log({sums}) - {_picked(node, shifted, idx, attrs['axis'])}"


@lowers("xent_rows_grad")
def _xent_rows_grad(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, e, sums, idx), axis, ndim = args, attrs["axis"], node.ndim
    rows = [_cotangent_rows(node, node.inputs[0], g, idx, axis), as_rows(e, ndim, axis),
            as_rows(sums, ndim, axis, k="1"), as_rows(idx, ndim, axis)]
    return from_rows(f"_nb.xent_rows_grad_rows({', '.join(rows)})", _sizes(e, ndim), axis)


# --- gathers and their adjoints ---------------------------------------------------------------
@lowers("take_along_axis")
def _take_along(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return _picked(node, args[0], args[1], attrs["axis"])


@lowers("take_along_adjoint")
def _take_along_adjoint(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    (g, like, idx), axis, ndim = args, attrs["axis"], node.ndim
    core = (f"_nb.take_along_adjoint_rows({as_rows(g, ndim, axis)}, {like}.shape[{axis}], "
            f"{as_rows(idx, ndim, axis)})")
    return from_rows(core, _sizes(like, ndim), axis)


@lowers("take")
def _take(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[1].ndim > 1:
        raise unsupported(node, "numba takes one 1-d index array per indexing")
    return f"{args[0]}[{':, ' * attrs['axis']}{args[1]}]"


@lowers("take_adjoint")
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


@lowers("one_hot")
def _one_hot(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    labels, t = args[0], np_type(node.dtype)
    if node.inputs[0].ndim == 0:
        return f"(np.arange({attrs['depth']}) == {labels}).astype({t})"
    return f"({labels}[..., None] == np.arange({attrs['depth']})).astype({t})"


@lowers("getitem")
def _getitem(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[0].ndim == 0:
        if node.ndim == 0:
            return args[0]
        return f"np.full({(1,) * node.ndim}, {args[0]}, {np_type(node.dtype)})"
    return node.op.emit_expr(args, attrs)


@lowers("index_adjoint")
def _index_adjoint(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    from graphdl.ops.indexing import render_index

    (g, like), index = args, render_index(attrs["index"]) or "..."
    # two statements on the node's line: numba has no expression that assigns into a slice
    return f"np.zeros({like}.shape, {np_type(node.dtype)}); {var}[{index}] = {g}"


@lowers("matmul")
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


@lowers("reshape", "reshape_like")
def _reshape(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shape = repr(tuple(attrs["shape"])) if node.op.name == "reshape" else f"{args[1]}.shape"
    if node.inputs[0].ndim == 0:
        return args[0] if node.ndim == 0 else _full(node, shape, args[0])
    if node.ndim == 0:
        return f"_nb.item({args[0]})"
    return f"np.ascontiguousarray({args[0]}).reshape({shape})"


@lowers("transpose")
def _transpose(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return args[0] if node.ndim == 0 else node.op.emit_expr(args, attrs)


@lowers("expand_dims")
def _expand_dims(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    if node.inputs[0].ndim == 0:
        return _full(node, repr((1,) * node.ndim), args[0])
    index = ", ".join("None" if i in attrs["axis"] else ":" for i in range(node.ndim))
    return f"{args[0]}[{index}]"


@lowers("squeeze")
def _squeeze(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    x = node.inputs[0]
    index = ", ".join("0" if i in attrs["axis"] else ":" for i in range(x.ndim))
    return f"{args[0]}[{index}]"


@lowers("broadcast_to", "broadcast_like")
def _broadcast(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    shape = repr(tuple(attrs["shape"])) if node.op.name == "broadcast_to" else f"{args[1]}.shape"
    if node.ndim == 0:
        return args[0]
    if node.inputs[0].ndim == 0:
        return _full(node, shape, args[0])
    return f"np.broadcast_to({args[0]}, {shape})"


@lowers("zeros_like")
def _zeros_like(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    t = np_type(node.dtype)
    return f"{t}(0)" if node.ndim == 0 else f"np.zeros({args[0]}.shape, {t})"


@lowers("concatenate")
def _concatenate(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    return f"np.concatenate(({', '.join(args)},), axis={attrs['axis']})"


@lowers("concat_piece")
def _concat_piece(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    g, parts, axis = args[0], args[1:], attrs["axis"]
    start = " + ".join(f"{p}.shape[{axis}]" for p in parts[:attrs["index"]]) or "0"
    stop = f"{start} + {parts[attrs['index']]}.shape[{axis}]" if start != "0" else (
        f"{parts[attrs['index']]}.shape[{axis}]")
    return f"{g}[{':, ' * axis}{start}:{stop}]"


# --- the dialect the emitter uses ---------------------------------------------------------------
_NOT_NOPYTHON = ("_rt.", ".reduce(", "keepdims=", "out=", "take_along_axis", "np.s_[")


class NumbaDialect:
    """`emitter.Dialect` for numba kernels: lowerings from `LOWERINGS`, elementwise ops through
    `operands`, other ops through their NumPy emission when numba's nopython mode reads it."""

    deletes = False  # numba frees dead temporaries itself, and nopython mode has no ``del``

    def __init__(self) -> None:
        from graphdl.codegen import numba_kernels

        self.namespace = {"_nb": numba_kernels}

    def constant(self, node: Node, render: Any) -> str:
        value = node.attrs["value"]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]  # 0-d values are scalars in kernels
        if isinstance(value, np.ndarray):
            return str(render(value))  # a global array: numba freezes it into the kernel
        if isinstance(value, (bool, np.bool_)):
            return repr(bool(value))
        return literal(value)

    def expression(self, node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
        lowering = LOWERINGS.get(node.op.name)
        if lowering is not None:
            return lowering(node, args, attrs, var)
        if node.op.elementwise:
            return elementwise(node, args, attrs, var)
        code = node.op.emit_expr(args, attrs)
        if any(part in code for part in _NOT_NOPYTHON):
            raise unsupported(node, f"its NumPy code `{code}` does not run in numba's nopython "
                                    "mode and the numba backend has no lowering for it")
        return code

    def into(self, node: Node, args: list[str], out: str) -> str:
        return elementwise_into(node, args, out)

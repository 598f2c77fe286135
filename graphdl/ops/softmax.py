"""Numerically stable neural-network functions: softmax, log_softmax and logsumexp.

Each is computed by subtracting the maximum first (``graphdl.ops.kernels``), and each
derivative is written through the op's own stable output, so logits of +-1000 give finite values
and finite derivatives:

- softmax:      y = softmax(x);      dy = y * (dx - sum(y * dx)),      x_bar = y * (g - sum(g * y))
- log_softmax:  y = log_softmax(x);  dy = dx - sum(exp(y) * dx),       x_bar = g - exp(y) * sum(g)
- logsumexp:    y = logsumexp(x);    dy = sum(exp(x - y) * dx),        x_bar = g * exp(x - y)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import normalize_axes, normalize_axis
from graphdl.ops import batching, reductions
from graphdl.ops import elementwise as ew
from graphdl.ops.notation import Notation, call
from graphdl.ops.registry import Op, apply, as_node


def _float_check(op: str, x: Node) -> np.dtype:
    if x.dtype.kind == "f":
        return x.dtype
    if x.dtype.kind in "biu":
        return np.dtype("float64")
    raise DTypeError(f"{op}: needs a real operand, got {x.label()} of dtype {x.dtype}")


def _same_shape_infer(op: str):
    return lambda inputs, attrs: (inputs[0].shape, _float_check(op, inputs[0]))


def _softmax_vjp(node: Node, g: Node) -> list[Node | None]:
    axis = node.attrs["axis"]
    inner = reductions.sum(ew.multiply(g, node), axis=axis, keepdims=True)
    return [ew.multiply(node, ew.subtract(g, inner))]


def _softmax_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    if t is None:
        return None
    inner = reductions.sum(ew.multiply(node, t), axis=node.attrs["axis"], keepdims=True)
    return ew.multiply(node, ew.subtract(t, inner))


def _log_softmax_vjp(node: Node, g: Node) -> list[Node | None]:
    total = reductions.sum(g, axis=node.attrs["axis"], keepdims=True)
    return [ew.subtract(g, ew.multiply(ew.exp(node), total))]


def _log_softmax_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    if t is None:
        return None
    mixed = reductions.sum(ew.multiply(ew.exp(node), t), axis=node.attrs["axis"], keepdims=True)
    return ew.subtract(t, mixed)


def _sympy_exp_sums(sp: Any, x: np.ndarray, axis: Any, keepdims: bool):
    """exp of each element of an object array of SymPy expressions, and its sums over ``axis``
    (the textbook formulas: SymPy has no overflow to guard against)."""
    exps = np.asarray(np.frompyfunc(sp.exp, 1, 1)(x), dtype=object)
    sums = reductions.reduce_symbolic(exps, {"axis": axis, "keepdims": keepdims},
                                      lambda xs: sp.Add(*xs))
    return exps, sums


def _sympy_log(sp: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(np.frompyfunc(sp.log, 1, 1)(x), dtype=object)


def _sympy_softmax(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> np.ndarray:
    exps, sums = _sympy_exp_sums(sp, args[0], (attrs["axis"],), True)
    return exps / sums


def _sympy_log_softmax(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> np.ndarray:
    _, sums = _sympy_exp_sums(sp, args[0], (attrs["axis"],), True)
    return args[0] - _sympy_log(sp, sums)


# batching shifts the axis past the batch axis; dims=0: the operand's sizes (codegen.dims)
SOFTMAX = Op("softmax", _same_shape_infer("softmax"), "_rt.softmax({0}, axis={axis})",
             jvp=_softmax_jvp, vjp=_softmax_vjp, sympy=_sympy_softmax,
             batch=batching.batch_axis_attr("axis"), dims=0, notation=Notation(call("softmax")))
LOG_SOFTMAX = Op("log_softmax", _same_shape_infer("log_softmax"),
                 "_rt.log_softmax({0}, axis={axis})", jvp=_log_softmax_jvp, vjp=_log_softmax_vjp,
                 sympy=_sympy_log_softmax, batch=batching.batch_axis_attr("axis"), dims=0,
                 notation=Notation(call("log_softmax")))


def _lse_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    x = inputs[0]
    axes = attrs["axis"] if attrs["axis"] is not None else tuple(range(x.ndim))
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if attrs["keepdims"] \
        else tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return shape, _float_check("logsumexp", x)


def _lse_weights(node: Node) -> Node:
    """softmax(x) over the reduced axes, written as exp(x - logsumexp(x))."""
    x = node.inputs[0]
    expanded = reductions.expand_reduced(node, x, node.attrs["axis"], node.attrs["keepdims"])
    return ew.exp(ew.subtract(x, expanded))


def _lse_vjp(node: Node, g: Node) -> list[Node | None]:
    x = node.inputs[0]
    spread = reductions.expand_reduced(g, x, node.attrs["axis"], node.attrs["keepdims"])
    return [ew.multiply(spread, _lse_weights(node))]


def _lse_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    if t is None:
        return None
    return reductions.sum(ew.multiply(t, _lse_weights(node)), axis=node.attrs["axis"],
                          keepdims=node.attrs["keepdims"])


def _emit_lse(args: Sequence[str], attrs: dict[str, Any]) -> str:
    return f"_rt.logsumexp({args[0]}, axis={attrs['axis']!r}, keepdims={attrs['keepdims']})"


def _lse_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    x = inputs[0]
    return apply(LOGSUMEXP, x, axis=batching.shift_axes(node.attrs["axis"], x.ndim - 1),
                 keepdims=node.attrs["keepdims"])


LOGSUMEXP = Op("logsumexp", _lse_infer, _emit_lse, jvp=_lse_jvp, vjp=_lse_vjp,
               sympy=lambda sp, a, at: _sympy_log(
                   sp, _sympy_exp_sums(sp, a[0], at["axis"], at["keepdims"])[1]),
               batch=_lse_batch, notation=Notation(call("logsumexp")))


def softmax(x: Any, axis: int = -1) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    x = as_node(x)
    return apply(SOFTMAX, x, axis=normalize_axis("softmax", axis, x.ndim))


def log_softmax(x: Any, axis: int = -1) -> Node:
    """x - logsumexp(x) along ``axis``: finite log-probabilities even for huge logits."""
    x = as_node(x)
    return apply(LOG_SOFTMAX, x, axis=normalize_axis("log_softmax", axis, x.ndim))


def logsumexp(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Node:
    """log(sum(exp(x))) over ``axis`` without overflow."""
    x = as_node(x)
    axes = None if axis is None else normalize_axes("logsumexp", axis, x.ndim)
    return apply(LOGSUMEXP, x, axis=axes, keepdims=bool(keepdims))

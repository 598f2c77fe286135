"""Numerical stability: forms that overflow or lose every digit, replaced by stable equivalents.

| written                         | replaced by              | what goes wrong as written         |
|---------------------------------|--------------------------|------------------------------------|
| log(exp(x))                     | x                        | exp(710) = inf; its gradient       |
|                                 |                          | exp(x) / exp(x) = inf / inf = nan  |
| log(softmax(x))                 | log_softmax(x)           | log(0) = -inf for logits far apart |
| log(sum(exp(x)))                | logsumexp(x)             | exp(1000) = inf                    |
| log(1 + x), log(1 - x)          | log1p(x), log1p(-x)      | 1 + 1e-18 == 1, so log gives 0     |
| log(1 + exp(x))                 | softplus(x)              | exp(1000) = inf                    |
| exp(x) - 1                      | expm1(x)                 | exp(1e-18) - 1 == 0                |
| log(sigmoid(x))                 | -softplus(-x)            | sigmoid(-1000) = 0, log(0) = -inf  |
| log(1 - sigmoid(x))             | -softplus(x)             | 1 - sigmoid(40) == 0               |
| exp(x) / sum(exp(x))            | softmax(x)               | inf / inf = nan                    |
|   (keepdims, or x 1-d)          |                          |                                    |
| -log_softmax(z)[y] (and grads)  | softmax_xent(z, y)       | one fused, stable pass             |

The last row also rewrites the *gradient* graphs autodiff built from the written forms, which
otherwise divide by a probability that underflowed to 0 (see `xent_grad_from_log_softmax` and
`xent_grad_from_softmax`). Every rule keeps the node's shape and dtype (checked by the engine).
"""

from __future__ import annotations

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import fused, softmax
from graphdl.ops.registry import apply
from graphdl.rewriting.patterns import as_dtype, fit, is_constant, keeps_shape, same_type
from graphdl.rewriting.rewriter import node_rewriter

FAMILY = "stabilize"


def _plus_one(node: Node) -> Node | None:
    """``x`` when ``node`` is ``1 + x`` or ``x + 1`` with the 1 not widening x, else None."""
    if node.op.name != "add":
        return None
    for i in (0, 1):
        one, x = node.inputs[i], node.inputs[1 - i]
        if is_constant(one, 1) and keeps_shape(x, node, (one,)):
            return as_dtype(x, node.dtype)
    return None


def _one_minus(node: Node) -> Node | None:
    """``x`` when ``node`` is ``1 - x``."""
    if node.op.name != "subtract":
        return None
    one, x = node.inputs
    if is_constant(one, 1) and keeps_shape(x, node, (one,)) and node.dtype.kind in "fc":
        return as_dtype(x, node.dtype)
    return None


@node_rewriter(FAMILY, ["log"], "log(exp(x)) -> x")
def log_of_exp(node: Node) -> Node | None:
    x = node.inputs[0]
    return fit(x.inputs[0], node) if x.op.name == "exp" else None


@node_rewriter(FAMILY, ["log"], "log(softmax(x)) -> log_softmax(x)")
def log_of_softmax(node: Node) -> Node | None:
    p = node.inputs[0]
    if p.op.name != "softmax":
        return None
    return same_type(softmax.log_softmax(p.inputs[0], axis=p.attrs["axis"]), node)


@node_rewriter(FAMILY, ["log"], "log(sum(exp(x))) -> logsumexp(x)")
def log_sum_exp(node: Node) -> Node | None:
    total = node.inputs[0]
    if total.op.name != "sum" or total.inputs[0].op.name != "exp":
        return None
    x = total.inputs[0].inputs[0]
    axis = total.attrs["axis"]
    return same_type(softmax.logsumexp(x, axis=axis, keepdims=total.attrs["keepdims"]), node)


@node_rewriter(FAMILY, ["log"], "log(1 + x) -> log1p(x)")
def log_one_plus(node: Node) -> Node | None:
    x = _plus_one(node.inputs[0])
    if x is not None:
        return same_type(ew.log1p(x), node)
    x = _one_minus(node.inputs[0])
    return None if x is None else same_type(ew.log1p(ew.negative(x)), node)


@node_rewriter(FAMILY, ["log1p"], "log(1 + exp(x)) -> softplus(x)")
def log_one_plus_exp(node: Node) -> Node | None:
    """Reached through ``log(1 + x) -> log1p(x)``: log1p(exp(1000)) is still inf, softplus
    (``logaddexp(0, x)``) is 1000; its derivative is sigmoid(x), with no inf / inf."""
    e = node.inputs[0]
    return same_type(ew.softplus(e.inputs[0]), node) if e.op.name == "exp" else None


@node_rewriter(FAMILY, ["subtract", "add"], "exp(x) - 1 -> expm1(x)")
def exp_minus_one(node: Node) -> Node | None:
    e, c = node.inputs
    minus_one = is_constant(c, 1) if node.op.name == "subtract" else is_constant(c, -1)
    if node.op.name == "add" and not minus_one and is_constant(e, -1):
        e, c, minus_one = c, e, True
    if not minus_one or e.op.name != "exp" or not keeps_shape(e, node, (c,)):
        return None
    return same_type(ew.expm1(as_dtype(e.inputs[0], node.dtype)), node)


@node_rewriter(FAMILY, ["log"], "log(sigmoid(x)) -> -softplus(-x)")
def log_sigmoid(node: Node) -> Node | None:
    s = node.inputs[0]
    if s.op.name != "sigmoid":
        return None
    return same_type(ew.negative(ew.softplus(ew.negative(s.inputs[0]))), node)


@node_rewriter(FAMILY, ["log1p"], "log(1 - sigmoid(x)) -> -softplus(x)")
def log_one_minus_sigmoid(node: Node) -> Node | None:
    inner = node.inputs[0]
    if inner.op.name != "negative" or inner.inputs[0].op.name != "sigmoid":
        return None
    return same_type(ew.negative(ew.softplus(inner.inputs[0].inputs[0])), node)


@node_rewriter(FAMILY, ["divide"], "exp(x) / sum(exp(x)) -> softmax(x)")
def softmax_by_hand(node: Node) -> Node | None:
    e, total = node.inputs
    if e.op.name != "exp" or total.op.name != "sum" or not _same_exp(total.inputs[0], e):
        return None
    axis = total.attrs["axis"]
    if axis is None and e.ndim == 1:
        axis = (0,)
    # without keepdims the sum broadcasts back along the right axis only for a vector
    if not (total.attrs["keepdims"] or e.ndim == 1) or axis is None or len(axis) != 1:
        return None
    return same_type(softmax.softmax(e.inputs[0], axis=axis[0]), node)


def _same_exp(a: Node, e: Node) -> bool:
    """``a`` is the node ``e`` = exp(x), or another exp of the same x (written twice, before
    CSE: gradients are taken of the stable form with this pass alone)."""
    return a is e or (a.op.name == "exp" and a.inputs[0] is e.inputs[0])


# --- cross-entropy with integer labels -----------------------------------------------------------
def _one_label(idx: Node, axis: int) -> bool:
    """One label per row along ``axis`` (``y[:, None]``): the case the fused ops are for."""
    return idx.shape[axis] == 1


@node_rewriter(FAMILY, ["log"], "log(softmax(z)[y]) -> log_softmax(z)[y]")
def log_of_picked_softmax(node: Node) -> Node | None:
    picked = node.inputs[0]
    if picked.op.name != "take_along_axis" or picked.inputs[0].op.name != "softmax":
        return None
    p, idx = picked.inputs
    axis = picked.attrs["axis"]
    if p.attrs["axis"] != axis:
        return None
    log_p = softmax.log_softmax(p.inputs[0], axis=axis)
    return same_type(apply(picked.op, log_p, idx, **picked.attrs), node)


@node_rewriter(FAMILY, ["take_along_axis"], "log_softmax(z)[y] -> -softmax_xent(z, y)")
def picked_log_softmax(node: Node) -> Node | None:
    log_p, idx = node.inputs
    axis = node.attrs["axis"]
    if log_p.op.name != "log_softmax" or log_p.attrs["axis"] != axis:
        return None
    if not _one_label(idx, axis):
        return None
    return same_type(ew.negative(fused.softmax_xent(log_p.inputs[0], idx, axis=axis)), node)


def _scatter(node: Node, like: Node, axis: int) -> tuple[Node, Node] | None:
    """(g, idx) when ``node`` scatters ``g`` at one label per row into zeros shaped like
    ``like`` (the adjoint of picking labels)."""
    if node.op.name != "take_along_adjoint" or node.attrs["axis"] != axis:
        return None
    g, ref, idx = node.inputs
    if ref is not like or not _one_label(idx, axis):
        return None
    return g, idx


def _row_sum_of(node: Node, x: Node, axis: int) -> bool:
    return (node.op.name == "sum" and node.inputs[0] is x and node.attrs["keepdims"]
            and node.attrs["axis"] == (axis,))


@node_rewriter(FAMILY, ["subtract"], "log_softmax VJP at labels -> -softmax_xent_grad")
def xent_grad_from_log_softmax(node: Node) -> Node | None:
    """``T - exp(Y) * sum(T)`` with ``Y = log_softmax(z)`` and ``T`` the scattered cotangent of
    ``Y[y]``: the gradient autodiff builds for ``log_softmax(z)[y]``, as one fused op."""
    t, product = node.inputs
    if product.op.name != "multiply":
        return None
    for i in (0, 1):
        e, total = product.inputs[i], product.inputs[1 - i]
        if e.op.name != "exp" or e.inputs[0].op.name != "log_softmax":
            continue
        log_p = e.inputs[0]
        axis = log_p.attrs["axis"]
        scattered = _scatter(t, log_p, axis)
        if scattered is None or not _row_sum_of(total, t, axis):
            continue
        g, idx = scattered
        grad = fused.softmax_xent_grad(as_dtype(g, node.dtype), log_p.inputs[0], idx, axis=axis)
        return same_type(ew.negative(grad), node)
    return None


@node_rewriter(FAMILY, ["multiply"], "softmax VJP of log(softmax(z)[y]) -> -softmax_xent_grad")
def xent_grad_from_softmax(node: Node) -> Node | None:
    """``P * (T - sum(T * P))`` with ``P = softmax(z)`` and ``T`` the scattered ``g / P[y]``:
    the gradient of ``log(softmax(z)[y])``. Since ``sum(T * P) = g``, it equals
    ``P * g - onehot * g``, which needs no division by the (possibly underflowed) ``P[y]``."""
    for i in (0, 1):
        p, diff = node.inputs[i], node.inputs[1 - i]
        if p.op.name != "softmax" or diff.op.name != "subtract":
            continue
        axis = p.attrs["axis"]
        t, total = diff.inputs
        scattered = _scatter(t, p, axis)
        if scattered is None or total.op.name != "sum" or not total.attrs["keepdims"]:
            continue
        inner = total.inputs[0]
        if total.attrs["axis"] != (axis,) or inner.op.name != "multiply":
            continue
        if {id(x) for x in inner.inputs} != {id(t), id(p)}:
            continue
        scaled, idx = scattered
        g = _divided_by_picked(scaled, p, idx, axis)
        if g is None:
            continue
        grad = fused.softmax_xent_grad(as_dtype(g, node.dtype), p.inputs[0], idx, axis=axis)
        return same_type(ew.negative(grad), node)
    return None


def _divided_by_picked(node: Node, p: Node, idx: Node, axis: int) -> Node | None:
    """``g`` when ``node`` is ``g / P[y]`` (or ``g * (1 / P[y])``), else None."""
    if node.op.name == "divide":
        g, den = node.inputs
    elif node.op.name == "multiply":
        for j in (0, 1):
            if node.inputs[j].op.name == "reciprocal":
                g, den = node.inputs[1 - j], node.inputs[j].inputs[0]
                break
        else:
            return None
    else:
        return None
    if den.op.name != "take_along_axis" or den.inputs[0] is not p or den.inputs[1] is not idx:
        return None
    if den.attrs["axis"] != axis or g.shape != node.shape:
        return None
    return g

"""The public differentiation API: grad, vjp, jvp, jacobian, hessian, hvp.

Each returns graph nodes: derivatives are graphs like any other, so they can be optimized,
compiled, rendered, and differentiated again (grad of grad, jvp of grad, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from graphdl.autodiff.forward import tangents as forward_sweep
from graphdl.autodiff.reverse import adjoints as reverse_sweep
from graphdl.errors import DifferentiationError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ops import elementwise as ew
from graphdl.ops import shape_ops
from graphdl.ops.leaves import CONSTANT, constant
from graphdl.ops.registry import as_node

NodeOrList = Node | list[Node]


def _as_list(x: Any) -> tuple[list[Node], bool]:
    if isinstance(x, (list, tuple)):
        return [as_node(n) for n in x], True
    return [as_node(x)], False


def wrt_list(x: Any, what: str) -> tuple[list[Node], bool]:
    """``wrt`` as a list of nodes. A number or array is refused rather than made a constant: a
    fresh constant appears nowhere in the graph, so its derivative would always be zero."""
    many = isinstance(x, (list, tuple))
    items = list(x) if many else [x]
    for item in items:
        if not isinstance(item, Node):
            raise TypeError(
                f"{what}: wrt must be a graph node (an input from gd.scalar/gd.vector/"
                f"gd.tensor, a shared variable from gd.shared, or an intermediate node), got "
                f"{type(item).__name__} {_brief(item)}, which is not part of the graph")
    return items, many


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_disconnected(disconnected: str, what: str) -> None:
    if disconnected not in ("raise", "zero"):
        raise ValueError(f"{what}: disconnected must be 'raise' or 'zero', got {disconnected!r}")


def _check_wrt(wrt: Sequence[Node], what: str) -> None:
    for w in wrt:
        if w.dtype.kind != "f":
            raise DifferentiationError(f"{what}: cannot differentiate with respect to "
                                       f"{w.label()} of dtype {w.dtype} (needs a float)")


def _fill(result: Node | None, like: Node, disconnected: str, what: str,
          unconnected: str = "") -> Node:
    """``result``, or for a missing (zero) derivative zeros shaped like ``like`` or an error."""
    if result is not None:
        return result
    if disconnected == "raise":
        problem = unconnected or (f"the output does not depend on {like.label()} "
                                  f"({like.type_str()}); is it the node the graph was built from?")
        raise DifferentiationError(f"{what}: {problem} (pass disconnected=\"zero\" if a zero "
                                   f"derivative is intended)")
    return shape_ops.zeros_like(like)


def grad(cost: Node, wrt: NodeOrList, disconnected: Literal["raise", "zero"] = "raise"
         ) -> NodeOrList:
    """d cost / d wrt by one reverse sweep; ``cost`` must be a scalar.

    A ``wrt`` the cost does not depend on is an error naming it (a copy of an input, a second
    ``gd.constant``, a typo: a model that would silently never train); with
    ``disconnected="zero"`` it gets zeros of its shape instead. ``wrt`` may hold inputs, shared
    variables or intermediate nodes; numbers and arrays are a TypeError.
    """
    cost = as_node(cost)
    targets, many = wrt_list(wrt, "grad")
    _check_disconnected(disconnected, "grad")
    if cost.shape != ():
        raise DifferentiationError(
            f"grad: the cost must be a scalar, got {cost.label()} with shape "
            f"{fmt_shape(cost.shape)} (use gd.vjp or gd.jacobian for non-scalar outputs)"
        )
    if cost.dtype.kind != "f":
        raise DifferentiationError(f"grad: the cost must be a float, got dtype {cost.dtype}")
    _check_wrt(targets, "grad")
    bar = cost_adjoints(cost, targets)
    results = [_fill(bar.get(w), w, disconnected, "grad") for w in targets]
    return results if many else results[0]


def cost_adjoints(cost: Node, wrt: Sequence[Node], observe: Any = None) -> dict[Node, Node]:
    """The reverse sweep `grad` runs (seed 1, stable forms), with the adjoint of every node it
    passed through: what a drawing of the gradient shows (`graphdl.viz.dot.gradient_with_map`).
    A key may be a node of the stabilized graph rather than of the one written. ``observe`` is
    passed to the sweep (`graphdl.autodiff.reverse.Observer`)."""
    seed = constant(np.ones((), dtype=cost.dtype))
    return reverse_sweep(_stable_forms([cost], wrt), [seed], wrt, observe=observe)


def vjp(outputs: NodeOrList, wrt: NodeOrList, cotangents: NodeOrList,
        disconnected: Literal["raise", "zero"] = "raise") -> NodeOrList:
    """Vector-Jacobian products: sum_k cotangent_k . d output_k / d wrt, one reverse sweep.

    A constant zero cotangent is a symbolic zero: that output's adjoint graph is not built. A
    ``wrt`` no output depends on is an error, as in `grad`, unless ``disconnected="zero"``.
    """
    outs, _ = _as_list(outputs)
    targets, many = wrt_list(wrt, "vjp")
    _check_disconnected(disconnected, "vjp")
    cts, _ = _as_list(cotangents)
    if len(cts) != len(outs):
        raise DifferentiationError(f"vjp: {len(outs)} outputs but {len(cts)} cotangents")
    _check_wrt(targets, "vjp")
    fitted = [_fit_like(c, o, "vjp: cotangent") for c, o in zip(cts, outs)]
    seeded = [(o, c) for o, c, raw in zip(outs, fitted, cts) if not is_zero_constant(raw)]
    stable = _stable_forms([o for o, _ in seeded], targets)
    bar = reverse_sweep(stable, [c for _, c in seeded], targets)
    results = [_fill(bar.get(w), w, disconnected, "vjp") for w in targets]
    return results if many else results[0]


def jvp(outputs: NodeOrList, wrt: NodeOrList, tangents: NodeOrList,
        disconnected: Literal["zero", "raise"] = "zero") -> NodeOrList:
    """Jacobian-vector products d output / d wrt . tangent, one forward sweep.

    ``tangents`` may be nodes or numbers/arrays (lifted to constants and broadcast to ``wrt``);
    a constant zero tangent is a symbolic zero: it is never materialized or multiplied through.
    An output that depends on no ``wrt`` gets a zero tangent (``disconnected="raise"``: an
    error); zero is the default here because a JVP is asked per output, and an output constant
    in the direction pushed (the gradient of a linear cost, in a Hessian) is an answer, not a
    mistake.
    """
    outs, many = _as_list(outputs)
    targets, _ = wrt_list(wrt, "jvp")
    _check_disconnected(disconnected, "jvp")
    ts, _ = _as_list(tangents)
    if len(ts) != len(targets):
        raise DifferentiationError(f"jvp: {len(targets)} wrt but {len(ts)} tangents")
    _check_wrt(targets, "jvp")
    seeds = {w: _fit_like(t, w, "jvp: tangent") for w, t in zip(targets, ts)
             if not is_zero_constant(t)}
    stable = _stable_forms(outs, targets)
    dot = forward_sweep(stable, seeds)
    names = ", ".join(w.label() for w in targets)
    results = [_fill(dot.get(s), o, disconnected, "jvp",
                     f"{o.label()} does not depend on {names} (given a nonzero tangent)")
               for s, o in zip(stable, outs)]
    return results if many else results[0]


# How a graph is made numerically safe before it is differentiated. Graph rewriting sits above
# autodiff (it may differentiate nothing, but rewrites graphs that contain derivatives), so it
# hands its stability pass down: `graphdl.rewriting` calls `stabilize_before_differentiating`
# when it is imported, which ``import graphdl`` (the parent of every graphdl module) always does.
_STABILIZE: list[Callable[[list[Node]], list[Node]]] = []


def stabilize_before_differentiating(rewrite: Callable[[list[Node]], list[Node]]) -> None:
    """Use ``rewrite(outputs) -> outputs`` on every graph before it is differentiated (one
    rewrite: a later call replaces the earlier one)."""
    _STABILIZE[:] = [rewrite]


def _stable_forms(outputs: list[Node], wrt: Sequence[Node]) -> list[Node]:
    """The outputs with the numerical-stability rewrites applied, so derivatives are taken of
    the stable form: the adjoint of log(softmax(z)) written as such divides by a softmax that
    underflows to 0 (NaN for logits of +-800), that of log_softmax(z) does not.

    Only when every ``wrt`` is a leaf: a rewrite may remove an intermediate node one asked
    about. When nothing is rewritten the nodes are the user's own, so adjoints reuse them.
    """
    if not _STABILIZE or not all(w.is_leaf for w in wrt):
        return outputs
    return _STABILIZE[0](outputs)


def is_zero_constant(node: Node) -> bool:
    """A constant of zeros: as a seed (the lecture's x2-dot = 0) it is a *symbolic* zero, so
    nothing that depends only on it is built (no ``0 * cos(x2)`` in the tangent graph)."""
    return node.op is CONSTANT and not np.any(node.attrs["value"])


def _fit_like(value: Node, like: Node, what: str) -> Node:
    """``value`` cast to ``like``'s dtype and broadcast to its shape (an error if it cannot)."""
    value = ew.cast(value, like.dtype) if value.dtype != like.dtype else value
    if value.shape != like.shape:
        try:
            value = shape_ops.broadcast_like(value, like)
        except Exception as exc:
            raise DifferentiationError(f"{what} of shape {fmt_shape(value.shape)} does not fit "
                                       f"{like.label()} of shape {fmt_shape(like.shape)}") from exc
    return value


def hvp(cost: Node, wrt: Node, v: Any, disconnected: Literal["raise", "zero"] = "raise"
        ) -> Node:
    """Hessian-vector product H v, forward-over-reverse: jvp of grad.

    ``disconnected`` is about the cost: one that does not depend on ``wrt`` is an error unless
    ``"zero"``. A gradient that does not depend on ``wrt`` (a linear cost) has H v = 0."""
    g = grad(cost, wrt, disconnected=disconnected)
    return jvp(g, wrt, v)


def hessian(cost: Node, wrt: NodeOrList, mode: str = "forward",
            disconnected: Literal["raise", "zero"] = "raise") -> NodeOrList:
    """The Hessian d^2 cost / d wrt^2, shape ``wrt.shape + wrt.shape``: the Jacobian of the
    gradient, by forward-over-reverse by default.

    With a list ``[x1, x2, ...]`` (as PyTensor and JAX accept) the result is the nested list of
    blocks ``H[i][j] = d^2 cost / d xi d xj``, of shape ``xi.shape + xj.shape``. A cost that does
    not depend on some ``wrt`` is an error unless ``disconnected="zero"``; a block that is zero
    because the cost is linear in a variable is zero, never an error.
    """
    from graphdl.autodiff.jacobian import jacobian

    targets, many = wrt_list(wrt, "hessian")
    grads = grad(cost, targets, disconnected=disconnected)
    blocks = [[jacobian(g, x, mode=mode, disconnected="zero") for x in targets] for g in grads]
    return blocks if many else blocks[0][0]

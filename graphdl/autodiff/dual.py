"""Dual numbers: forward mode as arithmetic (the lecture's epsilon slide).

A dual number ``v + v̇ε`` with ``ε² = 0`` carries a value and a tangent through every operation:

    (v + v̇ε) + (u + u̇ε) = (v + u) + (v̇ + u̇)ε
    (v + v̇ε)(u + u̇ε)    = vu + (vu̇ + v̇u)ε
    f(v + v̇ε)            = f(v) + f'(v) v̇ ε

so the coefficient of ε in ``f(x + 1ε)`` is ``f'(x)``. `Dual` implements these rules for the
arithmetic operators and, through NumPy's ufunc protocol, for ``np.exp``, ``np.log``, ``np.sin``
and the other elementary functions; the primal and tangent parts may be arrays.

`eval_dual` runs a graph on dual numbers by evaluating, node after node, the very NumPy
expression the compiler emits for each op (``np.log(a0)``, ``a0 * a1``; `graphdl.ops.evaluate`,
with ``Op.kernel`` where an op's emitted code has no dual meaning), so the derivative comes
from dual arithmetic alone, not from graphdl's JVP rules; that is what makes it an independent
check of the forward trace. Ops whose emitted code has no dual meaning (softmax, prod, scatter
helpers) raise an error naming the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphdl.errors import GraphError, InputError
from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.ops.evaluate import evaluate
from graphdl.ops.leaves import INPUT


def _primal(x: Any) -> Any:
    return x.primal if isinstance(x, Dual) else x


def _tangent(x: Any) -> Any:
    return x.tangent if isinstance(x, Dual) else np.zeros_like(np.asarray(x, dtype=float))


class Dual:
    """``primal + tangent·ε`` with ``ε² = 0``. ``Dual(2.0, 1.0)`` seeds d/dx at x = 2."""

    __slots__ = ("primal", "tangent")
    __array_priority__ = 1000  # ndarray (op) Dual defers to Dual's reflected operator

    def __init__(self, primal: Any, tangent: Any = 0.0) -> None:
        p = np.asarray(primal)
        if p.dtype.kind in "biu":
            p = p.astype(float)
        t = np.asarray(tangent, dtype=p.dtype)
        if t.shape != p.shape:
            t = np.broadcast_to(t, np.broadcast_shapes(t.shape, p.shape)).copy()
            p = np.broadcast_to(p, t.shape).copy()
        self.primal = p[()] if p.ndim == 0 else p
        self.tangent = t[()] if t.ndim == 0 else t

    # --- description -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return np.shape(self.primal)

    @property
    def ndim(self) -> int:
        return np.ndim(self.primal)

    @property
    def size(self) -> int:
        return int(np.size(self.primal))

    @property
    def dtype(self) -> np.dtype:
        return np.asarray(self.primal).dtype

    def __repr__(self) -> str:
        return f"Dual({self.primal!r}, {self.tangent!r})"

    def __str__(self) -> str:
        if np.ndim(self.primal) == 0 and np.ndim(self.tangent) == 0 and self.tangent < 0:
            return f"{self.primal} - {-self.tangent}ε"
        return f"{self.primal} + {self.tangent}ε"

    def __len__(self) -> int:
        return len(self.primal)

    def astype(self, dtype: Any) -> Any:
        """A cast: to a float type both parts follow; to integers or bools only the value
        (such a cast has no derivative)."""
        if np.dtype(dtype).kind in "fc":
            return Dual(np.asarray(self.primal, dtype=dtype), np.asarray(self.tangent, dtype=dtype))
        return np.asarray(self.primal, dtype=dtype)

    # --- arithmetic: the ε² = 0 rules ----------------------------------------------------------
    def __add__(self, other: Any) -> Dual:
        return np.add(self, other)

    def __radd__(self, other: Any) -> Dual:
        return np.add(other, self)

    def __sub__(self, other: Any) -> Dual:
        return np.subtract(self, other)

    def __rsub__(self, other: Any) -> Dual:
        return np.subtract(other, self)

    def __mul__(self, other: Any) -> Dual:
        return np.multiply(self, other)

    def __rmul__(self, other: Any) -> Dual:
        return np.multiply(other, self)

    def __truediv__(self, other: Any) -> Dual:
        return np.true_divide(self, other)

    def __rtruediv__(self, other: Any) -> Dual:
        return np.true_divide(other, self)

    def __pow__(self, other: Any) -> Dual:
        return np.power(self, other)

    def __rpow__(self, other: Any) -> Dual:
        return np.power(other, self)

    def __matmul__(self, other: Any) -> Dual:
        return np.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Dual:
        return np.matmul(other, self)

    def __neg__(self) -> Dual:
        return Dual(-self.primal, -self.tangent)

    def __pos__(self) -> Dual:
        return self

    def __abs__(self) -> Dual:
        return np.absolute(self)

    # comparisons look at the value only (their derivative is zero)
    def __lt__(self, other: Any) -> Any:
        return self.primal < _primal(other)

    def __le__(self, other: Any) -> Any:
        return self.primal <= _primal(other)

    def __gt__(self, other: Any) -> Any:
        return self.primal > _primal(other)

    def __ge__(self, other: Any) -> Any:
        return self.primal >= _primal(other)

    def __getitem__(self, index: Any) -> Dual:
        return Dual(self.primal[index], self.tangent[index])

    @property
    def T(self) -> Dual:  # NumPy's name for the transpose
        return Dual(np.transpose(self.primal), np.transpose(self.tangent))

    # --- NumPy protocols -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "reduce" and kwargs.get("out") is None:
            return _reduce(ufunc, inputs[0], **kwargs)
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        if ufunc in _ZERO_DERIVATIVE:
            return ufunc(*[_primal(x) for x in inputs], **kwargs)
        rule = _RULES.get(ufunc)
        if rule is None:
            return NotImplemented
        value, tangent = rule(*[_primal(x) for x in inputs], *[_tangent(x) for x in inputs])
        return Dual(value, tangent)

    def __array_function__(self, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _STRUCTURE:
            return func(*[_primal(a) for a in args], **kwargs)
        if func in _LINEAR:
            return _linear(func, args, kwargs)
        rule = _FUNCTIONS.get(func)
        if rule is None:
            return NotImplemented
        return rule(*args, **kwargs)


# --- the derivative rules, one per elementary function -------------------------------------
def _unary(f: Callable, df: Callable) -> Callable:
    """f(v + v̇ε) = f(v) + f'(v) v̇ ε."""
    return lambda a, da: (f(a), df(a) * da)


def _maximum(a, b, da, db):  # ties send the derivative to the first operand, as graphdl does
    first = a >= b
    return np.maximum(a, b), np.where(first, da, db)


def _minimum(a, b, da, db):
    first = a <= b
    return np.minimum(a, b), np.where(first, da, db)


def _logaddexp(a, b, da, db):
    out = np.logaddexp(a, b)
    return out, da * np.exp(a - out) + db * np.exp(b - out)


def _power(a, b, da, db):
    out = np.power(a, b)
    d = b * np.power(a, b - 1) * da
    if np.any(db != 0):
        d = d + np.log(a) * out * db
    return out, d


_RULES: dict[np.ufunc, Callable] = {
    np.add: lambda a, b, da, db: (a + b, da + db),
    np.subtract: lambda a, b, da, db: (a - b, da - db),
    np.multiply: lambda a, b, da, db: (a * b, a * db + da * b),
    np.true_divide: lambda a, b, da, db: (a / b, da / b - a * db / (b * b)),
    np.power: _power,
    np.maximum: _maximum,
    np.minimum: _minimum,
    np.logaddexp: _logaddexp,
    np.matmul: lambda a, b, da, db: (a @ b, a @ db + da @ b),
    np.negative: lambda a, da: (-a, -da),
    np.positive: lambda a, da: (+a, da),
    np.exp: _unary(np.exp, np.exp),
    np.log: _unary(np.log, lambda a: 1 / a),
    np.log1p: _unary(np.log1p, lambda a: 1 / (1 + a)),
    np.expm1: _unary(np.expm1, np.exp),
    np.sqrt: _unary(np.sqrt, lambda a: 0.5 / np.sqrt(a)),
    np.square: _unary(np.square, lambda a: 2 * a),
    np.reciprocal: _unary(np.reciprocal, lambda a: -1 / (a * a)),
    np.absolute: _unary(np.absolute, np.sign),
    np.sin: _unary(np.sin, np.cos),
    np.cos: _unary(np.cos, lambda a: -np.sin(a)),
    np.tan: _unary(np.tan, lambda a: 1 + np.tan(a) ** 2),
    np.tanh: _unary(np.tanh, lambda a: 1 - np.tanh(a) ** 2),
}
_ZERO_DERIVATIVE = {np.sign, np.floor, np.isfinite, np.isnan, np.isinf, np.less, np.less_equal,
                    np.greater, np.greater_equal,
                    np.equal, np.not_equal, np.logical_and, np.logical_or, np.logical_not}

# functions that only look at the structure of their argument
_STRUCTURE = {np.shape, np.ndim, np.size, np.result_type}
# functions linear in their array arguments: apply them to primal and tangent parts alike
_LINEAR = {np.sum, np.mean, np.reshape, np.transpose, np.expand_dims, np.squeeze,
           np.broadcast_to, np.concatenate, np.stack, np.moveaxis, np.take, np.take_along_axis}


def _linear(func: Callable, args: Sequence[Any], kwargs: dict[str, Any]) -> Dual:
    def part(x: Any, pick: Callable) -> Any:
        if isinstance(x, (list, tuple)):
            return type(x)(part(e, pick) for e in x)
        return pick(x) if isinstance(x, Dual) else x

    first = args[0]
    primal = func(part(first, _primal), *args[1:], **kwargs)
    tangent = func(part(first, _tangent), *args[1:], **kwargs)
    return Dual(primal, tangent)


def _where(condition: Any, a: Any, b: Any) -> Dual:
    c = _primal(condition)
    return Dual(np.where(c, _primal(a), _primal(b)), np.where(c, _tangent(a), _tangent(b)))


def _clip(x: Any, low: Any, high: Any, **kwargs: Any) -> Dual:
    """Passes the derivative at the bounds, as graphdl's clip does."""
    p, lo, hi = _primal(x), _primal(low), _primal(high)
    inside = (p >= lo) & (p <= hi)
    tangent = _tangent(x) * inside + _tangent(low) * (p < lo) + _tangent(high) * (p > hi)
    return Dual(np.clip(p, lo, hi), tangent)


def _chooser(func: Callable) -> Callable:
    """max/min reductions: the tangent is shared among tied elements, as graphdl does."""

    def rule(x: Dual, axis: Any = None, keepdims: bool = False, **kwargs: Any) -> Dual:
        p, t = _primal(x), _tangent(x)
        best = func(p, axis=axis, keepdims=True)
        chosen = p == best
        tangent = np.sum(t * chosen, axis=axis, keepdims=True) / np.sum(chosen, axis=axis,
                                                                       keepdims=True)
        if not keepdims:
            best = np.squeeze(best, axis=axis)
            tangent = np.squeeze(tangent, axis=axis)
        return Dual(best, tangent)

    return rule


def _reduce(ufunc: np.ufunc, x: Any, axis: Any = 0, keepdims: bool = False, **kwargs: Any) -> Any:
    """``ufunc.reduce`` (how generated code writes sum, max and min) on a dual number."""
    if ufunc is np.add:
        return _linear(np.sum, [x], {"axis": axis, "keepdims": keepdims, **kwargs})
    if ufunc is np.maximum:
        return _chooser(np.max)(x, axis=axis, keepdims=keepdims)
    if ufunc is np.minimum:
        return _chooser(np.min)(x, axis=axis, keepdims=keepdims)
    return NotImplemented


_FUNCTIONS: dict[Callable, Callable] = {
    np.where: _where,
    np.clip: _clip,
    np.max: _chooser(np.max),
    np.min: _chooser(np.min),
    np.dot: lambda a, b: Dual(np.dot(_primal(a), _primal(b)),
                              np.dot(_primal(a), _tangent(b)) + np.dot(_tangent(a), _primal(b))),
}


# --- evaluating a graph on dual numbers ------------------------------------------------------
def eval_dual(outputs: Node | Sequence[Node], at: Mapping[Node | str, Any]) -> Any:
    """Evaluate ``outputs`` with each input in ``at`` a `Dual` (or a plain value, tangent 0);
    returns a `Dual` per output: its value and its directional derivative.

    >>> x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    >>> gd.eval_dual(gd.log(x1) + x1 * x2 - gd.sin(x2), {x1: gd.Dual(2, 1), x2: 5})
    Dual(11.652..., 5.5)
    """
    single = isinstance(outputs, Node)
    outs = [outputs] if single else list(outputs)
    order = toposort(outs)
    values = _bind_inputs(order, at)
    for node in order:
        if node in values:
            continue
        if not node.inputs:  # constants and shared variables (inputs are bound above)
            values[node] = evaluate(node, [])
            continue
        values[node] = _evaluate(node, [values[p] for p in node.inputs])
    results = [v if isinstance(v, Dual) else Dual(v, np.zeros_like(np.asarray(v, dtype=float)))
               for v in (values[o] for o in outs)]
    return results[0] if single else results


def _bind_inputs(order: list[Node], at: Mapping[Node | str, Any]) -> dict[Node, Any]:
    inputs = [n for n in order if n.op is INPUT]
    by_name = {n.name: n for n in inputs if n.name}
    values: dict[Node, Any] = {}
    for key, value in at.items():
        node = by_name.get(key) if isinstance(key, str) else key
        if node not in inputs:
            raise InputError(f"eval_dual: at[{key!r}] is not an input of the graph")
        values[node] = value if isinstance(value, Dual) else np.asarray(value, dtype=node.dtype)
    missing = [n.label() for n in inputs if n not in values]
    if missing:
        raise InputError(f"eval_dual: no value for input(s) {', '.join(missing)}")
    return values


def _evaluate(node: Node, args: list[Any]) -> Any:
    op = node.op
    if op.zero_derivative:
        args = [_primal(a) for a in args]
    try:
        result = evaluate(node, args)  # the op's own emitted code (or its kernel)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"eval_dual: {op.name} node {node.label()} (created at {node.origin}) "
                         f"cannot run on dual numbers: {exc}") from exc
    if not isinstance(result, Dual) and any(isinstance(a, Dual) for a in args) \
            and not op.zero_derivative:
        raise GraphError(f"eval_dual: {op.name} node {node.label()} (created at {node.origin}) "
                         "lost its tangent: the op's NumPy code has no dual-number rule")
    return result

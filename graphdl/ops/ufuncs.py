"""More of NumPy's elementwise functions: inverse trigonometric and hyperbolic functions, other
logarithm bases, logaddexp, hypot, mod, ceil and round.

Each is an `elementwise_op` (broadcasting, dtype from the ufunc, chain rule, batching and writing
into a dead buffer shared with `graphdl.ops.elementwise`) given by its partial derivatives:

- ``arctan' = 1 / (1 + x^2)``, ``arcsin' = 1 / sqrt(1 - x^2)``, ``arccos' = -arcsin'``;
  ``arctan2(y, x)``: ``x / (x^2 + y^2)`` for y and ``-y / (x^2 + y^2)`` for x;
- ``sinh' = cosh``, ``cosh' = sinh``, ``arcsinh' = 1 / sqrt(x^2 + 1)``,
  ``arccosh' = 1 / sqrt(x^2 - 1)``, ``arctanh' = 1 / (1 - x^2)``;
- ``log2' = 1 / (x ln 2)``, ``log10' = 1 / (x ln 10)``, ``exp2' = ln 2 * exp2``;
- ``logaddexp(a, b)``: ``exp(a - out)`` and ``exp(b - out)``, each at most 1 (no overflow);
- ``hypot(a, b)``: ``a / out`` and ``b / out`` (nan at a = b = 0, where hypot has a kink);
- ``mod(a, b) = a - floor(a / b) b`` (NumPy's sign convention, also for ``%``): 1 for a and
  ``-floor(a / b)`` for b, away from the jumps;
- ``ceil`` and ``round`` are piecewise constant: zero derivative.

Outside a function's domain (``arcsin(2)``, ``arccosh(0.5)``) values are NumPy's nan, and so are
derivatives at the domain's end points (``arcsin'(1)`` is inf).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.elementwise import elementwise_op
from graphdl.ops.registry import apply

LN2, LN10 = float(np.log(2.0)), float(np.log(10.0))


def _x(node: Node, i: int = 0) -> Node:
    return node.inputs[i]


def _sympy(name: str):
    return lambda sp, a, at: getattr(sp, name)(*a)


ARCTAN = elementwise_op("arctan", "np.arctan({0})", np.arctan,
                        lambda n, i: ew.reciprocal(ew.add(1, ew.square(_x(n)))), _sympy("atan"),
                        inplace=True)
ARCSIN = elementwise_op("arcsin", "np.arcsin({0})", np.arcsin,
                        lambda n, i: ew.reciprocal(ew.sqrt(ew.subtract(1, ew.square(_x(n))))),
                        _sympy("asin"), inplace=True)
ARCCOS = elementwise_op(
    "arccos", "np.arccos({0})", np.arccos,
    lambda n, i: ew.negative(ew.reciprocal(ew.sqrt(ew.subtract(1, ew.square(_x(n)))))),
    _sympy("acos"), inplace=True)


def _arctan2_partial(node: Node, i: int) -> Node:
    y, x = node.inputs
    r2 = ew.add(ew.square(y), ew.square(x))
    return ew.divide(x, r2) if i == 0 else ew.negative(ew.divide(y, r2))


ARCTAN2 = elementwise_op("arctan2", "np.arctan2({0}, {1})", np.arctan2, _arctan2_partial,
                         _sympy("atan2"), doc="The angle of (x, y): arctan2(y, x).",
                         inplace=True)
SINH = elementwise_op("sinh", "np.sinh({0})", np.sinh, lambda n, i: cosh(_x(n)), _sympy("sinh"),
                      inplace=True)
COSH = elementwise_op("cosh", "np.cosh({0})", np.cosh, lambda n, i: sinh(_x(n)), _sympy("cosh"),
                      inplace=True)
ARCSINH = elementwise_op("arcsinh", "np.arcsinh({0})", np.arcsinh,
                         lambda n, i: ew.reciprocal(ew.sqrt(ew.add(ew.square(_x(n)), 1))),
                         _sympy("asinh"), inplace=True)
ARCCOSH = elementwise_op("arccosh", "np.arccosh({0})", np.arccosh,
                         lambda n, i: ew.reciprocal(ew.sqrt(ew.subtract(ew.square(_x(n)), 1))),
                         _sympy("acosh"), inplace=True)
ARCTANH = elementwise_op("arctanh", "np.arctanh({0})", np.arctanh,
                         lambda n, i: ew.reciprocal(ew.subtract(1, ew.square(_x(n)))),
                         _sympy("atanh"), inplace=True)
LOG2 = elementwise_op("log2", "np.log2({0})", np.log2,
                      lambda n, i: ew.reciprocal(ew.multiply(_x(n), LN2)),
                      lambda sp, a, at: sp.log(a[0], 2), inplace=True)
LOG10 = elementwise_op("log10", "np.log10({0})", np.log10,
                       lambda n, i: ew.reciprocal(ew.multiply(_x(n), LN10)),
                       lambda sp, a, at: sp.log(a[0], 10), inplace=True)
EXP2 = elementwise_op("exp2", "np.exp2({0})", np.exp2, lambda n, i: ew.multiply(n, LN2),
                      lambda sp, a, at: 2 ** a[0], inplace=True)
LOGADDEXP = elementwise_op(
    "logaddexp", "np.logaddexp({0}, {1})", np.logaddexp,
    lambda n, i: ew.exp(ew.subtract(_x(n, i), n)),
    lambda sp, a, at: sp.Max(a[0], a[1]) + sp.log(1 + sp.exp(-sp.Abs(a[0] - a[1]))),
    commutative=True,
    doc="log(exp(a) + exp(b)) without overflow.", inplace=True)
HYPOT = elementwise_op("hypot", "np.hypot({0}, {1})", np.hypot,
                       lambda n, i: ew.divide(_x(n, i), n),
                       lambda sp, a, at: sp.sqrt(a[0] ** 2 + a[1] ** 2), commutative=True,
                       doc="sqrt(a^2 + b^2) without overflow.", inplace=True)
MOD = elementwise_op(
    "mod", "np.mod({0}, {1})", np.mod,
    lambda n, i: 1 if i == 0 else ew.negative(ew.floor(ew.divide(_x(n, 0), _x(n, 1)))),
    lambda sp, a, at: a[0] - a[1] * sp.floor(a[0] / a[1]),  # SymPy cannot differentiate Mod
    doc="The remainder with the divisor's sign (NumPy's and Python's %).", inplace=True)
CEIL = elementwise_op("ceil", "np.ceil({0})", np.ceil, zero_derivative=True,
                      sympy=lambda sp, a, at: sp.ceiling(a[0]), inplace=True)
def _round_sympy(sp: Any, args: Any, attrs: dict[str, Any]) -> Any:
    """Half to even in SymPy: floor(y + 1/2), one less where that was a tie to an odd integer."""
    scale = sp.Integer(10) ** attrs["decimals"]
    y = args[0] * scale
    up = sp.floor(y + sp.Rational(1, 2))
    tie_to_odd = sp.And(sp.Eq(y + sp.Rational(1, 2), up), sp.Eq(up - 2 * sp.floor(up / 2), 1))
    return sp.Piecewise((up - 1, tie_to_odd), (up, True)) / scale


ROUND = elementwise_op("round", "np.round({0}, {decimals})", np.positive, zero_derivative=True,
                       sympy=_round_sympy,
                       doc="Round half to even (NumPy's), to ``decimals`` places.")


def _unary(op: Any):
    def build(x: Any) -> Node:
        return apply(op, x)

    build.__name__ = op.name
    build.__doc__ = f"``np.{op.name}``, elementwise. {op.doc}".strip()
    return build


def _binary(op: Any):
    def build(a: Any, b: Any) -> Node:
        return apply(op, a, b)

    build.__name__ = op.name
    build.__doc__ = f"``np.{op.name}``, elementwise with broadcasting. {op.doc}".strip()
    return build


arctan, arcsin, arccos = _unary(ARCTAN), _unary(ARCSIN), _unary(ARCCOS)
sinh, cosh = _unary(SINH), _unary(COSH)
arcsinh, arccosh, arctanh = _unary(ARCSINH), _unary(ARCCOSH), _unary(ARCTANH)
log2, log10, exp2, ceil = _unary(LOG2), _unary(LOG10), _unary(EXP2), _unary(CEIL)
arctan2, logaddexp, hypot, mod = _binary(ARCTAN2), _binary(LOGADDEXP), _binary(HYPOT), _binary(MOD)


def round(x: Any, decimals: int = 0) -> Node:  # noqa: A001 - NumPy's name
    """``np.round(x, decimals)``: half to even; zero derivative."""
    return apply(ROUND, x, decimals=int(decimals))

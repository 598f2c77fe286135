"""Elementwise ops: arithmetic, comparisons and the usual functions.

An elementwise op broadcasts its operands (NumPy rules), takes its dtype from the NumPy ufunc that
computes it (``ufunc.resolve_dtypes``, so float32 stays float32 and Python numbers stay weak), and
states its derivative as *partials*: ``partial(node, i)`` is d node / d input_i as a graph. The
chain rule is then written once, here: a tangent is ``sum_i partial_i * tangent_i`` and a cotangent
is ``cotangent * partial_i`` summed back to the operand's shape (`unbroadcast`). Partials may be
the numbers 1 or -1 (identity, negation) so ``x + y`` never multiplies by one, and inputs with a
zero tangent or no need for an adjoint are skipped, so zeros are never materialized.

Non-smooth points: relu'(0) = 0, abs'(0) = 0 (sign(0) = 0), and maximum/minimum send the whole
derivative to the *first* operand on ties; clip passes the derivative at its bounds
(``low <= x <= high``). Piecewise-constant ops (comparisons, logical ops, sign, floor, casts to
integers, stop_gradient) declare a zero derivative: gradients through them are zeros, never an
error; ``where`` gives its condition no adjoint. A constant exponent 0 or 1 gives a symbolic zero
or identity partial (no ``0 * x ** -1``, nan at 0). Every adjoint is cast back to its operand's
dtype, so a float32 operand of a float64 expression gets a float32 gradient.
Each convention is asserted in ``tests/autodiff/test_autodiff_api.py``; every rule is checked
against central differences, to second order, in ``tests/autodiff/test_autodiff_rules.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes
from graphdl.ops import batching, leaves, shape_ops
from graphdl.ops.notation import Notation, cast_form
from graphdl.ops.registry import Op, apply

Partial = Callable[[Node, int], Any]


# --- the shared machinery -------------------------------------------------------------------
def _ufunc_operand(node: Node) -> Any:
    """What ``resolve_dtypes`` should see: a weak Python type for Python-number constants."""
    if node.op.name == "constant" and node.attrs.get("weak"):
        value = node.attrs["value"]
        return node.dtype if isinstance(value, bool) else type(value)
    return node.dtype


def _make_infer(op_name: str, ufunc: np.ufunc | None, out_dtype: str | None):
    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        shape = broadcast_shapes(op_name, [n.shape for n in inputs], [n.label() for n in inputs])
        if out_dtype is not None:
            return shape, np.dtype(out_dtype)
        try:
            dtypes = ufunc.resolve_dtypes(tuple(_ufunc_operand(n) for n in inputs) + (None,))
        except (TypeError, np.exceptions.DTypePromotionError) as exc:
            described = ", ".join(f"{n.label()}: {n.dtype}" for n in inputs)
            raise DTypeError(f"{op_name}: no NumPy loop for dtypes ({described})") from exc
        return shape, dtypes[-1]

    return infer


def _elementwise_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    total: Node | None = None
    for i, tangent in enumerate(tangents):
        if tangent is None:
            continue
        term = _times_partial(tangent, node.op.partials(node, i))
        if term is None:
            continue
        total = term if total is None else add(total, term)
    if total is None:
        return None
    if total.shape != node.shape or total.dtype != node.dtype:
        total = shape_ops.broadcast_like(cast(total, node.dtype), node)
    return total


def _elementwise_vjp(node: Node, cotangent: Node) -> list[Node | None]:
    from graphdl.ops.reductions import unbroadcast  # above this module (sums need elementwise)

    contributions: list[Node | None] = []
    for i, operand in enumerate(node.inputs):
        if operand.dtype.kind not in "fc":
            contributions.append(None)  # integer and boolean operands have no adjoint
            continue
        term = _times_partial(cotangent, node.op.partials(node, i))
        if term is not None:
            term = cast(unbroadcast(term, operand, node.inputs), operand.dtype)
        contributions.append(term)
    return contributions


def _times_partial(value: Node, partial: Any) -> Node | None:
    if partial is None:
        return None
    if isinstance(partial, int):
        return value if partial == 1 else negative(value)
    return multiply(value, partial)


def elementwise_op(
    name: str,
    emit: str,
    ufunc: np.ufunc | None,
    partials: Partial | None = None,
    sympy: Callable[..., Any] | None = None,
    out_dtype: str | None = None,
    commutative: bool = False,
    zero_derivative: bool = False,
    doc: str = "",
    inplace: str | bool | None = None,
    infer: Callable[..., tuple[tuple, np.dtype]] | None = None,
    view: bool = False,
    linear: str | None = None,
    sympy_conditions: tuple[int, ...] = (),
    modules: tuple[str, ...] = (),
    notation: Notation | None = None,
    kernel: Callable[[list, dict[str, Any]], Any] | None = None,
) -> Op:
    """Define an elementwise op: derivative rules come from ``partials``, batching (`gd.vmap`)
    from broadcasting, the dtype from ``ufunc`` (or ``out_dtype``) unless ``infer`` is given.

    ``inplace=True`` says the ufunc itself computes the op, so the result can be written into an
    existing buffer with ``np.<ufunc>(..., out=)``; a string gives that template explicitly.
    """
    if inplace is True:
        arity = 2 if "{1}" in emit else 1
        inplace = f"np.{ufunc.__name__}({', '.join(f'{{{i}}}' for i in range(arity))}, out={{out}})"
    return Op(
        name,
        infer=infer or _make_infer(name, ufunc, out_dtype),
        emit=emit,
        jvp=_elementwise_jvp if partials else None,
        vjp=_elementwise_vjp if partials else None,
        partials=partials,
        sympy=sympy,
        elementwise=True,
        commutative=commutative,
        zero_derivative=zero_derivative,
        doc=doc,
        inplace=inplace or None,
        view=view,
        batch=batching.batch_elementwise,
        linear=linear,
        sympy_conditions=sympy_conditions,
        modules=modules,
        notation=notation,
        kernel=kernel,
    )


def cast(x: Any, dtype: Any) -> Node:
    """``x`` converted to ``dtype`` (a no-op, returning ``x`` itself, when it already is)."""
    target = np.dtype(dtype)
    if isinstance(x, Node) and x.dtype == target:
        return x
    return apply(CAST, x, dtype=target.name)


def _cast_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    return inputs[0].shape, np.dtype(attrs["dtype"])


def _cast_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    if tangents[0] is None or node.dtype.kind not in "fc":
        return None
    return cast(tangents[0], node.dtype)


def _cast_vjp(node: Node, cotangent: Node) -> list[Node | None]:
    source = node.inputs[0]
    if source.dtype.kind not in "fc" or node.dtype.kind not in "fc":
        return [None]
    return [cast(cotangent, source.dtype)]


def _cast_sympy(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
    """NumPy's casts: to bool means "nonzero", to an integer truncates toward zero."""
    x, kind = args[0], np.dtype(attrs["dtype"]).kind
    if kind == "b" and isinstance(x, sp.Expr):  # a number; relations are not Expr
        return sp.Ne(x, 0)
    if kind in "iu" and not sp.sympify(x).is_integer:
        return sp.sign(x) * sp.floor(sp.Abs(x))
    return x


def _cast_kernel(values: list, attrs: dict[str, Any]) -> Any:
    """The cast by ``astype``, which array-likes (dual numbers) implement; a scalar type call
    such as ``np.float32(x)`` (the emitted code, cheapest) does not dispatch to them."""
    x = values[0]
    if hasattr(x, "astype"):
        return x.astype(attrs["dtype"])
    return np.asarray(x, dtype=attrs["dtype"])


CAST = Op(
    "cast",
    infer=_cast_infer,
    emit=lambda args, attrs: f"np.{attrs['dtype']}({args[0]})",  # scalar type call: cheapest
    jvp=_cast_jvp,
    vjp=_cast_vjp,
    elementwise=True,
    sympy=_cast_sympy,
    doc="Convert to another dtype; casts to integers or bools have zero derivative.",
    batch=batching.batch_elementwise,
    linear="first",
    kernel=_cast_kernel,
    notation=Notation(cast_form, ("1",)),
)


# --- binary arithmetic ------------------------------------------------------------------------
def _in(node: Node, i: int) -> Node:
    return node.inputs[i]


ADD = elementwise_op("add", "{0} + {1}", np.add, lambda n, i: 1, commutative=True,
                     sympy=lambda sp, a, at: a[0] + a[1], inplace=True, linear="all",
                     notation=Notation("{0} + {1}", ("1", "1")))
SUBTRACT = elementwise_op("subtract", "{0} - {1}", np.subtract, lambda n, i: 1 if i == 0 else -1,
                          sympy=lambda sp, a, at: a[0] - a[1], inplace=True, linear="all",
                          notation=Notation("{0} − {1}", ("1", "-1")))
MULTIPLY = elementwise_op("multiply", "{0} * {1}", np.multiply, lambda n, i: _in(n, 1 - i),
                          commutative=True, sympy=lambda sp, a, at: a[0] * a[1], inplace=True,
                          linear="one", notation=Notation("{0} × {1}", ("{1}", "{0}")))
DIVIDE = elementwise_op(
    "divide", "{0} / {1}", np.true_divide,
    lambda n, i: reciprocal(_in(n, 1)) if i == 0 else negative(divide(n, _in(n, 1))),
    sympy=lambda sp, a, at: a[0] / a[1], inplace=True, linear="first",
    notation=Notation("{0} / {1}", ("/{1}", "−{out} / {1}")),
)


def _power_partial(node: Node, i: int) -> Node:
    base, exponent = node.inputs
    if i == 0:
        if exponent.op is leaves.CONSTANT and np.ndim(exponent.attrs["value"]) == 0:
            k = exponent.attrs["value"]
            if k == 0:
                return None  # x ** 0 is constant: a symbolic zero, not 0 * x ** -1 (nan at 0)
            if k == 1:
                return 1
            if k == 2:
                return multiply(2, base)
            return multiply(k, power(base, k - 1))
        # y * x ** (y - 1), but 0 where y = 0 (0 * 0 ** -1 would be nan at x = 0)
        lowered = where(equal(exponent, 0), 1, subtract(exponent, 1))
        return multiply(exponent, power(base, lowered))
    # log(x) * x ** y, with log(1) in place of log(0): the limit 0, not -inf * 0 = nan, at x = 0
    return multiply(log(where(equal(base, 0), 1, base)), node)


POWER = elementwise_op("power", "{0} ** {1}", np.power, _power_partial,
                       sympy=lambda sp, a, at: a[0] ** a[1], inplace=True,
                       notation=Notation("{0}^{1}", ("{1} {0}^({1} − 1)", "ln {0} × {out}")))
MAXIMUM = elementwise_op(
    "maximum", "np.maximum({0}, {1})", np.maximum,
    lambda n, i: greater_equal(_in(n, 0), _in(n, 1)) if i == 0 else less(_in(n, 0), _in(n, 1)),
    commutative=True, sympy=lambda sp, a, at: sp.Max(a[0], a[1]),
    doc="Ties send the derivative to the first operand.", inplace=True,
    notation=Notation("max({0}, {1})", ("[{0} ≥ {1}]", "[{0} < {1}]")),
)
MINIMUM = elementwise_op(
    "minimum", "np.minimum({0}, {1})", np.minimum,
    lambda n, i: less_equal(_in(n, 0), _in(n, 1)) if i == 0 else greater(_in(n, 0), _in(n, 1)),
    commutative=True, sympy=lambda sp, a, at: sp.Min(a[0], a[1]),
    doc="Ties send the derivative to the first operand.", inplace=True,
    notation=Notation("min({0}, {1})", ("[{0} ≤ {1}]", "[{0} > {1}]")),
)


def _comparison(name: str, symbol: str, ufunc: np.ufunc, sympy_name: str,
                notation: Notation) -> Op:
    return elementwise_op(
        name, f"{{0}} {symbol} {{1}}", ufunc, out_dtype="bool", zero_derivative=True,
        sympy=lambda sp, a, at: getattr(sp, sympy_name)(a[0], a[1]),
        doc="Piecewise constant: its derivative is zero.", notation=notation,
        commutative=symbol in ("==", "!="),
    )


LESS = _comparison("less", "<", np.less, "StrictLessThan", notation=Notation("{0} < {1}"))
LESS_EQUAL = _comparison("less_equal", "<=", np.less_equal, "LessThan",
                         notation=Notation("{0} ≤ {1}"))
GREATER = _comparison("greater", ">", np.greater, "StrictGreaterThan",
                      notation=Notation("{0} > {1}"))
GREATER_EQUAL = _comparison("greater_equal", ">=", np.greater_equal, "GreaterThan",
                            notation=Notation("{0} ≥ {1}"))
EQUAL = _comparison("equal", "==", np.equal, "Eq", notation=Notation("{0} = {1}"))
NOT_EQUAL = _comparison("not_equal", "!=", np.not_equal, "Ne", notation=Notation("{0} ≠ {1}"))
LOGICAL_AND = elementwise_op("logical_and", "np.logical_and({0}, {1})", np.logical_and,
                             out_dtype="bool", zero_derivative=True, commutative=True,
                             sympy=lambda sp, a, at: sp.And(a[0], a[1]),
                             notation=Notation("{0} and {1}"))
LOGICAL_OR = elementwise_op("logical_or", "np.logical_or({0}, {1})", np.logical_or,
                            out_dtype="bool", zero_derivative=True, commutative=True,
                            sympy=lambda sp, a, at: sp.Or(a[0], a[1]),
                            notation=Notation("{0} or {1}"))
LOGICAL_NOT = elementwise_op("logical_not", "np.logical_not({0})", np.logical_not,
                             out_dtype="bool", zero_derivative=True,
                             sympy=lambda sp, a, at: sp.Not(a[0]), notation=Notation("not {0}"))


# --- unary functions ----------------------------------------------------------------------------
def _x(node: Node) -> Node:
    return node.inputs[0]


def _unary(name: str, emit: str, ufunc: np.ufunc, derivative: Callable[[Node], Any] | None,
           sympy: str | Callable[..., Any] | None, **rest: Any) -> Op:
    """An elementwise op of one operand: ``derivative(node)`` is its partial, ``sympy`` the
    name of the SymPy function of the same meaning or the full reading."""
    return elementwise_op(
        name, emit, ufunc,
        partials=(lambda n, i: derivative(n)) if derivative else None,
        sympy=(lambda sp, a, at: getattr(sp, sympy)(a[0])) if isinstance(sympy, str) else sympy,
        **rest,
    )


def _reciprocal_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    """"1 / x" is true division: integers give floats."""
    return inputs[0].shape, np.true_divide.resolve_dtypes(
        (int, _ufunc_operand(inputs[0]), None))[-1]


NEGATIVE = elementwise_op("negative", "-{0}", np.negative, lambda n, i: -1,
                          sympy=lambda sp, a, at: -a[0], inplace=True, linear="first",
                          notation=Notation("−{0}", ("-1",)))
RECIPROCAL = _unary("reciprocal", "1 / {0}", np.reciprocal, lambda n: negative(square(n)),
                    lambda sp, a, at: 1 / a[0], infer=_reciprocal_infer,
                    inplace="np.divide(1, {0}, out={out})",
                    notation=Notation("1 / {0}", ("−{out}²",)))
EXP = _unary("exp", "np.exp({0})", np.exp, lambda n: n, "exp", inplace=True,
             notation=Notation("exp {0}", ("{out}",)))
LOG = _unary("log", "np.log({0})", np.log, lambda n: reciprocal(_x(n)), "log", inplace=True,
             notation=Notation("ln {0}", ("/{0}",)))
LOG1P = _unary("log1p", "np.log1p({0})", np.log1p, lambda n: reciprocal(add(1, _x(n))),
               lambda sp, a, at: sp.log(1 + a[0]), inplace=True,
               notation=Notation("ln(1 + {0})", ("/(1 + {0})",)))
EXPM1 = _unary("expm1", "np.expm1({0})", np.expm1, lambda n: exp(_x(n)),
               lambda sp, a, at: sp.exp(a[0]) - 1, inplace=True,
               notation=Notation("exp {0} − 1", ("exp {0}",)))
SQRT = _unary("sqrt", "np.sqrt({0})", np.sqrt, lambda n: divide(0.5, n), "sqrt", inplace=True,
              notation=Notation("√{0}", ("/(2 {out})",)))
SQUARE = _unary("square", "np.square({0})", np.square, lambda n: multiply(2, _x(n)),
                lambda sp, a, at: a[0] ** 2, inplace=True, notation=Notation("{0}²", ("2 {0}",)))
ABS = _unary("abs", "np.abs({0})", np.absolute, lambda n: sign(_x(n)), "Abs",
             doc="abs'(0) = 0.", inplace=True, notation=Notation("|{0}|", ("sign {0}",)))
SIGN = _unary("sign", "np.sign({0})", np.sign, None, "sign", zero_derivative=True,
              notation=Notation("sign {0}"))
SIN = _unary("sin", "np.sin({0})", np.sin, lambda n: cos(_x(n)), "sin", inplace=True,
             notation=Notation("sin {0}", ("cos {0}",)))
COS = _unary("cos", "np.cos({0})", np.cos, lambda n: negative(sin(_x(n))), "cos", inplace=True,
             notation=Notation("cos {0}", ("−sin {0}",)))
TAN = _unary("tan", "np.tan({0})", np.tan, lambda n: add(1, square(n)), "tan", inplace=True,
             notation=Notation("tan {0}", ("1 + {out}²",)))
TANH = _unary("tanh", "np.tanh({0})", np.tanh, lambda n: subtract(1, square(n)), "tanh",
              inplace=True, notation=Notation("tanh {0}", ("1 − {out}²",)))
SIGMOID = _unary(
    "sigmoid", "np.exp(np.minimum({0}, 0)) / (1 + np.exp(-np.abs({0})))", np.tanh,
    lambda n: multiply(n, sigmoid(negative(_x(n)))), lambda sp, a, at: 1 / (1 + sp.exp(-a[0])),
    doc="Logistic function as exp(min(x, 0)) / (1 + exp(-|x|)): no overflow, and relative "
        "precision in both tails (through tanh, the left tail rounds to 0 from x < -37 in "
        "float64); its derivative sigmoid(x) sigmoid(-x) keeps it too, where s (1 - s) is 0.",
    notation=Notation("σ({0})", ("{out} σ(−{0})",)),
)
SOFTPLUS = _unary("softplus", "np.logaddexp(0.0, {0})", np.tanh, lambda n: sigmoid(_x(n)),
                  lambda sp, a, at: sp.log(1 + sp.exp(a[0])),
                  doc="log(1 + exp(x)) without overflow.",
                  notation=Notation("softplus {0}", ("σ({0})",)))
def _relu_kernel(values: list, attrs: dict[str, Any]) -> Any:
    """relu through np.where: on dual numbers relu'(0) = 0 (np.maximum's ties would give 1);
    nan stays nan and -inf gives 0, as ``np.maximum(x, 0)``."""
    x = values[0]
    return np.where(x > 0, x, np.where(x <= 0, 0, x))


RELU = _unary("relu", "np.maximum({0}, 0)", np.positive, lambda n: greater(_x(n), 0),
              lambda sp, a, at: sp.Max(a[0], 0), doc="relu'(0) = 0.",
              inplace="np.maximum({0}, 0, out={out})", kernel=_relu_kernel,
              notation=Notation("relu {0}", ("[{0} > 0]",)))
FLOOR = _unary("floor", "np.floor({0})", np.floor, None, "floor", zero_derivative=True,
               notation=Notation("⌊{0}⌋"))
STOP_GRADIENT = elementwise_op(
    "stop_gradient", "{0}", np.positive, zero_derivative=True,
    sympy=lambda sp, a, at: a[0],
    doc="The identity whose derivative is declared zero (targets, running statistics).",
    view=True, linear="first",
    notation=Notation("stop_gradient({0})"),
)


# --- three operands ----------------------------------------------------------------------------
def _where_partial(node: Node, i: int) -> Node | None:
    condition = node.inputs[0]
    if i == 1 and condition.dtype.kind != "b":  # a number as a condition means "nonzero"
        return not_equal(condition, 0)
    return None if i == 0 else condition if i == 1 else logical_not(condition)


def _promoting_infer(op_name: str, first_value: int):
    """Broadcast every operand; the dtype promotes operands from ``first_value`` on."""

    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        shape = broadcast_shapes(op_name, [n.shape for n in inputs], [n.label() for n in inputs])
        values = [n.attrs["value"] if n.op is leaves.CONSTANT and n.attrs.get("weak") else n.dtype
                  for n in inputs[first_value:]]
        return shape, np.result_type(*values)

    return infer


WHERE = elementwise_op("where", "np.where({0}, {1}, {2})", None, _where_partial,
                       sympy=lambda sp, a, at: sp.Piecewise((a[1], a[0]), (a[2], True)),
                       infer=_promoting_infer("where", 1),
                       sympy_conditions=(0,),  # operand 0 stays a SymPy Boolean (no 0/1 reading)
                       notation=Notation("where({0}, {1}, {2})", ("0", "[{0}]", "[not {0}]")))


def _clip_partial(node: Node, i: int) -> Node:
    x, low, high = node.inputs
    if i == 0:
        return logical_and(greater_equal(x, low), less_equal(x, high))
    return less(x, low) if i == 1 else greater(x, high)


CLIP = elementwise_op("clip", "np.clip({0}, {1}, {2})", None, _clip_partial,
                      sympy=lambda sp, a, at: sp.Min(sp.Max(a[0], a[1]), a[2]),
                      infer=_promoting_infer("clip", 0),
                      inplace="np.clip({0}, {1}, {2}, out={out})",
                      notation=Notation("clip({0}, {1}, {2})",
                                        ("[{1} ≤ {0} ≤ {2}]", "[{0} < {1}]", "[{0} > {2}]")))


# --- public constructors ---------------------------------------------------------------------
def _binary(op: Op) -> Callable[[Any, Any], Node]:
    def build(x: Any, y: Any) -> Node:
        return apply(op, x, y)

    build.__name__ = op.name
    build.__doc__ = f"Elementwise {op.name} with NumPy broadcasting. {op.doc}".strip()
    return build


def _unary_fn(op: Op) -> Callable[[Any], Node]:
    def build(x: Any) -> Node:
        return apply(op, x)

    build.__name__ = op.name
    build.__doc__ = f"Elementwise {op.name}. {op.doc}".strip()
    return build


add, subtract, multiply, divide, power = map(_binary, (ADD, SUBTRACT, MULTIPLY, DIVIDE, POWER))
maximum, minimum = _binary(MAXIMUM), _binary(MINIMUM)
less, less_equal, greater, greater_equal = map(_binary, (LESS, LESS_EQUAL, GREATER, GREATER_EQUAL))
equal, not_equal = _binary(EQUAL), _binary(NOT_EQUAL)
logical_and, logical_or, logical_not = _binary(LOGICAL_AND), _binary(LOGICAL_OR), _unary_fn(
    LOGICAL_NOT)
negative, reciprocal, exp, log, log1p, expm1 = map(
    _unary_fn, (NEGATIVE, RECIPROCAL, EXP, LOG, LOG1P, EXPM1))
sqrt, square, abs, sign = map(_unary_fn, (SQRT, SQUARE, ABS, SIGN))  # noqa: A001
sin, cos, tan, tanh = map(_unary_fn, (SIN, COS, TAN, TANH))
sigmoid, softplus, relu, floor = map(_unary_fn, (SIGMOID, SOFTPLUS, RELU, FLOOR))
stop_gradient = _unary_fn(STOP_GRADIENT)


def where(condition: Any, x: Any, y: Any) -> Node:
    """``x`` where ``condition`` holds, else ``y`` (broadcast). The condition gets no adjoint."""
    return apply(WHERE, condition, x, y)


def clip(x: Any, low: Any, high: Any) -> Node:
    """``x`` limited to ``[low, high]``; the derivative passes where ``low <= x <= high``."""
    return apply(CLIP, x, low, high)

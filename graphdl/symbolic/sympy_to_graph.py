"""SymPy -> graph: rebuild an expression out of registry ops.

Which SymPy head maps to which op is not written down here: it is read off the ops' own ``sympy``
rules (`reverse_table`), so ``exp`` maps back to the op whose rule produces ``exp``, and a new op
with a rule becomes reachable from SymPy without touching this module. Only SymPy's canonical
forms need handling by hand: SymPy has no subtraction or division (``x - y`` is
``x + (-1)*y`` and ``x/y`` is ``x*y**-1``), so sums and products are rebuilt with subtract, divide
and negative where their terms say so, and ``Piecewise`` becomes nested ``where``.

Equal subexpressions become one node (the walk is memoized on the expression), and the walk is
iterative, so deep expressions do not hit Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import shape_ops
from graphdl.ops.leaves import constant
from graphdl.ops.registry import REGISTRY, Op, apply, as_node
from graphdl.symbolic.graph_to_sympy import SymbolicError, sympy_module

_TABLE_CACHE: dict[int, tuple[dict[Any, Op], dict[Any, Op]]] = {}


def reverse_table() -> tuple[dict[Any, Op], dict[Any, Op]]:
    """``(heads, powers)``: SymPy function classes -> the elementwise op whose rule gives
    ``head(operands...)``, and exponents k -> the unary op whose rule gives ``x**k``
    (square for 2, sqrt for 1/2, reciprocal for -1)."""
    key = len(REGISTRY)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = _derive_table(sympy_module())
    return _TABLE_CACHE[key]


def _derive_table(sp: Any) -> tuple[dict[Any, Op], dict[Any, Op]]:
    heads: dict[Any, Op] = {}
    powers: dict[Any, Op] = {}
    for op in REGISTRY.values():
        if not op.elementwise or op.sympy is None:
            continue
        for arity in (1, 2):
            operands = [sp.Dummy(f"a{i}") for i in range(arity)]
            result = _probe(sp, op, operands)
            if result is None:
                continue
            if (arity == 1 and isinstance(result, sp.Pow) and result.base == operands[0]
                    and result.exp.is_Number):
                powers.setdefault(result.exp, op)
            elif len(result.args) == arity and set(result.args) == set(operands):
                heads.setdefault(result.func, op)
    return heads, powers


def _probe(sp: Any, op: Op, operands: list[Any]) -> Any:
    """The op's rule on plain symbols, or None if it wants other operands or attributes."""
    try:
        result = op.sympy(sp, operands, {})
    except Exception:  # noqa: BLE001 - wrong arity or needs attrs: not a plain head
        return None
    return result if isinstance(result, sp.Basic) else None


def supported_functions() -> list[str]:
    """The SymPy heads `from_sympy` understands, by name (for error messages and the CLI)."""
    heads, _ = reverse_table()
    return sorted({_head_name(h) for h in heads} | {"Piecewise", "sqrt"})


def from_sympy(expr: Any, inputs: Mapping[Any, Any]) -> Any:
    """A graph computing the SymPy expression ``expr``.

    ``inputs`` maps each free symbol (a SymPy symbol, or its name) to a graph node; numbers are
    lifted to constants. ``expr`` may also be a list of expressions (a list of nodes comes back)
    or a SymPy matrix (its elements are stacked into one node). A SymPy function with no
    registry op raises `SymbolicError` naming it.
    """
    sp = sympy_module()
    builder = _Builder(sp, _by_name(inputs))
    if isinstance(expr, (list, tuple)):
        return [builder.build(sp.sympify(e)) for e in expr]
    if isinstance(expr, sp.MatrixBase):
        rows = [shape_ops.stack([builder.build(e) for e in expr.row(i)])
                for i in range(expr.rows)]
        return shape_ops.stack(rows)
    return builder.build(sp.sympify(expr))


def _by_name(inputs: Mapping[Any, Any]) -> dict[str, Node]:
    table: dict[str, Node] = {}
    for key, value in inputs.items():
        name = key if isinstance(key, str) else getattr(key, "name", None)
        if name is None:
            raise SymbolicError(f"from_sympy: inputs keys must be symbols or names, got {key!r}")
        table[name] = as_node(value)
    return table


@dataclass
class _Plan:
    """How to build one expression: the subexpressions it needs, then how to combine them."""

    children: Sequence[Any]
    make: Callable[[list[Node]], Node]


class _Builder:
    def __init__(self, sp: Any, inputs: dict[str, Node]) -> None:
        self.sp = sp
        self.inputs = inputs
        self.heads, self.powers = reverse_table()
        self.memo: dict[Any, Node] = {}
        self.plans: dict[Any, _Plan] = {}

    def build(self, root: Any) -> Node:
        stack = [root]
        while stack:
            expr = stack[-1]
            if expr in self.memo:
                stack.pop()
                continue
            plan = self.plans.get(expr)
            if plan is None:
                plan = self.plans[expr] = self._plan(expr)
            missing = [c for c in plan.children if c not in self.memo]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            self.memo[expr] = plan.make([self.memo[c] for c in plan.children])
            del self.plans[expr]
        return self.memo[root]

    # --- one plan per kind of SymPy expression -------------------------------------------------
    def _plan(self, expr: Any) -> _Plan:
        sp = self.sp
        if isinstance(expr, sp.Symbol):
            return _Plan((), lambda _: self._symbol(expr))
        if (expr.is_Atom and expr.is_number) or isinstance(expr, sp.logic.boolalg.BooleanAtom):
            value = _python_number(sp, expr)
            return _Plan((), lambda _: constant(value))
        if isinstance(expr, sp.Add):
            return self._sum(expr)
        if isinstance(expr, sp.Mul):
            return self._product(expr)
        if isinstance(expr, sp.Pow):
            return self._power(expr)
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        op = self.heads.get(expr.func)
        if op is None:
            raise SymbolicError(
                f"from_sympy: SymPy function {_head_name(expr.func)} (in {_short(expr)}) has no "
                f"graphdl op; supported: {', '.join(supported_functions())}")
        return _Plan(expr.args, lambda nodes: _fold(op, nodes))

    def _symbol(self, symbol: Any) -> Node:
        node = self.inputs.get(symbol.name)
        if node is None:
            given = ", ".join(sorted(self.inputs)) or "none"
            raise SymbolicError(f"from_sympy: symbol {symbol.name} has no graph node in inputs "
                                f"(given: {given})")
        return node

    def _sum(self, expr: Any) -> _Plan:
        plus = [t for t in expr.args if not t.could_extract_minus_sign()]
        minus = [-t for t in expr.args if t.could_extract_minus_sign()]

        def make(nodes: list[Node]) -> Node:
            added, subtracted = nodes[:len(plus)], nodes[len(plus):]
            total = _chain(self.heads[self.sp.Add], added) if added else ew.negative(
                subtracted.pop(0))
            for term in subtracted:
                total = ew.subtract(total, term)
            return total

        return _Plan(plus + minus, make)

    def _product(self, expr: Any) -> _Plan:
        coefficient, factors = expr.as_coeff_mul()
        above = [f for f in factors if not _negative_power(f)]
        below = [f.base ** -f.exp for f in factors if _negative_power(f)]
        negate = coefficient == -1
        scale = None if coefficient in (1, -1) else _python_number(self.sp, coefficient)

        def make(nodes: list[Node]) -> Node:
            mul = self.heads[self.sp.Mul]
            top = _chain(mul, nodes[:len(above)]) if above else None
            if scale is not None:
                top = constant(scale) if top is None else ew.multiply(scale, top)
            result = top
            if below:
                bottom = _chain(mul, nodes[len(above):])
                result = ew.reciprocal(bottom) if top is None else ew.divide(top, bottom)
            return ew.negative(result) if negate else result

        return _Plan(above + below, make)

    def _power(self, expr: Any) -> _Plan:
        base, exponent = expr.args
        if exponent in self.powers:
            op = self.powers[exponent]
            return _Plan((base,), lambda nodes: apply(op, nodes[0]))
        if exponent.is_Number and -exponent in self.powers:
            op = self.powers[-exponent]
            return _Plan((base,), lambda nodes: ew.reciprocal(apply(op, nodes[0])))
        return _Plan((base, exponent), lambda nodes: ew.power(nodes[0], nodes[1]))

    def _piecewise(self, expr: Any) -> _Plan:
        pairs = list(expr.args)
        children = [part for pair in pairs for part in (pair.expr, pair.cond)]

        def make(nodes: list[Node]) -> Node:
            values, conditions = nodes[0::2], nodes[1::2]
            last = pairs[-1]
            result = (values[-1] if last.cond == self.sp.true
                      else ew.where(conditions[-1], values[-1], float("nan")))
            for value, condition in zip(reversed(values[:-1]), reversed(conditions[:-1])):
                result = ew.where(condition, value, result)
            return result

        return _Plan(children, make)


def _fold(op: Op, nodes: list[Node]) -> Node:
    """``op`` over the operands, left to right (SymPy's Add, Mul, Max, And... are n-ary)."""
    result = apply(op, nodes[0]) if len(nodes) == 1 else apply(op, nodes[0], nodes[1])
    for node in nodes[2:]:
        result = apply(op, result, node)
    return result


def _chain(op: Op, nodes: list[Node]) -> Node:
    """The terms of a sum or the factors of a product combined (one term is itself)."""
    return nodes[0] if len(nodes) == 1 else _fold(op, nodes)


def _negative_power(factor: Any) -> bool:
    return factor.is_Pow and factor.exp.is_Number and factor.exp.is_negative


def _python_number(sp: Any, value: Any) -> Any:
    """A SymPy number as a Python number, so it becomes a weak constant (float32 stays float32)."""
    if value is sp.true or value is sp.false:
        return bool(value)
    if value.is_Integer:
        return int(value)
    if value.is_real is False or value is sp.zoo:
        raise SymbolicError(f"from_sympy: {value} is not a real number")
    return float(value)


def _head_name(head: Any) -> str:
    return getattr(head, "__name__", str(head))


def _short(expr: Any, limit: int = 60) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 3] + "..."

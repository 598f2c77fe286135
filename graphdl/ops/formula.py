"""The formula language: a formula typed as text (``"log(x1) + x1*x2 - sin(x2)"``) as a graph.

One language for every place that reads a formula (``graphdl trace``, ``graphdl compare``,
``gd.trace`` and ``gd.compare`` given a string). Nothing is executed: the text is parsed with
Python's ``ast`` module and only this is accepted, each piece turned directly into graph nodes:

- input names (a letter, then letters, digits or underscores) and real numbers;
- ``+ - * / **``, unary ``-`` and ``+``, parentheses;
- calls, with positional arguments, of the functions in `functions`: every elementwise op of the
  registry that needs no attributes and has a SymPy form (so ``gd.compare`` can read it too), under
  the name of its public function (``gd.sin`` -> ``sin``), plus the aliases in `ALIASES`;
- the constants in `CONSTANTS`.

Anything else (attribute access, subscripts, keywords, strings, lambdas, ``__import__('os')``...)
is refused with the offending piece named. The functions are read off the registry, so an op added
with a SymPy form becomes usable in formulas without touching this module.

Arithmetic between two numbers is done here, as Python would do it in a script
(``x * 2**-1`` multiplies by 0.5), within bounds: a constant power whose result would exceed the
float range (``9**9**9**9``) is refused instead of computed. Formulas are limited to `MAX_LENGTH`
characters and `MAX_DEPTH` levels of nesting, so neither this parser nor SymPy runs out of stack.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from graphdl.errors import GraphError
from graphdl.ir.node import Node
from graphdl.ops.leaves import scalar, tensor
from graphdl.ops.registry import REGISTRY, Op, apply, as_node

MAX_LENGTH = 10_000  # characters
MAX_DEPTH = 500  # nested operators and calls (Python's own parser gives up near 1000)
MAX_CONSTANT = 2.0**1023  # a constant power beyond this is refused: no float holds it
ALIASES = {"ln": "log", "max": "maximum", "min": "minimum"}
CONSTANTS = {"pi": math.pi, "e": math.e, "E": math.e}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_ARITHMETIC = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
               ast.Pow: "power"}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_INT64 = 2**63


class FormulaError(GraphError, ValueError):
    """The formula uses something outside the formula language, or exceeds its bounds."""


class Function:
    """A function of the formula language: the registry op it builds and how many operands."""

    def __init__(self, name: str, op: Op, arity: int) -> None:
        self.name, self.op, self.arity = name, op, arity

    def __call__(self, *args: Any) -> Node:
        return apply(self.op, *args)

    def __repr__(self) -> str:
        return f"<formula function {self.name}/{self.arity} -> op {self.op.name}>"


_CACHE: dict[int, dict[str, Function]] = {}


def functions() -> dict[str, Function]:
    """The functions a formula may call, by name (aliases included), derived from the registry:
    every elementwise op that takes no attributes and has a SymPy form. Its arity is the number
    of operands its NumPy emission takes."""
    key = len(REGISTRY)
    if key not in _CACHE:
        table: dict[str, Function] = {}
        for op in list(REGISTRY.values()):
            arity = _arity(op) if op.elementwise and op.sympy is not None else None
            if arity is not None and _NAME.match(op.name):
                table[op.name] = Function(op.name, op, arity)
        for alias, target in ALIASES.items():
            if target in table:
                table[alias] = Function(alias, table[target].op, table[target].arity)
        _CACHE.clear()
        _CACHE[key] = dict(sorted(table.items()))
    return _CACHE[key]


def _arity(op: Op) -> int | None:
    """The fewest operands the op's emission and shape rule accept without attributes (None if
    it needs attributes, like ``cast``)."""
    for count in (1, 2, 3):
        names = [f"a{i}" for i in range(count)]
        try:
            op.emit_expr(names, {})
            op.infer([scalar(n) for n in names], {})
        except Exception:  # noqa: BLE001 - wrong operand count, or attributes needed
            continue
        return count
    return None


def describe_language() -> str:
    """One line listing what a formula may contain (used in error messages and help texts)."""
    aliases = ", ".join(f"{a} = {t}" for a, t in ALIASES.items())
    names = ", ".join(n for n in functions() if n not in ALIASES)
    return (f"formulas may use input names, numbers, + - * / **, unary minus, the constants "
            f"{', '.join(CONSTANTS)} and the functions {names} (aliases: {aliases})")


def free_names(text: str) -> list[str]:
    """Names used as inputs in ``text`` (not functions or constants), in order of appearance."""
    tree = _parse(text)
    reserved = set(CONSTANTS) | set(functions())
    found = sorted((n.lineno, n.col_offset, n.id) for n in ast.walk(tree)
                   if isinstance(n, ast.Name) and n.id not in reserved)
    return list(dict.fromkeys(name for _, _, name in found))


def parse_formula(text: str, variables: Mapping[str, Node] | None = None,
                  dtype: Any = "float64") -> Node:
    """The graph of ``text``. ``variables`` maps input names to nodes; without it each name in
    the formula becomes a scalar input of ``dtype``, in order of appearance. Raises
    `FormulaError` for anything outside the language; nothing in ``text`` is executed."""
    tree = _parse(text)
    if variables is None:
        variables = {name: scalar(name, dtype) for name in free_names(text)}
    graph = as_node(_Builder(text.strip(), variables, functions()).build(tree.body))
    for name in variables:  # after the build, so a construct outside the language is named first
        check_input_name(name)
    return graph


def parse_formula_at(text: str, values: Mapping[str, Any]) -> tuple[Node, dict[str, Node]]:
    """The graph of ``text`` over one input per entry of ``values`` (name -> number or array),
    each shaped like its value (a float array keeps its dtype, anything else is float64), and
    those inputs by name. Every name given must appear in the formula and vice versa."""
    variables: dict[str, Node] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _NAME.match(name):
            check_input_name(name)
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise FormulaError(f"the value given for {name!r} is not a number or an array of "
                               f"numbers: {value!r}")
        dtype = array.dtype if array.dtype.kind == "f" else np.dtype("float64")
        variables[name] = scalar(name, dtype) if array.ndim == 0 else tensor(
            name, array.shape, dtype)
    graph = parse_formula(text, variables)
    used = free_names(text)
    unused = [name for name in variables if name not in used]
    if unused:
        raise FormulaError(f"{', '.join(map(repr, unused))} given a value but not used in the "
                           f"formula {_short(text)!r}")
    return graph, variables


def check_input_name(name: str) -> None:
    """Refuse an input name a formula could not refer to (a function, a constant, not a name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise FormulaError(f"{name!r} cannot be an input name in a formula (a letter, then "
                           "letters, digits or underscores)")
    if name in CONSTANTS:
        raise FormulaError(f"{name!r} is the constant {CONSTANTS[name]!r} in formulas; name the "
                           "input otherwise")
    if name in functions():
        raise FormulaError(f"{name!r} is a function in formulas; name the input otherwise")


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise FormulaError(f"a formula is a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula has {len(text)} characters, more than the limit of "
                           f"{MAX_LENGTH}")
    if not text.strip():
        raise FormulaError("the formula is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse {_short(text)!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise FormulaError(f"the formula nests deeper than the limit of {MAX_DEPTH} levels (each "
                           "operator in a chain such as x+x+...+x counts as one; split it, or "
                           "build the graph in Python)") from None
    depth = _depth(tree.body)
    if depth > MAX_DEPTH:
        raise FormulaError(f"the formula nests {depth} levels deep, more than the limit of "
                           f"{MAX_DEPTH} (split it, or build the graph in Python)")
    return tree


def _depth(root: ast.AST) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node)
                     if isinstance(child, ast.expr))
    return deepest


def _short(text: str, limit: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Builder:
    """Turns the syntax tree into nodes, iteratively (post-order), checking each piece."""

    def __init__(self, text: str, variables: Mapping[str, Node],
                 table: dict[str, Function]) -> None:
        self.text, self.variables, self.table = text, variables, table

    def reject(self, node: ast.AST, why: str, language: bool = False) -> FormulaError:
        """The error naming the piece at fault (and, for constructs outside the language, what
        the language offers)."""
        piece = ast.get_source_segment(self.text, node) or type(node).__name__
        return FormulaError(f"{why}: {_short(piece)!r}" + (
            f" ({describe_language()})" if language else ""))

    def build(self, root: ast.AST) -> Any:
        values: dict[int, Any] = {}
        stack: list[tuple[ast.AST, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            children = self.children(node)
            if not ready and children:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))
                continue
            values[id(node)] = self.combine(node, [values.pop(id(c)) for c in children])
        return values[id(root)]

    def children(self, node: ast.AST) -> list[ast.AST]:
        """The operands to build first; refuses any construct outside the language."""
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _ARITHMETIC:
                hint = " (write powers as **)" if isinstance(node.op, ast.BitXor) else ""
                raise self.reject(node, f"operator not allowed{hint}", True)
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise self.reject(node, "operator not allowed", True)
            return [node.operand]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in self.table:
                raise self.reject(node.func, "not an allowed function", True)
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise self.reject(node, "functions take plain positional arguments")
            function = self.table[node.func.id]
            if len(node.args) != function.arity:
                plural = "" if function.arity == 1 else "s"
                raise self.reject(node, f"{function.name} takes {function.arity} argument{plural}, "
                                        f"got {len(node.args)}")
            return list(node.args)
        if isinstance(node, (ast.Constant, ast.Name)):
            return []
        raise self.reject(node, "not allowed in a formula", True)

    def combine(self, node: ast.AST, args: list[Any]) -> Any:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            (operand,) = args
            if isinstance(node.op, ast.UAdd):
                return operand
            return apply(REGISTRY["negative"], operand) if isinstance(operand, Node) else -operand
        if isinstance(node, ast.BinOp):
            left, right = args
            if not isinstance(left, Node) and not isinstance(right, Node):
                return self.fold(node, left, right)
            return apply(REGISTRY[_ARITHMETIC[type(node.op)]], left, right)
        return self.table[node.func.id](*args)  # an ast.Call, checked in children()

    def number(self, node: ast.Constant) -> int | float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.reject(node, "only real numbers are allowed as constants")
        return _checked(self, node, value)

    def name(self, node: ast.Name) -> Any:
        if node.id in self.variables:
            return self.variables[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in self.table:
            raise self.reject(node, f"{node.id} is a function; call it")
        raise self.reject(node, f"unknown name {node.id!r} (give it a value)")

    def fold(self, node: ast.BinOp, left: int | float, right: int | float) -> int | float:
        """Arithmetic between two numbers, as Python does it, refusing what no float holds."""
        symbol = _SYMBOL[type(node.op)]
        if isinstance(node.op, ast.Pow):
            if left == 0 and right < 0:
                raise self.reject(node, "0 to a negative power is not a number")
            if left < 0 and not float(right).is_integer():
                raise self.reject(node, f"({left!r})**{right!r} is not a real number")
            if left != 0 and right * math.log2(abs(left)) > 1023:
                raise self.reject(node, f"the constant {left!r}**{right!r} is about "
                                        f"10^{right * math.log10(abs(left)):.0f}, beyond "
                                        "what a float holds")
        if isinstance(node.op, ast.Div) and right == 0:
            raise self.reject(node, f"division by zero in the constant {left!r}/{right!r}")
        try:
            value = {"+": lambda: left + right, "-": lambda: left - right,
                     "*": lambda: left * right, "/": lambda: left / right,
                     "**": lambda: left ** right}[symbol]()
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise self.reject(node, f"the constant cannot be computed ({exc})") from None
        return _checked(self, node, value)


def _checked(builder: _Builder, node: ast.AST, value: int | float) -> int | float:
    """A number the graph can hold: finite; an integer beyond int64 becomes a float."""
    if isinstance(value, int) and abs(value) >= _INT64:
        if abs(value) > MAX_CONSTANT:
            raise builder.reject(node, "the number is beyond what a float holds")
        value = float(value)
    if isinstance(value, complex) or not np.isfinite(value):
        raise builder.reject(node, f"{value!r} is not a finite real number")
    return value


__all__ = ["ALIASES", "CONSTANTS", "MAX_DEPTH", "MAX_LENGTH", "FormulaError", "Function",
           "check_input_name", "describe_language", "free_names", "functions", "parse_formula",
           "parse_formula_at"]

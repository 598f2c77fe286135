"""Parse a formula typed by a user (``"log(x1) + x1*x2 - sin(x2)"``) into SymPy, safely.

SymPy's ``parse_expr`` works by ``eval`` of Python code, so handing it a string from a command
line would run whatever Python the string holds (``__import__('os').system(...)``). Two locks:

1. the string is first parsed by Python's ``ast`` (parsing runs nothing) and checked against a
   whitelist: numbers, names, ``+ - * / **``, parentheses, and calls of known function names.
   Attribute access, subscripts, strings, lambdas, keywords, dunder names... are refused, naming
   the construct;
2. only then does SymPy's parser see it, with a namespace holding just the allowed functions, the
   formula's own symbols and the number constructors, and an empty ``__builtins__``.
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Any

from graphdl.symbolic.graph_to_sympy import SymbolicError, sympy_module
from graphdl.symbolic.sympy_to_graph import reverse_table

MAX_LENGTH = 10_000
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_ALIASES = {"abs": "Abs", "max": "Max", "min": "Min", "sqrt": "sqrt", "ln": "log"}
_CONSTANTS = ("pi", "E")
_RESERVED = ("Integer", "Float", "Rational")  # the number constructors SymPy's parser calls


def allowed_functions() -> dict[str, Any]:
    """Function names a formula may call: SymPy functions that map to a registry op (derived
    from the ops' rules, so this grows with the registry), plus ``sqrt`` and lower-case aliases."""
    sp = sympy_module()
    heads, _ = reverse_table()
    table = {}
    for head in heads:  # numeric functions only: operators and relations have their own syntax
        name = getattr(head, "__name__", "")
        if (_NAME.match(name) and isinstance(head, type) and issubclass(head, sp.Expr)
                and head not in (sp.Add, sp.Mul, sp.Pow)):
            table[name] = head
    for alias, target in _ALIASES.items():
        if target in table or target == "sqrt":
            table[alias] = table.get(target, sp.sqrt)
    return table


def parse_expression(text: str) -> tuple[Any, dict[str, Any]]:
    """``(expr, symbols)``: the SymPy expression and its symbols by name. The symbols are real
    (a typed formula is shallow, so SymPy's assumption queries stay cheap, and ``abs(x)`` then
    differentiates to ``sign(x)``). Raises `SymbolicError` for anything outside the whitelist;
    nothing in ``text`` is executed as Python."""
    sp = sympy_module()
    if not isinstance(text, str):
        raise SymbolicError(f"parse: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SymbolicError(f"parse: the formula has {len(text)} characters (limit {MAX_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise SymbolicError(f"parse: not a formula: {exc.msg} at column {exc.offset}") from None
    functions = allowed_functions()
    names = _check(tree, functions)
    symbols = {name: sp.Symbol(name, real=True) for name in sorted(names)
               if name not in _CONSTANTS}
    namespace: dict[str, Any] = {name: functions[name] for name in functions}
    namespace.update({"pi": sp.pi, "E": sp.E}, **symbols)
    constructors = {"Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
                    "__builtins__": {}}
    from sympy.parsing.sympy_parser import auto_number, parse_expr

    try:
        expr = parse_expr(text.strip(), local_dict=namespace, global_dict=constructors,
                          transformations=(auto_number,))
    except Exception as exc:  # noqa: BLE001 - e.g. a function called with the wrong arity
        raise SymbolicError(f"parse: SymPy could not read {text!r}: {exc}") from None
    return expr, {name: s for name, s in symbols.items() if s in expr.free_symbols}


def _check(tree: ast.Expression, functions: dict[str, Any]) -> set[str]:
    """The names the formula uses as symbols; raises on any construct outside the whitelist."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load, *_OPERATORS, ast.USub, ast.UAdd)):
            continue
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _OPERATORS:
                hint = " (write powers as **)" if isinstance(node.op, ast.BitXor) else ""
                raise SymbolicError(f"parse: operator {type(node.op).__name__} is not "
                                    f"allowed{hint}; use + - * / **")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise SymbolicError(f"parse: unary {type(node.op).__name__} is not allowed")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise SymbolicError(f"parse: only real numbers are allowed as constants, got "
                                    f"{node.value!r}")
        elif isinstance(node, ast.Call):
            _check_call(node, functions)
        elif isinstance(node, ast.Name):
            _check_name(node.id)
            if node.id not in functions:
                names.add(node.id)
        else:
            raise SymbolicError(f"parse: {_describe(node)} is not allowed in a formula")
    return names


def _check_call(node: ast.Call, functions: dict[str, Any]) -> None:
    if not isinstance(node.func, ast.Name):
        raise SymbolicError(f"parse: only named functions may be called, not "
                            f"{_describe(node.func)}")
    if node.func.id not in functions:
        raise SymbolicError(f"parse: unknown function {node.func.id!r}; allowed: "
                            f"{', '.join(sorted(functions))}")
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise SymbolicError(f"parse: {node.func.id}() takes plain arguments only")


def _check_name(name: str) -> None:
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise SymbolicError(f"parse: {name!r} is not allowed as a name (letters, digits and "
                            "underscores, starting with a letter)")
    if name in _RESERVED:
        raise SymbolicError(f"parse: {name!r} is reserved; choose another symbol name")


def _describe(node: ast.AST) -> str:
    what = {ast.Attribute: "attribute access", ast.Subscript: "subscripting",
            ast.Lambda: "a lambda", ast.Compare: "a comparison", ast.BoolOp: "and/or",
            ast.JoinedStr: "an f-string", ast.IfExp: "if/else"}.get(type(node))
    if isinstance(node, ast.Attribute):
        return f"attribute access (.{node.attr})"
    return what or f"{type(node).__name__}"

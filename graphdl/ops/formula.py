"""Reading a formula typed on the command line (``"log(x1) + x1*x2 - sin(x2)"``) as a graph.

Nothing is executed: the text is parsed with Python's ``ast`` module and only a small language
is accepted (names, numbers, ``+ - * / **``, unary minus, and calls of a whitelist of graphdl
functions), each turned directly into graphdl nodes. Anything else, such as attribute access,
subscripts, keywords, strings or ``__import__('os')``, is rejected with the offending piece named.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew

FUNCTIONS: dict[str, Callable[..., Node]] = {
    "log": ew.log, "ln": ew.log, "exp": ew.exp, "sin": ew.sin, "cos": ew.cos, "tan": ew.tan,
    "tanh": ew.tanh, "sqrt": ew.sqrt, "sigmoid": ew.sigmoid, "relu": ew.relu, "abs": ew.abs,
    "square": ew.square, "log1p": ew.log1p, "expm1": ew.expm1, "softplus": ew.softplus,
    "maximum": ew.maximum, "minimum": ew.minimum, "power": ew.power,
}
_BINARY = {ast.Add: ew.add, ast.Sub: ew.subtract, ast.Mult: ew.multiply, ast.Div: ew.divide,
           ast.Pow: ew.power}


class ExpressionError(ValueError):
    """The formula uses something outside the accepted language."""


def parse_expression(text: str, variables: Mapping[str, Node]) -> Node:
    """The graph of ``text`` over ``variables`` (name -> input node)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg}") from exc
    from graphdl.ops.registry import as_node

    return as_node(_Builder(text, variables).build(tree.body))


class _Builder:
    def __init__(self, text: str, variables: Mapping[str, Node]) -> None:
        self.text = text
        self.variables = variables

    def reject(self, node: ast.AST, why: str) -> ExpressionError:
        piece = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        allowed = ", ".join(sorted(FUNCTIONS))
        return ExpressionError(f"{why}: {piece!r} (formulas may use input names, numbers, "
                               f"+ - * / **, unary minus and the functions {allowed})")

    def build(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.build(node.left), self.build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            return -operand if not isinstance(operand, Node) else ew.negative(operand)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.reject(node, "only numbers are allowed as constants")
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return self.variables[node.id]
            if node.id in FUNCTIONS:
                raise self.reject(node, f"{node.id} is a function; call it")
            raise self.reject(node, f"unknown name {node.id!r} (give it a value with --at)")
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.reject(node, "not allowed in a formula")

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise self.reject(node.func, "not an allowed function")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.reject(node, "functions take plain positional arguments")
        function = FUNCTIONS[node.func.id]
        args = [self.build(a) for a in node.args]
        arity = 2 if node.func.id in ("maximum", "minimum", "power") else 1
        if len(args) != arity:
            raise self.reject(node, f"{node.func.id} takes {arity} argument(s), got {len(args)}")
        return function(*args)


def free_names(text: str) -> list[str]:
    """Names used as variables in ``text`` (not as functions), in order of first appearance."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg}") from exc
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = sorted((n.col_offset, n.id) for n in ast.walk(tree)
                   if isinstance(n, ast.Name) and id(n) not in called)
    return list(dict.fromkeys(name for _, name in found))

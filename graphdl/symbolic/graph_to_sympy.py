"""Graph -> SymPy: walk the graph once, in topological order, and ask each op's ``sympy`` rule.

Two readings of a graph:

- *elementwise*: when every computation is elementwise and every constant a single number, the
  graph is a scalar function applied to each element, so it reads as one SymPy expression with one
  symbol per input, whatever the inputs' shapes (even unknown ones);
- *expanded*: otherwise every input of static shape becomes an array of element symbols
  (``W_0_1`` for ``W[0, 1]``), every node a NumPy object array of SymPy expressions, and the
  outputs SymPy matrices. This needs static shapes and is meant for small ones.

Boolean values (comparisons) are SymPy relations; where an op with a numeric result reads a
boolean operand (``x * (x > 0)``), the relation reads as 1 or 0. SymPy is imported lazily: it
takes half a second, and ``import graphdl`` should not pay for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from graphdl.errors import GraphError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ir.walk import toposort
from graphdl.ops.registry import as_node

MAX_ELEMENTS = 4096  # per node, in the expanded reading: beyond that SymPy is the wrong tool
_LEAF_OPS = ("input", "shared", "constant")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class SymbolicError(GraphError, ValueError):
    """A graph SymPy cannot express, or a SymPy expression graphdl cannot build."""


def sympy_module() -> Any:
    import sympy

    return sympy


def to_sympy(outputs: Node | Iterable[Node], symbols: Mapping[Node, Any] | None = None,
             elementwise: bool | None = None, max_elements: int = MAX_ELEMENTS,
             real: bool = True) -> Any:
    """The SymPy form of ``outputs`` (one expression, or a list for a list of outputs).

    ``elementwise=None`` picks the elementwise reading when the graph allows it, else the
    expanded one (``False`` forces expansion, ``True`` refuses it). ``symbols`` overrides the
    symbol of an input or shared variable (a SymPy symbol, or an array of them when expanded);
    the default symbols are those of `input_symbols` (``real`` is passed on). An op without a
    SymPy rule raises `SymbolicError` naming it.
    """
    single = isinstance(outputs, Node)
    outs = [outputs] if single else [as_node(o) for o in outputs]
    order = toposort(outs)
    reading = _choose_reading(order, elementwise)
    sp = sympy_module()
    given = dict(symbols or {})
    defaults = input_symbols(outs, expanded=not reading, exclude=given, real=real)
    values: dict[Node, Any] = {}
    for node in order:
        if node.op.name in ("input", "shared"):
            chosen = given[node] if node in given else defaults[node]
            values[node] = chosen if reading else _leaf_cells(sp, chosen, node)
        elif node.op.name == "constant":
            values[node] = _constant(sp, node, reading)
        else:
            values[node] = _apply_rule(sp, node, [values[p] for p in node.inputs], reading)
        if not reading and values[node].size > max_elements:
            raise SymbolicError(f"to_sympy: {node.label()} has {values[node].size} elements, more "
                                f"than max_elements={max_elements}")
    results = [values[o] if reading else _finish(sp, values[o]) for o in outs]
    return results[0] if single else results


def input_symbols(outputs: Node | Iterable[Node], expanded: bool = False,
                  exclude: Iterable[Node] = (), real: bool = True) -> dict[Node, Any]:
    """The default SymPy symbol of each input and shared variable of ``outputs``.

    A symbol takes the node's name when that is a plain identifier, else ``v<id>``; a repeated
    name gets the id appended, so two inputs never share a symbol. Integer inputs are integer
    symbols, float inputs real ones: SymPy then differentiates ``Abs(x)`` to ``sign(x)`` (not
    the complex formula with ``re`` and ``im``), and its derivatives stay small and fast (for
    ``x -> tanh(a*x + b*x**2)`` nested 8 deep, sympy.diff takes 0.15 s with real symbols and
    70 s with plain ones). ``real=False`` gives plain symbols: SymPy queries fewer assumptions
    while it builds, which matters for very deep nestings (the same function nested 20 deep
    takes minutes to build with real symbols, 0.1 s with plain ones). With
    ``expanded=True`` each maps to an object array of element symbols, ``W_0_1`` for ``W[0, 1]``.
    Nodes in ``exclude`` get no entry (but still reserve their names).
    """
    sp = sympy_module()
    outs = [outputs] if isinstance(outputs, Node) else [as_node(o) for o in outputs]
    taken: set[str] = set()
    table: dict[Node, Any] = {}
    skipped = set(exclude)
    for node in toposort(outs):
        if node.op.name not in ("input", "shared"):
            continue
        base = node.name if node.name and _IDENTIFIER.match(node.name) else f"v{node.id}"
        name = base if base not in taken else f"{base}_{node.id}"
        taken.add(name)
        if node in skipped:
            continue
        assumptions = ({"integer": True} if node.dtype.kind in "iu" else
                       {"real": True} if real and node.dtype.kind == "f" else {})
        if not expanded:
            table[node] = sp.Symbol(name, **assumptions)
            continue
        if None in node.shape:
            raise SymbolicError(f"to_sympy: input {node.label()} has shape "
                                f"{fmt_shape(node.shape)}; the expanded reading (needed for "
                                "non-elementwise ops) takes static shapes only")
        cells = np.empty(node.shape, dtype=object)
        for index in np.ndindex(node.shape):
            label = "_".join([name, *map(str, index)])
            cells[index] = sp.Symbol(label, **assumptions)
        table[node] = cells
    return table


def _choose_reading(order: list[Node], elementwise: bool | None) -> bool:
    """True for the elementwise reading; raises if it was asked for but does not apply."""
    blocker = next((n for n in order if not _elementwise_node(n)), None)
    if elementwise is None:
        return blocker is None
    if elementwise and blocker is not None:
        raise SymbolicError(f"to_sympy: {blocker.label()} ({blocker.op.name}, created at "
                            f"{blocker.origin}) is not elementwise; use elementwise=False")
    return elementwise


def _elementwise_node(node: Node) -> bool:
    if node.op.name == "constant":
        value = np.asarray(node.attrs["value"])
        return value.size > 0 and bool(np.all(value == value.flat[0]))
    return node.op.name in _LEAF_OPS or node.op.elementwise


def sympy_number(sp: Any, value: Any) -> Any:
    """A NumPy or Python number as SymPy: booleans as true/false, integral values as integers,
    short binary fractions (0.5, 0.25) as rationals, other floats as SymPy floats."""
    if isinstance(value, (bool, np.bool_)):
        return sp.true if value else sp.false
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    number = float(value)
    if np.isnan(number):
        return sp.nan
    if np.isinf(number):
        return sp.oo if number > 0 else -sp.oo
    if number.is_integer():
        return sp.Integer(int(number))
    if (number * 1024).is_integer():
        return sp.Rational(number)
    return sp.Float(number)


def _constant(sp: Any, node: Node, elementwise: bool) -> Any:
    value = np.asarray(node.attrs["value"])
    if elementwise:
        return sympy_number(sp, value.flat[0])
    cells = np.empty(value.shape, dtype=object)
    for index in np.ndindex(value.shape):
        cells[index] = sympy_number(sp, value[index])
    return cells


def _apply_rule(sp: Any, node: Node, args: list[Any], elementwise: bool) -> Any:
    op = node.op
    if op.sympy is None:
        raise SymbolicError(f"to_sympy: op {op.name} has no SymPy form (node {node.label()}, "
                            f"created at {node.origin})")
    conditions = op.sympy_conditions
    if node.dtype.kind != "b":
        args = [_as_number(sp, a, elementwise) if p.dtype.kind == "b" and i not in conditions
                else a for i, (p, a) in enumerate(zip(node.inputs, args))]
    # a number used as a condition (``where(x, ...)``) means "nonzero", as in NumPy
    args = [_as_condition(sp, a, elementwise) if i in conditions and p.dtype.kind != "b"
            else a for i, (p, a) in enumerate(zip(node.inputs, args))]
    try:
        if elementwise:
            return op.sympy(sp, args, node.attrs)
        if op.elementwise:
            cell = np.frompyfunc(lambda *xs: op.sympy(sp, xs, node.attrs), len(args), 1)
            result = _object_array(cell(*args), node)
        else:
            result = _object_array(op.sympy(sp, args, node.attrs), node)
    except SymbolicError:
        raise
    except Exception as exc:
        raise SymbolicError(f"to_sympy: the SymPy rule of op {op.name} failed on node "
                            f"{node.label()} (created at {node.origin}): "
                            f"{type(exc).__name__}: {exc}") from exc
    if result.shape != node.shape:
        raise SymbolicError(f"to_sympy: the SymPy rule of op {op.name} gave shape "
                            f"{fmt_shape(result.shape)} for {node.label()} of shape "
                            f"{fmt_shape(node.shape)}")
    return result


def _as_number(sp: Any, value: Any, elementwise: bool) -> Any:
    """A SymPy boolean read as 1 or 0 (NumPy's reading of a bool in arithmetic)."""
    def one(b: Any) -> Any:
        b = sp.sympify(b)
        if b is sp.true or b is sp.false:
            return sp.Integer(int(b is sp.true))
        return sp.Piecewise((1, b), (0, True))

    return one(value) if elementwise else np.asarray(np.frompyfunc(one, 1, 1)(value), object)


def _as_condition(sp: Any, value: Any, elementwise: bool) -> Any:
    """A number read as a condition: true where nonzero (NumPy's reading)."""
    def one(x: Any) -> Any:
        return sp.Ne(sp.sympify(x), 0)

    return one(value) if elementwise else np.asarray(np.frompyfunc(one, 1, 1)(value), object)


def _object_array(value: Any, node: Node) -> np.ndarray:
    """``value`` as a NumPy object array (0-d for a single expression)."""
    if isinstance(value, np.ndarray):
        return value.astype(object, copy=False)
    array = np.empty((), dtype=object)
    array[()] = value
    return array if node.shape == () else np.broadcast_to(array, node.shape)


def _leaf_cells(sp: Any, chosen: Any, node: Node) -> np.ndarray:
    """A user's symbols for an input (one symbol, or an array-like of them) as an object array."""
    if isinstance(chosen, sp.Basic) and not isinstance(chosen, sp.MatrixBase):
        cells = _object_array(chosen, node)
    else:
        cells = np.array(chosen, dtype=object)
    if cells.shape != node.shape:
        if cells.size != np.prod(node.shape, dtype=int):
            raise SymbolicError(f"to_sympy: the symbols given for {node.label()} have shape "
                                f"{fmt_shape(cells.shape)}, expected {fmt_shape(node.shape)}")
        cells = cells.reshape(node.shape)
    return cells


def _finish(sp: Any, cells: np.ndarray) -> Any:
    """An expression for 0-d, a column matrix for 1-d, a matrix for 2-d, an N-d array beyond."""
    sympified = np.frompyfunc(sp.sympify, 1, 1)(cells) if cells.size else cells
    if cells.ndim == 0:
        return sympified if not isinstance(sympified, np.ndarray) else sympified[()]
    if cells.ndim <= 2:
        rows = np.reshape(sympified, (cells.shape[0], -1) if cells.ndim == 2 else (-1, 1))
        return sp.ImmutableMatrix(rows.tolist())
    return sp.ImmutableDenseNDimArray(sympified.tolist(), cells.shape)

"""Run-time sizes checked before any generated code runs.

Static shapes leave some sizes unknown (``f64[?,3]``), and a vectorized call adds leading axes
the graph never saw. NumPy would notice a clash halfway through the code, after earlier statements
(and in-place updates of shared variables) have run; a numba kernel relies on the sizes and would
read and write out of bounds. So before a call runs, every node that depends on such an argument
has its shape rule (``Op.infer``, the one that checks the graph when it is built) run again on the
arguments' actual shapes, and every update's new value must have its shared variable's declared
shape. A clash is reported naming the node, the user's line and the operands' run-time shapes
(or the shared variable and both shapes). An empty batch reaching a mean (0/0) or a max is an
`InputError` naming the input. Each pattern of argument shapes is checked once and
remembered, so a training loop pays for it at its first call only.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphdl.errors import GraphError, GraphRuntimeError, InputError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape

_REMEMBERED = 64  # argument-shape patterns kept per function (then forgotten all at once)


class SizeCheck:
    """Checks the run-time shapes of the arguments at ``positions`` against the whole graph."""

    def __init__(self, inputs: Sequence[Node], positions: Sequence[int],
                 schedule: Sequence[Node], updates: Sequence[Node],
                 targets: Sequence[Node]) -> None:
        self.positions = tuple(positions)
        self.inputs = [inputs[i] for i in self.positions]
        moving = set(self.inputs)
        self.nodes = []  # the nodes whose run-time shape may differ from their static one
        for node in schedule:
            if node.inputs and any(p in moving for p in node.inputs):
                moving.add(node)
                self.nodes.append(node)
        self.updates = [(v, t) for v, t in zip(updates, targets) if v in moving]
        self.seen: set[tuple] = set()

    def __call__(self, shapes: tuple) -> None:
        """Check ``shapes`` (of the arguments at ``positions``, in order); raises
        GraphRuntimeError naming the node or ShapeError naming the shared variable."""
        if shapes in self.seen:
            return
        actual: dict[Node, tuple] = dict(zip(self.inputs, shapes))
        probes: dict[Node, Node] = {}  # stand-ins with the run-time shape, made when needed
        for node in self.nodes:
            if node.op.elementwise:  # the common case: operands of one shape, or 0-d
                found = {actual.get(p, p.shape) for p in node.inputs}
                found.discard(())
                if len(found) == 1:
                    (shape,) = found
                    if None not in shape:
                        if shape != node.shape:
                            actual[node] = shape
                        continue
            operands = []
            for p in node.inputs:
                if p in actual and p not in probes:
                    probes[p] = p.over(p.inputs, actual[p], p.dtype)
                operands.append(probes.get(p, p))
            try:
                shape, _ = node.op.infer(tuple(operands), node.attrs)
            except GraphError as exc:
                raise _clash(node, exc, actual, self.inputs) from None
            except Exception:  # a rule that cannot take these operands: keep the static shape
                continue
            if tuple(shape) != node.shape:
                actual[node] = tuple(shape)
            if node.op.name in _NO_EMPTY:
                _refuse_empty(node, actual, self.inputs)
        for value, target in self.updates:
            shape = actual.get(value, value.shape)
            if shape != target.shape and None not in shape:
                raise ShapeError(
                    f"updates: the new value of shared {target.label()} has run-time shape "
                    f"{fmt_shape(shape)}, expected its declared shape {fmt_shape(target.shape)} "
                    "(an update never changes a shared variable's shape); nothing was updated")
        if len(self.seen) >= _REMEMBERED:
            self.seen.clear()
        self.seen.add(shapes)


# reductions with nothing to reduce: a mean is 0/0 (NaN, which a step would train on), max/min
# and argmax/argmin have no value at all
_NO_EMPTY = frozenset({"mean", "max", "min", "argmax", "argmin"})


def _refuse_empty(node: Node, actual: dict[Node, tuple], inputs: Sequence[Node]) -> None:
    shape = actual.get(node.inputs[0], node.inputs[0].shape)
    result = actual.get(node, node.shape)
    if None in shape or 0 not in shape or (None not in result and 0 in result):
        return
    empty = next((x for x in inputs if 0 in actual[x]), None)
    what = (f"input {empty.label()}: received an empty batch (shape {fmt_shape(actual[empty])})"
            if empty is not None else f"an empty operand (shape {fmt_shape(shape)})")
    raise InputError(f"{what}, and {node.op.name} node {node.label()} (created at "
                     f"{node.origin}) reduces over it: a {node.op.name} of no values is undefined")


def _clash(node: Node, exc: Exception, actual: dict[Node, tuple],
           inputs: Sequence[Node]) -> GraphRuntimeError:
    operands = "; ".join(
        f"{p.label()} {p.type_str()} (run-time shape {actual.get(p, p.shape)})"
        for p in node.inputs)
    upstream, seen, stack = set(), set(), [node]  # the arguments whose sizes reach the node
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            upstream.add(n)
            stack.extend(n.inputs)
    sources = ", ".join(f"{x.label()} {actual[x]}" for x in inputs if x in upstream)
    error = GraphRuntimeError(
        f"{node.op.name} node {node.label()} (created at {node.origin}) failed: "
        f"{type(exc).__name__}: {exc}; operands: {operands} (run-time sizes from inputs "
        f"{sources})")
    error.node = node
    return error

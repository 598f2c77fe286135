"""The emitter: a schedule of nodes in, straight-line NumPy source out.

One statement per computed node, in schedule order, each followed by a comment naming the node
(op, type, the user's name and line). Constants appear inline when they are scalars and are hoisted
into the function's namespace when they are arrays. An intermediate array is deleted right after
its last use, so peak memory stays close to hand-written code. Every op's expression comes from its
registry entry (`Op.emit_expr`); the emitter knows nothing about particular ops. A `Dialect` picks
each statement's expression: `NumpyDialect` (the default) takes the op's own NumPy emission, and
another backend passes its own (its lowerings live in the backend's own module, e.g.
`graphdl.codegen.numba_backend`), through the same emission loop. A dialect that ``fuses`` gets
single-use elementwise chains written as one statement (`plan_fusion`): numba compiles an
expression of array operators and ufuncs into one loop, but never fuses across statements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from graphdl.codegen import control
from graphdl.codegen.inplace import Plan, SameShape, _alias_roots, plan_inplace
from graphdl.codegen.names import Namer, comment_text
from graphdl.ir.node import Node
from graphdl.ops import kernels as runtime
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.ops.registry import code_modules


@dataclass
class Emitted:
    """Generated source and what is needed to run it and to explain its failures."""

    source: str
    function_name: str
    namespace: dict[str, Any]
    line_nodes: dict[int, Node] = field(default_factory=dict)  # source line -> node
    variables: dict[Node, str] = field(default_factory=dict)  # node -> expression or name


def literal(value: Any) -> str:
    """Python source for a scalar constant that keeps NumPy's meaning (weak or typed)."""
    if isinstance(value, np.generic):
        inner = literal(value.item())
        return f"np.{value.dtype.name}({inner})"
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "(-np.inf)"
        return repr(value) if value >= 0 else f"({value!r})"
    if isinstance(value, int):
        return repr(value) if value >= 0 else f"({value!r})"
    raise TypeError(f"no literal for {value!r}")


class _Attrs:
    """Renders attribute values as code, hoisting arrays into the namespace."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.count = 0

    def render(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            name = f"_k{self.count}"
            self.count += 1
            self.namespace[name] = value
            return _Raw(name)
        return value


class _Raw(str):
    """A string that formats as itself (not quoted) when an op's template uses ``{attr}``."""

    def __repr__(self) -> str:
        return str(self)


class Dialect(Protocol):
    """How a backend writes statements (see `emit_function`): `NumpyDialect` or another's."""

    namespace: dict[str, Any]  # names its expressions use, added to the generated module's
    deletes: bool  # whether ``del`` of dead temporaries is allowed (numba's nopython: no)
    fuses: bool  # whether single-use elementwise chains become one statement (`plan_fusion`)

    def constant(self, node: Node, render: Any) -> str:
        """Code for a constant node (``render`` hoists an array into the namespace)."""

    def expression(self, node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
        """The right-hand side assigned to ``var``, computing ``node`` from ``args``."""

    def into(self, node: Node, args: list[str], out: str) -> str:
        """The right-hand side computing ``node`` into the existing array ``out``."""


class NumpyDialect:
    """The NumPy backend: each op's own emission (`Op.emit_expr`, `Op.emit_into`), one statement
    per node, dead temporaries deleted."""

    namespace: dict[str, Any] = {}  # np and _rt are in every generated module
    deletes = True
    fuses = False

    def constant(self, node: Node, render: Any) -> str:
        value = node.attrs["value"]
        if isinstance(value, np.ndarray):
            return str(render(value))  # hoisted into the namespace
        return literal(value)

    def expression(self, node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
        return node.op.emit_expr(args, attrs)

    def into(self, node: Node, args: list[str], out: str) -> str:
        return node.op.emit_into(args, out=out)


NUMPY = NumpyDialect()


def emit_function(
    name: str,
    params: Sequence[Node],
    schedule: Sequence[Node],
    outputs: Sequence[Node],
    updates: Sequence[Node],
    title: str = "",
    update_targets: Sequence[Node] = (),
    same_shape: SameShape | None = None,
    dialect: Dialect | None = None,
) -> Emitted:
    """Source of ``def name(*params): ... return (outputs...), (updates...)``.

    With ``update_targets`` (the shared variable each update value is for), statements reuse dead
    buffers and update state in place where `graphdl.codegen.inplace` proves it invisible. A
    ``dialect`` writes the statements of another backend (same names, order and comments); the
    default is `NumpyDialect`.
    """
    dialect = NUMPY if dialect is None else dialect
    namer = Namer()
    namespace: dict[str, Any] = {"np": np, "_rt": runtime, **dialect.namespace}
    attrs = _Attrs(namespace)
    expr: dict[Node, str] = {}
    param_names = []
    for node in params:
        prefix = "s" if node.op is SHARED else "x"
        expr[node] = namer.name(node.name, prefix)
        param_names.append(expr[node])

    plan = plan_inplace(schedule, outputs, updates, update_targets, same_shape)
    schedule = plan.schedule
    for node in schedule:
        if node.op.modules:  # scipy.special for the special functions
            namespace.update(code_modules(node.op))
    inlined: dict[Node, Node] = {}
    if dialect.fuses:
        inlined = plan_fusion(plan, outputs, updates, dialect)
    fused: dict[Node, list[Node]] = {}  # statement -> the inlined nodes it computes
    last_use = _last_uses(schedule, outputs, updates)
    lines = [f"def {name}({', '.join(param_names)}):"]
    if title:
        lines.append(f"    # {comment_text(title, 200)}")
    line_nodes: dict[int, Node] = {}
    describe = _Describer()
    computed = [n for n in schedule if n.op is not INPUT and n.op is not SHARED]
    for node in computed:
        if node.op is CONSTANT:
            expr[node] = dialect.constant(node, attrs.render)
            continue
        args = [expr[p] for p in node.inputs]
        if node in inlined:  # computed inside its consumer's statement
            rendered = {k: attrs.render(v) for k, v in node.attrs.items()} if node.attrs else {}
            expr[node] = _parenthesized(dialect.expression(node, args, rendered, ""))
            fused[node] = [n for p in _unique(node.inputs) for n in fused.pop(p, [])] + [node]
            continue
        target = plan.writes_into.get(node)
        if inlined and target is not None and _fuses_into(node, target, inlined):
            target = None  # see `_fuses_into`
        var = namer.name(node.name)
        if node.op in control.STATEMENTS:  # a loop or branch: its statements, then the results
            code = control.emit_block(node, args, var, lines, control.Context(
                namer, attrs.render, describe, dialect))
        elif target is not None:
            code = dialect.into(node, args, expr[target])
        else:
            rendered = {k: attrs.render(v) for k, v in node.attrs.items()} if node.attrs else {}
            code = dialect.expression(node, args, rendered, var)
        expr[node] = var
        parts = [n for p in _unique(node.inputs) for n in fused.pop(p, [])] if fused else ()
        lines.append(f"    {var} = {code}  # {describe(node, var, parts)}")
        line_nodes[len(lines)] = node
        # even a 0-d node is deleted: elementwise graphs vectorize, so it may hold 10^6 values;
        # so is the operand the result was written into: its buffer lives on under the new name,
        # and the old name would otherwise keep it alive after the new one is deleted
        dead = [expr[p] for p in _unique(node.inputs) if last_use.get(p) is node
                and p.op is not INPUT and p.op is not SHARED and p.op is not CONSTANT
                and p not in inlined]
        if dead and dialect.deletes:
            lines.append(f"    del {', '.join(dead)}")
    outs = ", ".join(expr[o] for o in outputs)
    upds = ", ".join(expr[u] for u in updates)
    lines.append(f"    return ({outs}{',' if len(outputs) == 1 else ''}), "
                 f"({upds}{',' if len(updates) == 1 else ''})")
    return Emitted("\n".join(lines) + "\n", name, namespace, line_nodes, expr)


MAX_FUSED = 32  # nodes inlined into one statement: Python's parser nests at most 200 brackets


def plan_fusion(plan: Plan, outputs: Sequence[Node], updates: Sequence[Node],
                dialect: Dialect) -> dict[Node, Node]:
    """The elementwise nodes written inside their consumer's statement (node -> consumer).

    numba fuses one statement's array expression into one loop, so an Adam update written one
    node per statement streams every array 13 times. A node is inlined when its value is used
    once, by an elementwise node, and is neither returned nor a state update; the statement
    then computes it at its consumer's position, so the operands it reads must still hold the
    same values there: no buffer-reuse write (`plan_inplace`) into them may fall in between.
    Not across a broadcast either: an operand smaller than its consumer's result would be
    recomputed for every element of it (``np.exp(b) * x`` stays two statements). A long chain
    is cut every `MAX_FUSED` nodes.
    """
    order = plan.schedule
    uses: dict[Node, int] = {}
    consumer: dict[Node, Node] = {}
    for node in order:
        for parent in node.inputs:
            uses[parent] = uses.get(parent, 0) + 1
            consumer[parent] = node
    kept = set(outputs) | set(updates)
    position = {n: i for i, n in enumerate(order)}
    root = _alias_roots(order)
    writes_at: dict[Node, list[int]] = {}  # array -> statements writing into it (planned)
    for node, target in plan.writes_into.items():
        writes_at.setdefault(root.get(target, target), []).append(position[node])
    once: dict[Node, list[bool]] = {}
    inlined: dict[Node, Node] = {}
    evaluated: dict[Node, int] = {}  # inlined node -> position of the statement computing it
    statement: dict[Node, Node] = {}  # inlined node -> the node whose statement computes it
    size: dict[Node, int] = {}  # statement's node -> how many nodes are inlined into it
    for node in reversed(order):  # consumers first: where a node is computed follows from them
        user = consumer.get(node)
        if (user is None or uses[node] != 1 or node in kept or not node.inputs
                or not node.op.elementwise or not user.op.elementwise
                or not _spans(node, user)):
            continue
        top = statement.get(user, user)
        if size.get(top, 0) >= MAX_FUSED:
            continue
        if user not in once:
            once[user] = _operands_used_once(user, dialect)
        if not once[user][user.inputs.index(node)]:
            continue
        here, at = position[node], evaluated.get(user, position[user])
        reads = {root.get(p, p) for p in node.inputs}
        if any(here < w < at for r in reads for w in writes_at.get(r, ())):
            continue  # an operand is overwritten before the consumer's statement runs
        inlined[node] = user
        evaluated[node] = at
        statement[node] = top
        size[top] = size.get(top, 0) + 1
    return inlined


def _spans(node: Node, user: Node) -> bool:
    """``node`` has its consumer's shape, as far as static shapes tell (0-d values are scalars,
    computed once): an unknown size is taken to match, since a batch axis rarely broadcasts."""
    if node.ndim == 0:
        return True
    return node.ndim == user.ndim and all(
        a is None or a == b for a, b in zip(node.shape, user.shape))


def _operands_used_once(node: Node, dialect: Dialect) -> list[bool]:
    """Whether each operand appears once in the node's code (an inlined operand written twice
    would be computed twice)."""
    marks = [f"_operand{i}_" for i in range(len(node.inputs))]
    code = dialect.expression(node, marks, dict(node.attrs), "_result")
    return [code.count(m) == 1 for m in marks]


def _parenthesized(code: str) -> str:
    """``code`` as an operand: in parentheses unless it is one call (``np.sqrt(v3)``)."""
    if code.startswith("np.") and code.endswith(")"):
        depth = 0
        for i, char in enumerate(code):
            depth += (char == "(") - (char == ")")
            if depth == 0 and char == ")":
                return code if i == len(code) - 1 else f"({code})"
    return f"({code})"


def _fuses_into(node: Node, target: Node, inlined: dict[Node, Node]) -> bool:
    """Whether a statement with inlined operands computes a new array rather than writing into
    the dead temporary the buffer-reuse plan gave it. numba cannot fuse a ufunc given its
    output: ``np.add(v3, (a * b), v3)`` first computes ``a * b`` into a temporary. A new array
    takes one pass (``a * b + v3``); shared state still takes its update in place (two passes).
    The target may itself be inlined, with no array of its own to write into."""
    return target in inlined or (target.op is not SHARED and any(
        p in inlined for p in node.inputs))


class _Describer:
    """The comment after a statement: op, type, the user's name and line. Types and lines
    repeat across a graph, so each distinct one is rendered once (10^5-node graphs)."""

    def __init__(self) -> None:
        self._types: dict[tuple, str] = {}
        self._origins: dict[str, str] = {}

    def __call__(self, node: Node, var: str, fused: Sequence[Node] = ()) -> str:
        key = (node.dtype, node.shape)
        type_str = self._types.get(key)
        if type_str is None:
            type_str = self._types[key] = node.type_str()
        text = f"{node.op.name} {type_str}"
        if fused:  # the ops inlined into this statement, in the order they were scheduled
            text += f" <- {', '.join(n.op.name for n in fused)}"
        if node.name and node.name != var:
            text += f" {comment_text(node.name, 40)!r}"
        origin = node.origin
        if origin and origin != "?":
            where = self._origins.get(origin)
            if where is None:
                where = self._origins[origin] = f" ({comment_text(origin, 60)})"
            text += where
        return text


def _unique(nodes: Sequence[Node]) -> list[Node]:
    if len(nodes) == 1:
        return list(nodes)
    seen: list[Node] = []
    for n in nodes:
        if all(n is not s for s in seen):
            seen.append(n)
    return seen


def _last_uses(schedule: Sequence[Node], outputs: Sequence[Node],
               updates: Sequence[Node]) -> dict[Node, Node | None]:
    """For each node, the last scheduled node reading it (None when returned at the end)."""
    last: dict[Node, Node | None] = {}
    for node in schedule:
        for parent in node.inputs:
            last[parent] = node
    for node in list(outputs) + list(updates):
        last[node] = None
    return last

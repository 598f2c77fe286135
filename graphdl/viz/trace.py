"""Evaluation traces: the lecture's primal, tangent and adjoint tables for any graph.

``gd.trace(f, at={x1: 2, x2: 5}, mode="reverse")`` numbers the graph the way the survey does
(inputs v_{-n+1} .. v_0 in the order of ``at``, then intermediates v_1, v_2, ... in evaluation
order, each as early as its operands allow) and lists one row per step with its formula, the
formula with numbers filled in, and its value.

Every number comes from the engine: the graph *as written* (not optimized) is compiled with
``gd.function(..., optimize=False)`` returning every intermediate. Tangents are those graphdl's
forward sweep builds (`graphdl.autodiff.forward`); adjoint rows are the accumulations
``v̄_j = v̄_j + v̄_i ∂v_i/∂v_j`` graphdl's reverse sweep makes (`graphdl.autodiff.reverse`),
one row each, in its order, recorded through the sweeps' ``observe`` hook: there is no second
copy of either sweep here. Only the text comes from `graphdl.viz.formulas`.

The trace differentiates the graph as written. ``gd.grad`` first rewrites numerically unstable
forms (``log(softmax(z))`` becomes ``log_softmax(z)``, see `graphdl.rewriting.stabilize`) when
every ``wrt`` is a leaf, so for such a graph the trace shows the written form's adjoints (which
may be ``inf`` or ``nan`` where the stable form's are finite) and says so in ``Trace.notes``,
printed under the tables; on every other graph the trace's adjoints are the nodes ``gd.grad``
builds, step for step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from graphdl.autodiff.forward import tangents as forward_sweep
from graphdl.autodiff.reverse import adjoints as reverse_sweep
from graphdl.errors import DifferentiationError, InputError
from graphdl.ir.node import Node
from graphdl.ir.walk import depth_order, toposort
from graphdl.ops.formula import parse_formula_at
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED, tensor
from graphdl.ops.registry import as_node
from graphdl.viz import formulas as fx

Mode = Literal["primal", "forward", "reverse"]
TITLES = {
    "primal": "Forward primal trace",
    "tangent": "Forward tangent (derivative) trace",
    "adjoint": "Reverse adjoint (derivative) trace",
}


@dataclass(frozen=True)
class Row:
    """One line of a trace table: ``target = chain = expression = numbers = value``.

    ``kind`` is ``primal``, ``tangent`` or ``adjoint``; ``section`` is ``inputs``, ``body`` or
    ``outputs`` (the tables draw a rule between sections). ``chain`` is the chain-rule form of an
    adjoint step (``v̄_{-1} + v̄_1 ∂v_1/∂v_{-1}``); ``numbers`` the formula with values
    filled in (``0.693 + 10``), empty when an operand is an array.
    """

    kind: str
    section: str
    target: str
    expression: str
    value: Any
    text_value: str
    chain: str = ""
    numbers: str = ""
    node: Node | None = None

    def __str__(self) -> str:
        parts = [p for p in (self.chain, self.expression, self.numbers) if p]
        return " = ".join([self.target, *parts, self.text_value])


@dataclass(frozen=True)
class AdjointStep:
    """v̄_parent (+)= v̄_node ∂node/∂parent, as nodes of the engine's own VJP rules."""

    parent: Node
    node: Node
    slot: int
    contribution: Node
    total: Node
    accumulates: bool


def lecture_order(outputs: Sequence[Node]) -> list[Node]:
    """The non-leaf nodes in the survey's evaluation order: by depth (longest path from a leaf),
    ties broken by the depth-first order. For ln(x1) + x1*x2 - sin(x2) this gives
    ln, ×, sin, +, − (v_1 .. v_5), as in the lecture. The reverse sweep visits nodes in this
    order backwards (`graphdl.ir.walk.depth_order`), so the adjoint rows run v_n .. v_1."""
    return [node for node in depth_order(outputs) if not node.is_leaf]


class Trace:
    """The rows of an evaluation trace and the values behind them.

    ``str(trace)`` is an aligned text table; ``to_markdown()``, ``to_html()`` (what Jupyter
    shows), ``to_latex()``; ``to_dot()`` draws the graph annotated with the values.
    """

    def __init__(self, outputs: list[Node], mode: str, variables: list[Node],
                 constants: list[Node], body: list[Node], labels: dict[Node, str],
                 names: dict[Node, str], values: dict[Node, Any], tangents: dict[Node, Any],
                 adjoints: dict[Node, Any], rows: list[Row], digits: int,
                 notes: Sequence[str] = ()) -> None:
        self.outputs = outputs
        self.mode = mode
        self.variables = variables
        self.constants = constants
        self.body = body
        self.labels = labels
        self.names = names
        self.values = values
        self.tangents = tangents
        self.adjoints = adjoints
        self.rows = rows
        self.digits = digits
        self.notes = list(notes)  # printed under the tables (see `_stability_notes`)

    # --- lookups -----------------------------------------------------------------------------
    def label(self, node: Node) -> str:
        """``v_3`` for an intermediate, ``v_{-1}`` for an input."""
        return self.labels[node]

    def value(self, node: Node) -> Any:
        return self.values[node]

    def tangent(self, node: Node) -> Any:
        return self.tangents[node]

    def adjoint(self, node: Node) -> Any:
        """The final adjoint of ``node`` (d output / d node), zero when it has none."""
        return self.adjoints[node]

    @property
    def gradient(self) -> dict[Node, Any]:
        """The adjoints of the inputs: x̄ = d y / d x."""
        return {v: self.adjoints[v] for v in self.variables if v in self.adjoints}

    def table(self, kind: str) -> list[Row]:
        return [row for row in self.rows if row.kind == kind]

    def kinds(self) -> list[str]:
        return [k for k in ("primal", "tangent", "adjoint") if self.table(k)]

    # --- display -----------------------------------------------------------------------------
    def __str__(self) -> str:
        from graphdl.viz.tables import to_text

        return to_text(self)

    def __repr__(self) -> str:
        outs = ", ".join(self.labels[o] for o in self.outputs)
        return f"<Trace {self.mode}: {len(self.rows)} rows, outputs {outs}>"

    def to_markdown(self) -> str:
        from graphdl.viz.tables import to_markdown

        return to_markdown(self)

    def to_html(self, graph: bool = False, explorer: str | None = None) -> str:
        """HTML tables; ``explorer``: the address of this trace's explorer page (written by
        ``gd.render(trace, "graph.html")``), to which each row's name then links."""
        from graphdl.viz.tables import to_html

        return to_html(self, graph=graph, explorer=explorer)

    def to_latex(self) -> str:
        from graphdl.viz.tables import to_latex

        return to_latex(self)

    def to_dot(self, **options: Any):
        """The computation graph with each node's value (and tangent or adjoint)."""
        from graphdl.viz.dot import to_dot

        return to_dot(self, **options)

    def _repr_html_(self) -> str:
        return self.to_html(graph=True)


def trace(outputs: Node | Sequence[Node] | str, at: Mapping[Node | str, Any],
          mode: Mode = "primal", seed: Any = None, digits: int = 3) -> Trace:
    """Evaluate ``outputs`` at ``at`` and record the lecture's trace.

    ``mode="primal"``: the forward primal trace. ``"forward"``: also the tangent trace; ``seed``
    is the input to differentiate along (a node), or a mapping input -> tangent value (default:
    the first input gets 1, the others 0). ``"reverse"``: also the adjoint trace; ``seed`` is the
    output's cotangent (default 1, or a mapping output -> cotangent). ``at`` maps inputs (nodes
    or their names) to values; its order numbers the inputs; shared variables use their value.
    ``outputs`` may also be a formula in graphdl's formula language (`graphdl.ops.formula`,
    ``trace("log(x1) + x1*x2 - sin(x2)", at={"x1": 2, "x2": 5})``): ``at`` then gives each
    name's value, whose shape becomes the input's.
    """
    if mode not in ("primal", "forward", "reverse"):
        raise ValueError(f"trace: mode must be 'primal', 'forward' or 'reverse', got {mode!r}")
    if isinstance(outputs, str):  # a formula: one input per name in ``at``, shaped by its value
        outputs, inputs = parse_formula_at(outputs, at)
        at = {inputs[name]: value for name, value in at.items()}
    outs = [as_node(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    if not outs:
        raise ValueError("trace: no outputs given")
    given = _resolve_at(outs, at)
    variables = list(given) + [n for n in toposort(outs) if n.op is SHARED]
    constants = [n for n in toposort(outs) if n.op is CONSTANT]
    body = lecture_order(outs)
    labels, names = _labels(outs, variables, constants, body, digits)
    inputs = [v for v in variables if v.op is INPUT]
    args = [given[v] for v in inputs]

    from graphdl.codegen.function import function

    primal_nodes = variables + constants + body
    primal = function(inputs, primal_nodes, optimize=False, name="trace_primal")(*args)
    values = {n: np.asarray(v) for n, v in zip(primal_nodes, primal)}
    builder = _Rows(labels, names, values, digits)
    rows = builder.primal(variables, constants, body, outs)
    tangents: dict[Node, Any] = {}
    adjoints: dict[Node, Any] = {}
    if mode == "forward":
        tangents = _tangent_values(outs, variables, body, inputs, args, values, seed)
        rows += builder.tangent(variables, body, outs, tangents)
    elif mode == "reverse":
        seeds = _reverse_seeds(outs, values, seed, names)
        steps, step_values, finals = _adjoint_values(outs, variables, inputs, args, seeds)
        adjoints = {v: finals.get(v, np.zeros_like(values[v])) for v in variables + body}
        rows += builder.adjoint(outs, variables, steps, step_values, seeds, adjoints)
    notes = _stability_notes(outs) if mode != "primal" else []
    return Trace(outs, mode, variables, constants, body, labels, names, values, tangents,
                 adjoints, rows, digits, notes)


# --- inputs, labels ----------------------------------------------------------------------------
def _resolve_at(outs: list[Node], at: Mapping[Node | str, Any]) -> dict[Node, np.ndarray]:
    graph_inputs = [n for n in toposort(outs) if n.op is INPUT]
    by_name = {n.name: n for n in graph_inputs if n.name}
    given: dict[Node, np.ndarray] = {}
    for key, value in at.items():
        node = by_name.get(key) if isinstance(key, str) else key
        if not isinstance(node, Node) or node.op is not INPUT:
            known = ", ".join(sorted(by_name)) or "none"
            raise InputError(f"trace: at[{key!r}] is not an input of the graph (inputs: {known})")
        given[node] = np.asarray(value, dtype=node.dtype)
    missing = [n.label() for n in graph_inputs if n not in given]
    if missing:
        raise InputError(f"trace: no value for input(s) {', '.join(missing)} in at=")
    return given


def _labels(outs: list[Node], variables: list[Node], constants: list[Node], body: list[Node],
            digits: int) -> tuple[dict[Node, str], dict[Node, str]]:
    """``labels``: the v_k names (constants as their number or c_k); ``names``: how inputs and
    outputs are called in the first and last rows (the user's names, else x_i / y)."""
    labels: dict[Node, str] = {}
    names: dict[Node, str] = {}
    first = 1 - len(variables)
    for k, node in enumerate(variables):
        labels[node] = fx.var_label(first + k)
        names[node] = node.name or f"x_{k + 1}"
    arrays = 0
    for node in constants:
        inline = fx.operand_number(node.attrs["value"], digits)
        if inline is None:
            arrays += 1
            inline = f"c_{arrays}"
        labels[node] = inline
        names[node] = inline
    for k, node in enumerate(body, start=1):
        labels[node] = fx.var_label(k)
    taken = set(names.values())  # an output is never called like an input (y = y would mislead)
    base = next(b for b in ("y", "f", "g", "out") if not any(
        t == b or t.startswith(b + "_") for t in taken))
    for k, out in enumerate(outs, start=1):
        if out not in names:
            names[out] = out.name or (base if len(outs) == 1 else f"{base}_{k}")
    return labels, names


# --- derivative values from the engine ------------------------------------------------------
def _stability_notes(outs: list[Node]) -> list[str]:
    """A note when ``gd.grad``/``gd.jvp`` would differentiate another graph than the one traced:
    the stability rewrites they apply first (every ``wrt`` of a trace is a leaf) changed it."""
    from graphdl.rewriting import optimize

    _, report = optimize(outs, passes=["stabilize"])
    fired = sorted(report.rewrites)
    if not fired:
        return []
    return [f"gd.grad and gd.jvp differentiate a numerically stable form of this graph "
            f"({'; '.join(fired)}); the derivatives above are those of the graph as written"]


def _float_vars(variables: list[Node]) -> list[Node]:
    return [v for v in variables if v.dtype.kind == "f"]


def _tangent_values(outs, variables, body, inputs, args, values, seed) -> dict[Node, Any]:
    seeds = _forward_seeds(variables, values, seed)
    dot_inputs = {v: tensor(f"{v.label()}_dot", v.shape, v.dtype) for v in _float_vars(variables)}
    wanted: list[Node] = []  # the tangents graphdl's forward sweep builds, in its order
    dots = forward_sweep(outs, dot_inputs, observe=lambda node, tangent: wanted.append(node))
    from graphdl.codegen.function import function

    fn = function(inputs + list(dot_inputs.values()), [dots[n] for n in wanted] or [outs[0]],
                  optimize=False, name="trace_tangents")
    computed = fn(*args, *[seeds[v] for v in dot_inputs])
    result = {v: seeds.get(v, np.zeros_like(values[v])) for v in variables}
    result.update({n: np.zeros_like(values[n]) for n in body})
    result.update({n: np.asarray(c) for n, c in zip(wanted, computed)})
    return result


def _forward_seeds(variables: list[Node], values: dict[Node, Any], seed: Any
                   ) -> dict[Node, np.ndarray]:
    floats = _float_vars(variables)
    if seed is None:
        if not floats:
            raise DifferentiationError("trace(mode='forward'): the graph has no float inputs")
        seed = {floats[0]: 1.0}
    elif isinstance(seed, Node):
        seed = {seed: 1.0}
    elif not isinstance(seed, Mapping):
        raise TypeError("trace(mode='forward'): seed must be an input node or a mapping "
                        f"input -> tangent, got {type(seed).__name__}")
    by_name = {v.name: v for v in floats if v.name}
    chosen: dict[Node, np.ndarray] = {}
    for key, tangent in seed.items():
        node = by_name.get(key) if isinstance(key, str) else key
        if node not in floats:
            raise InputError(f"trace: seed for {key!r}, which is not a float input of the graph")
        shape = np.shape(values[node])
        chosen[node] = np.broadcast_to(np.asarray(tangent, dtype=node.dtype), shape).copy()
    return {v: chosen.get(v, np.zeros_like(values[v])) for v in floats}


def _reverse_seeds(outs: list[Node], values: dict[Node, Any], seed: Any,
                   names: dict[Node, str]) -> dict[Node, np.ndarray]:
    for out in outs:
        if out.dtype.kind != "f":
            raise DifferentiationError(f"trace(mode='reverse'): output {names[out]} has dtype "
                                       f"{out.dtype}; adjoints need a float output")
    if not isinstance(seed, Mapping):
        seed = {out: (1.0 if seed is None else seed) for out in outs}
    seeds = {}
    for out in outs:
        value = seed.get(out, 0.0)
        seeds[out] = np.broadcast_to(np.asarray(value, out.dtype), np.shape(values[out])).copy()
    return seeds


def _adjoint_values(outs, variables, inputs, args, seeds):
    """Run graphdl's reverse sweep (`graphdl.autodiff.reverse`) on the graph as written, seeded
    with the outputs' cotangents, record each accumulation it makes, and evaluate every recorded
    node with the engine."""
    wrt = _float_vars(variables)
    bar_inputs = {o: tensor(f"{o.label()}_bar", o.shape, o.dtype) for o in outs}
    steps: list[AdjointStep] = []

    def record(parent: Node, node: Node, slot: int, contribution: Node, total: Node) -> None:
        steps.append(AdjointStep(parent, node, slot, contribution, total,
                                 total is not contribution))

    bar = reverse_sweep(outs, [bar_inputs[o] for o in outs], wrt, observe=record)
    from graphdl.codegen.function import function

    wanted = [s.total for s in steps] + [bar[n] for n in bar]
    fn = function(inputs + list(bar_inputs.values()), wanted or [outs[0]], optimize=False,
                  name="trace_adjoints")
    computed = [np.asarray(v) for v in fn(*args, *[seeds[o] for o in outs])]
    step_values = computed[:len(steps)]
    finals = dict(zip(bar, computed[len(steps):]))
    return steps, step_values, finals


# --- rows ------------------------------------------------------------------------------------
class _Rows:
    """Builds the rows of each table from labels, values and the formula table."""

    def __init__(self, labels: dict[Node, str], names: dict[Node, str],
                 values: dict[Node, Any], digits: int) -> None:
        self.labels, self.names, self.values, self.digits = labels, names, values, digits

    def _fmt(self, value: Any) -> str:
        return fx.fmt_value(value, self.digits)

    def _numbers(self, nodes: Sequence[Node], table: dict[Node, Any]) -> list[str] | None:
        numbers = [fx.operand_number(table[n], self.digits) for n in nodes]
        return None if any(n is None for n in numbers) else numbers  # type: ignore[return-value]

    def primal(self, variables, constants, body, outs) -> list[Row]:
        rows = [Row("primal", "inputs", self.labels[v], self.names[v], self.values[v],
                    self._fmt(self.values[v]), node=v) for v in variables]
        rows += [Row("primal", "inputs", self.labels[c], "constant", self.values[c],
                     self._fmt(self.values[c]), node=c)
                 for c in constants if self.labels[c].startswith("c_")]
        for node in body:
            args = [self.labels[p] for p in node.inputs]
            numbers = self._numbers(node.inputs, self.values)
            rows.append(Row(
                "primal", "body", self.labels[node], fx.primal_formula(node, args),
                self.values[node], self._fmt(self.values[node]),
                numbers=fx.primal_formula(node, numbers) if numbers else "", node=node))
        rows += [Row("primal", "outputs", self.names[o], self.labels[o], self.values[o],
                     self._fmt(self.values[o]), node=o) for o in outs if o not in variables]
        return rows

    def tangent(self, variables, body, outs, tangents) -> list[Row]:
        rows = [Row("tangent", "inputs", fx.tangent_of(self.labels[v]),
                    fx.tangent_of(self.names[v]), tangents[v], self._fmt(tangents[v]), node=v)
                for v in variables if v in tangents]
        for node in body:
            has = [p in tangents for p in node.inputs]
            dots = [fx.tangent_of(self.labels[p]) if h else None
                    for p, h in zip(node.inputs, has)]
            args = [self.labels[p] for p in node.inputs]
            expression = fx.tangent_formula(node, dots, args, self.labels[node])
            numbers = ""
            arg_numbers = self._numbers(node.inputs, self.values)
            dot_numbers = [fx.operand_number(tangents[p], self.digits) if h else None
                           for p, h in zip(node.inputs, has)]
            out_number = fx.operand_number(self.values[node], self.digits)
            if arg_numbers and out_number and all(
                    d is not None for d, h in zip(dot_numbers, has) if h):
                numbers = fx.tangent_formula(node, dot_numbers, arg_numbers, out_number)
            if numbers == expression:
                numbers = ""
            rows.append(Row("tangent", "body", fx.tangent_of(self.labels[node]), expression,
                            tangents[node], self._fmt(tangents[node]), numbers=numbers,
                            node=node))
        rows += [Row("tangent", "outputs", fx.tangent_of(self.names[o]),
                     fx.tangent_of(self.labels[o]), tangents[o], self._fmt(tangents[o]), node=o)
                 for o in outs if o not in variables and o in tangents]
        return rows

    def adjoint(self, outs, variables, steps, step_values, seeds, adjoints) -> list[Row]:
        bar = fx.adjoint_of
        rows = [Row("adjoint", "inputs", bar(self.labels[o]), bar(self.names[o]), seeds[o],
                    self._fmt(seeds[o]), node=o) for o in outs if o not in variables]
        for step, value in zip(steps, step_values):
            target = bar(self.labels[step.parent])
            g = bar(self.labels[step.node])
            out = self.labels[step.node]
            args = [self.labels[p] for p in step.node.inputs]
            chain = f"{g} {fx.derivative_symbol(out, args[step.slot])}"
            expression = fx.adjoint_contribution(step.node, step.slot, g, args, out)
            if step.accumulates:
                chain, expression = f"{target} + {chain}", f"{target} + {expression}"
            rows.append(Row("adjoint", "body", target, expression, value, self._fmt(value),
                            chain=chain, node=step.parent))
        rows += [Row("adjoint", "outputs", bar(self.names[v]), bar(self.labels[v]),
                     adjoints[v], self._fmt(adjoints[v]), node=v)
                 for v in _float_vars(variables)]
        return rows

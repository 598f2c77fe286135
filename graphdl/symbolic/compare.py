"""Symbolic versus automatic differentiation of one scalar function, measured side by side.

The lecture's contrast made concrete: SymPy differentiates the expression *tree*, so a
subexpression used twice is differentiated twice and the derivative can grow exponentially with
nesting (expression swell; ``sympy.cse`` can share it again afterwards, at a cost). graphdl's
reverse sweep works on the *graph*: each node is visited once, the gradient graph reuses the
forward nodes, and its size stays within a constant factor of the function's.

`compare` differentiates both ways, compiles both (``sympy.lambdify`` with CSE, ``gd.function``),
evaluates both over the same N points, and reports sizes, times and how far apart the two
gradients are (they should agree to rounding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from graphdl.autodiff import grad
from graphdl.codegen import function
from graphdl.ir.graph import count_nodes
from graphdl.ir.node import Node
from graphdl.ir.walk import graph_inputs, toposort
from graphdl.ops.elementwise import sin
from graphdl.ops.formula import FormulaError, free_names, parse_formula
from graphdl.ops.leaves import scalar
from graphdl.symbolic.graph_to_sympy import SymbolicError, input_symbols, sympy_module, to_sympy
from graphdl.symbolic.report import Comparison
from graphdl.symbolic.sympy_to_graph import from_sympy, reverse_table


def compare(cost: Node | str | Any, wrt: Any = None, at: Mapping[Any, float] | None = None,
            n_points: int = 10_000, seed: int = 0, repeats: int = 3,
            spread: float = 0.25, symbolic: bool = True) -> Comparison:
    """Differentiate ``cost`` symbolically (SymPy) and automatically (graphdl) and compare.

    ``cost`` is a scalar graph over scalar inputs, a SymPy expression, or a formula string in
    graphdl's formula language (`graphdl.ops.formula`: read into a graph, which SymPy then
    reads with `to_sympy`; nothing in it runs as Python, and its size is bounded). ``wrt``
    names the variables (nodes, symbols or names; default: every input). ``at`` gives the point
    of interest by name or node (unlisted variables sit at 1.0); the N evaluation points are that
    point and random points within ``spread * max(|value|, 1)`` of it. Evaluation times are the
    best of ``repeats``.
    ``symbolic=False`` skips SymPy's side (its fields are None): for nestings where the
    expression swell would keep sympy.diff busy for hours.
    """
    sp = sympy_module()
    _warm_up(sp)
    try:
        problem = _Problem.make(sp, cost, wrt, symbolic)
    except RecursionError:
        raise _too_deep("convert the function") from None
    points = problem.points(at or {}, n_points, seed, spread)
    report: dict[str, Any] = {
        "expression": str(problem.expr) if problem.expr is not None else (
            f"<graph {problem.cost.label()}, not converted to SymPy>"),
        "wrt": [str(s) for s in problem.wrt_symbols],
        "at": {name: float(p[0]) for name, p in zip(problem.names, points)},
        "n_points": n_points,
    }
    automatic, graphdl_grads, value = _automatic_side(problem, points, repeats)
    report.update(automatic)
    report["value_at"] = value
    report["grad_at_graphdl"] = [float(g[0]) for g in graphdl_grads]
    if symbolic:
        try:
            measured, sympy_grads = _symbolic_side(sp, problem, points, repeats)
        except RecursionError:
            raise _too_deep("differentiate or compile the function") from None
        report.update(measured)
        report["grad_at_sympy"] = [float(g[0]) for g in sympy_grads]
        report["max_abs_diff"], report["max_rel_diff"] = _disagreement(graphdl_grads, sympy_grads)
    return Comparison(**report)


def _too_deep(what: str) -> SymbolicError:
    return SymbolicError(f"compare: SymPy ran out of stack trying to {what}: it recurses once "
                         "per level of nesting, and this function nests too deeply for it "
                         "(symbolic=False measures graphdl's side alone)")


class _Problem:
    """The cost as both a SymPy expression and a graph, over the same scalar variables."""

    def __init__(self, expr: Any, cost: Node, inputs: list[Node], symbols: list[Any],
                 wrt_nodes: list[Node]) -> None:
        self.expr, self.cost, self.inputs, self.symbols = expr, cost, inputs, symbols
        self.names = [str(s) for s in symbols]
        self.wrt_nodes = wrt_nodes
        self.wrt_symbols = [symbols[inputs.index(w)] for w in wrt_nodes]

    @classmethod
    def make(cls, sp: Any, cost: Any, wrt: Any, symbolic: bool) -> _Problem:
        if isinstance(cost, Node):
            return cls._from_graph(cost, wrt, symbolic)
        if isinstance(cost, str):
            return cls._from_formula(cost, wrt, symbolic)
        expr = sp.sympify(cost)
        symbols = sorted(expr.free_symbols, key=lambda s: s.name)
        inputs = [scalar(s.name) for s in symbols]
        graph = from_sympy(expr, dict(zip(symbols, inputs)))
        return cls(expr, graph, inputs, symbols, _pick(inputs, [s.name for s in symbols], wrt))

    @classmethod
    def _from_formula(cls, text: str, wrt: Any, symbolic: bool) -> _Problem:
        """A formula in graphdl's formula language (`graphdl.ops.formula`): read into a graph over
        one scalar input per name (in alphabetical order); SymPy gets it from the graph."""
        try:
            names = sorted(free_names(text))
            inputs = [scalar(name) for name in names]
            cost = parse_formula(text, dict(zip(names, inputs)))  # refuses bad formulas first
            if not names:
                raise FormulaError(f"compare: {text.strip()!r} has no variables to differentiate "
                                   "with respect to")
        except FormulaError as exc:
            raise SymbolicError(str(exc)) from None
        return cls._from_graph(cost, wrt, symbolic, inputs)

    @classmethod
    def _from_graph(cls, cost: Node, wrt: Any, symbolic: bool,
                    order: list[Node] | None = None) -> _Problem:
        inputs = graph_inputs([cost])
        if order is not None:  # the caller's order, for the inputs the graph uses
            inputs = [n for n in order if n in inputs]
        order = toposort([cost])
        odd = [n for n in inputs if n.shape != ()] + ([cost] if cost.shape != () else [])
        if odd or any(n.op.name == "shared" for n in order):
            raise SymbolicError("compare: takes a scalar function of scalar inputs "
                                f"({', '.join(n.label() for n in odd) or 'shared variables'} "
                                "are not)")
        blocker = next((n for n in order if not (n.is_leaf or n.op.elementwise)), None)
        if blocker is not None:
            raise SymbolicError(f"compare: evaluates the function at many points in one call, so "
                                f"every op must be elementwise; {blocker.label()} "
                                f"({blocker.op.name}, created at {blocker.origin}) is not")
        table = input_symbols(cost)  # real symbols: see input_symbols for why
        expr = to_sympy(cost, elementwise=True) if symbolic else None
        symbols = [table[n] for n in inputs]
        return cls(expr, cost, inputs, symbols, _pick(inputs, [s.name for s in symbols], wrt))

    def points(self, at: Mapping[Any, float], n: int, seed: int, spread: float
               ) -> list[np.ndarray]:
        """One array of ``n`` values per input; element 0 is the point ``at`` itself."""
        by_name = {_name_of(k, self.inputs, self.names): float(v) for k, v in at.items()}
        unknown = set(by_name) - set(self.names)
        if unknown:
            raise SymbolicError(f"compare: at names {sorted(unknown)}, which are not variables "
                                f"of the function ({', '.join(self.names)})")
        rng = np.random.default_rng(seed)
        arrays = []
        for name, node in zip(self.names, self.inputs):
            center = by_name.get(name, 1.0)
            values = center + spread * max(abs(center), 1.0) * rng.uniform(-1.0, 1.0, n)
            values[0] = center
            arrays.append(values.astype(node.dtype))
        return arrays


def _name_of(key: Any, inputs: list[Node], names: list[str]) -> str:
    """A variable given as a node, a SymPy symbol or a name, as its name."""
    if isinstance(key, Node):
        return names[inputs.index(key)] if key in inputs else key.label()
    return str(key)


def _pick(inputs: list[Node], names: list[str], wrt: Any) -> list[Node]:
    if wrt is None:
        return list(inputs)
    wanted = [wrt] if isinstance(wrt, (str, Node)) or not isinstance(wrt, Iterable) else list(wrt)
    chosen = []
    for w in wanted:
        name = _name_of(w, inputs, names)
        if name not in names:
            raise SymbolicError(f"compare: cannot differentiate with respect to {name}: not a "
                                f"variable of the function ({', '.join(names)})")
        chosen.append(inputs[names.index(name)])
    return chosen


_warm: list[bool] = []


def _warm_up(sp: Any) -> None:
    """Pay the one-time costs (lambdify's first call imports its printers, about 0.2 s) once per
    process, before anything is timed, so neither side is charged for them."""
    if _warm:
        return
    x = sp.Symbol("x", real=True)
    sp.lambdify([x], [sp.diff(sp.sin(x) * x, x)], modules="numpy", cse=True)(1.0)
    v = scalar("x")
    function([v], grad(sin(v) * v, v))(1.0)
    _warm.append(True)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _best_time(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    result, best = _timed(fn)
    for _ in range(repeats - 1):
        result, seconds = _timed(fn)
        best = min(best, seconds)
    return result, best


def _full(values: Any, n: int) -> list[np.ndarray]:
    """Each gradient as a float array of n values (a constant derivative comes back as one)."""
    return [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in values]


def _symbolic_side(sp: Any, problem: _Problem, points: list[np.ndarray], repeats: int
                   ) -> tuple[dict[str, Any], list[np.ndarray]]:
    derivatives, diff_seconds = _timed(
        lambda: [_almost_everywhere(sp, sp.diff(problem.expr, s)) for s in problem.wrt_symbols])
    (replacements, reduced), cse_seconds = _timed(lambda: sp.cse(derivatives))
    shared_ops = sp.count_ops([r for _, r in replacements]) + sp.count_ops(reduced)
    compiled, lambdify_seconds = _timed(
        lambda: sp.lambdify(problem.symbols, derivatives, modules=_lambdify_modules(), cse=True))
    values, eval_seconds = _best_time(lambda: compiled(*points), repeats)
    return {
        "sympy_forward_ops": int(sp.count_ops(problem.expr)),
        "sympy_diff_seconds": diff_seconds,
        "sympy_grad_ops": int(sp.count_ops(derivatives)),
        "sympy_grad_ops_cse": int(shared_ops),
        "sympy_cse_seconds": cse_seconds,
        "sympy_lambdify_seconds": lambdify_seconds,
        "sympy_eval_seconds": eval_seconds,
    }, _full(values, len(points[0]))


def _lambdify_modules() -> list[str]:
    """NumPy, and SciPy first where installed: SymPy's erf, loggamma, digamma... need it."""
    try:
        import scipy.special  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["scipy", "numpy"]


def _almost_everywhere(sp: Any, derivative: Any) -> Any:
    """SymPy's derivative with graphdl's convention for piecewise-constant functions: their
    derivative is 0 (SymPy writes ``DiracDelta`` for sign's, and leaves floor's unevaluated;
    neither compiles to NumPy). Which SymPy heads are piecewise constant is read off the ops
    that declare ``zero_derivative``."""
    heads, _ = reverse_table()
    flat = tuple(head for head, op in heads.items() if op.zero_derivative)
    zeroed = derivative.replace(
        lambda e: isinstance(e, sp.DiracDelta) or (
            isinstance(e, sp.Derivative) and isinstance(e.expr, flat)),
        lambda e: sp.Integer(0))
    # floor(x / y)'s derivative comes as Subs(Derivative(floor(u), u), u, x / y): now Subs(0, ...)
    return zeroed.replace(lambda e: isinstance(e, sp.Subs), lambda e: e.doit())


def _automatic_side(problem: _Problem, points: list[np.ndarray], repeats: int
                    ) -> tuple[dict[str, Any], list[np.ndarray], float]:
    grads, grad_seconds = _timed(lambda: grad(problem.cost, problem.wrt_nodes))
    compiled, compile_seconds = _timed(lambda: function(problem.inputs, grads))
    values, eval_seconds = _best_time(lambda: compiled(*points), repeats)
    value_fn = function(problem.inputs, problem.cost)
    value = float(value_fn(*[p[:1] for p in points])[0])
    optimized = sum(1 for n in compiled.schedule if not n.is_leaf)
    note = "" if compiled.report is not None else (
        "the optimizer is not in place yet (graphdl.rewriting returns the graph unchanged), so "
        "the optimized size equals the raw one")
    return {
        "graphdl_forward_ops": count_nodes(problem.cost, include_leaves=False),
        "graphdl_grad_seconds": grad_seconds,
        "graphdl_grad_ops": count_nodes(grads, include_leaves=False),
        "graphdl_grad_ops_optimized": optimized,
        "graphdl_compile_seconds": compile_seconds,
        "graphdl_eval_seconds": eval_seconds,
        "optimizer_note": note,
    }, _full(values, len(points[0])), value


def _disagreement(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray]
                  ) -> tuple[float, float]:
    """Largest absolute and relative (to the larger magnitude) difference over all points.

    Points where both sides give the same non-finite value (both nan, or the same infinity) are
    skipped; a non-finite value on one side only is an infinite disagreement.
    """
    worst_abs = worst_rel = 0.0
    for a, b in zip(ours, theirs):
        both_finite = np.isfinite(a) & np.isfinite(b)
        same_special = ~both_finite & ((a == b) | (np.isnan(a) & np.isnan(b)))
        if np.any(~both_finite & ~same_special):
            return float("inf"), float("inf")
        a, b = a[both_finite], b[both_finite]
        if a.size == 0:
            continue
        diff = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float(rel.max()))
    return worst_abs, worst_rel

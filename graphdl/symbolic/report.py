"""`Comparison`: the result of `graphdl.compare`, as fields and as text, Markdown, HTML or JSON.

Sizes are counts of operations: ``sympy.count_ops`` for SymPy (over the expression *tree*, so a
subexpression used twice counts twice, which is what a naive evaluation computes), and the number
of non-leaf nodes for graphdl (a graph: a shared node counts once). ``sympy.cse`` turns the tree
back into a graph, so its count is the one to hold against graphdl's.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Comparison:
    """Symbolic (SymPy) against automatic (graphdl) differentiation of one scalar function."""

    expression: str
    wrt: list[str]
    at: dict[str, float]
    n_points: int
    value_at: float
    grad_at_graphdl: list[float]
    # automatic differentiation
    graphdl_forward_ops: int
    graphdl_grad_seconds: float
    graphdl_grad_ops: int
    graphdl_grad_ops_optimized: int
    graphdl_compile_seconds: float
    graphdl_eval_seconds: float
    optimizer_note: str
    # symbolic differentiation (None when compare(..., symbolic=False) skipped it)
    grad_at_sympy: list[float] | None = None
    sympy_forward_ops: int | None = None
    sympy_diff_seconds: float | None = None
    sympy_grad_ops: int | None = None
    sympy_grad_ops_cse: int | None = None
    sympy_cse_seconds: float | None = None
    sympy_lambdify_seconds: float | None = None
    sympy_eval_seconds: float | None = None
    # agreement of the two gradients over the points
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None

    # --- verdicts -------------------------------------------------------------------------------
    @property
    def symbolic(self) -> bool:
        """Whether SymPy's side was measured."""
        return self.sympy_diff_seconds is not None

    @property
    def sympy_prepare_seconds(self) -> float | None:
        """From expression to callable gradient: sympy.diff, then lambdify (which runs CSE)."""
        if not self.symbolic:
            return None
        return self.sympy_diff_seconds + self.sympy_lambdify_seconds

    @property
    def graphdl_prepare_seconds(self) -> float:
        """From graph to callable gradient: gd.grad, then gd.function (optimize and emit)."""
        return self.graphdl_grad_seconds + self.graphdl_compile_seconds

    @property
    def faster_prepare(self) -> tuple[str | None, float | None]:
        """``(winner, ratio)`` for getting a compiled gradient; ratio = slower / faster."""
        return _verdict(self.sympy_prepare_seconds, self.graphdl_prepare_seconds)

    @property
    def faster_eval(self) -> tuple[str | None, float | None]:
        """``(winner, ratio)`` for evaluating the gradient over the points."""
        return _verdict(self.sympy_eval_seconds, self.graphdl_eval_seconds)

    # --- representations --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sympy_prepare_seconds"] = self.sympy_prepare_seconds
        out["graphdl_prepare_seconds"] = self.graphdl_prepare_seconds
        out["faster_prepare"], out["prepare_ratio"] = self.faster_prepare
        out["faster_eval"], out["eval_ratio"] = self.faster_eval
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def rows(self) -> list[tuple[str, str, str]]:
        """The table: (what, symbolic, automatic)."""
        n = self.n_points
        what = ["function size (ops)", "differentiate", "gradient size, raw (ops)",
                "gradient size, shared (ops)", "compile",
                f"evaluate at {n} point{'s' if n != 1 else ''}"]
        symbolic = ["not measured"] * len(what) if not self.symbolic else [
            f"{self.sympy_forward_ops}",
            f"{_time(self.sympy_diff_seconds)} (sympy.diff)",
            f"{self.sympy_grad_ops}",
            f"{self.sympy_grad_ops_cse} (sympy.cse, {_time(self.sympy_cse_seconds)})",
            f"{_time(self.sympy_lambdify_seconds)} (lambdify, cse=True)",
            _time(self.sympy_eval_seconds),
        ]
        automatic = [
            f"{self.graphdl_forward_ops}",
            f"{_time(self.graphdl_grad_seconds)} (gd.grad)",
            f"{self.graphdl_grad_ops}",
            f"{self.graphdl_grad_ops_optimized} (optimized)",
            f"{_time(self.graphdl_compile_seconds)} (gd.function)",
            _time(self.graphdl_eval_seconds),
        ]
        return list(zip(what, symbolic, automatic))

    def summary_lines(self) -> list[str]:
        at = ", ".join(f"{k}={_num(v)}" for k, v in self.at.items())
        lines = [
            f"f = {_clip(self.expression)}",
            f"gradient with respect to {', '.join(self.wrt)}",
            f"at {at}: f = {_num(self.value_at)}",
            f"  gradient (graphdl) = [{', '.join(_num(g) for g in self.grad_at_graphdl)}]",
        ]
        if self.symbolic:
            lines += [
                f"  gradient (sympy)   = [{', '.join(_num(g) for g in self.grad_at_sympy)}]",
                (f"over {self.n_points} points: max |difference| = {self.max_abs_diff:.3g}, "
                 f"max relative difference = {self.max_rel_diff:.3g}"),
            ]
        return lines

    def verdict_lines(self) -> list[str]:
        lines = []
        if self.symbolic:
            prep, prep_ratio = self.faster_prepare
            run, run_ratio = self.faster_eval
            lines += [f"faster to prepare (differentiate + compile): {prep}, by {prep_ratio:.2f}x",
                      f"faster to evaluate: {run}, by {run_ratio:.2f}x"]
        if self.optimizer_note:
            lines.append(f"note: {self.optimizer_note}")
        return lines

    def to_text(self) -> str:
        table = [("", "symbolic (SymPy)", "automatic (graphdl)"), *self.rows()]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        body = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
        return "\n".join(self.summary_lines() + [""] + body + [""] + self.verdict_lines())

    def to_markdown(self) -> str:
        lines = [f"- {line}" for line in self.summary_lines()]
        lines += ["", "| | symbolic (SymPy) | automatic (graphdl) |", "| --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows()]
        lines += [""] + [f"- {line}" for line in self.verdict_lines()]
        return "\n".join(lines)

    def to_html(self) -> str:
        def items(lines: list[str]) -> str:
            return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"

        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows())
        return (f"{items(self.summary_lines())}<table><thead><tr><th></th>"
                f"<th>symbolic (SymPy)</th><th>automatic (graphdl)</th></tr></thead>"
                f"<tbody>{cells}</tbody></table>{items(self.verdict_lines())}")

    _repr_html_ = to_html
    _repr_markdown_ = to_markdown

    def __str__(self) -> str:
        return self.to_text()


def _verdict(sympy_seconds: float | None, graphdl_seconds: float
             ) -> tuple[str | None, float | None]:
    if sympy_seconds is None:
        return None, None
    if graphdl_seconds <= sympy_seconds:
        return "graphdl", sympy_seconds / max(graphdl_seconds, 1e-12)
    return "sympy", graphdl_seconds / max(sympy_seconds, 1e-12)


def _time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _clip(text: str, limit: int = 300) -> str:
    """Long expressions (deep nestings) cut for the eye; the full text stays in ``expression``."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _num(value: float) -> str:
    return f"{value:.10g}"

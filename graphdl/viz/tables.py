"""Trace tables as aligned text, Markdown, HTML and LaTeX.

Each table (primal, tangent, adjoint) has the columns of the lecture's tables: the variable, its
formula (for adjoints first the chain-rule form ``v̄_5 ∂v_5/∂v_4``, then the op's own form),
the formula with numbers, and the value; rules separate inputs, the body and outputs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import TYPE_CHECKING

from graphdl.viz import formulas as fx

if TYPE_CHECKING:  # pragma: no cover
    from graphdl.viz.trace import Row, Trace

_COLUMNS = ("chain", "expression", "numbers")


def _width(text: str) -> int:
    """Columns the text takes on a terminal (combining dots and bars take none)."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _used_columns(rows: list[Row]) -> list[str]:
    return [c for c in _COLUMNS if any(getattr(r, c) for r in rows)]


def to_text(trace: Trace) -> str:
    blocks = []
    for kind in trace.kinds():
        rows = trace.table(kind)
        columns = _used_columns(rows)
        widths = {c: max(_width(getattr(r, c)) for r in rows) for c in columns}
        target_width = max(_width(r.target) for r in rows)
        lines = [_title(kind)]
        body_lines: list[str] = []
        previous = None
        for row in rows:
            if previous is not None and row.section != previous:
                body_lines.append(None)  # type: ignore[arg-type]
            previous = row.section
            cells = [_pad(row.target, target_width)]
            for c in columns:
                text = getattr(row, c)
                cells.append(_pad(f"= {text}" if text else "", widths[c] + 2))
            cells.append(f"= {row.text_value}")
            body_lines.append(" ".join(cells))
        rule_width = max(_width(line) for line in body_lines if line is not None)
        lines.append("=" * rule_width)
        lines += ["-" * rule_width if line is None else line for line in body_lines]
        blocks.append("\n".join(lines))
    blocks += [f"note: {note}" for note in trace.notes]
    return "\n\n".join(blocks)


def _title(kind: str) -> str:
    from graphdl.viz.trace import TITLES

    return TITLES[kind]


def _headers(columns: list[str]) -> list[str]:
    names = {"chain": "chain rule", "expression": "formula", "numbers": "with values"}
    return ["", *(names[c] for c in columns), "value"]


def to_markdown(trace: Trace) -> str:
    blocks = []
    for kind in trace.kinds():
        rows = trace.table(kind)
        columns = _used_columns(rows)
        header = _headers(columns)
        lines = [f"**{_title(kind)}**", "",
                 "| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * len(header)) + "|"]
        for row in rows:
            cells = [row.target, *(getattr(row, c) for c in columns), row.text_value]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        blocks.append("\n".join(lines))
    blocks += [f"> note: {note}" for note in trace.notes]
    return "\n\n".join(blocks) + "\n"


def _md_cell(text: str) -> str:
    return f"`{text}`".replace("|", "\\|") if text else ""


_SUB = re.compile(r"_\{([^{}]*)\}|_(\w)")


def _html_cell(text: str) -> str:
    escaped = html.escape(text)
    return _SUB.sub(lambda m: f"<sub>{m.group(1) if m.group(1) is not None else m.group(2)}"
                              "</sub>", escaped)


def to_html(trace: Trace, graph: bool = False, explorer: str | None = None) -> str:
    """HTML tables (shown by Jupyter); with ``graph=True`` also the annotated graph as inline
    SVG when Graphviz's ``dot`` program is installed and the graph is small. ``explorer``: the
    address of the trace's explorer page (``gd.render(trace, "graph.html")``); each row's name
    then links to its node there (``graph.html#n12`` opens the page with that node selected)."""
    parts = ['<div class="graphdl-trace">']
    for kind in trace.kinds():
        rows = trace.table(kind)
        columns = _used_columns(rows)
        parts.append('<table style="border-collapse:collapse;font-family:monospace">')
        parts.append(f"<caption style=\"text-align:left\"><b>{_title(kind)}</b></caption>")
        parts.append("<thead><tr>" + "".join(
            f'<th style="text-align:left;padding:0 .6em">{html.escape(h)}</th>'
            for h in _headers(columns)) + "</tr></thead>")
        previous = None
        for row in rows:
            rule = "border-top:1px solid #888;" if previous not in (None, row.section) else ""
            previous = row.section
            cells = [row.target, *(getattr(row, c) for c in columns), row.text_value]
            texts = [(('= ' if i else '') + _html_cell(c)) if c else ""
                     for i, c in enumerate(cells)]
            if explorer is not None and row.node is not None:
                href = html.escape(f"{explorer}#n{row.node.id}", quote=True)
                texts[0] = f'<a href="{href}" title="open in the explorer">{texts[0]}</a>'
            parts.append("<tr>" + "".join(
                f'<td style="{rule}padding:0 .6em;text-align:left">{t}</td>'
                for t in texts) + "</tr>")
        parts.append("</table>")
    parts += [f"<p><i>note: {html.escape(note)}</i></p>" for note in trace.notes]
    if graph and len(trace.body) <= 60:
        svg = _graph_svg(trace)
        if svg:
            parts.append(svg)
    parts.append("</div>")
    return "\n".join(parts)


def _graph_svg(trace: Trace) -> str | None:
    from graphdl.viz.dot import dot_available

    if not dot_available():
        return None
    source = trace.to_dot().pipe(format="svg").decode("utf-8")
    return source[source.find("<svg"):]


# --- LaTeX -------------------------------------------------------------------------------------
_LATEX_SYMBOLS = {
    fx.TIMES: r"\times", fx.MINUS: "-", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq",
    "σ": r"\sigma", "√": r"\sqrt ", "²": "^2", "ᵀ": r"^\top ", "·": r"\cdot", "∞": r"\infty ",
    "⌊": r"\lfloor ", "⌋": r"\rfloor ", "@": " ", "%": r"\%", "#": r"\#", "&": r"\&",
    "$": r"\$",
}
_FUNCTIONS = re.compile(r"\b(ln|sin|cos|tan|tanh|exp)\b")
_WORDS = re.compile(r"\b([a-z]{3,}[a-z_0-9]*)(?=\(|\s)")


def latex_math(text: str) -> str:
    """The text notation as LaTeX math: ``v̄_1 / v_{-1}`` -> ``\\bar{v}_1 / v_{-1}``."""
    out = re.sub(f"(\\w){fx.BAR}", r"\\bar{\1}", text)
    out = re.sub(f"(\\w){fx.DOT}", r"\\dot{\1}", out)
    out = re.sub(f"{fx.PARTIAL}(\\S+?)/{fx.PARTIAL}(\\S+)",
                 lambda m: rf"\frac{{\partial {m.group(1)}}}{{\partial {m.group(2)}}}", out)
    out = _FUNCTIONS.sub(r"\\\1", out)
    out = _WORDS.sub(lambda m: m.group(1) if m.group(1) in ("bar", "dot", "frac", "partial")
                     or m.start() > 0 and out[m.start() - 1] == "\\"
                     else rf"\operatorname{{{m.group(1)}}}", out)
    out = re.sub(r"\^(\([^)]*\)|[^\s(]+)", r"^{\1}", out)
    return "".join(_LATEX_SYMBOLS.get(ch, ch) for ch in out)


def to_latex(trace: Trace) -> str:
    """One ``tabular`` per table, math in ``$...$``, ``\\hline`` between sections."""
    blocks = []
    for kind in trace.kinds():
        rows = trace.table(kind)
        columns = _used_columns(rows)
        lines = [f"% {_title(kind)}", r"\begin{tabular}{" + "l" * (len(columns) + 2) + "}"]
        previous = None
        for row in rows:
            if previous is not None and row.section != previous:
                lines.append(r"\hline")
            previous = row.section
            cells = [f"${latex_math(row.target)}$"]
            for c in columns:
                text = getattr(row, c)
                cells.append(f"$= {latex_math(text)}$" if text else "")
            cells.append(f"$= {latex_math(row.text_value)}$")
            lines.append(" & ".join(cells) + r" \\")
        lines.append(r"\end{tabular}")
        blocks.append("\n".join(lines))
    blocks += [f"% note: {note}" for note in trace.notes]
    return "\n\n".join(blocks) + "\n"

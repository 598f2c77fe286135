"""How each op reads in the survey's notation, for trace tables and drawings.

The template data is the op's own: ``node.op.notation`` (a `graphdl.ops.notation.Notation`:
the primal formula over the operands' labels, ``ln {0}``, ``{0} × {1}``; elementwise partials as
text for tangent rows, ``v̇_{-1} × v_0 + v̇_0 × v_{-1}``, and adjoint rows, ``v̄_3 × cos v_0``;
other ops' adjoint contributions over ``{g}``). This module renders it. The same templates filled
with numbers instead of labels give the "with values" column (``ln 2``, ``10.693 − (−0.959)``).
Ops without a notation read ``op(v_a, v_b)``; their tangents and adjoints fall back to explicit
partial-derivative symbols. The values themselves never come from here: they are computed by
the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops.notation import MINUS, TIMES, Notation, Template

DOT = "\u0307"  # combining dot above: v̇ (tangent)
BAR = "\u0304"  # combining macron: v̄ (adjoint)
PARTIAL = "\u2202"


# --- labels ----------------------------------------------------------------------------------
def var_label(k: int) -> str:
    """``v_0``, ``v_{-1}``, ``v_{12}``: the survey's variable names (valid LaTeX as well)."""
    text = str(k)
    return f"v_{text}" if len(text) == 1 else f"v_{{{text}}}"


def tangent_of(label: str) -> str:
    """``v_1`` -> ``v̇_1``, ``x1`` -> ``ẋ1``: a dot over the first letter."""
    return label[:1] + DOT + label[1:]


def adjoint_of(label: str) -> str:
    """``v_1`` -> ``v̄_1``, ``x1`` -> ``x̄1``: a bar over the first letter."""
    return label[:1] + BAR + label[1:]


def derivative_symbol(out: str, wrt: str) -> str:
    """``∂v_5/∂v_4``."""
    return f"{PARTIAL}{out}/{PARTIAL}{wrt}"


# --- formulas --------------------------------------------------------------------------------
def form_of(node: Node) -> Notation | None:
    return node.op.notation


def primal_formula(node: Node, args: Sequence[str]) -> str:
    """The node's formula over its operands' labels (or numbers)."""
    form = form_of(node)
    if form is None:
        attrs = ", ".join(f"{k}={v!r}" for k, v in node.attrs.items()
                          if isinstance(v, (int, float, str, tuple, type(None))))
        inner = ", ".join(list(args) + ([attrs] if attrs else []))
        return f"{node.op.name}({inner})"
    return _fill(form.primal, args, node.attrs, out="")


def _fill(template: Template, args: Sequence[str], attrs: dict[str, Any], out: str,
          g: str = "") -> str:
    if callable(template):
        return template(args, attrs)
    return template.format(*args, out=out, g=g)


def _needs_parens(text: str) -> bool:
    """Whether ``text`` must be bracketed to be a factor (``× (1 − v_3²)``, ``× (−1)``)."""
    if text.startswith((MINUS, "-")):
        return True
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and ch == " " and text[i + 1:i + 2] in ("+", MINUS, "/", TIMES):
            return True
    return False


def factor(text: str) -> str:
    return f"({text})" if _needs_parens(text) else text


def partial_text(node: Node, i: int, args: Sequence[str], out: str) -> str | None:
    """d node / d operand_i as text: ``"1"``, ``"-1"``, ``"/X"``, a factor, or None (no rule)."""
    form = form_of(node)
    if form is None or not form.partials:
        return None
    return form.partials[i].format(*args, out=out)


def tangent_formula(node: Node, dots: Sequence[str | None], args: Sequence[str],
                    out: str) -> str:
    """``v̇_{-1} × v_0 + v̇_0 × v_{-1}``: the tangent over operand tangents (None for operands
    without one, such as constants), written the way the lecture's tangent trace reads."""
    form = form_of(node)
    if node.op.zero_derivative:
        return "0"
    terms: list[tuple[bool, str]] = []  # (subtracted, text)
    for i, dot in enumerate(dots):
        if dot is None:
            continue
        if form is not None and form.linear and i == 0:
            return primal_formula(node, [dot, *args[1:]])
        if form is not None and form.bilinear:
            others = list(args)
            others[i] = dot
            terms.append((False, f"{others[0]} @ {others[1]}"))
            continue
        partial = partial_text(node, i, args, out)
        if partial is None:
            terms.append((False, f"{derivative_symbol(out, args[i])} {dot}"))
        elif partial == "1":
            terms.append((False, dot))
        elif partial == "-1":
            terms.append((True, dot))
        elif partial == "0":
            continue
        elif partial.startswith("/"):
            terms.append((False, f"{dot} / {factor(partial[1:])}"))
        else:
            terms.append((False, f"{dot} {TIMES} {factor(partial)}"))
    if not terms:
        return "0"
    text = (MINUS if terms[0][0] else "") + terms[0][1]
    for subtracted, term in terms[1:]:
        text += f" {MINUS if subtracted else '+'} {term}"
    return text


def adjoint_contribution(node: Node, i: int, g: str, args: Sequence[str], out: str) -> str:
    """``v̄_3 × cos v_0``: operand i's share of the node's adjoint ``g``."""
    form = form_of(node)
    partial = partial_text(node, i, args, out)
    if partial is not None:
        if partial.startswith("/"):
            return f"{g} / {factor(partial[1:])}"
        return f"{g} {TIMES} {factor(partial if partial != '-1' else MINUS + '1')}"
    if form is not None and form.adjoint and i < len(form.adjoint):
        return _fill(form.adjoint[i], args, node.attrs, out, g=g)
    return f"{g} {derivative_symbol(out, args[i])}"


# --- numbers ---------------------------------------------------------------------------------
def fmt_number(value: Any, digits: int = 3) -> str:
    """A scalar the way the lecture prints it: ``0.693``, ``10``, ``−0.959`` (``digits``
    decimals, trailing zeros dropped; scientific notation when very small or large)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "∞" if v > 0 else MINUS + "∞"
    if v == int(v) and abs(v) < 1e15:
        text = str(int(v))
    elif 10.0 ** -digits <= abs(v) < 1e6:
        text = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    else:
        text = f"{v:.{digits}e}"
        mantissa, exponent = text.split("e")
        text = mantissa.rstrip("0").rstrip(".") + "e" + str(int(exponent))
    return text.replace("-", MINUS)


def fmt_value(value: Any, digits: int = 3) -> str:
    """A scalar as `fmt_number`; an array as its shape and a short summary."""
    array = np.asarray(value)
    if array.ndim == 0:
        return fmt_number(array[()], digits)
    shape = "×".join(str(d) for d in array.shape)
    if array.size == 0:
        return f"[{shape}] empty"
    if array.ndim == 1 and array.size <= 4:
        return "[" + ", ".join(fmt_number(x, digits) for x in array) + "]"
    if array.dtype.kind == "b":
        return f"[{shape}] {int(array.sum())} true"
    return (f"[{shape}] min {fmt_number(array.min(), digits)}, "
            f"mean {fmt_number(array.mean(), digits)}, max {fmt_number(array.max(), digits)}")


def operand_number(value: Any, digits: int = 3) -> str | None:
    """A scalar as it appears inside a formula (negatives bracketed), None for arrays."""
    array = np.asarray(value)
    if array.ndim != 0:
        return None
    text = fmt_number(array[()], digits)
    return f"({text})" if text.startswith(MINUS) else text

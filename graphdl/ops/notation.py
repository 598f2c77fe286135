"""How an op reads in the survey's notation: the `Notation` an op carries in ``Op.notation``.

Trace tables and drawings (`graphdl.viz`) write each node as a formula over its operands' labels
(``ln v_0``, ``v_{-1} × v_0``), and its tangent and adjoint rows from the same data:

- ``primal``: the formula, a template over ``{0}``, ``{1}``... (the operands) or a function
  ``(args, attrs) -> str``;
- ``partials`` (elementwise ops): d node / d operand_i as text, one per operand. A partial is
  ``"1"`` or ``"-1"`` (written as a sum or difference), ``"0"`` (no term), ``"/X"`` (written as a
  division, as the lecture writes ``v̄_1 / v_{-1}`` for the logarithm) or a factor ``X``;
  ``{out}`` stands for the node itself;
- ``linear``: the tangent is the op applied to the first operand's tangent (sum, reshape, ...);
- ``bilinear``: the tangent is the sum of the op applied with one operand replaced by its
  tangent (matmul);
- ``adjoint`` (other ops): each operand's adjoint contribution over ``{g}``, the node's adjoint.

The same templates filled with numbers instead of labels give a trace's "with values" column.
An op without a notation reads ``op(v_a, v_b)``, with explicit partial-derivative symbols.
The rendering itself (`graphdl.viz.formulas`) stays in viz; the data lives with the op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MINUS = "\u2212"  # the minus sign the lecture's tables use
TIMES = "\u00d7"

Template = str | Callable[[Sequence[str], dict[str, Any]], str]


@dataclass(frozen=True)
class Notation:
    primal: Template
    partials: tuple[str, ...] = ()  # elementwise ops: d out / d operand_i, one per operand
    linear: bool = False  # tangent = the same op applied to the tangent (sum, reshape, ...)
    adjoint: tuple[str, ...] = ()  # other ops: operand_i's contribution over {g}
    bilinear: bool = False  # tangent = sum over operands of the op with that operand's tangent


def _axis_suffix(attrs: dict[str, Any]) -> str:
    axis = attrs.get("axis")
    if axis is None:
        return ""
    axis = axis[0] if isinstance(axis, tuple) and len(axis) == 1 else axis
    keep = ", keepdims" if attrs.get("keepdims") else ""
    return f", axis={axis}{keep}"


def call(name: str) -> Callable[[Sequence[str], dict[str, Any]], str]:
    """``name(v_1, axis=0, keepdims)``: a function call with the op's axes."""
    return lambda args, attrs: f"{name}({', '.join(args)}{_axis_suffix(attrs)})"


def reshape_form(args: Sequence[str], attrs: dict[str, Any]) -> str:
    shape = attrs.get("shape")
    return f"reshape({args[0]}, {shape})" if shape is not None else f"reshape({args[0]})"


def cast_form(args: Sequence[str], attrs: dict[str, Any]) -> str:
    return f"{attrs.get('dtype', 'cast')}({args[0]})"

"""One node's value from its operands' values: the engine's single reference evaluator.

`evaluate` computes a node the way generated code would: by the op's own NumPy emission
(`Op.emit_expr`), evaluated with NumPy as ``np`` and the ops' kernels (`graphdl.ops.kernels`) as
``_rt``, the names generated code uses. An op whose emitted code would lose its meaning on values
that are not plain arrays gives ``Op.kernel``, a function ``(values, attrs) -> value`` written
with NumPy's protocols, and that is used instead (relu: ``np.maximum(x, 0)`` has derivative 1 at
0 on dual numbers; cast: a scalar-type call like ``np.float32(x)`` does not dispatch).

It serves constant folding (`graphdl.rewriting.fold`), dual numbers (`graphdl.autodiff.dual`)
and anything else that needs values without compiling a function; each caller decides what a
failure means (folding leaves the node to run time, dual numbers name the node).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import kernels
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.ops.registry import code_modules


class _Name(str):
    """A variable name that formats as itself (not as a quoted string) in an emit template."""

    def __repr__(self) -> str:
        return str(self)


def evaluate(node: Node, values: Sequence[Any]) -> Any:
    """``node``'s value for its operands' ``values`` (one per input, in order).

    Leaves need no values: a constant gives its value, a shared variable its current value; an
    input has none (ValueError). Whatever the computation raises is raised.
    """
    op = node.op
    if not node.inputs:
        if op is CONSTANT:
            return node.attrs["value"]
        if op is SHARED:
            return node.attrs["box"].value
        if op is INPUT:
            raise ValueError(f"evaluate: input {node.label()} has no value of its own")
    if len(values) != len(node.inputs):
        raise ValueError(f"evaluate: {op.name} node {node.label()} has {len(node.inputs)} "
                         f"operand(s), got {len(values)} value(s)")
    if op.kernel is not None:
        return op.kernel(list(values), node.attrs)
    namespace: dict[str, Any] = {"np": np, "_rt": kernels, **code_modules(op)}
    args = []
    for i, v in enumerate(values):
        args.append(f"_a{i}")
        namespace[f"_a{i}"] = v
    rendered: dict[str, Any] = {}
    for key, attr in node.attrs.items():
        if isinstance(attr, np.ndarray):  # arrays are passed by name, never printed into code
            namespace[f"_attr_{key}"] = attr
            rendered[key] = _Name(f"_attr_{key}")
        else:
            rendered[key] = attr
    return eval(op.emit_expr(args, rendered), namespace)  # noqa: S307 - the op's own NumPy code

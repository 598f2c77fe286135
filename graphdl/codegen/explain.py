"""Naming the node behind a failure inside generated code: the failing line's node, its operands'
static types and run-time shapes, and the user's line that built it."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.codegen.emitter import Emitted
from graphdl.errors import GraphRuntimeError

if TYPE_CHECKING:
    from graphdl.codegen.function import Function


def explain(fn: Function, exc: Exception, emitted: Emitted | None = None,
            filename: str | None = None) -> Exception:
    """``exc``, raised inside ``fn``'s generated code, as a `GraphRuntimeError` naming the node."""
    emitted = emitted or fn._emitted
    filename = filename or fn._filename
    frames = traceback.extract_tb(exc.__traceback__)
    tb = exc.__traceback__
    local_values: dict[str, Any] = {}
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            local_values = dict(tb.tb_frame.f_locals)
        tb = tb.tb_next
    line = next((f.lineno for f in reversed(frames) if f.filename == filename), None)
    node = emitted.line_nodes.get(line) if line is not None else None
    if node is None:  # e.g. an unpickled copy: no graph, but the line's comment names the node
        lines = fn.source.splitlines()
        at = f" at `{lines[line - 1].strip()}`" if line and line <= len(lines) else ""
        return GraphRuntimeError(f"function {fn.name} failed{at}: "
                                 f"{type(exc).__name__}: {exc}")
    operands = []
    for parent in node.inputs:
        code = emitted.variables.get(parent, "?")
        value = local_values.get(code)
        runtime_shape = np.shape(value) if value is not None else "?"
        operands.append(f"{parent.label()} {parent.type_str()} "
                        f"(run-time shape {runtime_shape})")
    error = GraphRuntimeError(
        f"{node.op.name} node {node.label()} (created at {node.origin}) failed: "
        f"{type(exc).__name__}: {exc}; operands: {'; '.join(operands)}"
    )
    error.node = node
    error.numpy_error = exc
    return error

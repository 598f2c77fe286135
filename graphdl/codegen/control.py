"""Loops and branches as statements: what the emitter writes for ``scan``, ``while_loop`` and
``cond`` nodes (`graphdl.ops.control`).

A scan becomes a plain Python ``for`` loop whose body is the body graph's straight-line NumPy
(one statement per node, commented like the rest); per-step outputs go into arrays allocated
before the loop (``ys[i] = y``, no list appends); carries are variables reassigned at the end of
each step. A branch becomes ``if``/``elif``/``else``. The node's own variable then holds the tuple
of its results, which `part` nodes index.

The emitter calls `emit_block` for a node whose op is in `STATEMENTS`; it appends the lines and
returns the expression for the node's variable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.ops.control import COND, SCAN, WHILE
from graphdl.ops.leaves import CONSTANT


@dataclass
class Context:
    """What the block writer borrows from the emitter."""

    namer: Any  # graphdl.codegen.names.Namer
    render: Callable[[Any], Any]  # attribute value -> code (hoists arrays)
    describe: Callable[..., str]  # node, variable -> the statement's comment
    dialect: Any  # graphdl.codegen.emitter.NumpyDialect (the only one that writes loops so far)


def emit_block(node: Node, args: list[str], var: str, lines: list[str], ctx: Context,
               indent: str = "    ") -> str:
    """Append the statements computing ``node`` to ``lines``; return its value's expression."""
    from graphdl.codegen.emitter import NumpyDialect  # at call time: the emitter imports us

    if not isinstance(ctx.dialect, NumpyDialect):
        from graphdl.codegen.numba_backend import unsupported

        raise unsupported(node, "loops and branches run only in the NumPy backend so far")
    return STATEMENTS[node.op](node, args, var, lines, ctx, indent)


def _body(body: Any, inputs: list[str], lines: list[str], ctx: Context, indent: str) -> list[str]:
    """The body graph's statements, its params bound to ``inputs``; returns its outputs' code."""
    expr: dict[Node, str] = dict(zip(body.params, inputs))
    for n in toposort(body.outputs):
        if n in expr:
            continue
        if n.op is CONSTANT:
            expr[n] = ctx.dialect.constant(n, ctx.render)
            continue
        args = [expr[p] for p in n.inputs]
        var = ctx.namer.name(n.name)
        if n.op in STATEMENTS:
            code = emit_block(n, args, var, lines, ctx, indent)
        else:
            rendered = {k: ctx.render(v) for k, v in n.attrs.items()} if n.attrs else {}
            code = ctx.dialect.expression(n, args, rendered, var)
        lines.append(f"{indent}{var} = {code}  # {ctx.describe(n, var)}")
        expr[n] = var
    return [expr[o] for o in body.outputs]


def _dtype_code(dtype: np.dtype) -> str:
    return "np.bool_" if dtype == np.bool_ else f"np.{dtype.name}"


def _tuple(items: list[str]) -> str:
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def _scan(node: Node, args: list[str], var: str, lines: list[str], ctx: Context,
          indent: str) -> str:
    a = node.attrs
    body, k, m, length = a["body"], a["carries"], a["slices"], a["length"]
    name = ctx.namer.name
    carries = [name(None, "c") for _ in range(k)]
    steps = str(length) if length is not None else f"{args[k]}.shape[0]"
    lines.append(f"{indent}# {'reverse ' if a['reverse'] else ''}scan over {steps} steps: "
                 f"{k} carries, {m} slices, {len(body.outputs) - k} stacked outputs")
    for c, init in zip(carries, args[:k]):
        lines.append(f"{indent}{c} = {init}")
    stacks = []
    late = []  # outputs whose size is known only once the first step ran
    for out in body.outputs[k:]:
        ys = name(None, "ys")
        stacks.append(ys)
        if None in out.shape:
            lines.append(f"{indent}{ys} = None")
            late.append(ys)
        else:
            shape = _tuple([steps, *map(str, out.shape)])
            lines.append(f"{indent}{ys} = np.empty({shape}, dtype={_dtype_code(out.dtype)})")
    i = name("i")
    order = f"range({steps} - 1, -1, -1)" if a["reverse"] else f"range({steps})"
    lines.append(f"{indent}for {i} in {order}:")
    inner = indent + "    "
    slices = []
    for xs in args[k:k + m]:
        x = name(None, "x")
        lines.append(f"{inner}{x} = {xs}[{i}]")
        slices.append(x)
    outs = _body(body, carries + slices + args[k + m:], lines, ctx, inner)
    for ys, out, y in zip(stacks, body.outputs[k:], outs[k:]):
        if ys in late:
            lines.append(f"{inner}if {ys} is None:")
            lines.append(f"{inner}    {ys} = np.empty(({steps},) + np.shape({y}), "
                         f"dtype={_dtype_code(out.dtype)})")
        lines.append(f"{inner}{ys}[{i}] = {y}")
    if k:
        lines.append(f"{inner}{', '.join(carries)} = {', '.join(outs[:k])}")
    if not body.outputs and not m:
        lines.append(f"{inner}pass")
    return _tuple(carries + stacks)


def _while(node: Node, args: list[str], var: str, lines: list[str], ctx: Context,
           indent: str) -> str:
    a = node.attrs
    k = a["carries"]
    carries = [ctx.namer.name(None, "c") for _ in range(k)]
    lines.append(f"{indent}# while loop over {k} carries")
    for c, init in zip(carries, args[:k]):
        lines.append(f"{indent}{c} = {init}")
    lines.append(f"{indent}while True:")
    inner = indent + "    "
    (pred,) = _body(a["test"], carries + args[k:], lines, ctx, inner)
    lines.append(f"{inner}if not {pred}:")
    lines.append(f"{inner}    break")
    outs = _body(a["body"], carries + args[k:], lines, ctx, inner)
    if k:
        lines.append(f"{inner}{', '.join(carries)} = {', '.join(outs)}")
    return _tuple(carries)


def _cond(node: Node, args: list[str], var: str, lines: list[str], ctx: Context,
          indent: str) -> str:
    branches = node.attrs["branches"]
    results = [ctx.namer.name(None, "r") for _ in branches[0].outputs]
    inner = indent + "    "
    if node.attrs["kind"] == "cond":
        heads = [f"if {args[0]}:", "else:"]
    else:
        index = ctx.namer.name(None, "k")
        lines.append(f"{indent}{index} = min(max(int({args[0]}), 0), {len(branches) - 1})")
        heads = [f"{'if' if n == 0 else 'elif'} {index} == {n}:" for n in range(len(branches) - 1)]
        heads.append("else:" if len(branches) > 1 else "if True:")
    for head, body in zip(heads, branches):
        lines.append(f"{indent}{head}")
        outs = _body(body, args[1:], lines, ctx, inner)
        if results:
            lines.append(f"{inner}{', '.join(results)} = {', '.join(outs)}")
        else:
            lines.append(f"{inner}pass")
    return _tuple(results)


STATEMENTS: dict[Any, Callable[..., str]] = {SCAN: _scan, WHILE: _while, COND: _cond}

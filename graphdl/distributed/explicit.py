"""Parameters as arguments: the graph rewrite that keeps workers from computing with stale values.

A compiled function reads its shared variables from boxes in its own process. A copy sent to a
Dask worker carries the values it had when it was pickled and never sees a later `set_value` or
optimizer update, so a worker holding one would silently compute with old parameters. Instead,
everything here compiles functions in which each parameter is an ordinary *input* of the same
name, shape and dtype: the caller passes the current values with every call, and a function
that still reads some other shared variable is refused rather than left to go stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graphdl.codegen.function import Function, function
from graphdl.errors import ShapeError
from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.ops.leaves import SHARED, SharedVariable, tensor
from graphdl.ops.registry import as_node
from graphdl.rewriting.rewriter import rebuild


def substitute(outputs: Sequence[Node], replacements: Mapping[Node, Node]) -> list[Node]:
    """``outputs`` rebuilt with every key of ``replacements`` swapped for its value.

    A replacement must have the static shape and dtype of the node it replaces, so the rest of
    the graph keeps its types. Nodes that reach no replaced node are reused as they are.
    """
    for old, new in replacements.items():
        if new.shape != old.shape or new.dtype != old.dtype:
            raise ShapeError(f"substitute: {new.label()} {new.type_str()} cannot replace "
                             f"{old.label()} {old.type_str()} (shape and dtype must match)")
    done: dict[Node, Node] = dict(replacements)
    for node in toposort(list(outputs)):
        if node not in done:
            done[node] = rebuild(node, tuple(done[p] for p in node.inputs))
    return [done[o] for o in outputs]


def params_as_inputs(outputs: Sequence[Node], params: Sequence[SharedVariable]
                     ) -> tuple[list[Node], list[Node]]:
    """``(outputs over new inputs, the new inputs)``: each shared parameter becomes an input of
    the same name, shape and dtype, so a compiled function takes its value as an argument."""
    for i, p in enumerate(params):
        if not isinstance(p, SharedVariable):
            raise TypeError(f"params[{i}] = {p!r} is not a shared variable")
    inputs = [tensor(p.name or f"param{i}", p.shape, p.dtype) for i, p in enumerate(params)]
    return substitute(list(outputs), dict(zip(params, inputs))), inputs


def explicit_function(inputs: Sequence[Node], outputs: Node | Sequence[Node],
                      params: Sequence[SharedVariable], name: str | None = None) -> Function:
    """``gd.function(inputs + params, outputs)`` with the parameters as trailing arguments.

    Call it as ``f(*data, *param_values)``. It reads no shared variable at all: if ``outputs``
    depend on one that is not in ``params`` (an optimizer slot, BatchNorm's running mean), this
    raises, naming it, because a worker's copy of that value would silently go stale.
    """
    single = isinstance(outputs, Node)
    nodes = [as_node(o) for o in ([outputs] if single else outputs)]
    rewritten, param_inputs = params_as_inputs(nodes, params)
    refuse_shared(rewritten)
    return function(list(inputs) + param_inputs, rewritten[0] if single else rewritten,
                    name=name)


def refuse_shared(outputs: Sequence[Node]) -> None:
    """Raise if ``outputs`` read any shared variable (their values must all be arguments)."""
    for node in toposort(list(outputs)):
        if node.op is SHARED:
            raise ValueError(
                f"explicit_function: the outputs read shared {node.label()} "
                f"{node.type_str()}, which is not among the parameters; a copy on a worker "
                "would not follow its changes. List it in params (its value is then passed each "
                "call) or build the graph without it")

"""Vectorized calls: code variants for arguments with extra leading axes.

An input whose every consumer is elementwise may take extra leading axes (a function of scalars
called with arrays), as NumPy broadcasting would. The code compiled for the declared shapes still
runs such a call; when every grown argument has one shape, a variant that reuses buffers of that
shape is emitted once and cached. A numba kernel is typed for the declared ranks, so its vectorized
calls run the function's plain NumPy code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.codegen.calling import compile_emitted
from graphdl.codegen.emitter import Emitted, emit_function
from graphdl.ir.node import Node
from graphdl.ir.walk import depends_on

if TYPE_CHECKING:
    from graphdl.codegen.function import Function


def vectorized_variant(fn: Function, values: list[Any]) -> tuple[Any, Emitted, str] | None:
    """Code for a vectorized call, which may reuse buffers the static shapes cannot prove.

    When every argument with extra leading axes has the same shape S and all arguments
    broadcast to S, every node depending on those arguments holds an array of shape S at run
    time, so one such dead temporary can receive another's result (as NumPy's temporary
    elision does for hand-written one-liners). Built once per set of such arguments.
    """
    grown = tuple(i for i in fn._vector_positions
                  if values[i].ndim > fn._checkers[i].ndim)
    if not grown:
        return None
    shape = values[grown[0]].shape
    if any(values[i].shape != shape for i in grown):
        return plain_numpy(fn)
    others = [v.shape for v in values if v.shape and v.shape != shape]  # 0-d: always fine
    if others:
        try:
            if np.broadcast_shapes(shape, *others) != shape:
                return plain_numpy(fn)
        except ValueError:
            return plain_numpy(fn)  # the plain code raises, and explains, the clash
    return variant(fn, grown)


def variant(fn: Function, grown: tuple[int, ...]) -> tuple[Any, Emitted, str]:
    """The code for calls whose arguments at positions ``grown`` have extra leading axes,
    all of one shape to which every other argument broadcasts (built once, cached)."""
    found = fn._variants.get(grown)
    if found is None:
        big = depends_on(fn.schedule, [fn.inputs[i] for i in grown])
        emitted = emit_function(
            fn.name, fn.inputs + fn.shared, fn.schedule, fn.outputs,
            fn.update_values, title=f"graphdl function {fn.name}, vectorized call",
            update_targets=fn.shared_updated,
            same_shape=lambda target, node: target in big and node in big,
        )
        filename = f"{fn._filename[:-1]}:vectorized>"
        found = fn._variants[grown] = (compile_emitted(emitted, filename), emitted, filename)
    return found


def plain_numpy(fn: Function) -> tuple[Any, Emitted, str] | None:
    """The NumPy code of a numba function, for calls the kernel was not typed for
    (vectorized calls) and to find the node behind a kernel's failure; None for NumPy."""
    if fn._kernel is None or fn.schedule is None:
        return None
    if fn._numpy_plain is None:
        emitted = emit_function(
            fn.name, fn.inputs + fn.shared, fn.schedule, fn.outputs,
            fn.update_values, title=f"graphdl function {fn.name}, NumPy code",
            update_targets=fn.shared_updated)
        filename = f"{fn._filename[:-1]}:numpy>"
        fn._numpy_plain = (compile_emitted(emitted, filename), emitted, filename)
    return fn._numpy_plain


def only_elementwise_consumers(inputs: Sequence[Node], schedule: Sequence[Node]) -> set[Node]:
    """The inputs every dependent node of which is elementwise, so arguments with extra leading
    axes broadcast through the whole graph the way NumPy would (vectorized calls).

    One walk for all inputs: each node carries a bit mask of the inputs it depends on, and a
    non-elementwise node disqualifies the inputs in its mask.
    """
    bit = {x: 1 << i for i, x in enumerate(inputs)}
    mask: dict[Node, int] = {}
    refused = 0
    for n in schedule:
        m = bit.get(n, 0)
        for p in n.inputs:
            m |= mask.get(p, 0)
        if m:
            mask[n] = m
            if n.inputs and not n.op.elementwise:
                refused |= m
    return {x for x in inputs if not refused & bit[x]}

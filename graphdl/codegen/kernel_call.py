"""The numba call path: 0-d values cross the kernel boundary as scalars, new state and 0-d
outputs come back as arrays and NumPy scalars of their nodes' dtypes, and a kernel's failure is
named by node (from numba's message, or by rerunning the NumPy code on copies of the state)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.codegen.calling import own_kernel_state
from graphdl.errors import GraphRuntimeError

if TYPE_CHECKING:
    from graphdl.codegen.function import Function


def kernel_info(fn: Function) -> tuple[list[int], list[tuple[int, type]]]:
    """What a numba call converts: the 0-d parameters (passed as scalars) and 0-d outputs."""
    params = fn.inputs + fn.shared
    scalars = [i for i, p in enumerate(params) if p.ndim == 0]
    outputs = [(i, o.dtype.type) for i, o in enumerate(fn.outputs) if o.ndim == 0]
    return scalars, outputs


def compile_now(fn: Function) -> None:
    """Compile a numba kernel now, for C-contiguous arrays of the inputs' declared dtypes and
    ranks and the shared variables' current values, instead of at the first call (which then
    only dispatches). A NumPy function is already compiled."""
    if fn._kernel is None:
        return
    from graphdl.codegen.numba_backend import require_numba

    numba = require_numba()
    scalars = set(fn._kernel[0])
    types = []
    for i, check in enumerate(fn._checkers):
        kind = numba.from_dtype(check.dtype)
        types.append(kind if i in scalars else numba.types.Array(kind, check.ndim, "C"))
    for j, box in enumerate(fn._shared_boxes, start=len(fn._checkers)):
        value = box.value
        types.append(numba.typeof(value[()] if j in scalars else value))
    fn._function.compile(tuple(types))


def call_kernel(fn: Function, values: list[Any]) -> Any:
    """One call of the numba kernel: 0-d values go in as scalars and come out as NumPy
    scalars of their node's dtype (numba returns Python numbers)."""
    scalars, outputs_0d = fn._kernel
    originals = list(values)
    for i in scalars:
        values[i] = values[i][()]
    try:
        outputs, new_state = fn._function(*values)
    except Exception as exc:
        raise explain_kernel(fn, exc, originals) from None
    for box, value in zip(fn._update_boxes, new_state):
        if value is not box.value:
            box.value = own_kernel_state(value, box)
    outputs = list(outputs)
    for i, kind in outputs_0d:
        outputs[i] = kind(outputs[i])
    for i in fn._maybe_readonly:  # (numba's broadcast views are writable, stride 0)
        o = outputs[i]
        if isinstance(o, np.ndarray) and (not o.flags.writeable or 0 in o.strides):
            outputs[i] = o.copy()
    for i in fn._copied:  # outputs never alias state
        if isinstance(outputs[i], np.ndarray):
            outputs[i] = outputs[i].copy()
    return outputs[0] if fn._single else outputs


def explain_kernel(fn: Function, exc: Exception, values: list[Any]) -> Exception:
    """A kernel failure named by node: numba's typing errors quote the kernel's line; for
    others the NumPy code reruns on copies of the state to find the node that fails."""
    message = str(exc)
    where = fn._function.py_func.__code__.co_filename  # the cache file, if one is used
    found = re.search(re.escape(where) + r'", line (\d+)', message)
    node = fn._emitted.line_nodes.get(int(found.group(1))) if found else None
    first = next((m for m in message.splitlines() if m.strip()), type(exc).__name__)
    if node is not None:
        error = GraphRuntimeError(
            f"{node.op.name} node {node.label()} (created at {node.origin}) failed to "
            f"compile in the numba kernel: {type(exc).__name__}: {first}")
        error.node = node
        return error
    plain = fn._plain_numpy()
    if plain is not None:
        copies = [v.copy() if i >= len(fn._checkers) else v for i, v in enumerate(values)]
        try:
            plain[0](*copies)
        except Exception as numpy_exc:
            return fn._explain(numpy_exc, plain[1], plain[2])
    return GraphRuntimeError(f"function {fn.name} failed in its numba kernel: "
                             f"{type(exc).__name__}: {first}")

"""Running a compiled function: compiling the generated source, the generated call path of each
function (`graphdl.codegen.caller`) and storing new state as arrays of its own."""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.codegen.caller import CallSpec, fast_caller
from graphdl.codegen.emitter import Emitted
from graphdl.ir.node import SharedBox

if TYPE_CHECKING:
    from graphdl.codegen.function import Function

_compiled = itertools.count(1)


def code_filename(name: str) -> str:
    """A new pseudo file name for a compiled function's source (tracebacks quote its lines)."""
    return f"<graphdl:{name}:{next(_compiled)}>"


def fast_path(fn: Function) -> Callable[..., Any]:
    """The generated call path of ``fn`` (see `graphdl.codegen.caller`)."""
    if fn._kernel is not None:  # numba: 0-d values cross as scalars, see kernel_call.call_kernel
        scalars, outputs_0d = fn._kernel
        return fast_caller(CallSpec(
            fn._checkers, fn._function, fn._shared_boxes, fn._update_boxes,
            frozenset(fn._maybe_readonly), fn._single, fn._call_checked,
            lambda exc, code, values: fn._explain_kernel(exc, list(values)), own_kernel_state,
            scalars=frozenset(scalars), outputs_0d=tuple(outputs_0d), zero_strides=True,
            sizes=fn._sizes, copies=fn._copied,
            indices=fn._indices))
    vectorized = None
    everything = tuple(range(len(fn._checkers)))
    if (everything and fn._vector_positions == list(everything)
            and all(np.ndim(b.value) == 0 for b in fn._shared_boxes)):
        vectorized = lambda: fn._variant(everything)[0]  # noqa: E731

    def explain(exc: Exception, code: Callable, values: tuple) -> Exception:
        variants = [v for v in fn._variants.values() if v[0] is code]
        _, emitted, filename = variants[0] if variants else (code, fn._emitted, fn._filename)
        return fn._explain(exc, emitted, filename)

    return fast_caller(CallSpec(
        fn._checkers, fn._function, fn._shared_boxes, fn._update_boxes,
        frozenset(fn._maybe_readonly), fn._single, fn._call_checked, explain,
        lambda value, box: own_writable(value), vectorized, sizes=fn._sizes,
        copies=fn._copied, indices=fn._indices))


def own_kernel_state(value: Any, box: SharedBox) -> Any:
    """A numba kernel's new state: arrays as for NumPy, numbers back to the state's dtype."""
    if value.__class__ is np.ndarray:
        return own_writable(value)
    return np.array(value, box.value.dtype)


def compile_emitted(emitted: Emitted, filename: str, backend: str = "numpy"):
    """The function ``emitted`` defines (a numba dispatcher for backend="numba"), its source
    registered with linecache so tracebacks and `explain` can quote its lines."""
    code = compile(emitted.source, filename, "exec")
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True),
                                 filename)
    namespace = dict(emitted.namespace)
    exec(code, namespace)  # noqa: S102 - our own generated source; user names are sanitized
    if backend == "numba":
        from graphdl.codegen.numba_backend import compile_kernel

        return compile_kernel(emitted, namespace[emitted.function_name])  # typed at 1st call
    return namespace[emitted.function_name]


def own_writable(value: Any) -> Any:
    """``value`` as a writable array of its own: state must be one, since a later call may
    update it in place (a new value may be a read-only broadcast view or a NumPy scalar)."""
    if getattr(value, "flags", None) is not None and value.flags.writeable and value.base is None:
        return value
    return np.array(value)

"""`gd.function`: compile a graph once into a Python function of straight-line NumPy.

A call checks its arguments against the inputs' static shapes and dtypes (errors name the input
and what was expected), runs the generated code, then applies ``updates`` to shared variables; all
updates read the values from before the call. An exception inside the generated code is re-raised
as `GraphRuntimeError` naming the node, its operands' shapes and the user's line that built it.

``backend="numba"`` compiles the same statements into one ``numba.njit`` kernel instead
(`graphdl.codegen.numba_backend`); argument checks, updates and errors stay here, the same for both.
"""

from __future__ import annotations

import importlib
import linecache
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from graphdl.codegen.caller import CallSpec, fast_caller
from graphdl.codegen.emitter import Emitted, emit_function
from graphdl.codegen.names import comment_text, safe_identifier
from graphdl.errors import GraphError, GraphRuntimeError, InputError, ShapeError
from graphdl.ir.collector import collector_paused
from graphdl.ir.node import Node, SharedBox
from graphdl.ir.shapes import fmt_shape
from graphdl.ir.walk import depends_on, toposort
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED, SharedVariable
from graphdl.ops.registry import as_node

_compiled_count = 0
BACKENDS = ("numpy", "numba")


class Function:
    """A compiled graph. Call it with one argument per input; read ``source`` to see the code."""

    def __init__(
        self,
        inputs: Sequence[Node],
        outputs: Node | Sequence[Node] | None,
        updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None = None,
        name: str | None = None,
        optimize: bool = True,
        backend: str = "numpy",
    ) -> None:
        global _compiled_count
        if backend not in BACKENDS:
            raise ValueError(f"function: unknown backend {backend!r}; expected one of "
                             f"{', '.join(map(repr, BACKENDS))}")
        dialect = None
        if backend == "numba":
            from graphdl.codegen import numba_backend

            numba_backend.require_numba()
            dialect = numba_backend.NumbaDialect()
        self.backend = backend
        self.inputs = list(inputs)
        self._single = isinstance(outputs, Node)
        requested = [] if outputs is None else [outputs] if self._single else list(outputs)
        requested = [as_node(o) for o in requested]
        self._check_inputs(requested)
        pairs = _normalize_updates(updates)
        self.shared_updated = [s for s, _ in pairs]
        update_nodes = [v for _, v in pairs]
        self.report = None
        final = requested + update_nodes
        if optimize and final:
            from graphdl.rewriting import optimize as run_passes

            final, self.report = run_passes(final)
        self.outputs = final[: len(requested)]
        self.update_values = final[len(requested):]
        scheduled = getattr(self.report, "schedule", None)  # the optimizer's low-memory order
        self.schedule = scheduled or _schedule(self.outputs + self.update_values)
        self._check_closed()
        self.shared = [n for n in self.schedule if n.op is SHARED]
        _compiled_count += 1
        self.name = safe_identifier(name) or "compiled"
        self._filename = f"<graphdl:{self.name}:{_compiled_count}>"
        with collector_paused():  # as in the optimizer: 10^5 small objects per graph
            self._emitted = emit_function(
                self.name, self.inputs + self.shared, self.schedule, self.outputs,
                self.update_values, title=f"graphdl function {comment_text(name or self.name)}",
                update_targets=self.shared_updated, dialect=dialect,
            )
            self._function = _compile(self._emitted, self._filename, backend)
        vectorizing = _only_elementwise_consumers(self.inputs, self.schedule)
        self._checkers = [_InputCheck(x, x in vectorizing) for x in self.inputs]
        self._update_boxes = [s.box for s in self.shared_updated]
        self._shared_boxes = [s.box for s in self.shared]
        self._vector_positions = [i for i, x in enumerate(self.inputs) if x in vectorizing]
        # outputs that may be read-only (broadcast views, hoisted constants), copied when they are:
        # a gradient such as d sum(x)/dx is a broadcast view; callers get arrays they may write
        self._maybe_readonly = {i for i, o in enumerate(self.outputs)
                                if o.op.view or o.op is CONSTANT}
        self._variants: dict[tuple[int, ...], tuple[Any, Emitted, str]] = {}
        self._numpy_plain: tuple[Any, Emitted, str] | None = None
        self._kernel = _kernel_info(self) if backend == "numba" else None
        self._fast = _fast_path(self)

    def compile_now(self) -> Function:
        """Compile a numba kernel now, for C-contiguous arrays of the inputs' declared dtypes and
        ranks and the shared variables' current values, instead of at the first call (which then
        only dispatches). A NumPy function is already compiled. Returns the function."""
        if self._kernel is None:
            return self
        from graphdl.codegen.numba_backend import require_numba

        numba = require_numba()
        scalars = set(self._kernel[0])
        types = []
        for i, check in enumerate(self._checkers):
            kind = numba.from_dtype(check.dtype)
            types.append(kind if i in scalars else numba.types.Array(kind, check.ndim, "C"))
        for j, box in enumerate(self._shared_boxes, start=len(self._checkers)):
            value = box.value
            types.append(numba.typeof(value[()] if j in scalars else value))
        self._function.compile(tuple(types))
        return self

    @property
    def source(self) -> str:
        """The generated Python source (the numba kernel's, with backend="numba")."""
        return self._emitted.source

    def __call__(self, *args: Any) -> Any:
        return self._fast(*args)  # the generated call path (graphdl.codegen.caller)

    def _call_checked(self, args: tuple) -> Any:
        """The generic call path: converts arguments, picks vectorized variants, explains."""
        if len(args) != len(self._checkers):
            names = ", ".join(c.label for c in self._checkers)
            raise InputError(f"function {self.name} takes {len(self._checkers)} argument(s) "
                             f"({names}), received {len(args)}")
        values = [check(a) for check, a in zip(self._checkers, args)]
        values.extend(box.value for box in self._shared_boxes)
        run, emitted, filename = self._function, self._emitted, self._filename
        if self._vector_positions:
            variant = self._vectorized_variant(values)
            if variant is not None:
                run, emitted, filename = variant
        if self._kernel is not None and run is self._function:
            return self._call_kernel(values)
        try:
            outputs, new_state = run(*values)
        except GraphError:
            raise
        except Exception as exc:  # a NumPy failure inside generated code: name the node
            raise self._explain(exc, emitted, filename) from None
        for box, value in zip(self._update_boxes, new_state):
            if value is not box.value:  # (an in-place update left the same array there)
                box.value = _own_writable(value)
        if self._maybe_readonly:
            outputs = [o.copy() if i in self._maybe_readonly and isinstance(o, np.ndarray)
                       and not o.flags.writeable else o for i, o in enumerate(outputs)]
        return outputs[0] if self._single else list(outputs)

    def _vectorized_variant(self, values: list[Any]) -> tuple[Any, Emitted, str] | None:
        """Code for a vectorized call, which may reuse buffers the static shapes cannot prove.

        When every argument with extra leading axes has the same shape S and all arguments
        broadcast to S, every node depending on those arguments holds an array of shape S at run
        time, so one such dead temporary can receive another's result (as NumPy's temporary
        elision does for hand-written one-liners). Built once per set of such arguments.
        """
        grown = tuple(i for i in self._vector_positions
                      if values[i].ndim > self._checkers[i].ndim)
        if not grown:
            return None
        shape = values[grown[0]].shape
        if any(values[i].shape != shape for i in grown):
            return self._plain_numpy()
        others = [v.shape for v in values if v.shape and v.shape != shape]  # 0-d: always fine
        if others:
            try:
                if np.broadcast_shapes(shape, *others) != shape:
                    return self._plain_numpy()
            except ValueError:
                return self._plain_numpy()  # the plain code raises, and explains, the clash
        return self._variant(grown)

    def _variant(self, grown: tuple[int, ...]) -> tuple[Any, Emitted, str]:
        """The code for calls whose arguments at positions ``grown`` have extra leading axes,
        all of one shape to which every other argument broadcasts (built once, cached)."""
        variant = self._variants.get(grown)
        if variant is None:
            big = depends_on(self.schedule, [self.inputs[i] for i in grown])
            emitted = emit_function(
                self.name, self.inputs + self.shared, self.schedule, self.outputs,
                self.update_values, title=f"graphdl function {self.name}, vectorized call",
                update_targets=self.shared_updated,
                same_shape=lambda target, node: target in big and node in big,
            )
            filename = f"{self._filename[:-1]}:vectorized>"
            variant = self._variants[grown] = (_compile(emitted, filename), emitted, filename)
        return variant

    def _plain_numpy(self) -> tuple[Any, Emitted, str] | None:
        """The NumPy code of a numba function, for calls the kernel was not typed for
        (vectorized calls) and to find the node behind a kernel's failure; None for NumPy."""
        if self._kernel is None or self.schedule is None:
            return None
        if self._numpy_plain is None:
            emitted = emit_function(
                self.name, self.inputs + self.shared, self.schedule, self.outputs,
                self.update_values, title=f"graphdl function {self.name}, NumPy code",
                update_targets=self.shared_updated)
            filename = f"{self._filename[:-1]}:numpy>"
            self._numpy_plain = (_compile(emitted, filename), emitted, filename)
        return self._numpy_plain

    def _call_kernel(self, values: list[Any]) -> Any:
        """One call of the numba kernel: 0-d values go in as scalars and come out as NumPy
        scalars of their node's dtype (numba returns Python numbers)."""
        scalars, outputs_0d = self._kernel
        originals = list(values)
        for i in scalars:
            values[i] = values[i][()]
        try:
            outputs, new_state = self._function(*values)
        except Exception as exc:
            raise self._explain_kernel(exc, originals) from None
        for box, value in zip(self._update_boxes, new_state):
            if value is not box.value:
                box.value = _own_kernel_state(value, box)
        outputs = list(outputs)
        for i, kind in outputs_0d:
            outputs[i] = kind(outputs[i])
        for i in self._maybe_readonly:  # (numba's broadcast views are writable, stride 0)
            o = outputs[i]
            if isinstance(o, np.ndarray) and (not o.flags.writeable or 0 in o.strides):
                outputs[i] = o.copy()
        return outputs[0] if self._single else outputs

    def _explain_kernel(self, exc: Exception, values: list[Any]) -> Exception:
        """A kernel failure named by node: numba's typing errors quote the kernel's line; for
        others the NumPy code reruns on copies of the state to find the node that fails."""
        message = str(exc)
        where = self._function.py_func.__code__.co_filename  # the cache file, if one is used
        found = re.search(re.escape(where) + r'", line (\d+)', message)
        node = self._emitted.line_nodes.get(int(found.group(1))) if found else None
        first = next((m for m in message.splitlines() if m.strip()), type(exc).__name__)
        if node is not None:
            error = GraphRuntimeError(
                f"{node.op.name} node {node.label()} (created at {node.origin}) failed to "
                f"compile in the numba kernel: {type(exc).__name__}: {first}")
            error.node = node
            return error
        plain = self._plain_numpy()
        if plain is not None:
            copies = [v.copy() if i >= len(self._checkers) else v for i, v in enumerate(values)]
            try:
                plain[0](*copies)
            except Exception as numpy_exc:
                return self._explain(numpy_exc, plain[1], plain[2])
        return GraphRuntimeError(f"function {self.name} failed in its numba kernel: "
                                 f"{type(exc).__name__}: {first}")

    def _explain(self, exc: Exception, emitted: Emitted | None = None,
                 filename: str | None = None) -> Exception:
        emitted = emitted or self._emitted
        filename = filename or self._filename
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
            lines = self.source.splitlines()
            at = f" at `{lines[line - 1].strip()}`" if line and line <= len(lines) else ""
            return GraphRuntimeError(f"function {self.name} failed{at}: "
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

    def _check_inputs(self, outputs: list[Node]) -> None:
        for i, x in enumerate(self.inputs):
            if not isinstance(x, Node) or x.op is not INPUT:
                what = x.label() if isinstance(x, Node) else repr(x)
                hint = " (shared variables are not arguments; they are read directly)" if (
                    isinstance(x, SharedVariable)) else ""
                raise TypeError(f"function: inputs[{i}] = {what} is not a symbolic input{hint}")
        if len({id(x) for x in self.inputs}) != len(self.inputs):
            raise ValueError("function: an input is listed twice")

    def _check_closed(self) -> None:
        given = {id(x) for x in self.inputs}
        for node in self.schedule:
            if node.op is INPUT and id(node) not in given:
                raise ValueError(f"function: the outputs depend on input {node.label()} which is "
                                 "not in the inputs list")

    def __reduce__(self) -> tuple:
        """Pickle the generated source, hoisted constants, argument checks and the shared
        variables' values *at pickling time*, not the graph; unpickling recompiles the source (on
        a Dask worker, say). The copy owns its shared values: its updates never reach the
        original, and the original's later changes never reach it. It has no graph (``inputs``,
        ``outputs``, ``schedule`` are None), so its errors quote the failing line instead."""
        return (_restore_function, (_portable_state(self),))

    def __repr__(self) -> str:
        if self.schedule is None:
            return (f"<graphdl.Function {self.name}: {len(self._checkers)} inputs, unpickled "
                    "(source only, no graph)>")
        return (f"<graphdl.Function {self.name}: {len(self.inputs)} inputs, "
                f"{len(self.outputs)} outputs, {len(self.update_values)} updates, "
                f"{len(self.schedule)} nodes>")


def function(inputs: Sequence[Node], outputs: Node | Sequence[Node] | None = None,
             updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None = None,
             name: str | None = None, optimize: bool = True, backend: str = "numpy") -> Function:
    """Compile ``outputs`` (a node or a list) as a function of ``inputs``.

    ``updates`` maps shared variables to their new values, applied after each call.
    ``backend="numba"`` runs the graph as one ``numba.njit`` kernel, compiled at the first call
    (seconds); the default ``"numpy"`` runs straight-line NumPy and is the reference.
    """
    return Function(inputs, outputs, updates, name=name, optimize=optimize, backend=backend)


def _kernel_info(fn: Function) -> tuple[list[int], list[tuple[int, type]]]:
    """What a numba call converts: the 0-d parameters (passed as scalars) and 0-d outputs."""
    params = fn.inputs + fn.shared
    scalars = [i for i, p in enumerate(params) if p.ndim == 0]
    outputs = [(i, o.dtype.type) for i, o in enumerate(fn.outputs) if o.ndim == 0]
    return scalars, outputs


def _own_writable(value: Any) -> Any:
    """``value`` as a writable array of its own: state must be one, since a later call may
    update it in place (a new value may be a read-only broadcast view or a NumPy scalar)."""
    if getattr(value, "flags", None) is not None and value.flags.writeable and value.base is None:
        return value
    return np.array(value)


def _normalize_updates(updates: Any) -> list[tuple[SharedVariable, Node]]:
    if updates is None:
        return []
    items = list(updates.items()) if isinstance(updates, Mapping) else list(updates)
    pairs: list[tuple[SharedVariable, Node]] = []
    seen: set[int] = set()
    for target, value in items:
        if not isinstance(target, SharedVariable):
            raise TypeError(f"updates: {target!r} is not a shared variable")
        if id(target) in seen:
            raise ValueError(f"updates: shared {target.label()} is updated twice")
        seen.add(id(target))
        value = as_node(value)
        pairs.append((target, _fit_update(target, value)))
    return pairs


def _fit_update(target: SharedVariable, value: Node) -> Node:
    if len(value.shape) > len(target.shape) or any(
        v is not None and v != t and v != 1
        for v, t in zip(reversed(value.shape), reversed(target.shape))
    ):
        raise ShapeError(f"updates: the new value of shared {target.label()} has shape "
                         f"{fmt_shape(value.shape)}, expected {fmt_shape(target.shape)}")
    if value.dtype != target.dtype:
        if not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
            raise ShapeError(f"updates: the new value of shared {target.label()} has dtype "
                             f"{value.dtype}, expected {target.dtype}")
        value = ew.cast(value, target.dtype)
    if value.shape != target.shape:
        from graphdl.ops.shape_ops import broadcast_to

        value = broadcast_to(value, target.shape) if None not in value.shape else value
    return value


def _schedule(nodes: list[Node]) -> list[Node]:
    return toposort(nodes)


_PICKLE_FORMAT = 2  # bump when the pickled state changes: old pickles are refused, not misread


def _portable_state(fn: Function) -> dict[str, Any]:
    boxes = list({id(b): b for b in fn._shared_boxes + fn._update_boxes}.values())
    where = {id(b): i for i, b in enumerate(boxes)}
    namespace = fn._emitted.namespace
    return {
        "format": _PICKLE_FORMAT, "name": fn.name, "single": fn._single, "source": fn.source,
        "function_name": fn._emitted.function_name,
        "modules": {k: v.__name__ for k, v in namespace.items() if isinstance(v, ModuleType)},
        "constants": {k: v for k, v in namespace.items() if not isinstance(v, ModuleType)},
        "checkers": fn._checkers, "values": [b.value for b in boxes],
        "shared": [where[id(b)] for b in fn._shared_boxes],
        "updated": [where[id(b)] for b in fn._update_boxes],
        "readonly": sorted(fn._maybe_readonly), "backend": fn.backend,
        "kernel": None if fn._kernel is None else (
            fn._kernel[0], [(i, np.dtype(t).name) for i, t in fn._kernel[1]]),
    }


def _restore_function(state: dict[str, Any]) -> Function:
    """Rebuild a pickled `Function` from its source (see `Function.__reduce__`)."""
    global _compiled_count
    if state.get("format") != _PICKLE_FORMAT:
        raise ValueError(f"pickled graphdl function {state.get('name')!r} has format "
                         f"{state.get('format')}; this graphdl reads format {_PICKLE_FORMAT}")
    fn = Function.__new__(Function)
    fn.name, fn._single = state["name"], state["single"]
    fn.inputs = fn.outputs = fn.update_values = fn.schedule = None  # the graph does not travel
    fn.shared = fn.shared_updated = fn.report = None
    namespace = {k: importlib.import_module(m) for k, m in state["modules"].items()}
    namespace.update(state["constants"])
    fn._emitted = Emitted(state["source"], state["function_name"], namespace)
    _compiled_count += 1
    fn._filename = f"<graphdl:{fn.name}:{_compiled_count}>"
    fn.backend = state.get("backend", "numpy")
    fn._function = _compile(fn._emitted, fn._filename, fn.backend)
    kernel = state.get("kernel")
    fn._kernel = None if kernel is None else (
        kernel[0], [(i, np.dtype(t).type) for i, t in kernel[1]])
    fn._numpy_plain = None
    fn._checkers = state["checkers"]
    if fn._kernel is not None:  # no graph to emit NumPy code for extra leading axes: refused
        for check in fn._checkers:
            check.vectorizes = False
    boxes = [SharedBox(value) for value in state["values"]]
    fn._shared_boxes = [boxes[i] for i in state["shared"]]
    fn._update_boxes = [boxes[i] for i in state["updated"]]
    fn._vector_positions, fn._variants = [], {}  # no graph to plan vectorized variants from
    fn._maybe_readonly = frozenset(state["readonly"])
    fn._fast = _fast_path(fn)
    return fn


def _fast_path(fn: Function) -> Callable[..., Any]:
    """The generated call path of ``fn`` (see `graphdl.codegen.caller`)."""
    if fn._kernel is not None:  # numba: 0-d values cross as scalars, see _call_kernel
        scalars, outputs_0d = fn._kernel
        return fast_caller(CallSpec(
            fn._checkers, fn._function, fn._shared_boxes, fn._update_boxes,
            frozenset(fn._maybe_readonly), fn._single, fn._call_checked,
            lambda exc, code, values: fn._explain_kernel(exc, list(values)), _own_kernel_state,
            scalars=frozenset(scalars), outputs_0d=tuple(outputs_0d), zero_strides=True))
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
        lambda value, box: _own_writable(value), vectorized))


def _own_kernel_state(value: Any, box: SharedBox) -> Any:
    """A numba kernel's new state: arrays as for NumPy, numbers back to the state's dtype."""
    if value.__class__ is np.ndarray:
        return _own_writable(value)
    return np.array(value, box.value.dtype)


def _compile(emitted: Emitted, filename: str, backend: str = "numpy"):
    code = compile(emitted.source, filename, "exec")
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True),
                                 filename)
    namespace = dict(emitted.namespace)
    exec(code, namespace)  # noqa: S102 - our own generated source; user names are sanitized
    if backend == "numba":
        from graphdl.codegen.numba_backend import compile_kernel

        return compile_kernel(emitted, namespace[emitted.function_name])  # typed at 1st call
    return namespace[emitted.function_name]


class _InputCheck:
    """Converts and checks one argument before any computation runs."""

    def __init__(self, node: Node, vectorizes: bool) -> None:
        self.shape = node.shape
        self.label = node.label()
        self.dtype = node.dtype
        self.ndim = node.ndim
        self.static = [(i, d) for i, d in enumerate(node.shape) if d is not None]
        self.vectorizes = vectorizes  # may take extra leading axes (see below)

    def __call__(self, value: Any) -> np.ndarray:
        if value.__class__ is not np.ndarray:
            value = self._from_python(value)
        elif value.dtype != self.dtype:
            if not np.can_cast(value.dtype, self.dtype, casting="safe"):
                raise InputError(
                    f"input {self.label}: expected dtype {self.dtype}, received {value.dtype} "
                    f"(not a safe cast; convert with .astype('{self.dtype}'))"
                )
            value = value.astype(self.dtype)
        shape = value.shape
        extra = len(shape) - self.ndim
        if extra != 0 and not (extra > 0 and self.vectorizes):
            raise InputError(
                f"input {self.label}: expected shape {fmt_shape(self.shape)} (rank "
                f"{self.ndim}), received shape {fmt_shape(shape)} (rank {len(shape)})"
            )
        for axis, size in self.static:
            if shape[axis + extra] != size:
                raise InputError(
                    f"input {self.label}: expected shape {fmt_shape(self.shape)}, received "
                    f"{fmt_shape(shape)} (axis {axis} should be {size})"
                )
        return value

    def _from_python(self, value: Any) -> np.ndarray:
        if isinstance(value, Node):
            raise InputError(f"input {self.label}: received a graph node; compiled functions "
                             "take arrays")
        array = np.asarray(value)
        if array.dtype == self.dtype:
            return array
        natural = array.dtype
        same_kind_number = natural.kind in "biuf" and (
            natural.kind == self.dtype.kind or np.can_cast(natural, self.dtype, "safe")
            or (natural.kind in "biu" and self.dtype.kind == "f"))
        if not same_kind_number:
            raise InputError(f"input {self.label}: expected dtype {self.dtype}, received "
                             f"{type(value).__name__} of dtype {natural}")
        return array.astype(self.dtype)


def _only_elementwise_consumers(inputs: Sequence[Node], schedule: Sequence[Node]) -> set[Node]:
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

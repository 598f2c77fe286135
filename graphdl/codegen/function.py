"""`gd.function`: compile a graph once into a Python function of straight-line NumPy.

A call checks its arguments against the inputs' static shapes and dtypes (errors name the input
and what was expected), runs the generated code, then applies ``updates`` to shared variables; all
updates read the values from before the call. An exception inside the generated code is re-raised
as `GraphRuntimeError` naming the node, its operands' shapes and the user's line that built it.

``backend="numba"`` compiles the same statements into one ``numba.njit`` kernel instead
(`graphdl.codegen.numba_backend`); argument checks, updates and errors are the same for both.
"""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphdl.codegen import kernel_call, pickling, variants
from graphdl.codegen.arguments import (
    InputCheck,
    bind_names,
    check_closed,
    check_inputs,
    normalize_updates,
)
from graphdl.codegen.calling import code_filename, compile_emitted, fast_path, own_writable
from graphdl.codegen.emitter import Emitted, emit_function
from graphdl.codegen.explain import explain
from graphdl.codegen.indices import IndexCheck
from graphdl.codegen.inplace import _alias_roots
from graphdl.codegen.names import comment_text, safe_identifier
from graphdl.codegen.sizes import SizeCheck
from graphdl.errors import GraphError, InputError
from graphdl.ir.collector import collector_paused
from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.ops.leaves import CONSTANT, SHARED
from graphdl.ops.registry import as_node

BACKENDS = ("numpy", "numba")


class Function:
    """A compiled graph. Call it with one argument per input (by position, or by the input's
    name: ``fn(X=data, y=labels)``); read ``source`` to see the code.

    The jobs live in their own modules: argument and update checks (`graphdl.codegen.arguments`),
    compiling and the generated call path (`graphdl.codegen.calling`), vectorized variants
    (`graphdl.codegen.variants`), the numba call path (`graphdl.codegen.kernel_call`), naming
    the failing node (`graphdl.codegen.explain`) and pickling (`graphdl.codegen.pickling`).
    """

    def __init__(
        self,
        inputs: Sequence[Node],
        outputs: Node | Sequence[Node] | None,
        updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None = None,
        name: str | None = None,
        optimize: bool = True,
        backend: str = "numpy",
    ) -> None:
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
        check_inputs(self.inputs)
        pairs = normalize_updates(updates)
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
        self.schedule = scheduled or toposort(self.outputs + self.update_values)
        check_closed(self.inputs, self.schedule)
        self.shared = [n for n in self.schedule if n.op is SHARED]
        self.name = safe_identifier(name) or "compiled"
        self._filename = code_filename(self.name)
        with collector_paused():  # as in the optimizer: 10^5 small objects per graph
            self._emitted = emit_function(
                self.name, self.inputs + self.shared, self.schedule, self.outputs,
                self.update_values, title=f"graphdl function {comment_text(name or self.name)}",
                update_targets=self.shared_updated, dialect=dialect,
            )
            self._function = compile_emitted(self._emitted, self._filename, backend)
        vectorizing = variants.only_elementwise_consumers(self.inputs, self.schedule)
        self._checkers = [InputCheck(x, x in vectorizing) for x in self.inputs]
        self._update_boxes = [s.box for s in self.shared_updated]
        self._shared_boxes = [s.box for s in self.shared]
        self._vector_positions = [i for i, x in enumerate(self.inputs) if x in vectorizing]
        # outputs that may be read-only (broadcast views, hoisted constants), copied when they are:
        # a gradient such as d sum(x)/dx is a broadcast view; callers get arrays they may write
        self._maybe_readonly = {i for i, o in enumerate(self.outputs)
                                if o.op.view or o.op is CONSTANT}
        # outputs never alias state: an output that is a shared variable, an update's new value
        # (stored as the new state) or a hoisted constant, or a view of one, is always copied
        root = _alias_roots(self.schedule)
        kept = set(self.update_values)
        self._copied = frozenset(
            i for i, o in enumerate(self.outputs)
            if root.get(o, o).op in (SHARED, CONSTANT) or root.get(o, o) in kept)
        self._maybe_readonly -= self._copied
        self._variants: dict[tuple[int, ...], tuple[Any, Emitted, str]] = {}
        self._numpy_plain: tuple[Any, Emitted, str] | None = None
        self._kernel = kernel_call.kernel_info(self) if backend == "numba" else None
        moving = [i for i, (x, c) in enumerate(zip(self.inputs, self._checkers))
                  if None in x.shape or c.vectorizes]  # run-time shapes not fixed by the checks
        self._sizes = SizeCheck(self.inputs, moving, self.schedule, self.update_values,
                                self.shared_updated) if moving else None
        indices = IndexCheck(self.inputs, self.schedule)
        self._indices = indices if indices.ranges else None
        self._fast = fast_path(self)

    def compile_now(self) -> Function:
        """Compile a numba kernel now, for C-contiguous arrays of the inputs' declared dtypes and
        ranks and the shared variables' current values, instead of at the first call (which then
        only dispatches). A NumPy function is already compiled. Returns the function."""
        kernel_call.compile_now(self)
        return self

    @property
    def source(self) -> str:
        """The generated Python source (the numba kernel's, with backend="numba")."""
        return self._emitted.source

    def __call__(self, *args: Any, **named: Any) -> Any:
        if named:  # arguments by input name
            args = bind_names(self.name, [c.label for c in self._checkers], args, named)
        return self._fast(*args)  # the generated call path (graphdl.codegen.caller)

    def _call_checked(self, args: tuple) -> Any:
        """The generic call path: converts arguments, picks vectorized variants, explains."""
        if len(args) != len(self._checkers):
            names = ", ".join(c.label for c in self._checkers)
            raise InputError(f"function {self.name} takes {len(self._checkers)} argument(s) "
                             f"({names}), received {len(args)}")
        values = [check(a) for check, a in zip(self._checkers, args)]
        if self._indices is not None:  # labels and indices in range, before anything runs
            self._indices(values)
        if self._sizes is not None:  # before anything runs (the kernel relies on the sizes)
            self._sizes(tuple(values[i].shape for i in self._sizes.positions))
        values.extend(box.value for box in self._shared_boxes)
        run, emitted, filename = self._function, self._emitted, self._filename
        if self._vector_positions:
            variant = variants.vectorized_variant(self, values)
            if variant is not None:
                run, emitted, filename = variant
        if self._kernel is not None and run is self._function:
            return kernel_call.call_kernel(self, values)
        try:
            outputs, new_state = run(*values)
        except GraphError:
            raise
        except Exception as exc:  # a NumPy failure inside generated code: name the node
            raise explain(self, exc, emitted, filename) from None
        for box, value in zip(self._update_boxes, new_state):
            if value is not box.value:  # (an in-place update left the same array there)
                box.value = own_writable(value)
        if self._maybe_readonly or self._copied:
            outputs = [o.copy() if isinstance(o, np.ndarray) and (i in self._copied or (
                i in self._maybe_readonly and not o.flags.writeable)) else o
                for i, o in enumerate(outputs)]
        return outputs[0] if self._single else list(outputs)

    def _variant(self, grown: tuple[int, ...]) -> tuple[Any, Emitted, str]:
        return variants.variant(self, grown)

    def _plain_numpy(self) -> tuple[Any, Emitted, str] | None:
        return variants.plain_numpy(self)

    def _explain(self, exc: Exception, emitted: Emitted | None = None,
                 filename: str | None = None) -> Exception:
        return explain(self, exc, emitted, filename)

    def _explain_kernel(self, exc: Exception, values: list[Any]) -> Exception:
        return kernel_call.explain_kernel(self, exc, values)

    def __reduce__(self) -> tuple:
        """Pickle the generated source, hoisted constants, argument checks and the shared
        variables' values *at pickling time*, not the graph; unpickling recompiles the source (on
        a Dask worker, say). The copy owns its shared values: its updates never reach the
        original, and the original's later changes never reach it. It has no graph (``inputs``,
        ``outputs``, ``schedule`` are None), so its errors quote the failing line instead."""
        return (_restore_function, (pickling.portable_state(self),))

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


def _restore_function(state: dict[str, Any]) -> Function:
    """Rebuild a pickled `Function` (pickles name this function; see `graphdl.codegen.pickling`)."""
    return pickling.restore_function(Function, state)

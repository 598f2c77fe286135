"""Pickling a compiled function, for Dask to carry our own objects to workers: the generated
source, hoisted constants, argument checks and shared values travel, not the graph; unpickling
recompiles the source. (graphdl never unpickles files.)"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.codegen.calling import code_filename, compile_emitted, fast_path
from graphdl.codegen.emitter import Emitted
from graphdl.ir.node import SharedBox

if TYPE_CHECKING:
    from graphdl.codegen.function import Function


PICKLE_FORMAT = 4  # bump when the pickled state changes: old pickles are refused, not misread


def portable_state(fn: Function) -> dict[str, Any]:
    """What travels: everything but the graph (see `Function.__reduce__`)."""
    boxes = list({id(b): b for b in fn._shared_boxes + fn._update_boxes}.values())
    where = {id(b): i for i, b in enumerate(boxes)}
    namespace = fn._emitted.namespace
    return {
        "format": PICKLE_FORMAT, "name": fn.name, "single": fn._single, "source": fn.source,
        "function_name": fn._emitted.function_name,
        "modules": {k: v.__name__ for k, v in namespace.items() if isinstance(v, ModuleType)},
        "constants": {k: v for k, v in namespace.items() if not isinstance(v, ModuleType)},
        "checkers": fn._checkers, "values": [b.value for b in boxes],
        "shared": [where[id(b)] for b in fn._shared_boxes],
        "updated": [where[id(b)] for b in fn._update_boxes],
        "readonly": sorted(fn._maybe_readonly), "copied": sorted(fn._copied),
        "indices": fn._indices,
        "backend": fn.backend,
        "kernel": None if fn._kernel is None else (
            fn._kernel[0], [(i, np.dtype(t).name) for i, t in fn._kernel[1]]),
    }


def restore_function(cls: type[Function], state: dict[str, Any]) -> Function:
    """Rebuild a pickled ``cls`` from its source (see `Function.__reduce__`)."""
    if state.get("format") != PICKLE_FORMAT:
        raise ValueError(f"pickled graphdl function {state.get('name')!r} has format "
                         f"{state.get('format')}; this graphdl reads format {PICKLE_FORMAT}")
    fn = cls.__new__(cls)
    fn.name, fn._single = state["name"], state["single"]
    fn.inputs = fn.outputs = fn.update_values = fn.schedule = None  # the graph does not travel
    fn.shared = fn.shared_updated = fn.report = None
    namespace = {k: importlib.import_module(m) for k, m in state["modules"].items()}
    namespace.update(state["constants"])
    fn._emitted = Emitted(state["source"], state["function_name"], namespace)
    fn._filename = code_filename(fn.name)
    fn.backend = state.get("backend", "numpy")
    fn._function = compile_emitted(fn._emitted, fn._filename, fn.backend)
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
    fn._copied = frozenset(state["copied"])
    fn._sizes = None  # no graph to check run-time sizes against (NumPy raises for a clash)
    fn._indices = state["indices"]  # labels are checked as on the driver
    fn._fast = fast_path(fn)
    return fn

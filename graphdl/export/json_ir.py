"""A versioned JSON form of the IR: save a graph, load it back without its script.

The file is plain data, read with `json` only (no pickle, no ``eval``)::

    {"format": "graphdl-graph", "version": 1,
     "nodes": [{"op": "input", "inputs": [], "attrs": {}, "shape": [null, 64],
                "dtype": "float64", "name": "X", "origin": "model.py:3"}, ...],
     "inputs": [0, ...], "outputs": [7, ...], "single": false, "updates": [[2, 9], ...]}

Nodes are listed in topological order and refer to their inputs by position in that list.
Attribute values that JSON lacks are tagged objects: ``{"tuple": [...]}``, ``{"slice": [start,
stop, step]}``, ``{"dtype": "float32"}``, ``{"array": <base64 of the raw little-endian bytes>,
"dtype": ..., "shape": [...]}`` (constants and the current value of shared variables),
``{"scalar": ..., "dtype": ...}`` and ``{"float": "nan" | "inf" | "-inf"}``.

Loading rebuilds every node through the op registry: the op's own shape/dtype rule runs again over
the loaded inputs, and a node whose recorded shape or dtype disagrees with it is refused, as are an
unknown op, another format or version, and a malformed file; each error names the node.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphdl.errors import ExportError, GraphError
from graphdl.ir.node import Node, make_node
from graphdl.ir.walk import toposort
from graphdl.ops.leaves import constant, shared, tensor
from graphdl.ops.registry import REGISTRY, as_node

FORMAT = "graphdl-graph"
VERSION = 1


@dataclass
class LoadedGraph:
    """A graph read back by `load_graph`: compile it with ``gd.function(g.inputs, g.outputs,
    updates=g.updates)``."""

    inputs: list[Node]
    outputs: Node | list[Node]
    updates: list[tuple[Node, Node]] = field(default_factory=list)
    shared: list[Node] = field(default_factory=list)  # the shared variables, in graph order


# --- attribute values <-> JSON ---------------------------------------------------------------
def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float) and not isinstance(value, np.generic):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, slice):
        return {"slice": [_encode(v, where) for v in (value.start, value.stop, value.step)]}
    if isinstance(value, np.dtype):
        return {"dtype": value.str if value.kind == "V" else value.name}
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        if array.dtype.kind not in "biuf":
            raise ExportError(f"{where}: cannot save an array of dtype {array.dtype}")
        raw = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        return {"array": base64.b64encode(raw).decode("ascii"), "dtype": array.dtype.name,
                "shape": list(array.shape)}
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise ExportError(f"{where}: cannot save a value of dtype {value.dtype}")
        item = value.item()
        if isinstance(item, float) and not math.isfinite(item):
            item = {"float": repr(item)}
        return {"scalar": item, "dtype": value.dtype.name}
    raise ExportError(f"{where}: cannot save an attribute of type {type(value).__name__}")


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _dtype(text: Any, where: str) -> np.dtype:
    if not isinstance(text, str):
        raise ExportError(f"{where}: a dtype must be a string, got {text!r}")
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ExportError(f"{where}: {text!r} is not a dtype") from exc
    if dtype.kind not in "biuf":
        raise ExportError(f"{where}: dtype {dtype} is not numeric")
    return dtype


def _decode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict) or len(value) == 0:
        raise ExportError(f"{where}: malformed attribute value {value!r}")
    if "tuple" in value and len(value) == 1 and isinstance(value["tuple"], list):
        return tuple(_decode(v, where) for v in value["tuple"])
    if "slice" in value and len(value) == 1 and isinstance(value["slice"], list) \
            and len(value["slice"]) == 3:
        return slice(*[_decode(v, where) for v in value["slice"]])
    if "dtype" in value and len(value) == 1:
        return _dtype(value["dtype"], where)
    if "float" in value and len(value) == 1 and value["float"] in _FLOATS:
        return _FLOATS[value["float"]]
    if "array" in value and set(value) == {"array", "dtype", "shape"}:
        dtype = _dtype(value["dtype"], where)
        shape = value["shape"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ExportError(f"{where}: malformed array shape {shape!r}")
        try:
            raw = base64.b64decode(value["array"], validate=True)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"{where}: array data is not base64") from exc
        count = int(np.prod(shape, dtype=np.int64))
        if len(raw) != count * dtype.itemsize:
            raise ExportError(f"{where}: array data has {len(raw)} bytes, shape {tuple(shape)} "
                              f"of {dtype} needs {count * dtype.itemsize}")
        array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
        return array
    if "scalar" in value and set(value) == {"scalar", "dtype"}:
        dtype = _dtype(value["dtype"], where)
        item = _decode(value["scalar"], where)
        if not isinstance(item, (bool, int, float)):
            raise ExportError(f"{where}: malformed scalar {value!r}")
        return dtype.type(item)
    raise ExportError(f"{where}: malformed attribute value {value!r}")


# --- saving ----------------------------------------------------------------------------------
def _as_list(outputs: Node | Sequence[Any]) -> tuple[list[Node], bool]:
    if isinstance(outputs, Node):
        return [outputs], True
    return [as_node(o) for o in outputs], False


def _pairs(updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None) -> list[tuple]:
    if updates is None:
        return []
    items = updates.items() if isinstance(updates, Mapping) else updates
    return [(var, as_node(new)) for var, new in items]


def graph_to_dict(inputs: Sequence[Node], outputs: Node | Sequence[Any],
                  updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None = None
                  ) -> dict[str, Any]:
    """The JSON-ready dict of the graph computing ``outputs`` from ``inputs``."""
    outs, single = _as_list(outputs)
    pairs = _pairs(updates)
    for var, _ in pairs:
        if not isinstance(var, Node) or var.op.name != "shared":
            raise ExportError(f"save_graph: updates must map shared variables, got {var!r}")
    order = toposort(list(inputs) + outs + [n for pair in pairs for n in pair])
    index = {node: i for i, node in enumerate(order)}
    for node in inputs:
        if node.op.name != "input":
            raise ExportError(f"save_graph: {node.label()} ({node.op.name}) is not a graph input")
    records = []
    for node in order:
        where = f"save_graph: node {node.label()} (created at {node.origin})"
        if node.op.name not in REGISTRY or REGISTRY[node.op.name] is not node.op:
            raise ExportError(f"{where}: op {node.op.name!r} is not in the registry")
        if node.op.name == "shared":
            attrs = {"value": _encode(np.asarray(node.attrs["box"].value), where)}
        else:
            attrs = {k: _encode(v, f"{where}, attribute {k!r}") for k, v in node.attrs.items()}
        records.append({
            "op": node.op.name, "inputs": [index[i] for i in node.inputs], "attrs": attrs,
            "shape": list(node.shape), "dtype": node.dtype.name, "name": node.name,
            "origin": node.origin,
        })
    return {"format": FORMAT, "version": VERSION, "nodes": records,
            "inputs": [index[n] for n in inputs], "outputs": [index[n] for n in outs],
            "single": single, "updates": [[index[v], index[n]] for v, n in pairs]}


def save_graph(inputs: Sequence[Node], outputs: Node | Sequence[Any], path: str | os.PathLike,
               updates: Mapping[Node, Any] | Sequence[tuple[Node, Any]] | None = None) -> None:
    """Write the graph of ``outputs`` over ``inputs`` (and optional shared-variable ``updates``)
    to ``path`` as JSON (shared variables with their current values). `load_graph` reads it."""
    data = graph_to_dict(inputs, outputs, updates)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")


# --- loading ---------------------------------------------------------------------------------
def _field(record: dict, key: str, kind: type, where: str) -> Any:
    if key not in record:
        raise ExportError(f"{where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind):
        raise ExportError(f"{where}: field {key!r} is malformed ({value!r})")
    return value


def _shape(value: Any, where: str) -> tuple:
    if not isinstance(value, list) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
            for d in value):
        raise ExportError(f"{where}: malformed shape {value!r}")
    return tuple(value)


def _check_axes(op_name: str, inputs: tuple, attrs: dict, where: str) -> None:
    """Axes the ops' shape rules take as already normalized (the builders normalize them): a
    reduction's ``axis`` tuple and a transpose's ``axes`` must name axes of the operand."""
    ndim = inputs[0].ndim if inputs else 0
    if "keepdims" in attrs and isinstance(attrs.get("axis"), tuple):
        axes = attrs["axis"]
        if not all(type(a) is int and 0 <= a < ndim for a in axes) or len(set(axes)) != len(axes):
            raise ExportError(f"{where}: axis {axes} does not name distinct axes of a "
                              f"{ndim}-d operand")
    if op_name == "transpose":
        axes = attrs.get("axes")
        if not isinstance(axes, tuple) or sorted(axes) != list(range(ndim)):
            raise ExportError(f"{where}: axes {axes!r} is not a permutation of the {ndim} "
                              "axes of the operand")


def _build(record: dict, nodes: list[Node], k: int) -> Node:
    where = f"load_graph: node {k}"
    op_name = _field(record, "op", str, where)
    name = record.get("name")
    if name is not None and not isinstance(name, str):
        raise ExportError(f"{where}: field 'name' is malformed ({name!r})")
    where = f"load_graph: node {k} ({op_name}{' ' + repr(name) if name else ''})"
    op = REGISTRY.get(op_name)
    if op is None:
        raise ExportError(f"{where}: unknown op {op_name!r} (not in this graphdl's registry)")
    refs = _field(record, "inputs", list, where)
    for r in refs:
        if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < k:
            raise ExportError(f"{where}: input {r!r} does not name an earlier node")
    inputs = tuple(nodes[r] for r in refs)
    attrs = _field(record, "attrs", dict, where)
    attrs = {key: _decode(v, f"{where}, attribute {key!r}") for key, v in attrs.items()}
    shape = _shape(_field(record, "shape", list, where), where)
    dtype = _dtype(_field(record, "dtype", str, where), where)
    origin = record.get("origin")
    origin = origin if isinstance(origin, str) else "?"
    try:
        if op_name in ("input", "shared", "constant") and inputs:
            raise ExportError(f"{where}: a leaf has no inputs")
        if op_name == "input":
            node = tensor(name, shape, dtype)
        elif op_name == "shared":
            value = attrs.get("value")
            if not isinstance(value, np.ndarray) or set(attrs) != {"value"}:
                raise ExportError(f"{where}: a shared variable needs an array 'value'")
            node = shared(value, name=name)
        elif op_name == "constant":
            if set(attrs) != {"value", "weak"}:
                raise ExportError(f"{where}: a constant needs 'value' and 'weak'")
            value = attrs["value"]
            if attrs["weak"]:
                if type(value) not in (bool, int, float):
                    raise ExportError(f"{where}: a weak constant must be a Python number")
                node = constant(value, name=name)
            else:
                node = constant(value, dtype=dtype, name=name)
        if op_name in ("input", "shared", "constant"):
            # built (and checked) by the leaf constructors; the same leaf with the saved origin
            node = make_node(type(node), node.op, (), node.attrs, node.shape, node.dtype, name,
                             origin)
        else:
            _check_axes(op_name, inputs, attrs, where)
            found_shape, found_dtype = op.infer(inputs, attrs)
            node = make_node(Node, op, inputs, attrs, tuple(found_shape), np.dtype(found_dtype),
                             name, origin)
    except ExportError:
        raise
    except GraphError as exc:
        raise ExportError(f"{where}: {exc}") from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExportError(f"{where}: its attributes do not fit op {op_name!r} ({exc})") from exc
    if node.shape != shape or node.dtype != dtype:
        raise ExportError(f"{where}: the file says {dtype}{list(shape)}, op {op_name!r} infers "
                          f"{node.dtype}{list(node.shape)} from the loaded inputs")
    return node


def graph_from_dict(data: Any) -> LoadedGraph:
    """Rebuild the graph of a `graph_to_dict` dict (see `load_graph`)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f"load_graph: not a graphdl graph (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise ExportError(f"load_graph: unsupported version {data.get('version')!r} "
                          f"(this graphdl reads version {VERSION})")
    records = _field(data, "nodes", list, "load_graph")
    nodes: list[Node] = []
    for k, record in enumerate(records):
        if not isinstance(record, dict):
            raise ExportError(f"load_graph: node {k} is not an object")
        nodes.append(_build(record, nodes, k))

    def pick(key: str) -> list[Node]:
        refs = _field(data, key, list, "load_graph")
        for r in refs:
            if not isinstance(r, int) or isinstance(r, bool) or not 0 <= r < len(nodes):
                raise ExportError(f"load_graph: {key} entry {r!r} does not name a node")
        return [nodes[r] for r in refs]

    inputs, outs = pick("inputs"), pick("outputs")
    for node in inputs:
        if node.op.name != "input":
            raise ExportError(f"load_graph: inputs entry {node.label()} is not an input node")
    single = data.get("single", False)
    if single is not False and (single is not True or len(outs) != 1):
        raise ExportError("load_graph: 'single' must be false, or true with one output")
    updates = []
    for pair in _field(data, "updates", list, "load_graph"):
        if not (isinstance(pair, list) and len(pair) == 2 and all(
                isinstance(r, int) and not isinstance(r, bool) and 0 <= r < len(nodes)
                for r in pair)) or nodes[pair[0]].op.name != "shared":
            raise ExportError(f"load_graph: malformed update {pair!r}")
        updates.append((nodes[pair[0]], nodes[pair[1]]))
    return LoadedGraph(inputs=inputs, outputs=outs[0] if single else outs, updates=updates,
                       shared=[n for n in nodes if n.op.name == "shared"])


def load_graph(path: str | os.PathLike) -> LoadedGraph:
    """Read a graph written by `save_graph`: its inputs, outputs, updates and shared variables
    (holding the saved values), every node rebuilt and re-checked through the op registry."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ExportError(f"load_graph: {os.fspath(path)} is not JSON ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ExportError(f"load_graph: {os.fspath(path)} is not UTF-8 text") from exc
    return graph_from_dict(data)

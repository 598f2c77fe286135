"""Graphs that travel: ONNX export (`to_onnx`) and a versioned JSON form of the IR
(`save_graph` / `load_graph`).

Like `graphdl.symbolic` and `graphdl.viz` this layer only reads graphs; it imports the layers
below it (ir, ops, autodiff, rewriting, codegen) and nothing above. onnx is imported lazily, when
a graph is exported, so graphdl works without it.
"""

from graphdl.export.json_ir import (
    LoadedGraph,
    graph_from_dict,
    graph_to_dict,
    load_graph,
    save_graph,
)
from graphdl.export.onnx import ONNX_RULES, lowers, to_onnx

__all__ = ["ONNX_RULES", "LoadedGraph", "graph_from_dict", "graph_to_dict", "load_graph", "lowers",
           "save_graph", "to_onnx"]

"""The IR: immutable nodes, static shapes, graph walks, name scopes."""

from graphdl.ir.graph import count_nodes, format_graph, to_networkx
from graphdl.ir.node import Node
from graphdl.ir.scopes import name_scope
from graphdl.ir.walk import ancestors, graph_inputs, shared_variables, toposort

__all__ = ["Node", "ancestors", "count_nodes", "format_graph", "graph_inputs", "name_scope",
           "shared_variables", "to_networkx", "toposort"]

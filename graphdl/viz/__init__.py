"""Presentation: evaluation traces (the lecture's tables), dual numbers, graphviz drawings and
the name scopes drawings cluster by. Never on the hot path: nothing here runs inside a compiled
function."""

from graphdl.autodiff.dual import Dual, eval_dual
from graphdl.viz.dot import GraphTooLargeError, RenderError, gradient_with_map, render, to_dot
from graphdl.viz.scopes import name_scope
from graphdl.viz.trace import Row, Trace, trace

__all__ = ["Dual", "GraphTooLargeError", "RenderError", "Row", "Trace", "eval_dual",
           "gradient_with_map", "name_scope", "render", "to_dot", "trace"]

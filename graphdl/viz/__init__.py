"""Presentation: evaluation traces (the lecture's tables) and graphviz drawings. Never on the hot
path: nothing here runs inside a compiled function. Name scopes, which drawings cluster by, live
in `graphdl.ir.scopes`; dual numbers in `graphdl.autodiff.dual`."""

from graphdl.viz.dot import GraphTooLargeError, RenderError, gradient_with_map, render, to_dot
from graphdl.viz.trace import Row, Trace, trace

__all__ = ["GraphTooLargeError", "RenderError", "Row", "Trace", "gradient_with_map", "render",
           "to_dot", "trace"]

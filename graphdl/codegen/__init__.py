"""Code generation: one emitter turns a schedule of nodes into NumPy source."""

from graphdl.codegen.function import Function, function

__all__ = ["Function", "function"]

"""Code generation: one emitter turns a schedule of nodes into NumPy source, or, through a
dialect, into one numba kernel (``gd.function(..., backend="numba")``)."""

from graphdl.codegen.function import Function, function

__all__ = ["Function", "function"]

"""``gd.linalg``: graphdl's counterpart of ``numpy.linalg`` (one namespace, ops defined in
their families: `graphdl.ops.linalg` for matmul, `graphdl.ops.contractions` for the rest)."""

from graphdl.ops.contractions import diagonal, outer, tensordot, trace
from graphdl.ops.linalg import matmul

__all__ = ["diagonal", "matmul", "outer", "tensordot", "trace"]

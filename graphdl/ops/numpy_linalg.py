"""``gd.linalg``: graphdl's counterpart of ``numpy.linalg`` (one namespace, ops defined in
their families: `graphdl.ops.linalg` for matmul, `graphdl.ops.contractions` for the other
contractions, `graphdl.ops.linalg_solvers` for solve, inv, det, slogdet, cholesky and SciPy's
solve_triangular)."""

from graphdl.ops.contractions import diagonal, outer, tensordot, trace
from graphdl.ops.linalg import matmul
from graphdl.ops.linalg_solvers import cholesky, det, inv, slogdet, solve, solve_triangular

__all__ = ["cholesky", "det", "diagonal", "inv", "matmul", "outer", "slogdet", "solve",
           "solve_triangular", "tensordot", "trace"]

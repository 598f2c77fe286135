"""The op library. Families: elementwise, reductions, shape, indexing, linear algebra, softmax
(and the fused softmax cross-entropy), convolution and pooling.

The modules' imports form a DAG: registry, notation, kernels, batching, leaves, then shape_ops <
elementwise < reductions < indexing, linalg, softmax, conv < fused. Derivative rules are mutually
recursive across families (the adjoint of a broadcast is a sum, that of a sum a broadcast), so the
few rules that need a family above their own import it when they run, never at import time.

Importing this package registers every op in `graphdl.ops.registry.REGISTRY` and installs the
Python operators on nodes.
"""

from graphdl.ops import (
    contractions,
    control,
    conv,
    elementwise,
    fused,
    indexing,
    leaves,
    linalg,
    linalg_solvers,
    reductions,
    shape_ops,
    softmax,
    special,
    ufuncs,
)
from graphdl.ops import overloads as _overloads  # noqa: F401  (installs operators on Node)
from graphdl.ops.registry import REGISTRY, Op, apply, as_node

__all__ = ["REGISTRY", "Op", "apply", "as_node", "contractions", "control", "conv",
           "elementwise", "fused", "indexing", "leaves", "linalg", "linalg_solvers", "reductions",
           "shape_ops", "softmax", "special", "ufuncs"]

"""The op library. Families: elementwise, reductions, shape, indexing, linear algebra, softmax
(and the fused softmax cross-entropy).

Importing this package registers every op in `graphdl.ops.registry.REGISTRY` and installs the
Python operators on nodes.
"""

from graphdl.ops import elementwise, fused, indexing, leaves, linalg, reductions, shape_ops, softmax
from graphdl.ops import overloads as _overloads  # noqa: F401  (installs operators on Node)
from graphdl.ops.registry import REGISTRY, Op, apply, as_node

__all__ = ["REGISTRY", "Op", "apply", "as_node", "elementwise", "fused", "indexing", "leaves",
           "linalg", "reductions", "softmax", "shape_ops"]

"""The op library. Families: elementwise, reductions, shape, indexing, linear algebra, nn.

Importing this package registers every op in `graphdl.ops.registry.REGISTRY` and installs the
Python operators on nodes.
"""

from graphdl.ops import elementwise, fused, indexing, leaves, linalg, nn, reductions, shape_ops
from graphdl.ops import overloads as _overloads  # noqa: F401  (installs operators on Node)
from graphdl.ops.registry import REGISTRY, Op, apply, as_node

__all__ = ["REGISTRY", "Op", "apply", "as_node", "elementwise", "fused", "indexing", "leaves",
           "linalg", "nn", "reductions", "shape_ops"]

"""Graph transformations: reverse (adjoints), forward (tangents), batching (vmap)."""

from graphdl.autodiff.api import grad, hessian, hvp, jvp, vjp
from graphdl.autodiff.jacobian import jacobian
from graphdl.autodiff.vmap import vmap

__all__ = ["grad", "hessian", "hvp", "jacobian", "jvp", "vjp", "vmap"]

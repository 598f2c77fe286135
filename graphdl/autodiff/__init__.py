"""Graph transformations: reverse (adjoints), forward (tangents), batching (vmap), and dual
numbers (`Dual`, `eval_dual`: forward mode by arithmetic, an independent check of the rules)."""

from graphdl.autodiff.api import grad, hessian, hvp, jvp, vjp
from graphdl.autodiff.dual import Dual, eval_dual
from graphdl.autodiff.jacobian import jacobian
from graphdl.autodiff.vmap import vmap

__all__ = ["Dual", "eval_dual", "grad", "hessian", "hvp", "jacobian", "jvp", "vjp", "vmap"]

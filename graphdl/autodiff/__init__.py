"""Differentiation as graph transformations (reverse: adjoints; forward: tangents)."""

from graphdl.autodiff.api import grad, hessian, hvp, jvp, vjp
from graphdl.autodiff.jacobian import jacobian

__all__ = ["grad", "hessian", "hvp", "jacobian", "jvp", "vjp"]

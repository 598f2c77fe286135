"""Special functions, as ``scipy.special`` has them: erf, erfc, erfinv, gammaln, digamma,
polygamma, xlogy; and gelu built from erf (or tanh).

Each is an `elementwise_op` whose NumPy code calls ``scipy.special`` (named ``special`` in the
generated code; SciPy is imported when the first such node is built, not with graphdl). The
dtype is the SciPy ufunc's: float32 stays float32, integers compute in float64. Partials:

- ``erf' = 2 / sqrt(pi) exp(-x^2)``, ``erfc' = -erf'``, ``erfinv' = sqrt(pi) / 2 exp(erfinv^2)``;
- ``gammaln' = digamma``, ``digamma' = polygamma(1, .)``, ``polygamma(n, .)' = polygamma(n + 1, .)``
  (so every order of derivative exists);
- ``xlogy(x, y) = x log y`` and 0 where x = 0 (also at y = 0): ``log y`` for x and ``x / y`` for y.
  At x = 0 the x-partial is ``log y`` (-inf at y = 0, as for ``x log y``) and the y-partial 0
  for y > 0.

The numba backend has no ``scipy.special``: it refuses these ops by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes
from graphdl.ops import elementwise as ew
from graphdl.ops.elementwise import elementwise_op
from graphdl.ops.registry import apply

SCIPY = ("scipy.special",)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _scipy_infer(name: str, ufunc_name: str):
    """The shape rule of broadcasting; the dtype SciPy's ufunc gives (imported on first use)."""

    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        import scipy.special

        shape = broadcast_shapes(name, [n.shape for n in inputs], [n.label() for n in inputs])
        ufunc = getattr(scipy.special, ufunc_name)
        try:
            dtype = ufunc.resolve_dtypes(tuple(n.dtype for n in inputs) + (None,))[-1]
        except (TypeError, np.exceptions.DTypePromotionError) as exc:
            described = ", ".join(f"{n.label()}: {n.dtype}" for n in inputs)
            raise DTypeError(f"{name}: no scipy.special loop for dtypes ({described})") from exc
        return shape, dtype

    return infer


def _special(name: str, emit: Any, partials: Any, sympy: Any, ufunc_name: str | None = None,
             doc: str = "") -> Any:
    return elementwise_op(name, emit, None, partials, sympy, doc=doc,
                          infer=_scipy_infer(name, ufunc_name or name), inplace=None,
                          modules=SCIPY)


def _x(node: Node, i: int = 0) -> Node:
    return node.inputs[i]


def _gaussian(node: Node) -> Node:
    return ew.multiply(TWO_OVER_SQRT_PI, ew.exp(ew.negative(ew.square(_x(node)))))


ERF = _special("erf", "special.erf({0})", lambda n, i: _gaussian(n),
               lambda sp, a, at: sp.erf(a[0]), doc="The error function.")
ERFC = _special("erfc", "special.erfc({0})", lambda n, i: ew.negative(_gaussian(n)),
                lambda sp, a, at: sp.erfc(a[0]), doc="1 - erf(x), accurate for large x.")
ERFINV = _special("erfinv", "special.erfinv({0})",
                  lambda n, i: ew.multiply(math.sqrt(math.pi) / 2, ew.exp(ew.square(n))),
                  lambda sp, a, at: sp.erfinv(a[0]), doc="The inverse of erf on (-1, 1).")
GAMMALN = _special("gammaln", "special.gammaln({0})", lambda n, i: digamma(_x(n)),
                   lambda sp, a, at: sp.loggamma(a[0]),
                   doc="log |Gamma(x)| (SymPy's loggamma for x > 0).")
DIGAMMA = _special("digamma", "special.digamma({0})", lambda n, i: polygamma(1, _x(n)),
                   lambda sp, a, at: sp.digamma(a[0]), ufunc_name="psi",
                   doc="d/dx log Gamma(x).")


def _emit_polygamma(args: Sequence[str], attrs: dict[str, Any]) -> str:
    """polygamma(n, x) = (-1)^(n+1) n! zeta(n + 1, x): SciPy's ufunc zeta keeps float32."""
    n = attrs["n"]
    sign_factorial = (-1) ** (n + 1) * math.factorial(n)
    return f"{float(sign_factorial)!r} * special.zeta({float(n + 1)!r}, {args[0]})"


POLYGAMMA = _special("polygamma", _emit_polygamma,
                     lambda n, i: polygamma(n.attrs["n"] + 1, _x(n)),
                     lambda sp, a, at: sp.polygamma(at["n"], a[0]), ufunc_name="psi",
                     doc="The n-th derivative of digamma (n >= 1).")


def _xlogy_partial(node: Node, i: int) -> Node:
    x, y = node.inputs
    return ew.log(y) if i == 0 else ew.divide(x, y)


XLOGY = _special("xlogy", "special.xlogy({0}, {1})", _xlogy_partial,
                 lambda sp, a, at: sp.Piecewise((0, sp.Eq(a[0], 0)), (a[0] * sp.log(a[1]), True)),
                 doc="x log y, and 0 where x = 0 (entropy terms).")


def _unary(op: Any):
    def build(x: Any) -> Node:
        return apply(op, x)

    build.__name__ = op.name
    build.__doc__ = f"``scipy.special.{op.name}``, elementwise. {op.doc}".strip()
    return build


erf, erfc, erfinv = _unary(ERF), _unary(ERFC), _unary(ERFINV)
gammaln, digamma = _unary(GAMMALN), _unary(DIGAMMA)


def polygamma(n: int, x: Any) -> Node:
    """``scipy.special.polygamma(n, x)`` for a fixed order ``n >= 1`` (``n = 0`` is digamma)."""
    n = int(n)
    if n < 0:
        raise ValueError(f"polygamma: the order n must be >= 0, got {n}")
    return digamma(x) if n == 0 else apply(POLYGAMMA, x, n=n)


def xlogy(x: Any, y: Any) -> Node:
    """``scipy.special.xlogy(x, y)``: ``x * log(y)``, and 0 where ``x == 0``."""
    return apply(XLOGY, x, y)


def gelu(x: Any, approximate: bool = False) -> Node:
    """The Gaussian error linear unit ``x * Phi(x) = x / 2 (1 + erf(x / sqrt 2))``; with
    ``approximate=True`` its tanh form ``x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``.
    Built from erf (or tanh), so its derivatives are theirs."""
    if approximate:
        inner = ew.multiply(math.sqrt(2 / math.pi),
                            ew.add(x, ew.multiply(0.044715, ew.power(x, 3))))
        return ew.multiply(ew.multiply(0.5, x), ew.add(1, ew.tanh(inner)))
    return ew.multiply(ew.multiply(0.5, x), ew.add(1, erf(ew.multiply(x, math.sqrt(0.5)))))

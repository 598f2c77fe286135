"""Which NumPy and SciPy functions graphdl has: `docs/concepts/numpy-coverage.md` is generated
from this module by the docs build (generate.py), and ``tests/ops/test_numpy_coverage.py``
checks it.

The names are the functions users differentiate in the test suites of autograd and JAX
(``numpy``, ``numpy.linalg``, ``scipy.special``). Whether graphdl has one is not written here
but looked up: ``gd.<name>`` (``gd.linalg.<name>``, ``gd.special.<name>``) and, when a registry
op carries the same name, that it is a native op rather than composed of others. What is
written here is why a missing function is missing.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

NUMPY = """
abs absolute add subtract multiply divide true_divide power negative reciprocal exp exp2 expm1
log log2 log10 log1p sqrt square cbrt sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh
arcsinh arccosh arctanh hypot logaddexp logaddexp2 maximum minimum fmax fmin sign floor ceil
round rint trunc clip where mod remainder fmod sinc deg2rad rad2deg real imag conj angle
sum mean prod max min amax amin var std cumsum cumprod diff sort argsort argmax argmin median
percentile dot matmul vdot tensordot einsum inner outer kron trace diagonal diag reshape
transpose swapaxes moveaxis expand_dims squeeze broadcast_to concatenate stack hstack vstack
split array_split tile repeat pad roll flip rot90 triu tril ravel zeros_like ones_like
full_like take take_along_axis select nan_to_num cross convolve
""".split()
LINALG = "solve inv det slogdet cholesky eigh eig svd qr pinv norm matrix_power".split()
SPECIAL = """
erf erfc erfinv gammaln digamma polygamma xlogy xlog1py logsumexp expit logit gamma beta
betaln i0 i1 j0 j1 ndtr ndtri log_ndtr softmax log_softmax
""".split()

# Why a function is missing (default: not yet written).
COMPLEX = "complex dtypes are out of scope (refused with a clear error)"
PLANNED_SHAPES = "planned (issue 16: shape conveniences)"
PLANNED_SORT = "planned (issue 16: cumulative and sorting ops)"
REASONS: dict[str, str] = {
    **dict.fromkeys(["real", "imag", "conj", "angle", "eig"], COMPLEX),
    **dict.fromkeys(["swapaxes", "moveaxis", "hstack", "vstack", "split", "array_split", "tile",
                     "repeat", "pad", "roll", "flip", "rot90", "triu", "tril", "ravel",
                     "zeros_like", "ones_like", "full_like"], PLANNED_SHAPES),
    **dict.fromkeys(["cumsum", "cumprod", "diff", "sort", "argsort", "median", "percentile",
                     "var", "std"], PLANNED_SORT),
    **dict.fromkeys(["eigh", "svd", "qr", "pinv", "norm", "matrix_power"],
                    "planned (issue 16: decompositions)"),
}
ALIASES = {"absolute": "abs", "amax": "max", "amin": "min", "true_divide": "divide",
           "remainder": "mod", "expit": "sigmoid", "softmax": "softmax",
           "log_softmax": "log_softmax", "logsumexp": "logsumexp"}


class Entry(NamedTuple):
    module: str  # "numpy", "numpy.linalg", "scipy.special"
    name: str
    spelling: str | None  # how graphdl spells it ("gd.linalg.solve"), None if missing
    native: bool  # a registry op of that name (not composed of other ops)
    reason: str  # why it is missing ("" when present)


def _find(gd: ModuleType, places: list[tuple[str, Any]], name: str) -> str | None:
    target = ALIASES.get(name, name)
    for prefix, where in places:
        if callable(getattr(where, target, None)):
            return f"{prefix}.{target}"
    return None


def entries() -> list[Entry]:
    """Every listed function with graphdl's status, looked up in the live library."""
    import graphdl as gd
    from graphdl.ops.registry import REGISTRY

    table = [("numpy", NUMPY, [("gd", gd)]),
             ("numpy.linalg", LINALG, [("gd.linalg", gd.linalg), ("gd", gd)]),
             ("scipy.special", SPECIAL, [("gd.special", gd.special), ("gd", gd)])]
    out = []
    for module, names, places in table:
        for name in names:
            spelling = _find(gd, places, name)
            target = ALIASES.get(name, name)
            native = spelling is not None and target in REGISTRY
            reason = "" if spelling else REASONS.get(name, "not yet")
            out.append(Entry(module, name, spelling, native, reason))
    return out

"""Every op in the registry against NumPy: one table, many checks (issue 2).

`CASES` maps each registry op name to cases: a graph builder over symbolic inputs, the NumPy
reference, the argument shapes and a generator of valid argument values (positive for log and
sqrt, away from kinks for relu/abs/max, distinct for max/min reductions...). Each case runs

- with static shapes, with the first axis of every argument unknown at build time (``None``), and
  with every size unknown;
- in float64 and in float32 (the result dtype must equal NumPy's: float32 stays float32);
- compiled with ``optimize=False`` and ``optimize=True`` (both must agree).

The derivative checks over the same table live in ``test_autodiff_rules.py``. Adding an op to the
registry without an entry here makes `test_every_registered_op_has_a_case` fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from helpers import run_both

import graphdl as gd
from graphdl.ops.registry import REGISTRY

Gen = Callable[[np.random.Generator, tuple, str], np.ndarray]


# --- value generators: each gives values where the op is smooth and the check is meaningful ---
def normal(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def positive(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


def away_from_zero(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return (rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 1.5, shape)).astype(dtype)


def away_from_integers(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return (rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)).astype(dtype)


def distinct(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    """All values at least 0.1 apart: no ties for max/min and no kink within a step."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.25 - 1 + rng.uniform(0, 0.1, shape)).astype(dtype)


def small(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


def well_conditioned(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    """Square matrices (in the last two axes) near 2 I: far from singular."""
    return (rng.uniform(-0.5, 0.5, shape) + 2 * np.eye(shape[-1])).astype(dtype)


def negative_det(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    """Well-conditioned matrices with their first row negated: negative determinants."""
    a = well_conditioned(rng, shape, dtype)
    a[..., 0, :] *= -1
    return a


def inside_unit(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    """Inside (-1, 1), away from the ends (arcsin, arccos, arctanh)."""
    return rng.uniform(-0.8, 0.8, shape).astype(dtype)


def above_one(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return rng.uniform(1.2, 3.0, shape).astype(dtype)


def booleans(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    return rng.random(shape) < 0.5


def integers(high: int, low: int = 0) -> Gen:
    def gen(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
        return rng.integers(low, high, shape)

    return gen


def constant_value(value: Any) -> Gen:
    def gen(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    return gen


@dataclass
class Case:
    """One op applied to arguments of given shapes; ``gens`` make valid values per argument."""

    build: Callable[..., gd.Node]
    reference: Callable[..., Any]
    shapes: list[tuple]
    gens: list[Gen] | None = None  # default: standard normal floats
    kinds: str | None = None  # per argument: "f" float, "i" int64 indices, "b" bool
    smooth: bool = True  # derivative checks apply (False: the op declares zero derivative)
    second_order: bool = True
    eps: float = 1e-6
    rtol: float = 1e-5
    none_variants: tuple[str, ...] = ("first", "all")
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def kind(self, i: int) -> str:
        return self.kinds[i] if self.kinds else "f"

    def values(self, rng: np.random.Generator, float_dtype: str = "float64") -> list[np.ndarray]:
        out = []
        for i, shape in enumerate(self.shapes):
            gen = self.gens[i] if self.gens else normal
            kind = self.kind(i)
            dtype = float_dtype if kind == "f" else "int64" if kind == "i" else "bool"
            out.append(np.asarray(gen(rng, shape, dtype)))
        return out

    def declared(self, variant: str) -> list[tuple]:
        """Static shapes for the inputs: as given, first axis unknown, or every size unknown."""
        if variant == "static":
            return list(self.shapes)
        if variant == "first":
            return [(None,) + s[1:] if s else s for s in self.shapes]
        return [tuple(None for _ in s) for s in self.shapes]

    def inputs(self, variant: str = "static", float_dtype: str = "float64") -> list[gd.Node]:
        nodes = []
        for i, shape in enumerate(self.declared(variant)):
            kind = self.kind(i)
            dtype = float_dtype if kind == "f" else "int64" if kind == "i" else "bool"
            nodes.append(gd.tensor(f"a{i}", shape, dtype))
        return nodes


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


def _binary_cases(
    fn: Callable, ref: Callable, gen_a: Gen = normal, gen_b: Gen = normal, **kw: Any
) -> list[Case]:
    shapes = [[(2, 3), (2, 3)], [(2, 3), (3,)], [(4, 1), (1, 3)], [(2, 3), ()], [(), (3, 1)]]
    return [Case(fn, ref, s, [gen_a, gen_b], label=f"{s}", **kw) for s in shapes]


def _unary_cases(fn: Callable, ref: Callable, gen: Gen = normal, **kw: Any) -> list[Case]:
    return [Case(fn, ref, [s], [gen], label=f"{s}", **kw) for s in [(2, 3), ()]]


def _comparison(fn: Callable, ref: Callable) -> list[Case]:
    ties = Case(
        lambda a, b: fn(a, b),
        ref,
        [(5,), (5,)],
        [constant_value(1.5), constant_value(1.5)],
        smooth=False,
        label="ties",
    )
    return _binary_cases(fn, ref, distinct, distinct, smooth=False) + [ties]


def _reduction_cases(fn: Callable, ref: Callable, gen: Gen = normal) -> list[Case]:
    axes: list[tuple[Any, bool]] = [
        (None, False),
        (0, False),
        (1, True),
        ((0, 2), False),
        ((0, 2), True),
        (-1, False),
    ]
    return [
        Case(
            lambda a, ax=ax, k=k: fn(a, axis=ax, keepdims=k),
            lambda a, ax=ax, k=k: ref(a, axis=ax, keepdims=k),
            [(2, 3, 4)],
            [gen],
            label=f"axis={ax} keepdims={k}",
        )
        for ax, k in axes
    ]


def _spd(a: gd.Node) -> gd.Node:
    """A symmetric positive definite matrix built from any square ``a``: A A^T + 3 I."""
    eye = gd.ops.contractions.eye_like(a, a, a.ndim - 2, a.ndim - 1, dtype=a.dtype)
    return a @ gd.ops.shape_ops.matrix_transpose(a) + 3 * eye


def _np_spd(a: np.ndarray) -> np.ndarray:
    return a @ np.swapaxes(a, -1, -2) + (3 * np.eye(a.shape[-1])).astype(a.dtype)


def _scipy(name: str) -> Callable[..., Any]:
    """scipy.special's function, imported when a case runs (SciPy is in the test extra)."""

    def call(*args: Any) -> Any:
        import scipy.special

        return getattr(scipy.special, name)(*args)

    return call


def _mixed_bool(a: gd.Node, b: gd.Node) -> gd.Node:
    return gd.where(a > 0, a, b)


def _scan_case(c0: gd.Node, xs: gd.Node) -> gd.Node:
    c, ys = gd.scan(lambda c, x: (gd.sin(c) * x + x, c * x), c0, xs)
    return c + gd.sum(ys, axis=0)


def _scan_reference(c0: np.ndarray, xs: np.ndarray) -> np.ndarray:
    c, ys = c0, []
    for x in xs:
        ys.append(c * x)
        c = np.sin(c) * x + x
    return c + np.sum(ys, axis=0)


def _cond_case(a: gd.Node) -> gd.Node:
    return gd.cond(gd.sum(a) > 0, lambda v: gd.exp(v) * v, lambda v: gd.sin(v) - v, a)


def _cond_reference(a: np.ndarray) -> np.ndarray:
    return np.exp(a) * a if np.sum(a) > 0 else np.sin(a) - a


CASES: dict[str, list[Case]] = {
    # --- elementwise arithmetic ---
    "add": _binary_cases(gd.add, np.add)
    + [
        Case(lambda a: a + 1, lambda a: a + 1, [(2, 3)], label="weak int"),
        Case(lambda a: 2.5 + a, lambda a: 2.5 + a, [(3,)], label="weak float"),
    ],
    "subtract": _binary_cases(gd.subtract, np.subtract)
    + [Case(lambda a: 1 - a, lambda a: 1 - a, [(2, 3)], label="weak reversed")],
    "multiply": _binary_cases(gd.multiply, np.multiply)
    + [
        Case(lambda a: a * a, lambda a: a * a, [(2, 3)], label="same operand twice"),
        Case(
            gd.multiply,
            np.multiply,
            [(2, 3), (3,)],
            [normal, integers(5, -5)],
            kinds="fi",
            label="float times int",
        ),
    ],
    "divide": _binary_cases(gd.divide, np.divide, normal, away_from_zero)
    + [Case(lambda a: 1 / a, lambda a: 1 / a, [(3,)], [away_from_zero], label="weak numerator")],
    "power": _binary_cases(gd.power, np.power, positive, normal)
    + [
        Case(lambda a: a**2, lambda a: a**2, [(2, 3)], label="square"),
        Case(lambda a: a**3, lambda a: a**3, [(2, 3)], label="cube, negative base ok"),
        Case(lambda a: a**0.5, lambda a: a**0.5, [(2, 3)], [positive], label="sqrt"),
        Case(lambda a: 2.0**a, lambda a: 2.0**a, [(4,)], label="weak base"),
    ],
    "maximum": _binary_cases(gd.maximum, np.maximum, distinct, distinct),
    "minimum": _binary_cases(gd.minimum, np.minimum, distinct, distinct),
    "less": _comparison(gd.less, np.less),
    "less_equal": _comparison(gd.less_equal, np.less_equal),
    "greater": _comparison(gd.greater, np.greater),
    "greater_equal": _comparison(gd.greater_equal, np.greater_equal),
    "equal": _comparison(gd.equal, np.equal),
    "not_equal": _comparison(gd.not_equal, np.not_equal),
    "logical_and": [
        Case(
            gd.logical_and,
            np.logical_and,
            [(2, 3), (3,)],
            [booleans, booleans],
            kinds="bb",
            smooth=False,
        )
    ],
    "logical_or": [
        Case(
            gd.logical_or,
            np.logical_or,
            [(2, 3), (2, 1)],
            [booleans, booleans],
            kinds="bb",
            smooth=False,
        )
    ],
    "logical_not": [
        Case(gd.logical_not, np.logical_not, [(2, 3)], [booleans], kinds="b", smooth=False)
    ],
    # --- elementwise functions ---
    "negative": _unary_cases(gd.negative, np.negative),
    "reciprocal": _unary_cases(gd.reciprocal, np.reciprocal, away_from_zero),
    "exp": _unary_cases(gd.exp, np.exp),
    "log": _unary_cases(gd.log, np.log, positive),
    "log1p": _unary_cases(gd.log1p, np.log1p, small),
    "expm1": _unary_cases(gd.expm1, np.expm1),
    "sqrt": _unary_cases(gd.sqrt, np.sqrt, positive),
    "square": _unary_cases(gd.square, np.square),
    "abs": _unary_cases(gd.abs, np.abs, away_from_zero),
    "sign": _unary_cases(gd.sign, np.sign, away_from_zero, smooth=False),
    "sin": _unary_cases(gd.sin, np.sin),
    "cos": _unary_cases(gd.cos, np.cos),
    "tan": _unary_cases(gd.tan, np.tan, small),
    "tanh": _unary_cases(gd.tanh, np.tanh),
    "sigmoid": _unary_cases(gd.sigmoid, _np_sigmoid),
    "softplus": _unary_cases(gd.softplus, lambda a: np.logaddexp(a.dtype.type(0), a)),
    "relu": _unary_cases(gd.relu, lambda a: np.maximum(a, 0), away_from_zero),
    "floor": _unary_cases(gd.floor, np.floor, away_from_integers, smooth=False),
    "stop_gradient": _unary_cases(gd.stop_gradient, lambda a: a, smooth=False),
    # --- more of NumPy's ufuncs (graphdl.ops.ufuncs) ---
    "arctan": _unary_cases(gd.arctan, np.arctan),
    "arcsin": _unary_cases(gd.arcsin, np.arcsin, inside_unit),
    "arccos": _unary_cases(gd.arccos, np.arccos, inside_unit),
    "arctan2": _binary_cases(gd.arctan2, np.arctan2, normal, away_from_zero)
    + [Case(gd.arctan2, np.arctan2, [(4,), (4,)], [normal, constant_value(-1.0)],
            label="left half-plane, across the branch cut's side")],
    "sinh": _unary_cases(gd.sinh, np.sinh),
    "cosh": _unary_cases(gd.cosh, np.cosh),
    "arcsinh": _unary_cases(gd.arcsinh, np.arcsinh),
    "arccosh": _unary_cases(gd.arccosh, np.arccosh, above_one),
    "arctanh": _unary_cases(gd.arctanh, np.arctanh, inside_unit),
    "log2": _unary_cases(gd.log2, np.log2, positive),
    "log10": _unary_cases(gd.log10, np.log10, positive),
    "exp2": _unary_cases(gd.exp2, np.exp2),
    "logaddexp": _binary_cases(gd.logaddexp, np.logaddexp)
    + [Case(gd.logaddexp, np.logaddexp, [(3,), (3,)], [constant_value(800.0), normal],
            label="no overflow")],
    "hypot": _binary_cases(gd.hypot, np.hypot, away_from_zero, away_from_zero),
    "mod": _binary_cases(gd.mod, np.mod, away_from_integers, constant_value(1.0))
    + [Case(lambda a, b: a % b, np.mod, [(2, 3), (3,)], [normal, away_from_zero],
            eps=1e-7, label="% operator, negative divisors"),
       Case(lambda a: 2.5 % a, lambda a: np.mod(2.5, a), [(4,)], [above_one],
            label="weak % node")],
    # --- special functions (graphdl.ops.special, scipy.special's) ---
    "erf": _unary_cases(gd.special.erf, _scipy("erf"))
    + [Case(gd.gelu, lambda a: a / 2 * (1 + _scipy("erf")(a / np.sqrt(a.dtype.type(2)))),
            [(2, 3)], label="gelu")],
    "erfc": _unary_cases(gd.special.erfc, _scipy("erfc")),
    "erfinv": _unary_cases(gd.special.erfinv, _scipy("erfinv"), inside_unit),
    "gammaln": _unary_cases(gd.special.gammaln, _scipy("gammaln"), positive),
    "digamma": _unary_cases(gd.special.digamma, _scipy("digamma"), positive),
    "polygamma": [
        Case(lambda a: gd.special.polygamma(1, a), lambda a: _scipy("polygamma")(1, a).astype(
            a.dtype), [(2, 3)], [positive], label="trigamma"),
        Case(lambda a: gd.special.polygamma(3, a), lambda a: _scipy("polygamma")(3, a).astype(
            a.dtype), [(4,)], [positive], label="n = 3"),
    ],
    "xlogy": _binary_cases(gd.special.xlogy, _scipy("xlogy"), normal, positive)
    + [Case(gd.special.xlogy, _scipy("xlogy"), [(3,), (3,)], [constant_value(0.0), positive],
            label="x = 0")],
    "ceil": _unary_cases(gd.ceil, np.ceil, away_from_integers, smooth=False),
    "round": _unary_cases(gd.round, np.round, away_from_integers, smooth=False)
    + [Case(lambda a: gd.round(a, 2), lambda a: np.round(a, 2), [(5,)], smooth=False,
            label="2 decimals")],
    "cast": [
        Case(
            lambda a: gd.cast(a, "float32"),
            lambda a: a.astype("float32"),
            [(2, 3)],
            eps=1e-2,
            rtol=1e-4,
            label="to float32",
        ),
        Case(
            lambda a: gd.cast(gd.cast(a, "float32"), "float64"),
            lambda a: a.astype("float32").astype("float64"),
            [(2, 3)],
            eps=1e-2,
            rtol=1e-4,
            label="float32 and back to float64",
        ),
        Case(
            lambda a: gd.cast(a, "int64"),
            lambda a: a.astype("int64"),
            [(2, 3)],
            [away_from_integers],
            smooth=False,
            label="to int64",
        ),
        Case(
            lambda a: a.astype("float64") / 2,
            lambda a: a.astype("float64") / 2,
            [(5,)],
            [integers(9)],
            kinds="i",
            smooth=False,
            label="from int64",
        ),
    ],
    "where": [
        Case(gd.where, np.where, [(2, 3), (2, 3), (2, 3)], [booleans, normal, normal], kinds="bff"),
        Case(
            gd.where,
            np.where,
            [(2, 3), (3,), ()],
            [booleans, normal, normal],
            kinds="bff",
            label="broadcast",
        ),
        Case(
            _mixed_bool,
            lambda a, b: np.where(a > 0, a, b),
            [(2, 3), (2, 1)],
            [away_from_zero, normal],
            label="condition from a comparison",
        ),
        Case(
            lambda c, a: gd.where(c, a, 0),
            lambda c, a: np.where(c, a, 0),
            [(4,), (4,)],
            [booleans, normal],
            kinds="bf",
            label="weak zero",
        ),
    ],
    "clip": [
        Case(
            gd.clip, np.clip, [(2, 3), (), ()], [normal, constant_value(-0.5), constant_value(0.5)]
        ),
        Case(
            gd.clip,
            np.clip,
            [(2, 3), (3,), (2, 1)],
            [distinct, constant_value(-0.3), constant_value(0.45)],
            label="broadcast bounds",
        ),
        Case(
            lambda a: a.clip(-0.5, 0.5),
            lambda a: np.clip(a, -0.5, 0.5),
            [(7,)],
            label="weak bounds",
        ),
    ],
    # --- reductions ---
    "sum": _reduction_cases(gd.sum, np.sum)
    + [Case(lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), [(3, 2)], label="method")],
    "mean": _reduction_cases(gd.mean, np.mean),
    "max": _reduction_cases(gd.max, np.max, distinct),
    "min": _reduction_cases(gd.min, np.min, distinct),
    "prod": _reduction_cases(gd.prod, np.prod, away_from_zero),
    "argmax": [
        Case(
            lambda a: gd.argmax(a, axis=1),
            lambda a: np.argmax(a, axis=1),
            [(3, 4)],
            [distinct],
            smooth=False,
        ),
        Case(gd.argmax, np.argmax, [(3, 4)], [distinct], smooth=False, label="flat"),
    ],
    "argmin": [
        Case(
            lambda a: gd.argmin(a, axis=0),
            lambda a: np.argmin(a, axis=0),
            [(3, 4)],
            [distinct],
            smooth=False,
        )
    ],
    # --- shape ops ---
    "reshape": [
        Case(lambda a: a.reshape(3, 2), lambda a: a.reshape(3, 2), [(2, 3)]),
        Case(lambda a: gd.reshape(a, (-1,)), lambda a: a.reshape(-1), [(2, 3)], label="-1"),
        Case(
            lambda a: gd.reshape(a, (1, 1)),
            lambda a: np.reshape(a, (1, 1)),
            [()],
            label="scalar to (1, 1)",
        ),
        Case(
            lambda a: gd.reshape(a, (2, -1, 2)),
            lambda a: a.reshape(2, -1, 2),
            [(4, 3)],
            label="-1 inside",
        ),
    ],
    "transpose": [
        Case(lambda a: a.T, lambda a: a.T, [(2, 3)]),
        Case(
            lambda a: gd.transpose(a, (1, 2, 0)),
            lambda a: np.transpose(a, (1, 2, 0)),
            [(2, 3, 4)],
            label="3-d",
        ),
    ],
    "expand_dims": [
        Case(lambda a: gd.expand_dims(a, 1), lambda a: np.expand_dims(a, 1), [(2, 3)]),
        Case(
            lambda a: gd.expand_dims(a, (0, 2)),
            lambda a: np.expand_dims(a, (0, 2)),
            [(3,)],
            label="two axes",
        ),
    ],
    "squeeze": [
        Case(
            lambda a: gd.squeeze(a, 1),
            lambda a: np.squeeze(a, 1),
            [(3, 1, 2)],
        ),
        Case(
            lambda a: a.squeeze(),
            lambda a: a.squeeze(),
            [(1, 3, 1)],
            none_variants=(),
            label="all static ones",
        ),
    ],
    "broadcast_to": [
        Case(
            lambda a: gd.broadcast_to(a, (2, 3)),
            lambda a: np.broadcast_to(a, (2, 3)),
            [()],
            label="scalar",
        ),
        Case(lambda a: gd.broadcast_to(a, (2, 3)), lambda a: np.broadcast_to(a, (2, 3)), [(3,)]),
        Case(
            lambda a: gd.broadcast_to(a, (2, 4)),
            lambda a: np.broadcast_to(a, (2, 4)),
            [(2, 1)],
            label="stretch a 1",
        ),
    ],
    "concatenate": [
        Case(
            lambda a, b, c: gd.concatenate([a, b, c]),
            lambda a, b, c: np.concatenate([a, b, c]),
            [(2, 3), (1, 3), (3, 3)],
        ),
        Case(
            lambda a, b: gd.concatenate([a, b], axis=1),
            lambda a, b: np.concatenate([a, b], axis=1),
            [(2, 3), (2, 2)],
            label="axis 1",
        ),
        Case(
            lambda a, b: gd.stack([a, b]),
            lambda a, b: np.stack([a, b]),
            [(), ()],
            label="stack of scalars",
        ),
        Case(
            lambda a, b: gd.stack([a, b], axis=1),
            lambda a, b: np.stack([a, b], axis=1),
            [(2, 3), (2, 3)],
            label="stack",
        ),
        Case(
            lambda a, i: gd.concatenate([a, i]),
            lambda a, i: np.concatenate([a, i]),
            [(2,), (3,)],
            [normal, integers(5)],
            kinds="fi",
            label="with integers",
        ),
    ],
    # --- indexing ---
    "getitem": [
        Case(lambda a: a[0], lambda a: a[0], [(3, 4)], label="[0]"),
        Case(lambda a: a[:, 1:], lambda a: a[:, 1:], [(3, 4)], label="[:, 1:]"),
        Case(lambda a: a[::-2, -1], lambda a: a[::-2, -1], [(3, 4)], label="[::-2, -1]"),
        Case(
            lambda a: a[None, 1, ..., 2:],
            lambda a: a[None, 1, ..., 2:],
            [(3, 2, 4)],
            label="[None, 1, ..., 2:]",
        ),
        Case(lambda a: a[...], lambda a: a[...], [(2, 2)], label="[...]"),
    ],
    "take": [
        Case(
            lambda a, i: gd.take(a, i),
            lambda a, i: np.take(a, i, axis=0),
            [(4, 3), (5,)],
            [normal, integers(4)],
            kinds="fi",
            label="axis 0, repeats",
        ),
        Case(
            lambda a, i: gd.take(a, i, axis=1),
            lambda a, i: np.take(a, i, axis=1),
            [(2, 4, 3), (2, 3)],
            [normal, integers(4)],
            kinds="fi",
            label="axis 1, 2-d indices",
        ),
        Case(
            lambda a, i: a[i],
            lambda a, i: a[i],
            [(4,), (6,)],
            [normal, integers(4)],
            kinds="fi",
            label="x[indices]",
        ),
    ],
    "take_along_axis": [
        Case(
            lambda a, i: gd.take_along_axis(a, i, axis=1),
            lambda a, i: np.take_along_axis(a, i, axis=1),
            [(5, 4), (5, 1)],
            [normal, integers(4)],
            kinds="fi",
            label="labels",
        ),
        Case(
            lambda a, i: gd.take_along_axis(a, i, axis=0),
            lambda a, i: np.take_along_axis(a, i, axis=0),
            [(3, 4), (5, 4)],
            [normal, integers(3)],
            kinds="fi",
            label="axis 0, repeats",
        ),
    ],
    "one_hot": [
        Case(
            lambda i: gd.one_hot(i, 4),
            lambda i: (i[..., None] == np.arange(4)) * 1.0,
            [(2, 3)],
            [integers(4)],  # class labels; others are refused (tests/codegen/test_call_checks.py)
            kinds="i",
            smooth=False,
        )
    ],
    # --- linear algebra ---
    "matmul": [
        Case(lambda a, b: a @ b, np.matmul, [(2, 3), (3, 4)], label="matrix"),
        Case(lambda a, b: a @ b, np.matmul, [(3,), (3, 4)], label="vector @ matrix"),
        Case(lambda a, b: a @ b, np.matmul, [(2, 3), (3,)], label="matrix @ vector"),
        Case(lambda a, b: a @ b, np.matmul, [(3,), (3,)], label="inner"),
        Case(lambda a, b: a @ b, np.matmul, [(5, 2, 3), (3, 4)], label="batched @ matrix"),
        Case(lambda a, b: a @ b, np.matmul, [(2, 3), (4, 3, 2)], label="matrix @ batched"),
        Case(lambda a, b: a @ b, np.matmul, [(2, 1, 2, 3), (3, 3, 2)], label="broadcast batch"),
        Case(gd.dot, np.dot, [(2, 3), (3,)], label="dot"),
    ],
    # --- contractions (graphdl.ops.contractions): every one is an einsum or a diagonal ---
    "einsum": [
        Case(lambda a, b: gd.einsum("ij,jk->ik", a, b), lambda a, b: np.einsum("ij,jk->ik", a, b),
             [(2, 3), (3, 4)], label="matrix product"),
        Case(lambda a: gd.einsum("ii", a), lambda a: np.einsum("ii", a), [(3, 3)], label="trace"),
        Case(lambda a: gd.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), [(3, 3)],
             label="diagonal"),
        Case(lambda a: gd.einsum("iji->j", a), lambda a: np.einsum("iji->j", a), [(3, 2, 3)],
             label="repeated around another axis"),
        Case(lambda a: gd.einsum("ji", a), lambda a: np.einsum("ji", a), [(3, 2)],
             label="implicit output: transpose"),
        Case(lambda a: gd.einsum("ij->", a), lambda a: np.einsum("ij->", a), [(3, 2)],
             label="sum of all"),
        Case(lambda a, b: gd.einsum("...ij,...jk", a, b),
             lambda a, b: np.einsum("...ij,...jk", a, b), [(4, 2, 3), (3, 5)],
             label="ellipsis, batched matrix product"),
        Case(lambda a, b: gd.einsum("...i,...i->...", a, b),
             lambda a, b: np.einsum("...i,...i->...", a, b), [(1, 3), (4, 3)],
             label="ellipsis broadcast from size 1"),
        Case(lambda a, b: gd.einsum("i,i->i", a, b), lambda a, b: np.einsum("i,i->i", a, b),
             [(1,), (3,)], label="named axis broadcast from size 1"),
        Case(lambda a, b, c: gd.einsum("ij,jk,kl->il", a, b, c),
             lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c), [(2, 3), (3, 4), (4, 2)],
             label="chain of three"),
        Case(lambda a, b: gd.einsum("bi,bj->bij", a, b), lambda a, b: np.einsum("bi,bj->bij", a, b),
             [(2, 3), (2, 4)], label="batched outer"),
        Case(lambda a, b: gd.einsum("i,ij->j", a, b), lambda a, b: np.einsum("i,ij->j", a, b),
             [(0,), (0, 3)], none_variants=("all",), label="empty axis"),
        # ("first" left out: vmap's broadcast_batch reads entry 0 of an empty axis, issue noted)
        Case(lambda a, b: gd.tensordot(a, b), np.tensordot, [(2, 3, 4), (3, 4, 2)],
             label="tensordot axes=2"),
        Case(lambda a, b: gd.tensordot(a, b, ([0, 2], [2, 0])),
             lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), [(2, 3, 4), (4, 3, 2)],
             label="tensordot axis lists"),
        Case(gd.dot, np.dot, [(2, 3, 4), (5, 4, 2)], label="dot rank 3"),
        Case(gd.dot, np.dot, [(2, 3, 4), (4,)], label="dot rank 3 with vector"),
        Case(gd.inner, np.inner, [(2, 4), (3, 4)], label="inner"),
        Case(gd.outer, np.outer, [(2, 2), (3,)], label="outer"),
        Case(gd.kron, np.kron, [(2, 3), (4, 2)], none_variants=("first",), label="kron"),
        Case(gd.kron, np.kron, [(3,), (2, 2)], none_variants=(), label="kron of ranks 1, 2"),
        Case(lambda a, b: gd.einsum("ij,ij->i", a, b), lambda a, b: np.einsum("ij,ij->i", a, b),
             [(3, 2), (3, 2)], kinds="fi", gens=[normal, integers(4)],
             label="float with int operand"),
    ],
    "diagonal": [
        Case(gd.diagonal, np.diagonal, [(3, 4)], label="main diagonal, not square"),
        Case(lambda a: gd.diagonal(a, 2, -1, 0), lambda a: np.diagonal(a, 2, -1, 0),
             [(4, 2, 5)], label="offset, axes reversed"),
        Case(lambda a: gd.diagonal(a, -1), lambda a: np.diagonal(a, -1), [(4, 3)],
             label="below"),
        Case(gd.linalg.trace, np.trace, [(3, 4)], label="trace"),
        Case(lambda a: gd.linalg.trace(a, -2, 2, 0), lambda a: np.trace(a, -2, 2, 0),
             [(4, 2, 3)], label="trace offset axes"),
        Case(gd.diag, np.diag, [(3, 4)], label="diag of a matrix"),
    ],
    # --- linear algebra beyond matmul (graphdl.ops.linalg_solvers) ---
    "solve": [
        Case(gd.linalg.solve, np.linalg.solve, [(3, 3), (3,)], [well_conditioned, normal],
             label="one vector"),
        Case(gd.linalg.solve, np.linalg.solve, [(3, 3), (3, 2)], [well_conditioned, normal],
             label="matrix right-hand side"),
        Case(gd.linalg.solve, np.linalg.solve, [(2, 3, 3), (3, 2)], [well_conditioned, normal],
             label="stack of matrices, one right-hand side"),
        Case(gd.linalg.solve, np.linalg.solve, [(3, 3), (2, 3, 1)], [well_conditioned, normal],
             label="one matrix, stack of right-hand sides"),
        Case(gd.linalg.solve, np.linalg.solve, [(2, 1, 3, 3), (4, 3, 2)],
             [well_conditioned, normal], label="broadcast batch"),
        Case(gd.linalg.solve, np.linalg.solve, [(2, 2), (2,)], [well_conditioned, integers(5)],
             kinds="fi", label="integer right-hand side"),
    ],
    "inv": [
        Case(gd.linalg.inv, np.linalg.inv, [(3, 3)], [well_conditioned]),
        Case(gd.linalg.inv, np.linalg.inv, [(2, 3, 3)], [well_conditioned], label="stack"),
        Case(gd.linalg.inv, np.linalg.inv, [(1, 1)], [well_conditioned], label="1 x 1"),
    ],
    "det": [
        Case(gd.linalg.det, np.linalg.det, [(3, 3)], [well_conditioned]),
        Case(gd.linalg.det, np.linalg.det, [(2, 3, 3)], [negative_det], label="negative, stack"),
    ],
    "logabsdet": [
        Case(lambda a: gd.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], [(3, 3)],
             [well_conditioned]),
        Case(lambda a: gd.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], [(2, 3, 3)],
             [negative_det], label="negative determinants, stack"),
    ],
    "det_sign": [
        Case(lambda a: gd.linalg.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0], [(2, 3, 3)],
             [negative_det], smooth=False, label="negative"),
        Case(lambda a: gd.linalg.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0], [(3, 3)],
             [well_conditioned], smooth=False, label="positive"),
    ],
    "cholesky": [
        Case(lambda a: gd.linalg.cholesky(_spd(a)), lambda a: np.linalg.cholesky(_np_spd(a)),
             [(3, 3)], label="of A A^T + 3 I"),
        Case(lambda a: gd.linalg.cholesky(_spd(a)), lambda a: np.linalg.cholesky(_np_spd(a)),
             [(2, 3, 3)], label="stack"),
    ],
    "solve_triangular": [
        Case(lambda a, b: gd.linalg.solve_triangular(a, b, lower=True),
             lambda a, b: np.linalg.solve(np.tril(a), b), [(3, 3), (3, 2)],
             [well_conditioned, normal], label="lower"),
        Case(gd.linalg.solve_triangular, lambda a, b: np.linalg.solve(np.triu(a), b),
             [(3, 3), (3,)], [well_conditioned, normal], label="upper (SciPy's default), vector"),
        Case(lambda a, b: gd.linalg.solve_triangular(a, b, lower=True),
             lambda a, b: np.linalg.solve(np.tril(a), b), [(2, 3, 3), (3, 1)],
             [well_conditioned, normal], label="stack"),
    ],
    "eye_like": [
        Case(gd.diag, np.diag, [(3,)], label="diag of a vector"),
        Case(lambda a: gd.diag(a, -2), lambda a: np.diag(a, -2), [(3,)], label="diag below"),
        Case(lambda a: gd.diag(a, 1), lambda a: np.diag(a, 1), [(2,)], label="diag above"),
    ],
    # --- neural-network functions ---
    "softmax": [
        Case(gd.softmax, lambda a: _np_softmax(a, -1), [(2, 4)]),
        Case(
            lambda a: gd.softmax(a, axis=0), lambda a: _np_softmax(a, 0), [(3, 2)], label="axis 0"
        ),
    ],
    "log_softmax": [
        Case(gd.log_softmax, lambda a: np.log(_np_softmax(a, -1)), [(2, 4)]),
        Case(
            lambda a: gd.log_softmax(a, axis=0),
            lambda a: np.log(_np_softmax(a, 0)),
            [(3, 2)],
            label="axis 0",
        ),
    ],
    "logsumexp": [
        Case(gd.logsumexp, _np_logsumexp, [(2, 4)], label="all"),
        Case(
            lambda a: gd.logsumexp(a, axis=1),
            lambda a: _np_logsumexp(a, axis=1),
            [(2, 4)],
            label="axis 1",
        ),
        Case(
            lambda a: gd.logsumexp(a, axis=(0, 2), keepdims=True),
            lambda a: _np_logsumexp(a, axis=(0, 2), keepdims=True),
            [(2, 3, 2)],
            label="keepdims",
        ),
    ],
    # --- loops and branches (more in tests/ops/test_control.py) ---
    "scan": [Case(_scan_case, _scan_reference, [(3,), (4, 3)])],
    "cond": [
        Case(_cond_case, _cond_reference, [(2, 3)], [positive], label="true branch"),
        Case(_cond_case, _cond_reference, [(2, 3)], [lambda r, s, d: -positive(r, s, d)],
             label="false branch"),
    ],
}


def _np_xent(z: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    return -np.take_along_axis(np.log(_np_softmax(z, axis)), idx, axis=axis)


def _np_xent_grad(g: np.ndarray, z: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    scattered = np.zeros_like(z)
    np.put_along_axis(scattered, idx, g, axis=axis)
    return _np_softmax(z, axis) * g.sum(axis=axis, keepdims=True) - scattered


if "softmax_xent" in REGISTRY:  # fused ops the optimizer introduces (graphdl.ops.fused)
    from graphdl.ops import fused

    CASES["softmax_xent"] = [
        Case(
            lambda z, i: fused.softmax_xent(z, i),
            lambda z, i: _np_xent(z, i, -1),
            [(5, 4), (5, 1)],
            [normal, integers(4)],
            kinds="fi",
            label="labels",
        ),
        Case(
            lambda z, i: fused.softmax_xent(z, i, axis=0),
            lambda z, i: _np_xent(z, i, 0),
            [(3, 2), (1, 2)],
            [normal, integers(3)],
            kinds="fi",
            label="axis 0",
        ),
    ]
    CASES["softmax_xent_grad"] = [
        Case(
            lambda g, z, i: fused.softmax_xent_grad(g, z, i),
            lambda g, z, i: _np_xent_grad(g, z, i, -1),
            [(5, 1), (5, 4), (5, 1)],
            [normal, normal, integers(4)],
            kinds="ffi",
        ),
    ]

    def _np_rows_grad(g, e, sums, idx, axis):
        """e / sums * sum(g) - g scattered at idx (repeats add up), along the last axis."""
        assert axis == -1
        g = np.broadcast_to(g, idx.shape)
        scattered = np.zeros_like(e)
        for row in np.ndindex(idx.shape[:-1]):
            for j in range(idx.shape[-1]):
                scattered[row + (idx[row + (j,)],)] += g[row + (j,)]
        return e / sums * g.sum(axis=-1, keepdims=True) - scattered

    CASES["xent_rows"] = [
        Case(
            lambda s, t, i: fused.xent_rows(s, t, i),
            lambda s, t, i: np.log(t) - np.take_along_axis(s, i, axis=-1),
            [(5, 4), (5, 1), (5, 1)],
            [normal, positive, integers(4)],
            kinds="ffi",
            label="labels",
        ),
        Case(
            lambda s, t, i: fused.xent_rows(s, t, i, axis=0),
            lambda s, t, i: np.log(t) - np.take_along_axis(s, i, axis=0),
            [(3, 2), (1, 2), (2, 2)],
            [normal, positive, integers(3)],
            kinds="ffi",
            label="axis 0, two picks",
        ),
    ]
    CASES["xent_rows_grad"] = [
        Case(
            lambda g, e, t, i: fused.xent_rows_grad(g, e, t, i),
            lambda g, e, t, i: _np_rows_grad(g, e, t, i, -1),
            [(5, 1), (5, 4), (5, 1), (5, 1)],
            [normal, positive, positive, integers(4)],
            kinds="fffi",
            label="labels",
        ),
        Case(
            lambda g, e, t, i: fused.xent_rows_grad(g, e, t, i),
            lambda g, e, t, i: _np_rows_grad(g, e, t, i, -1),
            [(4, 3), (4, 5), (4, 1), (4, 3)],
            [normal, positive, positive, integers(5)],
            kinds="fffi",
            label="repeated picks",
        ),
    ]

# --- convolution and pooling (graphdl.ops.conv): references are the naive loops of test_conv --
def _conv_cases() -> None:
    from test_conv import naive_conv, naive_max_route, naive_pool, transpose_of

    from graphdl.ops import conv as cv

    def typed(fn):
        return lambda *a: fn(*[np.asarray(v, np.float64) for v in a]).astype(a[0].dtype)

    opts = {"stride": (2, 1), "pad": ((1, 0), (1, 1)), "dilation": (1, 2), "groups": 2,
            "lead": 0}
    ref = dict(stride=opts["stride"], pad=opts["pad"], dilation=opts["dilation"], groups=2)
    xs, ws, ys = (1, 4, 5, 4), (2, 2, 2, 2), (1, 2, 3, 4)
    first = ("first",)  # kernels need known shapes; a batch of unknown size is fine
    CASES["conv"] = [
        Case(lambda x, w: gd.conv(x, w, stride=(2, 1), padding=((1, 0), (1, 1)),
                                  dilation=(1, 2), groups=2),
             typed(lambda x, w: naive_conv(x, w, **ref)), [xs, ws], none_variants=first,
             label="stride, padding, dilation, groups"),
        Case(lambda x, w: gd.conv(x, w, padding="same"),
             typed(lambda x, w: naive_conv(x, w, (1,), ((1, 1),), (1,), 1)),
             [(2, 2, 5), (3, 2, 3)], none_variants=first, label="1-d same"),
    ]
    CASES["conv_input_adjoint"] = [
        Case(lambda g, w: gd.ops.apply(cv.CONV_INPUT_ADJOINT, g, w, x_spatial=xs[2:], **opts),
             typed(lambda g, w: transpose_of(lambda e: naive_conv(e, w, **ref), g, xs)),
             [ys, ws], none_variants=first, label="grouped"),
    ]
    CASES["conv_kernel_adjoint"] = [
        Case(lambda x, g: gd.ops.apply(cv.CONV_KERNEL_ADJOINT, x, g, k_spatial=ws[2:], **opts),
             typed(lambda x, g: transpose_of(lambda e: naive_conv(x, e, **ref), g, ws)),
             [xs, ys], none_variants=first, label="grouped"),
    ]
    pool = {"window": (2, 3), "stride": (2, 1), "pad": ((1, 1), (0, 0))}
    pref = (pool["window"], pool["stride"], pool["pad"])
    ps, pys = (2, 2, 4, 4), (2, 2, 3, 2)
    CASES["avg_pool"] = [
        Case(lambda x: gd.avg_pool(x, (2, 3), (2, 1), (1, 0)),
             typed(lambda x: naive_pool(x, *pref, "avg")), [ps], none_variants=first),
    ]
    CASES["avg_pool_adjoint"] = [
        Case(lambda g: gd.ops.apply(cv.AVG_POOL_ADJOINT, g, x_spatial=ps[2:], **pool),
             typed(lambda g: transpose_of(lambda e: naive_pool(e, *pref, "avg"), g, ps)),
             [pys], none_variants=first),
    ]
    CASES["max_pool"] = [
        Case(lambda x: gd.max_pool(x, (2, 3), (2, 1), (1, 0)),
             typed(lambda x: naive_pool(x, *pref, "max")), [ps], [distinct],
             none_variants=first),
    ]
    CASES["max_pool_adjoint"] = [
        Case(lambda x, g: gd.ops.apply(cv.MAX_POOL_ADJOINT, x, g, **pool),
             typed(lambda x, g: naive_max_route(x, g, *pref)), [ps, pys], [distinct, normal],
             none_variants=first),
    ]
    CASES["max_pool_pick"] = [
        Case(lambda x, t: gd.ops.apply(cv.MAX_POOL_PICK, x, t, **pool),
             typed(lambda x, t: transpose_of(lambda e: naive_max_route(x, e, *pref), t, pys)),
             [ps, ps], [distinct, normal], none_variants=first),
    ]


_conv_cases()

# Leaves are not computations; the internal helpers below only appear inside derivative graphs
# and are exercised by the second-order checks in test_autodiff_rules.py (JVP-of-VJP and
# VJP-of-VJP over every case), which assert that each of them actually occurs there.
LEAVES = {"input", "constant", "shared"}
# built inside gd.scan/gd.cond above, or refusing reverse mode by design: tests/ops/test_control.py
CONTROL_HELPERS = {"part", "pack", "while_loop"}
INTERNAL_HELPERS = {
    "sum_to",
    "broadcast_like",
    "reshape_like",
    "index_adjoint",
    "take_adjoint",
    "take_along_adjoint",
    "concat_piece",
    "zeros_like",
    "axis_size",
}


def all_cases(variants: tuple[str, ...] = ("static", "first", "all")):
    """pytest parameters (op name, case, variant) over the whole table."""
    params = []
    for name, cases in CASES.items():
        for k, case in enumerate(cases):
            for variant in variants:
                if variant != "static" and variant not in case.none_variants:
                    continue
                tag = f"{name}-{k}-{case.label or 'default'}-{variant}"
                params.append(pytest.param(name, case, variant, id=tag))
    return params


def test_every_registered_op_has_a_case() -> None:
    missing = set(REGISTRY) - set(CASES) - LEAVES - INTERNAL_HELPERS - CONTROL_HELPERS
    assert not missing, f"ops without an entry in the CASES table: {sorted(missing)}"
    unknown = set(CASES) - set(REGISTRY)
    assert not unknown, f"CASES names ops that are not registered: {sorted(unknown)}"


def test_cases_build_the_op_they_are_filed_under() -> None:
    for name, cases in CASES.items():
        for case in cases:
            out = case.build(*case.inputs())
            ops = {n.op.name for n in gd.toposort([out])}
            assert name in ops, (name, case.label, ops)


@pytest.mark.parametrize(("name", "case", "variant"), all_cases())
def test_forward_matches_numpy_float64(name: str, case: Case, variant: str) -> None:
    rng = np.random.default_rng(0)
    values = case.values(rng)
    inputs = case.inputs(variant)
    out = case.build(*inputs)
    expected = np.asarray(case.reference(*values))
    got = np.asarray(run_both(inputs, out, *values))
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert out.dtype == expected.dtype  # the static dtype rule agrees with NumPy
    assert len(out.shape) == expected.ndim
    assert all(d is None or d == e for d, e in zip(out.shape, expected.shape)), out.shape
    if variant == "static":
        assert out.shape == expected.shape  # static shapes fully inferred
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("name", "case", "variant"), all_cases(("static", "first")))
def test_forward_float32_stays_float32(name: str, case: Case, variant: str) -> None:
    rng = np.random.default_rng(1)
    values = case.values(rng, "float32")
    inputs = case.inputs(variant, "float32")
    out = case.build(*inputs)
    expected = np.asarray(case.reference(*values))
    got = np.asarray(run_both(inputs, out, *values))
    assert got.dtype == expected.dtype == out.dtype, (got.dtype, expected.dtype, out.dtype)
    if name != "cast" and all(k == "f" for k in case.kinds or "f"):
        assert expected.dtype in (np.float32, np.bool_, np.int64)  # nothing upcast to float64
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


# --- contractions: errors name the operand, and the numba backend refuses by name ---------------
def test_einsum_errors_name_the_operand_and_the_sizes() -> None:
    from graphdl.errors import ShapeError

    a, b = gd.tensor("a", (2, 3)), gd.tensor("b", (4, 5))
    with pytest.raises(ShapeError, match=r"axis 'j' has sizes \[3, 4\] \(a: \(2, 3\), b: \(4, 5\)"):
        gd.einsum("ij,jk->ik", a, b)
    with pytest.raises(ShapeError, match=r"operand 1 \(b\) has 2 axes but its subscripts 'k'"):
        gd.einsum("ij,k", a, b)
    with pytest.raises(ShapeError, match=r"names 1 operand\(s\), 2 given"):
        gd.einsum("ij", a, b)
    with pytest.raises(ShapeError, match=r"output subscript 'z' names no operand axis"):
        gd.einsum("ij->z", a)
    with pytest.raises(ShapeError, match=r"output does not say where they go"):
        gd.einsum("...j->j", gd.tensor("c", (2, 3, 4)))
    with pytest.raises(ShapeError, match=r"axis 'i' has sizes \[2, 3\] \(a: \(2, 3\)\)"):
        gd.einsum("ii->i", a)
    with pytest.raises(ShapeError, match=r"subscript '1'"):
        gd.einsum("i1", a)
    with pytest.raises(ShapeError, match=r"tensordot: axis 1 of a .* and axis 0 of b"):
        gd.tensordot(a, b, ([1], [0]))
    with pytest.raises(ShapeError, match=r"diagonal: v has shape \(3,\)"):
        gd.diagonal(gd.tensor("v", (3,)))


def test_dot_of_rank_three_is_numpys_dot_not_a_refusal() -> None:
    a, b = gd.tensor("a", (2, 3, 4)), gd.tensor("b", (5, 4, 6))
    x, y = np.random.default_rng(0).standard_normal((2, 3, 4)), np.ones((5, 4, 6))
    assert gd.dot(a, b).shape == (2, 3, 5, 6)
    np.testing.assert_allclose(gd.function([a, b], gd.dot(a, b))(x, y), np.dot(x, y), rtol=1e-13)


def test_three_operand_einsum_is_emitted_with_a_contraction_order() -> None:
    a, b, c = (gd.tensor(n, (3, 3)) for n in "abc")
    source = gd.function([a, b, c], gd.einsum("ij,jk,kl->il", a, b, c)).source
    assert "np.einsum('ij,jk,kl->il', a, b, c, optimize=True)" in source


def test_numba_refuses_contractions_by_name() -> None:
    pytest.importorskip("numba")
    from graphdl.errors import GraphError

    a = gd.tensor("a", (3, 3))
    for out, name in [(gd.einsum("ij,jk", a, a), "einsum"), (gd.diagonal(a), "diagonal")]:
        with pytest.raises(GraphError, match=rf"cannot compile {name} node .*backend='numpy'"):
            gd.function([a], out, backend="numba")

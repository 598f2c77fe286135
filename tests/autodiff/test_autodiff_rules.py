"""Every op's JVP and VJP rule against central finite differences (issue 3), over the op table.

For each differentiable case of `test_ops_table.CASES`, in float64, with static shapes, the first
axis unknown and every size unknown at build time:

- VJP: ``gd.vjp`` with a random cotangent c equals central differences of <c, f(x)> for every
  float input (so broadcasting is summed back exactly, also over sizes unknown when built);
- JVP: ``gd.jvp`` along a random direction equals (f(x + eps v) - f(x - eps v)) / (2 eps);
- second order: the VJP graph, seen as a function of (x, c), is itself checked the same way
  (JVP-of-VJP and VJP-of-VJP). This runs every rule of the adjoint helper ops (sum_to,
  index_adjoint, take_adjoint, concat_piece, ...) that only appear inside derivative graphs.

Tolerances: eps = 1e-6, rtol = 1e-5, atol = 1e-7 unless a case says otherwise (see helpers.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    assert_jvp_matches_fd,
    assert_vjp_matches_fd,
    float_positions,
    numeric_gradient,
    numeric_jvp,
    run_both,
)
from test_ops_table import CASES, INTERNAL_HELPERS, Case, all_cases

import graphdl as gd
from graphdl.ops.registry import REGISTRY

SMOOTH = [p for p in all_cases() if p.values[1].smooth]
NOT_SMOOTH = [p for p in all_cases(("static",)) if not p.values[1].smooth]


def _setup(case: Case, variant: str, seed: int):
    rng = np.random.default_rng(seed)
    values = case.values(rng)
    inputs = case.inputs(variant)
    return rng, values, inputs, case.build(*inputs)


@pytest.mark.parametrize(("name", "case", "variant"), SMOOTH)
def test_vjp_matches_central_differences(name: str, case: Case, variant: str) -> None:
    rng, values, inputs, out = _setup(case, variant, 2)
    assert_vjp_matches_fd(inputs, out, values, rng, rtol=case.rtol, eps=case.eps)


@pytest.mark.parametrize(("name", "case", "variant"), SMOOTH)
def test_jvp_matches_central_differences(name: str, case: Case, variant: str) -> None:
    rng, values, inputs, out = _setup(case, variant, 3)
    assert_jvp_matches_fd(inputs, out, values, rng, rtol=case.rtol, eps=case.eps)


@pytest.mark.parametrize(
    ("name", "case", "variant"), [p for p in all_cases(("static", "first")) if p.values[1].smooth]
)
def test_derivatives_keep_float32(name: str, case: Case, variant: str) -> None:
    """In float32, tangents have the output's dtype and adjoints their input's: float32."""
    rng = np.random.default_rng(7)
    values = case.values(rng, "float32")
    inputs = case.inputs(variant, "float32")
    out = case.build(*inputs)
    wrt = [inputs[i] for i in float_positions(inputs)]
    dot = gd.jvp(
        out, wrt, [np.ones(w.shape if None not in w.shape else (), "float32") for w in wrt]
    )
    y = np.asarray(gd.function(inputs, out)(*values))
    bars = gd.vjp(
        out, wrt, gd.constant(np.ones(y.shape, out.dtype)) if None not in out.shape else 1.0
    )
    assert dot.dtype == out.dtype
    assert [b.dtype for b in bars] == [w.dtype for w in wrt]
    got = run_both(inputs, [dot, *bars], *values)
    assert [np.asarray(v).dtype for v in got] == [out.dtype] + [w.dtype for w in wrt]


def _vjp_graph(case: Case, variant: str, seed: int):
    """The VJP of a case as a graph of (inputs..., cotangent), with values for all of them."""
    rng, values, inputs, out = _setup(case, variant, seed)
    forward = gd.function(inputs, out, optimize=False)
    y = np.asarray(forward(*values))
    c = gd.tensor("c", out.shape, out.dtype)
    wrt = [inputs[i] for i in float_positions(inputs)]
    bars = gd.vjp(out, wrt, c)
    args = list(inputs) + [c]
    arg_values = list(values) + [rng.standard_normal(y.shape)]
    return rng, args, arg_values, bars


def _second_order_cases():
    return [p for p in SMOOTH if p.values[1].second_order and p.values[1].eps == 1e-6]


@pytest.mark.parametrize(("name", "case", "variant"), _second_order_cases())
def test_jvp_of_vjp_matches_central_differences(name: str, case: Case, variant: str) -> None:
    rng, args, values, bars = _vjp_graph(case, variant, 4)
    first = gd.function(args, bars, optimize=False)
    positions = float_positions(args)
    directions = [
        rng.standard_normal(np.shape(v)) if i in positions else None for i, v in enumerate(values)
    ]
    tangents = [gd.tensor(f"t{i}", args[i].shape) for i in positions]
    dots = gd.jvp(bars, [args[i] for i in positions], tangents)
    got = run_both(
        args + tangents, dots, *values, *[directions[i] for i in positions], rtol=1e-10, atol=1e-12
    )
    for k, dot in enumerate(got):
        expected = numeric_jvp(lambda *a, k=k: first(*a)[k], values, directions)
        np.testing.assert_allclose(
            dot, expected, rtol=1e-5, atol=1e-7, err_msg=f"JVP of the VJP (output {k}) of {name}"
        )


@pytest.mark.parametrize(("name", "case", "variant"), _second_order_cases())
def test_vjp_of_vjp_matches_central_differences(name: str, case: Case, variant: str) -> None:
    rng, args, values, bars = _vjp_graph(case, variant, 5)
    first = gd.function(args, bars, optimize=False)
    shapes = [np.shape(b) for b in first(*values)]
    cots = [rng.standard_normal(s) for s in shapes]
    cot_inputs = [gd.tensor(f"g{k}", b.shape) for k, b in enumerate(bars)]
    positions = float_positions(args)
    second = gd.vjp(bars, [args[i] for i in positions], cot_inputs, disconnected="zero")
    got = run_both(args + cot_inputs, second, *values, *cots, rtol=1e-10, atol=1e-12)

    def pairing(*a: np.ndarray) -> float:
        return sum(float(np.sum(c * b)) for c, b in zip(cots, first(*a)))

    for i, g in zip(positions, got):
        expected = numeric_gradient(pairing, values, i)
        np.testing.assert_allclose(
            g,
            expected,
            rtol=1e-5,
            atol=1e-7,
            err_msg=f"VJP of the VJP wrt {args[i].label()} of {name}",
        )


def test_internal_helpers_occur_in_the_checked_derivative_graphs() -> None:
    """The helper ops exempt from the table are really run by the second-order checks above."""
    first_order: set[str] = set()
    second_order: set[str] = set()
    for param in _second_order_cases():
        _, case, variant = param.values
        _, args, _, bars = _vjp_graph(case, variant, 4)
        first_order |= {n.op.name for n in gd.toposort(bars)}
        wrt = [args[i] for i in float_positions(args)]
        again = gd.vjp(bars, wrt, [gd.tensor(None, b.shape) for b in bars], disconnected="zero")
        second_order |= {n.op.name for n in gd.toposort(again)}
    # Their rules run in the second-order checks: they are part of the graphs differentiated.
    rules_exercised = {
        "sum_to",
        "broadcast_like",
        "reshape_like",
        "index_adjoint",
        "take_adjoint",
        "take_along_adjoint",
        "concat_piece",
        "axis_size",
    }
    assert rules_exercised <= first_order, sorted(rules_exercised - first_order)
    # zeros_like (zero derivative by declaration) fills the other pieces in concat_piece's VJP.
    assert "zeros_like" in second_order
    assert rules_exercised | {"zeros_like"} == INTERNAL_HELPERS


@pytest.mark.parametrize(("name", "case", "variant"), NOT_SMOOTH)
def test_ops_without_derivative_declare_zero_derivative(
    name: str, case: Case, variant: str
) -> None:
    """Comparisons, logical ops, sign, floor, argmax, one_hot, casts to int, stop_gradient: the
    derivative is zero almost everywhere, declared so; a float result gives zero gradients."""
    _, values, inputs, out = _setup(case, variant, 6)
    assert REGISTRY[name].zero_derivative or name == "cast", name
    floats = [inputs[i] for i in float_positions(inputs)]
    if not floats:
        return
    if out.dtype.kind == "f":
        grads = gd.grad(gd.sum(out * out), floats, disconnected="zero")
        for g, x in zip(run_both(inputs, grads, *values), floats):
            np.testing.assert_array_equal(g, np.zeros(np.shape(values[inputs.index(x)])))
        tangents = gd.jvp(out, floats, [np.ones(x.shape) for x in floats])
        np.testing.assert_array_equal(run_both(inputs, tangents, *values), 0.0)
    with pytest.raises(gd.DifferentiationError, match="does not depend"):
        gd.grad(
            gd.sum(gd.where(out, 1.0, 2.0) if out.dtype == bool else out * 1.0),
            floats[0],
            disconnected="raise",
        )


def test_table_covers_every_differentiable_op_with_a_derivative_check() -> None:
    smooth_ops = {p.values[0] for p in SMOOTH}
    for name, op in REGISTRY.items():
        if (
            name in CASES
            and (op.vjp is not None or op.partials is not None)
            and not op.zero_derivative
        ):
            assert name in smooth_ops, f"{name} has derivative rules but no derivative check"

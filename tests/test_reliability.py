"""Regression tests for issue 15 (reliability): graph semantics a student trips over."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from tests.helpers import numeric_gradient, run_both


# --- gradients with respect to what the cost does not depend on -----------------------------------
def test_grad_of_a_disconnected_wrt_raises_naming_it() -> None:
    x, typo = gd.vector("x", 3), gd.vector("weights", 3)
    cost = gd.sum(x * x)
    with pytest.raises(gd.DifferentiationError, match=r"does not depend on weights \(f64\[3\]\)"):
        gd.grad(cost, typo)
    two = gd.constant(2.0)
    with pytest.raises(gd.DifferentiationError, match=r"does not depend on constant#\d+"):
        gd.grad(cost * gd.constant(2.0), two)  # a second constant is another node
    g = gd.grad(cost, [x, typo], disconnected="zero")
    got = gd.function([x, typo], g)(np.array([1.0, 2.0, 3.0]), np.ones(3))
    np.testing.assert_array_equal(got[0], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(got[1], np.zeros(3))


def test_vjp_jacobian_hessian_hvp_raise_on_a_disconnected_wrt() -> None:
    x, y = gd.vector("x", 2), gd.vector("y", 2)
    out = gd.exp(x)
    with pytest.raises(gd.DifferentiationError, match="vjp: .*does not depend on y"):
        gd.vjp(out, y, np.ones(2))
    for mode in ("forward", "reverse"):
        with pytest.raises(
            gd.DifferentiationError, match=r"jacobian: exp#\d+ does not depend on y"
        ):
            gd.jacobian(out, y, mode=mode)
        zero = gd.jacobian(out, y, mode=mode, disconnected="zero")
        np.testing.assert_array_equal(
            gd.function([x, y], zero)(np.ones(2), np.ones(2)), np.zeros((2, 2))
        )
    with pytest.raises(gd.DifferentiationError, match="grad: .*does not depend on y"):
        gd.hessian(gd.sum(out), y)
    with pytest.raises(gd.DifferentiationError, match="grad: .*does not depend on y"):
        gd.hvp(gd.sum(out), y, np.ones(2))


def test_a_linear_cost_has_a_zero_hessian_not_an_error() -> None:
    x = gd.vector("x", 3)
    cost = gd.sum(3.0 * x)
    np.testing.assert_array_equal(
        gd.function([x], gd.hessian(cost, x))(np.ones(3)), np.zeros((3, 3))
    )
    np.testing.assert_array_equal(
        gd.function([x], gd.hvp(cost, x, np.ones(3)))(np.ones(3)), np.zeros(3)
    )


WHAT_TO_PASS = (
    r"wrt must be a graph node \(an input from gd.scalar.*a shared variable from gd.shared"
)


@pytest.mark.parametrize("value", [np.ones(3), 2.0, np.float32(1.0)])
def test_a_value_as_wrt_is_a_type_error_saying_what_to_pass(value) -> None:
    x = gd.vector("x", 3)
    cost = gd.sum(x * x)
    for call in (
        lambda: gd.grad(cost, value),
        lambda: gd.vjp(cost, value, 1.0),
        lambda: gd.hessian(cost, value),
        lambda: gd.jacobian(x, value),
        lambda: gd.grad(cost, [x, value]),
    ):
        with pytest.raises(TypeError, match=WHAT_TO_PASS):
            call()
    with pytest.raises(TypeError, match="jacobian: x must be one graph node"):
        gd.jacobian(x, [x, x])


# --- x ** y at x = 0 ------------------------------------------------------------------------------
def test_power_derivatives_at_a_zero_base_are_the_limits_not_nan() -> None:
    y = gd.scalar("y")
    dy = gd.grad(gd.power(0.0, y), y)
    assert gd.function([y], dy)(0.5) == 0.0  # log(0) * 0 ** 0.5: the limit 0, as JAX's
    x = gd.scalar("x")
    dx, dy = gd.grad(x**y, [x, y])
    fn = gd.function([x, y], [dx, dy])
    np.testing.assert_array_equal(fn(0.0, 0.0), [0.0, 0.0])  # x ** 0 = 1 for every x
    np.testing.assert_array_equal(fn(0.0, 2.0), [0.0, 0.0])
    np.testing.assert_array_equal(fn(0.0, 1.0), [1.0, 0.0])
    # away from zero the rules are unchanged, second derivatives included
    value = [np.array(1.3), np.array(0.7)]
    got = run_both([x, y], gd.grad(x**y, [x, y]), *value)
    for i in range(2):
        np.testing.assert_allclose(got[i], numeric_gradient(lambda a, b: a**b, value, i), rtol=1e-7)
    H = gd.hessian(x**y, [x, y])
    h = gd.function([x, y], [H[0][0], H[0][1], H[1][1]])(1.3, 0.7)
    np.testing.assert_allclose(
        h,
        [0.7 * -0.3 * 1.3**-1.3, 1.3**-0.3 * (1 + 0.7 * np.log(1.3)), np.log(1.3) ** 2 * 1.3**0.7],
        rtol=1e-12,
    )


# --- mean over no axes ----------------------------------------------------------------------------
def test_mean_over_no_axes_is_the_operand() -> None:
    v = gd.vector("v", 3)
    got = run_both([v], gd.mean(v, axis=()), np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(got, [1.0, 2.0, 4.0])


def test_forward_jacobian_hessian_and_vmap_of_a_mean_of_a_0d_node() -> None:
    x = gd.scalar("x")
    f = gd.mean(x * x * x)
    assert gd.function([x], gd.jacobian(f, x, mode="forward"))(2.0) == 12.0
    assert gd.function([x], gd.hessian(f, x))(2.0) == 12.0
    xs = gd.vector("xs", 3)
    batched = gd.vmap(f, {x: xs})
    np.testing.assert_array_equal(
        gd.function([xs], batched)(np.array([1.0, 2.0, 3.0])), [1.0, 8.0, 27.0]
    )


# --- hessian of a list ----------------------------------------------------------------------------
def test_hessian_of_a_list_returns_the_blocks() -> None:
    a, b = gd.scalar("a"), gd.vector("b", 2)
    cost = a * a * gd.sum(b) + gd.sum(gd.sin(b))
    H = gd.hessian(cost, [a, b])
    assert [[h.shape for h in row] for row in H] == [[(), (2,)], [(2,), (2, 2)]]
    values = gd.function([a, b], [h for row in H for h in row])(1.5, np.array([0.2, -0.4]))
    np.testing.assert_allclose(values[0], 2 * (0.2 - 0.4))
    np.testing.assert_allclose(values[1], [3.0, 3.0])
    np.testing.assert_allclose(values[2], [3.0, 3.0])
    np.testing.assert_allclose(values[3], np.diag(-np.sin([0.2, -0.4])))

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


# --- iterating a node ---------------------------------------------------------------------------
def test_a_node_of_static_size_unpacks_and_has_a_len() -> None:
    x = gd.vector("x", shape=(2,))
    a, b = x
    assert len(x) == 2
    assert gd.function([x], [b, a])(np.array([1.0, 2.0])) == [2.0, 1.0]
    rows = list(gd.matrix("m", (3, None)))
    assert [r.shape for r in rows] == [(None,)] * 3


def test_iterating_a_node_of_unknown_size_is_a_type_error_saying_why() -> None:
    v = gd.vector("v")
    with pytest.raises(TypeError, match=r"iterate over graph node v \(f64\[\?\]\): its first size"):
        list(v)
    with pytest.raises(TypeError, match=r"len\(\) of graph node v .*known only when the graph"):
        len(v)
    with pytest.raises(TypeError, match="cannot iterate over the 0-d graph node s"):
        a, b = gd.scalar("s")


# --- NumPy functions and ufuncs on nodes --------------------------------------------------------
def test_numpy_functions_on_nodes_build_the_graphdl_ops() -> None:
    m = gd.matrix("m", (2, 3))
    value = np.arange(6.0).reshape(2, 3) - 2.5
    w = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    cases = {
        "sum": (np.sum(m), np.sum(value)),
        "sum axis keepdims": (np.sum(m, axis=0, keepdims=True), np.sum(value, 0, keepdims=True)),
        "mean": (np.mean(m, axis=1), np.mean(value, axis=1)),
        "max": (np.max(m), np.max(value)),
        "min": (np.min(m, axis=0), np.min(value, axis=0)),
        "prod": (np.prod(m, axis=1), np.prod(value, axis=1)),
        "argmax": (np.argmax(m, axis=1), np.argmax(value, axis=1)),
        "exp": (np.exp(m), np.exp(value)),
        "tanh": (np.tanh(m), np.tanh(value)),
        "abs": (np.abs(m), np.abs(value)),
        "matmul": (np.matmul(m, w), value @ w),
        "array @ node": (w.T @ m.T, w.T @ value.T),
        "array * node": (np.full(3, 2.0) * m, 2.0 * value),
        "maximum": (np.maximum(m, 0.0), np.maximum(value, 0.0)),
        "concatenate": (np.concatenate([m, m], axis=1), np.concatenate([value, value], axis=1)),
        "stack": (np.stack([m, m]), np.stack([value, value])),
        "where": (np.where(m > 0, m, -m), np.where(value > 0, value, -value)),
        "clip": (np.clip(m, -1.0, 1.0), np.clip(value, -1.0, 1.0)),
        "reshape": (np.reshape(m, (3, 2)), np.reshape(value, (3, 2))),
        "transpose": (np.transpose(m), value.T),
        "moveaxis": (np.moveaxis(m, 0, -1), np.moveaxis(value, 0, -1)),
        "expand_dims": (np.expand_dims(m, 0), value[None]),
        "add.reduce": (np.add.reduce(m, axis=1), np.add.reduce(value, axis=1)),
        "dot": (np.dot(m, w), np.dot(value, w)),
    }
    for name, (node, _) in cases.items():
        assert isinstance(node, gd.Node), name
    got = gd.function([m], [node for node, _ in cases.values()])(value)
    for (name, (_, expected)), g in zip(cases.items(), got):
        np.testing.assert_allclose(g, expected, rtol=1e-15, err_msg=name)


def test_numpy_functions_graphdl_lacks_and_out_are_type_errors_naming_them() -> None:
    m = gd.matrix("m", (2, 3))
    refused = {
        "np.sum on a graph node: out= is not supported": lambda: np.sum(m, out=np.zeros(())),
        "np.exp on a graph node: out= is not supported": lambda: np.exp(m, out=np.zeros((2, 3))),
        "np.sort on a graph node: graphdl has no such op": lambda: np.sort(m),
        "np.linalg.norm on a graph node: graphdl has no such op": lambda: np.linalg.norm(m),
        "np.arctan on a graph node: graphdl has no such op": lambda: np.arctan(m),
        "np.sum on a graph node: unsupported arguments: .*'dtype'": lambda: np.sum(m, dtype=int),
        "np.add.at on a graph node": lambda: np.add.at(m, 0, 1.0),
    }
    for message, call in refused.items():
        with pytest.raises(TypeError, match=message):
            call()


# --- stable forms, and gradients taken of them --------------------------------------------------
@pytest.mark.parametrize("dtype, big", [("float64", 800.0), ("float32", 100.0)])
def test_log_of_exp_has_the_gradient_of_x_beyond_the_overflow(dtype: str, big: float) -> None:
    x = gd.vector("x", 3, dtype=dtype)
    cost = gd.sum(gd.log(gd.exp(x)) * np.array([1.0, 2.0, 3.0], dtype))
    value, grad = gd.function([x], [cost, gd.grad(cost, x)])(np.array([big, 1.0, -big], dtype))
    assert value == pytest.approx(big + 2.0 - 3 * big)
    np.testing.assert_array_equal(grad, np.array([1.0, 2.0, 3.0], dtype))


@pytest.mark.parametrize("keepdims", [False, True])
def test_the_naive_1d_log_softmax_is_rewritten_value_and_gradient(keepdims: bool) -> None:
    z = gd.vector("z", 3)
    naive = gd.log(gd.exp(z) / gd.sum(gd.exp(z), keepdims=keepdims))  # exp written twice
    weights = np.array([1.0, 2.0, 3.0])
    cost = gd.sum(naive * weights)
    value = np.array([1000.0, 0.0, -1000.0])
    got, grad = gd.function([z], [naive, gd.grad(cost, z)])(value)
    np.testing.assert_array_equal(got, [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(grad, weights - np.array([1.0, 0.0, 0.0]) * weights.sum())
    moderate = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(
        gd.function([z], gd.grad(cost, z))(moderate),
        numeric_gradient(lambda v: np.sum(weights * (v - np.log(np.sum(np.exp(v))))),
                         [moderate], 0), rtol=1e-7)


def _reference_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in extended precision, rounded to x's dtype."""
    wide = x.astype(np.longdouble)
    return (1 / (1 + np.exp(-wide))).astype(x.dtype)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_keeps_relative_precision_in_both_tails(dtype: str, backend: str) -> None:
    if backend == "numba":
        pytest.importorskip("numba")
    x = gd.vector("x", dtype=dtype)
    s = gd.sigmoid(x)
    fn = gd.function([x], [s, gd.grad(gd.sum(s), x)], backend=backend)
    limit = 700.0 if dtype == "float64" else 85.0
    value = np.concatenate([-np.geomspace(limit, 0.01, 40), [0.0], np.geomspace(0.01, limit, 40)])
    value = value.astype(dtype)
    got, slope = fn(value)
    assert got.dtype == slope.dtype == np.dtype(dtype)
    expected = _reference_sigmoid(value)
    expected_slope = (_reference_sigmoid(value).astype(np.longdouble)
                      * _reference_sigmoid(-value)).astype(dtype)
    rtol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)  # 0 nowhere in the left tail
    np.testing.assert_allclose(slope, expected_slope, rtol=rtol, atol=0)
    assert got[0] > 0 and slope[0] > 0 and slope[-1] > 0


def test_an_optimizer_refuses_a_parameter_the_loss_does_not_use_naming_it() -> None:
    x = gd.vector("x", 3)
    used, unused = gd.shared(np.ones(3), name="w"), gd.shared(np.ones(3), name="w_typo")
    loss = gd.sum(x * used)
    with pytest.raises(gd.DifferentiationError, match="does not depend on w_typo"):
        gd.optim.SGD(0.1).updates(loss, [used, unused])
    opt = gd.optim.SGD(0.1)
    updates = opt.apply_gradients([used, unused],
                                  gd.grad(loss, [used, unused], disconnected="zero"))
    gd.function([x], loss, updates=updates)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(used.get_value(), [0.9, 0.8, 0.7])
    np.testing.assert_array_equal(unused.get_value(), np.ones(3))

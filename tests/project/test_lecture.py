"""The lecture's worked numbers (Lepetit, "Optimization for Deep Learning").

- eq. 50: f(x1, x2) = ln(x1) + x1 x2 - sin(x2) at (2, 5) is 11.652;
- the forward tangent trace with x1-dot = 1, x2-dot = 0 gives df/dx1 = 5.5, node by node;
- one reverse sweep gives both adjoints, x1-bar = 5.5 and x2-bar = 1.716;
- eq. 47: back-propagation through a 3-layer network with least-squares loss, written by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_both

import graphdl as gd
from graphdl.autodiff.forward import tangents as forward_sweep
from graphdl.autodiff.reverse import adjoints as reverse_sweep


def lecture_graph():
    """The lecture's trace, node by node (eq. 50)."""
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    v1 = gd.log(x1)
    v2 = x1 * x2
    v3 = gd.sin(x2)
    v4 = v1 + v2
    v5 = v4 - v3
    return x1, x2, [v1, v2, v3, v4, v5]


def test_primal_value() -> None:
    x1, x2, trace = lecture_graph()
    values = run_both([x1, x2], trace, 2.0, 5.0)
    np.testing.assert_allclose(values[:2], [np.log(2.0), 10.0])
    assert values[3] == pytest.approx(10.693, abs=5e-4)  # 0.693 + 10
    assert values[4] == pytest.approx(11.652, abs=5e-4)


def test_forward_tangent_trace() -> None:
    """x1-dot = 1, x2-dot = 0: v1-dot = 1/2, v2-dot = 5, v3-dot = 0, v4-dot = v5-dot = 5.5."""
    x1, x2, (v1, v2, v3, v4, v5) = lecture_graph()
    dot = forward_sweep([v5], {x1: gd.constant(1.0)})
    assert v3 not in dot  # 0 x cos 5 is a symbolic zero: never built
    got = run_both([x1, x2], [dot[v1], dot[v2], dot[v4], dot[v5]], 2.0, 5.0)
    np.testing.assert_allclose(got, [0.5, 5.0, 5.5, 5.5], rtol=1e-15)
    # the public API, with the lecture's seeds as numbers
    df_dx1 = gd.jvp(v5, [x1, x2], [1.0, 0.0])
    assert gd.function([x1, x2], df_dx1)(2.0, 5.0) == pytest.approx(5.5, rel=1e-15)


def test_one_reverse_sweep_gives_both_adjoints() -> None:
    """v5-bar = 1, v4-bar = 1, v3-bar = -1, v2-bar = v1-bar = 1, x1-bar = 5.5, x2-bar = 1.716."""
    x1, x2, (v1, v2, v3, v4, v5) = lecture_graph()
    bar = reverse_sweep([v5], [gd.constant(1.0)], [x1, x2])
    got = run_both([x1, x2], [bar[n] for n in (v4, v3, v2, v1, x1, x2)], 2.0, 5.0)
    np.testing.assert_allclose(got[:4], [1.0, -1.0, 1.0, 1.0])
    assert got[4] == pytest.approx(5.5, rel=1e-15)
    assert got[5] == pytest.approx(1.716, abs=5e-4)
    assert got[5] == pytest.approx(2.0 - np.cos(5.0), rel=1e-15)  # x2-bar = x1 - cos(x2)
    # gd.grad compiles value and both adjoints in one function, sharing the primal nodes
    fn = gd.function([x1, x2], [v5, *gd.grad(v5, [x1, x2])], optimize=False)
    value, dx1, dx2 = fn(2.0, 5.0)
    assert (value, dx1, dx2) == pytest.approx((11.652071, 5.5, 1.716338), abs=1e-6)
    assert fn.source.count("np.log(") == 1 and fn.source.count("np.sin(") == 1


def test_second_derivatives_of_the_lecture_function() -> None:
    x1, x2, trace = lecture_graph()
    f = trace[-1]
    H = gd.function([x1, x2], gd.hessian(f, x1))
    # d2f/dx1^2 = -1/x1^2; a Hessian w.r.t. a scalar is a scalar
    assert H(2.0, 5.0) == pytest.approx(-0.25)
    d2_dx2 = gd.grad(gd.grad(f, x2), x2)  # sin(x2)'' = -sin: f_x2x2 = sin(x2)
    assert gd.function([x1, x2], d2_dx2)(2.0, 5.0) == pytest.approx(np.sin(5.0))
    mixed = gd.jvp(gd.grad(f, x1), x2, 1.0)
    assert gd.function([x1, x2], mixed)(2.0, 5.0) == pytest.approx(1.0)


# --- elementwise graphs vectorize ---------------------------------------------------------------
def test_elementwise_value_and_gradients_vectorize_over_points() -> None:
    x1, x2, trace = lecture_graph()
    f = trace[-1]
    points = np.linspace(1, 3, 1000)
    for optimize in (False, True):
        fn = gd.function([x1, x2], [f, *gd.grad(f, [x1, x2])], optimize=optimize)
        value, dx1, dx2 = fn(points, 5.0)
        assert value.shape == dx1.shape == dx2.shape == (1000,)
        np.testing.assert_allclose(value, np.log(points) + 5 * points - np.sin(5), rtol=1e-14)
        np.testing.assert_allclose(dx1, 1 / points + 5.0, rtol=1e-14)
        np.testing.assert_allclose(dx2, points - np.cos(5.0), rtol=1e-14)
        assert dx1[500] == pytest.approx(1 / points[500] + 5)
        # both arguments vectorize, broadcasting against each other like NumPy
        grid = fn(points[:, None], np.array([4.0, 5.0, 6.0]))
        assert grid[2].shape == (1000, 3)
        np.testing.assert_allclose(grid[2], points[:, None] - np.cos([4.0, 5.0, 6.0]))


def test_non_elementwise_graphs_reject_extra_rank_arguments() -> None:
    x = gd.vector("x", 3)
    W = gd.matrix("W", (3, 2))
    fn = gd.function([x, W], gd.sum(gd.tanh(x @ W)))
    fn(np.ones(3), np.ones((3, 2)))  # the declared ranks work
    with pytest.raises(
        gd.InputError,
        match=r"input x: expected shape \(3,\) \(rank 1\), "
        r"received shape \(5, 3\) \(rank 2\)",
    ):
        fn(np.ones((5, 3)), np.ones((3, 2)))
    s = gd.scalar("s")
    reduce = gd.function([s], gd.grad(gd.sum(gd.stack([s, s * s])), s))
    with pytest.raises(gd.InputError, match="input s"):
        reduce(np.ones(4))


# --- eq. 47: back-propagation through a 3-layer network ----------------------------------------
def _network(g, x0, e, W1, W2, W3):
    x1b = W1 @ x0
    x1 = g(x1b)
    x2b = W2 @ x1
    x2 = g(x2b)
    x3 = W3 @ x2
    return 0.5 * gd.sum((x3 - e) ** 2)


def _backprop_by_hand(x0, e, W1, W2, W3, g, g_prime):
    """Eq. 47, exactly as written: deltas from the top, each gradient an outer product."""
    x1b = W1 @ x0
    x1 = g(x1b)
    x2b = W2 @ x1
    x2 = g(x2b)
    x3 = W3 @ x2
    d3 = x3 - e
    dW3 = np.outer(d3, x2)
    d2 = (W3.T @ d3) * g_prime(x2b)
    dW2 = np.outer(d2, x1)
    d1 = (W2.T @ d2) * g_prime(x1b)
    dW1 = np.outer(d1, x0)
    return dW1, dW2, dW3


@pytest.mark.parametrize(
    ("g", "np_g", "np_g_prime"),
    [
        (gd.tanh, np.tanh, lambda z: 1 - np.tanh(z) ** 2),
        (gd.sigmoid, lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    ],
    ids=["tanh", "sigmoid"],
)
def test_three_layer_network_gradient_is_equation_47(g, np_g, np_g_prime) -> None:
    rng = np.random.default_rng(7)
    sizes = (4, 5, 3, 2)  # x0, x1, x2, x3
    Ws = [rng.standard_normal((sizes[i + 1], sizes[i])) for i in range(3)]
    x0, e = rng.standard_normal(4), rng.standard_normal(2)
    params = [gd.shared(W, f"W{i + 1}") for i, W in enumerate(Ws)]
    x0_in, e_in = gd.vector("x0", 4), gd.vector("e", 2)
    loss = _network(g, x0_in, e_in, *params)
    got = run_both([x0_in, e_in], gd.grad(loss, params), x0, e)
    expected = _backprop_by_hand(x0, e, *Ws, np_g, np_g_prime)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == Ws[i].shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"dL/dW{i + 1}")


def test_three_layer_network_over_a_batch_of_unknown_size() -> None:
    """The same deltas with one column per example: the per-example gradients add up."""
    rng = np.random.default_rng(8)
    Ws = [rng.standard_normal((5, 4)), rng.standard_normal((3, 5)), rng.standard_normal((2, 3))]
    params = [gd.shared(W, f"W{i + 1}") for i, W in enumerate(Ws)]
    X, E = gd.matrix("X", (4, None)), gd.matrix("E", (2, None))  # columns are examples
    loss = _network(gd.tanh, X, E, *params)
    xs, es = rng.standard_normal((4, 7)), rng.standard_normal((2, 7))
    got = run_both([X, E], gd.grad(loss, params), xs, es)
    expected = [
        sum(parts)
        for parts in zip(
            *[
                _backprop_by_hand(xs[:, k], es[:, k], *Ws, np.tanh, lambda z: 1 - np.tanh(z) ** 2)
                for k in range(7)
            ]
        )
    ]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)

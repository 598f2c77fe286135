"""Adjoints of matrix-vector products: one matrix-vector product or one outer product each,
and the mean's 0-d cotangent broadcast as it is (no size-1 axes added and removed)."""

import numpy as np
import pytest

import graphdl as gd


@pytest.mark.parametrize("vector_first", [False, True])
def test_matrix_vector_gradients_are_plain_products(vector_first):
    A = gd.matrix("A", (None, 4))
    v = gd.vector("v", (None,) if vector_first else (4,))
    product = v @ A if vector_first else A @ v
    loss = gd.mean(gd.square(product))
    gA, gv = gd.grad(loss, [A, v])
    fn = gd.function([A, v], [loss, gA, gv])
    assert "# squeeze" not in fn.source  # the general rule squeezed a (k, 1) product
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    x = rng.standard_normal(3 if vector_first else 4)
    p = x @ a if vector_first else a @ x
    n = p.size
    expected_gA = np.outer(x, 2 * p / n) if vector_first else np.outer(2 * p / n, x)
    expected_gv = a @ (2 * p / n) if vector_first else a.T @ (2 * p / n)
    value, got_gA, got_gv = fn(a, x)
    np.testing.assert_allclose(value, np.mean(p**2), rtol=1e-14)
    np.testing.assert_allclose(got_gA, expected_gA, rtol=1e-13)
    np.testing.assert_allclose(got_gv, expected_gv, rtol=1e-13)


def test_scale_pass_reaches_the_seed_of_a_linear_regression_step():
    X = gd.matrix("X", (None, 4))
    y = gd.vector("y", (None,))
    w = gd.shared(np.zeros(4), name="w")
    loss = gd.mean(gd.square(X @ w - y))
    (g,) = gd.grad(loss, [w])
    step = gd.function([X, y], loss, updates={w: w - 0.1 * g})
    assert step.report.fired("c * (linear in T) for every exit -> (c * T) once") == 1
    rng = np.random.default_rng(1)
    Xv, yv = rng.standard_normal((20, 4)), rng.standard_normal(20)
    wv = np.zeros(4)
    for _ in range(3):
        step(Xv, yv)
        wv = wv - 0.1 * (2 / 20) * Xv.T @ (Xv @ wv - yv)
    np.testing.assert_allclose(w.get_value(), wv, rtol=1e-13)

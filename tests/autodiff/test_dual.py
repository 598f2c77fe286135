"""Dual numbers: the ε² = 0 rules, and graphs evaluated on duals agreeing with the forward
trace, with graphdl's jvp and with finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphError, InputError


def test_arithmetic_rules_of_the_slide():
    v, u = gd.Dual(3.0, 2.0), gd.Dual(-1.5, 0.5)
    s = v + u
    assert (s.primal, s.tangent) == (1.5, 2.5)
    p = v * u  # (vu) + (v u̇ + v̇ u) ε
    assert (p.primal, p.tangent) == (-4.5, 3.0 * 0.5 + 2.0 * -1.5)
    q = v / u
    assert q.primal == pytest.approx(-2.0)
    assert q.tangent == pytest.approx(2.0 / -1.5 - 3.0 * 0.5 / 1.5**2)
    r = 1 - 2 * v  # numbers on the left
    assert (r.primal, r.tangent) == (-5.0, -4.0)
    w = v**3
    assert (w.primal, w.tangent) == (27.0, 3 * 9 * 2.0)
    assert str(gd.Dual(1.5, -0.75)) == "1.5 - 0.75ε"


@pytest.mark.parametrize("f, df", [
    (np.exp, np.exp), (np.log, lambda x: 1 / x), (np.sin, np.cos),
    (np.cos, lambda x: -np.sin(x)), (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    (np.sqrt, lambda x: 0.5 / np.sqrt(x)), (np.tan, lambda x: 1 / np.cos(x) ** 2),
    (np.log1p, lambda x: 1 / (1 + x)), (np.expm1, np.exp),
])
def test_elementary_functions_give_coefficient_of_epsilon(f, df):
    x = 0.7
    d = f(gd.Dual(x, 1.0))
    assert d.primal == pytest.approx(f(x))
    assert d.tangent == pytest.approx(df(x))


def test_chain_rule_by_composition():
    x = 0.3  # f(g(v + v̇ε)) = f(g(v)) + f'(g(v)) g'(v) v̇ ε
    d = np.sin(np.exp(gd.Dual(x, 1.0)))
    assert d.tangent == pytest.approx(math.cos(math.exp(x)) * math.exp(x))


def test_array_duals():
    a = gd.Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, -1.0]))
    y = np.sum(a * a)
    assert y.primal == pytest.approx(14.0)
    assert y.tangent == pytest.approx(2 * (1 - 3))
    m = gd.Dual(np.eye(2), np.ones((2, 2))) @ np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(m.tangent, np.ones((2, 2)) @ np.array([[1.0, 2.0], [3.0, 4.0]]))


def test_eval_dual_on_the_lecture_function_agrees_with_the_forward_trace():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    d1 = gd.eval_dual(f, {x1: gd.Dual(2.0, 1.0), x2: 5.0})
    assert d1.primal == pytest.approx(11.652071455223084)
    assert d1.tangent == pytest.approx(5.5)
    d2 = gd.eval_dual(f, {x1: 2.0, x2: gd.Dual(5.0, 1.0)})
    t2 = gd.trace(f, at={x1: 2, x2: 5}, mode="forward", seed=x2)
    assert d2.tangent == pytest.approx(float(t2.tangent(f)))
    assert d2.tangent == pytest.approx(2 - math.cos(5))


def test_eval_dual_matches_jvp_on_a_network():
    rng = np.random.default_rng(3)
    X = gd.matrix("X", shape=(4, 3))
    W = gd.matrix("W", shape=(3, 5))
    h = gd.tanh(X @ W) * gd.sigmoid(X @ W) + gd.softplus(X @ W) - gd.abs(X @ W) ** 2
    y = gd.sum(gd.log_softmax(h, axis=1)[:, 1:]) + gd.mean(gd.max(h, axis=0)) \
        + gd.logsumexp(h) + gd.sum(gd.where(h > 0, h, 0.1 * h)) + gd.sum(gd.clip(h, -0.5, 0.5))
    Xv, Wv, Wt = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    got = gd.eval_dual(y, {X: Xv, W: gd.Dual(Wv, Wt)})
    value, tangent = gd.function([X, W], [y, gd.jvp(y, W, gd.constant(Wt))])(Xv, Wv)
    assert got.primal == pytest.approx(float(value))
    assert got.tangent == pytest.approx(float(tangent))
    eps = 1e-6  # and both agree with a central difference
    fn = gd.function([X, W], y)
    fd = (fn(Xv, Wv + eps * Wt) - fn(Xv, Wv - eps * Wt)) / (2 * eps)
    assert got.tangent == pytest.approx(fd, rel=1e-6)


def test_relu_at_zero_keeps_graphdls_convention():
    x = gd.vector("x", 3)
    y = gd.sum(gd.relu(x))
    d = gd.eval_dual(y, {x: gd.Dual(np.array([-1.0, 0.0, 2.0]), np.ones(3))})
    assert d.tangent == 1.0  # relu'(0) = 0, relu'(2) = 1
    jv = gd.function([x], gd.jvp(y, x, gd.constant(np.ones(3))))(np.array([-1.0, 0.0, 2.0]))
    assert float(jv) == d.tangent


def test_stop_gradient_and_comparisons_have_zero_tangent():
    x = gd.scalar("x")
    y = gd.stop_gradient(x * x) + gd.cast(x > 0, "float64") * x
    d = gd.eval_dual(y, {x: gd.Dual(3.0, 1.0)})
    assert (d.primal, d.tangent) == (12.0, 1.0)


def test_plain_values_get_zero_tangents_and_errors_name_inputs():
    x, z = gd.scalar("x"), gd.scalar("z")
    d = gd.eval_dual(x * 2.0, {x: 4.0})
    assert (d.primal, d.tangent) == (8.0, 0.0)
    with pytest.raises(InputError, match="z"):
        gd.eval_dual(x * z, {x: 1.0})
    with pytest.raises(InputError, match="not an input"):
        gd.eval_dual(x, {z: 1.0, x: 1.0})


def test_unsupported_op_is_named():
    x = gd.vector("x", 3)
    y = gd.prod(x)
    with pytest.raises(GraphError, match="prod"):
        gd.eval_dual(y, {x: gd.Dual(np.ones(3), np.ones(3))})

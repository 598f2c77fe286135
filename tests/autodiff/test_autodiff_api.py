"""The differentiation API (issue 3): grad, vjp, jvp, jacobian, hessian, hvp, their errors, the
symbolic-zero and primal-sharing guarantees, the non-smooth conventions and stability at +-1000."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numeric_gradient, run_both

import graphdl as gd
from graphdl.autodiff.api import is_zero_constant
from graphdl.ops.registry import REGISTRY, Op, apply


def _ops(nodes) -> list[str]:
    return [n.op.name for n in gd.toposort(nodes if isinstance(nodes, list) else [nodes])]


# --- grad ---------------------------------------------------------------------------------------
def test_grad_returns_one_node_for_one_wrt_and_a_list_for_a_list() -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    cost = x * x * y
    single = gd.grad(cost, x)
    assert isinstance(single, gd.Node)
    pair = gd.grad(cost, [x, y])
    assert isinstance(pair, list) and len(pair) == 2
    assert isinstance(gd.grad(cost, (x,)), list)
    dx, dy = gd.function([x, y], pair)(3.0, 2.0)
    assert dx == pytest.approx(12.0) and dy == pytest.approx(9.0)


def test_grad_requires_a_float_scalar_cost() -> None:
    x = gd.vector("x", 3)
    with pytest.raises(gd.DifferentiationError, match=r"scalar.*shape \(3,\)"):
        gd.grad(gd.exp(x), x)
    i = gd.vector("i", 3, dtype="int64")
    with pytest.raises(gd.DifferentiationError, match="float"):
        gd.grad(gd.sum(i), x)
    with pytest.raises(gd.DifferentiationError, match="respect to i of dtype int64"):
        gd.grad(gd.sum(x * i), i)


def test_grad_with_respect_to_shared_variables_and_intermediates() -> None:
    rng = np.random.default_rng(0)
    w_value = rng.standard_normal((3, 2))
    W = gd.shared(w_value, "W")
    x = gd.vector("x", 3)
    h = x @ W
    cost = gd.sum(gd.tanh(h))
    dW, dh = gd.grad(cost, [W, h])
    x_value = rng.standard_normal(3)
    got_dW, got_dh = run_both([x], [dW, dh], x_value)
    expected_dh = 1 - np.tanh(x_value @ w_value) ** 2
    np.testing.assert_allclose(got_dh, expected_dh, rtol=1e-12)
    np.testing.assert_allclose(got_dW, np.outer(x_value, expected_dh), rtol=1e-12)


def test_disconnected_wrt_raises_by_default_naming_it_or_gives_zeros_of_its_shape() -> None:
    x, z = gd.matrix("x", (None, 3)), gd.matrix("z", (None, 2))
    cost = gd.sum(gd.exp(x))
    with pytest.raises(gd.DifferentiationError, match=r"does not depend on z \(f64\[\?,2\]\)"):
        gd.grad(cost, z)
    with pytest.raises(gd.DifferentiationError, match="does not depend on z"):
        gd.grad(cost, [x, z])
    dz = gd.grad(cost, z, disconnected="zero")
    got = gd.function([x, z], dz)(np.ones((4, 3)), np.ones((5, 2)))
    np.testing.assert_array_equal(got, np.zeros((5, 2)))  # the run-time shape of z
    static = gd.vector("s", 4)
    zero = gd.grad(cost, static, disconnected="zero")
    np.testing.assert_array_equal(
        gd.function([x, static], zero)(np.ones((1, 3)), np.ones(4)), np.zeros(4)
    )
    with pytest.raises(ValueError, match="disconnected must be 'raise' or 'zero', got 'ignore'"):
        gd.grad(cost, x, disconnected="ignore")


# --- vjp and jvp ----------------------------------------------------------------------------------
def test_vjp_with_several_outputs_and_number_cotangents() -> None:
    x = gd.vector("x", 3)
    a, b = gd.sin(x), gd.sum(x * x)
    bar = gd.vjp([a, b], x, [np.array([1.0, 2.0, 3.0]), 0.5])
    value = np.array([0.1, 0.2, 0.3])
    expected = np.array([1.0, 2.0, 3.0]) * np.cos(value) + 0.5 * 2 * value
    np.testing.assert_allclose(run_both([x], bar, value), expected, rtol=1e-13)
    with pytest.raises(gd.DifferentiationError, match="2 outputs but 1 cotangents"):
        gd.vjp([a, b], x, [1.0])
    with pytest.raises(gd.DifferentiationError, match=r"cotangent of shape \(2,\) does not fit"):
        gd.vjp(a, x, np.ones(2))


def test_jvp_tangents_may_be_nodes_or_numbers() -> None:
    x, y = gd.vector("x", 3), gd.scalar("y")
    f = gd.exp(x) * y
    t = gd.vector("t", 3)
    by_node = gd.jvp(f, [x, y], [t, 2.0])
    xv, tv = np.array([0.0, 1.0, -1.0]), np.array([1.0, -2.0, 0.5])
    expected = np.exp(xv) * 3.0 * tv + np.exp(xv) * 2.0
    np.testing.assert_allclose(run_both([x, y, t], by_node, xv, 3.0, tv), expected, rtol=1e-13)
    by_number = gd.jvp(f, x, 1.0)  # a number is broadcast over x
    np.testing.assert_allclose(run_both([x, y], by_number, xv, 3.0), 3.0 * np.exp(xv), rtol=1e-13)
    with pytest.raises(gd.DifferentiationError, match="2 wrt but 1 tangents"):
        gd.jvp(f, [x, y], [1.0])
    with pytest.raises(gd.DifferentiationError, match="does not fit"):
        gd.jvp(f, x, np.ones(4))


def test_jvp_of_an_output_not_depending_on_wrt() -> None:
    x, y = gd.vector("x", 2), gd.vector("y", 2)
    out = gd.jvp(gd.exp(y), x, np.ones(2))
    np.testing.assert_array_equal(gd.function([y], out)(np.ones(2)), np.zeros(2))
    with pytest.raises(gd.DifferentiationError, match=r"exp#\d+ does not depend on x"):
        gd.jvp(gd.exp(y), x, np.ones(2), disconnected="raise")


# --- jacobian, hessian, hvp -----------------------------------------------------------------------
def _sweeps(J: gd.Node) -> tuple[int, ...]:
    """The shape of the batch of basis seeds a jacobian graph is vmapped over: ``(n,) + x.shape``
    in forward mode (one tangent per input), ``(m,) + y.shape`` in reverse mode."""
    seeds = [n.shape for n in gd.toposort([J]) if n.op.name == "constant" and n.ndim >= 2
             and np.array_equal(np.reshape(n.attrs["value"], (n.shape[0], -1)),
                                np.eye(n.shape[0]))]
    assert len(seeds) == 1, seeds
    return seeds[0]


def test_jacobian_forward_equals_reverse_and_auto_picks_the_cheaper_mode() -> None:
    x = gd.vector("x", 2)
    wide = gd.concatenate([gd.sin(x) * x[0], gd.exp(x), x[1:] ** 3])  # 5 outputs from 2 inputs
    value = np.array([0.3, -0.7])
    forward = gd.jacobian(wide, x, mode="forward")
    reverse = gd.jacobian(wide, x, mode="reverse")
    jf, jr = run_both([x], [forward, reverse], value)
    assert jf.shape == (5, 2)
    np.testing.assert_allclose(jf, jr, rtol=1e-13)
    f = gd.function([x], wide, optimize=False)
    for j in range(2):
        np.testing.assert_allclose(
            jf[:, j],
            [numeric_gradient(lambda v, i=i: f(v)[i], [value], 0)[j] for i in range(5)],
            rtol=1e-7,
        )
    assert _sweeps(forward) == (2, 2)  # a batch of one tangent per input
    assert _sweeps(reverse) == (5, 5)  # a batch of one cotangent per output
    assert _sweeps(gd.jacobian(wide, x)) == (2, 2)  # auto: 2 inputs < 5 outputs -> forward
    many = gd.vector("m", 4)
    two_out = gd.stack([gd.sum(many**2), gd.prod(many)])
    assert _sweeps(gd.jacobian(two_out, many)) == (2, 2)  # 4 inputs > 2 outputs -> reverse
    with pytest.raises(ValueError, match="mode"):
        gd.jacobian(wide, x, mode="sideways")
    with pytest.raises(gd.DifferentiationError, match="static shapes"):
        gd.jacobian(gd.exp(gd.vector("u")), gd.vector("u"))


def test_jacobian_of_matrix_shaped_values() -> None:
    A = gd.matrix("A", (2, 3))
    y = gd.softmax(A, axis=1)
    a = np.random.default_rng(1).standard_normal((2, 3))
    J = run_both([A], gd.jacobian(y, A), a)
    assert J.shape == (2, 3, 2, 3)
    p = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    for r in range(2):
        np.testing.assert_allclose(J[r, :, r, :], np.diag(p[r]) - np.outer(p[r], p[r]), atol=1e-15)
        np.testing.assert_array_equal(J[r, :, 1 - r, :], 0.0)


def test_hessian_and_hvp_against_sympy() -> None:
    sp = pytest.importorskip("sympy")
    s = sp.symbols("s0:3")
    expr = (
        s[0] ** 2 * s[1]
        + sp.sin(s[1] * s[2])
        + sp.exp(s[0]) * s[2]
        + sp.log(1 + s[2] ** 2)
        + sp.tanh(s[0] - s[2])
    )
    point = {s[0]: 0.3, s[1]: -1.2, s[2]: 0.8}
    expected = np.array(sp.hessian(expr, s).subs(point).evalf(), dtype=float)
    x = gd.vector("x", 3)
    f = (
        x[0] ** 2 * x[1]
        + gd.sin(x[1] * x[2])
        + gd.exp(x[0]) * x[2]
        + gd.log(1 + x[2] ** 2)
        + gd.tanh(x[0] - x[2])
    )
    value = np.array([0.3, -1.2, 0.8])
    v = np.array([0.5, -1.0, 2.0])
    h_fwd, h_rev, hv = run_both(
        [x], [gd.hessian(f, x), gd.hessian(f, x, mode="reverse"), gd.hvp(f, x, v)], value
    )
    np.testing.assert_allclose(h_fwd, expected, rtol=1e-12)
    np.testing.assert_allclose(h_rev, expected, rtol=1e-12)
    np.testing.assert_allclose(hv, expected @ v, rtol=1e-12)


def test_hessian_of_a_matrix_argument_against_sympy() -> None:
    sp = pytest.importorskip("sympy")
    rng = np.random.default_rng(2)
    a_value, w_value = rng.standard_normal((3, 2)), rng.standard_normal((2, 2))
    ws = sp.symbols("w0:4")
    Wsym = sp.Matrix(2, 2, ws)
    z = sp.Matrix(a_value) * Wsym
    expr = sum(sp.log(sum(sp.exp(z[i, j]) for j in range(2))) for i in range(3))
    expr += sum(w**4 for w in ws) / 4
    point = dict(zip(ws, w_value.reshape(-1)))
    expected = np.array(sp.hessian(expr, ws).subs(point).evalf(), dtype=float)
    W = gd.matrix("W", (2, 2))
    f = gd.sum(gd.logsumexp(gd.constant(a_value) @ W, axis=1)) + gd.sum(W**4) / 4
    H = run_both([W], gd.hessian(f, W), w_value)
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H.reshape(4, 4), expected, rtol=1e-11)
    V = rng.standard_normal((2, 2))
    np.testing.assert_allclose(
        run_both([W], gd.hvp(f, W, V), w_value),
        (expected @ V.reshape(-1)).reshape(2, 2),
        rtol=1e-11,
    )


# --- higher order ---------------------------------------------------------------------------------
def _check_grad_of_grad(inputs, cost, wrt, values, rng) -> None:
    """The gradient of <r, grad(cost)> equals central differences of <r, grad(cost)(x)>."""
    g = gd.grad(cost, wrt)
    gfn = gd.function(inputs, g, optimize=False)
    r = rng.standard_normal(np.shape(gfn(*values)))
    gg = gd.grad(gd.sum(g * gd.constant(r)), wrt)
    got = run_both(inputs, gg, *values, rtol=1e-10, atol=1e-13)
    index = inputs.index(wrt)
    expected = numeric_gradient(lambda *a: np.sum(r * gfn(*a)), values, index)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_grad_of_grad_tanh() -> None:
    x = gd.scalar("x")
    d2 = gd.grad(gd.grad(gd.tanh(x), x), x)
    t = np.tanh(0.7)
    assert gd.function([x], d2)(0.7) == pytest.approx(-2 * t * (1 - t**2), rel=1e-13)
    v = gd.vector("v", 4)
    _check_grad_of_grad(
        [v], gd.sum(gd.tanh(v) * v), v, [np.array([0.1, -0.5, 1.2, 2.0])], np.random.default_rng(3)
    )


def test_grad_of_grad_softmax_cross_entropy() -> None:
    rng = np.random.default_rng(4)
    z = gd.matrix("z", (None, 3))
    labels = gd.vector("labels", None, dtype="int64")
    values = [rng.standard_normal((5, 3)), rng.integers(0, 3, 5)]
    via_log_softmax = -gd.mean(gd.take_along_axis(gd.log_softmax(z), labels[:, None], axis=1))
    via_softmax = -gd.sum(gd.one_hot(labels, 3) * gd.log(gd.softmax(z))) / 5.0
    for cost in (via_log_softmax, via_softmax):
        _check_grad_of_grad([z, labels], cost, z, values, rng)
    # both spellings agree on the gradient: (softmax - onehot) / N
    p = np.exp(values[0]) / np.exp(values[0]).sum(1, keepdims=True)
    expected = (p - np.eye(3)[values[1]]) / 5
    for cost in (via_log_softmax, via_softmax):
        np.testing.assert_allclose(
            run_both([z, labels], gd.grad(cost, z), *values), expected, rtol=1e-12, atol=1e-15
        )


def test_grad_of_grad_logsumexp() -> None:
    rng = np.random.default_rng(5)
    x = gd.vector("x", 4)
    value = rng.standard_normal(4)
    _check_grad_of_grad([x], gd.logsumexp(x), x, [value], rng)
    p = np.exp(value) / np.exp(value).sum()
    H = run_both([x], gd.hessian(gd.logsumexp(x), x), value)
    np.testing.assert_allclose(H, np.diag(p) - np.outer(p, p), atol=1e-15)
    m = gd.matrix("m", (2, 3))
    _check_grad_of_grad(
        [m], gd.sum(gd.logsumexp(m, axis=0) ** 2), m, [rng.standard_normal((2, 3))], rng
    )


def test_third_order_and_jvp_of_grad() -> None:
    x = gd.scalar("x")
    f = gd.sin(x) * gd.exp(x)
    d3 = gd.grad(gd.grad(gd.grad(f, x), x), x)
    jg = gd.jvp(gd.grad(f, x), x, 1.0)
    a = 0.4
    # (e^x sin x)''' = 2 e^x (cos x - sin x); (e^x sin x)'' = 2 e^x cos x
    assert gd.function([x], d3)(a) == pytest.approx(2 * np.exp(a) * (np.cos(a) - np.sin(a)))
    assert gd.function([x], jg)(a) == pytest.approx(2 * np.exp(a) * np.cos(a))


# --- structure: primal reuse and symbolic zeros ---------------------------------------------------
def test_adjoint_graph_reuses_the_primal_nodes() -> None:
    x = gd.vector("x", 3)
    h = gd.tanh(x)
    e = gd.exp(h)
    cost = gd.sum(e * h)
    g = gd.grad(cost, x)
    ancestors = set(gd.toposort([g]))
    assert h in ancestors and e in ancestors  # the same node objects, not copies
    source = gd.function([x], [cost, g], optimize=False).source
    assert source.count("np.tanh(") == 1 and source.count("np.exp(") == 1


def test_zeros_are_symbolic_in_reverse_mode() -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    s = gd.sin(y)
    f = x * y + s
    dx = gd.grad(f, x)
    graph = gd.toposort([dx])
    assert s not in graph
    assert not {"sin", "cos"} & set(_ops(dx))
    assert not any(is_zero_constant(n) for n in graph)
    assert gd.function([x, y], dx)(2.0, 3.0) == 3.0


def test_zeros_are_symbolic_in_forward_mode() -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    f = gd.log(x) + x * y - gd.sin(y)
    for dot in (gd.jvp(f, x, 1.0), gd.jvp(f, [x, y], [1.0, 0.0])):
        graph = gd.toposort([dot])
        assert not any(is_zero_constant(n) for n in graph)  # no zero was materialized
        assert "cos" not in _ops(dot)  # sin(y) has no tangent: its derivative is never built
        assert gd.function([x, y], dot)(2.0, 5.0) == pytest.approx(5.5)


def test_zero_cotangent_builds_nothing() -> None:
    x = gd.vector("x", 2)
    a, b = gd.exp(x), gd.sin(x)
    bar = gd.vjp([a, b], x, [np.ones(2), 0.0])
    assert "cos" not in _ops(bar)
    np.testing.assert_allclose(gd.function([x], bar)(np.zeros(2)), np.ones(2))


def test_branch_not_depending_on_wrt_is_not_differentiated() -> None:
    x = gd.vector("x", 3)
    W = gd.shared(np.ones((3, 3)), "W")
    other = gd.sum(gd.exp(W @ W))  # depends on W only
    cost = gd.sum(x * x) + other
    g = gd.grad(cost, x)
    assert "matmul" not in _ops(g) and "exp" not in _ops(g)


# --- every op has rules, or says it has none ---------------------------------------------------
def test_every_op_has_jvp_and_vjp_rules_or_declares_zero_derivative() -> None:
    leaves = {"input", "constant", "shared"}
    for name, op in REGISTRY.items():
        if name in leaves:
            continue
        has_rules = (op.partials is not None or op.decompose is not None
                     or (op.jvp is not None and op.vjp is not None))
        assert has_rules or op.zero_derivative, f"{name} has no derivative rules"
        assert not (op.zero_derivative and (op.partials or op.vjp)), name


def test_differentiating_through_an_op_without_rules_names_it() -> None:
    blackbox = Op(
        "test_blackbox", infer=lambda inputs, attrs: (inputs[0].shape, inputs[0].dtype), emit="{0}"
    )
    try:
        x = gd.vector("x", 2)
        y = apply(blackbox, x)
        with pytest.raises(
            gd.DifferentiationError,
            match=r"test_blackbox node test_blackbox#\d+ \(created at .*"
            r"test_autodiff_api.py:\d+\): the op has no derivative rule",
        ):
            gd.grad(gd.sum(y), x)
        with pytest.raises(gd.DifferentiationError, match="through test_blackbox"):
            gd.jvp(y, x, 1.0)
        # a zero-derivative op (stop_gradient) and a branch not reaching wrt need no rule
        z = gd.vector("z", 2)
        g = gd.grad(gd.sum(y) + gd.sum(z * z), z)
        np.testing.assert_allclose(gd.function([x, z], g)(np.ones(2), np.ones(2)), [2.0, 2.0])
    finally:
        del REGISTRY["test_blackbox"]


# --- conventions at non-smooth points -------------------------------------------------------------
def test_derivative_conventions_at_kinks() -> None:
    """relu'(0) = 0, abs'(0) = 0; maximum/minimum ties go to the first operand; max/min
    reduction ties split equally; clip passes the derivative at its bounds."""
    x, y = gd.vector("x", 3), gd.vector("y", 3)
    values = [np.array([0.0, 1.0, -1.0]), np.array([0.0, 2.0, -2.0])]
    cases = {
        gd.relu(x): ([0.0, 1.0, 0.0], None),
        gd.abs(x): ([0.0, 1.0, -1.0], None),
        gd.maximum(x, y): ([1.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        gd.minimum(x, y): ([1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
        gd.clip(x, 0.0, 1.0): ([1.0, 1.0, 0.0], None),
    }
    for out, (dx, dy) in cases.items():
        gx, gy = run_both([x, y], gd.grad(gd.sum(out), [x, y], disconnected="zero"), *values)
        np.testing.assert_array_equal(gx, dx, err_msg=out.op.name)
        np.testing.assert_array_equal(gy, dy if dy is not None else np.zeros(3), out.op.name)
    ties = np.array([[2.0, 5.0, 5.0], [1.0, 1.0, 1.0]])
    m = gd.matrix("m", (2, 3))
    for reduce in (gd.max, gd.min):
        grad = run_both([m], gd.grad(gd.sum(reduce(m, axis=1)), m), ties)
        first = [0.0, 0.5, 0.5] if reduce is gd.max else [1.0, 0.0, 0.0]
        np.testing.assert_allclose(grad, [first, [1 / 3] * 3], rtol=1e-15)
        tangent = run_both([m], gd.jvp(reduce(m, axis=1), m, np.arange(6.0).reshape(2, 3)), ties)
        np.testing.assert_allclose(tangent, [1.5 if reduce is gd.max else 0.0, 4.0])


# --- stability --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_derivatives_stay_finite_for_logits_of_1000(dtype: str) -> None:
    z = gd.vector("z", 4, dtype=dtype)
    logits = np.array([1000.0, -1000.0, 999.0, 0.0], dtype=dtype)
    w = gd.constant(np.array([1.0, 2.0, 3.0, 4.0], dtype=dtype))
    p = np.exp(np.array([0.0, -2000.0, -1.0, -1000.0]))
    p /= p.sum()
    expected = {
        "softmax": (gd.sum(gd.softmax(z) * w), p * (np.arange(1, 5) - p @ np.arange(1, 5))),
        "log_softmax": (gd.sum(gd.log_softmax(z) * w), np.arange(1, 5) - p * 10),
        "logsumexp": (gd.logsumexp(z), p),
        "sigmoid": (gd.sum(gd.sigmoid(z)), [0.0, 0.0, 0.0, 0.25]),
        "softplus": (gd.sum(gd.softplus(z)), [1.0, 0.0, 1.0, 0.5]),
    }
    for name, (cost, dz) in expected.items():
        g = gd.grad(cost, z)
        hv = gd.hvp(cost, z, np.ones(4, dtype=dtype))
        value, grad, second = run_both([z], [cost, g, hv], logits)
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(second)), name
        assert grad.dtype == np.dtype(dtype), name
        # float32: logsumexp's weights exp(x - lse) inherit lse's rounding, ulp(1000) ~ 6e-5
        rtol = 1e-4 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(grad, dz, rtol=rtol, atol=1e-30, err_msg=name)


# --- float32 end to end -------------------------------------------------------------------------
def test_float32_network_gradients_stay_float32() -> None:
    rng = np.random.default_rng(6)
    X = gd.matrix("X", (None, 4), dtype="float32")
    y = gd.vector("y", None, dtype="int64")
    W = gd.shared(rng.standard_normal((4, 3)).astype("float32"), "W")
    b = gd.shared(np.zeros(3, dtype="float32"), "b")
    logits = gd.relu(X @ W + b) * 2.0 - 0.5
    loss = -gd.mean(gd.take_along_axis(gd.log_softmax(logits), y[:, None], axis=1))
    grads = gd.grad(loss, [W, b])
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    xv, yv = rng.standard_normal((6, 4)).astype("float32"), rng.integers(0, 3, 6)
    got = run_both([X, y], [loss, *grads], xv, yv, rtol=1e-6)
    assert all(np.asarray(v).dtype == np.float32 for v in got)
    # the same graph in float64 agrees to float32 precision
    X64, W64, b64 = xv.astype(float), W.get_value().astype(float), b.get_value().astype(float)
    h = np.maximum(X64 @ W64 + b64, 0) * 2 - 0.5
    p = np.exp(h - h.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(3)[yv]) / 6 * 2 * (X64 @ W64 + b64 > 0)
    np.testing.assert_allclose(got[1], X64.T @ delta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], delta.sum(0), rtol=1e-5, atol=1e-6)


def test_adjoints_take_their_operands_dtype_when_float32_meets_float64() -> None:
    """A float32 parameter in a float64 graph gets a float32 gradient (matmul, concatenate,
    elementwise, where): the adjoint of a node always has the node's dtype."""
    a, b = gd.matrix("a", (2, 3), "float32"), gd.matrix("b", (3, 2))
    u, w = gd.vector("u", 3, "float32"), gd.vector("w", 2)
    costs = {
        "matmul": gd.sum(a @ b) + gd.sum(u @ b),
        "concatenate": gd.sum(gd.concatenate([u, w]) ** 2) + gd.sum(a),
        "elementwise": gd.sum(a * b.T) + gd.sum(u * 2.0 + w[0]),
        "where": gd.sum(gd.where(u > 0, u, w[1])) + gd.sum(a),
    }
    rng = np.random.default_rng(9)
    values = [rng.standard_normal(x.shape).astype(x.dtype) for x in (a, b, u, w)]
    for name, cost in costs.items():
        grads = gd.grad(cost, [a, b, u, w], disconnected="zero")
        assert [g.dtype for g in grads] == [a.dtype, b.dtype, u.dtype, w.dtype], name
        got = run_both([a, b, u, w], grads, *values)
        assert [v.dtype for v in got] == [np.float32, np.float64, np.float32, np.float64], name


def test_prod_derivative_is_exact_at_zeros() -> None:
    """d prod / d x_i is the product of the other elements, also where some are zero (dividing
    prod by x_i would give nan there); second derivatives are exact with at most one zero."""
    x = gd.vector("x", 4)
    m = gd.matrix("m", (2, 3))
    f = gd.function([x], gd.prod(x), optimize=False)
    for value in ([0.0, 3.0, 2.0, -1.5], [0.0, 3.0, 0.0, -1.5], [0.0, 0.0, 0.0, 0.0]):
        value = np.array(value)
        g, jv, H = run_both(
            [x],
            [gd.grad(gd.prod(x), x), gd.jvp(gd.prod(x), x, 1.0), gd.hessian(gd.prod(x), x)],
            value,
        )
        others = np.array([np.prod(np.delete(value, i)) for i in range(4)])
        np.testing.assert_array_equal(g, others)
        np.testing.assert_allclose(g, numeric_gradient(f, [value], 0), atol=1e-9)
        assert jv == pytest.approx(others.sum())
        if np.sum(value == 0) <= 1:
            pairs = [
                [0.0 if i == j else np.prod(np.delete(value, [i, j])) for j in range(4)]
                for i in range(4)
            ]
            np.testing.assert_allclose(H, pairs, atol=1e-15)
    value = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    got = run_both([m], gd.grad(gd.sum(gd.prod(m, axis=1) ** 2), m), value)
    np.testing.assert_allclose(
        got, [[0.0, 2 * 0 * 2, 0.0], [2 * 60 * 20, 2 * 60 * 15, 2 * 60 * 12]]
    )
    assert not np.isnan(run_both([m], gd.grad(gd.prod(m), m), value)).any()


def test_constant_exponents_zero_and_one_have_no_nan_at_zero() -> None:
    x = gd.vector("x", 3)
    value = np.array([0.0, 1.0, -2.0])
    for power, expected in ((0, 0.0), (0.0, 0.0), (1, 1.0), (2, 2 * value), (3, 3 * value**2)):
        got = run_both([x], gd.grad(gd.sum(x**power), x, disconnected="zero"), value)
        np.testing.assert_array_equal(got, np.broadcast_to(expected, (3,)))
    assert "power" not in _ops(gd.grad(gd.sum(x**1), x))


def test_returned_gradients_are_writeable_arrays() -> None:
    """d sum(x) / dx is a broadcast of the seed: the caller still gets an ordinary array."""
    x = gd.matrix("x", (None, 3))
    for optimize in (False, True):
        fn = gd.function(
            [x], [gd.grad(gd.sum(x), x), gd.grad(gd.sum(x * 2.0), x)], optimize=optimize
        )
        for g in fn(np.ones((2, 3))):
            assert g.flags.writeable
            g += 1.0  # in place, as an optimizer step would
        single = gd.function([x], gd.grad(gd.mean(x), x), optimize=optimize)(np.ones((2, 3)))
        single *= 6.0
        np.testing.assert_allclose(single, np.ones((2, 3)))

"""The `scale` pass: one learning-rate multiplication at the source of the gradients."""

import numpy as np
import pytest

import graphdl as gd

LR = 0.01


def mlp_step(dtype="float64", lrs=None, extra_outputs=False, adam_like=False):
    rng = np.random.default_rng(0)
    X = gd.matrix("X", (None, 6), dtype=dtype)
    y = gd.vector("y", (None,), dtype="int64")
    values = [rng.standard_normal((6, 5)) * 0.5, rng.standard_normal(5) * 0.1,
              rng.standard_normal((5, 3)) * 0.5, rng.standard_normal(3) * 0.1]
    shared = [gd.shared(v.astype(dtype), name=f"p{i}") for i, v in enumerate(values)]
    h = gd.relu(X @ shared[0] + shared[1])
    z = h @ shared[2] + shared[3]
    loss = -gd.take_along_axis(gd.log_softmax(z, axis=1), y[:, None], axis=1).mean()
    grads = gd.grad(loss, shared)
    lrs = lrs or [LR] * 4
    steps = [np.asarray(r, dtype=dtype) * (g * g if adam_like else g) for r, g in zip(lrs, grads)]
    updates = {p: p - s for p, s in zip(shared, steps)}
    outputs = [loss, *grads] if extra_outputs else loss
    data = (rng.standard_normal((7, 6)).astype(dtype), rng.integers(0, 3, 7))
    return [X, y], outputs, updates, shared, values, data


def run_steps(optimize, n=3, **kw):
    inputs, outputs, updates, shared, values, data = mlp_step(**kw)
    fn = gd.function(inputs, outputs, updates=updates, optimize=optimize)
    results = []
    for _ in range(n):
        out = fn(*data)
        results += out if isinstance(out, list) else [out]
    return fn, results, [p.get_value() for p in shared]


def lr_multiplies(source: str) -> list[str]:
    """Statements multiplying by a typed constant (the learning rate: 0.01 or float32's)."""
    return [s for s in source.splitlines() if "# multiply" in s and " = np.float" in s]


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_sgd_step_multiplies_by_the_learning_rate_once(dtype, rtol):
    fn, results, params = run_steps(True, dtype=dtype)
    _, expected, expected_params = run_steps(False, dtype=dtype)
    assert fn.report.fired("c * (linear in T) for every exit -> (c * T) once") == 1
    (only,) = lr_multiplies(fn.source)
    assert f"f{dtype[-2:]}[]" in only  # on the 0-d 1/n, not on a weight matrix
    for got, want in zip(results + params, expected + expected_params):
        assert np.asarray(got).dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("kw", [
    {"adam_like": True},  # g * g is not linear in the seed
    {"extra_outputs": True},  # the unscaled gradients are returned too
    {"lrs": [0.01, 0.01, 0.02, 0.01]},  # one factor per parameter, not one for all
], ids=["nonlinear", "gradients-returned", "different-factors"])
def test_left_alone_where_one_factor_cannot_serve_every_result(kw):
    fn, results, params = run_steps(True, **kw)
    _, expected, expected_params = run_steps(False, **kw)
    assert fn.report.fired("c * (linear in T) for every exit -> (c * T) once") == 0
    for got, want in zip(results + params, expected + expected_params):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_constant_seed_has_no_0d_source_and_values_stay_right():
    x = gd.shared(np.array([1.5, -0.5]), name="x")
    f = gd.sum(gd.sin(x) * x) / 2.0
    (g,) = gd.grad(f, [x])
    fn = gd.function([], f, updates={x: x - 0.1 * g})
    xs = np.array([1.5, -0.5])
    for _ in range(3):
        fn()
        xs = xs - 0.1 * (np.cos(xs) * xs + np.sin(xs)) / 2.0
    np.testing.assert_allclose(x.get_value(), xs, rtol=1e-13)


def test_multi_task_loss_with_one_seed_per_term_is_scaled_at_both_seeds():
    rng = np.random.default_rng(3)
    X = gd.matrix("X", (None, 5))
    y1, y2 = gd.vector("y1", (None,)), gd.vector("y2", (None,))
    W = gd.shared(rng.standard_normal((5, 4)) * 0.3, name="W")  # the shared trunk
    a = gd.shared(rng.standard_normal(4), name="a")  # one head per task
    b = gd.shared(rng.standard_normal(4), name="b")
    h = gd.tanh(X @ W)
    loss = gd.mean(gd.square(h @ a - y1)) + gd.mean(gd.square(h @ b - y2))  # lecture: sum
    params = [W, a, b]
    grads = gd.grad(loss, params)
    updates = {p: p - 0.05 * g for p, g in zip(params, grads)}
    step = gd.function([X, y1, y2], loss, updates=updates)
    assert step.report.fired("c * (linear in T) for every exit -> (c * T) once") == 1
    scaled = [s for s in step.source.splitlines() if "# multiply" in s and "0.05 *" in s]
    assert len(scaled) == 2 and all("f64[]" in s for s in scaled)  # the two seeds, not W, a, b
    start = [p.get_value().copy() for p in params]
    Xv, y1v, y2v = rng.standard_normal((9, 5)), rng.standard_normal(9), rng.standard_normal(9)
    for p, v in zip(params, start):
        p.set_value(v.copy())
    for _ in range(3):
        step(Xv, y1v, y2v)
    got = [p.get_value().copy() for p in params]
    for p, v in zip(params, start):
        p.set_value(v.copy())
    plain = gd.function([X, y1, y2], loss, updates=updates, optimize=False)
    for _ in range(3):
        plain(Xv, y1v, y2v)
    for g_value, p in zip(got, params):
        np.testing.assert_allclose(g_value, p.get_value(), rtol=1e-12, atol=1e-15)

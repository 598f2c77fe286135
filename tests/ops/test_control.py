"""Loops and branches (gd.scan, fori_loop, while_loop, cond, switch): each construct against its
unrolled equivalent (values, gradients, second order, jvp) in float64 and float32, gradients
against central differences, the generated loop's source, errors, and the optimizer on loop
nodes."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import DifferentiationError, DTypeError, InputError, ShapeError
from tests.helpers import assert_jvp_matches_fd, assert_vjp_matches_fd

T, H, D = 5, 4, 3


def _rnn_inputs(dtype):
    h0 = gd.tensor("h0", (H,), dtype)
    xs = gd.tensor("xs", (T, D), dtype)
    W = gd.tensor("W", (H, H), dtype)
    U = gd.tensor("U", (D, H), dtype)
    return h0, xs, W, U


def _step(h, x, W, U):
    h = gd.tanh(gd.matmul(h, W) + gd.matmul(x, U))
    return h, gd.sum(h * h)


def _rnn_loss(h0, xs, W, U, unrolled=False, reverse=False):
    if unrolled:
        h, ys = h0, []
        steps = range(T - 1, -1, -1) if reverse else range(T)
        for t in steps:
            h, y = _step(h, xs[t], W, U)
            ys.append((t, y))
        ys = gd.stack([y for _, y in sorted(ys, key=lambda p: p[0])])
    else:
        h, ys = gd.scan(lambda h, x: _step(h, x, W, U), h0, xs, reverse=reverse)
    weights = np.arange(1.0, T + 1)
    return gd.sum(h) + gd.sum(ys * gd.cast(gd.constant(weights), h0.dtype))


def _rnn_values(rng, dtype):
    return [rng.standard_normal((H,)).astype(dtype), rng.standard_normal((T, D)).astype(dtype),
            (0.5 * rng.standard_normal((H, H))).astype(dtype),
            (0.5 * rng.standard_normal((D, H))).astype(dtype)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_equals_unrolled_values_and_grads(rng, dtype, reverse):
    inputs = _rnn_inputs(dtype)
    values = _rnn_values(rng, dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    looped = _rnn_loss(*inputs, reverse=reverse)
    unrolled = _rnn_loss(*inputs, unrolled=True, reverse=reverse)
    assert looped.dtype == np.dtype(dtype)
    for optimize in (False, True):
        a = gd.function(list(inputs), [looped, *gd.grad(looped, list(inputs))], optimize=optimize)
        b = gd.function(list(inputs), [unrolled, *gd.grad(unrolled, list(inputs))],
                        optimize=optimize)
        for got, want in zip(a(*values), b(*values)):
            assert np.asarray(got).dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, want, **tol)


def test_scan_grad_and_jvp_match_central_differences(rng):
    inputs = _rnn_inputs("float64")
    values = _rnn_values(rng, "float64")
    loss = _rnn_loss(*inputs)
    assert_vjp_matches_fd(list(inputs), loss, values, rng)
    assert_jvp_matches_fd(list(inputs), loss, values, rng)
    _, ys = gd.scan(lambda h, x: _step(h, x, inputs[2], inputs[3]), inputs[0], inputs[1])
    assert_vjp_matches_fd(list(inputs), ys, values, rng)  # stacked outputs, random cotangent


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scan_jvp_equals_unrolled(rng, dtype):
    inputs = _rnn_inputs(dtype)
    values = _rnn_values(rng, dtype)
    tangents = [rng.standard_normal(np.shape(v)).astype(dtype) for v in values]
    t_in = [gd.tensor(f"t{i}", x.shape, dtype) for i, x in enumerate(inputs)]
    got = gd.function(list(inputs) + t_in, gd.jvp(_rnn_loss(*inputs), list(inputs), t_in))
    want = gd.function(list(inputs) + t_in,
                       gd.jvp(_rnn_loss(*inputs, unrolled=True), list(inputs), t_in))
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got(*values, *tangents), want(*values, *tangents), rtol=tol,
                               atol=tol)


def test_scan_second_order_hvp_and_grad_of_grad(rng):
    h0, xs, W, U = _rnn_inputs("float64")
    values = _rnn_values(rng, "float64")
    v = rng.standard_normal((H, H))
    looped, unrolled = _rnn_loss(h0, xs, W, U), _rnn_loss(h0, xs, W, U, unrolled=True)
    f = gd.function([h0, xs, W, U], [gd.hvp(looped, W, v), gd.hvp(unrolled, W, v)])
    got, want = f(*values)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # reverse over reverse: d/dW of sum(grad wrt U)
    second = [gd.grad(gd.sum(gd.grad(loss, U)), W) for loss in (looped, unrolled)]
    got, want = gd.function([h0, xs, W, U], second)(*values)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert np.abs(want).max() > 1e-3  # a real second derivative, not zeros on both sides


def test_scan_source_is_a_plain_preallocated_loop(rng):
    h0, xs, W, U = _rnn_inputs("float64")
    h, ys = gd.scan(lambda h, x: _step(h, x, W, U), h0, xs)
    fn = gd.function([h0, xs, W, U], [h, ys])
    assert "for i in range(5):" in fn.source
    assert "np.empty((5,), dtype=np.float64)" in fn.source
    assert ".append(" not in fn.source
    assert "np.tanh(" in fn.source
    values = _rnn_values(rng, "float64")
    hv, expected = values[0], []
    for t in range(T):
        hv = np.tanh(hv @ values[2] + values[1][t] @ values[3])
        expected.append(np.sum(hv * hv))
    got_h, got_ys = fn(*values)
    np.testing.assert_allclose(got_h, hv, rtol=1e-13)
    np.testing.assert_allclose(got_ys, expected, rtol=1e-13)


def test_scan_pytrees_length_and_unknown_sizes(rng):
    x = gd.matrix("x", (None, 2))  # unknown batch size: the stacked output is allocated late
    init = {"sum": x, "pair": (gd.constant(0.0), gd.constant(1.0))}

    def body(c, _):
        a, b = c["pair"]
        new = {"sum": c["sum"] * 2.0, "pair": (b, a + b)}
        return new, [c["sum"] + 1.0, a]

    final, (s, fib) = gd.scan(body, init, length=6)
    fn = gd.function([x], [final["sum"], final["pair"][0], final["pair"][1], s, fib])
    xv = rng.standard_normal((3, 2))
    total, a, b, s_v, fib_v = fn(xv)
    np.testing.assert_allclose(total, xv * 64)
    assert (float(a), float(b)) == (8.0, 13.0)
    assert s_v.shape == (6, 3, 2)
    np.testing.assert_allclose(s_v[2], xv * 4 + 1)
    np.testing.assert_array_equal(fib_v, [0, 1, 1, 2, 3, 5])


def test_nested_scan_values_and_grad(rng):
    a = gd.vector("a", 3)
    w = gd.scalar("w")

    def outer(c, _):
        inner, _ = gd.scan(lambda d, __: (gd.sin(d * w) + a, None), c, length=3)
        return inner, gd.sum(inner)

    _, ys = gd.scan(outer, a, length=2)
    loss = gd.sum(ys)
    values = [rng.standard_normal(3), np.array(0.7)]
    assert_vjp_matches_fd([a, w], loss, values, rng)

    def unrolled(av, wv):
        c, out = av, 0.0
        for _ in range(2):
            for _ in range(3):
                c = np.sin(c * wv) + av
            out += np.sum(c)
        return out

    np.testing.assert_allclose(gd.function([a, w], loss)(*values), unrolled(*values), rtol=1e-13)


def test_fori_loop_newton_sqrt_against_unrolled_and_derivative():
    a = gd.scalar("a")
    root = gd.fori_loop(0, 5, lambda i, x: 0.5 * (x + a / x), a)
    x, unrolled = a, None
    for _ in range(5):
        x = 0.5 * (x + a / x)
    unrolled = x
    fn = gd.function([a], [root, gd.grad(root, a), unrolled, gd.grad(unrolled, a)])
    got, dgot, want, dwant = fn(2.0)
    assert abs(got - np.sqrt(2.0)) < 1e-12
    np.testing.assert_allclose([got, dgot], [want, dwant], rtol=1e-13)
    np.testing.assert_allclose(dgot, 0.5 / np.sqrt(2.0), rtol=1e-10)
    # the index is an operand like any other
    total = gd.fori_loop(2, 6, lambda i, s: s + gd.cast(i, "float64") * a, gd.constant(0.0))
    assert gd.function([a], total)(1.5) == pytest.approx(1.5 * (2 + 3 + 4 + 5))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_while_loop_forward_and_jvp_reverse_refused(dtype):
    x = gd.scalar("x", dtype)

    final_x, steps = gd.while_loop(lambda c: c[0] < 100.0,
                                   lambda c: (c[0] * x, c[1] + 1), (x, gd.constant(0)))
    fn = gd.function([x], [final_x, steps, gd.jvp(final_x, x, gd.constant(np.ones((), dtype)))])
    value, n, tangent = fn(np.asarray(3.0, dtype))
    assert int(n) == 4 and value == pytest.approx(3.0 ** 5)
    assert tangent == pytest.approx(5 * 3.0 ** 4, rel=1e-6)  # d x^5 / dx at a fixed trip count
    with pytest.raises(DifferentiationError, match="fori_loop or gd.scan"):
        gd.grad(final_x, x)


def test_cond_takes_one_branch_and_its_gradient():
    a = gd.scalar("a")
    y = gd.cond(a >= 0, gd.sqrt, lambda v: gd.sqrt(-v), a)
    fn = gd.function([a], [y, gd.grad(y, a), gd.jvp(y, a, 1.0)])
    for value in (4.0, -9.0):
        got, g, t = fn(value)
        assert got == pytest.approx(np.sqrt(abs(value)))
        expected = np.sign(value) * 0.5 / np.sqrt(abs(value))
        assert g == pytest.approx(expected) and t == pytest.approx(expected)
    # the elementwise where evaluates both sides: its gradient is NaN here
    w = gd.where(a >= 0, gd.sqrt(a), gd.sqrt(-a))
    with np.errstate(invalid="ignore"):
        assert np.isnan(gd.function([a], gd.grad(w, a))(4.0))
    assert "if " in fn.source and "else:" in fn.source


def test_cond_gradient_central_differences_and_outer_nodes(rng):
    x = gd.vector("x", 3)
    w = gd.vector("w", 3)
    out = gd.cond(gd.sum(x) > 0, lambda v: {"a": gd.exp(v) * w, "b": gd.sum(v)},
                  lambda v: {"a": v * v, "b": gd.sum(w)}, x)
    loss = gd.sum(out["a"]) + 2.0 * out["b"]
    for sign in (1.0, -1.0):
        values = [sign * (np.abs(rng.standard_normal(3)) + 0.1), rng.standard_normal(3)]
        assert_vjp_matches_fd([x, w], loss, values, rng)
        assert_jvp_matches_fd([x, w], loss, values, rng)


def test_switch_picks_and_clamps_the_branch():
    i = gd.scalar("i", "int64")
    x = gd.scalar("x")
    y = gd.switch(i, [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: -v], x)
    fn = gd.function([i, x], [y, gd.grad(y, x)])
    assert [tuple(map(float, fn(k, 2.0))) for k in (-3, 0, 1, 2, 7)] == [
        (3.0, 1.0), (3.0, 1.0), (20.0, 10.0), (-2.0, -1.0), (-2.0, -1.0)]


def test_errors_name_the_carry_branch_and_shapes():
    x = gd.vector("x", 3)
    with pytest.raises(ShapeError, match=r"carry\[1\] enters with shape \(3,\) but the body "
                                         r"returns it with shape \(\)"):
        gd.scan(lambda c, _: ((c[0], gd.sum(c[1])), None), (x, x), length=2)
    with pytest.raises(DTypeError, match=r"carry enters as float64 but .* float32"):
        gd.scan(lambda c, _: (gd.cast(c, "float32"), None), x, length=2)
    with pytest.raises(InputError, match=r"structure \(node, node\), expected node"):
        gd.scan(lambda c, _: ((c, c), None), x, length=2)
    with pytest.raises(ShapeError, match=r"0-d predicate, got shape \(3,\)"):
        gd.cond(x > 0, lambda v: v, lambda v: -v, x)
    with pytest.raises(ShapeError, match=r"result is f64\[3\] in branch 0 but f64\[\] in branch 1"):
        gd.cond(gd.sum(x) > 0, lambda v: v, lambda v: gd.sum(v), x)
    with pytest.raises(ShapeError, match=r"xs has 4 steps .* length=2"):
        gd.scan(lambda c, s: (c, s), x, gd.tensor("s", (4, 3)), length=2)
    with pytest.raises(ShapeError, match=r"cond_fun must give a 0-d predicate"):
        gd.while_loop(lambda c: c < 1.0, lambda c: c * 2.0, x)


def test_numba_backend_refuses_loops_by_name():
    pytest.importorskip("numba")
    from graphdl.codegen.numba_backend import NumbaLoweringError

    x = gd.vector("x", 3)
    c, _ = gd.scan(lambda c, _: (c * 2.0, None), x, length=3)
    with pytest.raises(NumbaLoweringError, match=r"cannot compile scan node .*NumPy backend"):
        gd.function([x], c, backend="numba")


def test_optimizer_keeps_loops_with_different_bodies_apart():
    x = gd.vector("x", 3)
    doubled, _ = gd.scan(lambda c, _: (c * 2.0, None), x, length=3)
    tripled, _ = gd.scan(lambda c, _: (c * 3.0, None), x, length=3)
    same, _ = gd.scan(lambda c, _: (c * 2.0, None), x, length=3)
    fn = gd.function([x], [doubled, tripled, same])
    got = fn(np.ones(3))
    np.testing.assert_allclose(got[0], 8.0)
    np.testing.assert_allclose(got[1], 27.0)
    np.testing.assert_allclose(got[2], 8.0)
    # constant operands are not folded into a wrong value either
    folded, _ = gd.scan(lambda c, _: (c + 1.0, None), gd.constant(np.zeros(2)), length=4)
    np.testing.assert_allclose(gd.function([x], [folded, x])(np.ones(3))[0], 4.0)


def test_vmap_through_scan_and_cond_equals_stacked_examples(rng):
    h0, xs, W, U = _rnn_inputs("float64")
    loss = _rnn_loss(h0, xs, W, U)
    batch_x = gd.tensor("bx", (None, T, D))
    batch_h = gd.tensor("bh", (None, H))
    batched = gd.vmap(loss, {xs: batch_x, h0: batch_h})
    values = _rnn_values(rng, "float64")
    bx, bh = rng.standard_normal((3, T, D)), rng.standard_normal((3, H))
    got = gd.function([batch_x, batch_h, W, U], batched)(bx, bh, values[2], values[3])
    one = gd.function([h0, xs, W, U], loss)
    np.testing.assert_allclose(got, [one(bh[b], bx[b], values[2], values[3]) for b in range(3)],
                               rtol=1e-12)
    # a batched predicate: each entry takes its own branch
    a = gd.scalar("a")
    y = gd.cond(a >= 0, gd.sqrt, lambda v: -v * 2.0, a)
    batch_a = gd.vector("ba", 4)
    with np.errstate(invalid="ignore"):  # both branches run on the whole batch, as in JAX
        got = gd.function([batch_a], gd.vmap(y, {a: batch_a}))(np.array([4.0, -1.0, 9.0, -3.0]))
    np.testing.assert_allclose(got, [2.0, 2.0, 3.0, 6.0])
    i = gd.scalar("i", "int64")
    z = gd.switch(i, [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: -v], a)
    batch_i = gd.vector("bi", 4, "int64")
    got = gd.function([batch_i, a], gd.vmap(z, {i: batch_i}))(np.array([0, 1, 2, 5]), 2.0)
    np.testing.assert_allclose(got, [3.0, 20.0, -2.0, -2.0])


def test_jacobian_and_hessian_through_a_loop(rng):
    x = gd.vector("x", 3)
    final, ys = gd.scan(lambda c, _: (gd.sin(c) * x, gd.sum(c * c)), x, length=3)
    cost = gd.sum(final) + gd.sum(ys)
    jac = gd.jacobian(final, x)
    hess = gd.hessian(cost, x)
    xv = rng.standard_normal(3)
    j, h = gd.function([x], [jac, hess])(xv)
    c = x
    for _ in range(3):
        c = gd.sin(c) * x  # the same recurrence, unrolled
    unrolled_cost = gd.sum(c)
    c2, total = x, 0.0
    for _ in range(3):
        total = total + gd.sum(c2 * c2)
        c2 = gd.sin(c2) * x
    unrolled_cost = unrolled_cost + total
    j2, h2 = gd.function([x], [gd.jacobian(c, x), gd.hessian(unrolled_cost, x)])(xv)
    np.testing.assert_allclose(j, j2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, h2, rtol=1e-11, atol=1e-13)

"""Stabilizing rewrites: each one on inputs where the written form overflows or underflows.

For every rewrite the graph as written (``optimize=False``) gives inf, -inf, NaN or a value with
no correct digit, and the optimized function gives the right answer, computed here by hand in a
form that cannot fail (series, exact identities, or Python's own log1p/expm1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdl as gd


def compiled(inputs, output):
    with np.errstate(all="ignore"):
        plain = gd.function(inputs, output, optimize=False)
        opt = gd.function(inputs, output)
    return plain, opt


def run(fn, *args):
    with np.errstate(all="ignore"):
        return fn(*args)


def test_log_softmax_of_logits_1000_apart():
    x = gd.vector("x", 3)
    plain, opt = compiled([x], gd.log(gd.softmax(x)))
    v = np.array([1000.0, 0.0, -1000.0])
    assert np.isneginf(run(plain, v)[1:]).all()
    np.testing.assert_allclose(opt(v), [0.0, -1000.0, -2000.0], rtol=1e-15)
    assert opt.report.fired("log(softmax(x)) -> log_softmax(x)") == 1


def test_logsumexp_of_1000():
    x = gd.vector("x", 3)
    plain, opt = compiled([x], gd.log(gd.sum(gd.exp(x))))
    v = np.array([1000.0, 1000.0, 0.0])
    assert run(plain, v) == np.inf
    assert opt(v) == pytest.approx(1000.0 + math.log(2.0), rel=1e-15)
    assert opt.report.fired("log(sum(exp(x))) -> logsumexp(x)") == 1


def test_log1p_of_1e_minus_18():
    x = gd.vector("x", 3)
    v = np.array([1e-18, -3e-17, 1e-300])
    plain, opt = compiled([x], gd.log(1 + x))
    np.testing.assert_array_equal(run(plain, v), 0.0)  # every digit lost
    np.testing.assert_allclose(opt(v), [math.log1p(t) for t in v], rtol=1e-15)
    plain, opt = compiled([x], gd.log(1.0 - x))
    np.testing.assert_allclose(opt(v), [math.log1p(-t) for t in v], rtol=1e-15)
    assert opt.report.fired("log(1 + x) -> log1p(x)") == 1


def test_expm1_of_1e_minus_18():
    x = gd.vector("x", 3)
    v = np.array([1e-18, -3e-17, 2e-10])
    for written in (gd.exp(x) - 1, gd.exp(x) + (-1.0), -1 + gd.exp(x)):
        plain, opt = compiled([x], written)
        assert run(plain, v)[0] == 0.0
        np.testing.assert_allclose(opt(v), [math.expm1(t) for t in v], rtol=1e-15)
        assert opt.report.fired("exp(x) - 1 -> expm1(x)") == 1


def test_log_sigmoid_of_minus_1000():
    x = gd.vector("x", 3)
    v = np.array([-1000.0, 0.0, 40.0])
    plain, opt = compiled([x], gd.log(gd.sigmoid(x)))
    assert run(plain, v)[0] == -np.inf
    expected = [-1000.0, -math.log(2.0), -math.exp(-40.0)]  # log sigmoid(40) = -log1p(e^-40)
    np.testing.assert_allclose(opt(v), expected, rtol=1e-15)
    plain, opt = compiled([x], gd.log(1 - gd.sigmoid(x)))
    assert run(plain, v)[2] == -np.inf  # 1 - sigmoid(40) rounds to 0
    np.testing.assert_allclose(opt(v), [-math.exp(-1000.0), -math.log(2.0), -40.0 - math.exp(-40)],
                               rtol=1e-15)
    assert opt.report.fired("log(1 - sigmoid(x)) -> -softplus(x)") == 1


def test_softmax_written_by_hand():
    x = gd.matrix("x", (2, 3))
    e = gd.exp(x)
    plain, opt = compiled([x], e / gd.sum(e, axis=1, keepdims=True))
    v = np.array([[1000.0, 1000.0, 0.0], [1.0, 2.0, 3.0]])
    assert np.isnan(run(plain, v)[0, :2]).all()
    expected = np.exp(v - v.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(opt(v), expected, rtol=1e-15)
    assert opt.report.fired("exp(x) / sum(exp(x)) -> softmax(x)") == 1


# --- cross-entropy with integer labels, forward and gradient -------------------------------------
LOGITS = np.array([[1000.0, 0.0, -1000.0], [0.0, 1.0, 2.0], [-5.0, 5.0, 0.0]])
LABELS = np.array([2, 0, 1])


def reference_loss_and_grad(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient, (softmax - onehot) / n, computed stably."""
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    n = len(y)
    loss = np.mean(lse - shifted[np.arange(n), y])
    p = np.exp(shifted - lse[:, None])
    p[np.arange(n), y] -= 1
    return loss, p / n


def cross_entropy_graph(naive: bool):
    z = gd.matrix("z", (None, 3))
    y = gd.vector("y", (None,), dtype="int64")
    if naive:
        picked = gd.log(gd.take_along_axis(gd.softmax(z, axis=1), y[:, None], axis=1))
    else:
        picked = gd.take_along_axis(gd.log_softmax(z, axis=1), y[:, None], axis=1)
    loss = -picked.mean()
    return [z, y], [loss, gd.grad(loss, z)]


def test_naive_cross_entropy_and_its_gradient_become_finite():
    inputs, outputs = cross_entropy_graph(naive=True)
    plain, opt = compiled(inputs, outputs)
    loss, grad = run(plain, LOGITS, LABELS)
    expected_loss, expected_grad = reference_loss_and_grad(LOGITS, LABELS)
    assert loss == np.inf  # as written, p[y] underflows to 0 and log 0 = -inf ...
    # ... but gd.grad differentiates the stabilized form, so even unoptimized the gradient
    # is finite (the written form's adjoint would be 0/0)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-17)
    loss, grad = opt(LOGITS, LABELS)
    assert loss == pytest.approx(expected_loss, rel=1e-15)  # (2000 + ...) / 3
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-17)
    report = opt.report
    assert report.fired("log(softmax(z)[y]) -> log_softmax(z)[y]") == 1
    assert "_rt.xent_rows_grad(" in opt.source
    assert "_rt.softmax(" not in opt.source and "reciprocal" not in opt.source


def assert_pair_shares_softmax(source: str) -> None:
    """Loss and gradient fused, lowered to parts that compute exp(z - max z) only once."""
    assert "_rt.xent_rows(" in source and "_rt.xent_rows_grad(" in source
    assert source.count("np.exp(") == 1 and source.count("row_reduce(np.maximum") == 1


def test_log_softmax_cross_entropy_is_fused():
    inputs, outputs = cross_entropy_graph(naive=False)
    plain, opt = compiled(inputs, outputs)
    expected_loss, expected_grad = reference_loss_and_grad(LOGITS, LABELS)
    for fn in (plain, opt):  # already stable as written; fused, it is one pass each way
        loss, grad = fn(LOGITS, LABELS)
        assert loss == pytest.approx(expected_loss, rel=1e-15)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-17)
    assert_pair_shares_softmax(opt.source)
    assert "log_softmax" not in opt.source


def test_library_loss_is_fused_too():
    from graphdl.nn import losses

    z = gd.matrix("z", (None, 3))
    y = gd.vector("y", (None,), dtype="int64")
    loss = losses.softmax_cross_entropy(z, y)
    fn = gd.function([z, y], [loss, gd.grad(loss, z)])
    assert_pair_shares_softmax(fn.source)
    expected_loss, expected_grad = reference_loss_and_grad(LOGITS, LABELS)
    loss_value, grad = fn(LOGITS, LABELS)
    assert loss_value == pytest.approx(expected_loss, rel=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-17)


def test_fused_ops_float32_and_second_derivatives():
    from graphdl.ops import fused

    z = gd.matrix("z", (4, 5), dtype="float32")
    y = gd.vector("y", (4,), dtype="int64")
    loss = fused.softmax_xent(z, y[:, None], axis=1).mean()
    rng = np.random.default_rng(0)
    zv = (rng.standard_normal((4, 5)) * 3).astype(np.float32)
    yv = np.array([0, 1, 2, 4])
    v = rng.standard_normal((4, 5)).astype(np.float32)
    grad = gd.grad(loss, z)
    hv = gd.hvp(loss, z, gd.constant(v))
    fn = gd.function([z, y], [loss, grad, hv])
    value, g, h = fn(zv, yv)
    assert value.dtype == g.dtype == h.dtype == np.float32
    ref_loss, ref_grad = reference_loss_and_grad(zv.astype(np.float64), yv)
    assert value == pytest.approx(ref_loss, rel=1e-6)
    np.testing.assert_allclose(g, ref_grad, rtol=1e-5, atol=1e-7)
    # H v of mean cross-entropy: (p * v - p * sum(p * v)) / n, row by row
    p = np.exp(zv - zv.max(1, keepdims=True)).astype(np.float64)
    p /= p.sum(1, keepdims=True)
    expected = (p * v - p * (p * v).sum(1, keepdims=True)) / 4
    np.testing.assert_allclose(h, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape, axis, idx_shape", [((4, 5), 1, (4, 1)), ((5, 4), 0, (1, 4)),
                                                   ((2, 3, 5), 2, (2, 3, 1)),
                                                   ((4, 5), 1, (4, 2))])
def test_fused_ops_agree_with_their_decomposition(shape, axis, idx_shape):
    from graphdl.ops import fused

    rng = np.random.default_rng(1)
    z = gd.tensor("z", shape)
    idx = gd.tensor("idx", idx_shape, dtype="int64")
    g = gd.tensor("g", idx_shape)
    fast = [fused.softmax_xent(z, idx, axis), fused.softmax_xent_grad(g, z, idx, axis)]
    plain = [fused.decompose_xent(z, idx, axis), fused.decompose_xent_grad(g, z, idx, axis)]
    args = (rng.standard_normal(shape) * 10, rng.integers(0, shape[axis], idx_shape),
            rng.standard_normal(idx_shape))
    got = gd.function([z, idx, g], fast, optimize=False)(*args)
    expected = gd.function([z, idx, g], plain, optimize=False)(*args)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_fused_when_the_batch_size_is_known_but_labels_are_not():
    z = gd.matrix("z", (3, 3))
    y = gd.vector("y", (None,), dtype="int64")
    loss = -gd.take_along_axis(gd.log_softmax(z, axis=1), y[:, None], axis=1).mean()
    fn = gd.function([z, y], [loss, gd.grad(loss, z)])
    assert_pair_shares_softmax(fn.source)
    expected_loss, expected_grad = reference_loss_and_grad(LOGITS, LABELS)
    loss_value, grad = fn(LOGITS, LABELS)
    assert loss_value == pytest.approx(expected_loss, rel=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14, atol=1e-17)

"""graphdl.nn: losses against the lecture's equations in NumPy, Dropout mask statistics and
modes, BatchNorm values/updates/gradients, whole-MLP gradients against finite differences, and a
two-head multi-task model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphdl as gd
from graphdl import nn, optim
from graphdl.errors import ShapeError


def numeric_grad(f: Callable[[], float], get: Callable[[], np.ndarray],
                 put: Callable[[np.ndarray], None], eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f`` over every entry of the array that ``get``/``put`` access."""
    base = get().astype(np.float64)
    out = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        for sign in (1, -1):
            moved = base.copy()
            moved[idx] += sign * eps
            put(moved)
            out[idx] += sign * float(f()) / (2 * eps)
    put(base)
    return out


def shared_grad(f: Callable[[], float], var: gd.SharedVariable) -> np.ndarray:
    return numeric_grad(f, var.get_value, var.set_value)


def softmax_np(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- losses ---------------------------------------------------------------------------------
def test_squared_error_is_eq4():
    rng = np.random.default_rng(0)
    o, e = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    O, E = gd.matrix("o", (None, 3)), gd.matrix("e", (None, 3))
    total = gd.function([O, E], nn.squared_error(O, E, reduction="sum"))(o, e)
    mean = gd.function([O, E], nn.mse(O, E))(o, e)
    eq4 = sum(np.linalg.norm(e[i] - o[i]) ** 2 for i in range(5))
    assert total == pytest.approx(eq4, rel=1e-12)
    assert mean == pytest.approx(eq4 / 5, rel=1e-12)
    v = gd.vector("v")  # one output per sample: ||e_i - o_i||^2 is a plain square
    assert gd.function([v], nn.mse(v, 1.0))(np.array([0.0, 3.0])) == pytest.approx(2.5)


def test_softmax_cross_entropy_is_eq7_and_stable():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(6, 4)) * 3, rng.integers(0, 4, size=6)
    Z, y = gd.matrix("z", (None, 4)), gd.vector("y", dtype="int64")
    total = nn.softmax_cross_entropy(Z, y, reduction="sum")
    mean = nn.softmax_cross_entropy(Z, y)
    f = gd.function([Z, y], [total, mean, gd.grad(mean, Z)])
    got_total, got_mean, got_grad = f(logits, labels)
    eq7 = sum(-np.log(softmax_np(logits)[i, labels[i]]) for i in range(6))
    assert got_total == pytest.approx(eq7, rel=1e-12)
    assert got_mean == pytest.approx(eq7 / 6, rel=1e-12)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(got_grad, (softmax_np(logits) - onehot) / 6, atol=1e-14)
    huge = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    Z3 = gd.matrix("z", (None, 3))
    loss3 = nn.softmax_cross_entropy(Z3, y, reduction="sum")
    value, grad = gd.function([Z3, y], [loss3, gd.grad(loss3, Z3)])(huge, np.array([1, 2]))
    assert value == pytest.approx(2000.0 + 1.0 + np.log1p(np.exp(-1.0)), rel=1e-12)
    assert np.all(np.isfinite(grad))


def test_softmax_cross_entropy_checks_its_operands():
    with pytest.raises(ShapeError, match="expects logits"):
        nn.softmax_cross_entropy(gd.vector("z"), gd.vector("y", dtype="int64"))
    with pytest.raises(TypeError, match="labels must be integers"):
        nn.softmax_cross_entropy(gd.matrix("z"), gd.vector("y"))


def test_binary_cross_entropy_logits_and_probabilities():
    z = np.array([-3.0, -0.5, 0.0, 2.0, 40.0])
    e = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = 1 / (1 + np.exp(-z))
    naive = -(e[:4] * np.log(p[:4]) + (1 - e[:4]) * np.log1p(-p[:4]))
    reference = np.append(naive, np.log1p(np.exp(-40.0)))  # naive p rounds to 1 at z = 40
    Zn, En = gd.vector("z"), gd.vector("e")
    got = gd.function([Zn, En], nn.binary_cross_entropy(Zn, En, reduction="sum"))(z, e)
    assert got == pytest.approx(reference.sum(), rel=1e-12)
    probs = gd.function([Zn, En], nn.binary_cross_entropy(Zn, En, from_logits=False))
    assert probs(p[:4], e[:4]) == pytest.approx(reference[:4].mean(), rel=1e-9)
    extreme = gd.function([Zn, En], nn.binary_cross_entropy(Zn, En))(np.array([1e4, -1e4]),
                                                                     np.array([0.0, 1.0]))
    assert extreme == pytest.approx(1e4)


def test_l2_penalty_is_eq10_and_weighted_sum():
    W1, W2 = gd.shared(np.arange(6.0).reshape(2, 3)), gd.shared(np.array([[1.0, -2.0]]))
    penalty = gd.function([], nn.l2_penalty([W1, W2], 0.5))()
    assert penalty == pytest.approx(0.5 * (55.0 + 5.0))
    a, b = gd.scalar("a"), gd.scalar("b")
    assert gd.function([a, b], nn.weighted_sum([a, b], [2.0, 0.25]))(3.0, 4.0) == 7.0
    assert gd.function([a, b], nn.weighted_sum([a, b]))(3.0, 4.0) == 7.0
    with pytest.raises(ValueError, match="2 losses but 1 weights"):
        nn.weighted_sum([a, b], [1.0])
    with pytest.raises(ShapeError, match="must be a scalar"):
        nn.weighted_sum([gd.vector("v")])


def test_accuracy():
    Z, y = gd.matrix("z", (None, 3)), gd.vector("y", dtype="int64")
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert gd.function([Z, y], nn.accuracy(Z, y))(logits, np.array([1, 0, 1, 2])) == 0.5


def test_numpy_array_on_the_left_of_an_operator_builds_one_node():
    """Regression: ``array * node`` used to give an object array of per-element nodes."""
    x = gd.vector("x", 3)
    for node in (np.ones(3) * x, np.ones(3) - x, np.ones((2, 3)) @ gd.matrix("W", (3, 2))):
        assert isinstance(node, gd.Node)
    assert gd.function([x], np.array([1.0, 2.0, 3.0]) * x)(np.full(3, 2.0)).tolist() == [2, 4, 6]


# --- Dropout ---------------------------------------------------------------------------------
def test_dropout_mask_statistics_and_scaling():
    p = 0.3
    mode = nn.Mode(training=True)
    H = gd.matrix("h", (None, 50))
    out = nn.Dropout(p)(H, mode)
    (mask_in,) = mode.masks
    masks = mask_in.sample(2000, np.random.default_rng(0))
    assert masks.shape == (2000, 50) and masks.dtype == np.float64
    dropped = np.mean(masks == 0)
    n = masks.size
    assert abs(dropped - p) < 4 * np.sqrt(p * (1 - p) / n)  # binomial: within 4 sigma
    assert set(np.unique(masks)) == {0.0, 1 / (1 - p)}  # kept units are scaled by 1/(1-p)
    assert abs(masks.mean() - 1.0) < 0.01  # inverted dropout keeps the expected value
    h = np.random.default_rng(1).normal(size=(2000, 50))
    fn = gd.function([H, *mode.mask_inputs], out)
    np.testing.assert_array_equal(fn(h, masks), h * masks)


def test_dropout_masks_are_seeded_and_fresh_each_call():
    mode = nn.Mode(training=True)
    nn.Sequential(nn.Dropout(0.5, name="d1"), nn.Dropout(0.5, name="d2"))(
        gd.matrix("x", (None, 8)), mode)
    assert [m.node.name for m in mode.masks] == ["d1_mask", "d2_mask"]
    a = mode.sample_masks(4, np.random.default_rng(3))
    b = mode.sample_masks(4, np.random.default_rng(3))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    rng = np.random.default_rng(3)
    first, second = mode.sample_masks(4, rng), mode.sample_masks(4, rng)
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(a[0], a[1])  # each layer gets its own mask


def test_dropout_evaluation_is_identity_and_float32_masks():
    x = gd.matrix("x", (None, 4), dtype="float32")
    layer = nn.Dropout(0.5)
    assert layer(x) is x
    assert nn.Dropout(0.0)(x, nn.Mode(training=True)) is x
    mode = nn.Mode(training=True)
    layer(x, mode)
    assert mode.sample_masks(3, np.random.default_rng(0))[0].dtype == np.float32
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(1.0)
    with pytest.raises(ShapeError, match="known sizes after it"):
        nn.Dropout(0.5)(gd.matrix("z", (None, None)), nn.Mode(training=True))


# --- BatchNorm -------------------------------------------------------------------------------
def _bn_setup(momentum=0.8, eps=1e-3):
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm(3, momentum=momentum, eps=eps, name="bn")
    bn.gamma.set_value(np.array([1.5, 0.5, -1.0]))
    bn.beta.set_value(np.array([0.1, -0.2, 0.3]))
    bn.running_mean.set_value(np.array([0.5, -0.5, 1.0]))
    bn.running_var.set_value(np.array([2.0, 0.5, 1.5]))
    x = rng.normal(size=(7, 3)) * np.array([1.0, 3.0, 0.2]) + np.array([2.0, -1.0, 0.0])
    w = rng.normal(size=(7, 3))
    return bn, x, w


def test_batchnorm_training_output_is_eq78_and_updates_running_averages():
    bn, x, _ = _bn_setup()
    X = gd.matrix("x", (None, 3))
    mode = nn.Mode(training=True)
    out = bn(X, mode)
    assert set(mode.updates) == {bn.running_mean, bn.running_var}
    fn = gd.function([X], out, updates=mode.updates)
    mu = x.mean(axis=0)
    var = ((x - mu) ** 2).mean(axis=0)
    expected = (x - mu) / np.sqrt(var + 1e-3) * bn.gamma.get_value() + bn.beta.get_value()
    rm0, rv0 = bn.running_mean.get_value(), bn.running_var.get_value()
    np.testing.assert_allclose(fn(x), expected, rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean.get_value(), 0.8 * rm0 + 0.2 * mu, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.get_value(), 0.8 * rv0 + 0.2 * var, rtol=1e-12)
    fn(x[:4])  # a second step moves the averages again, towards that batch's statistics
    mu2, var2 = x[:4].mean(axis=0), x[:4].var(axis=0)
    np.testing.assert_allclose(bn.running_mean.get_value(),
                               0.8 * (0.8 * rm0 + 0.2 * mu) + 0.2 * mu2, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.get_value(),
                               0.8 * (0.8 * rv0 + 0.2 * var) + 0.2 * var2, rtol=1e-12)


def test_batchnorm_evaluation_uses_running_statistics():
    bn, x, _ = _bn_setup()
    X = gd.matrix("x", (None, 3))
    got = gd.function([X], bn(X))(x)
    rm, rv = bn.running_mean.get_value(), bn.running_var.get_value()
    expected = (x - rm) / np.sqrt(rv + 1e-3) * bn.gamma.get_value() + bn.beta.get_value()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(gd.function([X], bn(X))(x[:1]), expected[:1], rtol=1e-12)


@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_batchnorm_gradients_match_finite_differences(training):
    bn, x, w = _bn_setup()
    X = gd.matrix("x", (None, 3))
    loss = gd.sum(bn(X, nn.Mode(training=training)) * w)
    wrt = [X, bn.gamma, bn.beta]
    fn = gd.function([X], [loss, *gd.grad(loss, wrt)])  # no updates: the state stays put
    value = gd.function([X], loss)
    _, gx, ggamma, gbeta = fn(x)
    box = {"x": x.copy()}
    fd_x = numeric_grad(lambda: value(box["x"]), lambda: box["x"],
                        lambda v: box.__setitem__("x", v))
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ggamma, shared_grad(lambda: value(x), bn.gamma), rtol=1e-6)
    np.testing.assert_allclose(gbeta, shared_grad(lambda: value(x), bn.beta), rtol=1e-6)
    if training:  # batch statistics: shifting every row the same way changes nothing
        np.testing.assert_allclose(gx.sum(axis=0), 0.0, atol=1e-10)


def test_batchnorm_once_per_training_graph():
    bn = nn.BatchNorm(2)
    mode = nn.Mode(training=True)
    bn(gd.matrix("a", (None, 2)), mode)
    with pytest.raises(ValueError, match="already has an update"):
        bn(gd.matrix("b", (None, 2)), mode)
    with pytest.raises(ShapeError, match=r"expects \(batch, 2\)"):
        bn(gd.matrix("c", (None, 3)))


# --- modules ---------------------------------------------------------------------------------
def test_sequential_collects_named_parameters_state_and_regularized_weights():
    model = nn.Sequential(nn.Dense(4, 5, 0), gd.relu, nn.BatchNorm(5), nn.Dense(5, 2, 1),
                          nn.Dropout(0.2), name="net")
    assert list(model.named_parameters()) == [
        "dense.W", "dense.b", "batchnorm.gamma", "batchnorm.beta", "dense_2.W", "dense_2.b"]
    assert list(model.named_state()) == ["batchnorm.running_mean", "batchnorm.running_var"]
    assert [v.shape for v in model.regularized()] == [(4, 5), (5, 2)]
    assert len(model.named_variables()) == 8
    head = nn.Dense(5, 1, 2)
    shared_trunk = nn.collect_parameters([model, head, model])
    assert len(shared_trunk) == 8
    with pytest.raises(TypeError, match="nn.Mode"):
        model(gd.matrix("x", (None, 4)), True)
    with pytest.raises(ShapeError, match="expects inputs with 4 features"):
        model(gd.matrix("x", (None, 3)))


# --- a whole MLP -----------------------------------------------------------------------------
def test_mlp_gradients_match_finite_differences_with_a_fixed_dropout_mask():
    rng = np.random.default_rng(11)
    model = nn.Sequential(nn.Dense(5, 6, rng, name="h1"), gd.tanh, nn.Dropout(0.4),
                          nn.Dense(6, 4, rng, name="h2"), gd.relu, nn.Dense(4, 3, rng, name="o"))
    for var in model.parameters():  # non-zero biases, so every path is exercised
        var.set_value(var.get_value() + rng.normal(scale=0.3, size=var.shape))
    X, y = gd.matrix("X", (None, 5)), gd.vector("y", dtype="int64")
    mode = nn.Mode(training=True)
    loss = (nn.softmax_cross_entropy(model(X, mode), y)
            + nn.l2_penalty(model.regularized(), 0.05))
    params = model.parameters()
    x, labels = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    (mask,) = mode.sample_masks(8, np.random.default_rng(2))
    assert 0 < np.count_nonzero(mask) < mask.size
    grads = gd.function([X, y, *mode.mask_inputs], gd.grad(loss, params))(x, labels, mask)
    value = gd.function([X, y, *mode.mask_inputs], loss)
    for var, g in zip(params, grads):
        fd = shared_grad(lambda: value(x, labels, mask), var)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8, err_msg=var.name)


def test_two_head_multitask_model_trains_both_heads():
    rng = np.random.default_rng(3)
    n = 256
    x = rng.normal(size=(n, 6))
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64)  # task 1: a class
    target = (x[:, 2] - 0.5 * x[:, 3])[:, None]  # task 2: a number
    trunk = nn.Sequential(nn.Dense(6, 16, rng, name="trunk"), gd.tanh)
    head_cls, head_reg = nn.Dense(16, 2, rng, name="cls"), nn.Dense(16, 1, rng, name="reg")
    X, y, t = gd.matrix("X", (None, 6)), gd.vector("y", dtype="int64"), gd.matrix("t", (None, 1))
    h = trunk(X)
    loss_cls = nn.softmax_cross_entropy(head_cls(h), y)
    loss_reg = nn.mse(head_reg(h), t)
    total = nn.weighted_sum([loss_cls, loss_reg], [1.0, 0.5])
    params = nn.collect_parameters([trunk, head_cls, head_reg])
    opt = optim.Adam(0.02)
    step = gd.function([X, y, t], [loss_cls, loss_reg], updates=opt.updates(total, params))
    first = step(x, labels, target)
    for _ in range(150):
        last = step(x, labels, target)
    assert last[0] < 0.3 * first[0]
    assert last[1] < 0.1 * first[1]
    probe = gd.function([X, y, t], [nn.accuracy(head_cls(h), y), loss_reg])
    acc, mse = probe(x, labels, target)
    assert acc > 0.95 and mse < 0.05


def test_a_head_with_zero_weight_is_left_alone():
    rng = np.random.default_rng(4)
    trunk, a, b = nn.Dense(3, 4, rng, name="t"), nn.Dense(4, 1, rng, name="a"), nn.Dense(
        4, 1, rng, name="b")
    X = gd.matrix("X", (None, 3))
    h = trunk(X)
    total = nn.weighted_sum([nn.mse(a(h), 1.0), nn.mse(b(h), -1.0)], [1.0, 0.0])
    before_a, before_b = a.W.get_value(), b.W.get_value()
    params = nn.collect_parameters([trunk, a, b])
    gd.function([X], total, updates=optim.SGD(0.1).updates(total, params))(rng.normal(size=(5, 3)))
    np.testing.assert_array_equal(b.W.get_value(), before_b)
    assert np.abs(a.W.get_value() - before_a).max() > 1e-3

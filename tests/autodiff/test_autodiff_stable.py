"""gd.grad / vjp / jvp differentiate the numerically stable form of a graph."""

import numpy as np
import pytest

import graphdl as gd


def naive_xent():
    z = gd.matrix("z", shape=(None, 3))
    y = gd.vector("y", dtype="int64")
    loss = -gd.mean(gd.take_along_axis(gd.log(gd.softmax(z, axis=1)), y[:, None], axis=1))
    return z, y, loss


@pytest.mark.parametrize("optimize", [True, False])
def test_log_of_softmax_has_a_finite_gradient_for_huge_logits(optimize):
    z, y, loss = naive_xent()
    fn = gd.function([z, y], gd.grad(loss, z), optimize=optimize)
    grad = fn(np.array([[800.0, 0.0, -800.0]]), np.array([1]))
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]], atol=1e-300)


def test_jvp_of_log_softmax_pattern_is_finite():
    z = gd.vector("z", 3)
    out = gd.log(gd.softmax(z))
    t = gd.jvp(out, z, np.array([1.0, 0.0, 0.0]))
    value = gd.function([z], t, optimize=False)(np.array([800.0, 0.0, -800.0]))
    np.testing.assert_allclose(value, [0.0, -1.0, -1.0], atol=1e-12)


def test_gradients_wrt_an_intermediate_keep_the_written_graph():
    z = gd.vector("z", 3)
    s = gd.softmax(z)
    cost = gd.log(s).sum()
    (g,) = gd.grad(cost, [s])  # s must survive: no stabilization when wrt is not a leaf
    value = gd.function([z], g)(np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(value, [3.0, 3.0, 3.0])

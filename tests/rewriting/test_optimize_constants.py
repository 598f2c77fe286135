"""Constants and broadcasts in gradients: spread constants stay views, one-element constants
become scalars, and a power-of-two factor merges with another constant (exactly)."""

import numpy as np
import pytest

import graphdl as gd
from graphdl.ir.walk import toposort
from graphdl.nn import losses


def full_size_constants(outputs) -> list:
    """Constant arrays of more than one element baked into the graph."""
    return [n for n in toposort(list(outputs)) if n.op.name == "constant"
            and np.size(n.attrs["value"]) > 1]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_l2_gradient_is_one_multiplication_by_a_scalar(dtype):
    W = gd.shared(np.linspace(-2, 2, 5120).reshape(512, 10).astype(dtype), name="W")
    V = gd.shared(np.linspace(-1, 1, 2048).reshape(64, 32).astype(dtype), name="V")
    penalty = losses.l2_penalty([W, V], 1e-4)
    grads = gd.grad(penalty, [W, V])
    fn = gd.function([], [penalty, *grads])
    assert not full_size_constants(fn.outputs)  # was a 512x10 array of 1e-4, baked in
    products = [s for s in fn.source.splitlines() if "# multiply" in s and "[512,10]" in s]
    assert len(products) == 1 and ("0.0002" in products[0] or "0.000199999" in products[0])
    value, gW, gV = fn()
    lam = np.asarray(1e-4, dtype)
    np.testing.assert_array_equal(gW, (2 * lam) * W.get_value())  # exact: 2 is a power of two
    np.testing.assert_array_equal(gV, (2 * lam) * V.get_value())
    assert gW.dtype == gV.dtype == np.dtype(dtype)


def test_other_constant_factors_are_not_regrouped():
    x = gd.vector("x", 4)
    out, report = gd.optimize(3.0 * (5.0 * x))
    assert report.fired("c * (2**k * x) -> (c * 2**k) * x") == 0
    values = np.array([0.1, 0.7, 1e-300, 3.3])
    np.testing.assert_array_equal(gd.function([x], out)(values), 3.0 * (5.0 * values))


def test_a_merged_factor_that_would_overflow_is_left_as_written():
    x = gd.vector("x", 2)
    out, report = gd.optimize(1e308 * (4.0 * x))
    assert report.fired("c * (2**k * x) -> (c * 2**k) * x") == 0
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(gd.function([x], out)(np.array([1e-10, 1.0])),
                                      1e308 * (4.0 * np.array([1e-10, 1.0])))


def test_explicit_broadcast_of_an_operand_is_dropped_when_the_other_spans_the_shape():
    x = gd.matrix("x", (3, 4))
    c = gd.broadcast_to(gd.constant(np.array([1.0, 2.0, 3.0, 4.0])), (3, 4))
    y = gd.vector("y", 4)
    out, report = gd.optimize([x * c, gd.exp(x) + gd.broadcast_to(y, (3, 4))])
    assert report.fired("f(broadcast(a), x) -> f(a, x) (x spans the shape)") == 2
    assert "broadcast_to" not in {n.op.name for n in toposort(out)}
    xv, yv = np.arange(12.0).reshape(3, 4), np.array([0.5, -1.0, 2.0, 0.0])
    got = gd.function([x, y], out)(xv, yv)
    np.testing.assert_array_equal(got[0], xv * np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(got[1], np.exp(xv) + yv)


def test_a_broadcast_that_makes_the_shape_is_kept():
    y = gd.vector("y", 4)
    out, _ = gd.optimize(gd.broadcast_to(y, (3, 4)) * 2.0)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(gd.function([y], out)(np.ones(4)), np.full((3, 4), 2.0))

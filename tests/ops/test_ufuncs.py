"""graphdl.ops.ufuncs beyond the op table: the numba backend computes them too, ``%`` follows
NumPy's sign convention, and the documented values at domain ends and kinks."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd


def test_numba_backend_lowers_every_new_ufunc() -> None:
    pytest.importorskip("numba")
    x, y = gd.tensor("x", (5,)), gd.tensor("y", (5,))
    inside = gd.tanh(x) * 0.9  # in (-1, 1)
    above = gd.exp(gd.abs(x)) + 1.0  # > 1
    outputs = [gd.arctan(x), gd.arcsin(inside), gd.arccos(inside), gd.arctan2(x, y),
               gd.sinh(x), gd.cosh(x), gd.arcsinh(x), gd.arccosh(above), gd.arctanh(inside),
               gd.log2(above), gd.log10(above), gd.exp2(x), gd.logaddexp(x, y), gd.hypot(x, y),
               x % y, gd.ceil(x), gd.round(x), gd.round(x, 1)]
    loss = gd.sum(gd.stack([gd.sum(o) for o in outputs]))
    grads = gd.grad(loss, [x, y])
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-2, 2, 5), rng.choice([-1, 1], 5) * rng.uniform(0.5, 2, 5)
    want = gd.function([x, y], outputs + grads)(xs, ys)
    got = gd.function([x, y], outputs + grads, backend="numba")(xs, ys)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def test_mod_and_percent_follow_numpy_signs() -> None:
    a, b = gd.tensor("a", (4,)), gd.tensor("b", (4,))
    av, bv = np.array([5.0, -5.0, 5.0, -5.0]), np.array([3.0, 3.0, -3.0, -3.0])
    f = gd.function([a, b], [a % b, gd.mod(a, b), 7 % b, a % 2])
    for got, want in zip(f(av, bv), [np.mod(av, bv)] * 2 + [np.mod(7, bv), np.mod(av, 2)]):
        np.testing.assert_array_equal(got, want)
    ia = gd.tensor("i", (3,), "int64")
    out = ia % 3
    assert out.dtype == np.int64
    np.testing.assert_array_equal(gd.function([ia], out)(np.array([-4, 4, 9])), [2, 1, 0])


def test_values_at_domain_ends_and_kinks_are_numpys() -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    d_arcsin = gd.function([x], gd.grad(gd.arcsin(x), [x])[0])
    with np.errstate(divide="ignore"):
        assert d_arcsin(1.0) == np.inf
    with np.errstate(invalid="ignore"):
        assert np.isnan(gd.function([x], gd.arcsin(x))(2.0))  # outside the domain
    d_hypot = gd.function([x, y], gd.grad(gd.hypot(x, y), [x])[0])
    with np.errstate(invalid="ignore"):
        assert np.isnan(d_hypot(0.0, 0.0))  # the kink of sqrt(x^2 + y^2)
    assert d_hypot(3.0, 4.0) == pytest.approx(0.6, rel=1e-15)
    d_lae = gd.function([x, y], gd.grad(gd.logaddexp(x, y), [x, y]))
    np.testing.assert_allclose(d_lae(1000.0, 0.0), [1.0, 0.0])  # no overflow in exp(x - out)

"""Initializers: eq. 77's bounds and variance, He's variance, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from graphdl import init, nn


def test_xavier_uniform_is_eq77():
    m, n = 300, 200
    W = init.xavier_uniform((m, n), rng=0)
    limit = np.sqrt(6.0 / (m + n))
    assert W.shape == (m, n) and W.dtype == np.float64
    assert W.min() >= -limit and W.max() <= limit
    assert W.min() < -0.99 * limit and W.max() > 0.99 * limit  # the whole interval is used
    assert W.var() == pytest.approx(2.0 / (m + n), rel=0.02)  # Uniform(-a, a): a^2 / 3
    assert abs(W.mean()) < 0.003


def test_normal_and_he_variances():
    m, n = 400, 100
    assert init.xavier_normal((m, n), 1).std() == pytest.approx(np.sqrt(2 / (m + n)), rel=0.02)
    assert init.he_normal((m, n), 2).std() == pytest.approx(np.sqrt(2 / m), rel=0.02)
    he_u = init.he_uniform((m, n), 3)
    assert np.abs(he_u).max() <= np.sqrt(6 / m)
    assert he_u.var() == pytest.approx(2 / m, rel=0.03)


def test_seeded_and_dtype():
    a, b = init.xavier_uniform((4, 3), 5), init.xavier_uniform((4, 3), 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.xavier_uniform((4, 3), 6))
    gen = np.random.default_rng(9)
    first, second = init.he_normal((4, 3), gen), init.he_normal((4, 3), gen)
    assert not np.array_equal(first, second)  # a generator moves on
    assert init.xavier_uniform((2, 2), 0, "float32").dtype == np.float32
    assert not init.zeros((3,)).any() and init.ones((2,)).tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="rng must be"):
        init.xavier_uniform((2, 2), rng=0.5)


def test_fans():
    assert init.fans((5, 7)) == (5, 7)
    assert init.fans((9,)) == (9, 9)
    assert init.fans((3, 3, 4, 8)) == (36, 8)
    with pytest.raises(ValueError, match="at least one axis"):
        init.fans(())


def test_dense_starts_with_xavier_weights_and_zero_biases():
    layer = nn.Dense(30, 20, rng=0)
    W = layer.W.get_value()
    assert np.abs(W).max() <= np.sqrt(6 / 50)
    np.testing.assert_array_equal(W, init.xavier_uniform((30, 20), np.random.default_rng(0)))
    assert not layer.b.get_value().any()

"""gd.special beyond the op table: the generated code names scipy.special as ``special`` (an
input may not shadow it), a pickled function finds it again, numba refuses by name, and gelu is
x Phi(x)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphError

scipy_special = pytest.importorskip("scipy.special")


def test_an_input_named_special_does_not_shadow_scipy() -> None:
    x = gd.tensor("special", (3,))
    f = gd.function([x], gd.special.erf(x) + x)
    v = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(f(v), scipy_special.erf(v) + v, rtol=1e-15)
    assert "special.erf(" in f.source


def test_a_pickled_function_with_special_functions_runs() -> None:
    x = gd.tensor("x", (3,))
    f = gd.function([x], [gd.special.gammaln(x), gd.grad(gd.sum(gd.special.gammaln(x)), [x])[0]])
    g = pickle.loads(pickle.dumps(f))
    v = np.array([0.5, 1.0, 4.0])
    for got, want in zip(g(v), [scipy_special.gammaln(v), scipy_special.digamma(v)]):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_numba_refuses_special_functions_by_name() -> None:
    pytest.importorskip("numba")
    x = gd.tensor("x", (3,))
    with pytest.raises(GraphError, match=r"cannot compile erf node .*scipy.special"):
        gd.function([x], gd.special.erf(x), backend="numba")


def test_gelu_is_x_times_the_normal_cdf_and_its_tanh_form_is_close() -> None:
    x = gd.tensor("x", (5,))
    v = np.linspace(-3, 3, 5)
    exact, approx = gd.function([x], [gd.gelu(x), gd.gelu(x, approximate=True)])(v)
    np.testing.assert_allclose(exact, v * scipy_special.ndtr(v), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(approx, exact, atol=1e-3)
    (d,) = gd.grad(gd.sum(gd.gelu(x)), [x])
    phi = np.exp(-v * v / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(gd.function([x], d)(v), scipy_special.ndtr(v) + v * phi,
                               rtol=1e-13)

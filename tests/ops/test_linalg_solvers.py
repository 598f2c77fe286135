"""gd.linalg beyond the op table (tests/ops/test_ops_table.py checks values and derivatives):
degenerate inputs, error messages, the numba refusal, and a Gaussian-process marginal likelihood
written with cholesky and solve_triangular, its gradient checked against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import DTypeError, GraphError, GraphRuntimeError, ShapeError


def test_singular_matrix_value_and_derivatives() -> None:
    """det of a singular matrix is 0 (NumPy's value); its derivative, like every derivative
    through inv or solve, divides by the matrix: the call fails naming the inv node."""
    a = gd.tensor("a", (2, 2))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert gd.function([a], gd.linalg.det(a))(singular) == pytest.approx(0.0, abs=1e-15)
    sign, logabs = gd.function([a], list(gd.linalg.slogdet(a)))(singular)
    assert sign == 0.0 and logabs == -np.inf
    (grad,) = gd.grad(gd.linalg.det(a), [a])
    with pytest.raises(GraphRuntimeError, match=r"inv node .*Singular matrix"):
        gd.function([a], grad)(singular)
    with pytest.raises(GraphRuntimeError, match=r"solve node .*Singular matrix"):
        gd.function([a], gd.linalg.solve(a, np.ones(2)))(singular)


def test_cholesky_of_a_matrix_that_is_not_positive_definite_names_the_node() -> None:
    a = gd.tensor("a", (2, 2))
    with pytest.raises(GraphRuntimeError, match=r"cholesky node .*not positive definite"):
        gd.function([a], gd.linalg.cholesky(a))(np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_det_gradient_is_det_times_inverse_transpose() -> None:
    a = gd.tensor("a", (3, 3))
    x = np.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [0.0, 1.0, 4.0]])
    (grad,) = gd.grad(gd.linalg.det(a), [a])
    np.testing.assert_allclose(gd.function([a], grad)(x), np.linalg.det(x) * np.linalg.inv(x).T,
                               rtol=1e-13)


def test_shape_and_dtype_errors_name_the_operand() -> None:
    a, b = gd.tensor("a", (3, 3)), gd.tensor("b", (4, 2))
    with pytest.raises(ShapeError, match=r"solve: a \(3, 3\) and right-hand side b \(4, 2\) "
                                         r"differ in size \(3 != 4"):
        gd.linalg.solve(a, b)
    with pytest.raises(ShapeError, match=r"inv: r has shape \(2, 3\); its last two axes must "
                                         r"be square"):
        gd.linalg.inv(gd.tensor("r", (2, 3)))
    with pytest.raises(ShapeError, match=r"det: v has shape \(3,\); it needs a matrix"):
        gd.linalg.det(gd.tensor("v", (3,)))
    with pytest.raises(ShapeError, match=r"solve: right-hand side s is a scalar"):
        gd.linalg.solve(a, gd.scalar("s"))
    with pytest.raises(DTypeError, match=r"cholesky: complex operands are not supported "
                                         r"\(z: complex128\)"):
        gd.linalg.cholesky(gd.tensor("z", (2, 2), "complex128"))


def test_integer_matrices_compute_in_float64_and_float32_stays_float32() -> None:
    i = gd.tensor("i", (2, 2), "int64")
    f = gd.tensor("f", (2, 2), "float32")
    assert gd.linalg.inv(i).dtype == np.float64
    assert gd.linalg.det(f).dtype == np.float32
    assert gd.linalg.solve(f, gd.tensor("g", (2,), "float32")).dtype == np.float32
    got = gd.function([i], gd.linalg.inv(i))(np.array([[2, 0], [0, 4]]))
    np.testing.assert_allclose(got, [[0.5, 0.0], [0.0, 0.25]])


def test_numba_refuses_linear_algebra_by_name() -> None:
    pytest.importorskip("numba")
    a = gd.tensor("a", (3, 3))
    with pytest.raises(GraphError, match=r"cannot compile inv node .*stacks.*backend='numpy'"):
        gd.function([a], gd.linalg.inv(a), backend="numba")


def test_solve_triangular_never_reads_the_other_triangle() -> None:
    a, b = gd.tensor("a", (3, 3)), gd.tensor("b", (3,))
    x = gd.linalg.solve_triangular(a, b, lower=True)
    rng = np.random.default_rng(0)
    low = np.tril(rng.uniform(-0.5, 0.5, (3, 3))) + 2 * np.eye(3)
    noise = np.triu(rng.standard_normal((3, 3)), 1)
    f = gd.function([a, b], [x, *gd.grad(gd.sum(x), [a])])
    v = rng.standard_normal(3)
    clean, grad_clean = f(low, v)
    dirty, grad_dirty = f(low + noise, v)
    np.testing.assert_allclose(clean, dirty, rtol=1e-14)
    np.testing.assert_allclose(grad_clean, grad_dirty, rtol=1e-14)
    assert np.all(np.triu(grad_clean, 1) == 0)


def _gp_negative_log_likelihood(x: gd.Node, y: gd.Node, log_scale: gd.Node,
                                log_noise: gd.Node) -> gd.Node:
    """-log p(y | x) for a Gaussian process with an RBF kernel: 0.5 y^T K^-1 y + sum log L_ii
    + n/2 log 2 pi, through K = L L^T."""
    n = x.shape[0]
    sq = (gd.expand_dims(x, 1) - gd.expand_dims(x, 0)) ** 2
    k = gd.exp(-0.5 * sq / gd.exp(2 * log_scale)) + gd.exp(2 * log_noise) * np.eye(n)
    low = gd.linalg.cholesky(k)
    alpha = gd.linalg.solve_triangular(low, y, lower=True)
    log_diag = gd.sum(gd.log(gd.diagonal(low)))
    return 0.5 * gd.sum(alpha * alpha) + log_diag + 0.5 * n * np.log(2 * np.pi)


def test_gaussian_process_marginal_likelihood_and_its_gradient() -> None:
    rng = np.random.default_rng(4)
    xs = np.sort(rng.uniform(0, 5, 8))
    ys = np.sin(xs) + 0.1 * rng.standard_normal(8)
    x, y = gd.tensor("x", (8,)), gd.tensor("y", (8,))
    log_scale, log_noise = gd.scalar("log_scale"), gd.scalar("log_noise")
    nll = _gp_negative_log_likelihood(x, y, log_scale, log_noise)
    f = gd.function([x, y, log_scale, log_noise], [nll, *gd.grad(nll, [log_scale, log_noise])])

    def reference(ls: float, ln: float) -> float:
        k = np.exp(-0.5 * (xs[:, None] - xs[None, :]) ** 2 / np.exp(2 * ls)) + np.exp(
            2 * ln) * np.eye(8)
        _, logdet = np.linalg.slogdet(k)
        return 0.5 * ys @ np.linalg.solve(k, ys) + 0.5 * logdet + 4 * np.log(2 * np.pi)

    value, g_scale, g_noise = f(xs, ys, 0.1, -1.0)
    assert value == pytest.approx(reference(0.1, -1.0), rel=1e-12)
    eps = 1e-6
    assert g_scale == pytest.approx(
        (reference(0.1 + eps, -1.0) - reference(0.1 - eps, -1.0)) / (2 * eps), rel=1e-6)
    assert g_noise == pytest.approx(
        (reference(0.1, -1.0 + eps) - reference(0.1, -1.0 - eps)) / (2 * eps), rel=1e-6)

"""Shape and dtype inference when a graph is built, its errors, and operator overloading."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_both

import graphdl as gd


# --- an impossible graph fails at build time, naming the op, the operands and their shapes -------
@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (
            lambda x, W, v: x + v,
            (
                r"add: operands cannot be broadcast together \(x: \(\?, 3\), v: \(4,\)\); "
                r"axis -1 has sizes \[3, 4\]"
            ),
        ),
        (
            lambda x, W, v: gd.where(x > 0, x, v),
            r"where: operands cannot be broadcast together .*x: \(\?, 3\), v: \(4,\)",
        ),
        (
            lambda x, W, v: x @ v,
            r"matmul: inner sizes differ: x has shape \(\?, 3\) and v has shape \(4,\) \(3 != 4\)",
        ),
        (
            lambda x, W, v: x @ W,
            r"matmul: inner sizes differ: x has shape \(\?, 3\) and W has shape \(4, 2\)",
        ),
        (
            lambda x, W, v: gd.matmul(gd.sum(x), W),
            r"matmul: operands must have at least one axis \(sum#\d+: \(\), W: \(4, 2\)\)",
        ),
        (
            lambda x, W, v: W.reshape(3, 3),
            r"reshape: cannot reshape W of shape \(4, 2\) \(8 elements\) into \(3, 3\)",
        ),
        (lambda x, W, v: W.reshape(-1, 3), r"reshape: cannot reshape W of shape \(4, 2\)"),
        (
            lambda x, W, v: gd.concatenate([x, W]),
            r"concatenate: shapes differ off axis 0: x: \(\?, 3\), W: \(4, 2\)",
        ),
        (lambda x, W, v: gd.transpose(W, (0, 0)), r"transpose: axes \(0, 0\) are not a perm"),
        (lambda x, W, v: gd.squeeze(W, 1), r"squeeze: axis 1 of W has size 2, not 1"),
        (
            lambda x, W, v: gd.broadcast_to(v, (4, 3)),
            r"broadcast_to: operands cannot be broadcast together \(v: \(4,\), target: \(4, 3\)\)",
        ),
        (lambda x, W, v: W[4], r"index: 4 is out of bounds for axis 0 of W with size 4"),
        (lambda x, W, v: W[0, 0, 0], r"index: too many indices \(3\) for W of rank 2"),
        (
            lambda x, W, v: gd.sum(W, axis=2),
            r"sum: axis 2 is out of range for an operand of rank 2",
        ),
        (
            lambda x, W, v: gd.take_along_axis(W, gd.vector("i", 4, dtype="int64"), axis=1),
            r"take_along_axis: indices i \(4,\) must have the rank of W \(4, 2\)",
        ),
    ],
)
def test_impossible_graphs_fail_when_built(build, pattern: str) -> None:
    x, W, v = gd.matrix("x", (None, 3)), gd.matrix("W", (4, 2)), gd.vector("v", 4)
    with pytest.raises(gd.ShapeError, match=pattern):
        build(x, W, v)


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda x, z, f: gd.take(x, f), r"take: indices must be integers, got f of dtype float64"),
        (lambda x, z, f: gd.one_hot(f, 3), r"one_hot: indices must be integers"),
        (lambda x, z, f: gd.floor(z), r"floor: no NumPy loop for dtypes \(z: complex128\)"),
        (
            lambda x, z, f: gd.softmax(z),
            r"softmax: needs a real operand, got z of dtype complex128",
        ),
        (lambda x, z, f: gd.tensor("t", (2,), "not-a-dtype"), r"'not-a-dtype' is not a dtype"),
    ],
)
def test_impossible_dtypes_fail_when_built(build, pattern: str) -> None:
    x, z, f = gd.vector("x", 3), gd.vector("z", 3, dtype="complex128"), gd.vector("f", 3)
    with pytest.raises(gd.DTypeError, match=pattern):
        build(x, z, f)


def test_unknown_sizes_are_kept_or_resolved_by_broadcasting() -> None:
    x = gd.matrix("x", (None, 3))
    assert (x + gd.vector("b", 3)).shape == (None, 3)
    assert (gd.tensor("u", (None, 1)) + gd.vector("b", 3)).shape == (None, 3)
    assert (gd.tensor("u", (4, None)) + gd.tensor("w", (None, 5))).shape == (4, 5)
    assert (gd.tensor("u", (None,)) + gd.tensor("w", (None,))).shape == (None,)
    assert (x @ gd.matrix("W", (3, 8))).shape == (None, 8)
    assert gd.sum(x, axis=1).shape == (None,) and gd.sum(x, axis=0).shape == (3,)
    assert x.reshape(-1).shape == (None,) and x.reshape(-1, 6).shape == (None, 6)
    assert x.T.shape == (3, None) and x[1:].shape == (None, 3) and x[:, 1:].shape == (None, 2)
    assert gd.concatenate([x, x]).shape == (None, 3)
    assert gd.concatenate([x, x], axis=1).shape == (None, 6)
    assert gd.take(x, gd.vector("i", 5, dtype="int64")).shape == (5, 3)


def test_dtype_inference_follows_numpy() -> None:
    f32, f64 = gd.vector("a", 3, "float32"), gd.vector("b", 3)
    i64, i32 = gd.vector("i", 3, "int64"), gd.vector("j", 3, "int32")
    flag = gd.vector("c", 3, "bool")
    expectations = {
        f32 + 1: "float32",
        f32 * 2.5: "float32",
        1.5 / f32: "float32",  # weak Python numbers
        f32 + f64: "float64",
        f32 + np.float64(2.0): "float64",  # NumPy scalars are strong
        i64 + 1: "int64",
        i64 / 2: "float64",
        i64 + 0.5: "float64",
        i32 + i64: "int64",
        gd.exp(i64): "float64",
        gd.exp(f32): "float32",
        gd.sqrt(i32): "float64",
        gd.sum(i32): "int64",
        gd.mean(i64): "float64",
        gd.mean(f32): "float32",
        gd.sum(flag): "int64",
        f32 > 0: "bool",
        gd.argmax(f32): "int64",
        gd.where(flag, f32, 0): "float32",
        gd.softmax(i64): "float64",
        gd.cast(f64, "float32"): "float32",
        gd.one_hot(i64, 4, "float32"): "float32",
        gd.sigmoid(f32): "float32",
        gd.softplus(f32): "float32",
        f32 @ gd.matrix("M", (3, 2), "float32"): "float32",
    }
    for node, dtype in expectations.items():
        assert node.dtype == np.dtype(dtype), (node, dtype)


# --- operator overloading ------------------------------------------------------------------------
def test_python_operators_build_the_right_ops_and_values() -> None:
    rng = np.random.default_rng(0)
    x, y = gd.matrix("x", (None, 3)), gd.matrix("y", (None, 3))
    W = gd.matrix("W", (3, 2))
    xv, yv, wv = (
        rng.uniform(0.5, 2, (4, 3)),
        rng.standard_normal((4, 3)),
        rng.standard_normal((3, 2)),
    )
    table = [
        (x + 1, "add", xv + 1),
        (2 * x, "multiply", 2 * xv),
        (x - y, "subtract", xv - yv),
        (1 - x, "subtract", 1 - xv),
        (x / 2, "divide", xv / 2),
        (1 / x, "divide", 1 / xv),
        (x**2, "power", xv**2),
        (2**x, "power", 2**xv),
        (x @ W, "matmul", xv @ wv),
        (-x, "negative", -xv),
        (abs(y), "abs", np.abs(yv)),
        (x[0], "getitem", xv[0]),
        (x[:, 1:], "getitem", xv[:, 1:]),
        (x.T, "transpose", xv.T),
        (x.sum(axis=0), "sum", xv.sum(axis=0)),
        (x.mean(), "mean", xv.mean()),
        (x.max(axis=1), "max", xv.max(axis=1)),
        (x.min(), "min", xv.min()),
        (x.prod(axis=0), "prod", xv.prod(axis=0)),
        (x.argmax(axis=1), "argmax", xv.argmax(1)),
        (x.reshape(2, 6), "reshape", xv.reshape(2, 6)),
        (x.reshape((3, -1)), "reshape", xv.reshape(3, -1)),
        (x.transpose(1, 0), "transpose", xv.T),
        (x.clip(0.7, 1.5), "clip", xv.clip(0.7, 1.5)),
        (x < y, "less", xv < yv),
        (x <= 1, "less_equal", xv <= 1),
        (x > y, "greater", xv > yv),
        (x >= 1, "greater_equal", xv >= 1),
        ((x > 1) & (y > 0), "logical_and", (xv > 1) & (yv > 0)),
        ((x > 1) | (y > 0), "logical_or", (xv > 1) | (yv > 0)),
        (~(x > 1), "logical_not", ~(xv > 1)),
        (x.astype("float32"), "cast", xv.astype("float32")),
    ]
    for node, op, expected in table:
        assert node.op.name == op, (node, op)
        got = run_both([x, y, W], node, xv, yv, wv)
        assert np.asarray(got).dtype == np.asarray(expected).dtype, op
        np.testing.assert_allclose(got, expected, rtol=1e-14, err_msg=op)
    assert +x is x
    assert x.size is None and W.size == 6


def test_nodes_are_not_compared_by_value_and_have_no_truth_value() -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    assert (x == y) is False  # identity, not a comparison node: nodes are dict keys
    assert {x: 1, y: 2}[y] == 2
    with pytest.raises(TypeError, match="gd.where"):
        bool(x > y)
    assert gd.function([x, y], gd.equal(x, y))(1.0, 1.0)
    with pytest.raises(AttributeError, match="immutable"):
        x.name = "z"


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("rows", [1, 5, 130])
def test_fast_reduction_helpers_equal_numpy(dtype, rows):
    """Column sums by gemv and short-row reductions by a transposed copy: the same numbers as
    NumPy's own reductions (max/min exactly, sums to rounding), every shape and dtype."""
    from graphdl.ops import kernels as runtime

    rng = np.random.default_rng(rows)
    x = (rng.standard_normal((rows, 10)) * 100).astype(dtype)
    x[0, 3] = x[0, 7] = x.max() + 1  # a tie
    eps = np.finfo(dtype).eps if dtype != "int64" else 0.0
    rounding = 4 * eps * np.abs(x).sum()  # both add in row order; gemv may fuse multiply-adds
    np.testing.assert_allclose(runtime.column_sums(x), x.sum(axis=0), rtol=0, atol=rounding)
    assert runtime.column_sums(x).dtype == x.sum(axis=0).dtype
    for ufunc in (np.maximum, np.minimum):
        expected = ufunc.reduce(x, 1, keepdims=True)
        np.testing.assert_array_equal(runtime.row_reduce(ufunc, x), expected)
    np.testing.assert_allclose(runtime.row_reduce(np.add, x), x.sum(axis=1, keepdims=True),
                               rtol=0, atol=rounding)
    with_nan = x.astype(np.float64)
    with_nan[rows // 2, 4] = np.nan
    assert np.isnan(runtime.row_reduce(np.maximum, with_nan)[rows // 2, 0])
    assert np.isnan(runtime.column_sums(with_nan)[4])
    x_t = np.asarray(x.T)  # a transposed view: not contiguous
    np.testing.assert_allclose(runtime.column_sums(x_t.T), x.sum(axis=0), rtol=0, atol=rounding)

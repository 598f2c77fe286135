"""The generated call path (graphdl.codegen.caller) gives what the generic path gives."""

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphRuntimeError, InputError


def step_function():
    X = gd.matrix("X", (None, 3))
    w = gd.shared(np.array([0.5, -1.0, 2.0]), name="w")
    loss = gd.mean(gd.square(X @ w))
    (g,) = gd.grad(loss, [w])
    return X, w, gd.function([X], [loss, g], updates={w: w - 0.1 * g})


def test_fast_path_is_used_and_agrees_with_the_generic_path():
    X, w, fn = step_function()
    assert fn._fast is not None
    data = np.arange(6.0).reshape(2, 3)
    fast = fn(data)
    after_fast = w.get_value().copy()
    w.set_value(np.array([0.5, -1.0, 2.0]))
    generic = fn._call_checked((data,))
    for a, b in zip(fast + [after_fast], generic + [w.get_value()]):
        np.testing.assert_array_equal(a, b)


def test_set_value_between_calls_is_seen():
    X, w, fn = step_function()
    data = np.ones((4, 3))
    w.set_value(np.zeros(3))
    loss, g = fn(data)
    assert loss == 0.0 and np.all(g == 0)


@pytest.mark.parametrize("arg, message", [
    (np.ones((2, 4)), "axis 1 should be 3"),
    (np.ones(3), r"expected shape \(\?, 3\) \(rank 2\)"),
    (np.ones((2, 3), dtype=complex), "expected dtype float64"),
])
def test_unusual_arguments_take_the_generic_path_and_its_errors(arg, message):
    _, _, fn = step_function()
    with pytest.raises(InputError, match=message):
        fn(arg)


def test_lists_and_safe_casts_are_converted():
    _, _, fn = step_function()
    expected = fn(np.ones((2, 3)))
    _, _, fn = step_function()
    np.testing.assert_array_equal(fn([[1, 1, 1], [1, 1, 1]])[1], expected[1])
    _, _, fn = step_function()
    np.testing.assert_array_equal(fn(np.ones((2, 3), np.float32))[1], expected[1])


def test_broadcast_view_outputs_come_back_writable():
    x = gd.vector("x", (3,))
    fn = gd.function([x], gd.grad(gd.sum(x), x))
    g = fn(np.ones(3))
    g[0] = 5.0  # a broadcast view would refuse this
    np.testing.assert_array_equal(fn(np.ones(3)), np.ones(3))


def test_failure_inside_the_code_is_named_through_the_fast_path():
    a = gd.matrix("a", (None, None))
    b = gd.matrix("b", (None, None))
    fn = gd.function([a, b], a @ b)
    with pytest.raises(GraphRuntimeError, match="matmul"):
        fn(np.ones((2, 3)), np.ones((4, 5)))


def test_vectorized_calls_take_the_variant_through_the_fast_path():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    fn = gd.function([x1, x2], [f, *gd.grad(f, [x1, x2])])
    a, b = np.linspace(0.5, 3.0, 50), np.linspace(-3.0, 3.0, 50)
    value, d1, d2 = fn(a, b)
    assert list(fn._variants) == [(0, 1)]  # the buffer-reusing code for this pattern
    np.testing.assert_allclose(value, np.log(a) + a * b - np.sin(b), rtol=1e-15)
    np.testing.assert_allclose(d1, 1 / a + b, rtol=1e-15)
    np.testing.assert_allclose(d2, a - np.cos(b), rtol=1e-15)
    np.testing.assert_allclose(fn(a, 2.0)[0], np.log(a) + 2 * a - np.sin(2.0), rtol=1e-15)
    with pytest.raises(GraphRuntimeError, match="operands"):
        fn(np.ones(3), np.ones(4))  # no common shape: the generic path names the node

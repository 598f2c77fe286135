"""gd.function: compiled code, call-time checks, updates, run-time errors, name safety."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd


def lecture_f():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    return x1, x2, gd.log(x1) + x1 * x2 - gd.sin(x2)


def test_lecture_value_and_vectorized_call():
    x1, x2, f = lecture_f()
    fn = gd.function([x1, x2], f)
    assert fn(2.0, 5.0) == pytest.approx(11.652071455223084, rel=1e-14)
    points = np.linspace(1, 3, 1001)
    expected = np.log(points) + points * 5.0 - np.sin(5.0)
    np.testing.assert_allclose(fn(points, 5.0), expected, rtol=1e-14)


def test_source_is_straight_line_numpy_with_node_comments():
    x1, x2, f = lecture_f()
    source = gd.function([x1, x2], f, name="lecture", optimize=False).source
    assert source.startswith("def lecture(x1, x2):")
    body = [line for line in source.splitlines()[2:] if "=" in line and "return" not in line]
    assert len(body) == 5  # ln, *, +, sin, -: one statement per node
    assert "np.log(x1)" in source and "np.sin(x2)" in source
    assert all("#" in line for line in body)  # each statement says which node it computes
    assert "for " not in source and "while " not in source


def test_single_output_returns_array_list_returns_list():
    x = gd.vector("x", 3)
    one = gd.function([x], x.sum())
    many = gd.function([x], [x.sum(), x * 2])
    assert one(np.arange(3.0)) == 3.0
    result = many(np.arange(3.0))
    assert isinstance(result, list) and len(result) == 2
    np.testing.assert_array_equal(result[1], [0.0, 2.0, 4.0])


def test_shared_updates_read_old_values_and_persist():
    a = gd.shared(np.array(1.0), name="a")
    b = gd.shared(np.array(10.0), name="b")
    x = gd.scalar("x")
    # simultaneous: both updates see the values from before the call
    step = gd.function([x], a + b + x, updates={a: b, b: a + x})
    assert step(0.5) == 11.5
    assert a.get_value() == 10.0 and b.get_value() == 1.5
    assert step(0.0) == 11.5
    assert a.get_value() == 1.5 and b.get_value() == 10.0


def test_issue_example_with_batch_axis_and_updates():
    X = gd.matrix("X", shape=(None, 64))
    W = gd.shared(np.zeros((64, 10)), name="W")
    b = gd.shared(np.zeros(10), name="b")
    logits = X @ W + b
    step = gd.function([X], logits.sum(), updates={b: b - 0.1})
    batch = np.ones((7, 64))
    assert step(batch) == 0.0
    np.testing.assert_allclose(b.get_value(), np.full(10, -0.1))
    assert step(batch) == pytest.approx(7 * 10 * -0.1)
    np.testing.assert_allclose(b.get_value(), np.full(10, -0.2))


def test_set_value_checks_shape_and_dtype():
    w = gd.shared(np.zeros((2, 3)), name="w")
    expected = r"shared w: expected shape \(2, 3\), received \(3, 2\)"
    with pytest.raises(gd.InputError, match=expected):
        w.set_value(np.zeros((3, 2)))
    w.set_value(np.ones((2, 3)))
    assert w.get_value().sum() == 6.0


def test_wrong_argument_count():
    x1, x2, f = lecture_f()
    fn = gd.function([x1, x2], f)
    with pytest.raises(gd.InputError, match=r"takes 2 argument\(s\) \(x1, x2\), received 1"):
        fn(1.0)


def test_wrong_rank_and_static_size_name_the_input():
    X = gd.matrix("X", shape=(None, 4))
    fn = gd.function([X], X.sum(axis=1))
    with pytest.raises(gd.InputError, match=r"input X: expected shape \(\?, 4\) \(rank 2\), "
                                            r"received shape \(4,\) \(rank 1\)"):
        fn(np.ones(4))
    with pytest.raises(gd.InputError, match=r"input X: expected shape \(\?, 4\), received "
                                            r"\(2, 5\) \(axis 1 should be 4\)"):
        fn(np.ones((2, 5)))
    np.testing.assert_array_equal(fn(np.ones((3, 4))), [4.0, 4.0, 4.0])


def test_unsafe_dtype_is_refused_before_computing():
    x = gd.vector("x", dtype="float32")
    fn = gd.function([x], x * 2)
    with pytest.raises(gd.InputError, match="input x: expected dtype float32, received float64"):
        fn(np.ones(3))
    out = fn(np.ones(3, dtype=np.float32))
    assert out.dtype == np.float32
    assert fn([1.0, 2.0]).dtype == np.float32  # Python numbers are weakly typed
    labels = gd.vector("labels", dtype="int64")
    with pytest.raises(gd.InputError, match="input labels: expected dtype int64"):
        gd.function([labels], labels + 1)([0.5])


def test_float32_end_to_end_with_gradient():
    X = gd.matrix("X", shape=(None, 3), dtype="float32")
    W = gd.shared(np.ones((3, 2), dtype=np.float32), name="W")
    loss = gd.tanh(X @ W * 0.5).mean()
    (gW,) = gd.grad(loss, [W])
    fn = gd.function([X], [loss, gW], updates={W: W - 0.1 * gW})
    value, grad_w = fn(np.ones((4, 3), dtype=np.float32))
    assert value.dtype == np.float32 and grad_w.dtype == np.float32
    assert W.get_value().dtype == np.float32
    expected = (1 - np.tanh(1.5) ** 2) * 0.5 / 2  # d mean / d W_ij, summed over 4 rows / 8
    np.testing.assert_allclose(grad_w, np.full((3, 2), expected * 4 / 4), rtol=1e-6)


def test_runtime_size_clash_names_node_and_user_line():
    a = gd.vector("a")
    b = gd.vector("b")
    total = a + b  # the line the error must name
    fn = gd.function([a, b], total)
    with pytest.raises(gd.GraphRuntimeError) as info:
        fn(np.ones(3), np.ones(4))
    message = str(info.value)
    assert "add node" in message
    assert "test_function.py:" in message
    assert "run-time shape (3,)" in message and "run-time shape (4,)" in message
    assert info.value.__suppress_context__  # not chained to the NumPy traceback


def test_build_time_shape_error_names_op_and_operands():
    X = gd.matrix("X", shape=(None, 3))
    W = gd.matrix("W", shape=(4, 2))
    with pytest.raises(gd.ShapeError, match=r"matmul: inner sizes differ: X has shape \(\?, 3\) "
                                            r"and W has shape \(4, 2\)"):
        X @ W
    with pytest.raises(gd.ShapeError, match=r"add: operands cannot be broadcast"):
        gd.vector("u", 3) + gd.vector("v", 4)


def test_missing_input_is_reported():
    x1, x2, f = lecture_f()
    expected = "outputs depend on input x2 which is not in the inputs list"
    with pytest.raises(ValueError, match=expected):
        gd.function([x1], f)


def test_hostile_names_never_become_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = f"x\n__import__('os').system('touch {marker}')"
    x = gd.scalar(evil)
    y = gd.exp(x)
    one = gd.constant(1.0, name=f"c\n__import__('os').system('touch {marker}')")
    fn = gd.function([x], gd.add(y, one), name=evil)
    assert fn(0.0) == 2.0
    assert not marker.exists()
    for line in fn.source.splitlines():
        stripped = line.split("#", 1)[0]
        assert "__import__" not in stripped
    assert "\n__import__" not in fn.source


def test_user_names_become_variables_when_safe():
    x = gd.vector("features")
    y = gd.tanh(x)
    fn = gd.function([x], y, optimize=False)
    assert "def compiled(features):" in fn.source
    weird = gd.vector("not valid!")
    fn2 = gd.function([weird], weird * 2, optimize=False)
    assert "not valid!" not in fn2.source.split('"""')[0]


def test_dead_intermediates_are_released():
    x = gd.vector("x")
    y = gd.exp(x)  # a large temporary whose buffer no later statement can reuse
    z = gd.sum(y * 2.0, axis=0)
    w = gd.cos(z)
    source = gd.function([x], w, optimize=False).source
    assert "del v1" in source  # v1 took over v0's buffer (in place); freed after the sum


def test_nodes_are_immutable_and_have_no_truth_value():
    x = gd.scalar("x")
    with pytest.raises(AttributeError):
        x.shape = (3,)
    with pytest.raises(TypeError, match="gd.where"):
        bool(x > 0)

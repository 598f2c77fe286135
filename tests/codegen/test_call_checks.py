"""Call-time checks of compiled functions (issue 15): run-time sizes are checked before any code
runs (a numba kernel never reads or writes out of bounds), updates keep their shared variable's
shape, and a call that raises leaves every shared variable exactly as it was. Both backends."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphRuntimeError, InputError, ShapeError


def _backends():
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "numba"]


@pytest.fixture(params=_backends())
def backend(request) -> str:
    return request.param


def test_unknown_size_clashing_with_a_shared_variable_is_refused_before_the_kernel(backend):
    c = gd.shared(np.zeros(4), name="c")
    z = gd.vector("z")
    f = gd.function([z], None, updates={c: c + z}, backend=backend)
    f(np.ones(4))
    with pytest.raises(GraphRuntimeError) as info:
        f(np.array([10.0, 20.0]))
    message = str(info.value)
    assert "add node" in message and "test_call_checks.py:" in message
    assert "z f64[?] (run-time shape (2,))" in message
    assert "c f64[4] (run-time shape (4,))" in message
    np.testing.assert_array_equal(c.get_value(), np.ones(4))  # numba wrote [11, 21, ...] before
    f(np.full(4, 2.0))  # the same function still runs with the right size
    np.testing.assert_array_equal(c.get_value(), np.full(4, 3.0))


def test_two_unknown_sizes_that_must_agree_are_checked(backend):
    a, b = gd.vector("a"), gd.vector("b")
    f = gd.function([a, b], gd.sum(a * b), backend=backend)
    assert f(np.arange(3.0), np.arange(3.0)) == 5.0
    with pytest.raises(GraphRuntimeError, match=r"multiply node .*run-time shape \(3,\).*"
                                                r"run-time shape \(5,\)"):
        f(np.arange(3.0), np.arange(5.0))
    m = gd.matrix("m")  # matmul's inner sizes, both unknown
    g = gd.function([m, a], m @ a, backend=backend)
    with pytest.raises(GraphRuntimeError, match=r"matmul node"):
        g(np.ones((2, 3)), np.ones(4))
    np.testing.assert_array_equal(g(np.ones((2, 3)), np.ones(3)), [3.0, 3.0])


def test_an_update_never_changes_the_shape_of_its_shared_variable(backend):
    W = gd.shared(np.zeros(3), name="W")
    x = gd.vector("x")
    f = gd.function([x], None, updates={W: 2.0 * x}, backend=backend)
    with pytest.raises(ShapeError, match=r"shared W has run-time shape \(5,\), expected its "
                                         r"declared shape \(3,\)"):
        f(np.ones(5))
    assert W.get_value().shape == (3,) and not W.get_value().any()
    f(np.ones(3))
    np.testing.assert_array_equal(W.get_value(), [2.0, 2.0, 2.0])


def test_a_vectorized_call_cannot_turn_a_0d_shared_variable_into_a_vector(backend):
    s = gd.shared(np.float64(1.0), name="s")
    x = gd.scalar("x")
    f = gd.function([x], [x * 2.0], updates={s: s + x}, backend=backend)
    with pytest.raises(ShapeError, match=r"shared s has run-time shape \(5,\), expected its "
                                         r"declared shape \(\)"):
        f(np.ones(5))
    assert s.get_value().shape == () and s.get_value() == 1.0
    g = gd.function([x], x * 2.0, backend=backend)  # without updates the call still vectorizes
    np.testing.assert_array_equal(g(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_build_time_update_shape_clash_names_the_shared_variable():
    W = gd.shared(np.zeros(3), name="W")
    with pytest.raises(ShapeError, match=r"shared W has shape \(4,\), expected \(3,\)"):
        gd.function([], None, updates={W: gd.constant(np.ones(4))})


def test_a_failing_call_leaves_every_shared_variable_as_it_was(backend):
    W = gd.shared(np.ones(3), name="W")
    c = gd.shared(np.zeros(4), name="c")
    x, z = gd.vector("x", (3,)), gd.vector("z")
    f = gd.function([x, z], None, updates={W: W - x, c: c + z}, backend=backend)
    with pytest.raises(GraphRuntimeError, match="add node"):
        f(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(W.get_value(), np.ones(3))  # was written in place before
    np.testing.assert_array_equal(c.get_value(), np.zeros(4))
    f(np.ones(3), np.ones(4))
    np.testing.assert_array_equal(W.get_value(), np.zeros(3))
    assert "out=W" in f.source or backend == "numba"  # still updated in place when it succeeds


def test_a_numpy_failure_inside_the_update_statements_leaves_state_untouched(backend):
    W = gd.shared(np.ones(3), name="W")
    c = gd.shared(np.zeros(()), name="c")
    x = gd.vector("x", (3,))
    i = gd.scalar("i", dtype="int64")
    new_w = W - x  # read again by the next update: written into W's buffer mid-code before
    # a computed index: not an argument, so only the gather itself can find it out of range
    f = gd.function([x, i], None, updates={W: new_w, c: new_w[i * 3 - 2]}, backend=backend)
    with pytest.raises(GraphRuntimeError, match="index 7 is out of bounds"):
        f(np.ones(3), np.int64(3))
    np.testing.assert_array_equal(W.get_value(), np.ones(3))
    assert c.get_value() == 0.0
    f(np.full(3, 0.5), np.int64(1))
    np.testing.assert_array_equal(W.get_value(), np.full(3, 0.5))
    assert c.get_value() == 0.5


def test_in_place_updates_of_an_optimizer_step_are_kept():
    from graphdl import optim

    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(np.ones((3, 2)), name="W")
    loss = gd.tanh(X @ W).sum()
    step = gd.function([X], loss, updates=optim.Adam(0.01).updates(loss, [W]))
    assert "out=W_s)" in step.source and "out=W_r)" in step.source and "out=W)" in step.source


@pytest.mark.parametrize("make", [
    lambda W: W * 1.0, lambda W: W ** 1, lambda W: gd.stop_gradient(W), lambda W: W,
    lambda W: W.T, lambda W: W[0], lambda W: gd.reshape(W, (6,)),
], ids=["times-one", "power-one", "stop-gradient", "itself", "transpose", "row", "reshape"])
@pytest.mark.parametrize("optimize", [True, False])
def test_returned_arrays_never_alias_a_shared_variable(backend, make, optimize):
    W = gd.shared(np.arange(6.0).reshape(2, 3), name="W")
    x = gd.scalar("x")
    f = gd.function([x], [make(W), x * 2.0], optimize=optimize, backend=backend)
    out, _ = f(1.0)
    out[...] = -1.0
    np.testing.assert_array_equal(W.get_value(), np.arange(6.0).reshape(2, 3))
    again, _ = f._call_checked((1.0,))  # the generic path too
    again[...] = -1.0
    np.testing.assert_array_equal(W.get_value(), np.arange(6.0).reshape(2, 3))


def test_a_returned_new_value_is_not_the_stored_state(backend):
    W = gd.shared(np.zeros(3), name="W")
    x = gd.vector("x", (3,))
    new = W + x
    f = gd.function([x], new, updates={W: new}, backend=backend)
    out = f(np.ones(3))
    out[...] = 100.0
    np.testing.assert_array_equal(W.get_value(), np.ones(3))


def _classifier_step(form: str, backend: str):
    X = gd.matrix("X", (None, 4))
    y = gd.vector("y", dtype="int64")
    W = gd.shared(np.linspace(-0.5, 0.5, 12).reshape(4, 3), name="W")
    h = X @ W
    if form == "take_along_axis":
        loss = -gd.take_along_axis(gd.log_softmax(h, axis=1), y[:, None], axis=1).mean()
    elif form == "one_hot":
        loss = -(gd.one_hot(y, 3) * gd.log_softmax(h, axis=1)).sum(axis=1).mean()
    else:
        from graphdl.nn import losses

        loss = losses.softmax_cross_entropy(h, y)
    (g,) = gd.grad(loss, [W])
    return W, gd.function([X, y], loss, updates={W: W - 0.1 * g}, backend=backend)


@pytest.mark.parametrize("form", ["take_along_axis", "one_hot", "nn.losses"])
@pytest.mark.parametrize("label", [-1, 3, -4])
def test_out_of_range_class_labels_are_refused_in_every_form(backend, form, label):
    W, step = _classifier_step(form, backend)
    before = W.get_value()
    with pytest.raises(InputError, match=rf"input y: class labels must be in \[0, 3\) for "
                                         rf"\w+ node .*test_call_checks.py:\d+\); received "
                                         rf"{label} at position \(1,\)"):
        step(np.ones((2, 4)), np.array([0, label]))
    np.testing.assert_array_equal(W.get_value(), before)  # -1 used to train on the last class
    loss = step(np.ones((2, 4)), np.array([0, 2]))
    logits = np.ones((2, 4)) @ before
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(log_p[0, 0] + log_p[1, 2]) / 2, rel=1e-12)


def test_take_wraps_negative_indices_like_numpy_and_refuses_out_of_range(backend):
    x = gd.vector("x", (4,))
    i = gd.vector("i", dtype="int64")
    f = gd.function([x, i], gd.take(x, i), backend=backend)
    values = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(f(values, np.array([-1, -4, 0])), [4.0, 1.0, 1.0])
    for bad in (4, -5):
        with pytest.raises(InputError, match=rf"input i: indices must be in \[-4, 4\) for take "
                                             rf"node .*; received {bad} at position \(0,\)"):
            f(values, np.array([bad, 0]))


@pytest.mark.parametrize("declare", [
    lambda: gd.scalar("x", dtype="longdouble"),
    lambda: gd.shared(np.zeros(2, dtype=np.longdouble), name="w"),
    lambda: gd.constant(np.longdouble(2.0)),
], ids=["input", "shared", "constant"])
def test_extended_precision_is_refused_where_it_is_declared(declare):
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(gd.DTypeError,
                       match=r"dtype float(96|128) \(extended precision\) is not supported"):
        declare()  # it used to compile into an emitter that recursed forever on 0-d constants


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint16"])
def test_label_checks_for_every_integer_dtype(dtype):
    z = gd.matrix("z", (None, 3))
    y = gd.vector("y", dtype=dtype)
    f = gd.function([z, y], gd.take_along_axis(z, y[:, None], axis=1))
    rows = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(f(rows, np.array([2, 0], dtype)), [[2.0], [3.0]])
    bad = np.array([0, 3], dtype) if dtype.startswith("u") else np.array([0, -1], dtype)
    with pytest.raises(InputError, match=r"input y: class labels must be in \[0, 3\)"):
        f(rows, bad)


def test_an_unpickled_function_still_checks_its_labels():
    import pickle

    z = gd.matrix("z", (None, 3))
    y = gd.vector("y", dtype="int64")
    f = gd.function([z, y], -gd.take_along_axis(gd.log_softmax(z, axis=1), y[:, None], 1).sum())
    copy = pickle.loads(pickle.dumps(f))  # as a Dask worker receives it
    rows = np.zeros((2, 3))
    assert copy(rows, np.array([0, 2])) == pytest.approx(2 * np.log(3.0), rel=1e-12)
    with pytest.raises(InputError, match=r"input y: class labels must be in \[0, 3\) for \w+ "
                                         r"node .*test_call_checks.py:\d+\); received -1"):
        copy(rows, np.array([0, -1]))

"""Buffer reuse must be invisible: results equal a run without it, updates read old values."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd


def test_sgd_updates_write_into_the_parameters_and_stay_correct():
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 4))
    W = gd.shared(rng.normal(size=(4, 3)), name="W")
    b = gd.shared(np.zeros(3), name="b")
    loss = gd.tanh(X @ W + b).sum()
    gW, gb = gd.grad(loss, [W, b])
    step = gd.function([X], loss, updates={W: W - 0.1 * gW, b: b - 0.1 * gb})
    assert "out=W)" in step.source and "out=b)" in step.source
    W0, b0 = W.get_value(), b.get_value()
    data = rng.normal(size=(5, 4))
    t = np.tanh(data @ W0 + b0)
    expected_gW = data.T @ (1 - t**2)
    step(data)
    np.testing.assert_allclose(W.get_value(), W0 - 0.1 * expected_gW, rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), b0 - 0.1 * (1 - t**2).sum(0), rtol=1e-12)


def test_updates_that_read_each_other_still_see_old_values():
    a = gd.shared(np.array([1.0, 2.0]), name="a")
    b = gd.shared(np.array([10.0, 20.0]), name="b")
    step = gd.function([], None, updates={a: a + b, b: b + a})
    step()
    np.testing.assert_array_equal(a.get_value(), [11.0, 22.0])
    np.testing.assert_array_equal(b.get_value(), [11.0, 22.0])
    step()
    np.testing.assert_array_equal(a.get_value(), [22.0, 44.0])
    np.testing.assert_array_equal(b.get_value(), [22.0, 44.0])


def test_returned_views_of_state_are_not_overwritten():
    W = gd.shared(np.arange(6.0).reshape(2, 3), name="W")
    fn = gd.function([], W.T, updates={W: W - 1})
    first = fn()
    np.testing.assert_array_equal(first, np.arange(6.0).reshape(2, 3).T)
    second = fn()
    np.testing.assert_array_equal(first, np.arange(6.0).reshape(2, 3).T)  # unchanged
    np.testing.assert_array_equal(second, np.arange(6.0).reshape(2, 3).T - 1)


def test_returned_update_value_does_not_alias_the_state():
    w = gd.shared(np.zeros(3), name="w")
    new = w + 1
    fn = gd.function([], new, updates={w: new})
    first = fn()
    second = fn()
    np.testing.assert_array_equal(first, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(second, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


def test_temporaries_read_twice_are_not_reused_too_early():
    x = gd.vector("x", 4)
    h = gd.exp(x)  # read by two consumers
    y = gd.sin(h) + gd.cos(h) * h
    fn = gd.function([x], y, optimize=False)
    values = np.linspace(-1, 1, 4)
    e = np.exp(values)
    np.testing.assert_allclose(fn(values), np.sin(e) + np.cos(e) * e, rtol=1e-14)


def test_batch_sized_temporaries_are_reused_only_when_shapes_are_provably_equal():
    X = gd.matrix("X", shape=(None, 3))
    v = gd.matrix("v", shape=(None, 1))  # may stretch X's columns
    out = gd.exp(X) + v
    fn = gd.function([X, v], out, optimize=False)
    assert "out=" not in fn.source.split("# add")[0].splitlines()[-1]
    X0, v0 = np.ones((2, 3)), np.full((2, 1), 2.0)
    np.testing.assert_allclose(fn(X0, v0), np.exp(X0) + v0)
    row = gd.vector("row", 3)
    fn2 = gd.function([X, row], gd.exp(X) + row, optimize=False)
    assert "np.add(" in fn2.source and "out=" in fn2.source
    np.testing.assert_allclose(fn2(X0, np.arange(3.0)), np.exp(X0) + np.arange(3.0))


def test_vectorized_calls_reuse_buffers_and_stay_correct_for_every_argument_pattern():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    fn = gd.function([x1, x2], [f, *gd.grad(f, [x1, x2])])

    def expected(a, b):
        return [np.log(a) + a * b - np.sin(b), 1 / a + b, a - np.cos(b)]

    a = np.linspace(1.0, 3.0, 7)
    b = np.linspace(4.0, 6.0, 7)
    column, row = a[:, None], b[None, :5]
    for args in [(a, 5.0), (2.0, b), (a, b), (column, row), (2.0, 5.0), (a, 5.0)]:
        got = fn(*args)
        for g, e in zip(got, expected(*args)):
            np.testing.assert_allclose(g, np.broadcast_to(e, np.shape(g)), rtol=1e-14)
            assert np.shape(g) == np.broadcast_shapes(*[np.shape(x) for x in args]) or (
                np.ndim(g) == 0)
    assert "out=" in fn._variants[(0,)][1].source  # (a, 5.0): temporaries reused
    assert (0, 1) in fn._variants and len(fn._variants) == 3  # (column, row) used plain code
    with pytest.raises(gd.GraphRuntimeError, match="run-time shape"):
        fn(np.ones(3), np.ones(4))


def test_adam_state_is_updated_in_its_own_buffers_and_matches_eqs_72_to_76():
    from graphdl import optim

    rng = np.random.default_rng(1)
    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(rng.normal(size=(3, 2)), name="W")
    loss = gd.tanh(X @ W).sum()
    opt = optim.Adam(0.01)
    step = gd.function([X], loss, updates=opt.updates(loss, [W]))
    assert "out=W_s)" in step.source and "out=W_r)" in step.source  # eqs. 72-73 in place
    data = rng.normal(size=(4, 3))
    s = r = np.zeros((3, 2))
    w = W.get_value()
    for t in range(1, 4):
        g = data.T @ (1 - np.tanh(data @ w) ** 2)
        s, r = 0.9 * s + 0.1 * g, 0.999 * r + 0.001 * g * g
        w = w - 0.01 * (s / (1 - 0.9**t)) / (1e-8 + np.sqrt(r / (1 - 0.999**t)))
        step(data)
    np.testing.assert_allclose(W.get_value(), w, rtol=1e-12)


def test_state_shared_by_functions_with_and_without_in_place_updates():
    w = gd.shared(np.zeros(3), name="w")
    c = gd.shared(np.array(0.0), name="c")
    in_place = gd.function([], None, updates={w: w + 1, c: c + 1})
    # a broadcast view (read-only) and a NumPy scalar as new values
    views = gd.function([], None, updates={w: gd.broadcast_to(gd.constant(5.0), (3,)), c: c * 2})
    in_place()
    views()
    in_place()
    np.testing.assert_array_equal(w.get_value(), [6.0, 6.0, 6.0])
    assert c.get_value() == 3.0


def test_a_buffer_written_in_place_is_freed_when_its_new_name_dies():
    import tracemalloc

    x = gd.vector("x", (None,))
    first = gd.sum(gd.sin(gd.exp(x)))  # exp's buffer is reused by sin, then summed and dropped
    second = gd.sum(gd.cos(x) * 3.0)  # needs a buffer of the same size afterwards
    fn = gd.function([x], first + second, optimize=False)
    values = np.linspace(0.0, 1.0, 250_000)  # 2 MB per array
    fn(values)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn(values)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert result == pytest.approx(np.sin(np.exp(values)).sum() + (np.cos(values) * 3).sum())
    assert peak < 1.5 * values.nbytes  # one array at a time, not the first kept alive by name

"""Compiled functions travel by pickle (source, constants, argument checks, shared values at
pickling time) and recompile on arrival; parameters-as-inputs keeps copies from going stale.
No cluster here: these run in milliseconds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphdl as gd

pytest.importorskip("distributed")  # graphdl.distributed needs Dask (the test extra has it)

from graphdl.distributed import explicit_function, params_as_inputs, substitute
from graphdl.distributed.shards import Partial, combine, finish, run_shard, tree_reduce


def _mlp_step(rng):
    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(rng.normal(size=(3, 2)), name="W")
    c = gd.constant(np.array([0.5, -1.0]))  # an array constant: hoisted into the namespace
    h = gd.tanh(X @ W + c)
    loss = gd.mean(gd.square(h))
    f = gd.function([X], [h, loss, gd.grad(loss, W)], updates={W: W - 0.1 * gd.grad(loss, W)})
    return X, W, f


def test_pickle_round_trip_gives_the_same_outputs(rng):
    _, W, f = _mlp_step(rng)
    x = rng.normal(size=(5, 3))
    w0 = W.get_value()
    g = pickle.loads(pickle.dumps(f))
    ours = g(x)  # the copy runs first and updates only its own W
    assert np.array_equal(W.get_value(), w0)
    theirs = f(x)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    expected = np.tanh(x @ w0 + [0.5, -1.0])
    np.testing.assert_allclose(ours[0], expected, rtol=1e-14)
    # Both took one step from w0: the next calls agree again, and differ from the first.
    again_g, again_f = g(x), f(x)
    np.testing.assert_array_equal(again_g[1], again_f[1])
    assert again_g[1] < ours[1]
    assert "unpickled" in repr(g) and g.source == f.source


def test_an_unpickled_copy_keeps_the_values_it_was_pickled_with(rng):
    X, W, _ = _mlp_step(rng)
    f = gd.function([X], gd.sum(X @ W))
    x, w0 = np.ones((2, 3)), W.get_value()
    data = pickle.dumps(f)
    W.set_value(np.zeros((3, 2)))
    assert f(x) == 0.0
    assert pickle.loads(data)(x) == pytest.approx(2 * w0.sum(), rel=1e-14)


def test_unpickled_copy_still_checks_arguments_and_explains_failures():
    X = gd.matrix("X", shape=(None, 3))
    f = pickle.loads(pickle.dumps(gd.function([X], gd.reshape(X, (5,)))))
    with pytest.raises(gd.InputError, match=r"input X: expected shape \(\?, 3\)"):
        f(np.ones((2, 4)))
    with pytest.raises(gd.GraphRuntimeError, match=r"at `.*np\.reshape\(X, \(5,\)\).*reshape f64"):
        f(np.ones((4, 3)))


def test_float32_function_round_trips_in_float32(rng):
    X = gd.matrix("X", shape=(None, 2), dtype="float32")
    f = pickle.loads(pickle.dumps(gd.function([X], gd.exp(X) * 2.0)))
    x = rng.normal(size=(3, 2)).astype("float32")
    out = f(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.exp(x) * 2, rtol=1e-6)


def test_a_pickle_of_another_format_is_refused(rng):
    _, _, f = _mlp_step(rng)
    restore, (state,) = f.__reduce__()
    state["format"] = 999
    with pytest.raises(ValueError, match="format 999"):
        restore(state)


def test_params_as_inputs_takes_values_as_arguments(rng):
    X, W, _ = _mlp_step(rng)
    b = gd.shared(np.array([1.0, 2.0]), name="b")
    out = gd.sum(gd.tanh(X @ W + b))
    f = explicit_function([X], [out, gd.grad(out, W)], [W, b])
    x, w, bias = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), np.array([0.3, -0.2])
    value, dw = f(x, w, bias)
    h = np.tanh(x @ w + bias)
    assert value == pytest.approx(h.sum(), rel=1e-14)
    np.testing.assert_allclose(dw, x.T @ (1 - h**2), rtol=1e-13)
    # The shared variables' own values are never read.
    W.set_value(np.zeros((3, 2)))
    assert f(x, w, bias)[0] == pytest.approx(value, rel=1e-15)
    (rewritten,), inputs = params_as_inputs([out], [W, b])
    assert [i.name for i in inputs] == ["W", "b"] and all(i.op.name == "input" for i in inputs)
    assert rewritten is not out


def test_explicit_function_refuses_a_shared_variable_left_out(rng):
    X, W, _ = _mlp_step(rng)
    scale = gd.shared(np.float64(2.0), name="scale")
    with pytest.raises(ValueError, match="read shared scale f64"):
        explicit_function([X], gd.sum(X @ W) * scale, [W])


def test_substitute_checks_types_and_reuses_untouched_nodes():
    x, y = gd.vector("x", shape=(3,)), gd.vector("y", shape=(3,))
    side = gd.exp(y)
    out = gd.sum(gd.sin(x) * side)
    z = gd.vector("z", shape=(3,))
    (new,) = substitute([out], {x: z})
    f = gd.function([z, y], new)
    np.testing.assert_allclose(f(np.ones(3), np.zeros(3)), 3 * np.sin(1.0), rtol=1e-15)
    assert substitute([side], {x: z})[0] is side
    with pytest.raises(gd.ShapeError, match="cannot replace"):
        substitute([out], {x: gd.vector("w", shape=(4,))})


def test_shard_sums_reduce_to_the_whole_batch_mean(rng):
    x = rng.normal(size=(10, 3))
    X = gd.matrix("X", shape=(None, 3))
    f = gd.function([X], [gd.mean(X), gd.mean(X, axis=0)])
    parts = [run_shard(f, "mean", [x[lo:hi]], []) for lo, hi in [(0, 3), (3, 4), (4, 10)]]
    total = tree_reduce(parts, lambda fn, *a: fn(*a), split_every=2)
    assert total.rows == 10
    mean, column = finish(total, "mean")
    assert mean == pytest.approx(x.mean(), rel=1e-14)
    np.testing.assert_allclose(column, x.mean(axis=0), rtol=1e-14)
    summed = finish(combine(Partial(1, [np.float64(2.0)]), Partial(4, [np.float64(3.0)])), "sum")
    assert summed == [5.0]
    with pytest.raises(ValueError, match="nothing to reduce"):
        tree_reduce([], lambda fn, *a: fn(*a))


def test_map_batches_checks_its_function_and_the_rows_it_returns(rng):
    import dask
    import dask.array as da

    from graphdl.distributed import map_batches

    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(np.ones((3, 2)), name="W")
    x = da.from_array(rng.normal(size=(10, 3)), chunks=4)
    with pytest.raises(ValueError, match="has updates"):
        map_batches(gd.function([X], X @ W, updates={W: W * 2.0}), x)
    with pytest.raises(TypeError, match="no argument is a dask array"):
        map_batches(gd.function([X], X @ W), x.compute())
    with pytest.raises(ValueError, match="only the first size may be unknown"):
        map_batches(gd.function([X], gd.transpose(X)), x)
    doubled = map_batches(gd.function([X], gd.concatenate([X, X], axis=0)), x)
    with dask.config.set(scheduler="sync"), pytest.raises(ValueError, match="one row per input"):
        doubled.compute()
    # Extra whole arguments reach every chunk: X @ W + b with b given as a NumPy array.
    b = gd.vector("b", shape=(2,))
    out = map_batches(gd.function([X, b], X @ W + b), x, np.array([1.0, -1.0]))
    with dask.config.set(scheduler="sync"):
        np.testing.assert_allclose(out.compute(), x.compute() @ np.ones((3, 2)) + [1.0, -1.0],
                                   rtol=1e-15)

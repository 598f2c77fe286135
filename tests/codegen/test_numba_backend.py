"""backend="numba": one njit kernel per function, equal to the NumPy backend (the reference).

numba compiles each kernel at its first call (seconds), so functions are built once per module
and each covers many ops; results are compared with the NumPy backend's for the same graph.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphError, GraphRuntimeError, InputError

pytest.importorskip("numba")
pytest.importorskip("scipy")

TOL = {"float64": {"rtol": 1e-12, "atol": 1e-13}, "float32": {"rtol": 2e-5, "atol": 2e-6}}


def _mlp(dtype: str, backend: str):
    """A 6-5-3 ReLU MLP SGD step on the mean cross-entropy (the benchmark's graph)."""
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 6), dtype=dtype)
    y = gd.vector("y", shape=(None,), dtype="int64")
    values = [rng.standard_normal(s).astype(dtype) for s in [(6, 5), (5,), (5, 3), (3,)]]
    params = [gd.shared(v, name=n) for v, n in zip(values, ["W1", "b1", "W2", "b2"])]
    h = gd.relu(X @ params[0] + params[1]) @ params[2] + params[3]
    loss = -gd.take_along_axis(gd.log_softmax(h, axis=1), y[:, None], axis=1).mean()
    grads = gd.grad(loss, params)
    lr = np.asarray(0.1, dtype=dtype)
    step = gd.function([X, y], loss, updates={p: p - lr * g for p, g in zip(params, grads)},
                       name="step", backend=backend)
    return step, params


@pytest.fixture(scope="module", params=["float64", "float32"])
def mlp_pair(request):
    dtype = request.param
    return dtype, _mlp(dtype, "numpy"), _mlp(dtype, "numba")


def assert_steps_agree(dtype, ref, ref_params, fn, params, steps, batch, seed):
    """Training steps of both backends on the same batches: equal losses (typed as the NumPy
    backend's) and equal parameters of the right dtype after every step."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        X = rng.standard_normal((batch, 6)).astype(dtype)
        y = rng.integers(0, 3, batch)
        expected, got = ref(X, y), fn(X, y)
        assert type(got) is type(expected) is np.dtype(dtype).type
        np.testing.assert_allclose(got, expected, **TOL[dtype])
        for a, b in zip(ref_params, params):
            assert b.get_value().dtype == np.dtype(dtype)
            np.testing.assert_allclose(b.get_value(), a.get_value(), **TOL[dtype])


def test_mlp_training_steps_equal_numpy_backend(mlp_pair):
    dtype, (ref, ref_params), (fn, params) = mlp_pair
    assert_steps_agree(dtype, ref, ref_params, fn, params, steps=4, batch=8, seed=1)
    assert "@njit" not in fn.source and fn.source.startswith("def step(X, y, W1, b1, W2, b2):")
    assert "_nb." in fn.source and "# matmul" in fn.source  # the NumPy source's comments


def test_state_is_updated_in_place(mlp_pair):
    dtype, _, (fn, params) = mlp_pair
    before = [p.get_value(copy=False) for p in params]
    fn(np.ones((2, 6), dtype), np.array([0, 2]))
    assert all(p.get_value(copy=False) is b for p, b in zip(params, before))


def test_input_errors_identical_to_numpy_backend(mlp_pair):
    dtype, (ref, _), (fn, _) = mlp_pair
    bad_calls = [(np.ones((2, 5), dtype), np.zeros(2, int)),  # wrong width
                 (np.ones(6, dtype), np.zeros(2, int)),  # wrong rank
                 (np.ones((2, 6), dtype), np.zeros(2, np.float64)),  # labels not integers
                 (np.ones((2, 6), dtype),)]  # one argument missing
    for args in bad_calls:
        with pytest.raises(InputError) as numpy_error:
            ref(*args)
        with pytest.raises(InputError) as numba_error:
            fn(*args)
        assert str(numba_error.value) == str(numpy_error.value)


@pytest.fixture(scope="module", params=["float32", "float64"])
def families(request):
    """Op families in both backends. numba's compile time grows with the kernel (~20 s for
    all of these at once), so float32 gets the dtype-sensitive ones (weak literals, scalars,
    reductions, the softmax family) and float64 indexing, shapes and gradients."""
    dtype = request.param
    x = gd.matrix("x", shape=(None, 4), dtype=dtype)  # None batch axis
    b = gd.vector("b", shape=(4,), dtype=dtype)
    s = gd.scalar("s", dtype=dtype)
    idx = gd.vector("idx", shape=(None,), dtype="int64")
    lab = gd.vector("lab", shape=(None,), dtype="int64")  # one label per row of x
    W = gd.shared(np.linspace(-1, 1, 12).reshape(4, 3).astype(dtype), name="W")
    if dtype == "float32":
        outputs = [
            gd.sigmoid(x) * 0.5 + gd.softplus(x - 1.0) - gd.relu(x) ** 2,  # weak literals
            gd.where(x > 0.25, gd.exp(-x), gd.log1p(gd.abs(x))) + gd.clip(x, -0.5, b),
            gd.maximum(x, s) / (1.0 + s * s), gd.tanh(x + b),  # broadcasting over the batch
            x.sum(axis=0), x.max(axis=1, keepdims=True), x.mean(), gd.min(x, axis=0),
            gd.argmax(x, axis=1), (x * x).sum(axis=(0, 1), keepdims=True),
            gd.prod(x + 2, axis=1), gd.softmax(x, axis=1), gd.log_softmax(x, axis=0),
            gd.logsumexp(x, axis=1), gd.logsumexp(x, axis=0, keepdims=True), x[0, 1] * s,
        ]
    else:
        outputs = [
            x[1:, ::2], x[:, 0], gd.take(x, idx, axis=0), gd.take_along_axis(x, lab[:, None], 1),
            gd.one_hot(lab, 4, dtype=dtype), x @ W, gd.transpose(x) @ x,
            gd.expand_dims(b, 0) + gd.squeeze(gd.expand_dims(x, 1), 1), gd.reshape(x, (-1, 2)),
            gd.concatenate([x, x * 2], axis=1), gd.cast(x > 0, dtype) + s,
        ]
        cost = (gd.sum(gd.log_softmax(x @ W, axis=1) * outputs[4][:, :3])
                + gd.sum(x[1:, ::2] * x[:-1, 1::2]) + gd.sum(outputs[2] ** 3)
                + gd.sum(outputs[3]) + gd.sum(gd.concatenate([x, x * s], axis=0)))
        outputs += gd.grad(cost, [x, s, W])
    inputs = [x, b, s, idx, lab]
    return (dtype, gd.function(inputs, outputs, name="ref"),
            gd.function(inputs, outputs, name="families", backend="numba"))


def test_op_families_equal_numpy_backend(families):
    dtype, ref, fn = families
    rng = np.random.default_rng(2)
    args = [rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal(4).astype(dtype),
            np.asarray(0.75, dtype), np.array([4, 0, 2, 2, 1, 3]), np.array([3, 0, 1, 1, 2])]
    args[0][2, 1] = args[0][2, 3]  # a tie for max / argmax
    expected, got = ref(*args), fn(*args)
    assert len(got) == len(expected) == (16 if dtype == "float32" else 14)
    for i, (e, g) in enumerate(zip(expected, got)):
        assert np.shape(g) == np.shape(e), f"output {i}"
        assert np.result_type(g) == np.result_type(e), f"output {i}: {np.result_type(g)}"
        np.testing.assert_allclose(g, e, **TOL[dtype], err_msg=f"output {i}")


def test_scalar_graph_keeps_float32_and_vectorized_calls_use_numpy_code():
    x = gd.scalar("x", dtype="float32")
    fn = gd.function([x], gd.sigmoid(x) * 3.0 + 1.0 / x, backend="numba")
    value = fn(np.float32(0.5))
    assert type(value) is np.float32
    assert value == pytest.approx(3 / (1 + np.exp(-0.5)) + 2, rel=1e-6)
    points = np.linspace(0.5, 2, 7, dtype=np.float32)
    many = fn(points)  # extra leading axis: the NumPy code runs it
    assert many.dtype == np.float32 and many.shape == (7,)
    np.testing.assert_allclose(many, 3 / (1 + np.exp(-points)) + 1 / points, rtol=1e-6)
    restored = pickle.loads(pickle.dumps(fn))  # recompiles the kernel on arrival
    assert restored.source == fn.source and type(restored(np.float32(0.5))) is np.float32
    assert restored(np.float32(0.5)) == value


def test_run_time_error_names_the_node():
    a, c = gd.vector("a", shape=(None,)), gd.vector("c", shape=(None,))
    fn = gd.function([a, c], gd.exp(a) + c, backend="numba")
    np.testing.assert_allclose(fn(np.zeros(3), np.ones(3)), [2.0, 2.0, 2.0])
    with pytest.raises(GraphRuntimeError, match=r"add node .* failed.*operands"):
        fn(np.zeros(3), np.ones(4))
    third = gd.function([a], a[3] * 2.0, backend="numba")  # bounds checked, not read past
    assert third(np.arange(5.0)) == 6.0
    with pytest.raises(GraphRuntimeError, match=r"getitem node .* 3 is out of bounds for axis 0"):
        third(np.arange(2.0))


def test_labels_out_of_range_raise(mlp_pair):
    dtype, _, (fn, params) = mlp_pair
    before = [p.get_value() for p in params]
    with pytest.raises(InputError, match=r"input y: class labels must be in \[0, 3\)"):
        fn(np.ones((2, 6), dtype), np.array([0, 3]))  # 3 classes: label 3 is out of range
    for p, b in zip(params, before):  # the failure came before the updates
        np.testing.assert_array_equal(p.get_value(), b)


def test_unsupported_op_fails_at_compile_time_naming_it():
    x = gd.tensor("x", shape=(2, 3, 4))
    w = gd.tensor("w", shape=(2, 4, 5))
    with pytest.raises(GraphError, match=r"cannot compile matmul node .*backend='numpy'"):
        gd.function([x, w], x @ w, backend="numba")


def test_backend_argument_checked():
    x = gd.scalar("x")
    with pytest.raises(ValueError, match="unknown backend 'jax'.*'numpy', 'numba'"):
        gd.function([x], x + 1, backend="jax")


def test_missing_numba_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    x = gd.scalar("x")
    with pytest.raises(ImportError, match=r"pip install graphdl\[numba\]") as error:
        gd.function([x], x + 1, backend="numba")
    assert isinstance(error.value, GraphError)


def test_kernels_cached_in_graphdl_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHDL_CACHE", str(tmp_path))
    x = gd.vector("x", shape=(None,))
    total = gd.exp(x).sum()
    first = gd.function([x], total, name="cached", backend="numba")
    second = gd.function([x], total, name="cached", backend="numba")
    files = list((tmp_path / "numba").glob("*.py"))
    assert len(files) == 1 and files[0].read_text() == first.source  # one file per kernel
    assert first(np.zeros(3)) == second(np.zeros(3)) == 3.0
    assert list((tmp_path / "numba" / "__pycache__").glob("*.nbi"))  # numba's machine code
    monkeypatch.setenv("GRAPHDL_CACHE", "off")
    uncached = gd.function([x], gd.exp(x).sum() + 1.0, backend="numba")
    assert uncached(np.zeros(2)) == 3.0 and len(list((tmp_path / "numba").glob("*.py"))) == 1


def test_sum_to_of_unknown_sizes_equals_numpy_backend():
    """sum_to (the adjoint of a broadcast between two unknown sizes, as dropout masks meet a
    batch) returns its operand when the run-time shapes agree, the common case, and sums the
    broadcast axes (leading ones too) when they differ."""
    from graphdl.codegen import numba_kernels

    X, m = gd.matrix("X", shape=(None, 4)), gd.matrix("m", shape=(None, 3))
    a, v = gd.matrix("a", shape=(None, None)), gd.vector("v", shape=(None,))
    W = gd.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
    cost = gd.sum(gd.tanh(X @ W) * m) + gd.sum(gd.tanh(a + v) * a)
    grads = gd.grad(cost, [W, v])
    ref = gd.function([X, m, a, v], grads)
    fn = gd.function([X, m, a, v], grads, name="sum_to", backend="numba")
    assert fn.source.count("_nb.sum_to(") == 3
    rng = np.random.default_rng(3)
    for rows_x, rows_m, width_v in [(5, 5, 3), (1, 5, 3), (5, 1, 1), (4, 4, 1)]:
        args = [rng.standard_normal((rows_x, 4)), rng.standard_normal((rows_m, 3)),
                rng.standard_normal((5, 3)), rng.standard_normal(width_v)]
        for got, expected in zip(fn(*args), ref(*args)):
            np.testing.assert_allclose(got, expected, **TOL["float64"])
    x = rng.standard_normal((6, 4))
    assert numba_kernels.sum_to(x, (6, 4)) is x  # no copy, no loop when nothing is summed
    np.testing.assert_allclose(numba_kernels.sum_to(x, (1, 4)), x.sum(axis=0, keepdims=True))
    with pytest.raises(ValueError, match="does not broadcast"):
        numba_kernels.sum_to(x, (3, 4))


def test_row_sums_equal_numpy_for_every_length():
    """Eight interleaved accumulators and a tail: every length mod 8, any layout, int64 too."""
    from graphdl.codegen import numba_kernels

    rng = np.random.default_rng(4)
    for k in [0, 1, 7, 8, 9, 16, 23, 1000]:
        x = rng.standard_normal((3, k))
        np.testing.assert_allclose(numba_kernels.sum_rows(x), x.sum(axis=1), rtol=1e-13)
        np.testing.assert_allclose(numba_kernels.sum_rows(x.T.copy().T), x.sum(axis=1),
                                   rtol=1e-13)
        ints = rng.integers(-9, 9, (2, k))
        np.testing.assert_array_equal(numba_kernels.sum_rows(ints), ints.sum(axis=1))


def test_scipy_blas_takes_a_thread_limit_set_before_it_loaded():
    """numba's @ runs on SciPy's BLAS, loaded by the first numba function: a threadpoolctl
    limit entered before (``graphdl train --threads 1``) must reach it as well as NumPy's."""
    pytest.importorskip("threadpoolctl")
    code = ("import numpy, threadpoolctl\n"
            "with threadpoolctl.threadpool_limits(1, user_api='blas'):\n"
            "    import graphdl as gd\n"
            "    x = gd.vector('x')\n"
            "    gd.function([x], x + 1, backend='numba')\n"
            "    info = threadpoolctl.threadpool_info()\n"
            "print(sorted((i['prefix'], i['num_threads']) for i in info"
            " if i['user_api'] == 'blas'))\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "GRAPHDL_CACHE": "off"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True, timeout=120)
    libraries = eval(done.stdout)  # noqa: S307 - our own subprocess's printed list
    assert len(libraries) >= 2 and all(threads == 1 for _, threads in libraries), libraries


def test_bounds_checks_only_where_a_kernel_indexes_by_number(mlp_pair):
    """numba's bounds checks slow every loop of a kernel (4% of a large Adam step): a training
    step, which only slices, goes without; a number index keeps them (and its IndexError)."""
    from graphdl.codegen.numba_backend import needs_boundscheck

    _, _, (fn, _) = mlp_pair
    assert not needs_boundscheck(fn._emitted)
    assert fn._function.targetoptions["boundscheck"] is False
    a = gd.vector("a", shape=(None,))
    m = gd.matrix("m", shape=(None, 3))
    idx = gd.vector("idx", shape=(None,), dtype="int64")
    for checked in [a[3], gd.take(m, idx, axis=0), gd.squeeze(gd.expand_dims(a, 0), 0) + a[-1]]:
        assert needs_boundscheck(gd.function([a, m, idx], checked, backend="numba")._emitted)
    for unchecked in [a[1:] * 2.0, m[:, ::2], m[:, None, :]]:
        assert not needs_boundscheck(gd.function([a, m, idx], unchecked, backend="numba")._emitted)


# --- fused elementwise chains -----------------------------------------------------------------
def _adam_mlp(dtype: str, backend: str):
    """A 6-8-3 tanh MLP with an L2 term, trained by Adam: 13 elementwise nodes per parameter
    that the numba backend writes as a few fused statements."""
    from graphdl import optim

    rng = np.random.default_rng(5)
    X = gd.matrix("X", shape=(None, 6), dtype=dtype)
    y = gd.vector("y", shape=(None,), dtype="int64")
    values = [rng.standard_normal(s).astype(dtype) for s in [(6, 8), (8,), (8, 3), (3,)]]
    params = [gd.shared(v, name=n) for v, n in zip(values, ["W1", "b1", "W2", "b2"])]
    h = gd.tanh(X @ params[0] + params[1]) @ params[2] + params[3]
    loss = (-gd.take_along_axis(gd.log_softmax(h, axis=1), y[:, None], axis=1).mean()
            + 1e-3 * (gd.sum(params[0] ** 2) + gd.sum(params[2] ** 2)))
    updates = optim.Adam(0.05).updates(loss, params)
    return gd.function([X, y], loss, updates=updates, name="adam", backend=backend), params


@pytest.fixture(scope="module", params=["float64", "float32"])
def adam_pair(request):
    dtype = request.param
    return dtype, _adam_mlp(dtype, "numpy"), _adam_mlp(dtype, "numba")


def test_fused_adam_steps_equal_numpy_backend(adam_pair):
    dtype, (ref, ref_params), (fn, params) = adam_pair
    before = [p.get_value(copy=False) for p in params]
    assert_steps_agree(dtype, ref, ref_params, fn, params, steps=5, batch=7, seed=6)
    assert all(p.get_value(copy=False) is b for p, b in zip(params, before))  # still in place
    # each parameter's update, eq. 76, is one statement writing into the parameter's array
    update = [line for line in fn.source.splitlines() if "np.subtract(W1, (" in line]
    assert len(update) == 1 and "<- multiply, multiply, sqrt, add, divide" in update[0]
    assert ref.source.count("\n") - fn.source.count("\n") >= 30  # the NumPy code: one per node


def test_fused_line_maps_to_its_last_node(adam_pair):
    _, _, (fn, _) = adam_pair
    lines = fn.source.splitlines()
    fused = {n: lines[i - 1] for i, n in fn._emitted.line_nodes.items() if " <- " in lines[i - 1]}
    assert len(fused) >= 10
    for node, line in fused.items():  # the statement's own node: its op opens the comment
        assert line.split("  # ")[1].startswith(f"{node.op.name} ")


@pytest.fixture(scope="module")
def chains():
    """Broadcasting chains and a chain feeding a state update, in both backends."""
    x = gd.matrix("x", shape=(None, 4))
    b = gd.vector("b", shape=(4,))
    s = gd.scalar("s")
    W = gd.shared(np.linspace(-1, 1, 8).reshape(2, 4), name="W")
    V = gd.shared(np.linspace(0, 1, 8).reshape(2, 4), name="V")
    outputs = [
        gd.tanh(x * b + s) * 2.0 - gd.exp(-x),  # b and s broadcast inside one loop
        gd.exp(b) * x + 1.0,  # exp(b) is smaller than the product: not recomputed per row
        gd.sqrt(gd.abs(x[:2] - W) + 1.0).sum(),  # reads W before the update writes into it
    ]
    updates = {W: W - 0.1 * gd.tanh(W * V + s) / (1.0 + s * s),  # one statement, in place
               V: V - gd.square(W - b) * 0.25}  # after W's: reads the old W beforehand
    inputs = [x, b, s]
    return (gd.function(inputs, outputs, updates=updates, name="ref"),
            gd.function(inputs, outputs, updates=updates, name="chains", backend="numba"),
            [W, V])


def test_fused_chains_with_broadcasting_and_state_equal_numpy_backend(chains):
    ref, fn, (W, V) = chains
    state = [W.get_value(), V.get_value()]
    rng = np.random.default_rng(7)
    args = [rng.standard_normal((5, 4)), rng.standard_normal(4), np.asarray(0.3)]
    expected = ref(*args)
    expected_state = [W.get_value(), V.get_value()]
    W.set_value(state[0])
    V.set_value(state[1])
    buffers = [W.get_value(copy=False), V.get_value(copy=False)]
    got = fn(*args)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, **TOL["float64"])
    for var, e, buffer in zip((W, V), expected_state, buffers):
        np.testing.assert_allclose(var.get_value(), e, **TOL["float64"])
        assert var.get_value(copy=False) is buffer
    source = fn.source
    assert "np.tanh(((x * b) + s)) * 2.0" in source  # one statement across the broadcasts
    assert "np.exp(b)  # exp" in source  # its own statement, computed once
    assert "np.subtract(W, " in source and "<- multiply, add, tanh, multiply" in source
    # W - b is not inlined into V's update, which runs after W's array has taken its new value
    assert re.search(r"(v\d+) = W - b  # subtract.*np\.subtract\(W, .*"
                     r"np\.subtract\(V, \(np\.square\(\1\) \* 0\.25\), V\)", source, re.S)


def test_long_chain_is_cut_into_statements_python_can_parse():
    """Python's parser nests at most 200 brackets: a 150-node chain is several statements."""
    from graphdl.codegen.emitter import MAX_FUSED

    x = gd.vector("x", shape=(None,))
    y = x
    for i in range(50):
        y = gd.tanh(y * 1.01 + 0.5) if i % 2 else y * 0.999 + 0.001
    ref, fn = gd.function([x], y), gd.function([x], y, name="chain", backend="numba")
    v = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(fn(v), ref(v), **TOL["float64"])
    fused = [line.split(" <- ")[1].count(",") + 1 for line in fn.source.splitlines()
             if " <- " in line]
    assert len(fused) >= 3 and max(fused) == MAX_FUSED


def test_compile_now_types_the_kernel_before_the_first_call():
    X = gd.matrix("X", (None, 4))
    w = gd.shared(np.linspace(0.5, 2.0, 4), name="w")
    scale = gd.shared(np.asarray(2.0), name="scale")  # a 0-d state crosses as a scalar
    loss = gd.mean(gd.square(X @ w)) * scale
    (g,) = gd.grad(loss, [w])
    fn = gd.function([X], [loss, g], backend="numba")
    assert fn.compile_now() is fn
    assert len(fn._function.signatures) == 1
    data = np.arange(12.0).reshape(3, 4)
    expected = gd.function([X], [loss, g])(data)
    for got, want in zip(fn(data), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert len(fn._function.signatures) == 1  # the call used the kernel compiled before it
    numpy_fn = gd.function([X], loss)
    assert numpy_fn.compile_now() is numpy_fn  # NumPy functions are compiled already

"""Compile time at scale (issue 9): the pieces made cheaper keep their meaning, and the time
to build, optimize and emit grows linearly with the graph (nested gradients stay in tens of ms)."""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import InputError
from graphdl.rewriting.schedule import _Memory, peak_bytes, schedule, schedule_with_peaks


def nested_gradient(depth: int):
    x = gd.scalar("x")
    y = x
    for _ in range(depth):
        y = gd.tanh(0.5 * y + 0.1 * y**2)
    return x, gd.grad(y, x)


def test_depth_32_nested_gradient_compiles_in_tens_of_milliseconds():
    def seconds() -> float:
        start = time.perf_counter()
        x, g = nested_gradient(32)
        gd.function([x], g)
        return time.perf_counter() - start

    seconds()  # warm up
    assert min(seconds() for _ in range(3)) < 0.1  # 16 ms measured; the target is 50 ms
    x, g = nested_gradient(32)
    x2 = gd.scalar("x")
    y = x2
    for _ in range(32):
        y = gd.tanh(0.5 * y + 0.1 * y**2)
    f = gd.function([x2], y)
    h = 1e-6  # and it is the derivative
    assert gd.function([x], g)(0.3) == pytest.approx((f(0.3 + h) - f(0.3 - h)) / (2 * h),
                                                      rel=1e-6)


def chain(n: int):
    x = gd.vector("x", shape=(None,))
    y = x
    for i in range(n):
        y = gd.sin(y) if i % 2 else y * 0.9 + 0.1
    return x, y


def test_build_optimize_emit_is_linear():
    def seconds(n: int) -> float:
        start = time.perf_counter()
        x, y = chain(n)
        gd.function([x], y)
        return time.perf_counter() - start

    seconds(200)  # warm up
    small = min(seconds(1000) for _ in range(2))
    large = min(seconds(8000) for _ in range(2))
    assert large / small < 8 * 2.5  # 8x the nodes: linear is 8x, quadratic would be 64x


def test_a_pass_that_fired_nothing_is_not_rerun():
    x, y = chain(50)  # CSE merges the repeated constants, then nothing else applies
    _, report = gd.optimize(y)
    assert report.rounds == 1
    assert [p.name for p in report.passes] == ["cse", "fold", "canonicalize", "stabilize",
                                               "specialize", "scale"]
    assert report.fired("merged nodes") > 0


def test_schedule_with_peaks_agrees_with_the_separate_calls():
    x = gd.vector("x", 1000)
    a, b = gd.exp(x), gd.sin(x)
    outs = [gd.sum(a * 2.0) + gd.sum(b), gd.sum(gd.cos(b))]
    order = gd.optimize(outs, passes=["cse"])[0]
    from graphdl.rewriting.rewriter import topological

    depth_first = topological(order)
    scheduled, peak_df, peak_s = schedule_with_peaks(order, depth_first)
    assert scheduled == schedule(order)
    assert peak_df == peak_bytes(depth_first, order) == peak_bytes(depth_first, order,
                                                                    _Memory.of(depth_first))
    assert peak_s == peak_bytes(scheduled, order) <= peak_df
    assert peak_df == 2 * 8000 + 8  # two 1000-element float64 arrays and a scalar at most


def test_origin_names_the_users_line_after_caching():
    line = inspect.currentframe().f_lineno + 1
    nodes = [gd.scalar("a") + 1.0 for _ in range(3)]
    assert {n.origin for n in nodes} == {f"test_optimize_compile_time.py:{line}"}


def test_rebuilt_nodes_keep_op_attributes_name_and_origin():
    x = gd.matrix("x", shape=(None, 3))
    s = gd.sum(gd.sin(x * 1.0), axis=1)  # x * 1 -> x rebuilds the sin and the sum over it
    (opt,), _ = gd.optimize([s], passes=["canonicalize"])
    assert opt is not s and opt.inputs[0] is not s.inputs[0] and opt.inputs[0].inputs == (x,)
    assert (opt.op, opt.attrs, opt.name, opt.origin) == (s.op, s.attrs, s.name, s.origin)
    assert (opt.shape, opt.dtype) == (s.shape, s.dtype) and opt.id > s.id


def test_the_old_name_of_a_buffer_written_in_place_is_dropped_at_once():
    x = gd.vector("x")
    y = gd.exp(x)
    z = gd.sin(y)  # written into y's buffer, which lives on as z
    w = gd.sum(z) * gd.cos(x)
    fn = gd.function([x], w, optimize=False)
    lines = [line.strip() for line in fn.source.splitlines()]
    at = next(i for i, line in enumerate(lines) if "np.sin(v0, out=v0)" in line)
    # without this del, the name v0 would keep the buffer alive after z's own del
    assert lines[at + 1] == "del v0"
    assert "del v1" in fn.source  # freed after the sum, which has its own result
    v = np.array([0.1, 0.2])
    np.testing.assert_allclose(fn(v), np.sin(np.exp(v)).sum() * np.cos(v))


def test_inputs_that_vectorize_are_found_in_one_walk():
    x, w = gd.vector("x", 3), gd.matrix("W", shape=(3, 2))
    u = gd.scalar("u")
    fn = gd.function([x, w, u], [x @ w, gd.exp(u)])  # x feeds a matmul; u only elementwise
    assert [c.vectorizes for c in fn._checkers] == [False, False, True]
    out = fn(np.ones(3), np.ones((3, 2)), np.array([0.0, 1.0]))
    np.testing.assert_allclose(out[1], np.exp([0.0, 1.0]))
    with pytest.raises(InputError, match="input x: expected shape"):
        fn(np.ones((2, 3)), np.ones((3, 2)), 0.0)  # extra axes on x would change the matmul

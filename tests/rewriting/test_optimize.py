"""The optimizer: API and report, CSE, folding, algebraic rewrites, specialization, the MLP.

Every rewrite test checks three things: the rewrite fired (by name, in the report), the compiled
source shows its effect, and the optimized function computes what the graph as written computes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdl as gd
from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.rewriting import Report, RewriteError, node_rewriter
from graphdl.rewriting.rewriter import rewrite_graph


def both(inputs, outputs):
    """(as written, optimized) compiled functions."""
    return gd.function(inputs, outputs, optimize=False), gd.function(inputs, outputs)


def ops_in(outputs) -> list[str]:
    outs = [outputs] if isinstance(outputs, Node) else outputs
    return [n.op.name for n in toposort(outs) if not n.is_leaf]


def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    return x1, x2, gd.log(x1) + x1 * x2 - gd.sin(x2)


# --- API and report --------------------------------------------------------------------------
def test_lecture_gradient_becomes_what_a_person_writes():
    x1, x2, f = lecture()
    fn = gd.function([x1, x2], [f, *gd.grad(f, [x1, x2])], name="f_and_grad")
    value, d1, d2 = fn(2.0, 5.0)
    assert value == pytest.approx(11.652071455223084, rel=1e-15)  # the lecture's trace
    assert d1 == pytest.approx(5.5, rel=1e-15)  # df/dx1 = x2 + 1/x1
    assert d2 == pytest.approx(2.0 - math.cos(5.0), rel=1e-15)  # df/dx2 = x1 - cos(x2) = 1.716
    body = [line.split("#")[0].strip() for line in fn.source.splitlines()[2:-1]
            if not line.strip().startswith("del ")]
    assert body == ["v0 = np.log(x1)", "v1 = x1 * x2", "v2 = v0 + v1", "v3 = np.sin(x2)",
                    "v4 = v2 - v3", "v5 = 1 / x1", "v6 = x2 + v5", "v7 = np.cos(x2)",
                    "v8 = x1 - v7"]
    assert "np.float64(1.0)" not in fn.source
    assert (fn.report.nodes_before, fn.report.nodes_after) == (17, 11)


def test_report_text_dict_and_counts():
    x1, x2, f = lecture()
    fn = gd.function([x1, x2], gd.grad(f, [x1, x2]))
    report = fn.report
    assert isinstance(report, Report)
    assert report.fired("x * 1 -> x") == 3  # the seed 1.0 times each partial
    assert report.fired("fold constants") == 1  # -1.0 from -(1.0)
    text = str(report)
    assert text.startswith("optimize: ") and "x * 1 -> x (3)" in text and "round 1" in text
    data = report.to_dict()
    assert data["nodes_after"] == report.nodes_after < data["nodes_before"]
    assert data["rewrites"]["x * 1 -> x"] == 3
    assert {p["name"] for p in data["passes"]} == {"cse", "fold", "canonicalize", "stabilize",
                                                     "specialize", "scale"}
    assert gd.function([x1, x2], f, optimize=False).report is None


def test_cse_report_names_merged_nodes():
    a, b = gd.scalar("a"), gd.scalar("b")
    out, report = gd.optimize(gd.exp(a + b) + gd.exp(b + a), passes=["cse"])
    assert "cse" in str(report) and "merged 2 nodes" in str(report)
    assert ops_in(out).count("exp") == 1


def test_optimize_keeps_the_form_of_its_argument():
    x = gd.scalar("x")
    single, _ = gd.optimize(x * 1.0)
    assert single is x
    many, _ = gd.optimize([x * 1.0, x + 0.0])
    assert many == [x, x] or (many[0] is x and many[1] is x)
    with pytest.raises(ValueError, match="unknown pass"):
        gd.optimize(x, passes=["cse", "magic"])


def test_optimize_false_compiles_the_graph_as_written():
    x = gd.scalar("x")
    fn = gd.function([x], x * 1.0, optimize=False)
    assert "x * 1.0" in fn.source


# --- CSE ---------------------------------------------------------------------------------------
def test_cse_merges_commutative_operands_and_constants_by_value():
    a, b = gd.vector("a", 3), gd.vector("b", 3)
    f = gd.maximum(a * b, b) + gd.maximum(b, b * a) + (a * 2.0) + (a * 2.0)
    out, _report = gd.optimize(f, passes=["cse"])
    ops = ops_in(out)
    assert ops.count("multiply") == 2 and ops.count("maximum") == 1  # b*a, a*2.0 merged
    constants = [n for n in toposort([out]) if n.op.name == "constant"]
    assert len(constants) == 1
    a_, b_ = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    plain, opt = both([a, b], f)
    np.testing.assert_allclose(opt(a_, b_), plain(a_, b_), rtol=1e-15)


def test_cse_keeps_apart_what_numpy_keeps_apart():
    x = gd.vector("x", 2)
    x32 = gd.vector("x32", 2, dtype="float32")
    same_name = gd.vector("x", 2)
    signed_zero = gd.exp(x + 0.0) * gd.exp(x + -0.0)  # 0.0 and -0.0 are different constants
    weak_vs_typed = x32 * 2.0 + x32 * np.float32(2.0)  # weak 2.0 and float32 2.0 differ
    out, _ = gd.optimize([signed_zero, weak_vs_typed, x + same_name], passes=["cse"])
    consts = {(n.attrs["weak"], repr(n.attrs["value"]))
              for n in toposort(out) if n.op.name == "constant"}
    assert consts == {(True, "0.0"), (True, "-0.0"), (True, "2.0"), (False, "np.float32(2.0)")}
    assert ops_in(out[0]).count("exp") == 2
    assert len([n for n in toposort(out) if n.op.name == "input"]) == 3  # inputs never merge


# --- constant folding ----------------------------------------------------------------------------
def test_fold_keeps_dtype_and_skips_huge_results():
    x32 = gd.vector("x", 3, dtype="float32")
    two = gd.constant(np.float32(2.0))
    f = x32 * (two * np.float32(3.0))
    out, report = gd.optimize(f)
    assert report.fired("fold constants") == 1 and out.dtype == np.float32
    (c,) = [n for n in toposort([out]) if n.op.name == "constant"]
    assert c.attrs["value"] == np.float32(6.0) and c.dtype == np.float32
    huge = gd.broadcast_to(gd.constant(0.5), (300, 300)) * 2.0  # 90 000 elements: not baked in
    out, report = gd.optimize(huge)
    assert "broadcast_to" in ops_in(out)
    small = gd.broadcast_to(gd.constant(0.5), (3, 4)) * 2.0  # arithmetic before the view
    out, _ = gd.optimize(small)
    assert out.op.name == "broadcast_to" and out.shape == (3, 4)  # a view is never baked in
    assert out.inputs[0].op.name == "constant" and out.inputs[0].attrs["value"] == 1.0


def test_fold_leaves_failures_to_run_time():
    x = gd.scalar("x")
    f = x + gd.constant(1) / gd.constant(0)  # Python ints: ZeroDivisionError when it runs
    _out, report = gd.optimize(f)
    assert report.fired("fold constants") == 0
    with pytest.raises(gd.GraphRuntimeError, match="ZeroDivisionError"):
        gd.function([x], f)(1.0)


# --- canonicalize --------------------------------------------------------------------------------
def test_neutral_elements_respect_broadcasting():
    x = gd.vector("x", (None,))
    grows = x + np.zeros(3)  # x may have size 1 and be stretched to 3: becomes broadcast_to
    out, report = gd.optimize(grows)
    assert report.fired("x + 0 -> x") == 1 and out.op.name == "broadcast_to"
    m = gd.matrix("m", (None, None))
    unknown = m + np.zeros((1, 3))  # result (?, 3): m may be (?, 1); nothing safe to write
    out, report = gd.optimize(unknown)
    assert report.fired("x + 0 -> x") == 0
    kept = gd.matrix("k", (None, 1)) * np.ones((1, 1))
    out, report = gd.optimize(kept)
    assert out.name == "k"
    plain, opt = both([x], grows)
    np.testing.assert_array_equal(opt(np.array([7.0])), [7.0, 7.0, 7.0])
    np.testing.assert_array_equal(plain(np.array([7.0])), [7.0, 7.0, 7.0])
    plain, opt = both([m], unknown)
    np.testing.assert_array_equal(opt(np.ones((2, 1))), np.ones((2, 3)))


def test_identities_keep_promoted_dtype():
    x32 = gd.vector("x", 3, dtype="float32")
    out, _ = gd.optimize(x32 * 1.0)  # weak 1.0: stays float32, the node itself
    assert out is x32
    out, _ = gd.optimize(x32 + np.float64(0.0))  # typed float64 zero promotes: a cast remains
    assert out.op.name == "cast" and out.dtype == np.float64
    i = gd.vector("i", 3, dtype="int64")
    out, _ = gd.optimize(i * 0)  # exact for integers
    assert out.op.name == "constant" and out.dtype == np.int64


def test_x_times_zero_is_not_folded_for_floats():
    x = gd.vector("x", 3)
    out, _report = gd.optimize(x * 0.0)
    assert out.op.name == "multiply"
    with np.errstate(invalid="ignore"):
        values = gd.function([x], x * 0.0)(np.array([np.inf, np.nan, 2.0]))
    assert np.isnan(values[0]) and np.isnan(values[1]) and values[2] == 0.0


def test_negations_cancel_and_become_subtractions():
    a, b = gd.vector("a", 3), gd.vector("b", 3)
    f = gd.negative(-a) + (-(a - b)) * 2.0 + a * -1.0 + (-a) * (-b) + gd.sum(-a) - (-b)
    out, report = gd.optimize(f)
    assert "negative" not in ops_in(out)
    assert report.fired("--x -> x") >= 1 and report.fired("a - -b -> a + b") == 1
    a_, b_ = np.array([1.0, 2.0, -3.0]), np.array([0.5, -1.0, 2.0])
    plain, opt = both([a, b], f)
    np.testing.assert_allclose(opt(a_, b_), plain(a_, b_), rtol=1e-15)


def test_log_of_exp_removes_an_overflow():
    x = gd.scalar("x")
    plain, opt = both([x], gd.log(gd.exp(x)))
    with np.errstate(over="ignore"):
        assert plain(1000.0) == np.inf
    assert opt(1000.0) == 1000.0 and opt.report.fired("log(exp(x)) -> x") == 1


def test_shape_chains_collapse():
    m = gd.matrix("m", (3, 4))
    f = gd.reshape(gd.reshape(m, (4, 3)), (2, 6)).T.T + gd.reshape(gd.reshape(m, (12,)), (2, 6))
    g = gd.transpose(gd.transpose(gd.reshape(m, (3, 2, 2)), (1, 2, 0)), (2, 0, 1))
    out, report = gd.optimize([f, g])
    assert report.fired("transpose(transpose(x)) -> transpose(x)") == 2
    assert report.fired("reshape(reshape(x)) -> reshape(x)") == 2
    assert ops_in(out) == ["reshape", "add", "reshape"]  # one reshape each, merged by CSE
    v = np.arange(12.0).reshape(3, 4)
    plain, opt = both([m], [f, g])
    for got, expected in zip(opt(v), plain(v)):
        np.testing.assert_array_equal(got, expected)


def test_sum_of_broadcast_is_a_multiplication():
    s = gd.scalar("s", dtype="float32")
    f = gd.sum(gd.broadcast_to(s, (3, 4)))
    out, report = gd.optimize(f)
    assert report.fired("sum(broadcast(x)) -> x * n") == 1 and out.dtype == np.float32
    assert "broadcast_to" not in ops_in(out)
    assert gd.function([s], f)(np.float32(1.5)) == np.float32(18.0)
    mean, _ = gd.optimize(gd.mean(gd.broadcast_to(s, (3, 4))))
    assert mean is s


# --- specialize ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k, expected_ops", [(2, ["square"]), (3, ["square", "multiply"]),
                                             (4, ["square", "square"]), (1, []),
                                             (-1, ["reciprocal"])])
def test_small_integer_powers(k, expected_ops):
    x = gd.vector("x", 4)
    out, _report = gd.optimize(x ** k)
    assert sorted(ops_in(out)) == sorted(expected_ops)
    v = np.array([0.5, -1.5, 2.0, 3.0])
    np.testing.assert_allclose(gd.function([x], x ** k)(v), v ** float(k), rtol=4e-16)


def test_integer_power_of_integers_and_float32():
    i = gd.vector("i", 3, dtype="int64")
    out, _ = gd.optimize(i ** 2)
    assert out.op.name == "square" and out.dtype == np.int64
    x32 = gd.vector("x", 3, dtype="float32")
    out, _ = gd.optimize(x32 ** 2)
    assert out.op.name == "square" and out.dtype == np.float32
    out, _ = gd.optimize(x32 ** np.float64(2.0))  # typed exponent promotes to float64
    assert out.dtype == np.float64


def test_reciprocal_products_become_divisions():
    a, b = gd.vector("a", 3), gd.vector("b", 3)
    out, _report = gd.optimize(a * gd.reciprocal(b) + a * a)
    assert sorted(ops_in(out)) == ["add", "divide", "square"]
    tiny = np.array([1e-310, 1.0, 2.0])  # 1 / 1e-310 overflows; a / b does not
    with np.errstate(over="ignore"):
        plain = gd.function([a, b], a * gd.reciprocal(b), optimize=False)(tiny, tiny)
    assert plain[0] == np.inf
    np.testing.assert_allclose(gd.function([a, b], a * gd.reciprocal(b))(tiny, tiny), 1.0)


# --- the rewriter's shape/dtype check ------------------------------------------------------------
@node_rewriter("test-wrong", ["exp"], "exp(x) -> x (wrong on purpose)")
def _wrong_rule(node: Node) -> Node | None:
    return gd.sum(node.inputs[0])  # changes the shape


def test_a_rule_that_changes_shape_is_refused_or_raises_in_strict_mode():
    x = gd.vector("x", 3)
    f = gd.exp(x)
    (out,), fired, refused = rewrite_graph([f], ["test-wrong"])
    assert out is f and not fired and refused["exp(x) -> x (wrong on purpose)"] == 1
    with pytest.raises(RewriteError, match="exp"):
        rewrite_graph([f], ["test-wrong"], strict=True)


def test_rewritten_nodes_keep_the_users_line_and_name():
    x = gd.vector("x", 3)
    loss = gd.log(gd.softmax(x))  # built here: this line is the origin
    out, _ = gd.optimize(loss)
    assert out.op.name == "log_softmax" and out.origin == loss.origin
    assert out.origin.startswith("test_optimize.py:")


# --- the MLP of the benchmarks -------------------------------------------------------------------
def mlp(dtype="float64", batch=16, seed=0):
    rng = np.random.default_rng(seed)
    X = gd.matrix("X", shape=(None, 8), dtype=dtype)
    y = gd.vector("y", shape=(None,), dtype="int64")
    values = [rng.standard_normal((8, 6)) * 0.5, rng.standard_normal(6) * 0.1,
              rng.standard_normal((6, 4)) * 0.5, rng.standard_normal(4) * 0.1]
    W1, b1, W2, b2 = [gd.shared(v.astype(dtype), name=n)
                      for v, n in zip(values, ["W1", "b1", "W2", "b2"])]
    logits = gd.relu(X @ W1 + b1) @ W2 + b2
    loss = -gd.take_along_axis(gd.log_softmax(logits, axis=1), y[:, None], axis=1).mean()
    grads = gd.grad(loss, [W1, b1, W2, b2])
    data = (rng.standard_normal((batch, 8)).astype(dtype), rng.integers(0, 4, batch))
    return [X, y], [loss, *grads], values, data


def numpy_mlp(values, X, y):
    """Back-propagation written by hand."""
    W1, b1, W2, b2 = values
    a = X @ W1 + b1
    h = np.maximum(a, 0)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    dz = p.copy()
    dz[np.arange(n), y] -= 1
    dz /= n
    dh = (dz @ W2.T) * (a > 0)
    return [loss, X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]


def test_mlp_gradient_is_fused_and_matches_hand_written_numpy():
    inputs, outputs, values, data = mlp()
    plain, opt = both(inputs, outputs)
    for got, ref, expected in zip(opt(*data), plain(*data), numpy_mlp(values, *data)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ref, expected, rtol=1e-12, atol=1e-15)
    report = opt.report
    assert report.fired("log_softmax(z)[y] -> -softmax_xent(z, y)") == 1
    # gd.grad differentiates the stabilized form, so the fused gradient comes from
    # softmax_xent's own VJP rule rather than from a rewrite of log_softmax's VJP; then the
    # loss and its gradient are lowered to parts sharing one exp(z - max z)
    assert "_rt.xent_rows_grad(" in opt.source and opt.source.count("np.exp(") == 1
    assert report.fired("softmax_xent_grad -> xent_rows_grad(shared parts)") == 1
    assert "log_softmax" not in opt.source and "-v" not in opt.source  # no negation left
    statements = [s for s in opt.source.splitlines() if " = " in s]
    assert len(statements) == 26  # hand-written NumPy above makes about 28 calls
    assert (report.nodes_before, report.nodes_after) == (37, 34)


def test_mlp_float32_end_to_end():
    inputs, outputs, _values, data = mlp("float32")
    plain, opt = both(inputs, outputs)
    got = opt(*data)
    assert all(np.asarray(g).dtype == np.float32 for g in got)
    for g, r in zip(got, plain(*data)):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=1e-6)


# --- cost ----------------------------------------------------------------------------------------
def chain(n: int) -> Node:
    """A graph of about 4n nodes with shared subexpressions and rewrites to do."""
    x = gd.vector("x", 4)
    acc = x
    for i in range(n):
        acc = gd.tanh(acc * 1.0 + (x * float(i % 7)))
    return acc


def test_optimization_time_is_linear():
    import time

    def seconds(n: int) -> float:
        graph = chain(n)
        start = time.perf_counter()
        gd.optimize(graph)
        return time.perf_counter() - start

    seconds(200)  # warm up
    small, large = min(seconds(500) for _ in range(2)), min(seconds(2000) for _ in range(2))
    assert large / small < 8  # 4x the nodes: linear is 4x, quadratic would be 16x


def test_deep_graph_does_not_hit_the_recursion_limit():
    out, report = gd.optimize(chain(3000))  # a path 12 000 nodes deep
    assert report.fired("x * 1 -> x") == 3000
    assert gd.function([toposort([out])[0]], out)(np.zeros(4)).shape == (4,)


def test_reciprocal_of_integers_is_a_float_so_the_mean_seed_folds():
    # 1 / x is true division: the static dtype said int64 while the code computed 0.5, which
    # kept the optimizer from folding the 1/n of every mean's gradient
    i = gd.vector("i", 2, dtype="int64")
    r = gd.reciprocal(i)
    assert r.dtype == np.float64 and gd.reciprocal(gd.constant(2)).dtype == np.float64
    np.testing.assert_array_equal(gd.function([i], r)(np.array([2, 4])), [0.5, 0.25])
    x = gd.matrix("x", (2, 2))
    grad = gd.grad(gd.sum(x) / 2, x)
    out, _ = gd.optimize(grad)  # folded to 0.5, spread to x's shape as a view
    assert out.op.name == "broadcast_to" and out.shape == (2, 2)
    assert out.inputs[0].op.name == "constant" and np.all(out.inputs[0].attrs["value"] == 0.5)


def test_cli_prints_report_and_both_codes(capsys):
    from graphdl.cli.main import main

    assert main(["optimize"]) == 0
    out = capsys.readouterr().out
    assert "def as_written(x1, x2):" in out and "def optimized(x1, x2):" in out
    assert "np.float64(1.0) * x2" in out and "optimize: 17 -> 11 nodes" in out
    assert main(["optimize", "--example", "naive-xent", "--no-code"]) == 0
    out = capsys.readouterr().out
    assert "def " not in out and "log(softmax(z)[y]) -> log_softmax(z)[y] (1)" in out

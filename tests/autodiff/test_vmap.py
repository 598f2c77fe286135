"""gd.vmap and one-sweep Jacobians (issue 3).

- Every op of the CASES table (tests/ops/test_ops_table.py), vmapped over a batch of 3 values of
  all, the first or the last of its arguments, equals the per-example results stacked by a NumPy
  loop (with the batch size static and unknown). An op without a batching rule fails the table test
  unless listed in `NO_RULE` with the reason.
- The Jacobian of every smooth case, reverse mode == forward mode == central differences: this
  vmaps VJP and JVP graphs, so the batching rules of the adjoint helpers (index_adjoint,
  take_adjoint, concat_piece, ...) are exercised too.
- Jacobians of MLP-like functions, graph size independent of the number of rows, Hessians.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numeric_jvp, run_both
from test_ops_table import CASES, INTERNAL_HELPERS, LEAVES, Case

import graphdl as gd
from graphdl.ops.registry import REGISTRY

B = 3
NO_RULE: dict[str, str] = {  # op name -> why vmap refuses it
    "while_loop": "each batch entry may need a different number of steps",
}
# take_adjoint refuses *batched indices* only (covered below): they come from integer inputs,
# which no derivative sweep batches.


def _params(batchings: tuple[str, ...]):
    params = []
    for name, cases in CASES.items():
        for k, case in enumerate(cases):
            for which in batchings:
                if which != "all" and len(case.shapes) == 1:
                    continue
                tag = f"{name}-{k}-{case.label}-{which}"
                params.append(pytest.param(name, case, which, id=tag))
    return params


def _batched_positions(case: Case, which: str) -> list[int]:
    n = len(case.shapes)
    return list(range(n)) if which == "all" else [0] if which == "first" else [n - 1]


def test_every_op_has_a_batching_rule_or_a_reason() -> None:
    computing = set(REGISTRY) - LEAVES
    missing = {name for name in computing if REGISTRY[name].batch is None} - set(NO_RULE)
    assert not missing, f"ops without a batching rule (add Op.batch or list in NO_RULE): {missing}"
    assert INTERNAL_HELPERS <= computing  # the helpers are checked through the Jacobians below


@pytest.mark.parametrize(("name", "case", "which"), _params(("all", "first", "last")))
@pytest.mark.parametrize("size", [B, None])
def test_vmap_equals_stacked_examples(name: str, case: Case, which: str, size: int | None
                                      ) -> None:
    rng = np.random.default_rng(3)
    positions = _batched_positions(case, which)
    examples = [case.values(rng) for _ in range(B)]
    inputs = case.inputs()
    out = case.build(*inputs)
    if name in NO_RULE:
        with pytest.raises(NotImplementedError, match=name):
            gd.vmap(out, {inputs[0]: gd.tensor("b", (B,) + inputs[0].shape, inputs[0].dtype)})
        return
    stacked = {i: gd.tensor(f"b{i}", (size,) + inputs[i].shape, inputs[i].dtype)
               for i in positions}
    result = gd.vmap(out, {inputs[i]: stacked[i] for i in positions})
    assert result.dtype == out.dtype
    assert result.shape[1:] == out.shape and result.shape[0] == size
    free = [x for i, x in enumerate(inputs) if i not in positions]
    args = [examples[0][i] for i in range(len(inputs)) if i not in positions]
    args += [np.stack([e[i] for e in examples]) for i in positions]
    got = np.asarray(run_both(free + [stacked[i] for i in positions], result, *args))
    fixed = [examples[0][i] for i in range(len(inputs))]
    expected = []
    for e in examples:
        values = [e[i] if i in positions else fixed[i] for i in range(len(inputs))]
        expected.append(np.asarray(case.reference(*values)))
    expected = np.stack(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def _smooth_params():
    params = []
    for name, cases in CASES.items():
        for k, case in enumerate(cases):
            if case.smooth and case.kind(0) == "f":
                params.append(pytest.param(name, case, id=f"{name}-{k}-{case.label}"))
    return params


@pytest.mark.parametrize(("name", "case"), _smooth_params())
def test_jacobian_reverse_equals_forward_equals_differences(name: str, case: Case) -> None:
    """d out / d (first argument) of every smooth case, both modes in one graph each."""
    rng = np.random.default_rng(4)
    values = case.values(rng)
    inputs = case.inputs()
    out = case.build(*inputs)
    x = inputs[0]
    reverse = gd.jacobian(out, x, mode="reverse")
    forward = gd.jacobian(out, x, mode="forward")
    jr, jf = run_both(inputs, [reverse, forward], *values, rtol=1e-10, atol=1e-12)
    assert jr.shape == out.shape + x.shape
    np.testing.assert_allclose(jr, jf, rtol=1e-10, atol=1e-12)
    f = gd.function(inputs, out, optimize=False)
    n = int(np.prod(x.shape, dtype=int))
    for j in range(n):
        t = np.zeros(n)
        t[j] = 1
        numeric = numeric_jvp(f, values, [t.reshape(x.shape)] + [None] * (len(values) - 1),
                              eps=case.eps)
        np.testing.assert_allclose(jr.reshape(out.shape + (n,))[..., j], numeric,
                                   rtol=1e-5, atol=1e-7)


def test_take_adjoint_with_batched_indices_is_refused_by_name() -> None:
    x = gd.vector("x", 4)
    i = gd.vector("i", 2, dtype="int64")
    g = gd.vector("g", 2)
    adj = gd.vjp(gd.take(x, i), x, g)
    with pytest.raises(NotImplementedError, match="take_adjoint"):
        gd.vmap(adj, {i: gd.tensor("ib", (3, 2), "int64")})


# --- Jacobians of MLP-like functions -----------------------------------------------------------
def _mlp(x: gd.Node, W1: gd.Node, W2: gd.Node) -> gd.Node:
    h = gd.tanh(x @ W1 + 0.1)
    return gd.softmax(h @ W2, axis=-1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_jacobians_agree_both_modes_and_with_differences(dtype: str) -> None:
    rng = np.random.default_rng(5)
    x = gd.matrix("x", (2, 3), dtype)
    W1 = gd.matrix("W1", (3, 4), dtype)
    W2 = gd.matrix("W2", (4, 5), dtype)
    vals = [rng.standard_normal(s).astype(dtype) for s in [(2, 3), (3, 4), (4, 5)]]
    y = _mlp(x, W1, W2)
    graphs = [gd.jacobian(y, w, mode=m) for w in (x, W1) for m in ("forward", "reverse")]
    jx_f, jx_r, jw_f, jw_r = gd.function([x, W1, W2], graphs)(*vals)
    assert jx_f.dtype == np.dtype(dtype) and jx_f.shape == (2, 5, 2, 3)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(jx_f, jx_r, rtol=tol, atol=tol)
    np.testing.assert_allclose(jw_f, jw_r, rtol=tol, atol=tol)
    if dtype == "float64":
        f = gd.function([x, W1, W2], y)
        t = rng.standard_normal((3, 4))
        numeric = numeric_jvp(f, vals, [None, t, None])
        np.testing.assert_allclose(np.tensordot(jw_r, t, axes=2), numeric, rtol=1e-6, atol=1e-9)


def test_jacobian_of_a_scalar_loss_with_reductions_is_its_gradient() -> None:
    rng = np.random.default_rng(6)
    x = gd.matrix("x", (4, 3))
    W = gd.matrix("W", (3, 2))
    labels = gd.vector("y", 4, dtype="int64")
    logits = gd.relu(x @ W) - gd.max(x, axis=1, keepdims=True)
    loss = -gd.mean(gd.take_along_axis(gd.log_softmax(logits), labels[:, None], axis=1))
    vals = [rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), np.array([0, 1, 1, 0])]
    jr, jf, g = run_both([x, W, labels], [gd.jacobian(loss, W, mode="reverse"),
                                          gd.jacobian(loss, W, mode="forward"),
                                          gd.grad(loss, W)], *vals)
    np.testing.assert_allclose(jr, g, rtol=1e-13)
    np.testing.assert_allclose(jf, g, rtol=1e-12, atol=1e-15)


def test_graph_size_does_not_grow_with_the_number_of_rows() -> None:
    def size(n: int, mode: str) -> int:
        x = gd.vector("x", n)
        W = gd.matrix("W", (n, n))
        y = gd.tanh(W @ gd.sin(x)) * gd.sum(x**2)
        return gd.count_nodes([gd.jacobian(y, x, mode=mode)])

    for mode in ("forward", "reverse"):
        assert size(50, mode) == size(5, mode)
    x = gd.vector("x", 50)
    J = gd.jacobian(gd.exp(x) * gd.sum(x), x)
    assert gd.function([x], J)(np.zeros(50)).shape == (50, 50)


def test_hessian_of_a_softmax_cross_entropy_matches_differences_of_the_gradient() -> None:
    rng = np.random.default_rng(7)
    z = gd.vector("z", 4)
    loss = -gd.log(gd.softmax(z))[2] + 0.5 * gd.sum(z**3)
    value = rng.standard_normal(4)
    g = gd.function([z], gd.grad(loss, z))
    expected = np.stack([numeric_jvp(g, [value], [e]) for e in np.eye(4)], axis=1)
    for mode in ("forward", "reverse"):
        H = gd.function([z], gd.hessian(loss, z, mode=mode))(value)
        np.testing.assert_allclose(H, expected, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(H, H.T, rtol=1e-12)


# --- the vmap API itself ---------------------------------------------------------------------
def test_vmap_keeps_unbatched_parts_shared_and_repeats_unbatched_outputs() -> None:
    x, w = gd.vector("x", 3), gd.vector("w", 3)
    heavy = gd.exp(w)
    out = gd.sum(x * heavy)
    xs = gd.matrix("xs", (None, 3))
    batched, constant_out = gd.vmap([out, heavy], {x: xs})
    assert heavy in gd.toposort([batched])  # computed once, not per entry
    xv, wv = np.arange(6.0).reshape(2, 3), np.array([0.1, 0.2, 0.3])
    got, rep = gd.function([xs, w], [batched, constant_out])(xv, wv)
    np.testing.assert_allclose(got, xv @ np.exp(wv), rtol=1e-14)
    np.testing.assert_allclose(rep, np.tile(np.exp(wv), (2, 1)), rtol=1e-14)


def test_vmap_errors_name_the_node() -> None:
    x = gd.vector("x", 3)
    with pytest.raises(gd.ShapeError, match="x"):
        gd.vmap(gd.exp(x), {x: gd.matrix("bad", (2, 4))})
    with pytest.raises(gd.ShapeError, match="batch sizes"):
        y = gd.vector("y", 3)
        gd.vmap(x + y, {x: gd.matrix("a", (2, 3)), y: gd.matrix("b", (4, 3))})


@pytest.mark.parametrize(("name", "case"), _smooth_params())
def test_vmapped_vjp_with_unknown_sizes_equals_a_loop_of_vjps(name: str, case: Case) -> None:
    """With the first axis of every argument unknown, VJP graphs hold the run-time shape
    helpers (sum_to, broadcast_like, reshape_like, axis_size, zeros_like); vmapped over a batch of
    cotangents (batch size unknown too) they must equal one VJP per cotangent."""
    if "first" not in case.none_variants:
        pytest.skip("the case needs static sizes")
    rng = np.random.default_rng(8)
    values = case.values(rng)
    inputs = case.inputs("first")
    out = case.build(*inputs)
    floats = [x for i, x in enumerate(inputs) if case.kind(i) == "f"]
    ct = gd.tensor("ct", out.shape, out.dtype)
    adjoints = gd.vjp(out, floats, ct)
    cts = gd.tensor("cts", (None,) + out.shape, out.dtype)
    batched = gd.vmap(adjoints, {ct: cts})
    shape = np.shape(case.reference(*values))
    ct_values = rng.standard_normal((B,) + shape).astype(out.dtype)
    got = run_both(inputs + [cts], batched, *values, ct_values, rtol=1e-10, atol=1e-13)
    one = gd.function(inputs + [ct], adjoints)
    for k in range(B):
        for g, expected in zip(got, one(*values, ct_values[k])):
            np.testing.assert_allclose(g[k], expected, rtol=1e-12, atol=1e-14)


def test_zeros_like_and_axis_size_of_a_batched_operand() -> None:
    from graphdl.ops import reductions, shape_ops

    x = gd.vector("x")  # unknown size: zeros_like and the mean's count are run-time ops
    out = shape_ops.zeros_like(x) + x / reductions.reduced_count(x, None)
    xs = gd.matrix("xs", (None, None))
    assert {"zeros_like", "axis_size"} <= {n.op.name for n in gd.toposort([out])}
    got = gd.function([xs], gd.vmap(out, {x: xs}))(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(got, np.arange(6.0).reshape(2, 3) / 3, rtol=1e-15)

"""One reverse sweep and one forward sweep (issue 14): the trace tables and the drawn gradients
watch graphdl's own sweeps through their ``observe`` hooks instead of running copies, so what
they show is what ``gd.grad`` builds, node for node, stability rewrites included."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import graphdl as gd
from graphdl.autodiff.forward import tangents as forward_sweep
from graphdl.autodiff.reverse import adjoints as reverse_sweep
from graphdl.ir.node import Node
from graphdl.ir.walk import depth_order, toposort
from graphdl.ops.leaves import CONSTANT
from graphdl.viz.dot import gradient_with_map

VIZ = Path(gd.__file__).parent / "viz"


def same_graph(a: list[Node], b: list[Node]) -> int:
    """Assert that ``a`` and ``b`` are the same graph: the same leaves (the very objects, or
    constants of equal value), and above them nodes of the same op, attributes, type and
    operands, paired one to one. Returns the number of nodes paired."""
    pairs: dict[Node, Node] = {}
    stack = list(zip(a, b))
    while stack:
        x, y = stack.pop()
        if x in pairs:
            assert pairs[x] is y, f"{x.label()} stands for two different nodes"
            continue
        assert x.op is y.op and x.shape == y.shape and x.dtype == y.dtype, (x, y)
        if x.op is CONSTANT:
            np.testing.assert_array_equal(x.attrs["value"], y.attrs["value"])
        elif x.is_leaf:
            assert x is y, f"different leaves {x.label()} and {y.label()}"
        else:
            assert x.attrs == y.attrs, (x.attrs, y.attrs)
        pairs[x] = y
        stack.extend(zip(x.inputs, y.inputs))
    assert len(set(pairs.values())) == len(pairs)  # one to one
    return len(pairs)


@pytest.fixture
def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    return x1, x2, gd.log(x1) + x1 * x2 - gd.sin(x2)


def test_the_reverse_sweep_visits_nodes_in_the_lecture_numbering(lecture):
    x1, x2, f = lecture
    steps = []
    bar = reverse_sweep([f], [gd.constant(1.0)], [x1, x2],
                        observe=lambda parent, node, slot, term, total:
                        steps.append((node.op.name, slot, parent, term, total)))
    ln, times, sin = f.inputs[0].inputs[0], f.inputs[0].inputs[1], f.inputs[1]
    # v_5 = v_4 - v_3, v_4 = v_1 + v_2, v_3 = sin v_0, v_2 = v_-1 v_0, v_1 = ln v_-1: backwards
    assert [(op, slot) for op, slot, *_ in steps] == [
        ("subtract", 0), ("subtract", 1), ("add", 0), ("add", 1), ("sin", 0),
        ("multiply", 0), ("multiply", 1), ("log", 0)]
    assert [p for _, _, p, _, _ in steps] == [f.inputs[0], sin, ln, times, x2, x1, x2, x1]
    # the first term into an adjoint is the adjoint; a later one is added to it
    first_x2, second_x2 = steps[4], steps[6]
    assert first_x2[4] is first_x2[3] and second_x2[4] is bar[x2]
    assert second_x2[4].op.name == "add" and second_x2[4].inputs == (first_x2[4], second_x2[3])
    # the hook is only a witness: without it the sweep builds the same graph
    plain = reverse_sweep([f], [gd.constant(1.0)], [x1, x2])
    same_graph([plain[x1], plain[x2]], [bar[x1], bar[x2]])
    values = gd.function([x1, x2], [s[4] for s in steps], optimize=False)(2.0, 5.0)
    assert [float(v) for v in values] == pytest.approx(
        [1, -1, 1, 1, -math.cos(5), 5, 2 - math.cos(5), 5.5])


def test_depth_order_is_topological_and_numbers_like_the_lecture(lecture):
    x1, x2, f = lecture
    order = depth_order([f])
    assert [n.op.name for n in order] == ["input", "input", "log", "multiply", "sin", "add",
                                          "subtract"]
    x = gd.vector("x", 3)
    y = gd.sum(gd.exp(x) * gd.tanh(gd.sin(x) + x)) + gd.sum(x)
    order = depth_order([y])
    position = {n: i for i, n in enumerate(order)}
    assert set(order) == set(toposort([y]))
    assert all(position[p] < position[n] for n in order for p in n.inputs)


def test_the_forward_sweep_reports_each_tangent_it_builds(lecture):
    x1, x2, f = lecture
    built = []
    dot = forward_sweep([f], {x1: gd.constant(1.0)},
                        observe=lambda node, tangent: built.append((node, tangent)))
    assert [n.op.name for n, _ in built] == ["log", "multiply", "add", "subtract"]  # no sin
    assert all(dot[n] is t for n, t in built)
    values = gd.function([x1, x2], [t for _, t in built], optimize=False)(2.0, 5.0)
    assert [float(v) for v in values] == pytest.approx([0.5, 5, 5.5, 5.5])


def test_trace_rows_are_the_steps_of_the_reverse_sweep():
    a, b, c = gd.scalar("a"), gd.scalar("b"), gd.scalar("c")
    y = gd.tanh(a * b) / (1 + gd.square(c)) + gd.sigmoid(a - c) * gd.sqrt(b) * a
    t = gd.trace(y, at={a: 0.3, b: 1.7, c: -0.4}, mode="reverse")
    steps = []
    reverse_sweep([y], [gd.constant(1.0)], [a, b, c],
                  observe=lambda parent, node, slot, term, total: steps.append((parent, total)))
    rows = [r for r in t.table("adjoint") if r.section == "body"]
    assert [r.node for r in rows] == [p for p, _ in steps]
    totals = gd.function([a, b, c], [s for _, s in steps], optimize=False)(0.3, 1.7, -0.4)
    np.testing.assert_allclose([float(r.value) for r in rows], [float(v) for v in totals],
                               rtol=1e-15)
    # every node's final adjoint is the one gd.grad builds for it (intermediates as wrt)
    nodes = [a, b, c, *t.body]
    grads = gd.function([a, b, c], gd.grad(y, nodes), optimize=False)(0.3, 1.7, -0.4)
    for node, g in zip(nodes, grads):
        np.testing.assert_allclose(t.adjoint(node), g, rtol=1e-15, err_msg=t.label(node))


def mlp_loss():
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 4))
    onehot = gd.matrix("onehot", shape=(None, 3))
    W1 = gd.shared(rng.normal(size=(4, 5)), name="W1")
    b1 = gd.shared(np.zeros(5), name="b1")
    W2 = gd.shared(rng.normal(size=(5, 3)), name="W2")
    b2 = gd.shared(np.zeros(3), name="b2")
    logits = gd.tanh(X @ W1 + b1) @ W2 + b2
    # the written log(softmax(.)) is one gd.grad differentiates as log_softmax(.)
    loss = -gd.mean(gd.sum(onehot * gd.log(gd.softmax(logits, axis=1)), axis=1))
    return [X, onehot], [W1, b1, W2, b2], loss


def test_drawn_gradient_of_an_mlp_loss_is_the_graph_gd_grad_returns():
    inputs, params, loss = mlp_loss()
    drawn, bar = gradient_with_map(loss, params)
    assert same_graph(drawn, gd.grad(loss, params)) > 20
    assert all(bar[p] is g for p, g in zip(params, drawn))
    # the drawing (which builds its own) shows that graph: the stable form and the adjoints
    from graphdl.viz.dot import _plan

    plan = _plan([loss], params)
    written = set(toposort([loss]))
    added = [n for n in plan.nodes if n not in written]
    assert len(added) == len(set(toposort(list(bar) + drawn)) - written)
    kinds = [plan.kinds[n] for n in added]
    assert kinds.count("gradient") == 4 and "stabilized" in kinds  # log_softmax beside log(softmax)
    assert len(plan.adjoint_links) == len(bar)  # every node the sweep passed: its adjoint linked


def test_drawn_gradient_of_log_softmax_is_finite_at_far_apart_logits():
    """It was the copy's: NaN at logits (800, -800, 0) where gd.grad gives e_1 - softmax(z)."""
    z = gd.vector("z", 3)
    cost = gd.log(gd.softmax(z))[1]
    at = np.array([800.0, -800.0, 0.0])
    (drawn,), _ = gradient_with_map(cost, [z])
    expected = gd.function([z], gd.grad(cost, z))(at)
    np.testing.assert_array_equal(expected, [-1.0, 1.0, 0.0])
    for optimize in (False, True):
        np.testing.assert_array_equal(gd.function([z], drawn, optimize=optimize)(at), expected)
    source = gd.to_dot(cost, wrt=[z]).source
    assert "log_softmax f64[3]" in source and "stable form (what grad differentiates)" in source


def test_no_viz_module_applies_derivative_rules_itself():
    """Drawings and traces take adjoints and tangents from graphdl.autodiff's sweeps: no module
    under graphdl/viz reads an op's jvp/vjp rule or builds the adjoint sums itself."""
    offenders = []
    for path in sorted(VIZ.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("vjp", "jvp"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []
    trace_src = (VIZ / "trace.py").read_text(encoding="utf-8")
    assert "reverse_sweep(" in trace_src and "forward_sweep(" in trace_src


def test_fused_ops_are_differentiated_through_their_declared_decomposition():
    from graphdl.ops import fused

    z = gd.matrix("z", shape=(None, 3))
    labels = gd.matrix("y", shape=(None, 1), dtype="int64")
    zv = np.array([[0.3, -1.2, 2.0], [800.0, -800.0, 0.0]])
    yv = np.array([[2], [1]])
    loss = gd.sum(fused.softmax_xent(z, labels, axis=1))
    plain = gd.sum(fused.decompose_xent(z, labels, 1))
    assert fused.SOFTMAX_XENT.decompose is not None and fused.SOFTMAX_XENT.jvp is None
    assert fused.SOFTMAX_XENT_GRAD.vjp is None and fused.SOFTMAX_XENT_GRAD.differentiable
    direction = np.array([[1.0, 0.5, -2.0], [0.25, 1.0, 3.0]])
    # forward mode through the decomposition, and second order (the grad op's own rules)
    got = gd.function([z, labels], [gd.jvp(loss, z, direction), gd.hvp(loss, z, direction)])
    want = gd.function([z, labels], [gd.jvp(plain, z, direction), gd.hvp(plain, z, direction)])
    for a, b in zip(got(zv, yv), want(zv, yv)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    # and against central differences at moderate logits
    f = gd.function([z, labels], loss)
    h, at = 1e-6, zv[:1]
    numeric = (f(at + h * direction[:1], yv[:1]) - f(at - h * direction[:1], yv[:1])) / (2 * h)
    assert float(gd.function([z, labels], gd.jvp(loss, z, direction[:1]))(at, yv[:1])) == \
        pytest.approx(numeric, rel=1e-7)



def test_a_trace_says_when_gd_grad_differentiates_a_stable_form_instead(lecture):
    z = gd.vector("z", 3)
    cost = gd.log(gd.softmax(z))[1]
    at = np.array([800.0, -800.0, 0.0])
    with np.errstate(all="ignore"):
        t = gd.trace(cost, at={z: at}, mode="reverse")
    # the table is the written graph's sweep: log of an underflowed probability
    assert np.isnan(t.gradient[z]).all()
    note = "differentiate a numerically stable form of this graph " \
        "(log(softmax(x)) -> log_softmax(x))"
    assert len(t.notes) == 1 and note in t.notes[0]
    assert str(t).endswith(f"note: {t.notes[0]}")
    assert f"> note: {t.notes[0]}" in t.to_markdown() and "note: gd.grad" in t.to_html()
    # where gd.grad's graph is the one written there is nothing to say
    x1, x2, f = lecture
    assert gd.trace(f, at={x1: 2, x2: 5}, mode="reverse").notes == []
    assert "note:" not in str(gd.trace(f, at={x1: 2, x2: 5}, mode="forward"))

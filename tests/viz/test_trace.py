"""Evaluation traces against the lecture's tables (Baydin et al.'s f(x1, x2) at (2, 5)) and
against graphdl's own gradients and NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import InputError
from graphdl.viz.trace import lecture_order


@pytest.fixture
def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    return x1, x2, f


def _rows(trace, kind):
    return [(r.target, r.expression, r.text_value) for r in trace.table(kind)]


def test_primal_trace_numbers_and_formulas_as_in_the_lecture(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5})
    assert _rows(t, "primal") == [
        ("v_{-1}", "x1", "2"),
        ("v_0", "x2", "5"),
        ("v_1", "ln v_{-1}", "0.693"),
        ("v_2", "v_{-1} × v_0", "10"),
        ("v_3", "sin v_0", "−0.959"),
        ("v_4", "v_1 + v_2", "10.693"),
        ("v_5", "v_4 − v_3", "11.652"),
        ("y", "v_5", "11.652"),
    ]
    numbers = [r.numbers for r in t.table("primal") if r.section == "body"]
    assert numbers == ["ln 2", "2 × 5", "sin 5", "0.693 + 10", "10.693 − (−0.959)"]
    assert t.value(f) == pytest.approx(math.log(2) + 10 - math.sin(5))
    assert [t.label(n) for n in (x1, x2)] == ["v_{-1}", "v_0"]


def test_forward_tangent_trace_as_in_the_lecture(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="forward")
    rows = t.table("tangent")
    assert [(r.target, r.expression) for r in rows] == [
        ("v̇_{-1}", "x\u03071"),
        ("v̇_0", "x\u03072"),
        ("v̇_1", "v̇_{-1} / v_{-1}"),
        ("v̇_2", "v̇_{-1} × v_0 + v̇_0 × v_{-1}"),
        ("v̇_3", "v̇_0 × cos v_0"),
        ("v̇_4", "v̇_1 + v̇_2"),
        ("v̇_5", "v̇_4 − v̇_3"),
        ("y\u0307", "v̇_5"),
    ]
    assert [r.numbers for r in rows if r.section == "body"] == [
        "1 / 2", "1 × 5 + 0 × 2", "0 × cos 5", "0.5 + 5", "5.5 − 0"]
    assert [float(r.value) for r in rows] == pytest.approx([1, 0, 0.5, 5, 0, 5.5, 5.5, 5.5])
    assert t.tangent(f) == pytest.approx(1 / 2 + 5)


def test_forward_seed_picks_the_direction(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="forward", seed=x2)
    assert t.tangent(f) == pytest.approx(2 - math.cos(5))
    both = gd.trace(f, at={x1: 2, x2: 5}, mode="forward", seed={"x1": 1.0, "x2": 2.0})
    assert both.tangent(f) == pytest.approx(5.5 + 2 * (2 - math.cos(5)))


def test_reverse_adjoint_trace_rows_in_the_lecture_order(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="reverse")
    rows = t.table("adjoint")
    assert [(r.target, r.chain, r.expression, r.text_value) for r in rows] == [
        ("v̄_5", "", "y\u0304", "1"),
        ("v̄_4", "v̄_5 ∂v_5/∂v_4", "v̄_5 × 1", "1"),
        ("v̄_3", "v̄_5 ∂v_5/∂v_3", "v̄_5 × (−1)", "−1"),
        ("v̄_1", "v̄_4 ∂v_4/∂v_1", "v̄_4 × 1", "1"),
        ("v̄_2", "v̄_4 ∂v_4/∂v_2", "v̄_4 × 1", "1"),
        ("v̄_0", "v̄_3 ∂v_3/∂v_0", "v̄_3 × cos v_0", "−0.284"),
        ("v̄_{-1}", "v̄_2 ∂v_2/∂v_{-1}", "v̄_2 × v_0", "5"),
        ("v̄_0", "v̄_0 + v̄_2 ∂v_2/∂v_0", "v̄_0 + v̄_2 × v_{-1}", "1.716"),
        ("v̄_{-1}", "v̄_{-1} + v̄_1 ∂v_1/∂v_{-1}", "v̄_{-1} + v̄_1 / v_{-1}", "5.5"),
        ("x̄1", "", "v̄_{-1}", "5.5"),
        ("x̄2", "", "v̄_0", "1.716"),
    ]
    assert float(rows[5].value) == pytest.approx(-math.cos(5))
    assert t.gradient[x1] == pytest.approx(5.5)
    assert t.gradient[x2] == pytest.approx(2 - math.cos(5))
    assert str(rows[-4]) == "v̄_0 = v̄_0 + v̄_2 ∂v_2/∂v_0 = v̄_0 + v̄_2 × v_{-1} = 1.716"


def test_text_table_is_aligned_with_rules_between_sections(lecture):
    x1, x2, f = lecture
    text = str(gd.trace(f, at={x1: 2, x2: 5}, mode="reverse"))
    lines = text.splitlines()
    assert lines[0] == "Forward primal trace"
    assert "v_5    = v_4 − v_3    = 10.693 − (−0.959) = 11.652" in lines
    assert "Reverse adjoint (derivative) trace" in lines
    # the "=" of the value column lines up in every body row of the adjoint table
    start = lines.index("Reverse adjoint (derivative) trace")
    body = [ln for ln in lines[start + 2:] if ln.startswith("v̄")]
    columns = {ln.replace("\u0304", "").rindex("= ") for ln in body}
    assert len(columns) == 1


def test_markdown_html_latex(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="reverse")
    md = t.to_markdown()
    assert "| `v_4` | `v_1 + v_2` | `0.693 + 10` | `10.693` |" in md
    assert "| `v̄_{-1}` | `v̄_{-1} + v̄_1 ∂v_1/∂v_{-1}` | `v̄_{-1} + v̄_1 / v_{-1}` | `5.5` |" in md
    html = t.to_html()
    assert "v̄<sub>-1</sub>" in html and "<caption" in html and "1.716" in html
    assert t._repr_html_().startswith('<div class="graphdl-trace">')
    tex = t.to_latex()
    assert r"$\bar{v}_{-1}$ & $= \bar{v}_{-1} + \bar{v}_1 \frac{\partial v_1}{\partial v_{-1}}$" \
        in tex
    assert r"$v_2$ & $= v_{-1} \times v_0$ & $= 2 \times 5$ & $= 10$ \\" in tex
    assert r"$v_1$ & $= \ln v_{-1}$" in tex and "\\hline" in tex


def test_lecture_order_is_by_depth():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    assert [n.op.name for n in lecture_order([f])] == ["log", "multiply", "sin", "add",
                                                        "subtract"]


def test_repeated_operand_accumulates_and_matches_grad():
    x = gd.scalar("x")
    y = x * x * 3.0 + gd.exp(x)
    t = gd.trace(y, at={x: 0.5}, mode="reverse")
    steps = [(r.expression, float(r.value)) for r in t.table("adjoint")
             if r.section == "body" and r.target == "v̄_0"]
    # exp's partial is its own output v_2; x * x contributes twice, each step its own row
    assert steps == [("v̄_2 × v_2", pytest.approx(math.exp(0.5))),
                     ("v̄_0 + v̄_1 × v_0", pytest.approx(math.exp(0.5) + 1.5)),
                     ("v̄_0 + v̄_1 × v_0", pytest.approx(math.exp(0.5) + 3.0))]
    assert t.gradient[x] == pytest.approx(6 * 0.5 + math.exp(0.5))
    # scalar constants appear inline in formulas
    primal = {r.target: (r.expression, r.numbers) for r in t.table("primal")}
    assert primal["v_3"] == ("v_1 × 3", "0.25 × 3")


def test_reverse_trace_equals_engine_gradient_on_a_bigger_graph():
    a, b, c = gd.scalar("a"), gd.scalar("b"), gd.scalar("c")
    y = gd.tanh(a * b) / (1 + gd.square(c)) + gd.sigmoid(a - c) * gd.sqrt(b)
    at = {a: 0.3, b: 1.7, c: -0.4}
    t = gd.trace(y, at=at, mode="reverse")
    grads = gd.function([a, b, c], gd.grad(y, [a, b, c]))(0.3, 1.7, -0.4)
    assert [float(t.gradient[v]) for v in (a, b, c)] == pytest.approx([float(g) for g in grads])
    forward = gd.trace(y, at=at, mode="forward", seed={a: 1.0, b: 2.0, c: -1.0})
    expected = grads[0] + 2 * grads[1] - grads[2]
    assert float(forward.tangent(y)) == pytest.approx(float(expected))
    sigmoid_row = next(r for r in forward.table("tangent") if "σ" in r.expression or
                       "(1 − v_" in r.expression)
    assert sigmoid_row.kind == "tangent"


def test_array_valued_graph_shows_shapes_and_summaries():
    X = gd.matrix("X", shape=(None, 3))
    W = gd.shared(np.arange(6.0).reshape(3, 2) / 10, name="W")
    y = gd.sum(gd.tanh(X @ W))
    Xv = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]])
    t = gd.trace(y, at={X: Xv}, mode="reverse")
    primal = {r.target: r for r in t.table("primal")}
    assert primal["v_{-1}"].expression == "X" and primal["v_0"].expression == "W"
    assert primal["v_{-1}"].text_value.startswith("[2×3] min −2, mean 0.417, max 2")
    assert primal["v_1"].expression == "v_{-1} @ v_0"
    assert primal["v_1"].numbers == ""  # arrays are not substituted into formulas
    np.testing.assert_allclose(t.value(y), np.tanh(Xv @ W.get_value()).sum())
    grad_w = gd.function([X], gd.grad(y, W))(Xv)
    np.testing.assert_allclose(t.gradient[W], grad_w)
    steps = [r.expression for r in t.table("adjoint") if r.section == "body"]
    assert "v̄_1 @ v_0ᵀ" in steps and "v_{-1}ᵀ @ v̄_1" in steps


def test_float32_end_to_end():
    x = gd.scalar("x", dtype="float32")
    y = gd.exp(x) * 2.0
    t = gd.trace(y, at={x: 1.0}, mode="reverse")
    assert t.value(y).dtype == np.float32
    assert t.gradient[x].dtype == np.float32
    assert float(t.gradient[x]) == pytest.approx(2 * math.e, rel=1e-6)


def test_errors_name_the_input(lecture):
    x1, x2, f = lecture
    with pytest.raises(InputError, match="x2"):
        gd.trace(f, at={x1: 2})
    with pytest.raises(InputError, match="not an input"):
        gd.trace(f, at={x1: 2, x2: 5, "zz": 1})
    with pytest.raises(ValueError, match="mode"):
        gd.trace(f, at={x1: 2, x2: 5}, mode="sideways")
    n = gd.scalar("n", dtype="int64")
    with pytest.raises(gd.DifferentiationError, match="float"):
        gd.trace(n * 2, at={n: 3}, mode="reverse")


def test_names_as_keys_and_digits(lecture):
    _x1, _x2, f = lecture
    t = gd.trace(f, at={"x1": 2, "x2": 5}, digits=5)
    assert t.table("primal")[-1].text_value == "11.65207"

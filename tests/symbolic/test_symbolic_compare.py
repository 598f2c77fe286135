"""`gd.compare`, the expression-swell measurement, the safe formula parser and the CLI (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import graphdl as gd
from graphdl.symbolic import SymbolicError

LECTURE = "log(x1) + x1*x2 - sin(x2)"
F_AT = np.log(2) + 10 - np.sin(5)  # the lecture's primal trace: 11.652
GRAD_AT = [0.5 + 5, 2 - np.cos(5)]  # its tangent traces: 5.5, and 1.716


def test_compare_the_lecture_function():
    report = gd.compare(LECTURE, wrt=["x1", "x2"], at={"x1": 2, "x2": 5}, n_points=500)
    assert report.value_at == pytest.approx(F_AT, rel=1e-15)
    assert report.value_at == pytest.approx(11.652, abs=5e-4)
    np.testing.assert_allclose(report.grad_at_graphdl, GRAD_AT, rtol=1e-15)
    np.testing.assert_allclose(report.grad_at_sympy, GRAD_AT, rtol=1e-15)
    assert report.max_abs_diff <= 1e-13 and report.max_rel_diff <= 1e-14
    assert report.wrt == ["x1", "x2"] and report.at == {"x1": 2.0, "x2": 5.0}
    # x1*x2 + log(x1) - sin(x2): one multiply, add, log, subtract, sin either way
    assert report.sympy_forward_ops == report.graphdl_forward_ops == 5
    assert report.sympy_grad_ops == 4  # x2 + 1/x1 and x1 - cos(x2), counted by count_ops
    assert report.graphdl_grad_ops >= report.graphdl_grad_ops_optimized >= 4
    for seconds in (report.sympy_diff_seconds, report.sympy_lambdify_seconds,
                    report.sympy_eval_seconds, report.graphdl_grad_seconds,
                    report.graphdl_compile_seconds, report.graphdl_eval_seconds):
        assert 0 < seconds < 30
    winner, ratio = report.faster_eval
    assert winner in ("sympy", "graphdl") and ratio >= 1


def test_report_representations_carry_the_numbers():
    report = gd.compare(LECTURE, at={"x1": 2, "x2": 5}, n_points=10)
    text = report.to_text()
    assert "f = 11.65207146" in text and "5.5, 1.716337815" in text
    assert "gradient size, shared (ops)" in text and "(sympy.cse" in text
    markdown = report.to_markdown()
    assert "| --- | --- | --- |" in markdown and "| function size (ops) | 5 | 5 |" in markdown
    page = report._repr_html_()
    assert page.count("<tr>") == 7  # header and six rows
    assert "<td>function size (ops)</td><td>5</td><td>5</td>" in page
    data = json.loads(report.to_json())
    assert data["value_at"] == pytest.approx(F_AT)
    assert data["faster_prepare"] in ("sympy", "graphdl") and data["prepare_ratio"] >= 1
    assert str(report) == text


def test_compare_a_graph_with_a_subset_of_variables():
    x, y = gd.scalar("x"), gd.scalar("y")
    cost = gd.tanh(x * y) + gd.exp(-x)
    report = gd.compare(cost, wrt=y, at={x: 0.5, "y": -1.0}, n_points=200)
    assert report.wrt == ["y"]
    expected = 0.5 * (1 - np.tanh(-0.5) ** 2)
    assert report.grad_at_graphdl == [pytest.approx(expected, rel=1e-14)]
    assert report.max_rel_diff <= 1e-13


def test_compare_without_the_symbolic_side():
    report = gd.compare(LECTURE, at={"x1": 2, "x2": 5}, n_points=10, symbolic=False)
    assert report.sympy_grad_ops is None and report.faster_eval == (None, None)
    np.testing.assert_allclose(report.grad_at_graphdl, GRAD_AT, rtol=1e-15)
    assert "not measured" in report.to_text()


def test_compare_errors_name_the_problem():
    with pytest.raises(SymbolicError, match="not a variable of the function"):
        gd.compare(LECTURE, wrt=["x3"])
    with pytest.raises(SymbolicError, match=r"at names \['z'\]"):
        gd.compare(LECTURE, at={"z": 1.0})
    with pytest.raises(SymbolicError, match="scalar function of scalar inputs"):
        gd.compare(gd.sum(gd.vector("v", 3)))
    x, y = gd.scalar("x"), gd.scalar("y")
    with pytest.raises(SymbolicError, match="every op must be elementwise; .*expand_dims"):
        gd.compare(gd.sum(gd.stack([x, y])))


def test_compare_in_float32():
    x, y = gd.scalar("x", "float32"), gd.scalar("y", "float32")
    report = gd.compare(gd.tanh(x * y) + x ** 2, at={"x": 0.5, "y": 2.0}, n_points=100)
    expected = [2.0 * (1 - np.tanh(1.0) ** 2) + 1.0, 0.5 * (1 - np.tanh(1.0) ** 2)]
    np.testing.assert_allclose(report.grad_at_graphdl, expected, rtol=1e-6)
    assert report.max_rel_diff <= 1e-6


# --- expression swell: x -> tanh(a x + b x^2), nested ------------------------------------------
def nested(depth: int) -> tuple[gd.Node, gd.Node]:
    x, a, b = gd.scalar("x"), gd.scalar("a"), gd.scalar("b")
    y = x
    for _ in range(depth):
        y = gd.tanh(a * y + b * y ** 2)
    return y, x


def test_gradient_graph_stays_within_a_constant_factor_of_the_function():
    rows = []
    for depth in (1, 2, 4, 8, 16, 32):
        cost, x = nested(depth)
        report = gd.compare(cost, wrt=x, at={"x": 0.3, "a": 0.9, "b": 0.2}, n_points=100,
                            repeats=1, symbolic=depth <= 6)
        forward = report.graphdl_forward_ops
        assert forward == 5 * depth  # multiply, power, multiply, add, tanh per level
        assert report.graphdl_grad_ops <= 3 * forward
        assert report.graphdl_grad_ops_optimized <= 3 * forward
        if report.symbolic:  # SymPy's sizes are reported, not asserted; the values must agree
            assert report.max_rel_diff <= 1e-12
        rows.append((depth, forward, report.graphdl_grad_ops, report.graphdl_grad_ops_optimized,
                     report.sympy_grad_ops, report.sympy_grad_ops_cse))
    print("\ndepth  forward  grad raw  grad optimized  sympy raw  sympy cse")
    for row in rows:
        print("  ".join(f"{'-' if v is None else v:>8}" for v in row))


# --- the parser -------------------------------------------------------------------------------
HOSTILE = [
    "__import__('os').system('echo pwned')",
    "__import__",
    "x.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "sin.__globals__",
    "(lambda: 1)()",
    "'abc'",
    "x[0]",
    "[x for x in y]",
    "exec('1')",
    "eval('1')",
    "open('/etc/passwd')",
    "x if y else z",
    "x and y",
    "x < y",
    "f'{x}'",
    "x; y",
    "x\n__import__('os')",
    "sin(x, evaluate=False)",
    "sin(*x)",
    "Integer(1) + x",
    "_x + 1",
    "x @ y",
    "True + x",
    "2j * x",
    "x ^ 2",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_compare_refuses_everything_but_formulas(text):
    with pytest.raises(SymbolicError, match="not allowed|not an allowed|cannot|only real numbers|"
                                            "plain positional|a function; call it"):
        gd.compare(text)


def test_compare_reads_formulas_exactly():
    report = gd.compare("abs(x) + max(x, y) + ln(z) + sqrt(x)/2 + x/3", at={"x": 2, "z": 3},
                        n_points=5, repeats=1)
    x, y, z = (sp.Symbol(n, real=True) for n in "xyz")
    assert report.expression == str(sp.Abs(x) + sp.Max(x, y) + sp.log(z) + sp.sqrt(x) / 2 + x / 3)
    assert report.wrt == ["x", "y", "z"]  # alphabetical, as before
    np.testing.assert_allclose(report.grad_at_sympy, [2 + 0.25 / np.sqrt(2) + 1 / 3, 0, 1 / 3],
                               rtol=1e-15)
    report = gd.compare("print + len", n_points=5, repeats=1)  # just names, builtins out of reach
    assert report.wrt == ["len", "print"] and report.value_at == 2.0


# --- the command line, end to end -----------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphdl.cli.main", "compare", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_compare_reports_the_lecture_numbers():
    done = run_cli(LECTURE, "--wrt", "x1", "x2", "--at", "x1=2", "x2=5", "--points", "100",
                   "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["value_at"] == pytest.approx(F_AT, rel=1e-15)
    np.testing.assert_allclose(data["grad_at_graphdl"], GRAD_AT, rtol=1e-15)
    np.testing.assert_allclose(data["grad_at_sympy"], GRAD_AT, rtol=1e-15)
    assert data["max_abs_diff"] <= 1e-13 and data["n_points"] == 100


def test_cli_runs_nothing_from_the_formula(tmp_path):
    marker = tmp_path / "pwned"
    done = run_cli(f"__import__('os').system('touch {marker}')", "--points", "5")
    assert done.returncode == 2
    assert "not an allowed function" in done.stderr
    assert not marker.exists()
    done = run_cli("x ** 2", "--at", "x=3", "--points", "5", "--format", "markdown")
    assert done.returncode == 0 and "| gradient size, raw (ops) |" in done.stdout
    assert "gradient (graphdl) = [6]" in done.stdout

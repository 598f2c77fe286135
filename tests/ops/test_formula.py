"""The one formula language (`graphdl.ops.formula`) of ``graphdl trace``, ``compare``, ``demo``
and ``render --formula``, ``gd.trace`` and ``gd.compare`` (issues 14 and 15): every function it
offers works in every command, its bounds, and the command line's one-line errors."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import sympy as sp

import graphdl as gd
from graphdl.cli.main import main as cli
from graphdl.ops.formula import (
    ALIASES,
    CONSTANTS,
    MAX_DEPTH,
    MAX_LENGTH,
    FormulaError,
    free_names,
    functions,
    parse_formula,
)
from graphdl.ops.registry import REGISTRY
from graphdl.symbolic import SymbolicError

POINT = {"x": 0.7, "y": 1.3, "z": 2.1}  # away from every kink and tie of the functions below
H = 1e-6


def formula_for(name: str) -> str:
    """A formula exercising ``name`` whose value is a float: a call on as many of x, y, z as the
    function takes, turned into a choice when the call gives a boolean."""
    call = f"{name}({', '.join('xyz'[:functions()[name].arity])})"
    if parse_formula(call).dtype == np.bool_:
        return f"where({call}, x*y, x - y)"
    return f"{call} * x + 1"


def point_for(text: str) -> dict[str, float]:
    point = {name: POINT[name] for name in free_names(text)}
    if text.startswith("arccosh("):  # defined for x >= 1
        point["x"] += 1.0
    return point


def central_differences(text: str, point: dict[str, float]) -> list[float]:
    names = list(point)
    inputs = {n: gd.scalar(n) for n in names}
    fn = gd.function(list(inputs.values()), parse_formula(text, inputs))
    grads = []
    for name in names:
        up, down = dict(point), dict(point)
        up[name] += H
        down[name] -= H
        grads.append((fn(*up.values()) - fn(*down.values())) / (2 * H))
    return grads


def test_the_language_is_read_off_the_registry():
    table = functions()
    own = {name for name in table if name not in ALIASES}
    needs_attributes = {"cast", "round", "polygamma"}  # a dtype, decimals, an order
    expected = {op.name for op in REGISTRY.values()
                if op.elementwise and op.sympy is not None and op.name not in needs_attributes}
    assert own == expected  # every attribute-free elementwise op with a SymPy form, no other
    for name, function in table.items():
        public = ALIASES.get(name, name)  # gd.<name>, or gd.special.<name> for SciPy's
        build = getattr(gd, public) if hasattr(gd, public) else getattr(gd.special, public)
        assert function.op is build(
            *[gd.scalar(v) for v in "abc"[:function.arity]]).op  # the public gd function's op
    assert {n: table[n].arity for n in ("sin", "maximum", "where", "clip", "max", "ln")} == {
        "sin": 1, "maximum": 2, "where": 3, "clip": 3, "max": 2, "ln": 1}
    for bad in ("relu(x, x)", "max(x)", "where(x, x)"):
        with pytest.raises(FormulaError, match=r"takes \d arguments?, got \d"):
            parse_formula(bad)


def test_a_new_op_with_a_sympy_form_joins_the_language():
    from graphdl.ops.elementwise import elementwise_op

    name = "cube_for_formula_test"
    assert name not in functions()
    elementwise_op(name, "{0} ** 3", np.cbrt, lambda n, i: 3 * n.inputs[0] ** 2,
                   sympy=lambda s, a, at: a[0] ** 3)
    try:
        assert functions()[name].arity == 1
        t = gd.trace(f"{name}(x)", at={"x": 2.0}, mode="reverse")
        assert float(t.value(t.outputs[0])) == 8.0
        assert float(next(iter(t.gradient.values()))) == 12.0
    finally:
        del REGISTRY[name]


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_function_works_in_every_command(name, capsys, tmp_path):
    text = formula_for(name)
    point = point_for(text)
    expected = central_differences(text, point)
    if name == "stop_gradient":  # its operand counts as a constant: d/dx stop(x)*x = x
        expected = [POINT["x"]]

    # gd.trace, reverse and forward
    t = gd.trace(text, at=point, mode="reverse")
    by_name = {v.name: float(g) for v, g in t.gradient.items()}
    np.testing.assert_allclose([by_name[n] for n in point], expected, rtol=1e-6, atol=1e-8)
    first = next(iter(point))
    t = gd.trace(text, at=point, mode="forward", seed={first: 1.0})
    assert float(t.tangent(t.outputs[0])) == pytest.approx(expected[0], rel=1e-6, abs=1e-8)

    # gd.compare: graphdl's gradient and SymPy's
    report = gd.compare(text, at=point, n_points=50, repeats=1)
    assert report.wrt == sorted(point)
    by_name = dict(zip(report.wrt, report.grad_at_graphdl))
    np.testing.assert_allclose([by_name[n] for n in point], expected, rtol=1e-6, atol=1e-8)
    if name == "stop_gradient":  # SymPy knows no stop_gradient: it differentiates through it
        assert report.grad_at_sympy == pytest.approx([1.4, 0.0][:len(point)], rel=1e-12)
    else:
        assert report.max_rel_diff <= 1e-12 or report.max_abs_diff <= 1e-12

    # the same through the command lines (in process: each command's own parsing and printing)
    at = [f"{n}={v}" for n, v in point.items()]
    assert cli(["trace", text, "--at", *at, "--mode", "reverse", "--digits", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = {line.split()[0]: float(line.split()[-1].replace("\u2212", "-")) for line in lines
             if re.match(r"^[xyz]\u0304 ", line)}
    np.testing.assert_allclose([shown[n + "\u0304"] for n in point], expected, rtol=1e-6,
                               atol=1e-8)
    assert cli(["compare", text, "--at", *at, "--points", "20", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = dict(zip(data["wrt"], data["grad_at_graphdl"]))
    np.testing.assert_allclose([by_name[n] for n in point], expected, rtol=1e-6, atol=1e-8)
    assert cli(["demo", text, "--at", *at]) == 0
    shown = dict(re.findall(r"^  df/d(\w+) +=\s+(\S+)$", capsys.readouterr().out, re.M))
    np.testing.assert_allclose([float(shown[n]) for n in point], expected, rtol=1e-5, atol=1e-6)
    drawing = tmp_path / "f.dot"
    assert cli(["render", "--formula", text, "-o", str(drawing), "--grad"]) == 0
    op = functions()[name].op.name
    assert re.search(rf'\[label="{op} (f64|bool)\[\]"', drawing.read_text()), op  # its node


def test_aliases_and_constants_mean_the_same_in_both_commands(capsys):
    text = "ln(x) + max(x, y) - min(x, y) + pi*e*x + E"
    value = math.log(0.7) + 1.3 - 0.7 + math.pi * math.e * 0.7 + math.e
    gradient = [1 / 0.7 - 1 + math.pi * math.e, 1.0]  # max(x, y) - min(x, y) = y - x here
    t = gd.trace(text, at={"x": 0.7, "y": 1.3}, mode="reverse")
    assert float(t.value(t.outputs[0])) == pytest.approx(value, rel=1e-15)
    np.testing.assert_allclose([float(g) for g in t.gradient.values()], gradient, rtol=1e-14)
    report = gd.compare(text, at={"x": 0.7, "y": 1.3}, n_points=10, repeats=1)
    assert report.value_at == pytest.approx(value, rel=1e-15)
    np.testing.assert_allclose(report.grad_at_graphdl, gradient, rtol=1e-14)
    np.testing.assert_allclose(report.grad_at_sympy, gradient, rtol=1e-14)
    assert set(CONSTANTS) == {"pi", "e", "E"} and ALIASES == {
        "ln": "log", "max": "maximum", "min": "minimum"}
    with pytest.raises(FormulaError, match="'e' is the constant 2.718"):
        gd.trace("x * e", at={"x": 1.0, "e": 2.0})
    assert cli(["trace", "x", "--at", "x=1", "pi=2"]) == 2
    assert "'pi' is the constant 3.14" in capsys.readouterr().err


def test_the_formula_builds_the_graph_python_would():
    x, y, z = (gd.scalar(n) for n in "xyz")
    text = "abs(x) + max(x, y) + ln(z) + sqrt(x)/2 + x*2**-1 + where(less(x, y), z, 1)"
    out = parse_formula(text, {"x": x, "y": y, "z": z})
    sx, sy, sz = (sp.Symbol(n, real=True) for n in "xyz")
    assert gd.to_sympy(out) == (sp.Abs(sx) + sp.Max(sx, sy) + sp.log(sz) + sp.sqrt(sx) / 2
                                + sx / 2 + sp.Piecewise((sz, sx < sy), (1, True)))
    assert [n.op.name for n in gd.toposort([parse_formula("x*2**-1")])][-2:] == ["constant",
                                                                              "multiply"]


def test_values_and_variables_are_checked():
    with pytest.raises(FormulaError, match="value given for 'y' is not a number .*'a'"):
        gd.trace("x*y", at={"x": 1.0, "y": "a"})
    with pytest.raises(FormulaError, match="'z' given a value but not used"):
        gd.trace("x*y", at={"x": 1.0, "y": 2.0, "z": 3.0})
    with pytest.raises(FormulaError, match="unknown name 'y'"):
        gd.trace("x*y", at={"x": 1.0})
    assert free_names("(b +\n a * sin(c))") == ["b", "a", "c"]  # line by line, then by column
    with pytest.raises(SymbolicError, match="'2 \\* pi' has no variables"):
        gd.compare("2 * pi")
    t = gd.trace("x * 2", at={"x": np.array([1, 2], np.float32)}, mode="reverse")
    assert t.outputs[0].dtype == np.float32 and t.values[t.outputs[0]].tolist() == [2, 4]


# --- bounds (issue 15) ------------------------------------------------------------------------
def test_a_tower_of_powers_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(SymbolicError, match=r"9\*\*387420489 is about 10\^369693100, beyond"):
        gd.compare("x*9**9**9**9")
    with pytest.raises(FormulaError, match="beyond what a float holds"):
        gd.trace("x*9**9**9**9", at={"x": 1.0})
    assert time.perf_counter() - start < 5
    with pytest.raises(FormulaError, match=r"\(-8\)\*\*0.333.* is not a real number"):
        parse_formula("x * (-8)**(1/3)")
    with pytest.raises(FormulaError, match="division by zero in the constant 1/0"):
        parse_formula("x + 1/0")
    with pytest.raises(FormulaError, match="1e400 is not a finite|inf is not a finite"):
        parse_formula("x * 1e400")
    assert parse_formula("x * 10**30").inputs[1].attrs["value"] == 1e30  # a float, not int64


def test_long_and_deep_formulas_get_a_clear_message():
    for text in ("+".join(["x"] * 3000), "-" * (MAX_DEPTH + 1) + "x", "x" + "+x" * MAX_DEPTH):
        with pytest.raises(FormulaError, match=f"limit of {MAX_DEPTH}"):
            parse_formula(text)
        with pytest.raises(SymbolicError, match=f"limit of {MAX_DEPTH}"):
            gd.compare(text)
    with pytest.raises(FormulaError, match=f"more than the limit of {MAX_LENGTH}"):
        gd.trace("x" + " " * MAX_LENGTH, at={"x": 1.0})
    deep = "sin(" * 190 + "x" + ")" * 190  # within the language; too deep for sympy.diff
    t = gd.trace(deep, at={"x": 0.5}, mode="reverse")
    expected = central_differences(deep, {"x": 0.5})[0]
    assert float(next(iter(t.gradient.values()))) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(SymbolicError, match="SymPy ran out of stack"):
        gd.compare(deep, n_points=5, repeats=1)
    report = gd.compare(deep, at={"x": 0.5}, n_points=5, repeats=1, symbolic=False)
    assert report.grad_at_graphdl[0] == pytest.approx(expected, rel=1e-6)


def test_the_output_is_never_called_like_an_input(capsys):
    assert cli(["trace", "exp(x)*sin(y) + x**2", "--at", "x=1", "y=2", "--mode", "forward"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines if "y\u0307" in line] == ["0"]  # input y only
    assert lines[-1].split()[0] == "f\u0307" and lines[-1].split()[-1] == "4.472"
    t = gd.trace("f + y + y_1", at={"f": 1.0, "y": 2.0, "y_1": 3.0})
    assert t.names[t.outputs[0]] == "g"


# --- the command line: one line on stderr, non-zero exit, never a traceback --------------------
BAD = ["x*9**9**9**9", "+".join(["x"] * 3000), "sin(x, x)", "x ^ 2", "x +", "x.real", "True"]


@pytest.mark.parametrize("command", ["trace", "compare"])
def test_command_line_errors_are_one_line(command, capsys, tmp_path):
    for text in BAD:
        assert cli([command, text, "--at", "x=1"]) == 2, text
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, (text, err)
        assert err.startswith(f"graphdl {command}: ") and "Traceback" not in err
        assert not err.startswith(f"graphdl {command}: compare: ")
    marker = tmp_path / "pwned"
    args = [sys.executable, "-m", "graphdl.cli.main", command,
            f"__import__('os').system('touch {marker}')", "--at", "x=1"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not an allowed function" in done.stderr
    assert not marker.exists()

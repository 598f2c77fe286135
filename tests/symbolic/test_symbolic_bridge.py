"""The SymPy bridge: graphs to SymPy and back keep their values (issue 5).

Every case of the op table (`tests/ops/test_ops_table.py`) whose ops have SymPy rules is converted
with `gd.to_sympy`, evaluated by ``sympy.lambdify`` at the case's values and held against the
compiled graph; cases with an op SymPy cannot express must fail naming that op. Elementwise
cases also go back through `gd.from_sympy` and must compute the same values again.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from test_ops_table import CASES

import graphdl as gd
from graphdl.ops.registry import REGISTRY
from graphdl.symbolic import SymbolicError, input_symbols
from graphdl.symbolic.sympy_to_graph import reverse_table

STATIC_CASES = [pytest.param(name, case, id=f"{name}-{k}-{case.label or 'default'}")
                for name, cases in CASES.items() for k, case in enumerate(cases)]

# Ops whose SymPy form this issue adds or relies on: a rule silently dropped must fail a test.
MUST_EXPRESS = {
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "less",
    "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
    "logical_or", "logical_not", "negative", "reciprocal", "exp", "log", "log1p", "expm1", "sqrt",
    "square", "abs", "sign", "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "relu", "floor",
    "stop_gradient", "where", "clip", "cast", "sum", "mean", "max", "min", "prod", "reshape",
    "transpose", "expand_dims", "squeeze", "broadcast_to", "concatenate", "getitem", "matmul",
    "softmax", "log_softmax", "logsumexp", "one_hot",
}


def sympy_values(result, inputs, values):
    """Evaluate what `to_sympy` returned at the inputs' values, with lambdify."""
    table = input_symbols(inputs)
    if not isinstance(result, (sp.MatrixBase, sp.NDimArray)) and (
            result.free_symbols <= set(table.values())):  # the elementwise reading
        shape = np.broadcast_shapes(*[np.shape(v) for v in values])
        arrays = [np.broadcast_to(v, shape) for v in values]
        fn = sp.lambdify([table[n] for n in inputs], result, modules=["scipy", "numpy"])
        return np.broadcast_to(fn(*arrays), shape)
    table = input_symbols(inputs, expanded=True)
    flat_symbols = [s for n in inputs for s in np.ravel(table[n])]
    flat_values = [v for value in values for v in np.ravel(value)]
    cells = (list(result) if isinstance(result, sp.MatrixBase) else
             list(np.ravel(result.tolist())) if isinstance(result, sp.NDimArray) else [result])
    fn = sp.lambdify(flat_symbols, cells, modules=["scipy", "numpy"])
    return np.asarray(fn(*flat_values))


def ops_in(node):
    return {n.op.name for n in gd.toposort([node])}


def test_registry_rules_cover_the_ops_this_bridge_promises():
    missing = {name for name in MUST_EXPRESS if REGISTRY[name].sympy is None}
    assert not missing


@pytest.mark.parametrize(("name", "case"), STATIC_CASES)
def test_to_sympy_values_match_the_compiled_graph(name, case):
    rng = np.random.default_rng(3)
    values = case.values(rng)
    inputs = case.inputs("static")
    out = case.build(*inputs)
    lacking = sorted(op for op in ops_in(out) if REGISTRY[op].sympy is None
                     and op not in ("input", "constant", "shared"))
    if lacking:
        with pytest.raises(SymbolicError, match=f"op ({'|'.join(lacking)}) has no SymPy form"):
            gd.to_sympy(out)
        assert name not in MUST_EXPRESS
        return
    expected = gd.function(inputs, out, optimize=False)(*values)
    got = sympy_values(gd.to_sympy(out), inputs, values)
    assert got.size == np.size(expected)
    single = any(n.dtype == np.float32 for n in gd.toposort([out]))
    rtol = 1e-6 if single else 1e-9  # SymPy's reals know nothing of float32 rounding
    np.testing.assert_allclose(np.reshape(got, np.shape(expected)).astype(np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=rtol, atol=1e-12)


ELEMENTWISE_CASES = [p for p in STATIC_CASES
                     if all(REGISTRY[op].elementwise or op in ("input", "constant")
                            for op in ops_in(p.values[1].build(*p.values[1].inputs("static"))))]


@pytest.mark.parametrize(("name", "case"), ELEMENTWISE_CASES)
def test_round_trip_through_sympy_keeps_values(name, case):
    rng = np.random.default_rng(4)
    values = case.values(rng)
    inputs = case.inputs("static")
    out = case.build(*inputs)
    if REGISTRY[name].sympy is None:
        pytest.fail(f"elementwise op {name} has no SymPy rule")
    table = input_symbols(inputs)
    expr = gd.to_sympy(out)
    if name in ("digamma", "polygamma"):  # SymPy writes both polygamma(n, x): n is not an operand
        with pytest.raises(SymbolicError, match=r"SymPy function polygamma .* has no graphdl op"):
            gd.from_sympy(expr, {table[n]: n for n in inputs})
        return
    back = gd.from_sympy(expr, {table[n]: n for n in inputs})
    original = gd.function(inputs, out, optimize=False)(*values)
    rebuilt = gd.function(inputs, back, optimize=False)(*values)
    single = any(n.dtype == np.float32 for n in gd.toposort([out]))
    np.testing.assert_allclose(np.asarray(rebuilt, dtype=np.float64),
                               np.asarray(original, dtype=np.float64),
                               rtol=1e-6 if single else 1e-12, atol=1e-14)
    heads, powers = reverse_table()
    if heads.get(expr.func) is REGISTRY[name] and not (expr.is_Pow and expr.exp in powers):
        assert name in ops_in(back)  # exp(x) comes back as exp, not as something equivalent


def test_reverse_table_is_read_off_the_rules():
    heads, powers = reverse_table()
    by_name = {h.__name__: op.name for h, op in heads.items()}
    assert by_name["exp"] == "exp" and by_name["Max"] == "maximum" and by_name["Abs"] == "abs"
    assert by_name["StrictLessThan"] == "less" and by_name["And"] == "logical_and"
    assert {k: op.name for k, op in powers.items()} == {
        2: "square", sp.Rational(1, 2): "sqrt", -1: "reciprocal"}


# --- the lecture's function -------------------------------------------------------------------
def test_lecture_function_and_gradient_in_sympy():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    s1, s2 = sp.symbols("x1 x2", real=True)
    assert gd.to_sympy(f) == sp.log(s1) + s1 * s2 - sp.sin(s2)
    g1, g2 = gd.to_sympy(gd.grad(f, [x1, x2]))
    assert sp.simplify(g1 - (1 / s1 + s2)) == 0 and sp.simplify(g2 - (s1 - sp.cos(s2))) == 0
    assert float(g1.subs({s1: 2, s2: 5})) == 5.5
    assert abs(float(g2.subs({s1: 2, s2: 5})) - 1.7163378145367738) < 1e-15


# --- to_sympy ---------------------------------------------------------------------------------
def test_elementwise_graph_over_unknown_sizes_reads_as_one_expression():
    x = gd.vector("x")  # shape (None,)
    expr = gd.to_sympy(gd.tanh(x) * 2 + 1)
    s = sp.Symbol("x", real=True)
    assert expr == 2 * sp.tanh(s) + 1


def test_expanded_reading_gives_a_matrix_of_element_expressions():
    W, v = gd.matrix("W", (2, 3)), gd.vector("v", 3)
    out = gd.to_sympy(gd.tanh(W @ v))
    assert isinstance(out, sp.MatrixBase) and out.shape == (2, 1)
    w = sp.symbols("W_1_0 W_1_1 W_1_2", real=True)
    vs = sp.symbols("v_0 v_1 v_2", real=True)
    assert out[1, 0] == sp.tanh(sum(a * b for a, b in zip(w, vs)))
    assert gd.to_sympy(gd.exp(W), elementwise=False).shape == (2, 3)


def test_non_elementwise_graph_needs_static_shapes():
    x = gd.matrix("X", (None, 3))
    with pytest.raises(SymbolicError, match=r"input X has shape \(\?, ?3\)"):
        gd.to_sympy(gd.sum(x))
    with pytest.raises(SymbolicError, match="sum.*not elementwise"):
        gd.to_sympy(gd.sum(gd.vector("v", 3)), elementwise=True)


def test_op_without_rule_is_named():
    v = gd.vector("v", 3)
    with pytest.raises(SymbolicError, match="op argmax has no SymPy form"):
        gd.to_sympy(gd.argmax(v) + 1)


def test_too_many_elements_is_refused():
    with pytest.raises(SymbolicError, match="more than max_elements=10"):
        gd.to_sympy(gd.sum(gd.matrix("W", (4, 4))), max_elements=10)


def test_repeated_names_get_distinct_symbols_and_user_symbols_win():
    a, b = gd.scalar("x"), gd.scalar("x")
    expr = gd.to_sympy(a - b)
    assert expr != 0 and len(expr.free_symbols) == 2
    t = sp.Symbol("t")
    assert gd.to_sympy(a * 3, symbols={a: t}) == 3 * t


def test_booleans_read_as_zero_or_one_in_arithmetic_and_casts_truncate():
    x = gd.scalar("x")
    s = sp.Symbol("x", real=True)
    assert gd.to_sympy(x * (x > 0)) == s * sp.Piecewise((1, s > 0), (0, True))
    assert gd.to_sympy(gd.where(x > 1, x, 2 * x)) == sp.Piecewise((s, s > 1), (2 * s, True))
    truncated = gd.to_sympy(gd.cast(x, "int64"))
    assert [truncated.subs(s, v) for v in (2.7, -2.7, 0.5)] == [2, -2, 0]
    assert gd.to_sympy(gd.cast(x, "bool")) == sp.Ne(s, 0)


def test_symbols_are_real_unless_asked_otherwise():
    x = gd.scalar("x")
    s = sp.Symbol("x", real=True)
    expr = gd.to_sympy(gd.abs(x) * 2)
    assert expr == 2 * sp.Abs(s) and sp.diff(expr, s) == 2 * sp.sign(s)
    assert input_symbols(x)[x] == s and input_symbols(x, real=False)[x] == sp.Symbol("x")
    assert gd.to_sympy(gd.exp(x), real=False) == sp.exp(sp.Symbol("x"))


def test_constants_read_exactly():
    x = gd.scalar("x")
    s = sp.Symbol("x", real=True)
    assert gd.to_sympy(x * 0.5 + 2.0) == s / 2 + 2
    assert gd.to_sympy(x + 0.1) == s + sp.Float(0.1)


# --- from_sympy -------------------------------------------------------------------------------
def test_from_sympy_writes_subtraction_and_division_as_such():
    x, y, z = sp.symbols("x y z", real=True)
    nodes = {name: gd.scalar(name) for name in "xyz"}
    out = gd.from_sympy(x - y / z, nodes)
    assert ops_in(out) == {"input", "subtract", "divide"}
    assert gd.function(list(nodes.values()), out)(1.0, 3.0, 2.0) == -0.5
    assert ops_in(gd.from_sympy(-x / 2, nodes)) <= {"input", "constant", "multiply", "negative"}
    assert gd.function([nodes["x"]], gd.from_sympy(x ** -2, nodes))(2.0) == 0.25


def test_from_sympy_shares_equal_subexpressions():
    x = sp.Symbol("x")
    node = gd.scalar("x")
    out = gd.from_sympy(sp.sin(x) ** 2 + sp.sin(x) * sp.exp(sp.sin(x)), {"x": node})
    assert sum(n.op.name == "sin" for n in gd.toposort([out])) == 1


def test_from_sympy_piecewise_and_constants():
    x = sp.Symbol("x", real=True)
    node = gd.scalar("x")
    out = gd.from_sympy(sp.Piecewise((x, x > 1), (x ** 2, x > -1)) + sp.pi, {x: node})
    fn = gd.function([node], out)
    assert fn(2.0) == pytest.approx(2 + np.pi) and fn(0.5) == pytest.approx(0.25 + np.pi)
    assert np.isnan(fn(-3.0))  # no branch applies: NaN, as Piecewise leaves it undefined


def test_from_sympy_errors_name_the_function_or_symbol():
    x, y = sp.symbols("x y")
    with pytest.raises(SymbolicError, match="SymPy function fresnels .* has no graphdl op"):
        gd.from_sympy(sp.fresnels(x), {"x": gd.scalar("x")})
    with pytest.raises(SymbolicError, match="symbol y has no graph node"):
        gd.from_sympy(x + y, {"x": gd.scalar("x")})
    with pytest.raises(SymbolicError, match="not a real number"):
        gd.from_sympy(x + sp.I, {"x": gd.scalar("x")})


def test_from_sympy_keeps_float32():
    x = sp.Symbol("x")
    node = gd.scalar("x", "float32")
    out = gd.from_sympy(sp.Rational(1, 3) * x ** 2 + 2 * sp.exp(-x), {"x": node})
    assert out.dtype == np.float32
    value = gd.function([node], out)(np.float32(0.5))
    assert value.dtype == np.float32 and value == pytest.approx(0.25 / 3 + 2 * np.exp(-0.5))


def test_from_sympy_matrix_and_lists():
    x, y = sp.symbols("x y")
    nx, ny = gd.scalar("x"), gd.scalar("y")
    m = gd.from_sympy(sp.Matrix([[x, x * y], [sp.exp(y), 1]]), {"x": nx, "y": ny})
    assert m.shape == (2, 2)
    np.testing.assert_allclose(gd.function([nx, ny], m)(2.0, 0.0), [[2.0, 0.0], [1.0, 1.0]])
    first, second = gd.from_sympy([x + y, x * y], {"x": nx, "y": ny})
    assert gd.function([nx, ny], [first, second])(2.0, 3.0) == [5.0, 6.0]


def test_walks_are_iterative():
    """SymPy itself recurses about twice per level and gives up near 400 levels; graphdl's
    walks must not add to that: from_sympy runs with almost no stack to spare."""
    x = sp.Symbol("x", real=True)
    expr = x
    for _ in range(250):
        expr = sp.sin(expr)
    node = gd.scalar("x")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)
    try:
        out = gd.from_sympy(expr, {"x": node})
    finally:
        sys.setrecursionlimit(limit)
    value = 0.7
    for _ in range(250):
        value = np.sin(value)
    assert gd.count_nodes(out) == 251
    assert gd.function([node], out)(0.7) == pytest.approx(value, rel=1e-12)
    assert gd.to_sympy(out) == expr


def test_import_graphdl_does_not_import_sympy():
    code = "import sys, graphdl; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

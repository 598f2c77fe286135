"""graphdl's gradients against SymPy's derivatives on random expressions (issue 5).

Hypothesis draws expression trees over x and y from smooth functions (so no point lands on a
kink), nested as deep as it likes. Each tree is built twice, independently: as a graphdl graph
and as a SymPy expression. ``sympy.diff`` of the SymPy one, lambdified, is the reference for

1. ``gd.grad`` of the graph (the two differentiators agree);
2. ``sympy.diff`` of ``gd.to_sympy(graph)`` (the graph reads back as the same function);
3. ``gd.grad`` of ``gd.from_sympy(expression)`` (the expression builds the same function).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import graphdl as gd

# name -> (graphdl builder, SymPy builder); every one smooth on the whole real line
UNARY = {
    "sin": (gd.sin, sp.sin),
    "cos": (gd.cos, sp.cos),
    "tanh": (gd.tanh, sp.tanh),
    "neg": (gd.negative, lambda u: -u),
    "square": (gd.square, lambda u: u ** 2),
    "sigmoid": (gd.sigmoid, lambda u: 1 / (1 + sp.exp(-u))),
    "softplus": (gd.softplus, lambda u: sp.log(1 + sp.exp(u))),
    "exp_tanh": (lambda u: gd.exp(gd.tanh(u)), lambda u: sp.exp(sp.tanh(u))),
    "log1p_square": (lambda u: gd.log1p(u * u), lambda u: sp.log(1 + u ** 2)),
    "hypot1": (lambda u: gd.sqrt(1 + gd.square(u)), lambda u: sp.sqrt(1 + u ** 2)),
    "pow_1_5": (lambda u: (1 + u * u) ** 1.5, lambda u: (1 + u ** 2) ** sp.Rational(3, 2)),
}
BINARY = {
    "add": (gd.add, lambda a, b: a + b),
    "sub": (gd.subtract, lambda a, b: a - b),
    "mul": (gd.multiply, lambda a, b: a * b),
    "div": (lambda a, b: a / (1 + b * b), lambda a, b: a / (1 + b ** 2)),
    "tanh_mix": (lambda a, b: gd.tanh(0.5 * a + b), lambda a, b: sp.tanh(a / 2 + b)),
}

leaves = st.sampled_from(["x", "y"]) | st.integers(-8, 8).map(lambda k: ("const", k / 4))
trees = st.recursive(
    leaves,
    lambda inner: st.tuples(st.sampled_from(sorted(UNARY)), inner)
    | st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
    max_leaves=10,
)


def build(tree: Any, env: dict[str, Any], which: int) -> Any:
    """The tree as a graph (which=0) or a SymPy expression (which=1)."""
    if isinstance(tree, str):
        return env[tree]
    if tree[0] == "const":
        return tree[1] if which == 0 else sp.Rational(int(tree[1] * 4), 4)
    if len(tree) == 2:
        return UNARY[tree[0]][which](build(tree[1], env, which))
    return BINARY[tree[0]][which](build(tree[1], env, which), build(tree[2], env, which))


POINTS = np.random.default_rng(7).uniform(-1.5, 1.5, (2, 16))


def reference_gradient(expr: Any, symbols: list[Any]) -> list[np.ndarray]:
    derivatives = [sp.diff(expr, s) for s in symbols]
    values = sp.lambdify(symbols, derivatives, modules="numpy")(*POINTS)
    return [np.broadcast_to(np.asarray(v, dtype=np.float64), POINTS[0].shape) for v in values]


def graph_gradient(cost: gd.Node, inputs: list[gd.Node]) -> list[np.ndarray]:
    grads = gd.grad(cost, inputs, disconnected="zero")
    values = gd.function(inputs, grads)(*POINTS)
    return [np.broadcast_to(np.asarray(v, dtype=np.float64), POINTS[0].shape) for v in values]


def assert_close(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9)


def check(tree: Any) -> None:
    x, y = gd.scalar("x"), gd.scalar("y")
    sx, sy = sp.symbols("x y", real=True)
    graph = gd.add(build(tree, {"x": x, "y": y}, 0), 0.0)  # a node even for a bare leaf
    expr = build(tree, {"x": sx, "y": sy}, 1)
    expected = reference_gradient(expr, [sx, sy])

    assert_close(graph_gradient(graph, [x, y]), expected)
    read_back = gd.to_sympy(graph, symbols={x: sx, y: sy})
    assert_close(reference_gradient(read_back, [sx, sy]), expected)
    rebuilt = gd.add(gd.from_sympy(expr, {sx: x, sy: y}), 0.0)  # a bare 0 builds an int
    assert_close(graph_gradient(rebuilt, [x, y]), expected)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(trees)
def test_graphdl_gradient_equals_sympy_diff(tree: Any) -> None:
    check(tree)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(sorted(UNARY)), min_size=6, max_size=14),
       st.sampled_from(sorted(BINARY)))
def test_deeply_nested_chains(chain: list[str], mix: str) -> None:
    tree: Any = (mix, "x", "y")
    for name in chain:
        tree = (name, tree)
    check(tree)

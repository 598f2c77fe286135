"""Measurements for the optimizer (issue 4): node counts, and time against graph size.

    python benchmarks/optimize_scale.py            # everything (about a minute)
    python benchmarks/optimize_scale.py --counts   # node counts only
    python benchmarks/optimize_scale.py --scale --max-nodes 10000

Counts: for the lecture's f(x1, x2) and its gradient, a small MLP's loss with its gradients and
nested compositions that reuse subexpressions, the number of operations (non-leaf nodes) in the
graph as written and after ``gd.optimize``, beside SymPy's ``count_ops`` of the same expressions
before and after ``sympy.cse`` (replacements plus reduced expressions). SymPy counts scalar
operations (a matmul of a 2x3 by a 3x2 matrix is 18 of them) where graphdl counts array
operations, so the MLP rows compare shapes of growth, not absolute numbers.

Scale: random graphs of 10^2 .. 10^5 nodes built from elementwise ops with reuse and things to
simplify; the time to build them, to optimize them and to generate and compile the code.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graphdl as gd
from graphdl.ir.graph import count_nodes


def operations(outputs) -> int:
    return count_nodes(outputs, include_leaves=False)


# --- workloads for the counts -------------------------------------------------------------------
def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    return "f(x1, x2) and its gradient", [f, *gd.grad(f, [x1, x2])]


def lecture_value_only():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    return "f(x1, x2)", [gd.log(x1) + x1 * x2 - gd.sin(x2)]


def small_mlp(batch: int = 2, sizes: tuple[int, ...] = (3, 3, 2), labels: str = "indices"):
    """A tanh MLP's mean cross-entropy and its gradients. SymPy has no form for picking by
    integer labels, so ``labels="one-hot"`` writes the loss as -sum(Y * log_softmax) / batch
    with a one-hot float matrix Y, for the SymPy column."""
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(batch, sizes[0]))
    params = []
    h = X
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        W = gd.shared(rng.standard_normal((a, b)), name=f"W{i + 1}")
        c = gd.shared(rng.standard_normal(b) * 0.1, name=f"b{i + 1}")
        params += [W, c]
        h = h @ W + c
        if i < len(sizes) - 2:
            h = gd.tanh(h)
    log_p = gd.log_softmax(h, axis=1)
    if labels == "one-hot":
        Y = gd.matrix("Y", shape=(batch, sizes[-1]))
        loss = -gd.sum(Y * log_p) / batch
    else:
        y = gd.vector("y", shape=(batch,), dtype="int64")
        loss = -gd.take_along_axis(log_p, y[:, None], axis=1).mean()
    title = f"MLP {sizes}, batch {batch}, {labels} labels: loss, grads"
    return title, [loss, *gd.grad(loss, params)]


def nested(depth: int):
    """g_{k+1} = sin(g_k * y) + cos(g_k * y): every level reuses g_k * y twice."""
    x, y = gd.scalar("x"), gd.scalar("y")
    g = x
    for _ in range(depth):
        p = g * y
        g = gd.sin(p) + gd.cos(y * g)  # written the other way round: CSE must see a*b == b*a
    return f"nested depth {depth} and its gradient", [g, *gd.grad(g, [x, y])]


def sympy_counts(outputs) -> tuple[int, int] | None:
    import sympy

    from graphdl.symbolic import to_sympy

    try:
        exprs = to_sympy(outputs)
    except Exception as exc:  # noqa: BLE001 - report what SymPy could not take
        print(f"    (sympy: {type(exc).__name__}: {str(exc)[:70]})")
        return None
    flat = []
    for e in exprs:
        flat.extend(np.asarray(e, dtype=object).ravel().tolist() if isinstance(e, np.ndarray)
                    else [e])
    raw = sum(sympy.count_ops(e) for e in flat)
    replacements, reduced = sympy.cse(flat)
    after = sum(sympy.count_ops(v) for _, v in replacements) + sum(
        sympy.count_ops(e) for e in reduced)
    return raw, after


def counts() -> None:
    print("Operations (non-leaf nodes; SymPy: count_ops) as written and optimized\n")
    print(f"{'graph':<56} {'graphdl':>15} {'sympy':>17}")
    print(f"{'':<56} {'written -> opt':>15} {'tree -> cse':>17}")
    workloads = (lecture_value_only, lecture, small_mlp, lambda: small_mlp(labels="one-hot"),
                 lambda: nested(3), lambda: nested(6))
    for build in workloads:
        title, outputs = build()
        before = operations(outputs)
        optimized, _ = gd.optimize(outputs)
        after = operations(optimized)
        sym = sympy_counts(outputs)
        sym_text = f"{sym[0]:>7} -> {sym[1]:<6}" if sym else "n/a"
        print(f"{title:<56} {before:>6} -> {after:<6} {sym_text:>17}")


# --- scale ---------------------------------------------------------------------------------------
def random_graph(n: int, seed: int = 0, spent: list[float] | None = None):
    """About ``n`` nodes: elementwise ops over 4 vector inputs, reusing recent results.

    ``spent`` (if given) receives the seconds spent building nodes: the size checks between
    batches walk the whole graph each time, which is this script's work, not graphdl's build.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    inputs = [gd.vector(f"x{i}", 8) for i in range(4)]
    pool = list(inputs)
    unary = [gd.tanh, gd.sin, lambda a: -a, lambda a: a * 1.0, lambda a: 0.0 + a,
             lambda a: gd.log(1 + gd.square(a)), lambda a: gd.exp(gd.tanh(a)) - 1]
    binary = [gd.add, gd.multiply, gd.subtract, lambda a, b: a * gd.reciprocal(1 + gd.square(b)),
              lambda a, b: gd.maximum(a, b) + gd.maximum(b, a)]
    outputs: list = []
    checking = 0.0
    while True:
        if outputs:
            t0 = time.perf_counter()
            size = gd.count_nodes(outputs)
            checking += time.perf_counter() - t0
            if size >= n:
                break
        for _ in range(max(n // 20, 10)):
            window = pool[-40:]
            a = window[rng.integers(len(window))]
            if rng.random() < 0.5:
                node = unary[rng.integers(len(unary))](a)
            else:
                far = rng.random() < 0.3
                b = pool[rng.integers(len(pool))] if far else window[rng.integers(len(window))]
                node = binary[rng.integers(len(binary))](a, b)
            pool.append(node)
        outputs = [gd.sum(p) for p in pool[-8:]]
    if spent is not None:
        spent.append(time.perf_counter() - start - checking)
    return inputs, outputs


def scale(max_nodes: int) -> None:
    print("\nBuild, optimize and code generation time against graph size\n")
    print(f"{'target':>8} {'nodes':>8} {'after':>8} {'build s':>8} {'optimize s':>11} "
          f"{'codegen s':>10} {'us/node':>8}")
    target = 100
    while target <= max_nodes:
        spent: list[float] = []
        inputs, outputs = random_graph(target, spent=spent)
        built = spent[0]
        nodes = gd.count_nodes(outputs)
        start = time.perf_counter()
        fn = gd.function(inputs, outputs)
        total = time.perf_counter() - start
        opt = fn.report.seconds
        args = [np.linspace(-1, 1, 8) for _ in inputs]
        plain = gd.function(inputs, outputs, optimize=False) if nodes <= 20000 else None
        if plain is not None:
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(fn(*args), plain(*args), rtol=1e-6, atol=1e-9)
        print(f"{target:>8} {nodes:>8} {fn.report.nodes_after:>8} {built:>8.2f} {opt:>11.2f} "
              f"{total - opt:>10.2f} {opt / nodes * 1e6:>8.1f}")
        target *= 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", action="store_true", help="node counts only")
    parser.add_argument("--scale", action="store_true", help="timings only")
    parser.add_argument("--max-nodes", type=int, default=100_000)
    args = parser.parse_args(argv)
    both = not args.counts and not args.scale
    if args.counts or both:
        counts()
    if args.scale or both:
        scale(args.max_nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

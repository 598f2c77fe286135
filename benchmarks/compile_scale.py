"""Compile time against graph size, 10^2 to 10^5 elementwise nodes, in two shapes.

A long chain (depth = size) finds recursion and quadratic passes; a wide layered random DAG
(many live values, operands reaching back many layers) finds costly scheduling and
common-subexpression bookkeeping. Each graph is described once as a framework-neutral
recipe and rebuilt in every contender, and the compiled function is checked against NumPy
evaluating the same recipe directly, so a fast but wrong compiler is caught.

    python benchmarks/run_all.py --only compile_scale     # graphdl, JAX, PyTensor
    python benchmarks/compile_scale.py --graphdl-only     # graphdl: build/compile per node
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import harness as H
import numpy as np
from harness import Config, Result, Skip

WORKLOAD = "compile_scale"
TITLE = "compile time against graph size (elementwise chain and wide random DAG)"
PER_THREAD = False
SIZES = (10**2, 10**3, 10**4, 10**5)
QUICK_SIZES = (10**2, 10**3, 10**4)
N_INPUTS = 8
N_POINTS = 16
BUDGET = {False: 240.0, True: 12.0}  # seconds per contender and shape, by cfg.quick
UNARY = ("sin", "tanh", "cos")
BINARY = ("add", "mul")


@dataclasses.dataclass
class Recipe:
    """Steps (op, operand indices or a constant); values 0..inputs-1 are the inputs."""

    inputs: int
    steps: list[tuple[str, tuple[int, ...], float]]
    outputs: list[int]

    @property
    def ops(self) -> int:
        return len(self.steps)


def chain(n: int) -> Recipe:
    """x -> sin -> *0.9 -> +0.1 -> tanh -> sin ...: depth n, nothing to share or fold away."""
    cycle = (("sin", 0.0), ("mulc", 0.9), ("addc", 0.1), ("tanh", 0.0))
    steps = [(cycle[i % 4][0], (i,), cycle[i % 4][1]) for i in range(n)]
    return Recipe(1, steps, [n])


def wide_dag(n: int, seed: int = 0) -> Recipe:
    """Layers of width ~sqrt(n), alternating unary and binary; every value is used.

    A binary node takes one operand from the previous (unary) layer through a permutation,
    so nothing is dead, and one from anywhere earlier. Values stay bounded: unary results
    lie in [-1, 1], and a binary one grows at most by one per earlier binary layer.
    """
    rng = np.random.default_rng(seed)
    width = max(4, math.isqrt(n))
    layers = max(1, (n - (width - 1)) // width)
    steps: list[tuple[str, tuple[int, ...], float]] = []
    prev = [i % N_INPUTS for i in range(width)]
    count = N_INPUTS
    for layer in range(layers):
        cur = []
        perm = rng.permutation(len(prev))
        for i in range(width):
            first = prev[perm[i % len(prev)]]
            if layer % 2 == 0:
                steps.append((UNARY[rng.integers(len(UNARY))], (first,), 0.0))
            else:
                other = int(rng.integers(count))
                steps.append((BINARY[rng.integers(len(BINARY))], (first, other), 0.0))
            cur.append(count)
            count += 1
        prev = cur
    while len(prev) > 1:  # pairwise sum of the last layer into one output
        nxt = []
        for i in range(0, len(prev) - 1, 2):
            steps.append(("add", (prev[i], prev[i + 1]), 0.0))
            nxt.append(count)
            count += 1
        prev = nxt + (prev[-1:] if len(prev) % 2 else [])
    return Recipe(N_INPUTS, steps, prev)


def evaluate(recipe: Recipe, inputs: list[Any], ns: dict[str, Callable]) -> list[Any]:
    """Interpret a recipe with one framework's functions (``ns``), returning the outputs."""
    vals = list(inputs)
    for op, args, c in recipe.steps:
        if op == "mulc":
            vals.append(vals[args[0]] * c)
        elif op == "addc":
            vals.append(vals[args[0]] + c)
        elif op == "add":
            vals.append(vals[args[0]] + vals[args[1]])
        elif op == "mul":
            vals.append(vals[args[0]] * vals[args[1]])
        else:
            vals.append(ns[op](vals[args[0]]))
    return [vals[i] for i in recipe.outputs]


def _ns(mod: Any) -> dict[str, Callable]:
    return {name: getattr(mod, name) for name in UNARY}


# ----------------------------------------------------------------------------- contenders
# Each returns (compile seconds, compiled callable on NumPy arrays, extra info).

Compiled = tuple[float, Callable[..., Any], dict[str, Any]]


def graphdl_compile(recipe: Recipe) -> Compiled:
    gd, why = H.graphdl_or_note(("vector", "sin", "tanh", "cos", "function", "count_nodes"))
    if gd is None:
        raise Skip(why)
    t0 = time.perf_counter()
    xs = [gd.vector(f"x{i}", shape=(None,)) for i in range(recipe.inputs)]
    outs = evaluate(recipe, xs, _ns(gd))
    build = time.perf_counter() - t0
    seconds, fn = H.time_once(lambda: gd.function(xs, outs))
    return seconds, fn, {"nodes": gd.count_nodes(outs), "build_s": f"{build:.3g}"}


def jax_compile(recipe: Recipe) -> Compiled:
    """Tracing is JAX's graph construction, so it is part of the compile time here."""
    jax = H.optional_import("jax")
    if jax is None:
        raise Skip("jax not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(*xs: Any) -> Any:
        return evaluate(recipe, list(xs), _ns(jnp))

    spec = [jax.ShapeDtypeStruct((N_POINTS,), jnp.float64)] * recipe.inputs
    seconds, fn = H.time_once(lambda: jax.jit(f).lower(*spec).compile())
    eqns = len(jax.make_jaxpr(f)(*[np.zeros(N_POINTS)] * recipe.inputs).jaxpr.eqns)
    return seconds, lambda *xs: [np.asarray(v) for v in fn(*xs)], {"nodes": eqns}


def pytensor_compile(recipe: Recipe) -> Compiled:
    pytensor = H.optional_import("pytensor")
    if pytensor is None:
        raise Skip("pytensor not installed")
    import pytensor.tensor as pt

    t0 = time.perf_counter()
    xs = [pt.dvector(f"x{i}") for i in range(recipe.inputs)]
    outs = evaluate(recipe, xs, _ns(pt))
    build = time.perf_counter() - t0
    seconds, fn = H.time_once(lambda: pytensor.function(xs, outs))
    info = {
        "nodes": recipe.ops,
        "after_rewrites": len(fn.maker.fgraph.apply_nodes),
        "build_s": f"{build:.3g}",
    }
    return seconds, fn, info


COMPILERS: dict[str, Callable[[Recipe], Compiled]] = {
    "graphdl": graphdl_compile,
    "jax jit": jax_compile,
    "pytensor": pytensor_compile,
}


# ----------------------------------------------------------------------------- rows


def run(cfg: Config) -> list[Result]:
    """Sizes grow by 10x; a contender stops once 30x its last compile would break its budget.

    The time reported is compile plus the first call, since some backends compile lazily.
    """
    rows: list[Result] = []
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1.0, 1.0, N_POINTS) for _ in range(N_INPUTS)]
    for compiler in COMPILERS.values():  # one-off start-up costs are not per-graph costs
        try:
            compiler(chain(4))[1](xs[0])
        except Exception:  # noqa: BLE001, S110 - the measured calls report it
            pass
    for shape, make in (("chain", chain), ("dag", wide_dag)):
        left = dict.fromkeys(COMPILERS, BUDGET[cfg.quick])
        last: dict[str, float] = {}
        stopped: dict[str, str] = {}
        for n in QUICK_SIZES if cfg.quick else SIZES:
            recipe = make(n)
            args = xs[: recipe.inputs]
            want = evaluate(recipe, args, _ns(np))
            for name, compiler in COMPILERS.items():
                row = Result(
                    WORKLOAD,
                    name,
                    "float64",
                    f"{shape} {n:.0e}",
                    cfg.threads[0],
                    metric="compile+1st call",
                    extra={"ops": recipe.ops},
                )
                rows.append(row)
                # Cost grows faster than size for some compilers: predict 30x for 10x the ops.
                if name in last and last[name] * 30 > left[name] and name not in stopped:
                    stopped[name] = (
                        f"not run: 30x its {last[name]:.3g} s at {n // 10:.0e} ops would pass "
                        f"its {BUDGET[cfg.quick]:.0f} s budget"
                    )
                if name in stopped:
                    row.status, row.note = "skipped", stopped[name]
                    continue
                try:
                    t0 = time.perf_counter()
                    with H.deadline(left[name]):  # can only fire between Python bytecodes
                        seconds, fn, info = compiler(recipe)
                        # PyTensor's numba backend compiles its kernels at the first call.
                        first, got = H.time_once(lambda: fn(*args))  # noqa: B023 - used at once
                    left[name] -= time.perf_counter() - t0
                    seconds += first
                    ok, why = H.allclose(want, got, "float64")
                except Skip as exc:
                    row.status, row.note = "skipped", str(exc)
                    continue
                except H.Budget:
                    stopped[name] = f"stopped: over its {BUDGET[cfg.quick]:.0f} s budget"
                    row.status = "skipped"
                    row.note = f"{stopped[name]} after {time.perf_counter() - t0:.3g} s"
                    continue
                except Exception as exc:  # noqa: BLE001 - the row says it
                    row.status, row.note = "failed", f"{type(exc).__name__}: {str(exc)[:120]}"
                    stopped[name] = f"failed at a smaller size ({type(exc).__name__})"
                    continue
                last[name] = seconds
                row.value, row.samples = seconds, 1
                row.extra.update(info)
                row.extra["first_call_s"] = f"{first:.3g}"
                if not ok:
                    row.status, row.note = "WRONG", why
            print(f"  compile_scale {shape} {n:.0e} done", file=sys.stderr, flush=True)
    return rows


def graphdl_per_node(sizes: tuple[int, ...] = SIZES, repeats: int = 3) -> None:
    """graphdl alone: build, compile (optimize + emit) and their sum per node, the median of
    ``repeats`` runs per size, for issue 9's "linear in graph size". CPU time, so another
    process on the machine disturbs it less than the wall time above."""
    import gc
    import statistics

    gd, why = H.graphdl_or_note(("vector", "sin", "tanh", "cos", "function", "count_nodes"))
    if gd is None:
        raise SystemExit(why)
    print(f"{'shape':<6} {'ops':>7} {'nodes':>7} {'build s':>8} {'compile s':>10} "
          f"{'total s':>8} {'us/node':>8}")
    for shape, make in (("chain", chain), ("dag", wide_dag)):
        for n in sizes:
            recipe = make(n)
            runs = []
            for _ in range(repeats):
                t0 = time.process_time()
                xs = [gd.vector(f"x{i}", shape=(None,)) for i in range(recipe.inputs)]
                outs = evaluate(recipe, xs, _ns(gd))
                t1 = time.process_time()
                gd.function(xs, outs)
                runs.append((t1 - t0, time.process_time() - t1))
                nodes = gd.count_nodes(outs)
                del xs, outs
                gc.collect()
            build = statistics.median(b for b, _ in runs)
            comp = statistics.median(c for _, c in runs)
            total = statistics.median(b + c for b, c in runs)
            print(f"{shape:<6} {recipe.ops:>7} {nodes:>7} {build:>8.3f} {comp:>10.3f} "
                  f"{total:>8.3f} {total / nodes * 1e6:>8.1f}", flush=True)


if __name__ == "__main__":
    if "--graphdl-only" in sys.argv:  # python benchmarks/compile_scale.py --graphdl-only
        graphdl_per_node()
    else:
        import run_all

        run_all.main(["--only", WORKLOAD, *sys.argv[1:]])

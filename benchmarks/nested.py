"""Deeply nested compositions x -> tanh(a*x + b*x**2): how the gradient graph grows.

Each level uses its input twice, so a tree-shaped symbolic derivative (SymPy) doubles per
level while a graph with shared nodes grows linearly. Three things are reported per depth:
the size of the gradient graph, the time to differentiate and compile it, and the time to
evaluate value and derivative at 10^4 points against a hand-written forward-mode loop.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import harness as H
import numpy as np
from harness import Config, Contender, Result, Skip

WORKLOAD = "nested"
TITLE = "x -> tanh(a*x + b*x**2) nested to depth d: grad size, grad+compile, evaluation"
PER_THREAD = False
A, B = 0.5, 0.1
DEPTHS = (2, 4, 8, 16, 32, 64)
N_EVAL = 10**4
SYMPY_BUDGET = {False: 60.0, True: 10.0}  # seconds for all depths, by cfg.quick
COMPILE_SECONDS = {False: 3.0, True: 0.6}  # per row: repeat the compile while it fits

Compiled = tuple[Callable[[np.ndarray], Any], dict[str, Any]]


def numpy_nested(x: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: value and derivative carried together through the levels (forward mode)."""
    y = x
    dy = np.ones_like(x)
    for _ in range(depth):
        dy *= A + 2 * B * y
        y = np.tanh(A * y + B * y * y)
        dy *= 1 - y * y
    return y, dy


# ----------------------------------------------------------------------------- compilers


def compile_graphdl(depth: int) -> Compiled:
    gd, why = H.graphdl_or_note(("scalar", "tanh", "grad", "function", "count_nodes"))
    if gd is None:
        raise Skip(why)
    x = gd.scalar("x")
    y = x
    for _ in range(depth):
        y = gd.tanh(A * y + B * y**2)
    (g,) = gd.grad(y, [x])
    fn = gd.function([x], [y, g])

    def size() -> dict[str, Any]:
        lines = len(re.findall(r"^\s+v\d+ = ", fn.source, flags=re.MULTILINE))
        return {"grad_nodes": gd.count_nodes(g), "emitted_lines": lines}

    return fn, {"size": size}


def compile_jax(depth: int) -> Compiled:
    jax = H.optional_import("jax")
    if jax is None:
        raise Skip("jax not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(x: Any) -> Any:
        for _ in range(depth):
            x = jnp.tanh(A * x + B * x**2)
        return x

    spec = jax.ShapeDtypeStruct((N_EVAL,), jnp.float64)
    fn = jax.jit(jax.vmap(jax.value_and_grad(f))).lower(spec).compile()

    def size() -> dict[str, Any]:
        return {"grad_eqns": len(jax.make_jaxpr(jax.grad(f))(1.0).jaxpr.eqns)}

    def run(x: Any) -> Any:
        return jax.block_until_ready(fn(x))

    return run, {"size": size, "arg": jax.device_put}


def compile_pytensor(depth: int) -> Compiled:
    pytensor = H.optional_import("pytensor")
    if pytensor is None:
        raise Skip("pytensor not installed")
    import pytensor.tensor as pt

    try:
        from pytensor.graph.traversal import applys_between
    except ImportError:  # PyTensor before 2.31
        from pytensor.graph.basic import applys_between

    x = pt.dvector("x")
    y = x
    for _ in range(depth):
        y = pt.tanh(A * y + B * y**2)
    g = pytensor.grad(y.sum(), x)
    fn = pytensor.function([x], [y, g])

    def size() -> dict[str, Any]:
        before = len(list(applys_between([x], [g])))
        return {"grad_nodes": before, "after_rewrites": len(fn.maker.fgraph.apply_nodes)}

    return fn, {"size": size, "note": H.pytensor_note(fn)}


class SympyRunner:
    """sympy.diff plus lambdify, all depths sharing one time budget (a tree blows up)."""

    def __init__(self, budget: float) -> None:
        self.left = budget
        self.budget = budget
        self.stopped_at: int | None = None

    def __call__(self, depth: int) -> Compiled:
        sympy = H.optional_import("sympy")
        if sympy is None:
            raise Skip("sympy not installed")
        if self.stopped_at is not None:
            raise Skip(f"{self.budget:.0f} s budget spent by depth {self.stopped_at}")
        # real=True: without it SymPy's assumption queries on tanh take ~8 s at depth 4.
        x = sympy.Symbol("x", real=True)
        y = x
        for _ in range(depth):
            y = sympy.tanh(A * y + B * y**2)
        info: dict[str, Any] = {}
        try:
            with H.deadline(self.left):
                t_diff, g = H.time_once(lambda: sympy.diff(y, x))
                fn = sympy.lambdify(x, [y, g], "numpy")
                info["diff_s"] = f"{t_diff:.3g}"
                ops = sympy.count_ops(g)
        except H.Budget:
            self.stopped_at = depth
            self.left = 0.0
            raise Skip(f"stopped: past the {self.budget:.0f} s budget at depth {depth}") from None
        info["size"] = lambda: {"count_ops": ops}
        return fn, info

    def charge(self, seconds: float) -> None:
        self.left -= seconds


# ----------------------------------------------------------------------------- rows


def compile_row(
    name: str,
    compiler: Callable[[int], Compiled],
    depth: int,
    cfg: Config,
    cache: dict[str, Compiled],
) -> Result:
    """Time differentiation plus compilation from scratch; note the gradient's size."""
    row = Result(WORKLOAD, name, "float64", f"depth {depth}", cfg.threads[0], metric="grad+compile")
    repeats = 1 if isinstance(compiler, SympyRunner) else 5
    try:
        times, compiled = H.time_repeated(
            lambda: compiler(depth), COMPILE_SECONDS[cfg.quick], repeats
        )
    except Skip as exc:
        row.status, row.note = "skipped", str(exc)
        return row
    except Exception as exc:  # noqa: BLE001 - reported in the row
        row.status, row.note = "failed", f"{type(exc).__name__}: {str(exc)[:160]}"
        return row
    if isinstance(compiler, SympyRunner):
        compiler.charge(sum(times))
    cache[name] = compiled
    row.value, row.iqr = H.summarize(times)
    row.iqr = row.iqr if len(times) > 1 else None
    row.samples = len(times)
    info = compiled[1]
    row.extra = {k: v for k, v in info.items() if k not in ("size", "arg", "note")}
    row.extra.update(info["size"]())
    row.note = info.get("note", "")
    return row


def eval_builders(depth: int, x: np.ndarray, cache: dict[str, Compiled]) -> dict:
    """Contenders for the evaluation timing, reusing what the compile rows produced."""

    def reference() -> Contender:
        run = functools.partial(numpy_nested, x, depth)
        return Contender(run, run)

    def from_cache(name: str) -> Contender:
        if name not in cache:
            raise Skip("no compiled function (see its grad+compile row)")
        fn, info = cache[name]
        arg = info.get("arg", lambda v: v)(x)
        run = functools.partial(fn, arg)
        return Contender(run, lambda: [np.asarray(v) for v in run()], note=info.get("note", ""))

    def torch_eager() -> Contender:
        torch = H.optional_import("torch")
        if torch is None:
            raise Skip("torch not installed")

        def run() -> tuple:
            a = torch.from_numpy(x).requires_grad_()
            y = a
            for _ in range(depth):
                y = torch.tanh(A * y + B * y**2)
            y.backward(torch.ones_like(y))
            return y.detach(), a.grad

        return Contender(run, lambda: [t.numpy() for t in run()])

    builders = {H.REFERENCE: reference}
    for name in ("graphdl", "jax jit", "pytensor", "sympy lambdify"):
        builders[name] = functools.partial(from_cache, name)
    builders["torch eager"] = torch_eager
    return builders


def run(cfg: Config) -> list[Result]:
    sympy_runner = SympyRunner(SYMPY_BUDGET[cfg.quick])
    compilers: dict[str, Callable[[int], Compiled]] = {
        "graphdl": compile_graphdl,
        "jax jit": compile_jax,
        "pytensor": compile_pytensor,
        "sympy lambdify": sympy_runner,
    }
    x = np.random.default_rng(0).uniform(-2.0, 2.0, N_EVAL)
    for compiler in compilers.values():  # first-use costs (backend start-up) are not compiles
        try:
            compiler(1)
        except Exception:  # noqa: BLE001, S110 - the timed call reports it
            pass
    rows: list[Result] = []
    for depth in DEPTHS:
        cache: dict[str, Compiled] = {}
        rows += [compile_row(n, c, depth, cfg, cache) for n, c in compilers.items()]
        rows += H.run_case(
            WORKLOAD,
            "float64",
            f"depth {depth}",
            eval_builders(depth, x, cache),
            cfg,
            metric=f"eval {N_EVAL:.0e} pts",
        )
    return rows


if __name__ == "__main__":
    import run_all

    run_all.main(["--only", WORKLOAD, *sys.argv[1:]])

"""A small elementwise function and its gradient, evaluated over many points at once.

f(x1, x2) = log(x1) + x1*x2 - sin(x2), with df/dx1 = 1/x1 + x2 and df/dx2 = x1 - cos(x2).
There is no BLAS here: this measures per-call overhead at 10^3 points and memory traffic
of the generated elementwise code at 10^6, where a graph compiler can only lose to plain
NumPy by adding temporaries or passes over the data.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import harness as H
import numpy as np
from harness import Config, Contender, Result, Skip

WORKLOAD = "f_points"
TITLE = "f(x1, x2) = log(x1) + x1*x2 - sin(x2) with its gradient, over N points"
PER_THREAD = True
SIZES = (10**3, 10**4, 10**5, 10**6)
DTYPES = ("float64", "float32")
QUICK_DTYPES = ("float64",)

Points = tuple[np.ndarray, np.ndarray]


def make_points(n: int, dtype: str, seed: int = 0) -> Points:
    """x1 stays positive (it goes into log); x2 spans a few periods of sin and cos."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 3.0, n).astype(dtype), rng.uniform(-3.0, 3.0, n).astype(dtype)


def numpy_f_and_grad(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, ...]:
    """The reference: each output built in place, so no temporary outlives its line."""
    f = np.log(x1)
    f += x1 * x2
    f -= np.sin(x2)
    g1 = np.reciprocal(x1)
    g1 += x2
    g2 = np.cos(x2)
    np.subtract(x1, g2, out=g2)
    return f, g1, g2


def build_numpy(pts: Points) -> Contender:
    run = functools.partial(numpy_f_and_grad, *pts)
    return Contender(run, run)


def build_graphdl(pts: Points) -> Contender:
    """Scalar inputs; the compiled function is applied to whole arrays."""
    gd, why = H.graphdl_or_note(("scalar", "log", "sin", "grad", "function"))
    if gd is None:
        raise Skip(why)
    dtype = str(pts[0].dtype)
    x1, x2 = gd.scalar("x1", dtype=dtype), gd.scalar("x2", dtype=dtype)
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    fn = gd.function([x1, x2], [f, *gd.grad(f, [x1, x2])])
    run = functools.partial(fn, *pts)
    return Contender(run, run)


def build_torch(pts: Points) -> Contender:
    """Eager autograd; backward of f with a ones seed gives the pointwise gradient."""
    torch = H.optional_import("torch")
    if torch is None:
        raise Skip("torch not installed")

    def run() -> tuple:
        a = torch.from_numpy(pts[0]).requires_grad_()
        b = torch.from_numpy(pts[1]).requires_grad_()
        f = torch.log(a) + a * b - torch.sin(b)
        f.backward(torch.ones_like(f))
        return f.detach(), a.grad, b.grad

    def check() -> list:
        return [t.numpy() for t in run()]

    return Contender(run, check)


def build_jax(pts: Points) -> Contender:
    """jit of f and grad(sum f): the gradient of a sum of independent terms is pointwise."""
    jax = H.optional_import("jax")
    if jax is None:
        raise Skip("jax not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(a: object, b: object) -> object:
        return jnp.log(a) + a * b - jnp.sin(b)

    grad = jax.grad(lambda a, b: jnp.sum(f(a, b)), argnums=(0, 1))
    both = jax.jit(lambda a, b: (f(a, b), *grad(a, b)))
    a, b = jax.device_put(pts[0]), jax.device_put(pts[1])

    def run() -> object:
        return jax.block_until_ready(both(a, b))

    return Contender(run, lambda: [np.asarray(v) for v in run()])


def build_pytensor(pts: Points) -> Contender:
    pytensor = H.optional_import("pytensor")
    if pytensor is None:
        raise Skip("pytensor not installed")
    import pytensor.tensor as pt

    dtype = str(pts[0].dtype)
    a, b = pt.vector("x1", dtype=dtype), pt.vector("x2", dtype=dtype)
    f = pt.log(a) + a * b - pt.sin(b)
    fn = pytensor.function([a, b], [f, *pytensor.grad(f.sum(), [a, b])])
    run = functools.partial(fn, *pts)
    return Contender(run, run, note=H.pytensor_note(fn))


def build_sympy(pts: Points) -> Contender:
    """Symbolic derivatives, then lambdify to NumPy: the classic route without a graph."""
    sympy = H.optional_import("sympy")
    if sympy is None:
        raise Skip("sympy not installed")
    x1, x2 = sympy.symbols("x1 x2")
    f = sympy.log(x1) + x1 * x2 - sympy.sin(x2)
    fn = sympy.lambdify((x1, x2), [f, sympy.diff(f, x1), sympy.diff(f, x2)], "numpy")
    run = functools.partial(fn, *pts)
    return Contender(run, run)


BUILDERS: dict[str, Callable[[Points], Contender]] = {
    H.REFERENCE: build_numpy,
    "graphdl": build_graphdl,
    "torch eager": build_torch,
    "jax jit": build_jax,
    "pytensor": build_pytensor,
    "sympy lambdify": build_sympy,
}


def run(cfg: Config) -> list[Result]:
    rows: list[Result] = []
    for dtype in QUICK_DTYPES if cfg.quick else DTYPES:
        for n in SIZES:
            pts = make_points(n, dtype)
            builders = {k: functools.partial(b, pts) for k, b in BUILDERS.items()}
            rows += H.run_case(WORKLOAD, dtype, f"N={n:.0e}", builders, cfg)
    return rows


if __name__ == "__main__":
    import run_all

    run_all.main(["--only", WORKLOAD, *sys.argv[1:]])

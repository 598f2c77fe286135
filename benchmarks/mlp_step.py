"""One SGD training step of a ReLU MLP with softmax cross-entropy, in every contender.

This is the workload graphdl exists for: a forward pass, the gradient of a mean
cross-entropy, and in-place updates of all weights and biases. The hand-written NumPy
back-propagation is the yardstick; the "matmul floor" times only the step's GEMMs and so
shows how much of a step any framework could still win back outside BLAS.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import sys
import warnings
from collections.abc import Callable

import harness as H
import numpy as np
from harness import Config, Contender, Result, Skip

WORKLOAD = "mlp_step"
TITLE = "MLP training step (forward, backward, SGD update of all weights and biases)"
PER_THREAD = True  # BLAS-bound: run once per thread count
LR = 0.01
SIZES: dict[str, tuple[tuple[int, ...], int]] = {
    "tiny": ((64, 32, 10), 32),
    "small": ((64, 128, 128, 10), 128),
    "medium": ((784, 512, 512, 10), 256),
    "large": ((784, 2048, 2048, 10), 512),
}
QUICK_SIZES = ("tiny", "small")
DTYPES = ("float64", "float32")
FLOOR = "matmul floor (numpy)"


@dataclasses.dataclass
class Problem:
    """Initial weights ([W1, b1, W2, b2, ...], W of shape (fan_in, fan_out)) and one batch."""

    layers: tuple[int, ...]
    dtype: str
    params: list[np.ndarray]
    X: np.ndarray
    y: np.ndarray

    def fresh(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]


def make_problem(layers: tuple[int, ...], batch: int, dtype: str, seed: int = 0) -> Problem:
    """He-initialised weights and small random biases (non-zero, so their gradients matter)."""
    rng = np.random.default_rng(seed)
    params: list[np.ndarray] = []
    for fan_in, fan_out in itertools.pairwise(layers):
        params.append(
            (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)
        )
        params.append((rng.standard_normal(fan_out) * 0.1).astype(dtype))
    X = rng.standard_normal((batch, layers[0])).astype(dtype)
    y = rng.integers(0, layers[-1], size=batch).astype(np.int64)
    return Problem(layers, dtype, params, X, y)


# ----------------------------------------------------------------------------- numpy


def numpy_loss_and_grads(
    params: list[np.ndarray], X: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """Back-propagation as a careful person writes it: in-place where it is free, the
    softmax shifted by the row maximum, and its gradient taken as (p - onehot) / n."""
    Ws, bs = params[0::2], params[1::2]
    acts = [X]
    a = X
    for W, b in zip(Ws[:-1], bs[:-1]):
        a = a @ W
        a += b
        np.maximum(a, 0, out=a)
        acts.append(a)
    z = a @ Ws[-1]
    z += bs[-1]
    z -= z.max(axis=1, keepdims=True)
    n = X.shape[0]
    rows = np.arange(n)
    p = np.exp(z)
    sums = p.sum(axis=1)
    loss = float(np.mean(np.log(sums) - z[rows, y]))
    p /= sums[:, None]
    p[rows, y] -= 1
    p /= n
    delta = p
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    for i in reversed(range(len(Ws))):
        grads[2 * i] = acts[i].T @ delta
        grads[2 * i + 1] = delta.sum(axis=0)
        if i:
            delta = delta @ Ws[i].T
            delta *= acts[i] > 0
    return loss, grads


def build_numpy(prob: Problem) -> Contender:
    """The reference: its step scales each gradient in place and subtracts it."""
    params = prob.fresh()

    def step() -> float:
        loss, grads = numpy_loss_and_grads(params, prob.X, prob.y)
        for p, g in zip(params, grads):
            g *= LR
            p -= g
        return loss

    def reset() -> None:
        for p, v in zip(params, prob.params):
            p[...] = v

    def check() -> list:
        loss, grads = numpy_loss_and_grads(params, prob.X, prob.y)
        return [loss, *grads]

    return Contender(step, check, reset, after_step=lambda: [p.copy() for p in params])


def build_floor(prob: Problem) -> Contender:
    """Only the GEMMs of a step (forward, weight gradients, back-propagated deltas),
    into preallocated buffers: no framework can do a step in less."""
    Ws = prob.params[0::2]
    n = prob.X.shape[0]
    acts = [prob.X] + [np.ones((n, W.shape[1]), prob.dtype) for W in Ws]
    deltas = [np.ones((n, W.shape[1]), prob.dtype) for W in Ws]
    gWs = [np.empty_like(W) for W in Ws]

    def run() -> None:
        for i, W in enumerate(Ws):
            np.matmul(acts[i], W, out=acts[i + 1])
        for i in reversed(range(len(Ws))):
            np.matmul(acts[i].T, deltas[i], out=gWs[i])
            if i:
                np.matmul(deltas[i], Ws[i].T, out=deltas[i - 1])

    return Contender(run, note="GEMMs only")


# ----------------------------------------------------------------------------- graphdl


GRAPHDL_API = (
    "matrix",
    "vector",
    "shared",
    "relu",
    "log_softmax",
    "take_along_axis",
    "grad",
    "function",
)


def build_graphdl(prob: Problem, backend: str = "numpy") -> Contender:
    """The public graphdl API, exactly as a user would write the step."""
    gd, why = H.graphdl_or_note(GRAPHDL_API)
    if gd is None:
        raise Skip(why)
    X = gd.matrix("X", shape=(None, prob.layers[0]), dtype=prob.dtype)
    y = gd.vector("y", shape=(None,), dtype="int64")
    shared = [
        gd.shared(v.copy(), name=f"{'Wb'[i % 2]}{i // 2 + 1}") for i, v in enumerate(prob.params)
    ]
    h = X
    n_layers = len(prob.layers) - 1
    for i in range(n_layers):
        h = h @ shared[2 * i] + shared[2 * i + 1]
        if i < n_layers - 1:
            h = gd.relu(h)
    loss = -gd.take_along_axis(gd.log_softmax(h, axis=1), y[:, None], axis=1).mean()
    grads = gd.grad(loss, shared)
    lr = np.asarray(LR, dtype=prob.dtype)
    updates = {p: p - lr * g for p, g in zip(shared, grads)}
    step = gd.function([X, y], loss, updates=updates, backend=backend)
    both = gd.function([X, y], [loss, *grads], backend=backend)

    def reset() -> None:
        for p, v in zip(shared, prob.params):
            p.set_value(v.copy())

    def after() -> list:
        vals = [np.asarray(p.get_value()) for p in shared]
        bad = [v.dtype for v in vals if v.dtype != np.dtype(prob.dtype)]
        if bad:
            raise TypeError(f"update changed a parameter's dtype to {bad[0]}")
        return vals

    note = "one njit kernel, compiled at the first (untimed) call" if backend == "numba" else ""
    return Contender(lambda: step(prob.X, prob.y), lambda: both(prob.X, prob.y), reset, after,
                     note=note)


def build_graphdl_numba(prob: Problem) -> Contender:
    """The same step with ``gd.function(..., backend="numba")``: the whole step in one kernel."""
    if H.optional_import("numba") is None:
        raise Skip("numba not installed (pip install graphdl[numba])")
    return build_graphdl(prob, backend="numba")


# ----------------------------------------------------------------------------- peers


def build_torch(prob: Problem) -> Contender:
    """Eager PyTorch on CPU: autograd backward, then a manual SGD update under no_grad."""
    torch = H.optional_import("torch")
    if torch is None:
        raise Skip("torch not installed")
    F = torch.nn.functional
    params = [torch.tensor(v.copy(), requires_grad=True) for v in prob.params]
    X, y = torch.from_numpy(prob.X), torch.from_numpy(prob.y)
    n_layers = len(params) // 2

    def loss_fn() -> object:
        h = X
        for i in range(n_layers):
            h = torch.addmm(params[2 * i + 1], h, params[2 * i])
            if i < n_layers - 1:
                h = torch.relu(h)
        return F.cross_entropy(h, y)

    def step() -> object:
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-LR)
        return loss

    def check() -> list:
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        return [loss.item(), *[p.grad.numpy().copy() for p in params]]

    def reset() -> None:
        with torch.no_grad():
            for p, v in zip(params, prob.params):
                p.copy_(torch.from_numpy(v))

    def after() -> list:
        return [p.detach().numpy().copy() for p in params]

    return Contender(step, check, reset, after)


def _jax() -> tuple[object, object]:
    jax = H.optional_import("jax")
    if jax is None:
        raise Skip("jax not installed")
    jax.config.update("jax_enable_x64", True)  # float64 would silently become float32
    import jax.numpy as jnp

    return jax, jnp


def build_jax(prob: Problem) -> Contender:
    """jax.jit of value_and_grad plus the update; the old weights are donated to the new."""
    jax, jnp = _jax()
    n_layers = len(prob.params) // 2

    def loss_fn(params: list, X: object, y: object) -> object:
        h = X
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    vg = jax.jit(jax.value_and_grad(loss_fn))

    @functools.partial(jax.jit, donate_argnums=0)
    def update(params: list, X: object, y: object) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        return loss, [p - LR * g for p, g in zip(params, grads)]

    X, y = jax.device_put(prob.X), jax.device_put(prob.y)
    state = {"p": [jnp.asarray(v.copy()) for v in prob.params]}

    def step() -> None:
        loss, state["p"] = update(state["p"], X, y)
        jax.block_until_ready((loss, state["p"]))

    def check() -> list:
        loss, grads = vg(state["p"], X, y)
        return [float(loss), *[np.asarray(g) for g in grads]]

    def reset() -> None:
        state["p"] = [jnp.asarray(v.copy()) for v in prob.params]

    warnings.filterwarnings("ignore", message=".*donated buffers.*")
    return Contender(step, check, reset, lambda: [np.asarray(p) for p in state["p"]])


def build_pytensor(prob: Problem) -> Contender:
    """A PyTensor function with updates, compiled in PyTensor's default mode."""
    pytensor = H.optional_import("pytensor")
    if pytensor is None:
        raise Skip("pytensor not installed")
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    shared = [pytensor.shared(v.copy()) for v in prob.params]
    X = pt.matrix("X", dtype=prob.dtype)
    y = pt.vector("y", dtype="int64")
    h = X
    n_layers = len(shared) // 2
    for i in range(n_layers):
        h = h @ shared[2 * i] + shared[2 * i + 1]
        if i < n_layers - 1:
            h = pt.maximum(h, 0)
    loss = -log_softmax(h, axis=1)[pt.arange(y.shape[0]), y].mean()
    grads = pytensor.grad(loss, shared)
    lr = np.asarray(LR, dtype=prob.dtype)  # a Python float would upcast float32 weights
    step = pytensor.function([X, y], loss, updates=[(p, p - lr * g) for p, g in zip(shared, grads)])
    both = pytensor.function([X, y], [loss, *grads])

    def reset() -> None:
        for p, v in zip(shared, prob.params):
            p.set_value(v.copy())

    return Contender(
        lambda: step(prob.X, prob.y),
        lambda: both(prob.X, prob.y),
        reset,
        lambda: [p.get_value() for p in shared],
        note=H.pytensor_note(step),
    )


BUILDERS: dict[str, Callable[[Problem], Contender]] = {
    H.REFERENCE: build_numpy,
    FLOOR: build_floor,
    "graphdl": build_graphdl,
    "graphdl (numba)": build_graphdl_numba,
    "torch eager": build_torch,
    "jax jit": build_jax,
    "pytensor": build_pytensor,
}


def run(cfg: Config) -> list[Result]:
    """All sizes (tiny and small under --quick) in both dtypes, one table."""
    rows: list[Result] = []
    for name in QUICK_SIZES if cfg.quick else SIZES:
        layers, batch = SIZES[name]
        label = f"{name} {'-'.join(map(str, layers))} b{batch}"
        for dtype in DTYPES:
            prob = make_problem(layers, batch, dtype)
            builders = {k: functools.partial(b, prob) for k, b in BUILDERS.items()}
            rows += H.run_case(WORKLOAD, dtype, label, builders, cfg)
    return rows


if __name__ == "__main__":
    import run_all

    run_all.main(["--only", WORKLOAD, *sys.argv[1:]])

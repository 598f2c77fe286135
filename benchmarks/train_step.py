"""Training-step time of ``graphdl train``'s step against hand-written NumPy and PyTorch (CPU).

The step is the one `graphdl.training.Classifier` compiles: ReLU MLP with inverted dropout (masks
given as inputs), mean softmax cross-entropy (eq. 7) plus the L2 term (eq. 10), backward pass,
and Adam's update (eqs. 71-76) of every weight and bias. The three contenders start from the
same weights and must agree on the parameters after a few steps before any timing counts.

    python benchmarks/train_step.py                 # digits MLP and 784-512-512-10, 1 thread
    python benchmarks/train_step.py --threads 2 --dtype float32

Also reports the epochs per second of the default ``graphdl train`` job.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np

LR, RHO1, RHO2, DELTA, L2, P_DROP = 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.2
CASES = {
    "digits MLP 64-256-10 b32": ((64, 256, 10), 32),
    "784-512-512-10 b256": ((784, 512, 512, 10), 256),
}


def make_problem(layers, batch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(layers):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)).astype(dtype))
        params.append((rng.standard_normal(fan_out) * 0.1).astype(dtype))
    X = rng.standard_normal((batch, layers[0])).astype(dtype)
    y = rng.integers(0, layers[-1], size=batch)
    masks = [
        ((rng.random((batch, h)) >= P_DROP) / (1 - P_DROP)).astype(dtype) for h in layers[1:-1]
    ]
    return params, X, y, masks


# --- hand-written NumPy -----------------------------------------------------------------------
def numpy_contender(params, X, y, masks):
    params = [p.copy() for p in params]
    s_state = [np.zeros_like(p) for p in params]
    r_state = [np.zeros_like(p) for p in params]
    t = [0]
    n = len(y)
    rows = np.arange(n)

    def step():
        Ws, bs = params[0::2], params[1::2]
        acts, pre, a = [X], [], X
        for W, b, m in zip(Ws[:-1], bs[:-1], masks):
            z = a @ W
            z += b
            pre.append(z)
            a = np.maximum(z, 0)
            a *= m
            acts.append(a)
        logits = a @ Ws[-1]
        logits += bs[-1]
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        total = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(total[:, 0]) - logits[rows, y])
        loss += L2 * sum(np.vdot(W, W) for W in Ws)
        d = e / total
        d[rows, y] -= 1
        d /= n
        grads = [None] * len(params)
        for i in reversed(range(len(Ws))):
            grads[2 * i] = acts[i].T @ d + (2 * L2) * Ws[i]
            grads[2 * i + 1] = d.sum(axis=0)
            if i:
                d = d @ Ws[i].T
                d *= masks[i - 1]
                d *= pre[i - 1] > 0
        t[0] += 1
        c1, c2 = 1 / (1 - RHO1 ** t[0]), 1 / (1 - RHO2 ** t[0])
        for p, g, s, r in zip(params, grads, s_state, r_state):
            s *= RHO1
            s += (1 - RHO1) * g
            r *= RHO2
            r += (1 - RHO2) * (g * g)
            p -= LR * (s * c1) / (DELTA + np.sqrt(r * c2))
        return loss

    return step, lambda: params


# --- graphdl ------------------------------------------------------------------------------------
def graphdl_contender(params, X, y, masks, backend="numpy"):
    import graphdl as gd
    from graphdl import nn, optim
    from graphdl.training import Classifier

    dtype = params[0].dtype
    layers = []
    for i, (W, b) in enumerate(zip(params[0::2], params[1::2]), start=1):
        dense = nn.Dense(*W.shape, name=f"dense{i}", dtype=dtype)
        dense.W.set_value(W)
        dense.b.set_value(b)
        layers.append(dense)
        if i < len(params) // 2:
            layers += [gd.relu, nn.Dropout(P_DROP, name=f"dropout{i}")]
    model = nn.Sequential(*layers)
    clf = Classifier(model, optim.Adam(LR, RHO1, RHO2, DELTA), X.shape[1], l2=L2, dtype=dtype.name,
                     backend=backend)
    return (lambda: clf.train_step(X, y, *masks)[2]), model.parameters


def graphdl_numba_contender(params, X, y, masks):
    """The same step as one numba kernel (``Classifier(..., backend="numba")``)."""
    import importlib.util

    if importlib.util.find_spec("numba") is None:
        raise ImportError("numba not installed (pip install graphdl[numba])")
    return graphdl_contender(params, X, y, masks, backend="numba")


# --- PyTorch --------------------------------------------------------------------------------
def torch_contender(params, X, y, masks):
    import torch

    tp = [torch.tensor(p, requires_grad=True) for p in params]
    tX, ty, tm = torch.from_numpy(X), torch.from_numpy(y), [torch.from_numpy(m) for m in masks]
    opt = torch.optim.Adam(tp, lr=LR, betas=(RHO1, RHO2), eps=DELTA)

    def step():
        a = tX
        for W, b, m in zip(tp[0:-2:2], tp[1:-2:2], tm):
            a = torch.relu(a @ W + b) * m
        logits = a @ tp[-2] + tp[-1]
        loss = torch.nn.functional.cross_entropy(logits, ty)
        loss = loss + L2 * sum((W * W).sum() for W in tp[0::2])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: [p.detach().numpy() for p in tp]


def _values(get):
    out = get()
    return [v.get_value() if hasattr(v, "get_value") else np.asarray(v) for v in out]


def check_agreement(contenders, steps=3):
    """Every contender's parameters after ``steps`` steps against NumPy's."""
    finals = {}
    for name, (step, get) in contenders.items():
        for _ in range(steps):
            step()
        finals[name] = _values(get)
    reference = finals["numpy (hand-written)"]
    worst = {}
    for name, values in finals.items():
        worst[name] = max(
            float(np.max(np.abs(v - r)) / (np.max(np.abs(r)) + 1e-30))
            for v, r in zip(values, reference)
        )
    return worst


def time_steps(contenders: dict[str, tuple[Callable, Callable]], rounds: int, steps: int):
    """Median per-step seconds, the contenders interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (step, _) in contenders.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(v) for name, v in samples.items()}


def limit_threads(n: int):
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n)
    except ImportError:
        return contextlib.nullcontext()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps per round")
    args = parser.parse_args(argv)
    with limit_threads(args.threads):
        print(f"training step (forward, backward, Adam), {args.dtype}, {args.threads} thread(s)")
        for label, (layers, batch) in CASES.items():
            problem = make_problem(layers, batch, args.dtype)
            builders = {
                "numpy (hand-written)": numpy_contender,
                "graphdl": graphdl_contender,
                "graphdl (numba)": graphdl_numba_contender,
                "torch eager (CPU)": torch_contender,
            }
            contenders = {}
            for name, build in builders.items():
                try:
                    contenders[name] = build(*problem)
                except ImportError as exc:
                    print(f"  {name}: skipped ({exc})")
            agreement = check_agreement(contenders)
            steps = max(5, int((20 if args.quick else 200) * 32 / batch))
            times = time_steps(contenders, args.rounds, steps)
            base = times["numpy (hand-written)"]
            print(f"\n{label}: median of {args.rounds} rounds x {steps} steps")
            for name, seconds in times.items():
                print(
                    f"  {name:22s} {seconds * 1e6:9.1f} us/step  {seconds / base:5.2f}x numpy"
                    f"  (max rel. param diff after 3 steps {agreement[name]:.1e})"
                )
        from graphdl.training.job import TrainOptions, run

        with tempfile.TemporaryDirectory() as out:
            result = run(TrainOptions(out=out, verbose=False, dtype=args.dtype))
        epochs = len(result.fit.history)
        print(
            f"\ngraphdl train (defaults): {epochs} epochs in {result.fit.seconds:.2f} s = "
            f"{epochs / result.fit.seconds:.1f} epochs/s (incl. validation each epoch), "
            f"test accuracy {result.test_acc:.2%}"
        )


if __name__ == "__main__":
    main()

"""Compiled forward passes against the same computation written by hand in NumPy (issue 2).

(a) the lecture's f(x1, x2) = ln x1 + x1 x2 - sin x2 over 10^6 points;
(b) an MLP 64-128-128-10 (relu) at batch 128, logits only.

Both run in one process, interleaved, with one BLAS thread; the outputs are checked equal
before timing. Prints medians and the ratio graphdl / hand-written (target <= 1.10).

    python benchmarks/forward.py [--quick]
"""

from __future__ import annotations

import argparse

import harness as H
import numpy as np


def lecture_f(points: int) -> tuple[dict, tuple]:
    import graphdl as gd

    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    fn = gd.function([x1, x2], gd.log(x1) + x1 * x2 - gd.sin(x2))
    a = np.linspace(1.0, 3.0, points)

    def by_hand():
        return np.log(a) + a * 5.0 - np.sin(5.0)

    return {"graphdl": lambda: fn(a, 5.0), H.REFERENCE: by_hand}, (f"f(x1, x2), {points} points",)


def mlp_forward(
    batch: int = 128, sizes: tuple[int, ...] = (64, 128, 128, 10)
) -> tuple[dict, tuple]:
    import graphdl as gd

    rng = np.random.default_rng(0)
    weights = [(rng.normal(0, 0.1, (m, n)), np.zeros(n)) for m, n in zip(sizes[:-1], sizes[1:])]
    X = gd.matrix("X", shape=(None, sizes[0]))
    h = X
    for i, (w, b) in enumerate(weights):
        h = h @ gd.shared(w, name=f"W{i}") + gd.shared(b, name=f"b{i}")
        if i < len(weights) - 1:
            h = gd.relu(h)
    fn = gd.function([X], h)
    data = rng.normal(size=(batch, sizes[0]))

    def by_hand():
        h = data
        for i, (w, b) in enumerate(weights):
            h = h @ w + b
            if i < len(weights) - 1:
                h = np.maximum(h, 0)
        return h

    label = f"MLP {'-'.join(map(str, sizes))} forward, batch {batch}"
    return {"graphdl": lambda: fn(data), H.REFERENCE: by_hand}, (label,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cfg = H.Config.make(args.quick, (1,))
    print(f"{'case':44s} {'contender':22s} {'median':>10s} {'ratio':>7s}")
    with H.thread_limit(1):
        for fns, (label,) in (lecture_f(10**6), mlp_forward()):
            ok, why = H.allclose(fns[H.REFERENCE](), fns["graphdl"](), "float64")
            if not ok:
                print(f"{label:44s} graphdl WRONG: {why}")
                continue
            samples = H.time_interleaved(fns, cfg)
            ref = float(np.median(samples[H.REFERENCE]))
            for name in (H.REFERENCE, "graphdl"):
                median = float(np.median(samples[name]))
                print(f"{label:44s} {name:22s} {median * 1e6:8.1f}us {median / ref:6.2f}x")


if __name__ == "__main__":
    main()

"""The cheap-gradient principle, measured: gradient graph size over forward graph size.

For the MLP 64-128-128-10 loss and for nested x -> tanh(0.5 x + 0.1 x^2) of depth 2..64, the
node counts after the optimizer of the forward graph and of [loss and] its gradient.

    python benchmarks/gradient_size.py
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import graphdl as gd  # noqa: E402


def mlp_counts() -> tuple[int, int]:
    rng = np.random.default_rng(0)
    sizes = [64, 128, 128, 10]
    X = gd.matrix("X", shape=(None, 64))
    y = gd.vector("y", dtype="int64")
    h, params = X, []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = gd.shared(rng.normal(0, 0.1, (m, n)), name=f"W{i}")
        b = gd.shared(np.zeros(n), name=f"b{i}")
        params += [W, b]
        h = h @ W + b
        if i < len(sizes) - 2:
            h = gd.relu(h)
    loss = -gd.take_along_axis(gd.log_softmax(h, axis=1), y[:, None], axis=1).mean()
    forward, _ = gd.optimize([loss])
    both, _ = gd.optimize([loss, *gd.grad(loss, params)])
    return gd.count_nodes(forward), gd.count_nodes(both)


def nested_counts(depth: int) -> tuple[int, int]:
    x = gd.scalar("x")
    f = x
    for _ in range(depth):
        f = gd.tanh(0.5 * f + 0.1 * f**2)
    forward, _ = gd.optimize([f])
    gradient, _ = gd.optimize([gd.grad(f, x)])
    return gd.count_nodes(forward), gd.count_nodes(gradient)


def main() -> None:
    print(f"{'graph':34s} {'forward':>8s} {'gradient':>9s} {'ratio':>6s}")
    rows = [("MLP 64-128-128-10 (loss + grads)", *mlp_counts())]
    rows += [(f"nested depth {d}", *nested_counts(d)) for d in (2, 4, 8, 16, 32, 64)]
    for name, forward, gradient in rows:
        print(f"{name:34s} {forward:8d} {gradient:9d} {gradient / forward:6.2f}")


if __name__ == "__main__":
    main()

"""``graphdl optimize``: what the optimizer does to a few graphs, with the code before and after.

    graphdl optimize                    # the lecture's f(x1, x2) and its gradient
    graphdl optimize --example mlp      # an MLP's cross-entropy with its gradients
    graphdl optimize --example naive-xent --no-code
"""

from __future__ import annotations

import argparse

EXAMPLES = ("lecture", "mlp", "naive-xent")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("optimize", help="show the optimizer's report and the code "
                                                  "before and after on an example graph")
    parser.add_argument("--example", choices=EXAMPLES, default="lecture")
    parser.add_argument("--no-code", action="store_true", help="print only the report")
    parser.set_defaults(run=run)


def _graph(example: str):
    import numpy as np

    import graphdl as gd

    if example == "lecture":
        x1, x2 = gd.scalar("x1"), gd.scalar("x2")
        f = gd.log(x1) + x1 * x2 - gd.sin(x2)
        return [x1, x2], [f, *gd.grad(f, [x1, x2])]
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 64))
    y = gd.vector("y", shape=(None,), dtype="int64")
    W1 = gd.shared(rng.standard_normal((64, 32)) * 0.1, name="W1")
    b1 = gd.shared(np.zeros(32), name="b1")
    W2 = gd.shared(rng.standard_normal((32, 10)) * 0.1, name="W2")
    b2 = gd.shared(np.zeros(10), name="b2")
    logits = gd.relu(X @ W1 + b1) @ W2 + b2
    if example == "mlp":
        picked = gd.take_along_axis(gd.log_softmax(logits, axis=1), y[:, None], axis=1)
    else:  # the textbook form: log of the picked probability
        picked = gd.log(gd.take_along_axis(gd.softmax(logits, axis=1), y[:, None], axis=1))
    loss = -picked.mean()
    return [X, y], [loss, *gd.grad(loss, [W1, b1, W2, b2])]


def run(args: argparse.Namespace) -> int:
    import graphdl as gd

    inputs, outputs = _graph(args.example)
    written = gd.function(inputs, outputs, name="as_written", optimize=False)
    optimized = gd.function(inputs, outputs, name="optimized")
    if not args.no_code:
        print(written.source)
        print(optimized.source)
    print(optimized.report)
    return 0

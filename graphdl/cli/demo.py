"""``graphdl demo``: the lecture's f(x1, x2) = ln(x1) + x1 x2 - sin(x2), its gradient, and the
NumPy code graphdl generates for both."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="evaluate the lecture's f(x1, x2) and show the code")
    parser.add_argument("--x1", type=float, default=2.0)
    parser.add_argument("--x2", type=float, default=5.0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import graphdl as gd

    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    df_dx1, df_dx2 = gd.grad(f, [x1, x2])
    fn = gd.function([x1, x2], [f, df_dx1, df_dx2], name="f_and_grad")
    value, g1, g2 = fn(args.x1, args.x2)
    print(f"f(x1, x2) = ln(x1) + x1*x2 - sin(x2) at x1={args.x1:g}, x2={args.x2:g}")
    print(f"  f      = {value:.6f}")
    print(f"  df/dx1 = {g1:.6f}")
    print(f"  df/dx2 = {g2:.6f}")
    print("\nGenerated NumPy code (forward and adjoint passes together):\n")
    print(fn.source)
    return 0

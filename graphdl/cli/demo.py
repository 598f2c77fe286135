"""``graphdl demo ["FORMULA" --at NAME=VALUE ...]``: a function, its gradient, and the NumPy code
graphdl generates for both; by default the lecture's f(x1, x2) = ln(x1) + x1 x2 - sin(x2). The
formula is read in graphdl's formula language (`graphdl.ops.formula`), as by trace and compare."""

from __future__ import annotations

import argparse
import sys

from graphdl.cli.options import finite_float, positive_float

LECTURE = "ln(x1) + x1*x2 - sin(x2)"


def register(commands: argparse._SubParsersAction) -> None:
    from graphdl.ops.formula import describe_language

    parser = commands.add_parser(
        "demo", help="evaluate the lecture's f (or a formula), its gradient, and show the code",
        description="Evaluate a function of scalar inputs and its gradient, and print the NumPy "
                    f"code graphdl generates for both. Default: the lecture's f = {LECTURE}. "
                    "A formula given instead is read, never run, in graphdl's formula language "
                    f"(the same for trace and compare): {describe_language()}.")
    parser.add_argument("formula", nargs="?", default=None,
                        help=f'a formula, e.g. "sigmoid(w*x + b)" (default: "{LECTURE}")')
    parser.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE",
                        help="the formula's inputs (unlisted ones are 1.0)")
    parser.add_argument("--x1", type=positive_float, default=2.0,
                        help="x1 of the lecture's f, > 0 for ln (default 2)")
    parser.add_argument("--x2", type=finite_float, default=5.0,
                        help="x2 of the lecture's f (default 5)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import graphdl as gd
    from graphdl.cli.trace import one_line, parse_pairs
    from graphdl.ops.formula import free_names, parse_formula_at

    text = args.formula if args.formula is not None else LECTURE
    try:
        given = parse_pairs(args.at, "--at")
        vectors = [name for name, value in given.items() if isinstance(value, list)]
        if vectors:
            raise ValueError(f"--at: {', '.join(vectors)} must be a number (demo takes scalars)")
        names = free_names(text)
        point = {"x1": args.x1, "x2": args.x2} if args.formula is None else {}
        point = {name: given.get(name, point.get(name, 1.0)) for name in names}
        unknown = [name for name in given if name not in names]
        if unknown:
            raise ValueError(f"--at: {', '.join(unknown)} not used in the formula")
        f, inputs = parse_formula_at(text, point)
        if not names:
            raise ValueError("the formula has no inputs to differentiate with respect to")
        grads = gd.grad(f, list(inputs.values()))
        fn = gd.function(list(inputs.values()), [f, *grads], name="f_and_grad")
        with np.errstate(all="ignore"):
            value, *gradient = fn(*point.values())
    except Exception as exc:  # noqa: BLE001 - the command line shows one line, never a traceback
        print(f"graphdl demo: {one_line(exc)}", file=sys.stderr)
        return 2
    where = ", ".join(f"{n}={v:g}" for n, v in point.items())
    width = 4 + max(len(n) for n in names)
    print(f"f({', '.join(names)}) = {text} at {where}")
    print(f"  {'f'.ljust(width)} = {value:.6f}")
    for name, g in zip(names, gradient):
        print(f"  {('df/d' + name).ljust(width)} = {g:.6f}")
    print("\nGenerated NumPy code (forward and adjoint passes together):\n")
    print(fn.source)
    return 0

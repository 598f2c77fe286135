"""``graphdl compare "log(x1) + x1*x2 - sin(x2)" --wrt x1 x2 --at x1=2 x2=5``: differentiate a
formula symbolically (SymPy) and automatically (graphdl), and report sizes, times and agreement.

The formula is read in graphdl's formula language (`graphdl.ops.formula`, the same as for
``graphdl trace``) into a graph, and SymPy gets it from the graph: nothing in it is run as Python,
so it is safe to pass text from anywhere.
"""

from __future__ import annotations

import argparse
import sys


def register(commands: argparse._SubParsersAction) -> None:
    from graphdl.ops.formula import describe_language

    parser = commands.add_parser(
        "compare", help="symbolic (SymPy) vs automatic (graphdl) differentiation of a formula",
        description="Differentiate a formula with sympy.diff and with graphdl's reverse mode, "
                    "compile both, evaluate both over N points, and compare sizes, times and "
                    "values. The formula is read, never run, as graphdl's formula language (the "
                    f"same for graphdl trace): {describe_language()}.")
    parser.add_argument("expression", help='the formula, e.g. "log(x1) + x1*x2 - sin(x2)"')
    parser.add_argument("--wrt", nargs="+", metavar="NAME",
                        help="variables to differentiate with respect to (default: all)")
    parser.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE",
                        help="the point of interest (unlisted variables are 1.0)")
    parser.add_argument("--points", type=int, default=10_000,
                        help="how many points to evaluate at (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random points")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.set_defaults(run=run)


def parse_point(items: list[str]) -> dict[str, float]:
    """``["x1=2", "x2=5"]`` -> ``{"x1": 2.0, "x2": 5.0}``, with an error naming a bad item."""
    point: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            point[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"graphdl compare: --at takes NAME=NUMBER, got {item!r}") from None
    return point


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from graphdl.cli.trace import one_line
    from graphdl.symbolic import compare

    if args.points < 1:
        raise SystemExit("graphdl compare: --points must be at least 1")
    try:
        with np.errstate(all="ignore"):  # inf and nan show in the report; no warnings
            report = compare(args.expression, wrt=args.wrt, at=parse_point(args.at),
                             n_points=args.points, seed=args.seed)
    except Exception as exc:  # noqa: BLE001 - the command line shows one line, never a traceback
        message = one_line(exc)
        print(f"graphdl compare: {message.removeprefix('compare: ')}", file=sys.stderr)
        return 2
    text = {"text": report.to_text, "markdown": report.to_markdown, "json": report.to_json}
    print(text[args.format]())
    return 0

"""Expression swell, measured: x -> tanh(a*x + b*x**2) nested to depth 1..32, d/dx both ways.

Each level uses its input twice, so the function is a graph of 5 operations per level but a tree
of about 2^depth. SymPy differentiates the tree; graphdl's reverse sweep differentiates the graph.
For every depth this runs `gd.compare` (SymPy: diff, count_ops, cse, lambdify with cse, evaluation;
graphdl: grad, optimize and compile, evaluation; both at the same points) and prints one table.

SymPy's side grows by about 2x per level, so it is measured only while it fits a time budget;
deeper rows show its last measured growth rate projected forward instead (marked ``~``).

    python benchmarks/symbolic_swell.py                  # depths 1..32, budget 20 s per depth
    python benchmarks/symbolic_swell.py --max-depth 8 --points 1000 --json swell.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AT = {"x": 0.3, "a": 0.9, "b": 0.2}


def nested(gd: Any, depth: int) -> tuple[Any, Any]:
    """The lecture's kind of nesting: each level reads the previous one twice."""
    x, a, b = gd.scalar("x"), gd.scalar("a"), gd.scalar("b")
    y = x
    for _ in range(depth):
        y = gd.tanh(a * y + b * y ** 2)
    return y, x


def measure(gd: Any, max_depth: int, points: int, budget: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sympy_on, growth, last_seconds = True, None, None
    measured: list[float] = []  # sympy.diff seconds per depth, while SymPy runs
    gd.compare(nested(gd, 1)[0], n_points=10)  # one-time costs (imports, first lambdify) go here
    for depth in range(1, max_depth + 1):
        cost, x = nested(gd, depth)
        start = time.perf_counter()
        report = gd.compare(cost, wrt=x, at=AT, n_points=points, symbolic=sympy_on)
        wall = time.perf_counter() - start
        row = report.to_dict()
        row.update(depth=depth, wall_seconds=wall, projected_sympy_diff_seconds=None)
        row.pop("expression")  # the tree grows as 2^depth: keep the table readable
        if report.symbolic:
            measured.append(report.sympy_diff_seconds)
            growth = _growth(measured)
            last_seconds = report.sympy_diff_seconds
            sympy_on = wall * max(growth or 2.0, 1.0) <= budget
        elif growth and last_seconds:
            last_seconds *= growth
            row["projected_sympy_diff_seconds"] = last_seconds
        rows.append(row)
        print(f"depth {depth:2d}: {wall:7.2f} s", file=sys.stderr, flush=True)
    return rows


def _growth(seconds: list[float], span: int = 4) -> float | None:
    """sympy.diff's time ratio per level, averaged (geometrically) over the last ``span`` levels:
    one ratio alone is at the mercy of a noisy neighbour on a shared machine."""
    if len(seconds) <= span:
        return None
    return (seconds[-1] / seconds[-1 - span]) ** (1.0 / span)


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 365 * 86400:
        return f"{seconds / (365 * 86400):.3g} years"
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} days"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1e3:.3g} ms"


def table(rows: list[dict[str, Any]], points: int) -> str:
    head = ("| depth | graphdl f ops | graphdl grad ops raw / opt | grad+compile | eval "
            f"{points} pts | sympy f ops (tree) | sympy.diff | sympy grad ops raw / cse | "
            f"lambdify | eval {points} pts | max rel diff |")
    lines = [head, "|" + " --- |" * 11]
    for r in rows:
        if r["sympy_diff_seconds"] is not None:
            sym = [str(r["sympy_forward_ops"]), _t(r["sympy_diff_seconds"]),
                   f"{r['sympy_grad_ops']} / {r['sympy_grad_ops_cse']}",
                   _t(r["sympy_lambdify_seconds"]), _t(r["sympy_eval_seconds"]),
                   f"{r['max_rel_diff']:.1e}"]
        else:
            projected = r["projected_sympy_diff_seconds"]
            sym = ["-", f"~{_t(projected)}" if projected else "not run", "-", "-", "-", "-"]
        ours = [str(r["graphdl_forward_ops"]),
                f"{r['graphdl_grad_ops']} / {r['graphdl_grad_ops_optimized']}",
                _t(r["graphdl_prepare_seconds"]), _t(r["graphdl_eval_seconds"])]
        lines.append("| " + " | ".join([str(r["depth"]), *ours, *sym]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-depth", type=int, default=32)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--budget", type=float, default=20.0,
                    help="stop measuring SymPy once a depth would take longer (seconds)")
    ap.add_argument("--json", metavar="PATH", help="also write every row to this JSON file")
    args = ap.parse_args(argv)
    if REPO_ROOT not in sys.path:  # measure the graphdl of this checkout
        sys.path.insert(0, REPO_ROOT)
    import graphdl as gd

    rows = measure(gd, args.max_depth, args.points, args.budget)
    print(table(rows, args.points))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

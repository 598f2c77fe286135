"""``graphdl trace "log(x1) + x1*x2 - sin(x2)" --at x1=2 x2=5 --mode reverse``: the lecture's
trace tables for a formula typed on the command line (parsed safely, never executed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TABLE_FORMATS = {".txt": "text", ".md": "markdown", ".html": "html", ".tex": "latex"}
GRAPH_FORMATS = (".svg", ".png", ".pdf", ".dot", ".gv")


def register(commands: argparse._SubParsersAction) -> None:
    from graphdl.ops.formula import describe_language

    parser = commands.add_parser(
        "trace", help="print the primal/tangent/adjoint trace of a formula",
        description="Evaluate a formula and print the lecture's trace tables. The formula is "
                    "read, never run, as graphdl's formula language (the same for graphdl "
                    f"compare): {describe_language()}.")
    parser.add_argument("expression", help='e.g. "log(x1) + x1*x2 - sin(x2)"')
    parser.add_argument("--at", nargs="+", required=True, metavar="NAME=VALUE",
                        help="input values in input order (x1=2 x2=5; a vector as x=1,2,3)")
    parser.add_argument("--mode", choices=("primal", "forward", "reverse"), default="primal")
    parser.add_argument("--seed", nargs="+", metavar="SEED",
                        help="forward: NAME=TANGENT pairs (default: the first input gets 1); "
                             "reverse: the output's cotangent (default 1)")
    parser.add_argument("--digits", type=int, default=3, help="decimals shown (default 3)")
    parser.add_argument("--format", choices=("text", "markdown", "html", "latex"), default="text",
                        help="how the table is printed")
    parser.add_argument("-o", "--output", help="also write the table (.txt .md .html .tex) or the "
                                               "annotated graph (.svg .png .pdf .dot)")
    parser.set_defaults(run=run)


def _parse_value(text: str) -> float | list[float]:
    parts = [p for p in text.split(",") if p.strip()]
    values = [float(p) for p in parts]
    return values[0] if len(values) == 1 and "," not in text else values


def parse_pairs(items: list[str], what: str) -> dict[str, float | list[float]]:
    """``["x1=2", "v=1,2"]`` -> ``{"x1": 2.0, "v": [1.0, 2.0]}``; a bad item raises ValueError
    naming the option ``what``."""
    pairs: dict[str, float | list[float]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"{what}: expected NAME=VALUE, got {item!r}")
        try:
            pairs[name] = _parse_value(value)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a number (or comma-separated numbers)"
                             ) from None
    return pairs


def build(expression: str, at: dict[str, float | list[float]]):
    """The graph of ``expression`` over one input per ``at`` entry (scalars or vectors)."""
    from graphdl.ops.formula import parse_formula_at

    return parse_formula_at(expression, at)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import graphdl as gd

    try:
        at = parse_pairs(args.at, "--at")
        output, variables = build(args.expression, at)
        seed = _seed(args, variables)
        with np.errstate(all="ignore"):  # inf and nan show in the table; no warnings on stderr
            result = gd.trace(output, at={variables[n]: v for n, v in at.items()},
                              mode=args.mode, seed=seed, digits=args.digits)
    except Exception as exc:  # noqa: BLE001 - the command line shows one line, never a traceback
        print(f"graphdl trace: {one_line(exc)}", file=sys.stderr)
        return 2
    print(_table(result, args.format))
    if args.output:
        return _write(result, Path(args.output))
    return 0


def one_line(exc: BaseException) -> str:
    """An error as one line: its message with line breaks folded (the type name if it has no
    message, or if it is not one of graphdl's or a ValueError, which name their cause)."""
    import graphdl as gd

    text = " ".join(str(exc).split())
    if not text or not isinstance(exc, (gd.GraphError, ValueError)):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def _seed(args: argparse.Namespace, variables: dict):
    if not args.seed:
        return None
    if args.mode == "forward":
        pairs = parse_pairs(args.seed, "--seed")
        missing = [n for n in pairs if n not in variables]
        if missing:
            raise ValueError(f"--seed: {', '.join(missing)} is not an input")
        return {variables[n]: v for n, v in pairs.items()}
    if args.mode == "reverse" and len(args.seed) == 1:
        return _parse_value(args.seed[0])
    raise ValueError("--seed: forward mode takes NAME=TANGENT pairs, reverse mode one number")


def _table(result, fmt: str) -> str:
    return {"text": str, "markdown": lambda t: t.to_markdown(), "html": lambda t: t.to_html(),
            "latex": lambda t: t.to_latex()}[fmt](result)


def _write(result, path: Path) -> int:
    import graphdl as gd

    suffix = path.suffix.lower()
    if suffix in TABLE_FORMATS:
        text = _table(result, TABLE_FORMATS[suffix])
        if suffix == ".html":
            text = result.to_html(graph=True)
        path.write_text(text + ("\n" if not text.endswith("\n") else ""), encoding="utf-8")
    elif suffix in GRAPH_FORMATS:
        try:
            gd.render(result, path)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            print(f"graphdl trace: {one_line(exc)}", file=sys.stderr)
            return 1
    else:
        known = ", ".join(list(TABLE_FORMATS) + list(GRAPH_FORMATS))
        print(f"graphdl trace: cannot tell the format of {path} (use {known})", file=sys.stderr)
        return 2
    print(f"wrote {path}", file=sys.stderr)
    return 0

"""The ``graphdl`` command line. Each subcommand lives in its own module with a ``register``
function that adds its parser; this file only lists them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = [
    "graphdl.cli.demo",
    "graphdl.cli.train",
    "graphdl.cli.compare",
    "graphdl.cli.render",
    "graphdl.cli.trace",
    "graphdl.cli.optimize",
    "graphdl.cli.export",
]


def build_parser() -> argparse.ArgumentParser:
    from graphdl import __version__

    parser = argparse.ArgumentParser(
        prog="graphdl",
        description="graphdl: define-then-run computation graphs compiled to NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"graphdl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

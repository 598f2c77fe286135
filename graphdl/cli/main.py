"""The ``graphdl`` command line. Each subcommand lives in its own module with a ``register``
function that adds its parser; this file lists them, and turns every error a user can cause (a
missing file, a bad option value, a graph that cannot be built, output closed early) into one
line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import importlib
import os
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

# the exit status of a command that failed on its input (argparse uses 2 for bad options too)
FAILED = 2


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
    from graphdl.errors import GraphError

    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader that went away is found here, not at exit
        return status
    except BrokenPipeError:
        # `graphdl ... | head`: the reader has what it wanted. Later writes (and the flush at
        # exit) go to devnull so Python does not print a second error while shutting down.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"graphdl {args.command}: output closed early (broken pipe)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"graphdl {args.command}: interrupted", file=sys.stderr)
        return 130
    except (GraphError, OSError, ValueError, TypeError, ImportError) as exc:
        print(f"graphdl {args.command}: {_one_line(exc)}", file=sys.stderr)
        return FAILED


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Progress display for training: a tqdm bar on a terminal, plain lines everywhere else.

A live bar is helpful when a person watches a terminal, but in a CI log or a file it turns
into thousands of carriage-return fragments. So the bar is shown only when stdout is a TTY
and the environment variable ``CI`` is not set to a true value; otherwise the caller prints
one line per epoch with :func:`print_epoch`. Use :func:`use_bars` to pick between them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}


def in_ci() -> bool:
    """True when the ``CI`` environment variable says we run under continuous integration."""
    return os.environ.get("CI", "").strip().lower() in _TRUE


def use_bars(stream: IO[str] | None = None) -> bool:
    """Whether live bars suit ``stream`` (default: the current stdout)."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not in_ci() and callable(isatty) and bool(isatty())


def format_metrics(metrics: Mapping[str, float]) -> str:
    """``{"loss": 0.12345, "acc": 0.9}`` -> ``"loss=0.1235 acc=0.9000"``; 4 decimals each."""
    return " ".join(f"{name}={float(value):.4f}" for name, value in metrics.items())


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str | None = None,
    disable: bool | None = None,
    leave: bool = False,
    file: IO[str] | None = None,
) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar written to ``file`` (default stdout).

    ``disable=None`` decides automatically with :func:`use_bars`; a disabled bar still
    iterates normally and ignores :func:`set_metrics`, so training code needs no branches.
    ``leave=False`` erases a finished per-epoch bar so the screen keeps only the summaries.
    """
    file = sys.stdout if file is None else file
    if disable is None:
        disable = not use_bars(file)
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        disable=disable,
        leave=leave,
        file=file,
        dynamic_ncols=True,
    )


def set_metrics(bar: tqdm, **metrics: float) -> None:
    """Show running metrics (e.g. ``loss=..., acc=...``) at the end of the bar."""
    bar.set_postfix_str(format_metrics(metrics), refresh=True)


def print_epoch(
    epoch: int,
    metrics: Mapping[str, float],
    total_epochs: int | None = None,
    file: IO[str] | None = None,
) -> str:
    """Print and return one summary line, e.g. ``epoch 3/20 train_loss=0.4123 val_acc=...``.

    Epochs are shown as given (pass ``epoch + 1`` for 1-based display). The line is flushed
    at once so that a log being followed (``tail -f``, a CI console) stays current.
    """
    head = f"epoch {epoch}" if total_epochs is None else f"epoch {epoch}/{total_epochs}"
    line = f"{head} {format_metrics(metrics)}".rstrip()
    print(line, file=sys.stdout if file is None else file, flush=True)
    return line

"""What runs on a worker: one shard's results, and the sum that tree-reduces them.

A batch-mean output (a mean loss, an accuracy, the gradient of a mean objective) over N rows is
the row-weighted average of its values over shards: sum_s n_s * out_s / N. Each shard therefore
returns its row count and its outputs multiplied by it; partial results are added in any order
and grouping (what a tree reduction on the cluster needs), and the driver divides once at the
end. A term that does not depend on the rows (an L2 penalty) comes out right too, since the
weights n_s / N add up to one. With ``reduction="sum"`` the outputs are added unweighted, which
is exact only for sums over rows.

These functions are imported by the workers, so they stay free of graph code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

REDUCTIONS = ("mean", "sum")


@dataclass
class Partial:
    """Rows seen and the (row-weighted, for ``mean``) sums of every output over them."""

    rows: int
    sums: list[Any]


def run_shard(fn: Callable[..., Any], reduction: str, shard: Sequence[np.ndarray],
              params: Sequence[np.ndarray]) -> Partial:
    """Call ``fn(*shard, *params)`` on one shard and weight its outputs for the reduction."""
    rows = len(shard[0])
    outputs = fn(*aligned(shard), *params)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    if reduction == "mean":
        return Partial(rows, [np.multiply(out, rows) for out in outputs])
    return Partial(rows, list(outputs))


def aligned(arrays: Sequence[Any]) -> list[Any]:
    """The arrays, copied where they are not aligned in memory. Chunks Dask deserialized from a
    message can be unaligned, and NumPy's kernels run about 15% slower on those (measured on
    the digits MLP's gradient); the copy costs a few percent of one chunk's computation."""
    return [np.require(a, requirements="A") if isinstance(a, np.ndarray) else a for a in arrays]


def hold(value: Any) -> Any:
    """The identity, as a task: a value uploaded once, then read by other tasks."""
    return value


def combine(*parts: Partial) -> Partial:
    """The sum of partial results: one step of the tree reduction."""
    sums = list(parts[0].sums)
    for part in parts[1:]:
        sums = [np.add(a, b) for a, b in zip(sums, part.sums)]
    return Partial(sum(p.rows for p in parts), sums)


def finish(total: Partial, reduction: str) -> list[Any]:
    """The outputs over all rows: divided by the row count for ``mean``."""
    if reduction == "mean":
        return [np.divide(s, total.rows) for s in total.sums]  # rows is an int: f32 stays f32
    return list(total.sums)


def tree_reduce(parts: list[Any], submit: Callable[..., Any], split_every: int = 8) -> Any:
    """Combine ``parts`` in groups of ``split_every``, level by level, until one remains.

    ``submit(fn, *args)`` schedules one call (a Dask ``delayed`` call or ``client.submit``),
    so every level runs on the cluster and only the final `Partial` comes back.
    """
    if not parts:
        raise ValueError("tree_reduce: nothing to reduce (no shard has rows)")
    if split_every < 2:
        raise ValueError(f"tree_reduce: split_every must be at least 2, got {split_every}")
    while len(parts) > 1:
        parts = [submit(combine, *parts[i:i + split_every]) if len(parts[i:i + split_every]) > 1
                 else parts[i] for i in range(0, len(parts), split_every)]
    return parts[0]


def call_chunk(fn: Callable[..., Any], per_row: Sequence[bool], args: Sequence[Any],
               row_arg: int) -> tuple:
    """``fn(*args)`` on one row chunk, as a tuple. Checks that every output marked ``per_row``
    has as many rows as ``args[row_arg]`` (dask trusts the chunk sizes it was promised)."""
    outputs = fn(*aligned(args))
    outputs = outputs if isinstance(outputs, list) else [outputs]
    rows = len(args[row_arg])
    for k, (out, flag) in enumerate(zip(outputs, per_row)):
        if flag and (np.ndim(out) == 0 or np.shape(out)[0] != rows):
            raise ValueError(f"map_batches: output {k} of {getattr(fn, 'name', fn)} has shape "
                             f"{np.shape(out)} on a chunk of {rows} rows; an output whose first "
                             "size is unknown must have one row per input row")
    return tuple(outputs)

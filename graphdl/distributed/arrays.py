"""Compiled functions over dask arrays chunked along the batch axis: lazy, one task per chunk.

A compiled function is NumPy code, so it runs on a chunk as it is; what Dask needs besides is
the result's chunk sizes and dtypes, which the function's static output types give. The function
travels as a *snapshot*: its pickled bytes (source, constants, shared values) are taken when the
lazy array is built, so a later `set_value` cannot change what an already built array computes,
and the bytes are what the graph's key is derived from.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask import delayed
from dask.base import tokenize
from dask.delayed import Delayed

from graphdl.codegen.function import Function
from graphdl.distributed.shards import call_chunk
from graphdl.ir.shapes import fmt_shape


def snapshot(fn: Function) -> Delayed:
    """A Dask value that is ``fn`` as it is now, recompiled from its pickle where it is used."""
    payload = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
    return delayed(pickle.loads, pure=True)(
        payload, dask_key_name=f"graphdl-{fn.name}-{tokenize(payload)}")


def row_blocks(arrays: Sequence[da.Array]) -> list[tuple[Delayed, ...]]:
    """One tuple of blocks per row chunk: the arrays cut where the first one is cut, and kept
    whole along every other axis (a compiled function sees complete rows)."""
    if not arrays:
        raise ValueError("row_blocks: no dask array given")
    first = arrays[0]
    columns = []
    for k, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"argument {k} is a 0-d dask array: nothing to split into rows")
        if a.shape[0] != first.shape[0]:
            raise ValueError(f"argument {k} has {a.shape[0]} rows, argument 0 has "
                             f"{first.shape[0]}; arrays split by rows must have the same rows")
        a = a.rechunk({0: first.chunks[0], **{i: -1 for i in range(1, a.ndim)}})
        columns.append(list(a.to_delayed().ravel()))
    return list(zip(*columns))


def map_batches(fn: Function, *args: Any) -> da.Array | list[da.Array]:
    """``fn`` applied to the row chunks of its dask-array arguments, lazily.

    Dask-array arguments are split into row chunks (cut where the first one is cut); any other
    argument (a NumPy array, a number) is passed whole to every chunk. Returns one dask array per
    output, like ``fn``'s own return: an output whose first size is unknown (``None``, the batch
    axis) has one row per input row, with the input's chunks; any other output is computed once
    per chunk and stacked along a new first axis (a per-chunk metric).
    """
    if not isinstance(fn, Function) or fn.outputs is None:
        raise TypeError("map_batches: needs a graphdl Function compiled here (an unpickled copy "
                        "has no output types)")
    if fn.update_values:
        raise ValueError(f"map_batches: {fn.name} has updates; each chunk would apply them to a "
                         "worker's copy of the shared variables, never to yours")
    batched = [i for i, a in enumerate(args) if isinstance(a, da.Array)]
    if not batched:
        raise TypeError("map_batches: no argument is a dask array; call the function directly")
    per_row = [_per_row(fn, k) for k in range(len(fn.outputs))]
    row_sizes = args[batched[0]].chunks[0]
    # Whole arguments enter the graph once, as their own keys, not copied into every task.
    whole = [a if i in batched or np.ndim(a) == 0 else delayed(a, pure=True)
             for i, a in enumerate(args)]
    fn_value = snapshot(fn)
    results = []
    for blocks in row_blocks([args[i] for i in batched]):
        call_args = list(whole)
        for i, block in zip(batched, blocks):
            call_args[i] = block
        results.append(delayed(call_chunk, pure=True, nout=len(per_row))(
            fn_value, per_row, call_args, batched[0]))
    arrays = []
    for k, node in enumerate(fn.outputs):
        pieces = [da.from_delayed(res[k], _chunk_shape(node.shape, per_row[k], rows),
                                  dtype=node.dtype, meta=np.empty((0,) * len(node.shape),
                                                                  node.dtype))
                  for res, rows in zip(results, row_sizes)]
        arrays.append(da.concatenate(pieces) if per_row[k] else da.stack(pieces))
    return arrays[0] if fn._single else arrays


def _per_row(fn: Function, k: int) -> bool:
    shape = fn.outputs[k].shape
    rest = shape[1:] if shape and shape[0] is None else shape
    if None in rest:
        raise ValueError(f"map_batches: output {k} of {fn.name} has shape {fmt_shape(shape)}; "
                         "only the first size may be unknown (it must be the batch axis)")
    return bool(shape) and shape[0] is None


def _chunk_shape(shape: tuple, per_row: bool, rows: int) -> tuple:
    return (rows, *shape[1:]) if per_row else tuple(shape)

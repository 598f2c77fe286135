"""graphdl.distributed: compiled graphdl functions on a Dask cluster (see docs/distributed.md).

- `map_batches(fn, X)`: a compiled function over a dask array's row chunks, lazily;
- `ShardedGradient`: a loss and its gradient over a dask-backed data set, tree-reduced;
- `DataParallelStep`, `DataParallelClassifier`: data-parallel training steps;
- `explicit_function`, `params_as_inputs`: parameters passed as arguments, never stale copies;
- `connect(address)`: a client to a scheduler, or to a local cluster started for the occasion.

Needs Dask: ``pip install 'graphdl[distributed]'`` (dask[array] and distributed).
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("graphdl.distributed needs Dask: pip install 'graphdl[distributed]' "
                      f"(dask[array] and distributed); {exc}") from exc

from graphdl.distributed.arrays import map_batches, snapshot
from graphdl.distributed.cluster import connect, describe
from graphdl.distributed.data_parallel import DataParallelClassifier, DataParallelStep
from graphdl.distributed.explicit import explicit_function, params_as_inputs, substitute
from graphdl.distributed.gradient import ShardedGradient

__all__ = [
    "DataParallelClassifier",
    "DataParallelStep",
    "ShardedGradient",
    "connect",
    "describe",
    "explicit_function",
    "map_batches",
    "params_as_inputs",
    "snapshot",
    "substitute",
]

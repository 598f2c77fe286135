"""graphdl.distributed: compiled graphdl functions on a Dask cluster (``pip install
'graphdl[distributed]'``; see docs/distributed.md)."""

from graphdl.distributed.arrays import map_batches, snapshot
from graphdl.distributed.explicit import explicit_function, params_as_inputs, substitute

__all__ = ["explicit_function", "map_batches", "params_as_inputs", "snapshot", "substitute"]

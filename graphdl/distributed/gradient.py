"""A loss and its gradient over a data set split in row chunks: per-chunk results, tree-reduced.

`ShardedGradient` compiles, once, the function ``f(*data, *param_values) -> [outputs...,
gradients...]`` (parameters as arguments, see `graphdl.distributed.explicit`). The same compiled
function serves one machine (`local`), a dask-backed data set (`lazy`, `__call__`: one task per
row chunk, partial results summed in a tree on the cluster, see `graphdl.distributed.shards`) and
the data-parallel training step. The parameter values are read when the computation is built and
travel with it, so no worker computes with values older than the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask import delayed
from dask.delayed import Delayed

from graphdl.autodiff import grad
from graphdl.codegen.function import function
from graphdl.distributed.arrays import row_blocks, snapshot
from graphdl.distributed.explicit import params_as_inputs, refuse_shared
from graphdl.distributed.shards import REDUCTIONS, Partial, finish, run_shard, tree_reduce
from graphdl.ir.node import Node
from graphdl.ops.leaves import SharedVariable
from graphdl.ops.registry import as_node

Result = tuple[Any, list[np.ndarray]]  # (output value or list of values, gradients)


class ShardedGradient:
    """``objective`` and its gradient with respect to ``params``, over row shards of the data.

    ``inputs`` are the graph's data inputs, each split along its first axis. ``outputs``
    (default: the objective alone) are what a call returns next to the gradients, e.g.
    ``[loss, accuracy, objective]``. With ``reduction="mean"`` every output and gradient is the
    row-weighted mean of its per-shard values, which equals the whole-batch value when the
    objective is a mean over rows plus terms not depending on rows (an L2 penalty); with
    ``"sum"`` they are added, for objectives that are sums over rows.
    """

    def __init__(self, inputs: Sequence[Node], objective: Node,
                 params: Sequence[SharedVariable], outputs: Node | Sequence[Node] | None = None,
                 reduction: str = "mean", name: str = "sharded_gradient") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"ShardedGradient: reduction must be one of {REDUCTIONS}, "
                             f"got {reduction!r}")
        objective = as_node(objective)
        if objective.shape != ():
            raise ValueError(f"ShardedGradient: the objective {objective.label()} must be a "
                             f"scalar, got {objective.type_str()}")
        self.single = outputs is None or isinstance(outputs, Node)
        shown = [objective] if outputs is None else [as_node(o) for o in (
            [outputs] if isinstance(outputs, Node) else outputs)]
        self.inputs, self.params, self.reduction = list(inputs), list(params), reduction
        rewritten, param_inputs = params_as_inputs([objective, *shown], self.params)
        grads = grad(rewritten[0], param_inputs)
        refuse_shared(rewritten[1:] + grads)
        self.n_outputs = len(shown)
        self.function = function(self.inputs + param_inputs, rewritten[1:] + grads, name=name)

    def values(self) -> list[np.ndarray]:
        """The parameters' current values (copies): what a call uses unless given others."""
        return [p.get_value() for p in self.params]

    def local(self, *data: np.ndarray, params: Sequence[np.ndarray] | None = None) -> Result:
        """The same computation on this machine, on the whole data in one call."""
        values = self.values() if params is None else list(params)
        return self.split(self.function(*data, *values))

    def lazy(self, *data: Any, params: Sequence[np.ndarray] | None = None,
             split_every: int = 8) -> Delayed:
        """A Dask value computing ``(outputs, gradients)`` over the row chunks of ``data``
        (dask arrays, cut where the first is cut; NumPy arrays are cut the same way) at the
        parameter values of *this* call."""
        values = self.values() if params is None else [np.array(v) for v in params]
        blocks = row_blocks([_as_dask(d, data) for d in data])
        fn_value = snapshot(self.function)
        param_value = delayed(values, pure=True)  # one key, read by every chunk's task
        parts = [delayed(run_shard, pure=True)(fn_value, self.reduction, list(chunk), param_value)
                 for chunk in blocks]
        total = tree_reduce(parts, lambda fn, *args: delayed(fn, pure=True)(*args), split_every)
        return delayed(finish_result, pure=True)(total, self.reduction, self.n_outputs,
                                                 self.single)

    def __call__(self, *data: Any, params: Sequence[np.ndarray] | None = None,
                 split_every: int = 8) -> Result:
        """`lazy` computed now, on Dask's current scheduler (a `Client` if one is active)."""
        (result,) = dask.compute(self.lazy(*data, params=params, split_every=split_every))
        return result

    def split(self, flat: list[Any]) -> Result:
        """``(outputs, gradients)`` from the compiled function's flat list of results."""
        return split_result(flat, self.n_outputs, self.single)


def split_result(flat: list[Any], n_outputs: int, single: bool) -> Result:
    shown, grads = flat[:n_outputs], list(flat[n_outputs:])
    return (shown[0] if single else list(shown)), grads


def finish_result(total: Partial, reduction: str, n_outputs: int, single: bool) -> Result:
    """The last task: divide the reduced sums and split outputs from gradients."""
    return split_result(finish(total, reduction), n_outputs, single)


def _as_dask(value: Any, data: Sequence[Any]) -> da.Array:
    if isinstance(value, da.Array):
        return value
    like = next((d for d in data if isinstance(d, da.Array)), None)
    if like is None:
        raise TypeError("ShardedGradient.lazy: no argument is a dask array; use local() for "
                        "NumPy data")
    array = np.asarray(value)
    return da.from_array(array, chunks=(like.chunks[0], *array.shape[1:]))

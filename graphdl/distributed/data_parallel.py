"""Data-parallel training: each step, the workers compute gradients on shards of the minibatch.

One step of `DataParallelStep`:

1. the driver sends the parameters' current values along with the step's tasks, under a key
   that is new every step, so no worker can pick up an older step's values;
2. the minibatch is cut into one shard per worker; each worker runs the *same* compiled
   function ``f(*shard, *param_values) -> [outputs, gradients]`` (sent once, as a task whose
   result Dask recomputes if the worker holding it dies; recompiled there);
3. the shards' results are tree-reduced on the cluster into row-weighted means, which for a
   mean objective are exactly the whole minibatch's gradient (see `graphdl.distributed.shards`);
4. the driver applies the optimizer's update once, with a compiled function of the gradients
   that updates the parameters and the optimizer's state (shared variables, on the driver).

The driver's shared variables stay the only true parameters; evaluation, early stopping and
saving read them as in local training. `DataParallelClassifier` is `graphdl.training.Classifier`
with this step in place of its compiled training step (``graphdl train --scheduler``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.codegen.function import function
from graphdl.distributed.gradient import ShardedGradient, split_result
from graphdl.distributed.shards import finish, hold, run_shard, tree_reduce
from graphdl.ir.node import Node
from graphdl.ops.leaves import SharedVariable, tensor
from graphdl.optim.optimizers import Optimizer
from graphdl.training.loop import Classifier


class DataParallelStep:
    """A training step run on a Dask cluster; called like a compiled step, returns ``outputs``.

    ``inputs`` are split along their first axis (data, labels, dropout masks). ``outputs``
    (default: the objective) are returned as row-weighted means over the minibatch, like a
    compiled ``gd.function`` with the optimizer's updates would return them.
    """

    def __init__(self, client: Any, inputs: Sequence[Node], objective: Node,
                 params: Sequence[SharedVariable], optimizer: Optimizer,
                 outputs: Node | Sequence[Node] | None = None, n_shards: int | None = None,
                 split_every: int = 8) -> None:
        self.client = client
        self.gradient = ShardedGradient(inputs, objective, params, outputs, name="shard_gradient")
        self.params = self.gradient.params
        grads = [tensor(f"d_{p.label()}", p.shape, p.dtype) for p in self.params]
        self.apply = function(grads, None, updates=optimizer.apply_gradients(self.params, grads),
                              name="apply_gradients")
        workers = len(client.nthreads())
        if not workers:
            raise RuntimeError("DataParallelStep: the cluster has no workers")
        self.n_shards = n_shards or workers
        self.split_every = split_every
        # Sent once, as a task that returns it rather than as scattered data: Dask's active
        # memory manager soon keeps a single copy, and a scattered value is lost with the worker
        # holding it, while a task's result is recomputed elsewhere (the scheduler keeps the
        # task). Each worker unpickles (recompiles) it once and keeps it while we hold it.
        self._function = client.submit(hold, self.gradient.function, pure=False)

    @property
    def source(self) -> str:
        """The generated code: the workers' gradient function, then the driver's update."""
        return (f"# run on every worker, once per shard\n{self.gradient.function.source}\n\n"
                f"# run on the driver, once per step\n{self.apply.source}")

    def __call__(self, *batch: np.ndarray) -> Any:
        outputs, grads = self.compute(*batch)
        self.apply(*grads)
        return outputs

    def compute(self, *batch: np.ndarray) -> tuple[Any, list[np.ndarray]]:
        """``(outputs, gradients)`` of one minibatch on the cluster, without updating."""
        # This step's parameter values, uploaded once as a task of their own under a fresh key
        # (pure=False): every shard's task reads them, and no later step can find them.
        param_values = self.client.submit(hold, self.gradient.values(), pure=False)
        shards = _shards(batch, self.n_shards)
        parts = [self.client.submit(run_shard, self._function, self.gradient.reduction, shard,
                                    param_values, pure=False) for shard in shards]
        total = tree_reduce(parts, lambda fn, *args: self.client.submit(fn, *args, pure=False),
                            self.split_every).result()
        flat = finish(total, self.gradient.reduction)
        return split_result(flat, self.gradient.n_outputs, self.gradient.single)


def _shards(batch: Sequence[np.ndarray], n: int) -> list[list[np.ndarray]]:
    arrays = [np.asarray(b) for b in batch]
    rows = len(arrays[0])
    for k, a in enumerate(arrays):
        if a.ndim == 0 or len(a) != rows:
            raise ValueError(f"data-parallel step: argument {k} has shape {a.shape}, expected "
                             f"{rows} rows like argument 0 (every input is split by rows)")
    bounds = np.linspace(0, rows, min(n, rows) + 1).round().astype(int)
    return [[a[lo:hi] for a in arrays] for lo, hi in itertools.pairwise(bounds)]


class DataParallelClassifier(Classifier):
    """`Classifier` whose ``train_step`` runs data-parallel on ``client``'s workers.

    Everything else (evaluation, early stopping, saving) runs on the driver with the driver's
    parameters, which are the ones the step updates. ``local_step`` keeps the compiled local
    step (not used for training; it shares the optimizer's state).
    """

    def __init__(self, model: Any, optimizer: Optimizer, n_features: int, *, client: Any,
                 n_shards: int | None = None, **options: Any) -> None:
        super().__init__(model, optimizer, n_features, **options)
        if self.mode.updates:
            names = ", ".join(t.label() for t in self.mode.updates)
            raise ValueError(f"DataParallelClassifier: the model updates {names} in training "
                             "(BatchNorm running statistics); each shard would compute its own "
                             "batch statistics, so data-parallel training does not support it")
        self.local_step = self.train_step
        # The local step was compiled from [loss, accuracy, objective]; its Function keeps those
        # graphs (optimized, over the same inputs and parameters), so both steps report the same.
        self.train_step = DataParallelStep(
            client, [self.X, self.y, *self.mode.mask_inputs], self.objective, self.params,
            optimizer, outputs=list(self.local_step.outputs), n_shards=n_shards)

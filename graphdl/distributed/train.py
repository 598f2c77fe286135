"""``graphdl train --scheduler [ADDRESS]``: the main job, its training step run data-parallel.

Everything but the step is the ordinary job (`graphdl.training.job`): the data set, the model, the
evaluation after every epoch, early stopping and the files written. Each step's gradients are
computed on the cluster's workers (`DataParallelClassifier`), and the parameters live on the
driver, so the outputs are those local training would write, up to rounding.
"""

from __future__ import annotations

import functools
import sys
from typing import IO

from graphdl.distributed.cluster import connect, describe
from graphdl.distributed.data_parallel import DataParallelClassifier
from graphdl.training.job import JobResult, TrainOptions
from graphdl.training.job import run as run_job


def run(options: TrainOptions, scheduler: str | None = None, stream: IO[str] | None = None,
        n_workers: int | None = None) -> JobResult:
    """Train as `graphdl.training.job.run` does, data-parallel on the scheduler at ``scheduler``,
    or on a local cluster of ``n_workers`` processes when it is None or ``"local"``."""
    with connect(scheduler, n_workers=n_workers) as client:
        if options.verbose:
            print(f"data-parallel training on {describe(client)}", file=stream or sys.stdout,
                  flush=True)
        make = functools.partial(DataParallelClassifier, client=client)
        return run_job(options, stream, make_classifier=make)

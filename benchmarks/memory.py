"""Peak memory of one MLP training step, graphdl against hand-written NumPy.

A generated step can be as fast as the hand-written one and still hold every temporary
alive until it returns. tracemalloc sees each NumPy data buffer (NumPy reports them to it),
so the peak of traced memory during one step, above what was live before it, is the
step's working set. PyTorch, JAX and PyTensor's numba kernels allocate outside NumPy's
allocator, where tracemalloc cannot see, so they are left out rather than under-reported.
"""

from __future__ import annotations

import functools
import gc
import statistics
import sys
import tracemalloc

import harness as H
import mlp_step
from harness import Config, Contender, Result

WORKLOAD = "memory"
TITLE = "peak traced NumPy memory during one training step (medium MLP)"
PER_THREAD = False
SIZE = "medium"
REPEATS = 3


def step_peak(c: Contender) -> tuple[int, int]:
    """(peak above the starting point, bytes still held after the step) of one step.

    Tracing must have started before the contender was built, so that frees of arrays made
    earlier (old weights replaced by new ones) are seen too.
    """
    if c.reset is not None:
        c.reset()
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    c.run()
    current, peak = tracemalloc.get_traced_memory()
    return peak - base, current - base


def run(cfg: Config) -> list[Result]:
    layers, batch = mlp_step.SIZES[SIZE]
    label = f"{SIZE} {'-'.join(map(str, layers))} b{batch}"
    rows: list[Result] = []
    tracemalloc.start()
    try:
        for dtype in mlp_step.DTYPES:
            prob = mlp_step.make_problem(layers, batch, dtype)
            rows += measure(prob, label, cfg.threads[0])
    finally:
        tracemalloc.stop()
    return rows


def measure(prob: mlp_step.Problem, label: str, threads: int) -> list[Result]:
    """Check both contenders against each other first: a wrong step's memory means nothing."""
    builders = {H.REFERENCE: mlp_step.build_numpy, "graphdl": mlp_step.build_graphdl}
    built = H.build_all({k: functools.partial(b, prob) for k, b in builders.items()})
    verdicts = H.verify(built, prob.dtype)
    weights = sum(p.nbytes for p in prob.params)
    rows: list[Result] = []
    ref_peak = None
    for name, (status, why) in verdicts.items():
        row = Result(
            WORKLOAD,
            name,
            prob.dtype,
            label,
            threads,
            status=status,
            note=why,
            metric="peak",
            unit="B",
        )
        rows.append(row)
        c = built[name]
        if status != "ok" or not isinstance(c, Contender):
            continue
        c.run()  # first call: lazily built buffers and caches are not per-step memory
        peaks, held = zip(*(step_peak(c) for _ in range(REPEATS)))
        row.value = float(statistics.median(peaks))
        row.iqr = float(max(peaks) - min(peaks))  # a range: too few repeats for quartiles
        row.samples = REPEATS
        ref_peak = row.value if name == H.REFERENCE else ref_peak
        row.ratio = row.value / ref_peak if ref_peak else None
        row.extra = {
            "held_after_MiB": f"{max(held) / 2**20:.2f}",
            "weights_MiB": f"{weights / 2**20:.2f}",
        }
    return rows


if __name__ == "__main__":
    import run_all

    run_all.main(["--only", WORKLOAD, *sys.argv[1:]])

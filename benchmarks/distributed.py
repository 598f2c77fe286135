"""graphdl on Dask: full-batch gradient throughput on 1 and 2 workers, and the per-step cost of
data-parallel training against local training.

    python benchmarks/distributed.py            # both parts (a few minutes on 2 cores)
    python benchmarks/distributed.py --quick    # smaller sizes, fewer repeats

Part 1 computes the loss and gradient of the digits MLP (64-256-10, mean softmax cross-entropy
+ L2) over data sets of n rows (the digits' features tiled; chunks of ``--chunk`` rows, the data
persisted on the workers first). "local" runs the same compiled function over the same chunks in
a loop in this process (one core, no Dask). Part 2 times one Adam step of that model (with
dropout, masks drawn on the driver) and of a wider 64-1024-1024-10 one: `Classifier.train_step`
(local) against `DataParallelClassifier` (2 workers, shards of half a batch), after checking
that both reach the same parameters. Every number is a median; the load
average is printed because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

# This file is named like the `distributed` package: take its folder off the path (so that
# `import distributed` finds Dask's), and measure the graphdl of this checkout.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import dask.array as da  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

import graphdl as gd  # noqa: E402
from graphdl import nn, optim  # noqa: E402
from graphdl.data import load_digits  # noqa: E402
from graphdl.distributed import DataParallelClassifier, ShardedGradient  # noqa: E402
from graphdl.training.job import blas_threads  # noqa: E402
from graphdl.training.loop import Classifier  # noqa: E402
from graphdl.training.models import mlp  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()  # warm up (first transfers, recompiles on the workers)
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def gradient_problem():
    model = mlp(64, 10, np.random.default_rng(0), dropout=0.0)
    X, y = gd.matrix("X", shape=(None, 64)), gd.vector("y", dtype="int64")
    objective = nn.softmax_cross_entropy(model(X), y) + nn.l2_penalty(model.regularized(), 1e-4)
    return ShardedGradient([X, y], objective, model.parameters())


def local_chunked(sharded: ShardedGradient, X: np.ndarray, y: np.ndarray, chunk: int):
    """The single-process baseline: the same per-chunk calls, weighted sums, one division."""
    values = sharded.values()
    total, grads = 0.0, None
    for start in range(0, len(y), chunk):
        xb, yb = X[start:start + chunk], y[start:start + chunk]
        value, g = sharded.split(sharded.function(xb, yb, *values))
        total += value * len(yb)
        grads = [a * len(yb) for a in g] if grads is None else [
            acc + a * len(yb) for acc, a in zip(grads, g)]
    return total / len(y), [g / len(y) for g in grads]


def part1(sizes, chunk: int, repeats: int) -> None:
    # Putting the data on the workers (untimed) sends it inside the graph; Dask warns about that.
    warnings.filterwarnings("ignore", message="Sending large graph")
    X0, y0 = load_digits()
    sharded = gradient_problem()
    print(f"\n## full-batch gradient, digits MLP 64-256-10, chunks of {chunk} rows "
          f"(median of {repeats})\n")
    print("| rows | local (1 process) | 1 worker | 2 workers | 2 workers vs local |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    clusters = {}
    try:
        for workers in (1, 2):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0")
            clusters[workers] = (cluster, Client(cluster, set_as_default=False))
        for n in sizes:
            reps = -(-n // len(y0))
            X, y = np.tile(X0, (reps, 1))[:n], np.tile(y0, reps)[:n]
            want_value, want = local_chunked(sharded, X, y, chunk)
            rates = [n / median_time(lambda X=X, y=y: local_chunked(sharded, X, y, chunk),
                                     repeats)]
            for workers in (1, 2):
                client = clusters[workers][1]
                Xd = client.persist(da.from_array(X, chunks=(chunk, 64)))
                yd = client.persist(da.from_array(y, chunks=chunk))
                client.gather(client.compute([Xd.sum(), yd.sum()]))  # data on the workers

                def run(client=client, Xd=Xd, yd=yd):
                    return client.compute(sharded.lazy(Xd, yd)).result()

                value, grads = run()
                assert abs(value - want_value) <= 1e-12 * abs(want_value)
                assert all(np.allclose(g, w, rtol=1e-10, atol=1e-14) for g, w in zip(grads, want))
                rates.append(n / median_time(run, repeats))
                del Xd, yd
            cells = [f"{n:,}", *(f"{r:,.0f} rows/s" for r in rates), f"{rates[2] / rates[0]:.2f}x"]
            print("| " + " | ".join(cells) + " |", flush=True)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()


def part2(cases, steps: int) -> None:
    """``cases``: (hidden sizes, dropout, batch). Both steps start from the same weights and
    must agree after three steps before anything is timed."""
    X0, y0 = load_digits()
    rng = np.random.default_rng(1)
    print(f"\n## one Adam step, local vs data-parallel on 2 workers (median of {steps})\n")
    print("| model | batch | local step | data-parallel | overhead | data-parallel / local |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        for hidden, dropout, batch in cases:
            def build(cls, hidden=hidden, dropout=dropout, **extra):
                model = mlp(64, 10, np.random.default_rng(0), hidden=hidden, dropout=dropout)
                return cls(model, optim.Adam(1e-3), 64, l2=1e-4, **extra)

            local, parallel = build(Classifier), build(DataParallelClassifier, client=client)
            idx = rng.integers(0, len(y0), size=batch)
            args = (X0[idx], y0[idx], *local.mode.sample_masks(batch, rng))
            for _ in range(3):
                local.train_step(*args)
                parallel.train_step(*args)
            assert all(np.allclose(a.get_value(), b.get_value(), rtol=1e-9, atol=1e-12)
                       for a, b in zip(local.params, parallel.params))
            t_local = median_time(lambda step=local.train_step, a=args: step(*a), steps)
            t_dp = median_time(lambda step=parallel.train_step, a=args: step(*a), steps)
            label = "-".join(map(str, (64, *hidden, 10))) + (f", dropout {dropout}" if dropout
                                                             else "")
            print(f"| {label} | {batch} | {t_local * 1e3:.2f} ms | {t_dp * 1e3:.2f} ms | "
                  f"{(t_dp - t_local) * 1e3:+.2f} ms | {t_dp / t_local:.2f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--only", choices=["gradient", "step"])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    # One BLAS thread here, as on each worker (Dask sets OMP/OPENBLAS_NUM_THREADS=1 there):
    # "local" is one core against one core per worker.
    with blas_threads(1):
        if args.only != "step":
            sizes = [1797, 20_000, 100_000] if args.quick else [1797, 20_000, 100_000, 400_000]
            part1(sizes, args.chunk, 3 if args.quick else 7)
        if args.only != "gradient":
            batches = (32, 1024) if args.quick else (32, 256, 1024, 4096)
            digits = [((256,), 0.2, b) for b in batches]
            wide = [((1024, 1024), 0.0, b) for b in ((1024,) if args.quick else (256, 1024, 4096))]
            part2(digits + wide, 7 if args.quick else 15)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

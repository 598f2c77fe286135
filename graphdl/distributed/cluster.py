"""Connecting to a Dask cluster: an existing scheduler, or a local one started (and closed) here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOCAL = "local"


@contextmanager
def connect(address: str | None = None, n_workers: int | None = None,
            threads_per_worker: int = 1) -> Iterator[Any]:
    """A `dask.distributed.Client`: to the scheduler at ``address`` (``tcp://host:8786``), or,
    when ``address`` is None or ``"local"``, to a `LocalCluster` of ``n_workers`` processes
    (Dask's default: one per core) that is shut down on exit. An existing cluster is left
    running; only the client is closed.

    Workers get one thread each by default: a compiled step is one Python thread of NumPy, and
    threads of one process would mostly wait for each other's interpreter lock.
    """
    from dask.distributed import Client, LocalCluster

    if address and address != LOCAL:
        with Client(address) as client:
            yield client
        return
    # Loopback only, and any free port: a local cluster is nobody else's business.
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                      processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
                      ) as cluster, Client(cluster) as client:
        yield client


def describe(client: Any) -> str:
    """``"2 workers (2 threads) at tcp://127.0.0.1:40331"``, for a progress line."""
    threads = client.nthreads()  # {worker address: threads}
    return (f"{len(threads)} workers ({sum(threads.values())} threads) at "
            f"{client.scheduler.address}")

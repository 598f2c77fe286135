"""Mini-batches for stochastic gradient descent."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

RngLike = np.random.Generator | int | None


def minibatches(
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: RngLike = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs that together cover one epoch.

    Every sample appears exactly once per epoch; the last batch is smaller when
    ``batch_size`` does not divide the sample count, unless ``drop_last=True`` drops it
    (useful when a compiled graph is specialised to one batch size). Shuffling each epoch
    keeps gradient steps from seeing the data in a fixed order. ``rng`` is a
    ``numpy.random.Generator`` (or an int seed for one); pass the same generator every epoch
    for a reproducible yet different order each time. ``None`` draws fresh OS entropy.

    Arguments are checked at call time, not at the first ``next()``.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got len(X)={len(X)}, len(y)={len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got batch_size={batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got batch_size={batch_size}")
    n = len(y)
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return _batches(X, y, order, int(batch_size), stop)


def _batches(
    X: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int, stop: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], y[idx]

"""Train / validation / test splits.

Three disjoint parts because each has a distinct job: the training set fits parameters, the
validation set picks hyper-parameters and the early-stopping epoch, and the test set is
looked at once, at the end, to report an unbiased score.
"""

from __future__ import annotations

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def _check_fractions(val: float, test: float) -> None:
    for name, value in (("val", val), ("test", test)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {name}={value!r}")
    if val + test >= 1.0:
        raise ValueError(
            f"val + test must be below 1 to leave training data, got val={val!r}, test={test!r}"
        )


def _allocate(total: int, counts: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Share ``total`` items among classes in proportion to ``counts``, at most ``caps`` each.

    Largest-remainder rounding: every class gets the floor of its exact share, and the units
    left over go to the classes with the largest fractional parts (lowest class first on
    ties). This keeps the overall split size exact while each class stays within one item
    of its proportional share.
    """
    exact = total * counts / counts.sum()
    share = np.minimum(np.floor(exact).astype(np.int64), caps)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    left = total - int(share.sum())
    if left > int((caps - share).sum()):
        raise ValueError(f"cannot place {total} items within per-class caps {caps.tolist()}")
    while left > 0:
        for k in order:
            if left == 0:
                break
            if share[k] < caps[k]:
                share[k] += 1
                left -= 1
    return share


def _split_indices(
    y: np.ndarray, n_val: int, n_test: int, rng: np.random.Generator, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not stratify:
        perm = rng.permutation(len(y))
        return perm[n_val + n_test :], perm[:n_val], perm[n_val : n_val + n_test]
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    test_k = _allocate(n_test, counts, counts)
    val_k = _allocate(n_val, counts, counts - test_k)
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == k))
        a, b = val_k[k], val_k[k] + test_k[k]
        parts[0].append(members[b:])
        parts[1].append(members[:a])
        parts[2].append(members[a:b])
    # Shuffle across classes too, so no split comes out sorted by label.
    train, val_idx, test_idx = (rng.permutation(np.concatenate(p)) for p in parts)
    return train, val_idx, test_idx


def train_val_test_split(
    X: np.ndarray,
    y: np.ndarray,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[Pair, Pair, Pair]:
    """Split ``(X, y)`` into ``(train, val, test)`` pairs, each ``(X_part, y_part)``.

    The validation and test sizes are ``round(val * n)`` and ``round(test * n)``; the rest is
    training data. The same ``seed`` always gives the same split. With ``stratify=True``
    every class keeps its share of the whole set in each part (within one sample in the
    validation and test parts, two in training, which takes the rest), so a small validation
    set cannot by chance miss or over-represent a digit. Rows are shuffled.
    The parts are copies: editing them leaves ``X`` and ``y`` untouched.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim != 1:
        raise ValueError(
            f"X must have a sample axis and y must be 1-D, got X.shape={X.shape}, y.shape={y.shape}"
        )
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got len(X)={len(X)}, len(y)={len(y)}")
    _check_fractions(val, test)
    n = len(y)
    n_val, n_test = round(val * n), round(test * n)
    if n - n_val - n_test < 1:
        raise ValueError(
            f"no training samples left: n={n}, val={val!r} -> {n_val}, test={test!r} -> {n_test}"
        )
    rng = np.random.default_rng(seed)
    idx = _split_indices(y, n_val, n_test, rng, stratify)
    train, val_pair, test_pair = ((X[i], y[i]) for i in idx)
    return train, val_pair, test_pair

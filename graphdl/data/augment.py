"""Data augmentation for images stored as flat rows.

Small random distortions that do not change the label (a digit moved one pixel is still the
same digit) give the network more varied training data and so reduce over-fitting. Every
function returns a new array and leaves its input alone, so the clean training set can be
reused each epoch. Apply augmentation to training batches only, never to validation or test
data, or the scores stop measuring performance on real inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Augmenter = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _check_rows(X: np.ndarray, image_shape: tuple[int, int]) -> None:
    height, width = image_shape
    if X.ndim != 2 or X.shape[1] != height * width:
        raise ValueError(
            f"X must have shape (n, {height * width}) for image_shape={image_shape}, "
            f"got X.shape={X.shape}"
        )


def shift_images(
    X: np.ndarray, dy: int, dx: int, image_shape: tuple[int, int] = (8, 8)
) -> np.ndarray:
    """Move every image ``dy`` rows down and ``dx`` columns right, filling with zeros.

    Negative offsets move up / left. Pixels pushed past the border are lost, which is why
    shifts must stay small relative to the image. This is the deterministic building block
    of :func:`random_shift`.
    """
    X = np.asarray(X)
    _check_rows(X, image_shape)
    height, width = image_shape
    images = X.reshape(-1, height, width)
    out = np.zeros_like(images)
    if abs(dy) < height and abs(dx) < width:
        src_r = slice(max(-dy, 0), height - max(dy, 0))
        dst_r = slice(max(dy, 0), height - max(-dy, 0))
        src_c = slice(max(-dx, 0), width - max(dx, 0))
        dst_c = slice(max(dx, 0), width - max(-dx, 0))
        out[:, dst_r, dst_c] = images[:, src_r, src_c]
    return out.reshape(X.shape)


def random_shift(
    X: np.ndarray,
    rng: np.random.Generator,
    max_shift: int = 1,
    image_shape: tuple[int, int] = (8, 8),
) -> np.ndarray:
    """Shift each image by its own random offset in ``-max_shift..max_shift`` on both axes.

    Offsets are drawn uniformly and independently per image and per axis (so with
    ``max_shift=1`` one image in nine is left where it was). Vacated pixels become zero,
    the background value of the digits.
    """
    X = np.asarray(X)
    _check_rows(X, image_shape)
    if max_shift < 0:
        raise ValueError(f"max_shift must be non-negative, got max_shift={max_shift}")
    offsets = rng.integers(-max_shift, max_shift + 1, size=(len(X), 2))
    out = np.empty_like(X)
    # One vectorised shift per distinct offset: at most (2 * max_shift + 1) ** 2 groups.
    unique, group = np.unique(offsets, axis=0, return_inverse=True)
    for g, (dy, dx) in enumerate(unique):
        rows = np.flatnonzero(group.ravel() == g)
        out[rows] = shift_images(X[rows], int(dy), int(dx), image_shape)
    return out


def gaussian_noise(X: np.ndarray, rng: np.random.Generator, std: float = 0.05) -> np.ndarray:
    """Add independent zero-mean normal noise of standard deviation ``std`` to every value.

    The result keeps X's floating dtype (integer input gives float64). Values are not
    clipped, so a pixel may leave [0, 1] slightly; that is harmless for training.
    """
    X = np.asarray(X)
    if std < 0:
        raise ValueError(f"std must be non-negative, got std={std}")
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    return (X + rng.normal(0.0, std, size=X.shape)).astype(dtype, copy=False)


def compose(*augmenters: Augmenter) -> Augmenter:
    """Chain augmenters left to right into one ``f(X, rng) -> X``, sharing one generator.

    Use ``functools.partial`` to fix options, e.g.
    ``compose(partial(random_shift, max_shift=1), partial(gaussian_noise, std=0.05))``.
    With no augmenters the result returns a copy of its input.
    """
    for aug in augmenters:
        if not callable(aug):
            raise TypeError(f"compose() takes callables f(X, rng), got {aug!r}")

    def chained(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.array(X, copy=True)
        for aug in augmenters:
            out = aug(out, rng)
        return out

    return chained

"""The 8x8 handwritten digits, shipped inside the package.

The data live in ``digits.npz`` next to this module (see ``DIGITS_ATTRIBUTION.md``), so that
training works offline and reproducibly: nothing is downloaded at run time, and the file is
read with ``allow_pickle=False`` so loading it can never execute code.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
from numpy.typing import DTypeLike

N_SAMPLES = 1797
N_FEATURES = 64
N_CLASSES = 10
IMAGE_SHAPE = (8, 8)
MAX_PIXEL = 16  # each pixel counts "on" pixels in a 4x4 block, so 0..16

_RESOURCE = "digits.npz"


@cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """Read the stored uint8 arrays once; callers get converted copies, never these."""
    resource = files(__package__).joinpath(_RESOURCE)
    with resource.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
        images = archive["images"]
        labels = archive["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(dtype: DTypeLike = "float64", scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)``: 1797 flattened 8x8 images and their digit labels.

    X has shape (1797, 64) in ``dtype``; with ``scale=True`` pixels are divided by 16 so they
    lie in [0, 1], the range a network's initialisation and learning rate are tuned for.
    With ``scale=False`` the raw counts 0..16 are kept (useful for showing the images).
    y has shape (1797,) and dtype int64, the usual index type for one-hot and gather ops.
    Both arrays are fresh and writable: changing them does not affect later calls.
    """
    images, labels = _raw()
    X = images.astype(dtype)
    if scale:
        if not np.issubdtype(X.dtype, np.floating):
            raise ValueError(f"scale=True needs a floating dtype, got dtype={X.dtype}")
        X /= MAX_PIXEL
    return X, labels.astype(np.int64)

"""Initializers: the starting values of weights and biases, drawn from a seeded generator.

Why initialization matters (lecture, "Xavier Initialization"): if the weights are too large
the activations and gradients grow from layer to layer, if too small they vanish. Glorot and
Bengio choose the spread so that every layer keeps the same activation variance forwards and
the same gradient variance backwards, which for a matrix with ``m`` inputs and ``n`` outputs
gives eq. 77::

    W_ij ~ Uniform(-sqrt(6 / (m + n)), sqrt(6 / (m + n)))

(variance 2 / (m + n)). He et al. keep only the forward condition for ReLU layers, which zero
half their inputs, giving variance 2 / m. Biases usually start at 0.

Shapes follow graphdl's batch-first layout: a dense weight has shape ``(fan_in, fan_out)`` and
is used as ``X @ W``. Every function takes ``rng``: a ``numpy.random.Generator`` or an int seed,
so the same seed always gives the same network.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import DTypeLike

RngLike = np.random.Generator | int
Initializer = Callable[[Sequence[int], RngLike, DTypeLike], np.ndarray]

__all__ = [
    "Initializer",
    "fans",
    "he_normal",
    "he_uniform",
    "ones",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]


def _generator(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {rng!r}")


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(m, n)``: the number of inputs and outputs each weight connects.

    A ``(fan_in, fan_out)`` matrix gives its two sizes; a vector counts as ``(size, size)``.
    For more axes the leading ones are treated as extra inputs (receptive-field style).
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        raise ValueError("fans: a weight needs at least one axis, got shape ()")
    if len(shape) == 1:
        return shape[0], shape[0]
    fan_in = int(np.prod(shape[:-1]))
    return fan_in, shape[-1]


def xavier_uniform(shape: Sequence[int], rng: RngLike = 0,
                   dtype: DTypeLike = "float64") -> np.ndarray:
    """Glorot/Xavier uniform, eq. 77: Uniform(-a, a) with a = sqrt(6 / (m + n))."""
    m, n = fans(shape)
    limit = np.sqrt(6.0 / (m + n))
    return _generator(rng).uniform(-limit, limit, size=tuple(shape)).astype(dtype)


def xavier_normal(shape: Sequence[int], rng: RngLike = 0,
                  dtype: DTypeLike = "float64") -> np.ndarray:
    """Glorot/Xavier normal: the same variance as eq. 77, 2 / (m + n), from a normal law."""
    m, n = fans(shape)
    std = np.sqrt(2.0 / (m + n))
    return (_generator(rng).standard_normal(tuple(shape)) * std).astype(dtype)


def he_normal(shape: Sequence[int], rng: RngLike = 0, dtype: DTypeLike = "float64") -> np.ndarray:
    """He normal: variance 2 / m, which keeps the activation variance through ReLU layers."""
    m, _ = fans(shape)
    std = np.sqrt(2.0 / m)
    return (_generator(rng).standard_normal(tuple(shape)) * std).astype(dtype)


def he_uniform(shape: Sequence[int], rng: RngLike = 0,
               dtype: DTypeLike = "float64") -> np.ndarray:
    """He uniform: Uniform(-a, a) with a = sqrt(6 / m), variance 2 / m."""
    m, _ = fans(shape)
    limit = np.sqrt(6.0 / m)
    return _generator(rng).uniform(-limit, limit, size=tuple(shape)).astype(dtype)


def zeros(shape: Sequence[int], rng: RngLike = 0, dtype: DTypeLike = "float64") -> np.ndarray:
    """All zeros: the usual start for biases (``rng`` is accepted for a uniform signature)."""
    return np.zeros(tuple(shape), dtype=dtype)


def ones(shape: Sequence[int], rng: RngLike = 0, dtype: DTypeLike = "float64") -> np.ndarray:
    """All ones: the usual start for BatchNorm's scale."""
    return np.ones(tuple(shape), dtype=dtype)

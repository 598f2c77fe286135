"""Gradient clipping: keep one bad mini-batch from throwing the parameters far away.

Both functions take and return lists of gradient *nodes*, so clipping is part of the compiled
training step.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import reductions


def global_norm(grads: Sequence[Node]) -> Node:
    """sqrt(sum over all gradients of the sum of their squared entries), in float64."""
    total = None
    for g in grads:
        term = ew.cast(reductions.sum(ew.square(g)), "float64")
        total = term if total is None else ew.add(total, term)
    if total is None:
        raise ValueError("global_norm: no gradients given")
    return ew.sqrt(total)


def clip_by_global_norm(grads: Sequence[Node], max_norm: float) -> tuple[list[Node], Node]:
    """Scale *all* gradients by max_norm / max(norm, max_norm): the direction is kept and the
    joint norm becomes at most ``max_norm``. Returns the clipped gradients and the norm."""
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm!r}")
    norm = global_norm(grads)
    scale = ew.divide(max_norm, ew.maximum(norm, max_norm))
    return [ew.multiply(g, ew.cast(scale, g.dtype)) for g in grads], norm


def clip_by_value(grads: Sequence[Node], limit: float) -> list[Node]:
    """Clip every gradient entry to [-limit, limit] (changes the direction, unlike the norm)."""
    if not limit > 0:
        raise ValueError(f"clip_by_value: limit must be positive, got {limit!r}")
    return [ew.clip(g, -limit, limit) for g in grads]

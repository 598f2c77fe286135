"""`Mode`: training or evaluation, and what a training-mode graph needs besides its output.

In a define-then-run engine one cannot flip a layer between training and evaluation at run
time: the two behaviours are two different graphs. So a model is *called twice* while the
graphs are built, once per mode, and each graph is compiled into its own function::

    mode = nn.Mode(training=True)
    logits = model(X, mode)                 # dropout masks, batch statistics
    eval_logits = model(X)                  # evaluation: identity dropout, running statistics

A training-mode call leaves two things in its `Mode` that the training step must be compiled
with:

- ``mode.updates``: new values of shared state (BatchNorm's running averages), to pass to
  ``gd.function(..., updates=...)`` together with the optimizer's updates;
- ``mode.masks``: one symbolic *input* per Dropout layer. Randomness stays outside the
  generated code: the training loop draws every mask from its own seeded
  ``numpy.random.Generator`` before each step (`Mode.sample_masks`) and passes it as an
  argument, so runs are reproducible and a test can fix a mask to check gradients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from graphdl.errors import ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ops.leaves import SharedVariable, tensor


@dataclass(eq=False)
class MaskInput:
    """A Dropout mask input: ``node`` takes values 0 (dropped, probability ``p``) or
    ``1 / (1 - p)`` (kept), so the layer's output keeps its expected value (inverted dropout)."""

    node: Node
    p: float

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """One mask for a batch of ``batch_size`` rows (the node's other sizes are static)."""
        shape = (int(batch_size), *self.node.shape[1:])
        keep = rng.random(shape) >= self.p
        return keep.astype(self.node.dtype) * self.node.dtype.type(1.0 / (1.0 - self.p))


@dataclass(eq=False)
class Mode:
    """How a model is being called: ``training`` or not, plus what training-mode layers add."""

    training: bool = False
    updates: dict[SharedVariable, Node] = field(default_factory=dict)
    masks: list[MaskInput] = field(default_factory=list)

    def add_update(self, target: SharedVariable, value: Node) -> None:
        """Record ``target <- value`` for the compiled step (each state updated once)."""
        if target in self.updates:
            raise ValueError(
                f"Mode: shared {target.label()} already has an update in this mode; a layer "
                "with running statistics can be called once per training-mode graph")
        self.updates[target] = value

    def new_mask(self, like: Node, p: float, name: str) -> Node:
        """A fresh mask input shaped like ``like`` (batch axis first, other sizes known)."""
        if like.ndim == 0 or any(d is None for d in like.shape[1:]):
            raise ShapeError(
                f"dropout {name}: needs a batch axis first and known sizes after it, got "
                f"{like.label()} of shape {fmt_shape(like.shape)}")
        node = tensor(f"{name}_mask", like.shape, like.dtype)
        self.masks.append(MaskInput(node, float(p)))
        return node

    @property
    def mask_inputs(self) -> list[Node]:
        """The mask nodes, in the order the compiled step takes them after the data inputs."""
        return [m.node for m in self.masks]

    def sample_masks(self, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Fresh masks for one step, drawn from ``rng`` in a fixed order (reproducible)."""
        return [m.sample(batch_size, rng) for m in self.masks]

    def all_updates(self, *others: Mapping[SharedVariable, Node]) -> dict[SharedVariable, Node]:
        """This mode's updates merged with others (an optimizer's), refusing double targets."""
        merged: dict[SharedVariable, Node] = dict(self.updates)
        for more in others:
            for target, value in more.items():
                if target in merged:
                    raise ValueError(f"updates: shared {target.label()} is updated twice")
                merged[target] = value
        return merged


def as_mode(mode: Mode | None) -> Mode:
    """``None`` means evaluation; a `Mode` passes through."""
    if mode is None:
        return Mode(training=False)
    if not isinstance(mode, Mode):
        raise TypeError(
            f"mode must be an nn.Mode or None, got {mode!r}; for training write "
            "mode = nn.Mode(training=True); model(X, mode)")
    return mode

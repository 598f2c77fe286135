"""Losses (lecture eqs. 2-10) and accuracy, as graphs.

Each loss takes ``reduction``: ``"sum"`` is the lecture's sum over the N samples, exactly as
written in the equations; ``"mean"`` (the default) divides it by N, which is the mini-batch
gradient's 1/K of eq. 63 and keeps the learning rate independent of the batch size.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

from graphdl.errors import ShapeError
from graphdl.ir.node import Node
from graphdl.ir.scopes import name_scope
from graphdl.ir.shapes import fmt_shape
from graphdl.ops import elementwise as ew
from graphdl.ops import indexing, reductions, softmax
from graphdl.ops.registry import as_node

Reduction = Literal["mean", "sum"]


def _scoped(name: str):
    """Build the loss inside ``name_scope(name)``: a drawing of a training objective shows (and
    ``collapse`` folds) each term as one block, its backward pass as another."""
    def wrap(fn):
        @functools.wraps(fn)
        def scoped(*args: Any, **kwargs: Any) -> Node:
            with name_scope(name):
                return fn(*args, **kwargs)
        return scoped
    return wrap


def _reduce(per_sample: Node, reduction: Reduction) -> Node:
    if reduction == "mean":
        return reductions.mean(per_sample)
    if reduction == "sum":
        return reductions.sum(per_sample)
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


@_scoped("squared_error")
def squared_error(outputs: Any, targets: Any, reduction: Reduction = "mean") -> Node:
    """Eq. 4: sum_i ||e_i - o(x_i)||^2 (``reduction="sum"``), or its mean over samples.

    The squared norm is taken over every axis after the first (the batch axis); unlike some
    libraries' "MSE", ``"mean"`` averages over samples only, not over output components.
    """
    o, e = as_node(outputs), as_node(targets)
    sq = ew.square(ew.subtract(e, o))
    per_sample = reductions.sum(sq, axis=tuple(range(1, sq.ndim))) if sq.ndim > 1 else sq
    return _reduce(per_sample, reduction)


mse = squared_error


@_scoped("cross_entropy")
def softmax_cross_entropy(logits: Any, labels: Any, reduction: Reduction = "mean") -> Node:
    """Eq. 7: sum_i -log softmax(o(x_i))_{c_i}, from raw scores and integer class labels.

    Written through log_softmax, never log(softmax(.)): logits of +-1000 stay finite and so does
    the gradient, softmax(o) - onehot(c).
    """
    logits, labels = as_node(logits), as_node(labels)
    if logits.ndim != 2 or labels.ndim != 1:
        raise ShapeError(
            f"softmax_cross_entropy: expects logits (batch, classes) and labels (batch,), got "
            f"{logits.label()} {fmt_shape(logits.shape)} and {labels.label()} "
            f"{fmt_shape(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: labels must be integers (class indices), got "
                        f"{labels.label()} of dtype {labels.dtype}")
    log_p = softmax.log_softmax(logits, axis=1)
    picked = indexing.take_along_axis(log_p, indexing.getitem(labels, (slice(None), None)), axis=1)
    return ew.negative(_reduce(picked, reduction))


@_scoped("binary_cross_entropy")
def binary_cross_entropy(scores: Any, targets: Any, from_logits: bool = True,
                         reduction: Reduction = "mean", eps: float = 1e-7) -> Node:
    """-[e log p + (1 - e) log(1 - p)] per element, for targets e in [0, 1].

    With ``from_logits=True`` (the stable form) ``scores`` are logits z, p = sigmoid(z), and the
    loss is computed as softplus(z) - e z, which never takes the log of 0. With probabilities
    (``from_logits=False``) p is clipped to [eps, 1 - eps]. ``"mean"`` averages over all elements.
    """
    s, e = as_node(scores), as_node(targets)
    if from_logits:
        per_element = ew.subtract(ew.softplus(s), ew.multiply(e, s))
    else:
        p = ew.clip(s, eps, 1 - eps)
        per_element = ew.negative(ew.add(ew.multiply(e, ew.log(p)),
                                         ew.multiply(ew.subtract(1, e), ew.log1p(ew.negative(p)))))
    return _reduce(per_element, reduction)


@_scoped("l2_penalty")
def l2_penalty(weights: Sequence[Node], lam: float) -> Node:
    """Eq. 10's regularizer: lambda * sum over weight matrices of ||W||^2 (no 1/2 factor)."""
    weights = list(weights)
    if not weights:
        raise ValueError("l2_penalty: no weights given")
    total = reductions.sum(ew.square(weights[0]))
    for w in weights[1:]:
        total = ew.add(total, reductions.sum(ew.square(w)))
    return ew.multiply(lam, total)


def weighted_sum(losses: Sequence[Node], weights: Sequence[float] | None = None) -> Node:
    """Multi-task learning: sum_k w_k L_k over the task losses (all weights 1 by default)."""
    losses = [as_node(loss) for loss in losses]
    if not losses:
        raise ValueError("weighted_sum: no losses given")
    weights = [1.0] * len(losses) if weights is None else list(weights)
    if len(weights) != len(losses):
        raise ValueError(f"weighted_sum: {len(losses)} losses but {len(weights)} weights")
    for loss in losses:
        if loss.shape != ():
            raise ShapeError(f"weighted_sum: each loss must be a scalar, got {loss.label()} of "
                             f"shape {fmt_shape(loss.shape)}")
    total = ew.multiply(weights[0], losses[0])
    for w, loss in zip(weights[1:], losses[1:]):
        total = ew.add(total, ew.multiply(w, loss))
    return total


def accuracy(logits: Any, labels: Any) -> Node:
    """The fraction of rows whose largest score is at the label (no derivative)."""
    logits, labels = as_node(logits), as_node(labels)
    predicted = reductions.argmax(logits, axis=1)
    dtype = logits.dtype if logits.dtype.kind == "f" else "float64"
    return reductions.mean(ew.cast(ew.equal(predicted, labels), dtype))

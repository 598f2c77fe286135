"""Layers: Dense, activations, Dropout and BatchNorm.

Layout is batch-first: a batch is a ``(batch, features)`` matrix and a dense layer computes
``X @ W + b`` with ``W`` of shape ``(fan_in, fan_out)``; the lecture's ``W x + b`` for one column
vector ``x`` is the same computation transposed.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike

from graphdl import init as initializers
from graphdl.errors import ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.nn.mode import Mode
from graphdl.nn.module import Module
from graphdl.ops import elementwise as ew
from graphdl.ops import reductions

RngLike = np.random.Generator | int


class Dense(Module):
    """``X @ W + b``: W drawn by ``init`` (Xavier uniform, eq. 77), b by ``bias_init`` (zeros).

    W is listed in `regularized` (the L2 term of eq. 10 penalizes it), b is not.
    """

    def __init__(self, n_in: int, n_out: int, rng: RngLike = 0,
                 init: initializers.Initializer = initializers.xavier_uniform,
                 bias_init: initializers.Initializer | None = initializers.zeros,
                 name: str = "dense", dtype: DTypeLike = "float64") -> None:
        super().__init__(name)
        self.n_in, self.n_out = int(n_in), int(n_out)
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        self.W = self.add_param("W", init((self.n_in, self.n_out), rng, dtype), regularize=True)
        self.b = (self.add_param("b", bias_init((self.n_out,), rng, dtype))
                  if bias_init is not None else None)

    def forward(self, x: Node, mode: Mode) -> Node:
        if x.ndim < 1 or x.shape[-1] not in (None, self.n_in):
            raise ShapeError(f"dense {self.name}: expects inputs with {self.n_in} features on "
                             f"the last axis, got {x.label()} of shape {fmt_shape(x.shape)}")
        out = x @ self.W
        return out + self.b if self.b is not None else out


class Activation(Module):
    """An elementwise function as a layer (``gd.relu``, ``gd.tanh``, ``gd.sigmoid``, ...)."""

    def __init__(self, fn: Callable[[Node], Node], name: str | None = None) -> None:
        super().__init__(name or getattr(fn, "__name__", "activation"))
        self.fn = fn

    def forward(self, x: Node, mode: Mode) -> Node:
        return self.fn(x)


def ReLU() -> Activation:
    return Activation(ew.relu, "relu")


def Tanh() -> Activation:
    return Activation(ew.tanh, "tanh")


def Sigmoid() -> Activation:
    return Activation(ew.sigmoid, "sigmoid")


class Dropout(Module):
    """Inverted dropout: in training each unit is zeroed with probability ``p`` and the kept
    ones are scaled by ``1 / (1 - p)``, so evaluation needs no rescaling and is the identity.

    The random mask is an input of the training graph (see `graphdl.nn.mode`): the output is
    ``x * mask``, with the mask of values {0, 1/(1-p)} drawn by the training loop before each
    step from its seeded generator.
    """

    def __init__(self, p: float = 0.5, name: str = "dropout") -> None:
        super().__init__(name)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout {name}: p must be in [0, 1), got p={p}")
        self.p = float(p)

    def forward(self, x: Node, mode: Mode) -> Node:
        if not mode.training or self.p == 0.0:
            return x
        return x * mode.new_mask(x, self.p, self.name)


class BatchNorm(Module):
    """Batch normalization (eq. 78) of each feature of a ``(batch, features)`` input, then a
    learned scale ``gamma`` and shift ``beta``.

    Training: the batch's own mean and (biased, 1/m) variance normalize it, and the running
    averages move towards them, ``running <- momentum * running + (1 - momentum) * batch``, as
    updates recorded in the `Mode`. Evaluation: the running averages normalize instead, so a
    prediction does not depend on the rest of its batch.
    """

    def __init__(self, n_features: int, momentum: float = 0.9, eps: float = 1e-5,
                 name: str = "batchnorm", dtype: DTypeLike = "float64") -> None:
        super().__init__(name)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"batchnorm {name}: momentum must be in [0, 1), got {momentum}")
        self.n_features, self.momentum, self.eps = int(n_features), float(momentum), float(eps)
        shape = (self.n_features,)
        self.gamma = self.add_param("gamma", initializers.ones(shape, dtype=dtype))
        self.beta = self.add_param("beta", initializers.zeros(shape, dtype=dtype))
        self.running_mean = self.add_state("running_mean", initializers.zeros(shape, dtype=dtype))
        self.running_var = self.add_state("running_var", initializers.ones(shape, dtype=dtype))

    def forward(self, x: Node, mode: Mode) -> Node:
        if x.ndim != 2 or x.shape[1] not in (None, self.n_features):
            raise ShapeError(f"batchnorm {self.name}: expects (batch, {self.n_features}) inputs, "
                             f"got {x.label()} of shape {fmt_shape(x.shape)}")
        if mode.training:
            mean = reductions.mean(x, axis=0)
            centered = x - mean
            var = reductions.mean(ew.square(centered), axis=0)
            m = self.momentum
            mode.add_update(self.running_mean, m * self.running_mean + (1 - m) * mean)
            mode.add_update(self.running_var, m * self.running_var + (1 - m) * var)
        else:
            centered = x - self.running_mean
            var = self.running_var
        normalized = centered / ew.sqrt(var + self.eps)
        return normalized * self.gamma + self.beta

"""Learning-rate schedules as graphs of the optimizer's step counter.

The lecture writes the step size of eqs. 57-64 as eta_t: it may change with t. A schedule here
is a callable ``schedule(step) -> lr`` where ``step`` is a float64 scalar *node*: the number of
updates already made (0 for the first). The learning rate is thus part of the compiled training
step and changes with no Python in the loop. Any callable of that form works, e.g.
``lambda step: 0.1 / gd.sqrt(step + 1)``.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import constant


def _check_positive(what: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{what} must be positive, got {value!r}")


@dataclass(frozen=True)
class Constant:
    """eta_t = lr."""

    lr: float

    def __call__(self, step: Node) -> Node:
        return constant(self.lr, dtype="float64")


@dataclass(frozen=True)
class StepDecay:
    """eta_t = lr * factor ** floor(step / every): drop by ``factor`` every ``every`` steps."""

    lr: float
    factor: float
    every: int

    def __post_init__(self) -> None:
        _check_positive("StepDecay: every", self.every)

    def __call__(self, step: Node) -> Node:
        return ew.multiply(self.lr, ew.power(self.factor, ew.floor(ew.divide(step, self.every))))


@dataclass(frozen=True)
class ExponentialDecay:
    """eta_t = lr * rate ** (step / every): the smooth version of `StepDecay`."""

    lr: float
    rate: float
    every: int = 1

    def __post_init__(self) -> None:
        _check_positive("ExponentialDecay: every", self.every)

    def __call__(self, step: Node) -> Node:
        return ew.multiply(self.lr, ew.power(self.rate, ew.divide(step, self.every)))


@dataclass(frozen=True)
class InverseTimeDecay:
    """eta_t = lr / (1 + decay * step): the classic Robbins-Monro-style 1/t decrease."""

    lr: float
    decay: float

    def __call__(self, step: Node) -> Node:
        return ew.divide(self.lr, ew.add(1.0, ew.multiply(self.decay, step)))


@dataclass(frozen=True)
class CosineDecay:
    """eta_t = final + (lr - final) (1 + cos(pi min(step, total) / total)) / 2."""

    lr: float
    total_steps: int
    final_lr: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("CosineDecay: total_steps", self.total_steps)

    def __call__(self, step: Node) -> Node:
        progress = ew.divide(ew.minimum(step, float(self.total_steps)), float(self.total_steps))
        wave = ew.multiply(0.5, ew.add(1.0, ew.cos(ew.multiply(math.pi, progress))))
        return ew.add(self.final_lr, ew.multiply(self.lr - self.final_lr, wave))


@dataclass(frozen=True)
class LinearWarmup:
    """Scales another schedule by min(1, (step + 1) / warmup_steps) for a gentle start."""

    schedule: object
    warmup_steps: int

    def __post_init__(self) -> None:
        _check_positive("LinearWarmup: warmup_steps", self.warmup_steps)

    def __call__(self, step: Node) -> Node:
        ramp = ew.minimum(ew.divide(ew.add(step, 1.0), float(self.warmup_steps)), 1.0)
        return ew.multiply(ramp, self.schedule(step))  # type: ignore[operator]

"""Optimizers as graph updates: ``opt.updates(loss, params)`` for ``gd.function(updates=...)``.

An optimizer turns the gradient G(Theta^t) (a graph, from `gd.grad`) into the new value of each
parameter and of its own state, all as graphs, so one compiled call does forward pass, backward
pass and update. The state (momentum, squared-gradient accumulators, the step counter t) lives
in shared variables created on the first `updates` call, one set per parameter.

Each rule is written as in the lecture (the equation number is in each class's docstring), with
eta or lambda the learning rate, which may be a number, a schedule (`graphdl.optim.schedules`)
or any scalar node. Scalars (learning rate, bias corrections) are computed in float64 and cast
to each parameter's dtype, so float32 models stay float32.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphdl.autodiff import grad
from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import SharedVariable, shared
from graphdl.optim.clipping import clip_by_global_norm, clip_by_value

LearningRate = float | Node | Callable[[Node], Node]
Updates = dict[SharedVariable, Node]


class Scalars:
    """Step-wide scalars (learning rate, bias corrections), cast once per parameter dtype."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self._cast: dict[tuple[str, np.dtype], Any] = {}

    def get(self, name: str, like: Node) -> Any:
        """The scalar in ``like``'s dtype; Python numbers stay (weak) numbers."""
        value = self.values[name]
        if not isinstance(value, Node):
            return value
        key = (name, like.dtype)
        if key not in self._cast:
            self._cast[key] = ew.cast(value, like.dtype)
        return self._cast[key]


class Optimizer:
    """Base class. Subclasses define `rule`: new parameter and state values for one parameter.

    ``clip_norm`` rescales all gradients jointly to that global norm at most; ``clip_value``
    clips each entry (applied after ``clip_norm`` when both are set).
    """

    slots: tuple[str, ...] = ()

    def __init__(self, lr: LearningRate, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        self.lr = lr
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.step = shared(np.float64(0.0), name="opt_step")  # updates made so far
        self._state: dict[SharedVariable, dict[str, SharedVariable]] = {}
        self.grad_norm: Node | None = None  # set by clip_norm: the norm before clipping

    # --- the public API ------------------------------------------------------------------------
    def updates(self, loss: Node, params: Sequence[SharedVariable]) -> Updates:
        """The updates of one training step minimizing ``loss`` over ``params``.

        A parameter the loss does not depend on is an error naming it (a layer left out of the
        model, a copy of a parameter: it would never train). When that is intended, pass
        ``gd.grad(loss, params, disconnected="zero")`` to `apply_gradients` instead."""
        params = list(params)
        return self.apply_gradients(params, grad(loss, params))

    def apply_gradients(self, params: Sequence[SharedVariable], grads: Sequence[Node]) -> Updates:
        """Updates from given gradients (for gradients computed or modified by hand)."""
        params, grads = list(params), list(grads)
        self._check(params, grads)
        if self.clip_norm is not None:
            grads, self.grad_norm = clip_by_global_norm(grads, self.clip_norm)
        if self.clip_value is not None:
            grads = clip_by_value(grads, self.clip_value)
        t = ew.add(self.step, 1.0)  # this update's 1-based index, the t of eqs. 74-75
        scalars = Scalars({"lr": self.learning_rate(), **self.step_scalars(t)})
        out: Updates = {self.step: t}
        for p, g in zip(params, grads):
            state = self._slots_for(p)
            new_p, new_state = self.rule(p, g, state, scalars)
            out[p] = new_p
            for key, value in new_state.items():
                out[state[key]] = value
        return out

    def learning_rate(self) -> Any:
        """eta_t: a Python number stays a (weak) number; schedules are evaluated at the step."""
        if isinstance(self.lr, (int, float)):
            return float(self.lr)
        if isinstance(self.lr, Node):
            return self.lr
        return self.lr(self.step)

    def state(self) -> list[SharedVariable]:
        """Every shared variable the optimizer keeps: the step counter and per-parameter slots."""
        return [self.step] + [v for slots in self._state.values() for v in slots.values()]

    def reset(self) -> None:
        """Forget the state: step 0 and zero slots (as before the first step)."""
        for var in self.state():
            var.set_value(np.zeros_like(var.get_value()))

    # --- for subclasses ------------------------------------------------------------------------
    def step_scalars(self, t: Node) -> dict[str, Any]:
        """Scalars shared by every parameter's rule at step ``t`` (computed once per step)."""
        return {}

    def rule(self, p: SharedVariable, g: Node, state: dict[str, SharedVariable],
             scalars: Scalars) -> tuple[Node, dict[str, Node]]:
        """``(new p, {slot: new value})`` from gradient ``g``; ``scalars.get("lr", p)``."""
        raise NotImplementedError

    def _slots_for(self, p: SharedVariable) -> dict[str, SharedVariable]:
        if p not in self._state:
            base = p.name or f"param{len(self._state)}"
            self._state[p] = {k: shared(np.zeros(p.shape, p.dtype), name=f"{base}_{k}")
                              for k in self.slots}
        return self._state[p]

    def _check(self, params: list[SharedVariable], grads: list[Node]) -> None:
        if len(params) != len(grads):
            raise ValueError(f"{type(self).__name__}: {len(params)} params but "
                             f"{len(grads)} gradients")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter is listed twice")
        for p in params:
            if not isinstance(p, SharedVariable):
                raise TypeError(f"{type(self).__name__}: parameters must be shared variables, "
                                f"got {p!r}")
            if p.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}: parameter {p.label()} has dtype "
                                f"{p.dtype}; only float parameters can be trained")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr!r})"


class SGD(Optimizer):
    """Gradient descent, eqs. 11/57/62: Theta <- Theta - eta_t G(Theta).

    With the whole training set as the batch this is plain gradient descent (eq. 11); with
    mini-batches, mini-batch SGD (eq. 62-63, G averaged over the K samples of the batch).
    """

    def rule(self, p, g, state, scalars):
        return ew.subtract(p, ew.multiply(scalars.get("lr", p), g)), {}


GD = SGD


class Momentum(Optimizer):
    """Momentum SGD, eq. 64: g^t = rho g^{t-1} + (1 - rho) G;  Theta <- Theta - eta_t g^t.

    Note the lecture's form averages (the 1 - rho factor), so eta keeps the scale of SGD's.
    """

    slots = ("g",)

    def __init__(self, lr: LearningRate = 0.1, rho: float = 0.9, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho = rho

    def velocity(self, g: Node, state: dict[str, SharedVariable]) -> Node:
        return ew.add(ew.multiply(self.rho, state["g"]), ew.multiply(1 - self.rho, g))

    def rule(self, p, g, state, scalars):
        v = self.velocity(g, state)
        return ew.subtract(p, ew.multiply(scalars.get("lr", p), v)), {"g": v}


class Nesterov(Momentum):
    """Nesterov momentum in eq. 64's averaged form: g^t as in eq. 64, and the step taken with
    the momentum one step ahead, Theta <- Theta - eta_t (rho g^t + (1 - rho) G).

    This is Nesterov's look-ahead gradient rewritten so that it only needs G at the current
    parameters (the form used by Keras and PyTorch), scaled by (1 - rho) like eq. 64.
    """

    def rule(self, p, g, state, scalars):
        v = self.velocity(g, state)
        ahead = ew.add(ew.multiply(self.rho, v), ew.multiply(1 - self.rho, g))
        return ew.subtract(p, ew.multiply(scalars.get("lr", p), ahead)), {"g": v}


class AdaGrad(Optimizer):
    """AdaGrad, eq. 68: r^t = r^{t-1} + G (.) G;  Theta <- Theta - lambda / (delta + sqrt(r^t))
    (.) G. Parameters with large past derivatives get smaller steps."""

    slots = ("r",)

    def __init__(self, lr: LearningRate = 0.01, delta: float = 1e-7, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.delta = delta

    def rule(self, p, g, state, scalars):
        r = ew.add(state["r"], ew.square(g))
        step = ew.divide(ew.multiply(scalars.get("lr", p), g), ew.add(self.delta, ew.sqrt(r)))
        return ew.subtract(p, step), {"r": r}


class RMSProp(Optimizer):
    """RMSProp, eq. 70 in eq. 68: r^t = rho r^{t-1} + (1 - rho) G (.) G;  Theta <- Theta -
    lambda / (delta + sqrt(r^t)) (.) G. The running average forgets the first iterations."""

    slots = ("r",)

    def __init__(self, lr: LearningRate = 0.001, rho: float = 0.9, delta: float = 1e-8,
                 **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho, self.delta = rho, delta

    def rule(self, p, g, state, scalars):
        r = ew.add(ew.multiply(self.rho, state["r"]), ew.multiply(1 - self.rho, ew.square(g)))
        step = ew.divide(ew.multiply(scalars.get("lr", p), g), ew.add(self.delta, ew.sqrt(r)))
        return ew.subtract(p, step), {"r": r}


class Adam(Optimizer):
    """Adam, eqs. 71-76:
    s^t = rho1 s^{t-1} + (1 - rho1) G                 (72, momentum)
    r^t = rho2 r^{t-1} + (1 - rho2) G (.) G           (73, as RMSProp)
    s-hat = s^t / (1 - rho1^t),  r-hat = r^t / (1 - rho2^t)   (74-75, bias correction)
    Theta <- Theta - lambda / (delta + sqrt(r-hat)) (.) s-hat  (76)
    with the lecture's lambda = 0.001, rho1 = 0.9, rho2 = 0.999 as defaults.
    """

    slots = ("s", "r")

    def __init__(self, lr: LearningRate = 0.001, rho1: float = 0.9, rho2: float = 0.999,
                 delta: float = 1e-8, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.rho1, self.rho2, self.delta = rho1, rho2, delta

    def step_scalars(self, t: Node) -> dict[str, Any]:
        """1 / (1 - rho^t) of eqs. 74-75, in float64 (rho2^t is close to 1 early on)."""
        return {"correct_s": ew.divide(1.0, ew.subtract(1.0, ew.power(self.rho1, t))),
                "correct_r": ew.divide(1.0, ew.subtract(1.0, ew.power(self.rho2, t)))}

    def rule(self, p, g, state, scalars):
        # eqs. 72-73 as s + (1 - rho) (G - s): the same value, written so the new state is
        # computed straight into the old one's buffer (the update reads the state directly)
        s = ew.add(state["s"], ew.multiply(1 - self.rho1, ew.subtract(g, state["s"])))
        r = ew.add(state["r"], ew.multiply(1 - self.rho2,
                                           ew.subtract(ew.square(g), state["r"])))
        s_hat = ew.multiply(s, scalars.get("correct_s", p))
        r_hat = ew.multiply(r, scalars.get("correct_r", p))
        step = ew.divide(ew.multiply(scalars.get("lr", p), s_hat), ew.add(self.delta,
                                                                        ew.sqrt(r_hat)))
        return ew.subtract(p, step), {"s": s, "r": r}


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": SGD, "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
    "rmsprop": RMSProp, "adam": Adam,
}
DEFAULT_LR = {"gd": 0.1, "sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.05,
              "rmsprop": 0.001, "adam": 0.001}


def get(name: str, lr: LearningRate | None = None, **kw: Any) -> Optimizer:
    """An optimizer by name (``"adam"``, ``"sgd"``, ...), with its default learning rate."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[key](lr=DEFAULT_LR[key] if lr is None else lr, **kw)

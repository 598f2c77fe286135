"""`Module`: a piece of a model that owns shared variables, and `Sequential` to chain them.

A module holds three kinds of things, kept apart because each is treated differently:

- *parameters*: trained by the optimizer (weights, biases, BatchNorm's scale and shift);
- *state*: shared values changed by updates but not by gradients (running statistics);
- *children*: sub-modules, whose parameters and state are collected under ``child.key`` names.

``named_variables()`` (parameters and state, keyed ``"dense1.W"``, ``"bn.running_mean"``) is what
`graphdl.training.save_params` writes, so a model's file is independent of node ids.
``regularized()`` lists the weights the L2 term of eq. 10 should penalize (not biases).

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.nn.mode import Mode, as_mode
from graphdl.ops.leaves import SharedVariable, shared


class Module:
    """Base class: subclasses create their variables in ``__init__`` and define `forward`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._params: dict[str, SharedVariable] = {}
        self._state: dict[str, SharedVariable] = {}
        self._children: dict[str, Module] = {}
        self._regularized: set[str] = set()

    # --- building ------------------------------------------------------------------------------
    def add_param(self, key: str, value: np.ndarray, regularize: bool = False) -> SharedVariable:
        """A trainable shared variable named ``<module>_<key>`` in generated code."""
        self._check_key(key)
        var = shared(value, name=f"{self.name}_{key}")
        self._params[key] = var
        if regularize:
            self._regularized.add(key)
        return var

    def add_state(self, key: str, value: np.ndarray) -> SharedVariable:
        """A shared variable that updates change but the optimizer does not."""
        self._check_key(key)
        var = shared(value, name=f"{self.name}_{key}")
        self._state[key] = var
        return var

    def add_child(self, key: str, module: Module) -> Module:
        self._check_key(key)
        self._children[key] = module
        return module

    def _check_key(self, key: str) -> None:
        if not key or "." in key:
            raise ValueError(f"module {self.name}: key {key!r} must be non-empty without dots")
        if key in self._params or key in self._state or key in self._children:
            raise ValueError(f"module {self.name}: {key!r} is defined twice")

    # --- collecting ----------------------------------------------------------------------------
    def named_parameters(self) -> dict[str, SharedVariable]:
        """Trainable variables keyed by their path, e.g. ``{"dense1.W": ..., "dense1.b": ...}``."""
        return self._collect(lambda m: m._params)

    def named_state(self) -> dict[str, SharedVariable]:
        """Non-trainable shared variables (running statistics) keyed by path."""
        return self._collect(lambda m: m._state)

    def named_variables(self) -> dict[str, SharedVariable]:
        """Parameters and state: everything needed to restore the model."""
        return {**self.named_parameters(), **self.named_state()}

    def parameters(self) -> list[SharedVariable]:
        return list(self.named_parameters().values())

    def state(self) -> list[SharedVariable]:
        return list(self.named_state().values())

    def regularized(self) -> list[SharedVariable]:
        """The weights an L2 penalty (eq. 10) applies to: dense weights, not biases."""
        return list(self._collect(lambda m: {k: m._params[k] for k in m._regularized}).values())

    def _collect(self, pick: Callable[[Module], dict[str, SharedVariable]]
                 ) -> dict[str, SharedVariable]:
        out = dict(pick(self))
        for key, child in self._children.items():
            out.update({f"{key}.{name}": var for name, var in child._collect(pick).items()})
        return out

    # --- calling -------------------------------------------------------------------------------
    def forward(self, x: Node, mode: Mode) -> Node:
        raise NotImplementedError(f"{type(self).__name__} must define forward(x, mode)")

    def __call__(self, x: Any, mode: Mode | None = None) -> Node:
        """The output graph; ``mode=None`` builds the evaluation graph. The nodes built form a
        name scope (the module's name), so drawings cluster them by layer."""
        from graphdl.ir.scopes import name_scope
        from graphdl.ops.registry import as_node

        with name_scope(self.name):
            return self.forward(as_node(x), as_mode(mode))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Sequential(Module):
    """Layers applied one after the other. Plain functions (``gd.relu``) become `Activation`
    layers. Children are keyed by layer name, with ``_2``, ``_3`` added to repeated names."""

    def __init__(self, *layers: Module | Callable[[Node], Node], name: str = "sequential") -> None:
        super().__init__(name)
        from graphdl.nn.layers import Activation

        self.layers: list[Module] = []
        for layer in layers:
            module = layer if isinstance(layer, Module) else Activation(layer)
            key, k = module.name, 2
            while key in self._children:
                key, k = f"{module.name}_{k}", k + 1
            self.add_child(key, module)
            self.layers.append(module)

    def forward(self, x: Node, mode: Mode) -> Node:
        for layer in self.layers:
            x = layer(x, mode)
        return x


def collect_parameters(modules: Iterable[Module]) -> list[SharedVariable]:
    """Parameters of several modules (a shared trunk and heads), each listed once."""
    seen: dict[int, SharedVariable] = {}
    for module in modules:
        for var in module.parameters():
            seen.setdefault(id(var), var)
    return list(seen.values())

"""What a compiled function checks about what it is given: the inputs and updates at build time,
each argument at call time (`InputCheck`: converts, then checks dtype, rank and static sizes; its
errors name the input and what was expected)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from graphdl.errors import InputError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import INPUT, SharedVariable
from graphdl.ops.registry import as_node


def check_inputs(inputs: Sequence[Node]) -> None:
    """``inputs`` are distinct symbolic inputs."""
    for i, x in enumerate(inputs):
        if not isinstance(x, Node) or x.op is not INPUT:
            what = x.label() if isinstance(x, Node) else repr(x)
            hint = " (shared variables are not arguments; they are read directly)" if (
                isinstance(x, SharedVariable)) else ""
            raise TypeError(f"function: inputs[{i}] = {what} is not a symbolic input{hint}")
    if len({id(x) for x in inputs}) != len(inputs):
        raise ValueError("function: an input is listed twice")


def check_closed(inputs: Sequence[Node], schedule: Sequence[Node]) -> None:
    """Every input the schedule reads is one of ``inputs``."""
    given = {id(x) for x in inputs}
    for node in schedule:
        if node.op is INPUT and id(node) not in given:
            raise ValueError(f"function: the outputs depend on input {node.label()} which is "
                             "not in the inputs list")


def normalize_updates(updates: Any) -> list[tuple[SharedVariable, Node]]:
    """``updates`` (a mapping or pairs) as (shared variable, new value fitted to it) pairs."""
    if updates is None:
        return []
    items = list(updates.items()) if isinstance(updates, Mapping) else list(updates)
    pairs: list[tuple[SharedVariable, Node]] = []
    seen: set[int] = set()
    for target, value in items:
        if not isinstance(target, SharedVariable):
            raise TypeError(f"updates: {target!r} is not a shared variable")
        if id(target) in seen:
            raise ValueError(f"updates: shared {target.label()} is updated twice")
        seen.add(id(target))
        value = as_node(value)
        pairs.append((target, fit_update(target, value)))
    return pairs


def fit_update(target: SharedVariable, value: Node) -> Node:
    """``value`` cast and broadcast to ``target``'s dtype and shape, or an error naming it."""
    if len(value.shape) > len(target.shape) or any(
        v is not None and v != t and v != 1
        for v, t in zip(reversed(value.shape), reversed(target.shape))
    ):
        raise ShapeError(f"updates: the new value of shared {target.label()} has shape "
                         f"{fmt_shape(value.shape)}, expected {fmt_shape(target.shape)}")
    if value.dtype != target.dtype:
        if not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
            raise ShapeError(f"updates: the new value of shared {target.label()} has dtype "
                             f"{value.dtype}, expected {target.dtype}")
        value = ew.cast(value, target.dtype)
    if value.shape != target.shape:
        from graphdl.ops.shape_ops import broadcast_to

        value = broadcast_to(value, target.shape) if None not in value.shape else value
    return value


def bind_names(function: str, labels: Sequence[str], args: tuple, named: dict[str, Any]) -> tuple:
    """``args`` and the arguments given by input name (``fn(X=..., y=...)``), in input order;
    an unknown, ambiguous, repeated or missing name is an `InputError` naming it."""
    values = list(args) + [_MISSING] * (len(labels) - len(args))
    if len(args) > len(labels):
        raise InputError(f"function {function} takes {len(labels)} argument(s) "
                         f"({', '.join(labels)}), received {len(args)} positional")
    for name, value in named.items():
        places = [i for i, label in enumerate(labels) if label == name]
        if not places:
            raise InputError(f"function {function} has no input named {name!r} (its inputs: "
                             f"{', '.join(labels)})")
        if len(places) > 1:
            raise InputError(f"function {function}: {len(places)} inputs are named {name!r}; "
                             "pass them by position")
        if values[places[0]] is not _MISSING:
            raise InputError(f"function {function}: input {name} is given twice (by position "
                             "and by name)")
        values[places[0]] = value
    missing = [labels[i] for i, v in enumerate(values) if v is _MISSING]
    if missing:
        raise InputError(f"function {function}: no value for input(s) {', '.join(missing)}")
    return tuple(values)


_MISSING = object()


class InputCheck:
    """Converts and checks one argument before any computation runs."""

    def __init__(self, node: Node, vectorizes: bool) -> None:
        self.shape = node.shape
        self.label = node.label()
        self.dtype = node.dtype
        self.ndim = node.ndim
        self.static = [(i, d) for i, d in enumerate(node.shape) if d is not None]
        self.vectorizes = vectorizes  # may take extra leading axes (see below)

    def __call__(self, value: Any) -> np.ndarray:
        if value.__class__ is not np.ndarray:
            value = self._from_python(value)
        elif value.dtype != self.dtype:
            if not np.can_cast(value.dtype, self.dtype, casting="safe"):
                raise InputError(
                    f"input {self.label}: expected dtype {self.dtype}, received {value.dtype} "
                    f"(not a safe cast; convert with .astype('{self.dtype}'))"
                )
            value = value.astype(self.dtype)
        shape = value.shape
        extra = len(shape) - self.ndim
        if extra != 0 and not (extra > 0 and self.vectorizes):
            raise InputError(
                f"input {self.label}: expected shape {fmt_shape(self.shape)} (rank "
                f"{self.ndim}), received shape {fmt_shape(shape)} (rank {len(shape)})"
            )
        for axis, size in self.static:
            if shape[axis + extra] != size:
                raise InputError(
                    f"input {self.label}: expected shape {fmt_shape(self.shape)}, received "
                    f"{fmt_shape(shape)} (axis {axis} should be {size})"
                )
        return value

    def _from_python(self, value: Any) -> np.ndarray:
        if isinstance(value, Node):
            raise InputError(f"input {self.label}: received a graph node; compiled functions "
                             "take arrays")
        array = np.asarray(value)
        if array.dtype == self.dtype:
            return array
        natural = array.dtype
        same_kind_number = natural.kind in "biuf" and (
            natural.kind == self.dtype.kind or np.can_cast(natural, self.dtype, "safe")
            or (natural.kind in "biu" and self.dtype.kind == "f"))
        if not same_kind_number:
            raise InputError(f"input {self.label}: expected dtype {self.dtype}, received "
                             f"{type(value).__name__} of dtype {natural}")
        return array.astype(self.dtype)


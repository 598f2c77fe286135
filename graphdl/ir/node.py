"""The IR: one immutable node type.

A graph is nothing but `Node` objects pointing at their inputs. A node records *what* is computed
(``op`` and ``attrs``), *from what* (``inputs``) and *what it looks like* (static ``shape`` and
``dtype``, inferred when the node is built). Nodes are never mutated after construction, so every
transformation (optimize, grad, jvp) builds new nodes and old graphs stay valid.

Leaves are nodes too, with ``inputs == ()``: symbolic inputs (op ``input``), constants (op
``constant``, the value in ``attrs``) and shared variables (op ``shared``, a mutable value held in a
separate box so the node itself stays immutable).

Node identity is object identity: ``==`` is not overloaded (``gd.equal`` builds a comparison
node), so nodes can be dict keys and set members.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from graphdl.ir.origin import user_origin

if TYPE_CHECKING:  # pragma: no cover
    from graphdl.ops.registry import Op

Shape = tuple  # tuple[int | None, ...]: None marks a size known only at call time

_ids = itertools.count()


class _Fields:
    """A node's fields as a plain slotted record.

    A node is filled in as this record, by ordinary attribute stores, and then becomes a `Node`
    (class assignment: same layout), whose ``__setattr__`` refuses every write. That is four
    times cheaper than writing each field through ``object.__setattr__`` past the refusal, and
    rewriting 10^5-node graphs builds hundreds of thousands of nodes.
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "ndim", "dtype", "name", "origin", "id",
                 "__weakref__")


_record = object.__new__


def next_node_id() -> int:
    """An id no node built so far has and every node built from now on exceeds or equals (name
    scopes remember id ranges this way)."""
    return next(_ids) + 1


def make_node(cls: type, op: Op, inputs: tuple, attrs: dict, shape: tuple, dtype: np.dtype,
              name: str | None, origin: str) -> Node:
    """A ``cls`` node from fields already in their final form (a tuple of nodes, a shape tuple,
    an ``np.dtype``, an attribute dict no one else holds), numbered in creation order: the
    constructor without its conversions, for `graphdl.ops.registry.apply`."""
    new = _record(_Fields)
    new.op = op
    new.inputs = inputs
    new.attrs = attrs
    new.shape = shape
    new.ndim = len(shape)  # a field, not a property: code generation asks for it ~6x per node
    new.dtype = dtype
    new.name = name
    new.origin = origin
    new.id = next(_ids)
    new.__class__ = cls
    return new


class Node(_Fields):
    """One value in a computation graph. Build nodes with ops (``gd.exp(x)``, ``x + y``)."""

    __slots__ = ()

    def __new__(
        cls,
        op: Op,
        inputs: tuple[Node, ...],
        attrs: dict[str, Any],
        shape: Shape,
        dtype: np.dtype,
        name: str | None = None,
        origin: str | None = None,
    ) -> Node:
        return make_node(  # conversions skipped when already done: 10^5-node graphs
            cls, op, inputs if type(inputs) is tuple else tuple(inputs),
            dict(attrs) if attrs else {}, shape if type(shape) is tuple else tuple(shape),
            dtype if isinstance(dtype, np.dtype) else np.dtype(dtype), name,
            origin if origin is not None else user_origin(2))

    def over(self, inputs: tuple[Node, ...], shape: Shape, dtype: np.dtype) -> Node:
        """This node's op, attributes, name and origin over other ``inputs``, with the given
        static type. Rewriting rebuilds every node downstream of a change this way, from values
        that are already a node's (a tuple of nodes, a shape tuple, a dtype), so nothing needs
        converting or copying: the attribute dict is shared, and no node ever mutates it."""
        new = _record(_Fields)
        new.op = self.op
        new.inputs = inputs
        new.attrs = self.attrs
        new.shape = shape
        new.ndim = len(shape)
        new.dtype = dtype
        new.name = self.name
        new.origin = self.origin
        new.id = next(_ids)
        new.__class__ = Node
        return new

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"graphdl nodes are immutable (tried to set {key!r})")

    # --- description -------------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return not self.inputs

    def type_str(self) -> str:
        """``f64[None,64]``: the compact type used by printers and error messages."""
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{_short_dtype(self.dtype)}[{dims}]"

    def label(self) -> str:
        """A short human-readable handle: the user's name if any, else op and id."""
        return self.name if self.name else f"{self.op.name}#{self.id}"

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Node {self.op.name}{name} {self.type_str()} #{self.id}>"

    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth value of graph node {self.label()} is unknown until the graph runs; "
            "use gd.where(cond, a, b) instead of Python if/and/or"
        )

    __hash__ = object.__hash__

    # Operators and methods are attached in graphdl.ops.overloads so this module stays free of
    # op definitions (ops import the IR, never the other way round).


class SharedBox:
    """Mutable storage behind a shared variable; the node stays immutable, the box changes."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value


def _short_dtype(dtype: np.dtype) -> str:
    kind = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(dtype.kind, dtype.kind)
    return kind if kind == "bool" else f"{kind}{dtype.itemsize * 8}"

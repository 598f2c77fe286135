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


class Node:
    """One value in a computation graph. Build nodes with ops (``gd.exp(x)``, ``x + y``)."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "origin", "id", "__weakref__")

    def __init__(
        self,
        op: Op,
        inputs: tuple[Node, ...],
        attrs: dict[str, Any],
        shape: Shape,
        dtype: np.dtype,
        name: str | None = None,
        origin: str | None = None,
    ) -> None:
        set_ = object.__setattr__  # conversions skipped when already done: 10^5-node graphs
        set_(self, "op", op)
        set_(self, "inputs", inputs if type(inputs) is tuple else tuple(inputs))
        set_(self, "attrs", dict(attrs) if attrs else {})
        set_(self, "shape", shape if type(shape) is tuple else tuple(shape))
        set_(self, "dtype", dtype if isinstance(dtype, np.dtype) else np.dtype(dtype))
        set_(self, "name", name)
        set_(self, "origin", origin if origin is not None else user_origin())
        set_(self, "id", next(_ids))

    def over(self, inputs: tuple[Node, ...], shape: Shape, dtype: np.dtype) -> Node:
        """This node's op, attributes, name and origin over other ``inputs``, with the given
        static type. Rewriting rebuilds every node downstream of a change this way, from values
        that are already a node's (a tuple of nodes, a shape tuple, a dtype), so nothing needs
        converting or copying: the attribute dict is shared, and no node ever mutates it."""
        new = Node.__new__(Node)
        set_ = object.__setattr__
        set_(new, "op", self.op)
        set_(new, "inputs", inputs)
        set_(new, "attrs", self.attrs)
        set_(new, "shape", shape)
        set_(new, "dtype", dtype)
        set_(new, "name", self.name)
        set_(new, "origin", self.origin)
        set_(new, "id", next(_ids))
        return new

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"graphdl nodes are immutable (tried to set {key!r})")

    # --- description -------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

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

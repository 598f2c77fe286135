"""Python operators and methods on nodes: ``x + 1``, ``x @ W``, ``x[:, 1:]``, ``x.sum(axis=0)``.

They are attached to `Node` here, once, so the IR module does not depend on op definitions.
``==`` and ``!=`` are deliberately *not* overloaded: nodes are dict keys; use ``gd.equal``.
NumPy's functions on nodes (``np.sum(x)``) are in `graphdl.ops.numpy_interop`.
"""

from __future__ import annotations

from typing import Any

from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import indexing, linalg, numpy_interop, reductions, shape_ops, ufuncs


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": ew.add, "__radd__": _swap(ew.add),
    "__sub__": ew.subtract, "__rsub__": _swap(ew.subtract),
    "__mul__": ew.multiply, "__rmul__": _swap(ew.multiply),
    "__truediv__": ew.divide, "__rtruediv__": _swap(ew.divide),
    "__pow__": ew.power, "__rpow__": _swap(ew.power),
    "__mod__": ufuncs.mod, "__rmod__": _swap(ufuncs.mod),
    "__matmul__": linalg.matmul, "__rmatmul__": _swap(linalg.matmul),
    "__lt__": ew.less, "__le__": ew.less_equal, "__gt__": ew.greater, "__ge__": ew.greater_equal,
    "__and__": ew.logical_and, "__or__": ew.logical_or,
    "__neg__": ew.negative, "__abs__": ew.abs, "__invert__": ew.logical_not,
    "__getitem__": indexing.getitem,
}


def _pos(self: Node) -> Node:
    return self


def _method(fn):
    def method(self: Node, *args: Any, **kwargs: Any) -> Node:
        return fn(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _reshape_method(self: Node, *shape: Any) -> Node:
    target = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
    return shape_ops.reshape(self, target)


def _transpose_method(self: Node, *axes: Any) -> Node:
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = tuple(axes[0])
    return shape_ops.transpose(self, axes or None)


def install() -> None:
    for name, fn in _OPERATORS.items():
        setattr(Node, name, fn)
    Node.__pos__ = _pos
    # ``np.sum(node)``, ``np.exp(node)``, ``array * node``: graph nodes, not object arrays of
    # per-element nodes; iteration and len() along a static first axis
    numpy_interop.install()
    for fn in (reductions.sum, reductions.mean, reductions.max, reductions.min, reductions.prod,
               reductions.argmax, reductions.argmin, shape_ops.squeeze, ew.clip):
        setattr(Node, fn.__name__, _method(fn))
    Node.reshape = _reshape_method
    Node.transpose = _transpose_method
    Node.T = property(lambda self: shape_ops.transpose(self))
    Node.astype = _method(ew.cast)
    Node.size = property(lambda self: _static_size(self))


def _static_size(node: Node) -> int | None:
    from graphdl.ir.shapes import size_of

    return size_of(node.shape)


install()

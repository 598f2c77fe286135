"""NumPy's functions and ufuncs applied to nodes build graph nodes: ``np.sum(x, axis=0)``,
``np.exp(x)``, ``np.where(x > 0, x, 0)``, ``W @ x`` with ``W`` an array.

NumPy hands a call that involves a node to the node's ``__array_ufunc__`` (ufuncs: ``np.exp``,
``np.add``, ...) or ``__array_function__`` (everything else: ``np.sum``, ``np.concatenate``,
...). Both look the NumPy function up in a table of graphdl equivalents and call it; a function
graphdl has no op for, a ufunc method other than a plain call (``np.add.at``), and the NumPy-only
arguments (``out=``, ``dtype=``, ``where=``, ...) are a TypeError naming the NumPy function, never
an object array of per-element nodes or a silent wrong answer.

Iterating a node (``a, b = x``) unpacks it along its first axis when that size is static;
``len()`` is that size.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops import contractions, indexing, linalg, reductions, shape_ops
from graphdl.ops import elementwise as ew

UFUNCS: dict[np.ufunc, Callable[..., Node]] = {
    np.add: ew.add, np.subtract: ew.subtract, np.multiply: ew.multiply,
    np.true_divide: ew.divide, np.power: ew.power, np.float_power: ew.power,
    np.matmul: linalg.matmul, np.maximum: ew.maximum, np.minimum: ew.minimum,
    np.less: ew.less, np.less_equal: ew.less_equal, np.greater: ew.greater,
    np.greater_equal: ew.greater_equal, np.equal: ew.equal, np.not_equal: ew.not_equal,
    np.logical_and: ew.logical_and, np.logical_or: ew.logical_or,
    np.logical_not: ew.logical_not, np.negative: ew.negative, np.positive: lambda x: x,
    np.absolute: ew.abs, np.reciprocal: ew.reciprocal, np.exp: ew.exp, np.log: ew.log,
    np.log1p: ew.log1p, np.expm1: ew.expm1, np.sqrt: ew.sqrt, np.square: ew.square,
    np.sign: ew.sign, np.sin: ew.sin, np.cos: ew.cos, np.tan: ew.tan, np.tanh: ew.tanh,
    np.floor: ew.floor,
}

# ufunc.reduce(x, axis=...) as the matching reduction
REDUCERS: dict[np.ufunc, Callable[..., Node]] = {
    np.add: reductions.sum, np.multiply: reductions.prod, np.maximum: reductions.max,
    np.minimum: reductions.min,
}


def _reduction(fn: Callable[..., Node]) -> Callable[..., Node]:
    def call(a: Any, axis: Any = None, keepdims: bool = False) -> Node:
        return fn(a, axis=axis, keepdims=keepdims)

    return call


def _reshape(a: Any, newshape: Any = None, *, shape: Any = None) -> Node:
    return shape_ops.reshape(a, shape if shape is not None else newshape)


def _moveaxis(a: Any, source: int, destination: int) -> Node:
    node = a if isinstance(a, Node) else shape_ops.reshape(a, np.shape(a))
    order = [i for i in range(node.ndim) if i != source % node.ndim]
    order.insert(destination % node.ndim, source % node.ndim)
    return shape_ops.transpose(node, order)


def _swapaxes(a: Any, axis1: int, axis2: int) -> Node:
    node = a if isinstance(a, Node) else shape_ops.reshape(a, np.shape(a))
    order = list(range(node.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return shape_ops.transpose(node, order)


FUNCTIONS: dict[Callable[..., Any], Callable[..., Node]] = {
    np.sum: _reduction(reductions.sum), np.mean: _reduction(reductions.mean),
    np.max: _reduction(reductions.max), np.min: _reduction(reductions.min),
    np.amax: _reduction(reductions.max), np.amin: _reduction(reductions.min),
    np.prod: _reduction(reductions.prod),
    np.argmax: lambda a, axis=None, keepdims=False: reductions.argmax(a, axis, keepdims),
    np.argmin: lambda a, axis=None, keepdims=False: reductions.argmin(a, axis, keepdims),
    np.reshape: _reshape,
    np.transpose: lambda a, axes=None: shape_ops.transpose(a, axes),
    np.squeeze: lambda a, axis=None: shape_ops.squeeze(a, axis),
    np.expand_dims: shape_ops.expand_dims, np.broadcast_to: shape_ops.broadcast_to,
    np.concatenate: lambda arrays, axis=0: shape_ops.concatenate(arrays, axis),
    np.stack: lambda arrays, axis=0: shape_ops.stack(arrays, axis),
    np.moveaxis: _moveaxis, np.swapaxes: _swapaxes,
    np.where: ew.where, np.clip: ew.clip, np.dot: contractions.dot,
    np.take: lambda a, indices, axis=0: indexing.take(a, indices, axis),
    np.take_along_axis: indexing.take_along_axis,
}


def _refuse(name: str, why: str) -> TypeError:
    return TypeError(f"np.{name} on a graph node: {why}")


def array_ufunc(self: Node, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    name = ufunc.__name__
    if "out" in kwargs:
        raise _refuse(name, "out= is not supported (nodes are immutable; the result is a new "
                            "node)")
    if method == "reduce" and ufunc in REDUCERS:
        extra = set(kwargs) - {"axis", "keepdims"}
        if extra:
            raise _refuse(f"{name}.reduce", f"argument {sorted(extra)[0]}= is not supported")
        return REDUCERS[ufunc](inputs[0], axis=kwargs.get("axis", 0),
                               keepdims=kwargs.get("keepdims", False))
    if method != "__call__":
        raise _refuse(f"{name}.{method}", "graphdl builds only plain ufunc calls (and "
                                          "reduce of add, multiply, maximum, minimum)")
    # an elementwise op named as the ufunc (np.arctan -> arctan) is the same function
    fn = UFUNCS.get(ufunc) or getattr(ew, name, None)
    if not callable(fn) or isinstance(fn, type):
        raise _refuse(name, "graphdl has no such op (see docs/concepts/ops.md for the ops)")
    if kwargs:
        raise _refuse(name, f"argument {sorted(kwargs)[0]}= is not supported")
    return fn(*inputs)


def array_function(self: Node, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
    module = getattr(func, "__module__", "numpy") or "numpy"
    name = module.replace("numpy", "", 1).lstrip(".") + "." + getattr(func, "__name__", "?")
    name = name.lstrip(".")
    if "out" in kwargs:
        raise _refuse(name, "out= is not supported (nodes are immutable; the result is a new "
                            "node)")
    fn = FUNCTIONS.get(func)
    if fn is None:
        raise _refuse(name, "graphdl has no such op (see docs/concepts/ops.md for the ops)")
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:  # an argument the graphdl op does not take (dtype=, where=, ...)
        raise _refuse(name, f"unsupported arguments: {exc}") from None
    return fn(*args, **kwargs)


def node_len(self: Node) -> int:
    if self.ndim == 0:
        raise TypeError(f"len() of the 0-d graph node {self.label()}")
    if self.shape[0] is None:
        raise TypeError(f"len() of graph node {self.label()} ({self.type_str()}): its first size "
                        "is known only when the graph runs")
    return self.shape[0]


def node_iter(self: Node) -> Iterator[Node]:
    if self.ndim == 0:
        raise TypeError(f"cannot iterate over the 0-d graph node {self.label()}")
    if self.shape[0] is None:
        raise TypeError(
            f"cannot iterate over graph node {self.label()} ({self.type_str()}): its first size "
            "is known only when the graph runs; give the input a static size "
            "(gd.vector('x', shape=(2,))) or index it (x[0], x[1])")
    return (indexing.getitem(self, i) for i in range(self.shape[0]))


def install() -> None:
    Node.__array_ufunc__ = array_ufunc
    Node.__array_function__ = array_function
    Node.__len__ = node_len
    Node.__iter__ = node_iter

"""Leaves of a graph: symbolic inputs, constants and shared variables."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, InputError, ShapeError
from graphdl.ir.node import Node, SharedBox
from graphdl.ir.shapes import fmt_shape
from graphdl.ops.registry import Op


def _leaf_infer(inputs: Sequence[Node], attrs: dict[str, Any]):  # pragma: no cover - not called
    raise AssertionError("leaves are built directly, not through apply()")


def _no_emit(args: Sequence[str], attrs: dict[str, Any]) -> str:  # pragma: no cover
    raise AssertionError("inputs and shared variables are parameters of the compiled function")


INPUT = Op("input", _leaf_infer, _no_emit, doc="A value given at each call.")
SHARED = Op("shared", _leaf_infer, _no_emit, doc="State kept between calls (parameters).")
CONSTANT = Op("constant", _leaf_infer, "{value}", doc="A value fixed when the graph is built.")


def _check_shape(shape: Sequence[int | None] | None, what: str) -> tuple:
    if shape is None:
        raise ShapeError(f"{what}: a shape is required")
    dims = tuple(shape)
    for d in dims:
        if d is not None and (not isinstance(d, numbers.Integral) or d < 0):
            raise ShapeError(f"{what}: sizes must be non-negative ints or None, got {dims}")
    return tuple(None if d is None else int(d) for d in dims)


def _check_float_or_any(dtype: Any, what: str) -> np.dtype:
    try:
        found = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"{what}: {dtype!r} is not a dtype") from exc
    return _supported(found, what)


def _supported(dtype: np.dtype, what: str) -> np.dtype:
    """``dtype``, unless it is an extended-precision float (float96/float128): generated code
    writes typed scalars through Python numbers, which would round them, and numba has no such
    type, so they are refused where the leaf is declared."""
    if dtype.kind in "fc" and dtype.itemsize > (8 if dtype.kind == "f" else 16):
        raise DTypeError(f"{what}: dtype {dtype} (extended precision) is not supported; use "
                         "float64 or float32")
    return dtype


def tensor(name: str | None, shape: Sequence[int | None], dtype: Any = "float64") -> Node:
    """A symbolic input with a static ``shape`` (``None`` for sizes known only at call time)."""
    what = f"input {name!r}"
    return Node(INPUT, (), {}, _check_shape(shape, what), _check_float_or_any(dtype, what), name)


def scalar(name: str | None = None, dtype: Any = "float64") -> Node:
    """A 0-d input. Elementwise graphs over scalars also accept arrays (they vectorize)."""
    return tensor(name, (), dtype)


def vector(name: str | None = None, shape: Sequence[int | None] | int | None = (None,),
           dtype: Any = "float64") -> Node:
    """A 1-d input; ``shape`` may be ``(n,)``, ``n`` or ``(None,)``."""
    if shape is None or isinstance(shape, numbers.Integral):
        shape = (shape,)
    if len(shape) != 1:
        raise ShapeError(f"vector {name!r}: shape must have one size, got {tuple(shape)}")
    return tensor(name, shape, dtype)


def matrix(name: str | None = None, shape: Sequence[int | None] = (None, None),
           dtype: Any = "float64") -> Node:
    """A 2-d input, e.g. ``gd.matrix("X", shape=(None, 64))`` for a batch of 64 features."""
    if len(shape) != 2:
        raise ShapeError(f"matrix {name!r}: shape must have two sizes, got {tuple(shape)}")
    return tensor(name, shape, dtype)


_WEAK_DTYPES = {bool: np.dtype(bool), int: np.dtype("int64"), float: np.dtype("float64")}


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Node:
    """A constant. Python numbers stay *weak* (they take the dtype of what they meet, as in
    NumPy 2), so ``x32 * 2.0`` stays float32."""
    if isinstance(value, Node):
        raise TypeError("constant() takes a value, not a node")
    weak = dtype is None and isinstance(value, (bool, int, float)) and not isinstance(
        value, np.generic)
    if weak:
        kind = bool if isinstance(value, bool) else int if isinstance(value, int) else float
        value = kind(value)
        return Node(CONSTANT, (), {"value": value, "weak": True}, (), _WEAK_DTYPES[kind], name)
    array = np.array(value, dtype=dtype)
    if array.dtype == object:
        raise DTypeError(f"constant {name or ''}: cannot make a numeric array from {value!r}")
    _supported(array.dtype, f"constant {name or ''}".rstrip())
    array.setflags(write=False)
    stored: Any = array[()] if array.ndim == 0 else array
    return Node(CONSTANT, (), {"value": stored, "weak": False}, array.shape, array.dtype, name)


class SharedVariable(Node):
    """A graph leaf whose value persists between calls and changes through ``updates``."""

    __slots__ = ()

    @property
    def box(self) -> SharedBox:
        return self.attrs["box"]

    def get_value(self, copy: bool = True) -> np.ndarray:
        value = self.box.value
        return value.copy() if copy else value

    def set_value(self, value: Any) -> None:
        """Replace the value; shape and dtype must stay what the graph was built with."""
        array = np.asarray(value)
        if array.shape != self.shape:
            raise InputError(
                f"shared {self.label()}: expected shape {fmt_shape(self.shape)}, "
                f"received {fmt_shape(array.shape)}"
            )
        if array.dtype != self.dtype:
            if not np.can_cast(array.dtype, self.dtype, casting="same_kind"):
                raise InputError(
                    f"shared {self.label()}: expected dtype {self.dtype}, received {array.dtype}"
                )
            array = array.astype(self.dtype)
        self.box.value = np.array(array, copy=True)


def shared(value: Any, name: str | None = None, dtype: Any = None) -> SharedVariable:
    """A shared variable (a model parameter or optimizer state) holding a copy of ``value``."""
    array = np.array(value, dtype=dtype, copy=True)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise DTypeError(f"shared {name!r}: needs a numeric array, got dtype {array.dtype}")
    _supported(array.dtype, f"shared {name!r}")
    return SharedVariable(SHARED, (), {"box": SharedBox(array)}, array.shape, array.dtype, name)

"""The op registry: one `Op` object holds everything graphdl knows about an operation.

An op definition gives, side by side,
- ``infer(inputs, attrs) -> (shape, dtype)``: the static shape/dtype rule, run when a node is built,
  which raises ShapeError/DTypeError naming the op and operands for an impossible graph;
- ``emit(args, attrs) -> str``: the NumPy expression computing it (``args`` are variable names);
- ``jvp(node, tangents) -> Node | None``: forward-mode rule (tangents are nodes or None for zero);
- ``vjp(node, cotangent) -> list[Node | None]``: reverse-mode rule, one entry per input;
- ``inplace``: optionally, the same computation written into an existing buffer ``{out}``, and
  ``view``: whether the result may share memory with the first operand (both used by
  `graphdl.codegen.inplace` to reuse buffers safely); ``allocates``: whether the op makes a new
  array (the scheduler's memory model, `graphdl.rewriting.schedule`; defaults to ``not view``);
- ``sympy``: how the op reads in SymPy (a function ``(sympy_module, args, attrs) -> expr``);
  elementwise ops get one SymPy expression per operand, other ops get NumPy object arrays of
  SymPy expressions and return one (`graphdl.symbolic` does the broadcasting and the walking);
  ``sympy_conditions``: operands that stay SymPy Booleans (``where``'s condition);
- ``batch(node, inputs, batched) -> Node``: the batching rule used by `graphdl.autodiff.vmap`
  (``inputs`` are the node's operands in the batched graph, ``batched[i]`` says whether operand i
  carries a leading batch axis); it returns the node computing ``node`` for every batch entry at
  once, with a leading batch axis (or without one when the value cannot vary along the batch);
- ``dims``: how unknown sizes flow (`graphdl.codegen.dims`): an operand index whose sizes the
  result has, or a function ``(node, operand_sizes) -> sizes``;
- ``modules``: import paths of the modules its NumPy code names besides ``np`` (the special
  functions' ``scipy.special``, named ``special`` in the code; see `code_modules`);
- ``linear``: how the op is linear (`graphdl.rewriting.scaling`): ``"all"`` operands scaled
  together, any ``"one"`` operand, or only the ``"first"``;
- ``shape_only``: operands the op reads only for their run-time shape (``zeros_like``'s, the
  reference of ``broadcast_like``), which the optimizer may replace by any node of that shape;
- ``notation``: how traces and drawings write it (`graphdl.ops.notation.Notation`);
- ``kernel(values, attrs)``: optionally, the op computed from operand values with NumPy's
  protocols, for the few ops whose emitted code would not keep its meaning on array-likes such as
  dual numbers (`graphdl.ops.evaluate`, the one evaluator of single nodes).

Elementwise ops give ``partials(node) -> [d node / d input_i]`` instead of jvp/vjp: the chain rule,
broadcasting and symbolic zeros are then handled once, in `graphdl.ops.elementwise`. An op may
instead (or for one of the two rules) give ``decompose(node) -> Node``, the same value built from
``node.inputs`` with plain ops: the sweeps in `graphdl.autodiff` differentiate through it wherever
the op has no ``jvp`` or ``vjp`` of its own (the fused cross-entropy ops of `graphdl.ops.fused`).

An `Op` is frozen: everything about it is given in the one constructor call (family factories
such as `graphdl.ops.elementwise.elementwise_op` fill the formulaic fields), and assigning a field
afterwards raises ``dataclasses.FrozenInstanceError``.

Ops whose derivative is zero almost everywhere (comparisons, sign, argmax, casts to integers) set
``zero_derivative=True``; ops that cannot be differentiated set neither rule, and differentiating
through them raises an error naming the op.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphdl.errors import DifferentiationError
from graphdl.ir.node import Node, make_node
from graphdl.ir.origin import user_origin
from graphdl.ops.notation import Notation

REGISTRY: dict[str, Op] = {}

InferRule = Callable[[Sequence[Node], dict[str, Any]], tuple[tuple, np.dtype]]
EmitRule = Callable[[Sequence[str], dict[str, Any]], str]


@dataclass(frozen=True, eq=False)
class Op:
    name: str
    infer: InferRule
    emit: EmitRule | str
    jvp: Callable[..., Node | None] | None = None
    vjp: Callable[..., list[Node | None]] | None = None
    partials: Callable[[Node], list[Any]] | None = None
    sympy: Callable[..., Any] | None = None
    elementwise: bool = False
    commutative: bool = False  # the value does not depend on the operand order (CSE)
    zero_derivative: bool = False
    doc: str = ""
    inplace: str | None = None  # template writing the result into ``{out}`` (buffer reuse)
    view: bool = False  # the result may share memory with the first operand
    allocates: bool | None = None  # makes a new array (memory model); None: ``not view``
    batch: Callable[..., Node] | None = None  # batching rule (vmap); see the module docstring
    decompose: Callable[[Node], Node] | None = None  # the value as plain ops, for derivatives
    dims: int | Callable[..., tuple] | None = None  # how unknown sizes flow (codegen.dims)
    linear: str | None = None  # "all", "one" or "first" (rewriting.scaling)
    sympy_conditions: tuple[int, ...] = ()  # operands read as SymPy Booleans
    modules: tuple[str, ...] = ()  # modules its NumPy code names besides np ("scipy.special")
    notation: Notation | None = None  # how traces and drawings write it (graphdl.ops.notation)
    kernel: Callable[[list, dict[str, Any]], Any] | None = None  # see graphdl.ops.evaluate
    shape_only: tuple[int, ...] = ()  # operands read only for their run-time shape

    def __post_init__(self) -> None:
        if self.allocates is None:
            object.__setattr__(self, "allocates", not self.view)  # frozen: the one derived field
        if self.linear not in (None, "all", "one", "first"):
            raise ValueError(f"op {self.name!r}: linear must be 'all', 'one' or 'first', "
                             f"got {self.linear!r}")
        if self.name in REGISTRY:
            raise ValueError(f"op {self.name!r} is defined twice")
        REGISTRY[self.name] = self

    def emit_expr(self, args: Sequence[str], attrs: dict[str, Any]) -> str:
        if isinstance(self.emit, str):
            return self.emit.format(*args, **{k: repr(v) for k, v in attrs.items()})
        return self.emit(args, attrs)

    def emit_into(self, args: Sequence[str], out: str) -> str:
        """The expression that computes the result into the existing array ``out``."""
        return self.inplace.format(*args, out=out)

    @property
    def differentiable(self) -> bool:
        return (self.zero_derivative or self.vjp is not None or self.partials is not None
                or self.decompose is not None)

    def plain_form(self, node: Node) -> Node:
        """``node``'s value built from plain ops (`decompose`), which both sweeps differentiate
        when the op has no rule of its own; an op with neither cannot be differentiated."""
        if self.decompose is None:
            raise DifferentiationError(
                f"cannot differentiate through {self.name} node {node.label()} (created at "
                f"{node.origin}): the op has no derivative rule")
        return self.decompose(node)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def apply(op: Op, *inputs: Any, name: str | None = None, **attrs: Any) -> Node:
    """Build a node of ``op`` over ``inputs`` (lifting numbers and arrays to constants)."""
    nodes = inputs  # already a tuple; most operands are nodes, so nothing to lift
    for x in inputs:
        if not isinstance(x, Node):
            nodes = tuple([as_node(v) for v in inputs])
            break
    if op.elementwise and not attrs:
        key = (op, *[(n.shape, n.dtype, _weak_value(n)) for n in nodes])
        found = _ELEMENTWISE_TYPES.get(key)
        if found is None:
            found = op.infer(nodes, attrs)
            if len(_ELEMENTWISE_TYPES) >= _ELEMENTWISE_TYPES_LIMIT:
                _ELEMENTWISE_TYPES.clear()
            _ELEMENTWISE_TYPES[key] = found
        shape, dtype = found
    else:
        shape, dtype = op.infer(nodes, attrs)
    # ``attrs`` is this call's own keyword dict, so the node may keep it without a copy.
    return make_node(Node, op, nodes, attrs, shape if type(shape) is tuple else tuple(shape),
                     dtype if isinstance(dtype, np.dtype) else np.dtype(dtype), name,
                     user_origin(2))


# The static type of an elementwise node without attributes follows from its operands' shapes
# and dtypes alone, plus, for a weak Python-number constant, its type and value (which steer
# promotion), so it is inferred once per combination: most of a 10^5-node graph repeats a few.
_ELEMENTWISE_TYPES: dict[tuple, tuple[tuple, np.dtype]] = {}
_ELEMENTWISE_TYPES_LIMIT = 1 << 12


def _weak_value(node: Node) -> tuple[type, Any] | None:
    if node.inputs or node.op.name != "constant" or not node.attrs.get("weak"):
        return None
    value = node.attrs["value"]
    return (type(value), value)


def code_modules(op: Op) -> dict[str, Any]:
    """The modules ``op``'s NumPy code names besides ``np``, under the name the code uses (the
    last part of the import path: ``scipy.special`` is ``special``), imported on first use."""
    return {path.rpartition(".")[2]: importlib.import_module(path) for path in op.modules}


def as_node(value: Any) -> Node:
    """A node for ``value``: nodes pass through, numbers and arrays become constants."""
    if isinstance(value, Node):
        return value
    from graphdl.ops.leaves import constant

    return constant(value)


"""ONNX export: a graphdl graph as a standard ONNX model (opset 18), runnable in ONNX Runtime.

``to_onnx(inputs, outputs, "model.onnx")`` writes the graph as it was built (``optimize=True``
runs graphdl's optimizer first). Graph inputs become ONNX inputs, with a symbolic dimension for
each size unknown at build time (``None``); shared variables become initializers holding their
current values; constants become initializers too. Each output is named after its node when that
name is a plain identifier (``loss``), else ``output_<k>``.

How each op is written in ONNX is backend code kept here, registered against the `Op` objects
(`lowers`), not in the op definitions: a rule receives the exporting `_Context` and the node and
returns the ONNX value name of the node's result. ``ONNX_RULES`` is the coverage; an op without a
rule is refused naming the op and the node. Most ops map to one ONNX operator; the rest are short
decompositions into standard operators:

- ``log1p(x)``/``expm1(x)`` become ``Log(1 + x)``/``Exp(x) - 1`` (ONNX has neither): exact away
  from 0, they lose relative precision for ``|x|`` below about 1e-8;
- ``softplus`` is ``Relu(x) + Log(1 + Exp(-|x|))`` (stable for large ``|x|``);
- adjoints of indexing (``index_adjoint``, ``take_adjoint``, ``take_along_adjoint``) scatter
  into zeros with ``ScatterElements`` (``reduction="add"`` where indices may repeat);
- an op without a rule here that declares its plain-op form (``Op.decompose``: the fused
  cross-entropy ops the optimizer introduces, ``softmax_xent``, ``xent_rows`` and their
  gradients) is exported as that form.

onnx is imported when a graph is exported, never when graphdl is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphdl.errors import ExportError
from graphdl.ir.node import Node
from graphdl.ir.walk import toposort
from graphdl.ops import elementwise as ew
from graphdl.ops import indexing, leaves, linalg, reductions, shape_ops, softmax
from graphdl.ops.registry import Op, as_node
from graphdl.rewriting import optimize as run_optimizer

OPSET = 18
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

Rule = Callable[["_Context", Node], str]
ONNX_RULES: dict[Op, Rule] = {}


def lowers(*ops: Op) -> Callable[[Rule], Rule]:
    """Register ``rule`` as the ONNX lowering of each of ``ops``."""

    def register(rule: Rule) -> Rule:
        for op in ops:
            ONNX_RULES[op] = rule
        return rule

    return register


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ExportError("ONNX export needs the onnx package: pip install 'graphdl[onnx]'"
                          ) from exc
    return onnx


def _is_identifier(name: str | None) -> bool:
    return bool(name) and name.isidentifier() and name.isascii()


# --- the exporting context -------------------------------------------------------------------
class _Context:
    """ONNX nodes and initializers being collected, and the value name of each graph node."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: dict[Node, str] = {}  # graph node -> ONNX value name of its result
        self.casts: dict[tuple[str, str], str] = {}
        self.constants: dict[tuple, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def fresh(self, hint: str) -> str:
        while True:
            self.counter += 1
            name = f"{hint}_{self.counter}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def add(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        out = self.fresh(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def initializer(self, name: str, array: np.ndarray) -> None:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))

    def const(self, value: Any, dtype: Any = None) -> str:
        """An initializer holding ``value`` (cached per value, dtype and shape)."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        name = self.constants.get(key)
        if name is None:
            name = self.fresh("const")
            self.initializer(name, array)
            self.constants[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.array(list(values), dtype=np.int64))

    def value(self, node: Node, dtype: Any = None) -> str:
        """The ONNX name of ``node``'s value, in ``dtype`` when given (a cast, or a constant of
        that dtype: a weak Python number takes the dtype of what it meets)."""
        dtype = node.dtype if dtype is None else np.dtype(dtype)
        if node.op is leaves.CONSTANT:
            return self.const(node.attrs["value"], dtype)
        name = self.lower(node)
        if dtype == node.dtype:
            return name
        key = (name, dtype.str)
        if key not in self.casts:
            self.casts[key] = self.add("Cast", [name], to=_tensor_type(self.onnx, dtype))
        return self.casts[key]

    def value_cast(self, name: str, have: Any, want: Any) -> str:
        """The ONNX value ``name`` (of dtype ``have``) as dtype ``want``."""
        if np.dtype(have) == np.dtype(want):
            return name
        return self.add("Cast", [name], to=_tensor_type(self.onnx, want))

    def lower(self, node: Node) -> str:
        name = self.names.get(node)
        if name is None:  # an input, a shared variable or an earlier node always has a name
            rule = ONNX_RULES.get(node.op)
            if rule is None and node.op.decompose is not None:
                rule = _through_decomposition
            if rule is None:
                raise ExportError(f"to_onnx: cannot export {node.op.name} node {node.label()} "
                                  f"(created at {node.origin}) to ONNX: ONNX has no such op "
                                  "and graphdl has no lowering for it")
            name = rule(self, node)
            self.names[node] = name
        return name

    # shapes at run time
    def shape(self, node: Node) -> str:
        """The shape of ``node`` as a 1-d int64 value (a constant when known statically)."""
        if None not in node.shape:
            return self.ints(node.shape)
        return self.add("Shape", [self.value(node)])

    def dim(self, node: Node, axis: int) -> str:
        """``node.shape[axis]`` as a 1-element int64 value."""
        if node.shape[axis] is not None:
            return self.ints([node.shape[axis]])
        return self.add("Shape", [self.value(node)], start=axis, end=axis + 1)


def _through_decomposition(ctx: _Context, node: Node) -> str:
    """An op without a rule of its own that declares its plain-op form (``Op.decompose``, e.g.
    the fused cross-entropy ops) is exported as that form."""
    return ctx.value(node.op.decompose(node), node.dtype)


def _tensor_type(onnx: Any, dtype: np.dtype) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _common(nodes: Sequence[Node]) -> np.dtype:
    """The dtype NumPy computes in for these operands (weak Python numbers steer it as NEP 50)."""
    parts = [n.attrs["value"] if n.op is leaves.CONSTANT and n.attrs.get("weak") else n.dtype
             for n in nodes]
    if all(not isinstance(p, np.dtype) for p in parts):
        return np.result_type(*[np.asarray(p) for p in parts])
    return np.result_type(*parts)


# --- elementwise -----------------------------------------------------------------------------
def _same(onnx_op: str) -> Rule:
    """An ONNX operator over the operands cast to the node's dtype."""

    def rule(ctx: _Context, node: Node) -> str:
        return ctx.add(onnx_op, [ctx.value(x, node.dtype) for x in node.inputs])

    return rule


def _compare(onnx_op: str) -> Rule:
    def rule(ctx: _Context, node: Node) -> str:
        dtype = _common(node.inputs)
        return ctx.add(onnx_op, [ctx.value(x, dtype) for x in node.inputs])

    return rule


for _op, _name in [(ew.ADD, "Add"), (ew.SUBTRACT, "Sub"), (ew.MULTIPLY, "Mul"),
                   (ew.DIVIDE, "Div"), (ew.POWER, "Pow"), (ew.MAXIMUM, "Max"),
                   (ew.MINIMUM, "Min"), (ew.LOGICAL_AND, "And"), (ew.LOGICAL_OR, "Or"),
                   (ew.LOGICAL_NOT, "Not"), (ew.NEGATIVE, "Neg"), (ew.RECIPROCAL, "Reciprocal"),
                   (ew.EXP, "Exp"), (ew.LOG, "Log"), (ew.SQRT, "Sqrt"), (ew.ABS, "Abs"),
                   (ew.SIGN, "Sign"), (ew.SIN, "Sin"), (ew.COS, "Cos"),
                   (ew.TANH, "Tanh"), (ew.SIGMOID, "Sigmoid"), (ew.FLOOR, "Floor"),
                   (ew.STOP_GRADIENT, "Identity")]:
    lowers(_op)(_same(_name))

for _op, _name in [(ew.LESS, "Less"), (ew.LESS_EQUAL, "LessOrEqual"), (ew.GREATER, "Greater"),
                   (ew.GREATER_EQUAL, "GreaterOrEqual"), (ew.EQUAL, "Equal")]:
    lowers(_op)(_compare(_name))


@lowers(ew.NOT_EQUAL)
def _not_equal(ctx: _Context, node: Node) -> str:
    return ctx.add("Not", [_compare("Equal")(ctx, node)])


@lowers(ew.CAST)
def _cast(ctx: _Context, node: Node) -> str:
    return ctx.add("Cast", [ctx.value(node.inputs[0])], to=_tensor_type(ctx.onnx, node.dtype))


@lowers(ew.TAN)
def _tan(ctx: _Context, node: Node) -> str:  # ONNX Runtime has Tan for float32 only
    x = ctx.value(node.inputs[0], node.dtype)
    return ctx.add("Div", [ctx.add("Sin", [x]), ctx.add("Cos", [x])])


@lowers(linalg.MATMUL)
def _matmul(ctx: _Context, node: Node) -> str:
    """NumPy's matmul, with a 1-d operand made 2-d explicitly (then the added axis dropped):
    ONNX Runtime 1.32's Transpose+MatMul fusion computes ``x.T @ vector`` wrongly."""
    a, b = node.inputs
    left, right = ctx.value(a, node.dtype), ctx.value(b, node.dtype)
    drop = []
    if a.ndim == 1:
        left = ctx.add("Unsqueeze", [left, ctx.ints([0])])
        drop.append(-2)
    if b.ndim == 1:
        right = ctx.add("Unsqueeze", [right, ctx.ints([1])])
        drop.append(-1)
    out = ctx.add("MatMul", [left, right])
    return ctx.add("Squeeze", [out, ctx.ints(drop)]) if drop else out


@lowers(ew.SQUARE)
def _square(ctx: _Context, node: Node) -> str:
    x = ctx.value(node.inputs[0], node.dtype)
    return ctx.add("Mul", [x, x])


@lowers(ew.LOG1P)
def _log1p(ctx: _Context, node: Node) -> str:
    x = ctx.value(node.inputs[0], node.dtype)
    return ctx.add("Log", [ctx.add("Add", [x, ctx.const(1, node.dtype)])])


@lowers(ew.EXPM1)
def _expm1(ctx: _Context, node: Node) -> str:
    x = ctx.value(node.inputs[0], node.dtype)
    return ctx.add("Sub", [ctx.add("Exp", [x]), ctx.const(1, node.dtype)])


@lowers(ew.SOFTPLUS)
def _softplus(ctx: _Context, node: Node) -> str:
    x = ctx.value(node.inputs[0], node.dtype)
    tail = ctx.add("Exp", [ctx.add("Neg", [ctx.add("Abs", [x])])])
    return ctx.add("Add", [ctx.add("Relu", [x]),
                           ctx.add("Log", [ctx.add("Add", [tail, ctx.const(1, node.dtype)])])])


@lowers(ew.RELU)
def _relu(ctx: _Context, node: Node) -> str:
    return ctx.add("Max", [ctx.value(node.inputs[0], node.dtype), ctx.const(0, node.dtype)])


@lowers(ew.WHERE)
def _where(ctx: _Context, node: Node) -> str:
    c, a, b = node.inputs
    return ctx.add("Where", [ctx.value(c, bool), ctx.value(a, node.dtype),
                             ctx.value(b, node.dtype)])


@lowers(ew.CLIP)
def _clip(ctx: _Context, node: Node) -> str:  # np.clip with array bounds: min(max(a, lo), hi)
    a, lo, hi = (ctx.value(x, node.dtype) for x in node.inputs)
    return ctx.add("Min", [ctx.add("Max", [a, lo]), hi])


# --- reductions ------------------------------------------------------------------------------
def _axes(node: Node, x: Node) -> list[int]:
    axis = node.attrs.get("axis")
    return list(range(x.ndim)) if axis is None else [int(a) % max(x.ndim, 1) for a in axis]


def _reduce(onnx_op: str, cast_first: bool) -> Rule:
    def rule(ctx: _Context, node: Node) -> str:
        x = node.inputs[0]
        axes = _axes(node, x)
        src = ctx.value(x, node.dtype if cast_first else None)
        if not axes:
            return ctx.add("Identity", [src])
        out = ctx.add(onnx_op, [src, ctx.ints(axes)],
                      keepdims=int(bool(node.attrs.get("keepdims"))))
        return out if cast_first else ctx.value_cast(out, x.dtype, node.dtype)

    return rule


lowers(reductions.SUM)(_reduce("ReduceSum", True))
lowers(reductions.MEAN)(_reduce("ReduceMean", True))
lowers(reductions.PROD)(_reduce("ReduceProd", True))
lowers(reductions.MAX)(_reduce("ReduceMax", False))
lowers(reductions.MIN)(_reduce("ReduceMin", False))


@lowers(reductions.ARGMAX, reductions.ARGMIN)
def _arg(ctx: _Context, node: Node) -> str:
    x = node.inputs[0]
    onnx_op = "ArgMax" if node.op is reductions.ARGMAX else "ArgMin"
    keep = int(bool(node.attrs.get("keepdims")))
    src = ctx.value(x)
    if node.attrs.get("axis") is None:  # over the flattened array, as NumPy
        flat = ctx.add("Reshape", [src, ctx.ints([-1])])
        out = ctx.add(onnx_op, [flat], axis=0, keepdims=0)
        if keep:
            out = ctx.add("Reshape", [out, ctx.ints([1] * x.ndim)])
        return ctx.value_cast(out, np.int64, node.dtype)
    (axis,) = node.attrs["axis"]
    out = ctx.add(onnx_op, [src], axis=int(axis), keepdims=keep, select_last_index=0)
    return ctx.value_cast(out, np.int64, node.dtype)


@lowers(reductions.AXIS_SIZE)
def _axis_size(ctx: _Context, node: Node) -> str:
    x = node.inputs[0]
    axes = list(node.attrs["axis"])
    if not axes:
        return ctx.const(1, node.dtype)
    sizes = [ctx.dim(x, a) for a in axes]
    joined = sizes[0] if len(sizes) == 1 else ctx.add("Concat", sizes, axis=0)
    total = ctx.add("ReduceProd", [joined], keepdims=0)
    return ctx.value_cast(total, np.int64, node.dtype)


@lowers(reductions.SUM_TO)
def _sum_to(ctx: _Context, node: Node) -> str:
    x, like = node.inputs
    src = ctx.value(x, node.dtype)
    lead = x.ndim - like.ndim
    axes: list[int] | None = list(range(lead))
    for i, d in enumerate(like.shape):
        have = x.shape[lead + i]
        if d == 1 and have != 1:
            if have is None:
                axes = None  # a size known only at run time: decide at run time
                break
            axes.append(lead + i)
        elif d is None and have != 1:
            axes = None
            break
    if axes is not None:
        out = ctx.add("ReduceSum", [src, ctx.ints(axes)], keepdims=1) if axes else src
        return ctx.add("Reshape", [out, ctx.shape(like)], allowzero=1)
    # At run time: reduce the leading axes and every axis where ``like`` has 1 and x has not.
    have = ctx.shape(x)
    want = ctx.shape(like)
    if lead:
        want = ctx.add("Concat", [ctx.ints([1] * lead), want], axis=0)
    one = ctx.ints([1])
    mask = ctx.add("And", [ctx.add("Equal", [want, one]),
                           ctx.add("Not", [ctx.add("Equal", [have, one])])])
    axes_value = ctx.add("Reshape", [ctx.add("NonZero", [mask]), ctx.ints([-1])])
    out = ctx.add("ReduceSum", [src, axes_value], keepdims=1, noop_with_empty_axes=1)
    return ctx.add("Reshape", [out, ctx.shape(like)], allowzero=1)


# --- shapes ----------------------------------------------------------------------------------
@lowers(shape_ops.RESHAPE)
def _reshape(ctx: _Context, node: Node) -> str:
    return ctx.add("Reshape", [ctx.value(node.inputs[0]), ctx.ints(node.attrs["shape"])],
                   allowzero=1)


@lowers(shape_ops.RESHAPE_LIKE)
def _reshape_like(ctx: _Context, node: Node) -> str:
    return ctx.add("Reshape", [ctx.value(node.inputs[0]), ctx.shape(node.inputs[1])],
                   allowzero=1)


@lowers(shape_ops.TRANSPOSE)
def _transpose(ctx: _Context, node: Node) -> str:
    return ctx.add("Transpose", [ctx.value(node.inputs[0])],
                   perm=[int(a) for a in node.attrs["axes"]])


@lowers(shape_ops.EXPAND_DIMS)
def _expand_dims(ctx: _Context, node: Node) -> str:
    return ctx.add("Unsqueeze", [ctx.value(node.inputs[0]), ctx.ints(node.attrs["axis"])])


@lowers(shape_ops.SQUEEZE)
def _squeeze(ctx: _Context, node: Node) -> str:
    axes = node.attrs["axis"]
    src = ctx.value(node.inputs[0])
    return ctx.add("Squeeze", [src, ctx.ints(axes)]) if axes else ctx.add("Identity", [src])


@lowers(shape_ops.BROADCAST_TO)
def _broadcast_to(ctx: _Context, node: Node) -> str:
    shape = node.attrs["shape"]
    if None in shape:  # pragma: no cover - broadcast_to takes sizes
        raise ExportError(f"to_onnx: broadcast_to node {node.label()} has unknown sizes")
    return ctx.add("Expand", [ctx.value(node.inputs[0]), ctx.ints(shape)])


@lowers(shape_ops.BROADCAST_LIKE)
def _broadcast_like(ctx: _Context, node: Node) -> str:
    return ctx.add("Expand", [ctx.value(node.inputs[0]), ctx.shape(node.inputs[1])])


@lowers(shape_ops.CONCATENATE)
def _concatenate(ctx: _Context, node: Node) -> str:
    return ctx.add("Concat", [ctx.value(x, node.dtype) for x in node.inputs],
                   axis=int(node.attrs["axis"]))


@lowers(shape_ops.CONCAT_PIECE)
def _concat_piece(ctx: _Context, node: Node) -> str:
    g, parts = node.inputs[0], node.inputs[1:]
    axis, index = int(node.attrs["axis"]), int(node.attrs["index"])
    sizes = [p.shape[axis] for p in parts[:index + 1]]
    if None not in sizes:
        start, stop = ctx.ints([sum(sizes[:-1])]), ctx.ints([sum(sizes)])
    else:
        start = ctx.ints([0])
        for p in parts[:index]:
            start = ctx.add("Add", [start, ctx.dim(p, axis)])
        stop = ctx.add("Add", [start, ctx.dim(parts[index], axis)])
    return ctx.add("Slice", [ctx.value(g, node.dtype), start, stop, ctx.ints([axis])])


@lowers(shape_ops.ZEROS_LIKE)
def _zeros_like(ctx: _Context, node: Node) -> str:
    zero = ctx.onnx.numpy_helper.from_array(np.zeros(1, dtype=node.dtype))
    return ctx.add("ConstantOfShape", [ctx.shape(node.inputs[0])], value=zero)


# --- indexing --------------------------------------------------------------------------------
def _basic_index(ctx: _Context, src: str, ndim: int, index: Sequence[Any]) -> str:
    """``src[index]`` for a stored basic index (ints, ``("slice", ...)``, ``"newaxis"``)."""
    starts, ends, axes, steps, drop, new = [], [], [], [], [], []
    axis = out_pos = 0
    for entry in index:
        if entry == "newaxis":
            new.append(out_pos)
            out_pos += 1
            continue
        if isinstance(entry, tuple):
            _, start, stop, step = entry
            step = 1 if step is None else int(step)
            if start is None:
                start = 0 if step > 0 else INT64_MAX
            if stop is None:
                stop = INT64_MAX if step > 0 else INT64_MIN
            if (start, stop, step) != (0, INT64_MAX, 1):
                starts.append(int(start))
                ends.append(int(stop))
                axes.append(axis)
                steps.append(step)
            out_pos += 1
        else:
            i = int(entry)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            drop.append(axis)
        axis += 1
    out = src
    if axes:
        out = ctx.add("Slice", [out, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes),
                                ctx.ints(steps)])
    if drop:
        out = ctx.add("Squeeze", [out, ctx.ints(drop)])
    if new:
        out = ctx.add("Unsqueeze", [out, ctx.ints(new)])
    if out == src:
        out = ctx.add("Identity", [src])
    return out


@lowers(indexing.GETITEM)
def _getitem(ctx: _Context, node: Node) -> str:
    x = node.inputs[0]
    return _basic_index(ctx, ctx.value(x), x.ndim, node.attrs["index"])


def _positions(ctx: _Context, like: Node) -> str:
    """0, 1, 2, ... shaped like ``like``: the flat position of each of its elements."""
    shape = ctx.shape(like)
    count = ctx.add("ReduceProd", [shape], keepdims=0)
    flat = ctx.add("Range", [ctx.const(0, np.int64), count, ctx.const(1, np.int64)])
    return ctx.add("Reshape", [flat, shape], allowzero=1)


def _scatter_flat(ctx: _Context, node: Node, g: str, where: str, like: Node,
                  accumulate: bool) -> str:
    """Zeros shaped like ``like`` with ``g`` added at flat positions ``where`` (same shape)."""
    zeros = ctx.add("ConstantOfShape", [ctx.add("ReduceProd", [ctx.shape(like)], keepdims=1)],
                    value=ctx.onnx.numpy_helper.from_array(np.zeros(1, dtype=node.dtype)))
    flat_where = ctx.add("Reshape", [where, ctx.ints([-1])])
    flat_g = ctx.add("Reshape", [g, ctx.ints([-1])])
    extra = {"reduction": "add"} if accumulate else {}
    out = ctx.add("ScatterElements", [zeros, flat_where, flat_g], axis=0, **extra)
    return ctx.add("Reshape", [out, ctx.shape(like)], allowzero=1)


@lowers(indexing.INDEX_ADJOINT)
def _index_adjoint(ctx: _Context, node: Node) -> str:
    g, like = node.inputs
    where = _basic_index(ctx, _positions(ctx, like), like.ndim, node.attrs["index"])
    return _scatter_flat(ctx, node, ctx.value(g, node.dtype), where, like, accumulate=False)


@lowers(indexing.TAKE)
def _take(ctx: _Context, node: Node) -> str:
    x, idx = node.inputs
    return ctx.add("Gather", [ctx.value(x), ctx.value(idx, np.int64)],
                   axis=int(node.attrs["axis"]))


@lowers(indexing.TAKE_ADJOINT)
def _take_adjoint(ctx: _Context, node: Node) -> str:
    g, like, idx = node.inputs
    axis = int(node.attrs["axis"])
    where = ctx.add("Gather", [_positions(ctx, like), ctx.value(idx, np.int64)], axis=axis)
    return _scatter_flat(ctx, node, ctx.value(g, node.dtype), where, like, accumulate=True)


def _with_dim(ctx: _Context, node: Node, axis: int, size: str) -> str:
    """``node``'s shape with the entry at ``axis`` replaced by the 1-element value ``size``."""
    shape = ctx.shape(node)
    parts = []
    if axis > 0:
        parts.append(ctx.add("Slice", [shape, ctx.ints([0]), ctx.ints([axis])]))
    parts.append(size)
    if axis < node.ndim - 1:
        parts.append(ctx.add("Slice", [shape, ctx.ints([axis + 1]), ctx.ints([node.ndim])]))
    return parts[0] if len(parts) == 1 else ctx.add("Concat", parts, axis=0)


def _aligned(ctx: _Context, x: Node, idx: Node, axis: int) -> tuple[str, str]:
    """``x`` and ``idx`` broadcast against each other along every axis but ``axis``
    (``np.take_along_axis`` broadcasts; ONNX's GatherElements does not)."""
    xs, ids = ctx.value(x), ctx.value(idx, np.int64)
    same = all(a == b and a is not None for k, (a, b) in enumerate(zip(x.shape, idx.shape))
               if k != axis)
    if same:
        return xs, ids
    one = ctx.ints([1])
    ids = ctx.add("Expand", [ids, _with_dim(ctx, x, axis, one)])
    xs = ctx.add("Expand", [xs, _with_dim(ctx, idx, axis, one)])
    return xs, ids


@lowers(indexing.TAKE_ALONG_AXIS)
def _take_along_axis(ctx: _Context, node: Node) -> str:
    x, idx = node.inputs
    axis = int(node.attrs["axis"])
    xs, ids = _aligned(ctx, x, idx, axis)
    return ctx.add("GatherElements", [xs, _wrap(ctx, ids, ctx.dim(x, axis))], axis=axis)


def _wrap(ctx: _Context, ids: str, size: str) -> str:
    """Negative indices counted from the end, as NumPy (explicitly: every runtime agrees)."""
    negative = ctx.add("Less", [ids, ctx.const(0, np.int64)])
    return ctx.add("Where", [negative, ctx.add("Add", [ids, size]), ids])


@lowers(indexing.TAKE_ALONG_ADJOINT)
def _take_along_adjoint(ctx: _Context, node: Node) -> str:
    g, like, idx = node.inputs
    axis = int(node.attrs["axis"])
    pos = _positions(ctx, like)
    ids = ctx.value(idx, np.int64)
    # broadcast idx over like's other axes, and g to the picked shape
    ids = ctx.add("Expand", [ids, _with_dim(ctx, like, axis, ctx.ints([1]))])
    ids = _wrap(ctx, ids, ctx.dim(like, axis))
    where = ctx.add("GatherElements", [pos, ids], axis=axis)
    picked = ctx.add("Shape", [ids])
    gs = ctx.add("Expand", [ctx.value(g, node.dtype), picked])
    return _scatter_flat(ctx, node, gs, where, like, accumulate=True)


@lowers(indexing.ONE_HOT)
def _one_hot(ctx: _Context, node: Node) -> str:  # i[..., None] == arange(depth): -1 matches none
    idx = ctx.value(node.inputs[0], np.int64)
    depth = int(node.attrs["depth"])
    hit = ctx.add("Equal", [ctx.add("Unsqueeze", [idx, ctx.ints([-1])]),
                            ctx.const(np.arange(depth, dtype=np.int64))])
    return ctx.add("Cast", [hit], to=_tensor_type(ctx.onnx, node.dtype))


# --- softmax family --------------------------------------------------------------------------
@lowers(softmax.SOFTMAX)
def _softmax(ctx: _Context, node: Node) -> str:
    return ctx.add("Softmax", [ctx.value(node.inputs[0])], axis=int(node.attrs["axis"]))


@lowers(softmax.LOG_SOFTMAX)
def _log_softmax(ctx: _Context, node: Node) -> str:
    return ctx.add("LogSoftmax", [ctx.value(node.inputs[0])], axis=int(node.attrs["axis"]))


@lowers(softmax.LOGSUMEXP)
def _logsumexp(ctx: _Context, node: Node) -> str:  # max-shifted, as graphdl computes it
    x = node.inputs[0]
    axes = ctx.ints(_axes(node, x))
    src = ctx.value(x)
    top = ctx.add("ReduceMax", [src, axes], keepdims=1)
    finite = ctx.add("Where", [ctx.add("IsInf", [top]), ctx.const(0, x.dtype), top])
    total = ctx.add("ReduceSum", [ctx.add("Exp", [ctx.add("Sub", [src, finite])]), axes],
                    keepdims=1)
    out = ctx.add("Add", [ctx.add("Log", [total]), finite])
    if not node.attrs.get("keepdims"):
        out = ctx.add("Squeeze", [out, axes])
    return out


# --- the model -------------------------------------------------------------------------------
def _unique(name: str | None, fallback: str, taken: set[str]) -> str:
    if _is_identifier(name) and name not in taken:
        taken.add(name)
        return name
    k = 0
    while f"{fallback}_{k}" in taken:
        k += 1
    taken.add(f"{fallback}_{k}")
    return f"{fallback}_{k}"


def _value_info(onnx: Any, name: str, node: Node, dims: Sequence[Any]) -> Any:
    return onnx.helper.make_tensor_value_info(name, _tensor_type(onnx, node.dtype), list(dims))


def to_onnx(inputs: Sequence[Node], outputs: Node | Sequence[Any],
            path: str | os.PathLike | None = None, *, optimize: bool = False,
            output_names: Sequence[str | None] | None = None, name: str = "graphdl",
            opset: int = OPSET) -> Any:
    """The graph computing ``outputs`` from ``inputs`` as an ONNX model (``onnx.ModelProto``),
    written to ``path`` when given.

    ``output_names`` overrides the outputs' node names (``None`` entries keep them); a name that
    is not a plain identifier, or is taken, falls back to ``output_<k>``. The graph is exported as
    written; ``optimize=True`` runs graphdl's optimizer first (its fused
    ops are exported as the plain ops they stand for). Shared variables become initializers with
    their current values; sizes unknown at build time become symbolic dimensions. An op that has
    no ONNX form raises `graphdl.errors.ExportError` naming the op and the node.
    """
    onnx = _onnx()
    if opset < 17:
        raise ExportError(f"to_onnx: opset {opset} is too old (graphdl writes opset 17 or newer)")
    outs = [outputs] if isinstance(outputs, Node) else [as_node(o) for o in outputs]
    labels = [o.name for o in outs] if output_names is None else list(output_names)
    if len(labels) != len(outs):
        raise ExportError(f"to_onnx: {len(labels)} output names for {len(outs)} outputs")
    labels = [label if label is not None else o.name for label, o in zip(labels, outs)]
    inputs = list(inputs)
    for x in inputs:
        if not isinstance(x, Node) or x.op is not leaves.INPUT:
            raise ExportError(f"to_onnx: {x!r} is not a graph input (gd.tensor, gd.matrix, ...)")
    if optimize:
        optimized, _ = run_optimizer(list(outs))
        outs = list(optimized)
    ctx = _Context(onnx)
    taken: set[str] = set()
    graph_inputs = []
    for x in inputs:
        label = _unique(x.name, "input", taken)
        ctx.names[x] = label
        dims = [d if d is not None else f"{label}_dim{i}" for i, d in enumerate(x.shape)]
        graph_inputs.append(_value_info(onnx, label, x, dims))
    order = toposort(outs)
    for node in order:
        if node.op is leaves.INPUT and node not in ctx.names:
            raise ExportError(f"to_onnx: the outputs depend on input {node.label()} "
                              f"(created at {node.origin}), which is not among the inputs")
        if node.op is leaves.SHARED:
            label = _unique(node.name, "shared", taken)
            ctx.initializer(label, node.attrs["box"].value)
            ctx.names[node] = label
    ctx.taken |= taken
    for node in order:  # in topological order: no recursion, however deep the graph
        if node.op not in (leaves.INPUT, leaves.SHARED, leaves.CONSTANT):
            ctx.lower(node)
    graph_outputs = []
    for out, wanted in zip(outs, labels):
        src = ctx.value(out)
        label = _unique(wanted, "output", ctx.taken)
        ctx.nodes.append(onnx.helper.make_node("Identity", [src], [label]))
        graph_outputs.append(_value_info(onnx, label, out, out.shape))
    graph = onnx.helper.make_graph(ctx.nodes, name, graph_inputs, graph_outputs,
                                   initializer=ctx.initializers)
    model = onnx.helper.make_model(graph, producer_name="graphdl",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save_model(model, os.fspath(path))
    return model


def coverage() -> dict[str, str]:
    """Each registered op -> how it is exported (``"ONNX"``, or why not): for the docs table."""
    from graphdl.ops.registry import REGISTRY

    table = {}
    for op_name, op in REGISTRY.items():
        if op in (leaves.INPUT, leaves.SHARED, leaves.CONSTANT):
            table[op_name] = "graph input / initializer"
        elif op in ONNX_RULES:
            table[op_name] = "exported"
        elif op.decompose is not None:
            table[op_name] = "exported as its plain-op form"
        else:
            table[op_name] = "refused (no ONNX form)"
    return table

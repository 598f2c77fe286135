"""Convolution and pooling over channels-first arrays (PyTorch's layout): an input is
(N, C, *spatial) (NCHW for images), a kernel (O, C / groups, *kernel) (OIHW), for 1, 2 or 3
spatial axes alike. ``conv`` is a cross-correlation, as in every deep-learning library.

Each op is a NumPy kernel in `graphdl.ops.kernels` (windows as strided views and one einsum; no
Python loop over pixels, only over kernel offsets where an adjoint scatters back).

Derivatives close over three bilinear ops: ``conv(x, w)``, its adjoint in the input
``conv_input_adjoint(g, w)`` (the transposed convolution) and in the kernel
``conv_kernel_adjoint(x, g)`` (the correlation of input and cotangent). Since
``<h, conv(x, w)> = <conv_input_adjoint(h, w), x> = <conv_kernel_adjoint(x, h), w>``, each one's
adjoints are the other two, and each one's tangent is ``op(dx, b) + op(a, db)``: derivatives of
any order stay in the family. Likewise ``avg_pool`` (linear) pairs with its adjoint, and
``max_pool`` with ``max_pool_adjoint`` (the cotangent routed to each window's first maximum:
ties go to the first cell in row-major window order) and ``max_pool_pick`` (a tensor read at the
maxima: max_pool's tangent).

vmap: the conv ops carry ``lead``, the number of leading axes of independent entries (both
operands have them); the kernels fold those entries into the channels as extra groups, so a
batch of kernels runs as one grouped convolution. The
numba backend refuses these ops by name (their code calls NumPy helpers).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape
from graphdl.ops import batching, shape_ops
from graphdl.ops import elementwise as ew
from graphdl.ops.notation import Notation
from graphdl.ops.registry import Op, apply, as_node

_CONV_KEYS = ("stride", "pad", "dilation", "groups", "lead")


# --- argument normalization -------------------------------------------------------------------
def _tuple(op: str, what: str, value: Any, rank: int, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral):
        value = (int(value),) * rank
    value = tuple(value)
    if len(value) != rank or not all(isinstance(v, numbers.Integral) and v >= minimum
                                     for v in value):
        raise ValueError(f"{op}: {what} must be an integer >= {minimum} or {rank} of them, "
                         f"got {value!r}")
    return tuple(int(v) for v in value)


def _pads(op: str, padding: Any, spatial: tuple, kernel: tuple, stride: tuple,
          dilation: tuple) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial axis; "same" gives ceil(size / stride) outputs, the odd
    cell of padding going after (PyTorch's choice for stride 1)."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding == "same":
            if None in spatial or None in kernel:
                raise ShapeError(f"{op}: padding='same' needs known spatial and kernel sizes, "
                                 f"got {fmt_shape(spatial)} and {fmt_shape(kernel)}")
            pads = []
            for s, k, st, d in zip(spatial, kernel, stride, dilation):
                total = max((-(-s // st) - 1) * st + d * (k - 1) + 1 - s, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: padding must be 'valid', 'same', an integer or a tuple, "
                         f"got {padding!r}")
    if isinstance(padding, numbers.Integral):
        padding = (padding,) * rank
    padding = tuple(padding)
    if len(padding) != rank:
        raise ValueError(f"{op}: padding needs {rank} entries (one per spatial axis), "
                         f"got {padding!r}")
    pads = []
    for p in padding:
        pair = (p, p) if isinstance(p, numbers.Integral) else tuple(p)
        if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v >= 0 for v in pair):
            raise ValueError(f"{op}: padding entries must be integers >= 0 or (before, after) "
                             f"pairs, got {padding!r}")
        pads.append((int(pair[0]), int(pair[1])))
    return tuple(pads)


def _out_sizes(op: str, x: Node, spatial: tuple, kernel: tuple, attrs: dict[str, Any],
               kernel_label: str) -> tuple:
    out = []
    dilation = attrs.get("dilation", (1,) * len(kernel))
    for axis, (s, k, st, d, (lo, hi)) in enumerate(zip(spatial, kernel, attrs["stride"],
                                                       dilation, attrs["pad"])):
        if s is None or k is None:
            out.append(None)
            continue
        span = d * (k - 1) + 1
        if s + lo + hi < span:
            raise ShapeError(
                f"{op}: spatial axis {axis} of input {x.label()} {fmt_shape(x.shape)} has size "
                f"{s}, padded ({lo}, {hi}) to {s + lo + hi}, smaller than the {kernel_label} "
                f"{fmt_shape(tuple(kernel))} spans there ({span}, dilation {d}); stride "
                f"{tuple(attrs['stride'])}, padding {tuple(attrs['pad'])}")
        out.append((s + lo + hi - span) // st + 1)
    return tuple(out)


def _float_dtype(op: str, a: Node, b: Node) -> np.dtype:
    if a.dtype.kind != "f" or b.dtype != a.dtype:
        raise DTypeError(f"{op}: operands must share one floating dtype, got {a.label()}: "
                         f"{a.dtype} and {b.label()}: {b.dtype}")
    return a.dtype


class _Entry:
    """A node seen without its ``lead`` leading vmap axes (for the shape rules and messages)."""

    def __init__(self, node: Node, lead: int) -> None:
        self.node, self.shape, self.ndim = node, node.shape[lead:], node.ndim - lead
        self.dtype = node.dtype

    def label(self) -> str:
        return self.node.label()


def _entries(inputs: Sequence[Node], attrs: dict[str, Any]) -> tuple[tuple, list[_Entry]]:
    """The leading vmap shape (sizes known from either operand) and the stripped operands."""
    lead = attrs["lead"]
    a, b = inputs
    if a.ndim < lead or b.ndim < lead:
        raise ShapeError(f"operands {a.label()} and {b.label()} lack the {lead} vmap axes")
    shape = tuple(p if p is not None else q for p, q in zip(a.shape[:lead], b.shape[:lead]))
    return shape, [_Entry(a, lead), _Entry(b, lead)]


# --- conv and its two adjoints ----------------------------------------------------------------
def _check_channels(op: str, x: Node, w: Node, groups: int, x_channels: int | None) -> None:
    o, cg = w.shape[:2]
    if x.ndim != w.ndim or w.ndim < 3:
        raise ShapeError(f"{op}: input {x.label()} {fmt_shape(x.shape)} and kernel {w.label()} "
                         f"{fmt_shape(w.shape)} must both be (batch, channels, *spatial) and "
                         f"(out_channels, in_channels / groups, *kernel) with 1-3 spatial axes")
    if o is not None and o % groups:
        raise ShapeError(f"{op}: kernel {w.label()} {fmt_shape(w.shape)} has {o} output "
                         f"channels, not a multiple of groups={groups}")
    if x_channels is not None and cg is not None and x_channels != cg * groups:
        raise ShapeError(f"{op}: input {x.label()} {fmt_shape(x.shape)} has {x_channels} "
                         f"channels, kernel {w.label()} {fmt_shape(w.shape)} with groups={groups} "
                         f"expects {cg} x {groups} = {cg * groups}")


def _conv_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    lead, (x, w) = _entries(inputs, attrs)
    _check_channels("conv", x, w, attrs["groups"], x.shape[1] if x.ndim > 1 else None)
    dtype = _float_dtype("conv", x, w)
    out = _out_sizes("conv", x, x.shape[2:], w.shape[2:], attrs, "kernel")
    return lead + (x.shape[0], w.shape[0]) + out, dtype


def _input_adjoint_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    lead, (g, w) = _entries(inputs, attrs)
    _check_channels("conv_input_adjoint", g, w, attrs["groups"], None)
    if None not in (g.shape[1], w.shape[0]) and g.shape[1] != w.shape[0]:
        raise ShapeError(f"conv_input_adjoint: cotangent {g.label()} {fmt_shape(g.shape)} has "
                         f"{g.shape[1]} channels, kernel {w.label()} {fmt_shape(w.shape)} "
                         f"{w.shape[0]} outputs")
    c = None if w.shape[1] is None else w.shape[1] * attrs["groups"]
    return lead + (g.shape[0], c) + tuple(attrs["x_spatial"]), \
        _float_dtype("conv_input_adjoint", g, w)


def _kernel_adjoint_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    lead, (x, g) = _entries(inputs, attrs)
    groups = attrs["groups"]
    c = x.shape[1]
    if any(n is not None and n % groups for n in (c, g.shape[1])):
        raise ShapeError(f"conv_kernel_adjoint: input {x.label()} {fmt_shape(x.shape)} and "
                         f"cotangent {g.label()} {fmt_shape(g.shape)} need channel counts "
                         f"divisible by groups={groups}")
    return lead + (g.shape[1], None if c is None else c // groups) + tuple(attrs["k_spatial"]), \
        _float_dtype("conv_kernel_adjoint", x, g)


def _conv_args(attrs: dict[str, Any]) -> str:
    return ", ".join(repr(attrs[k]) for k in _CONV_KEYS)


def _bilinear_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    a, b = node.inputs
    ta, tb = tangents
    parts = [apply(node.op, ta, b, **node.attrs) if ta is not None else None,
             apply(node.op, a, tb, **node.attrs) if tb is not None else None]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else ew.add(parts[0], parts[1])


def _common(node: Node) -> dict[str, Any]:
    return {k: node.attrs[k] for k in _CONV_KEYS}


def _spatial(x: Node, c: dict[str, Any]) -> tuple:
    """``x``'s spatial sizes (its last axes, one per stride)."""
    return x.shape[x.ndim - len(c["stride"]):]


def _input_adjoint(g: Node, w: Node, x_spatial: tuple, attrs: dict[str, Any]) -> Node:
    return apply(CONV_INPUT_ADJOINT, g, w, x_spatial=tuple(x_spatial), **attrs)


def _kernel_adjoint(x: Node, g: Node, k_spatial: tuple, attrs: dict[str, Any]) -> Node:
    return apply(CONV_KERNEL_ADJOINT, x, g, k_spatial=tuple(k_spatial), **attrs)


def _conv_vjp(node: Node, g: Node) -> list[Node | None]:
    x, w = node.inputs
    c = _common(node)
    return [_input_adjoint(g, w, _spatial(x, c), c), _kernel_adjoint(x, g, _spatial(w, c), c)]


def _input_adjoint_vjp(node: Node, h: Node) -> list[Node | None]:
    g, w = node.inputs
    c = _common(node)
    return [apply(CONV, h, w, **c), _kernel_adjoint(h, g, _spatial(w, c), c)]


def _kernel_adjoint_vjp(node: Node, k: Node) -> list[Node | None]:
    x, g = node.inputs
    c = _common(node)
    return [_input_adjoint(g, k, _spatial(x, c), c), apply(CONV, x, k, **c)]


def _batch_rule(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """One more leading axis of independent entries (the kernels fold them into groups)."""
    attrs = dict(node.attrs)
    attrs["lead"] = node.attrs["lead"] + 1
    return apply(node.op, *batching.lift(inputs, batched), **attrs)


CONV = Op(
    "conv", _conv_infer, lambda a, at: f"_rt.conv({a[0]}, {a[1]}, {_conv_args(at)})",
    jvp=_bilinear_jvp, vjp=_conv_vjp, batch=_batch_rule, linear="one",
    doc="N-d cross-correlation, channels first (NCHW input, OIHW kernel), with stride, "
        "padding, dilation and groups.",
    notation=Notation("conv({0}, {1})", adjoint=("conv_input_adjoint({g}, {1})",
                                                  "conv_kernel_adjoint({0}, {g})"),
                      bilinear=True))

CONV_INPUT_ADJOINT = Op(
    "conv_input_adjoint", _input_adjoint_infer,
    lambda a, at: f"_rt.conv_input_adjoint({a[0]}, {a[1]}, {at['x_spatial']!r}, "
                  f"{_conv_args(at)})",
    jvp=_bilinear_jvp, vjp=_input_adjoint_vjp, batch=_batch_rule, linear="one",
    doc="The transposed convolution: conv's adjoint in its input.",
    notation=Notation("conv_input_adjoint({0}, {1})", bilinear=True))

CONV_KERNEL_ADJOINT = Op(
    "conv_kernel_adjoint", _kernel_adjoint_infer,
    lambda a, at: f"_rt.conv_kernel_adjoint({a[0]}, {a[1]}, {at['k_spatial']!r}, "
                  f"{_conv_args(at)})",
    jvp=_bilinear_jvp, vjp=_kernel_adjoint_vjp, batch=_batch_rule, linear="one",
    doc="conv's adjoint in its kernel: the correlation of input and cotangent.",
    notation=Notation("conv_kernel_adjoint({0}, {1})", bilinear=True))


def conv(x: Any, w: Any, stride: int | Sequence[int] = 1,
         padding: str | int | Sequence[Any] = "valid", dilation: int | Sequence[int] = 1,
         groups: int = 1) -> Node:
    """Cross-correlation of ``x`` (N, C, *spatial) with the kernel ``w`` (O, C / groups,
    *kernel) over 1, 2 or 3 spatial axes, as ``torch.nn.functional.conv1d/2d/3d``.

    ``padding`` is ``"valid"`` (none), ``"same"`` (ceil(size / stride) outputs; an odd total
    pads one more cell after), an integer, or one integer or (before, after) pair per axis.
    Operands share one floating dtype. The result is (N, O, *out) with
    ``out = (size + before + after - dilation * (k - 1) - 1) // stride + 1``.
    """
    x, w = as_node(x), as_node(w)
    if w.ndim not in (3, 4, 5):
        raise ShapeError(f"conv: kernel {w.label()} {fmt_shape(w.shape)} must be "
                         f"(out_channels, in_channels / groups, *kernel) with 1-3 spatial axes")
    rank = w.ndim - 2
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"conv: groups must be an integer >= 1, got {groups!r}")
    stride = _tuple("conv", "stride", stride, rank)
    dilation = _tuple("conv", "dilation", dilation, rank)
    spatial = x.shape[2:] if x.ndim == w.ndim else (None,) * rank
    pad = _pads("conv", padding, spatial, w.shape[2:], stride, dilation)
    return apply(CONV, x, w, stride=stride, pad=pad, dilation=dilation, groups=int(groups),
                 lead=0)


# --- pooling ----------------------------------------------------------------------------------
_POOL_KEYS = ("window", "stride", "pad")


def _pool_args(attrs: dict[str, Any]) -> str:
    return ", ".join(repr(attrs[k]) for k in _POOL_KEYS)


def _pool_shape(op: str, x: Node, attrs: dict[str, Any]) -> tuple:
    """Pooling reads the last ``len(window)`` axes; any leading axes (batch, channels, and
    vmap's) pass through."""
    window = attrs["window"]
    rank = len(window)
    if x.ndim < rank + 2:
        raise ShapeError(f"{op}: input {x.label()} {fmt_shape(x.shape)} must be (batch, "
                         f"channels, *spatial) with {rank} spatial axes")
    for (lo, hi), k in zip(attrs["pad"], window):
        if max(lo, hi) > k // 2:
            raise ShapeError(f"{op}: padding {attrs['pad']} is more than half the window "
                             f"{window} (a window would hold only padding)")
    front = x.ndim - rank
    return x.shape[:front] + _out_sizes(op, x, x.shape[front:], window, attrs, "window")


def _pool_infer(name: str):
    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        x = inputs[0]
        if x.dtype.kind != "f":
            raise DTypeError(f"{name}: input {x.label()} must be floating, got {x.dtype}")
        return _pool_shape(name, x, attrs), x.dtype
    return infer


def _pool_adjoint_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    g = inputs[0]
    return g.shape[:g.ndim - len(attrs["window"])] + tuple(attrs["x_spatial"]), g.dtype


def _pool_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    """Pooling passes leading axes through: the batch axis is one more."""
    return apply(node.op, *batching.lift(inputs, batched), **node.attrs)


def _linear_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    return None if tangents[0] is None else apply(node.op, tangents[0], **node.attrs)


AVG_POOL = Op(
    "avg_pool", _pool_infer("avg_pool"),
    lambda a, at: f"_rt.avg_pool({a[0]}, {_pool_args(at)})",
    jvp=_linear_jvp,
    vjp=lambda node, g: [apply(AVG_POOL_ADJOINT, g, x_spatial=node.inputs[0].shape[
        node.inputs[0].ndim - len(node.attrs["window"]):],
                               **node.attrs)],
    batch=_pool_batch, linear="all",
    doc="Window means over the spatial axes (padding counts as zeros).",
    notation=Notation("avg_pool({0})", linear=True))

AVG_POOL_ADJOINT = Op(
    "avg_pool_adjoint", _pool_adjoint_infer,
    lambda a, at: f"_rt.avg_pool_adjoint({a[0]}, {at['x_spatial']!r}, {_pool_args(at)})",
    jvp=_linear_jvp,
    vjp=lambda node, h: [apply(AVG_POOL, h, **{k: node.attrs[k] for k in _POOL_KEYS})],
    batch=_pool_batch, linear="all",
    doc="avg_pool's adjoint: each window's cotangent spread over its cells.",
    notation=Notation("avg_pool_adjoint({0})", linear=True))


def _max_pool_vjp(node: Node, g: Node) -> list[Node | None]:
    return [apply(MAX_POOL_ADJOINT, node.inputs[0], g, **node.attrs)]


def _max_pool_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    t = tangents[0]
    return None if t is None else apply(MAX_POOL_PICK, node.inputs[0], t, **node.attrs)


def _max_pool_adjoint_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    x, g = inputs
    expected = _pool_shape("max_pool_adjoint", x, attrs)
    if g.shape != expected or g.dtype != x.dtype:
        raise ShapeError(f"max_pool_adjoint: cotangent {g.label()} {fmt_shape(g.shape)} "
                         f"{g.dtype} should be {fmt_shape(expected)} {x.dtype}")
    return x.shape, x.dtype


def _max_pool_pick_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    x, t = inputs
    if t.shape != x.shape or t.dtype != x.dtype:
        raise ShapeError(f"max_pool_pick: tangent {t.label()} {fmt_shape(t.shape)} {t.dtype} "
                         f"should match input {x.label()} {fmt_shape(x.shape)} {x.dtype}")
    return _pool_shape("max_pool_pick", x, attrs), x.dtype


def _second_linear(partner: str):
    """Rules of an op linear in its second operand and piecewise constant in its first."""
    def jvp(node: Node, tangents: list[Node | None]) -> Node | None:
        t = tangents[1]
        if t is None:  # zero almost everywhere, but connected: the maxima depend on x
            return None if tangents[0] is None else shape_ops.zeros_like(node)
        return apply(node.op, node.inputs[0], t, **node.attrs)

    def vjp(node: Node, h: Node) -> list[Node | None]:
        op = MAX_POOL_PICK if partner == "pick" else MAX_POOL_ADJOINT
        return [shape_ops.zeros_like(node.inputs[0]), apply(op, node.inputs[0], h, **node.attrs)]
    return jvp, vjp


MAX_POOL = Op(
    "max_pool", _pool_infer("max_pool"),
    lambda a, at: f"_rt.max_pool({a[0]}, {_pool_args(at)})",
    jvp=_max_pool_jvp, vjp=_max_pool_vjp, batch=_pool_batch,
    doc="Window maxima over the spatial axes (padding never wins).",
    notation=Notation("max_pool({0})"))

_adj_jvp, _adj_vjp = _second_linear("pick")
MAX_POOL_ADJOINT = Op(
    "max_pool_adjoint", _max_pool_adjoint_infer,
    lambda a, at: f"_rt.max_pool_adjoint({a[0]}, {a[1]}, {_pool_args(at)})",
    jvp=_adj_jvp, vjp=_adj_vjp, batch=_pool_batch,
    doc="max_pool's adjoint: each window's cotangent at its first maximum.",
    notation=Notation("max_pool_adjoint({0}, {1})"))

_pick_jvp, _pick_vjp = _second_linear("adjoint")
MAX_POOL_PICK = Op(
    "max_pool_pick", _max_pool_pick_infer,
    lambda a, at: f"_rt.max_pool_pick({a[0]}, {a[1]}, {_pool_args(at)})",
    jvp=_pick_jvp, vjp=_pick_vjp, batch=_pool_batch,
    doc="A tensor read at each window's first maximum of another (max_pool's tangent).",
    notation=Notation("max_pool_pick({0}, {1})"))


def _pool(op: Op, x: Any, window: Any, stride: Any, padding: Any) -> Node:
    x = as_node(x)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ShapeError(f"{op.name}: input {x.label()} {fmt_shape(x.shape)} must be (batch, "
                         f"channels, *spatial) with 1-3 spatial axes")
    window = _tuple(op.name, "window", window, rank)
    stride = window if stride is None else _tuple(op.name, "stride", stride, rank)
    pad = _pads(op.name, padding, x.shape[2:], window, stride, (1,) * rank)
    return apply(op, x, window=window, stride=stride, pad=pad)


def max_pool(x: Any, window: int | Sequence[int], stride: int | Sequence[int] | None = None,
             padding: int | Sequence[Any] = 0) -> Node:
    """Maxima of ``window``-sized windows of ``x`` (N, C, *spatial), stepping ``stride``
    (default: the window), as ``torch.nn.functional.max_pool2d``. Padding cells are never a
    maximum. The gradient goes to each window's first maximum (row-major), once per window."""
    return _pool(MAX_POOL, x, window, stride, padding)


def avg_pool(x: Any, window: int | Sequence[int], stride: int | Sequence[int] | None = None,
             padding: int | Sequence[Any] = 0) -> Node:
    """Means of ``window``-sized windows of ``x`` (N, C, *spatial), as
    ``torch.nn.functional.avg_pool2d``; padding cells count as zeros in the mean."""
    return _pool(AVG_POOL, x, window, stride, padding)

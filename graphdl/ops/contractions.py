"""Contractions: ``einsum`` and what NumPy builds from it (tensordot, dot, inner, outer, kron,
trace, diagonal, diag).

One op, ``einsum``, carries every contraction. Its subscripts are normalized when the node is
built: the ellipsis becomes letters of its own, the output is always explicit, and an axis of
static size 1 facing a larger one gets a letter of its own (summed away, so it broadcasts as
NumPy broadcasts it). What a node stores is thus a plain ``"ij,jk->ik"`` spelling, and every
rule is an einsum again:

- JVP: one einsum per operand with a tangent, the tangent put in that operand's place;
- VJP of operand k: the cotangent (output letters) contracted with the other operands into k's
  letters. A letter k repeats (a diagonal, ``"ii->"``) is written once more under a fresh letter
  and tied to it by an identity matrix (`eye_like`); a letter k sums away on its own (``"ij->i"``)
  is broadcast back afterwards;
- batching (vmap): batched operands and the output get one more letter in front.

``diagonal`` is an op of its own (``np.diagonal``, any offset and axes, non-square allowed); its
adjoint and ``diag`` of a vector are einsums with two shifted identity matrices.

Sizes must agree where a letter repeats, except a size 1, which broadcasts as in NumPy (an
adjoint of an operand with sizes unknown when built is summed to its run-time shape). numba has
no ``np.einsum``: the numba backend refuses these ops by name.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import fmt_shape, normalize_axis
from graphdl.ops import elementwise as ew
from graphdl.ops import reductions, shape_ops
from graphdl.ops.linalg import matmul
from graphdl.ops.registry import Op, apply, as_node

LETTERS = string.ascii_letters


# --- parsing the subscripts ---------------------------------------------------------------------
def _fresh(used: set[str]) -> str:
    for letter in LETTERS:
        if letter not in used:
            used.add(letter)
            return letter
    raise ShapeError("einsum: more than 52 distinct axes")


def _parse_term(term: str, ndim: int, where: str) -> tuple[list[str], int | None]:
    """The letters of one operand's subscripts and where its ellipsis sits (None: no ellipsis)."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise ShapeError(f"einsum: {where} has a malformed ellipsis in {term!r}")
    head, dots, tail = term.partition("...")
    letters = list(head + tail)
    bad = [c for c in letters if c not in LETTERS]
    if bad:
        raise ShapeError(f"einsum: {where} has subscript {bad[0]!r}; subscripts are letters "
                         "a-z, A-Z and one '...'")
    if not dots:
        if len(letters) != ndim:
            raise ShapeError(f"einsum: {where} has {ndim} axes but its subscripts {term!r} "
                             f"name {len(letters)}")
        return letters, None
    if len(letters) > ndim:
        raise ShapeError(f"einsum: {where} has {ndim} axes, fewer than the {len(letters)} "
                         f"letters of {term!r}")
    return letters, len(head)


def normalize(subscripts: str, operands: Sequence[Node]) -> str:
    """``subscripts`` as graphdl stores them: letters only, explicit output, broadcasting size-1
    axes given letters of their own. Raises ShapeError naming the operand at fault."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    spec = subscripts.replace(" ", "")
    inputs_part, arrow, output_part = spec.partition("->")
    terms = inputs_part.split(",")
    if len(terms) != len(operands):
        raise ShapeError(f"einsum: {subscripts!r} names {len(terms)} operand(s), "
                         f"{len(operands)} given")
    used = set(spec) & set(LETTERS)
    parsed = [_parse_term(t, x.ndim, f"operand {i} ({x.label()})")
              for i, (t, x) in enumerate(zip(terms, operands))]
    ellipsis_rank = max((x.ndim - len(letters) for (letters, at), x in zip(parsed, operands)
                         if at is not None), default=0)
    ellipsis = [_fresh(used) for _ in range(ellipsis_rank)]
    full: list[list[str]] = []
    for (letters, at), x in zip(parsed, operands):
        if at is None:
            full.append(letters)
        else:
            rank = x.ndim - len(letters)
            full.append(letters[:at] + ellipsis[ellipsis_rank - rank:] + letters[at:])
    if arrow:
        if output_part.count("...") > 1 or output_part.replace("...", "").count("."):
            raise ShapeError(f"einsum: the output has a malformed ellipsis in {subscripts!r}")
        head, dots, tail = output_part.partition("...")
        out_letters, out_at = list(head + tail), (len(head) if dots else None)
        bad = [c for c in out_letters if c not in LETTERS]
        if bad:
            raise ShapeError(f"einsum: output subscript {bad[0]!r} is not a letter")
        if out_at is None and ellipsis_rank:
            raise ShapeError(f"einsum: {subscripts!r}: the operands have '...' axes but the "
                             "output does not say where they go (add '...' to the output)")
        output = out_letters if out_at is None else (
            out_letters[:out_at] + ellipsis + out_letters[out_at:])
        seen_in = {c for letters in full for c in letters}
        for c in output:
            if output.count(c) > 1:
                raise ShapeError(f"einsum: output subscript {c!r} repeats in {subscripts!r}")
            if c not in seen_in:
                raise ShapeError(f"einsum: output subscript {c!r} names no operand axis in "
                                 f"{subscripts!r}")
    else:  # NumPy's implicit output: the '...' axes, then the letters used once, in order
        counts: dict[str, int] = {}
        for (letters, _), _x in zip(parsed, operands):
            for c in letters:
                counts[c] = counts.get(c, 0) + 1
        output = ellipsis + sorted(c for c, k in counts.items() if k == 1)
    full = _broadcast_letters(full, operands, used)
    return ",".join("".join(t) for t in full) + "->" + "".join(output)


def _broadcast_letters(full: list[list[str]], operands: Sequence[Node], used: set[str]
                       ) -> list[list[str]]:
    """Give an axis of static size 1 its own letter where the same letter has another size
    elsewhere (NumPy broadcasts it); raise where two known sizes differ otherwise."""
    sizes: dict[str, set] = {}
    for letters, x in zip(full, operands):
        for c, size in zip(letters, x.shape):
            sizes.setdefault(c, set()).add(size)
    out = []
    for letters, x in zip(full, operands):
        renamed = list(letters)
        for j, (c, size) in enumerate(zip(letters, x.shape)):
            if size == 1 and sizes[c] - {1} and letters.count(c) == 1:
                renamed[j] = _fresh(used)
        out.append(renamed)
    for c, found in sizes.items():
        known = {s for s in found if s is not None and s != 1}
        if len(known) > 1:
            where = [f"{x.label()}: {fmt_shape(x.shape)}" for letters, x in zip(full, operands)
                     if c in letters]
            raise ShapeError(f"einsum: axis {c!r} has sizes {sorted(known)} "
                             f"({', '.join(where)})")
    for letters, x in zip(out, operands):  # a letter repeated in one operand: a square diagonal
        for c in set(letters):
            found = {s for s, d in zip(x.shape, letters) if d == c and s is not None}
            if letters.count(c) > 1 and len(found) > 1:
                raise ShapeError(f"einsum: repeated subscript {c!r} of {x.label()} (shape "
                                 f"{fmt_shape(x.shape)}) covers axes of different sizes")
    return out


def _split(spec: str) -> tuple[list[str], str]:
    inputs, _, output = spec.partition("->")
    return inputs.split(","), output


# --- the op -------------------------------------------------------------------------------------
def _einsum_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    terms, output = _split(attrs["spec"])
    found: dict[str, set] = {}
    for term, x in zip(terms, inputs):
        for c, size in zip(term, x.shape):
            found.setdefault(c, set()).add(size)
    sizes = {c: max(s - {None, 1}, default=None if None in s else 1) for c, s in found.items()}
    try:
        dtype = np.result_type(*[x.dtype for x in inputs])
    except TypeError as exc:
        raise DTypeError(f"einsum: no common dtype for {[str(x.dtype) for x in inputs]}") from exc
    if dtype.kind not in "biuf":
        raise DTypeError(f"einsum: dtype {dtype} is not supported")
    return tuple(sizes[c] for c in output), dtype


def _emit_einsum(args: Sequence[str], attrs: dict[str, Any]) -> str:
    optimize = ", optimize=True" if len(args) > 2 else ""
    return f"np.einsum({attrs['spec']!r}, {', '.join(args)}{optimize})"


def _einsum_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    total: Node | None = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        operands = list(node.inputs)
        operands[k] = t
        term = apply(EINSUM, *operands, spec=node.attrs["spec"])
        total = term if total is None else ew.add(total, term)
    return None if total is None else ew.cast(total, node.dtype)


def _einsum_vjp(node: Node, g: Node) -> list[Node | None]:
    terms, output = _split(node.attrs["spec"])
    grads: list[Node | None] = []
    for k, x in enumerate(node.inputs):
        if x.dtype.kind not in "fc":
            grads.append(None)
            continue
        used = set(node.attrs["spec"]) & set(LETTERS)
        others = [(t, y) for j, (t, y) in enumerate(zip(terms, node.inputs)) if j != k]
        parts = [(output, g)] + others
        target = list(terms[k])
        for j, c in enumerate(target):  # a repeated letter: a fresh one, tied by an identity
            first = terms[k].index(c)
            if first != j:
                target[j] = _fresh(used)
                parts.append((c + target[j], eye_like(x, x, first, j, dtype=g.dtype)))
        present = {c for t, _ in parts for c in t}
        kept = [c for c in target if c in present]
        spec = ",".join(t for t, _ in parts) + "->" + "".join(kept)
        grad = apply(EINSUM, *[y for _, y in parts], spec=spec)
        lonely = tuple(j for j, c in enumerate(target) if c not in present)
        if lonely:  # summed away in the forward pass: the same adjoint along the whole axis
            grad = shape_ops.broadcast_like(shape_ops.expand_dims(grad, lonely), x)
        if None in x.shape:  # a size 1 known only at run time broadcast: sum the adjoint back
            grad = apply(reductions.SUM_TO, grad, x)
        grads.append(ew.cast(grad, x.dtype))
    return grads


def _einsum_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    terms, output = _split(node.attrs["spec"])
    beta = _fresh(set(node.attrs["spec"]) & set(LETTERS))
    terms = [beta + t if b else t for t, b in zip(terms, batched)]
    return apply(EINSUM, *inputs, spec=",".join(terms) + "->" + beta + output)


def _einsum_sympy(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
    return np.einsum(attrs["spec"], *[np.asarray(a, dtype=object) for a in args])


EINSUM = Op("einsum", _einsum_infer, _emit_einsum, jvp=_einsum_jvp, vjp=_einsum_vjp,
            batch=_einsum_batch, sympy=_einsum_sympy, linear="one",
            doc="Einstein summation over normalized subscripts (attrs['spec']).")


def einsum(subscripts: str, *operands: Any) -> Node:
    """``np.einsum(subscripts, *operands)``: any subscripts, ``...``, repeated letters for
    diagonals and traces, implicit or explicit output; differentiable in every float operand."""
    nodes = [as_node(x) for x in operands]
    if not nodes:
        raise ShapeError("einsum: no operands given")
    return apply(EINSUM, *nodes, spec=normalize(subscripts, nodes))


# --- identity matrices sized at run time (adjoints of diagonals) --------------------------------
def _eye_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    rows, cols = inputs
    n, m = rows.shape[attrs["row_axis"]], cols.shape[attrs["col_axis"]]
    n = None if n is None else n + attrs["row_plus"]
    m = None if m is None else m + attrs["col_plus"]
    return (n, m), np.dtype(attrs["dtype"])


def _emit_eye(args: Sequence[str], attrs: dict[str, Any]) -> str:
    def size(arg: str, axis: int, plus: int) -> str:
        return f"np.shape({arg})[{axis}]" + (f" + {plus}" if plus else "")

    n = size(args[0], attrs["row_axis"], attrs["row_plus"])
    m = size(args[1], attrs["col_axis"], attrs["col_plus"])
    dtype, k = f"np.{attrs['dtype']}", attrs["k"]
    if attrs["fill"] == "lower":
        return f"np.tri({n}, {m}, {k}, dtype={dtype})"
    if attrs["fill"] == "upper":
        return f"1 - np.tri({n}, {m}, {k - 1}, dtype={dtype})"
    return f"np.eye({n}, {m}, {k}, dtype={dtype})"


def _eye_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    attrs = dict(node.attrs)  # the same matrix for every batch entry: no batch axis
    attrs["row_axis"] += int(batched[0])
    attrs["col_axis"] += int(batched[1])
    return apply(EYE_LIKE, *inputs, **attrs)


def _eye_sympy(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
    n = np.shape(args[0])[attrs["row_axis"]] + attrs["row_plus"]
    m = np.shape(args[1])[attrs["col_axis"]] + attrs["col_plus"]
    k = attrs["k"]
    values = (np.tri(n, m, k, dtype=int) if attrs["fill"] == "lower" else
              1 - np.tri(n, m, k - 1, dtype=int) if attrs["fill"] == "upper" else
              np.eye(n, m, k, dtype=int))
    return values.astype(object)


EYE_LIKE = Op("eye_like", _eye_infer, _emit_eye, zero_derivative=True, batch=_eye_batch,
              sympy=_eye_sympy,
              doc="np.eye(n, m, k) (or the ones on and below / above that diagonal) with n, m "
                  "read off two operands' axes (plus a constant).")


def eye_like(rows: Node, cols: Node, row_axis: int, col_axis: int, k: int = 0,
             dtype: Any = "float64", row_plus: int = 0, col_plus: int = 0,
             fill: str = "diagonal") -> Node:
    """``np.eye(n, m, k)`` with ``n = rows.shape[row_axis] + row_plus`` and ``m`` likewise;
    ``fill="lower"`` gives ones on and below the k-th diagonal (``np.tri``), ``"upper"`` on and
    above it."""
    if fill not in ("diagonal", "lower", "upper"):
        raise ValueError(f"eye_like: fill must be 'diagonal', 'lower' or 'upper', got {fill!r}")
    return apply(EYE_LIKE, rows, cols, row_axis=row_axis, col_axis=col_axis, k=int(k),
                 dtype=np.dtype(dtype).name, row_plus=row_plus, col_plus=col_plus, fill=fill)


# --- diagonal -----------------------------------------------------------------------------------
def _diagonal_length(n: int | None, m: int | None, k: int) -> int | None:
    if n is None or m is None:
        return None
    return max(0, min(n, m - k) if k >= 0 else min(n + k, m))


def _diagonal_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    (x,) = inputs
    a1, a2, k = attrs["axis1"], attrs["axis2"], attrs["offset"]
    rest = tuple(s for i, s in enumerate(x.shape) if i not in (a1, a2))
    return rest + (_diagonal_length(x.shape[a1], x.shape[a2], k),), x.dtype


def _diagonal_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    return None if tangents[0] is None else apply(DIAGONAL, tangents[0], **node.attrs)


def _diagonal_vjp(node: Node, g: Node) -> list[Node | None]:
    """``g`` put back on the diagonal: entry l goes to (l + max(0, -k), l + max(0, k)), two
    shifted identity matrices (L, n) and (L, m) place it, then the two axes move back."""
    x = node.inputs[0]
    if x.dtype.kind not in "fc":
        return [None]
    a1, a2, k = node.attrs["axis1"], node.attrs["axis2"], node.attrs["offset"]
    last = g.ndim - 1
    rows = eye_like(g, x, last, a1, max(0, -k), dtype=g.dtype)
    cols = eye_like(g, x, last, a2, max(0, k), dtype=g.dtype)
    placed = einsum("...l,li,lj->...ij", g, rows, cols)
    moved = shape_ops.transpose(placed, _inverse_moves(x.ndim, a1, a2))
    return [moved]


def _inverse_moves(ndim: int, a1: int, a2: int) -> tuple[int, ...]:
    """The permutation taking (other axes..., a1, a2) back to x's axis order."""
    order = [i for i in range(ndim) if i not in (a1, a2)] + [a1, a2]
    return tuple(order.index(i) for i in range(ndim))


def _diagonal_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    attrs = dict(node.attrs)
    attrs["axis1"] += 1
    attrs["axis2"] += 1
    return apply(DIAGONAL, inputs[0], **attrs)


DIAGONAL = Op(
    "diagonal", _diagonal_infer,
    "np.diagonal({0}, {offset}, {axis1}, {axis2}).copy()",
    jvp=_diagonal_jvp, vjp=_diagonal_vjp, batch=_diagonal_batch, linear="first",
    sympy=lambda sp, a, at: np.diagonal(a[0], at["offset"], at["axis1"], at["axis2"]),
    doc="np.diagonal: the k-th diagonal over two axes, as a new last axis.",
)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """``np.diagonal(x, offset, axis1, axis2)`` (a copy, not a read-only view)."""
    x = as_node(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal: {x.label()} has shape {fmt_shape(x.shape)}; it needs at "
                         "least two axes")
    a1, a2 = normalize_axis("diagonal", axis1, x.ndim), normalize_axis("diagonal", axis2, x.ndim)
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 are the same axis ({a1}) of {x.label()}")
    return apply(DIAGONAL, x, offset=int(offset), axis1=a1, axis2=a2)


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """``np.trace``: the sum of the k-th diagonal over two axes."""
    return reductions.sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(v: Any, k: int = 0) -> Node:
    """``np.diag``: a vector's values on the k-th diagonal of a square matrix, or a matrix's
    k-th diagonal."""
    v = as_node(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag: {v.label()} has shape {fmt_shape(v.shape)}; it takes a vector "
                         "or a matrix")
    k = int(k)
    rows = eye_like(v, v, 0, 0, max(0, -k), dtype=v.dtype, col_plus=abs(k))
    cols = eye_like(v, v, 0, 0, max(0, k), dtype=v.dtype, col_plus=abs(k))
    return einsum("l,li,lj->ij", v, rows, cols)


# --- what NumPy builds from contractions --------------------------------------------------------
def tensordot(a: Any, b: Any, axes: int | Sequence = 2) -> Node:
    """``np.tensordot``: ``axes`` an int N (a's last N axes with b's first N) or a pair of axis
    lists contracted pairwise."""
    a, b = as_node(a), as_node(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: axes={n} but {a.label()} has {a.ndim} and "
                             f"{b.label()} {b.ndim} axes")
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
        if len(axes_a) != len(axes_b):
            raise ShapeError(f"tensordot: {len(axes_a)} axes of {a.label()} paired with "
                             f"{len(axes_b)} of {b.label()}")
        axes_a = [normalize_axis("tensordot", i, a.ndim) for i in axes_a]
        axes_b = [normalize_axis("tensordot", i, b.ndim) for i in axes_b]
    for i, j in zip(axes_a, axes_b):
        if None not in (a.shape[i], b.shape[j]) and a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of {a.label()} (shape {fmt_shape(a.shape)}) "
                             f"and axis {j} of {b.label()} (shape {fmt_shape(b.shape)}) differ")
    letters = iter(LETTERS)
    ta = [next(letters) for _ in range(a.ndim)]
    tb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        tb[j] = ta[i]
    out = [c for i, c in enumerate(ta) if i not in axes_a] + [
        c for j, c in enumerate(tb) if j not in axes_b]
    return apply(EINSUM, a, b, spec=f"{''.join(ta)},{''.join(tb)}->{''.join(out)}")


def dot(a: Any, b: Any) -> Node:
    """``np.dot`` of any rank: scalars multiply, up to matrices it is ``a @ b``, and beyond it
    sums a's last axis with b's second-to-last (``tensordot(a, b, ([-1], [-2]))``)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return ew.multiply(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-1 if b.ndim == 1 else -2]))


def inner(a: Any, b: Any) -> Node:
    """``np.inner``: the sum over the last axes of both (scalars multiply)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return ew.multiply(a, b)
    return tensordot(a, b, ([-1], [-1]))


def outer(a: Any, b: Any) -> Node:
    """``np.outer``: both operands flattened, every product ``a[i] * b[j]``."""
    a, b = as_node(a), as_node(b)
    flat_a = a if a.ndim == 1 else shape_ops.reshape(a, (-1,))
    flat_b = b if b.ndim == 1 else shape_ops.reshape(b, (-1,))
    return einsum("i,j->ij", flat_a, flat_b)


def kron(a: Any, b: Any) -> Node:
    """``np.kron``: blocks ``a[i, j] * b``; the ranks are first padded to be equal. Every axis
    but one needs a size known when the graph is built (the result is a reshape)."""
    a, b = as_node(a), as_node(b)
    ndim = max(a.ndim, b.ndim)
    if a.ndim < ndim:
        a = shape_ops.reshape(a, (1,) * (ndim - a.ndim) + a.shape) if None not in a.shape \
            else shape_ops.expand_dims(a, tuple(range(ndim - a.ndim)))
    if b.ndim < ndim:
        b = shape_ops.reshape(b, (1,) * (ndim - b.ndim) + b.shape) if None not in b.shape \
            else shape_ops.expand_dims(b, tuple(range(ndim - b.ndim)))
    ta, tb = LETTERS[:ndim], LETTERS[ndim:2 * ndim]
    blocks = apply(EINSUM, a, b, spec=f"{ta},{tb}->{''.join(x + y for x, y in zip(ta, tb))}")
    sizes = [None if p is None or q is None else p * q for p, q in zip(a.shape, b.shape)]
    if sizes.count(None) > 1:
        raise ShapeError(f"kron: {a.label()} {fmt_shape(a.shape)} and {b.label()} "
                         f"{fmt_shape(b.shape)} leave more than one axis size unknown")
    return shape_ops.reshape(blocks, tuple(-1 if s is None else s for s in sizes))

"""Linear algebra beyond matmul, batched over leading axes like ``numpy.linalg``: solve, inv,
det, slogdet, cholesky and (SciPy's) solve_triangular.

Every op takes matrices in its last two axes; leading axes are a batch that broadcasts between
operands as ``np.linalg.solve`` broadcasts it. Integer operands compute in float64, float32 stays
float32; complex dtypes are refused.

The derivatives are the standard ones, written with the ops themselves (so they differentiate
again, to any order):

- ``X = solve(A, B)``: ``dX = solve(A, dB - dA X)``; ``B_bar = solve(A^T, G)``,
  ``A_bar = -B_bar X^T``;
- ``Y = inv(A)``: ``dY = -Y dA Y``; ``A_bar = -Y^T G Y^T``;
- ``log|det A|``: ``d = tr(solve(A, dA))``, ``A_bar = g A^-T``; ``det`` the same times ``det``:
  ``d det = det tr(solve(A, dA))``, ``A_bar = g det A^-T``;
- ``L = cholesky(A)``: ``dL = L Phi(L^-1 dA L^-T)``, ``A_bar = sym(L^-T Phi(L^T L_bar) L^-1)`` with
  ``Phi`` the lower triangle with the diagonal halved (Murray, 2016);
- ``X = solve_triangular(T, B)``: ``B_bar = solve_triangular(T^T, G)`` (the other triangle), and
  ``T_bar = -tri(B_bar X^T)``, kept to the triangle T is read from.

Degenerate inputs: ``det``'s value at a singular matrix is 0 (NumPy's), but its derivative and
every derivative through ``inv``/``solve`` divides by the matrix: at an exactly singular matrix
the compiled function raises `graphdl.errors.GraphRuntimeError` naming the node (NumPy's
``LinAlgError: Singular matrix``), never a silent inf. ``cholesky`` of a matrix that is not
positive definite raises the same way. ``slogdet``'s sign has a zero derivative.
numba has no batched ``np.linalg``: the numba backend refuses these ops by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphdl.errors import DTypeError, ShapeError
from graphdl.ir.node import Node
from graphdl.ir.shapes import broadcast_shapes, fmt_shape
from graphdl.ops import batching, reductions, shape_ops
from graphdl.ops import elementwise as ew
from graphdl.ops.contractions import einsum, eye_like
from graphdl.ops.linalg import matmul
from graphdl.ops.registry import Op, apply, as_node


# --- shapes and dtypes --------------------------------------------------------------------------
def _float_dtype(op: str, *xs: Node) -> np.dtype:
    for x in xs:
        if x.dtype.kind == "c":
            raise DTypeError(f"{op}: complex operands are not supported ({x.label()}: {x.dtype})")
    kinds = [x.dtype if x.dtype.kind == "f" else np.dtype("float64") for x in xs]
    return np.result_type(*kinds)


def _square(op: str, a: Node) -> None:
    if a.ndim < 2:
        raise ShapeError(f"{op}: {a.label()} has shape {fmt_shape(a.shape)}; it needs a matrix "
                         "(at least two axes)")
    n, m = a.shape[-2:]
    if n is not None and m is not None and n != m:
        raise ShapeError(f"{op}: {a.label()} has shape {fmt_shape(a.shape)}; its last two axes "
                         "must be square")


def _square_infer(op: str, drop: int):
    """The rule of a one-operand op on square matrices; ``drop`` trailing axes go away."""

    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        (a,) = inputs
        _square(op, a)
        return a.shape[:a.ndim - drop], _float_dtype(op, a)

    return infer


def _solve_infer(op: str):
    def infer(inputs: Sequence[Node], attrs: dict[str, Any]):
        a, b = inputs
        _square(op, a)
        if b.ndim == 0:
            raise ShapeError(f"{op}: right-hand side {b.label()} is a scalar; it needs a vector "
                             "or a stack of matrices")
        n = a.shape[-1]
        rows = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if n is not None and rows is not None and n != rows:
            raise ShapeError(f"{op}: {a.label()} {fmt_shape(a.shape)} and right-hand side "
                             f"{b.label()} {fmt_shape(b.shape)} differ in size ({n} != {rows}; "
                             "a 1-d right-hand side is one vector, else its last two axes are "
                             "the matrix)")
        if b.ndim == 1:
            shape = a.shape[:-1]
        else:
            batch = broadcast_shapes(op, [a.shape[:-2], b.shape[:-2]], [a.label(), b.label()])
            shape = batch + b.shape[-2:]
        return shape, _float_dtype(op, a, b)

    return infer


def _t(x: Node) -> Node:
    return shape_ops.matrix_transpose(x)


def _column(x: Node, vector: bool) -> Node:
    """A 1-d right-hand side as an (n, 1) matrix, so every rule is written for matrices."""
    return shape_ops.expand_dims(x, x.ndim) if vector else x


def _uncolumn(x: Node, vector: bool) -> Node:
    return shape_ops.squeeze(x, x.ndim - 1) if vector else x


def _summed_to(g: Node, x: Node) -> Node:
    """``g`` summed over the batch axes along which ``x`` was broadcast, in ``x``'s dtype."""
    if None in x.shape or None in g.shape:
        g = apply(reductions.SUM_TO, g, x)
    elif g.shape != x.shape:
        g = reductions.unbroadcast(g, x, [x])
    return ew.cast(g, x.dtype)


def _scale_matrices(g: Node, s: Node) -> Node:
    """Each matrix of ``g`` times the scalar of ``s`` for its batch entry."""
    return ew.multiply(shape_ops.expand_dims(s, (s.ndim, s.ndim + 1)), g)


def _trace_of(x: Node) -> Node:
    return einsum("...ii->...", x)


# --- per-matrix SymPy forms ---------------------------------------------------------------------
def _each_matrix(fn: Callable[[Any, Any], Any], scalar: bool = False):
    """A SymPy rule applying ``fn(sp, Matrix)`` to every matrix of a stack."""

    def rule(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
        a = np.asarray(args[0], dtype=object)
        batch = a.shape[:-2]
        out = np.empty(batch + (() if scalar else a.shape[-2:]), dtype=object)
        for idx in np.ndindex(*batch):
            value = fn(sp, sp.Matrix(a[idx]))
            out[idx] = value if scalar else np.array(value.tolist(), dtype=object)
        return out

    return rule


def _solve_sympy(lower: bool | None):
    def rule(sp: Any, args: Sequence[Any], attrs: dict[str, Any]) -> Any:
        a, b = (np.asarray(x, dtype=object) for x in args)
        if lower is not None:
            a = np.tril(a) if attrs["lower"] else np.triu(a)
        vector = b.ndim == 1
        b2 = b[:, None] if vector else b
        batch = np.broadcast_shapes(a.shape[:-2], b2.shape[:-2])
        a = np.broadcast_to(a, batch + a.shape[-2:])
        b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
        out = np.empty(b2.shape, dtype=object)
        for idx in np.ndindex(*batch):
            x = sp.Matrix(a[idx]).LUsolve(sp.Matrix(b2[idx]))
            out[idx] = np.array(x.tolist(), dtype=object)
        return out[..., 0] if vector else out

    return rule


# --- batching: a stack of matrices gets one more leading axis -----------------------------------
def _batch_unary(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    return apply(node.op, inputs[0], **node.attrs)


def _batch_solve(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> Node:
    a, b = inputs
    a0, b0 = node.inputs
    vector = b0.ndim == 1
    if vector and batched[1]:  # a batch of vectors: a stack of (n, 1) matrices
        b = shape_ops.expand_dims(b, b.ndim)
    rank = max(a0.ndim, 2 if vector else b0.ndim)  # axes of one entry, right-hand side as matrix
    a = batching.align(a, rank) if batched[0] else a
    b = batching.align(b, rank) if batched[1] else b
    out = apply(node.op, a, b, **node.attrs)
    return shape_ops.squeeze(out, out.ndim - 1) if vector and batched[1] else out


# --- solve --------------------------------------------------------------------------------------
def _solve_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    ta, tb = tangents
    a, b = node.inputs
    vector = b.ndim == 1
    x = _column(node, vector)
    rhs = _column(ew.cast(tb, node.dtype), vector) if tb is not None else None
    if ta is not None:
        term = ew.negative(matmul(ew.cast(ta, node.dtype), x))
        rhs = term if rhs is None else ew.add(rhs, term)
    if rhs is None:
        return None
    return _uncolumn(solve(a, rhs), vector)


def _solve_vjp(node: Node, g: Node) -> list[Node | None]:
    a, b = node.inputs
    vector = b.ndim == 1
    gb = solve(_t(a), _column(g, vector))  # (..., n, k)
    grads: list[Node | None] = [None, None]
    if a.dtype.kind == "f":
        grads[0] = _summed_to(ew.negative(matmul(gb, _t(_column(node, vector)))), a)
    if b.dtype.kind == "f":
        grads[1] = _summed_to(_uncolumn(gb, vector), b)
    return grads


SOLVE = Op("solve", _solve_infer("solve"), "np.linalg.solve({0}, {1})", jvp=_solve_jvp,
           vjp=_solve_vjp, batch=_batch_solve, sympy=_solve_sympy(None),
           doc="np.linalg.solve: X with A X = B (a 1-d B is one vector).")


def solve(a: Any, b: Any) -> Node:
    """``np.linalg.solve(a, b)``: ``x`` with ``a @ x == b``; a 1-d ``b`` is one right-hand side,
    otherwise its last two axes are matrices and the leading axes broadcast with ``a``'s."""
    return apply(SOLVE, as_node(a), as_node(b))


# --- inv ----------------------------------------------------------------------------------------
def _inv_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    (t,) = tangents
    if t is None:
        return None
    return ew.negative(matmul(matmul(node, ew.cast(t, node.dtype)), node))


def _inv_vjp(node: Node, g: Node) -> list[Node | None]:
    a = node.inputs[0]
    if a.dtype.kind != "f":
        return [None]
    yt = _t(node)
    return [ew.cast(ew.negative(matmul(matmul(yt, g), yt)), a.dtype)]


INV = Op("inv", _square_infer("inv", 0), "np.linalg.inv({0})", jvp=_inv_jvp, vjp=_inv_vjp,
         batch=_batch_unary, sympy=_each_matrix(lambda sp, m: m.inv()),
         doc="np.linalg.inv: the inverse of each matrix.")


def inv(a: Any) -> Node:
    """``np.linalg.inv(a)``, for each matrix of a stack."""
    return apply(INV, as_node(a))


# --- determinants -------------------------------------------------------------------------------
def _log_det_tangent(a: Node, t: Node, dtype: np.dtype) -> Node:
    """``tr(A^-1 dA)`` for each matrix: the tangent of log|det A|."""
    return _trace_of(solve(a, ew.cast(t, dtype)))


def _logabsdet_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    (t,) = tangents
    return None if t is None else _log_det_tangent(node.inputs[0], t, node.dtype)


def _logabsdet_vjp(node: Node, g: Node) -> list[Node | None]:
    a = node.inputs[0]
    if a.dtype.kind != "f":
        return [None]
    return [ew.cast(_scale_matrices(_t(inv(a)), g), a.dtype)]


def _det_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    (t,) = tangents
    return None if t is None else ew.multiply(node, _log_det_tangent(node.inputs[0], t,
                                                                     node.dtype))


def _det_vjp(node: Node, g: Node) -> list[Node | None]:
    a = node.inputs[0]
    if a.dtype.kind != "f":
        return [None]
    return [ew.cast(_scale_matrices(_t(inv(a)), ew.multiply(g, node)), a.dtype)]


DET = Op("det", _square_infer("det", 2), "np.linalg.det({0})", jvp=_det_jvp, vjp=_det_vjp,
         batch=_batch_unary, sympy=_each_matrix(lambda sp, m: m.det(), scalar=True),
         doc="np.linalg.det; its derivative is det * A^-T (through slogdet's).")
LOGABSDET = Op(
    "logabsdet", _square_infer("slogdet", 2), "np.linalg.slogdet({0})[1]",
    jvp=_logabsdet_jvp, vjp=_logabsdet_vjp, batch=_batch_unary,
    sympy=_each_matrix(lambda sp, m: sp.log(sp.Abs(m.det())), scalar=True),
    doc="log|det A| (the second part of np.linalg.slogdet); its derivative is A^-T.",
)
DET_SIGN = Op(
    "det_sign", _square_infer("slogdet", 2), "np.linalg.slogdet({0})[0]",
    zero_derivative=True, batch=_batch_unary,
    sympy=_each_matrix(lambda sp, m: sp.sign(m.det()), scalar=True),
    doc="The sign of det A (the first part of np.linalg.slogdet): -1, 0 or 1.",
)


def det(a: Any) -> Node:
    """``np.linalg.det(a)``, for each matrix of a stack."""
    return apply(DET, as_node(a))


def slogdet(a: Any) -> tuple[Node, Node]:
    """``np.linalg.slogdet(a)``: ``(sign, logabsdet)`` with ``det == sign * exp(logabsdet)``,
    without the overflow of ``det`` for large matrices."""
    a = as_node(a)
    return apply(DET_SIGN, a), apply(LOGABSDET, a)


# --- triangular solves and Cholesky -------------------------------------------------------------
def _triangle(x: Node, lower: bool, diagonal: float = 1.0) -> Node:
    """``x`` with the other triangle zeroed (and its diagonal scaled by ``diagonal``)."""
    last = x.ndim - 1
    mask = eye_like(x, x, last - 1, last, dtype=x.dtype, fill="lower" if lower else "upper")
    if diagonal != 1.0:
        eye = eye_like(x, x, last - 1, last, dtype=x.dtype)
        mask = ew.subtract(mask, ew.multiply(1.0 - diagonal, eye))
    return ew.multiply(x, mask)


def _emit_solve_triangular(args: Sequence[str], attrs: dict[str, Any]) -> str:
    part = "np.tril" if attrs["lower"] else "np.triu"
    return f"np.linalg.solve({part}({args[0]}), {args[1]})"


def _solve_triangular_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    ta, tb = tangents
    a, b = node.inputs
    lower = node.attrs["lower"]
    vector = b.ndim == 1
    x = _column(node, vector)
    rhs = _column(ew.cast(tb, node.dtype), vector) if tb is not None else None
    if ta is not None:
        term = ew.negative(matmul(_triangle(ew.cast(ta, node.dtype), lower), x))
        rhs = term if rhs is None else ew.add(rhs, term)
    if rhs is None:
        return None
    return _uncolumn(solve_triangular(a, rhs, lower=lower), vector)


def _solve_triangular_vjp(node: Node, g: Node) -> list[Node | None]:
    a, b = node.inputs
    lower = node.attrs["lower"]
    vector = b.ndim == 1
    gb = solve_triangular(_t(a), _column(g, vector), lower=not lower)
    grads: list[Node | None] = [None, None]
    if a.dtype.kind == "f":
        ga = _triangle(ew.negative(matmul(gb, _t(_column(node, vector)))), lower)
        grads[0] = _summed_to(ga, a)
    if b.dtype.kind == "f":
        grads[1] = _summed_to(_uncolumn(gb, vector), b)
    return grads


SOLVE_TRIANGULAR = Op(
    "solve_triangular", _solve_infer("solve_triangular"), _emit_solve_triangular,
    jvp=_solve_triangular_jvp, vjp=_solve_triangular_vjp, batch=_batch_solve,
    sympy=_solve_sympy(True),
    doc="scipy.linalg.solve_triangular: X with T X = B, T the lower (or upper) triangle of A.",
)


def solve_triangular(a: Any, b: Any, lower: bool = False) -> Node:
    """``scipy.linalg.solve_triangular(a, b, lower=lower)``: ``x`` with ``T @ x == b`` where
    ``T`` is ``a``'s lower (``lower=True``) or upper triangle (SciPy's default); the other
    triangle is never read and gets a zero adjoint. Batched like `solve`."""
    return apply(SOLVE_TRIANGULAR, as_node(a), as_node(b), lower=bool(lower))


def _cholesky_jvp(node: Node, tangents: list[Node | None]) -> Node | None:
    (t,) = tangents
    if t is None:
        return None
    low = node
    inner = solve_triangular(low, _t(solve_triangular(low, ew.cast(t, node.dtype), lower=True)),
                             lower=True)  # L^-1 dA L^-T (dA symmetric)
    return matmul(low, _triangle(inner, True, 0.5))


def _cholesky_vjp(node: Node, g: Node) -> list[Node | None]:
    a = node.inputs[0]
    if a.dtype.kind != "f":
        return [None]
    low = node
    phi = _triangle(matmul(_t(low), g), True, 0.5)
    # S = L^-T phi L^-1: two triangular solves with L^T (upper)
    left = solve_triangular(_t(low), phi, lower=False)  # L^-T phi
    s = _t(solve_triangular(_t(low), _t(left), lower=False))  # (L^-T (L^-T phi)^T)^T
    return [ew.cast(ew.multiply(0.5, ew.add(s, _t(s))), a.dtype)]


CHOLESKY = Op("cholesky", _square_infer("cholesky", 0), "np.linalg.cholesky({0})",
              jvp=_cholesky_jvp, vjp=_cholesky_vjp, batch=_batch_unary,
              sympy=_each_matrix(lambda sp, m: m.cholesky(hermitian=False)),
              doc="np.linalg.cholesky: lower-triangular L with L L^T = A (A symmetric positive "
                  "definite; only its lower triangle is read).")


def cholesky(a: Any) -> Node:
    """``np.linalg.cholesky(a)``: the lower-triangular ``L`` with ``L @ L.T == a``. The adjoint
    is symmetric (NumPy reads the lower triangle; a symmetric perturbation is what the
    derivative means)."""
    return apply(CHOLESKY, as_node(a))

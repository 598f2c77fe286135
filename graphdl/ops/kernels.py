"""Small NumPy helpers that generated code calls (as ``_rt.name``) where one expression is not
enough: stable softmax family, and the adjoints of indexing and of broadcasting over sizes known
only at run time. Each is what a careful person would write by hand."""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted


def logsumexp(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def sum_to(x: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``x`` over the axes along which ``shape`` was broadcast to ``x``'s shape."""
    if np.shape(x) == shape:
        return x
    lead = np.ndim(x) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and np.shape(x)[lead + i] != 1
    )
    out = np.sum(x, axis=axes, keepdims=True)
    return np.reshape(out, shape)


def scatter_basic(g: np.ndarray, like: np.ndarray, index) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    out[index] = g
    return out


def take_adjoint(g: np.ndarray, like: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    moved = np.moveaxis(out, axis, 0)
    g_moved = np.moveaxis(g, tuple(range(axis, axis + np.ndim(indices))),
                          tuple(range(np.ndim(indices))))
    np.add.at(moved, indices, g_moved)
    return out


def take_along_adjoint(g: np.ndarray, like: np.ndarray, indices: np.ndarray,
                       axis: int) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    if np.shape(indices)[axis] == 1:  # one index per row (labels): no repeats to accumulate
        np.put_along_axis(out, indices, g, axis=axis)
        return out
    grids = list(np.indices(np.shape(indices), sparse=True))
    grids[axis] = indices
    np.add.at(out, tuple(grids), g)
    return out


def concat_piece(g: np.ndarray, axis: int, index: int, parts: list) -> np.ndarray:
    sizes = [np.shape(p)[axis] for p in parts]
    start = sum(sizes[:index])
    selector = [slice(None)] * np.ndim(g)
    selector[axis] = slice(start, start + sizes[index])
    return g[tuple(selector)]


def softmax_xent(z: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """-log softmax(z)[idx] along ``axis``: logsumexp(z) - z[idx], shifted by the maximum."""
    shifted, _, sums = _shifted_parts(z, axis)
    return xent_rows(shifted, sums, idx, axis)


def softmax_xent_grad(g: np.ndarray, z: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """softmax(z) * sum(g along axis) - g at idx: the gradient of ``softmax_xent``."""
    _, e, sums = _shifted_parts(z, axis)
    return xent_rows_grad(g, e, sums, idx, axis)


def _shifted_parts(z: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``z - max(z)``, its exp and their sums along ``axis``: what the optimizer's lowering of
    the pair (`xent_rows`, `xent_rows_grad`) computes as separate, shared statements."""
    shifted = z - z.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return shifted, e, e.sum(axis=axis, keepdims=True)


def _label_rows(z: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray | None:
    """``arange(n)`` when ``z`` is (n, k) with labels ``idx`` of shape (n, 1) along axis 1."""
    if z.ndim != 2 or axis != 1 or idx.shape != (z.shape[0], 1):
        return None
    return np.arange(z.shape[0])


def xent_rows(shifted: np.ndarray, sums: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """log(sums) - shifted[idx]: cross-entropy rows from the shifted logits and their exp-sums."""
    out = np.log(sums)
    rows = _label_rows(shifted, idx, axis)
    if rows is not None:
        out[:, 0] -= shifted[rows, idx[:, 0]]
        return out
    return out - np.take_along_axis(shifted, idx, axis=axis)  # picked may be wider


def xent_rows_grad(g: np.ndarray, e: np.ndarray, sums: np.ndarray, idx: np.ndarray,
                   axis: int) -> np.ndarray:
    """e / sums * sum(g along axis) - g at idx: `softmax_xent_grad` from shared parts."""
    rows = _label_rows(e, idx, axis)
    if rows is not None:
        if getattr(g, "size", 1) == 1:  # the 1/n of a mean: one number for every row
            g = at_labels = g.item() if hasattr(g, "item") else g  # weak: keeps e's dtype
        else:
            g = np.broadcast_to(g, np.shape(idx))
            at_labels = g[:, 0]
        p = e * (g / sums)
        p[rows, idx[:, 0]] -= at_labels
        return p
    g = np.broadcast_to(g, np.shape(idx))
    p = e / sums
    if np.shape(idx)[axis] == 1:  # one label per row: sum(g) along axis is g itself
        p *= g
        np.put_along_axis(p, idx, np.take_along_axis(p, idx, axis=axis) - g, axis=axis)
        return p
    p *= np.sum(g, axis=axis, keepdims=True)
    p -= take_along_adjoint(g, p, idx, axis)
    return p


# --- reductions NumPy does slowly ----------------------------------------------------------------
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def column_sums(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=0)``: for a float matrix, a matrix-vector product with ones.

    ``np.add.reduce(x, axis=0)`` walks the rows one at a time; BLAS's gemv does the same sums
    about twice as fast (a bias gradient per layer in every training step). Each column is
    still summed in order of the rows, in the array's precision.
    """
    if x.ndim != 2 or x.dtype not in _BLAS_FLOATS or x.shape[0] == 0:
        return np.add.reduce(x, axis=0)
    key = (x.shape[0], x.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:  # batch sizes seen by one process: a handful; keep it bounded
            _ONES.clear()
        ones = _ONES[key] = np.ones(x.shape[0], x.dtype)
    return ones @ x


def row_reduce(ufunc: np.ufunc, x: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(x, axis=1, keepdims=True)``, fast when the rows are short.

    NumPy reduces a short contiguous axis one row at a time (7 us for the row maxima of 128
    rows of 10 logits in float32); reducing the transposed copy along its first axis is a
    handful of whole-row operations (1.7 us). The results are the same: max and min are exact,
    and sums of a row add the same numbers in the same order.
    """
    if x.ndim != 2 or x.shape[1] > 64 or x.shape[0] < 8:
        return ufunc.reduce(x, axis=1, keepdims=True)
    return ufunc.reduce(np.ascontiguousarray(x.T), axis=0)[:, None]

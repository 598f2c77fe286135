"""Numba helpers that generated kernels call (as ``_nb.name``): the `graphdl.ops.kernels`
functions numba's nopython mode cannot run as written (``keepdims=``, ``np.take_along_axis``,
``ufunc.reduce``), written as loops over a 2-d ``(rows, k)`` view.

The lowerings in `graphdl.codegen.numba_backend` move the axis an op works along to the end and
reshape to ``(rows, k)``, so every helper here handles one layout, whatever the rank and axis.
The fused cross-entropy and its gradient are one pass per row each: that is where a small MLP
step's time goes once the per-call overhead of NumPy is gone. Row sums of the softmax family
accumulate in float64 (float32 results stay float32, a little more accurate than NumPy's float32
sums). Imported only when numba is.
"""

from __future__ import annotations

import numpy as np
from numba import njit


# --- reductions along the last axis of (rows, k), or the first axis of (k, cols) ------------------
@njit(cache=True)
def sum_rows(x):
    """Row sums with eight interleaved accumulators, as NumPy's pairwise sum has within its
    blocks: one running sum is a chain of dependent adds that cannot be vectorized, 2.5x slower
    than ``np.sum`` on the L2 term's sum of 784x512 squares (the rounding also improves)."""
    out = np.zeros(x.shape[0], x.dtype)
    k = x.shape[1]
    for i in range(x.shape[0]):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = out[i]
        j = 0
        while j + 8 <= k:
            a0 += x[i, j]
            a1 += x[i, j + 1]
            a2 += x[i, j + 2]
            a3 += x[i, j + 3]
            a4 += x[i, j + 4]
            a5 += x[i, j + 5]
            a6 += x[i, j + 6]
            a7 += x[i, j + 7]
            j += 8
        acc = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        for rest in range(j, k):
            acc += x[i, rest]
        out[i] = acc
    return out


@njit(cache=True)
def sum_cols(x):
    out = np.zeros(x.shape[1], x.dtype)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[j] += x[i, j]
    return out


@njit(cache=True)
def prod_rows(x):
    out = np.ones(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i] *= x[i, j]
    return out


@njit(cache=True)
def _extreme_rows(x, largest):
    """Row maxima (``largest``) or minima; a NaN wins, as in ``np.max``/``np.min``."""
    out = np.empty(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        m = x[i, 0]
        for j in range(1, x.shape[1]):
            v = x[i, j]
            if (v > m if largest else v < m) or v != v:
                m = v
                if v != v:
                    break
        out[i] = m
    return out


@njit(cache=True)
def _arg_extreme_rows(x, largest):
    """First index of each row's maximum or minimum (of its first NaN), as ``np.argmax``."""
    out = np.empty(x.shape[0], np.int64)
    for i in range(x.shape[0]):
        best, m = 0, x[i, 0]
        if m == m:
            for j in range(1, x.shape[1]):
                v = x[i, j]
                if (v > m if largest else v < m) or v != v:
                    best, m = j, v
                    if v != v:
                        break
        out[i] = best
    return out


@njit(cache=True)
def max_rows(x):
    return _extreme_rows(x, True)


@njit(cache=True)
def min_rows(x):
    return _extreme_rows(x, False)


@njit(cache=True)
def argmax_rows(x):
    return _arg_extreme_rows(x, True)


@njit(cache=True)
def argmin_rows(x):
    return _arg_extreme_rows(x, False)


# --- the softmax family along the last axis (any rank) ---------------------------------------
@njit(cache=True)
def _rows(x):
    return np.ascontiguousarray(x).reshape((-1, x.shape[-1]))


@njit(cache=True)
def _row_max(x, i):
    """The row's maximum (the shift that keeps exp from overflowing)."""
    m = x[i, 0]
    for j in range(1, x.shape[1]):
        if x[i, j] > m:
            m = x[i, j]
    return m


@njit(cache=True)
def softmax_last(x):
    z = _rows(x)
    out = np.empty_like(z)
    for i in range(z.shape[0]):
        m = _row_max(z, i)
        total = 0.0
        for j in range(z.shape[1]):
            e = np.exp(z[i, j] - m)
            out[i, j] = e
            total += e
        for j in range(z.shape[1]):
            out[i, j] /= total
    return out.reshape(x.shape)


@njit(cache=True)
def log_softmax_last(x):
    z = _rows(x)
    out = np.empty_like(z)
    for i in range(z.shape[0]):
        m = _row_max(z, i)
        total = 0.0
        for j in range(z.shape[1]):
            total += np.exp(z[i, j] - m)
        shift = m + np.log(total)
        for j in range(z.shape[1]):
            out[i, j] = z[i, j] - shift
    return out.reshape(x.shape)


@njit(cache=True)
def logsumexp_rows(z):
    out = np.empty(z.shape[0], z.dtype)
    for i in range(z.shape[0]):
        m = _row_max(z, i)
        if not np.isfinite(m):  # as `runtime.logsumexp`: a non-finite maximum shifts by 0
            m = 0.0
        total = 0.0
        for j in range(z.shape[1]):
            total += np.exp(z[i, j] - m)
        out[i] = np.log(total) + m
    return out


# --- gathers along the last axis and their adjoints ------------------------------------------
@njit(cache=True)
def _column(idx, i, j, k):
    c = idx[i, j]
    if c < 0:
        c += k
    if c < 0 or c >= k:
        raise IndexError("index out of bounds along the axis")
    return c


@njit(cache=True)
def _same_rows(a, b):
    if a.shape[0] != b.shape[0]:
        raise ValueError("the indices and the array differ in size off the indexed axis")


@njit(cache=True)
def _cotangent_fits(g, idx):
    if (g.shape[0] != 1 and g.shape[0] != idx.shape[0]) or (
            g.shape[1] != 1 and g.shape[1] != idx.shape[1]):
        raise ValueError("the cotangent does not broadcast to the picked shape")


@njit(cache=True)
def take_along_rows(x, idx):
    _same_rows(x, idx)
    out = np.empty(idx.shape, x.dtype)
    for i in range(idx.shape[0]):
        for j in range(idx.shape[1]):
            out[i, j] = x[i, _column(idx, i, j, x.shape[1])]
    return out


@njit(cache=True)
def take_along_adjoint_rows(g, k, idx):
    _same_rows(g, idx)
    out = np.zeros((idx.shape[0], k), g.dtype)
    for i in range(idx.shape[0]):
        for j in range(idx.shape[1]):
            out[i, _column(idx, i, j, k)] += g[i, j]
    return out


@njit(cache=True)
def take_adjoint_rows(g, k, idx):
    """Adds row ``j`` of ``g`` (m, cols) into row ``idx[j]`` of zeros (k, cols)."""
    out = np.zeros((k, g.shape[1]), g.dtype)
    for j in range(idx.shape[0]):
        r = idx[j]
        if r < 0:
            r += k
        if r < 0 or r >= k:
            raise IndexError("index out of bounds along the axis")
        for c in range(g.shape[1]):
            out[r, c] += g[j, c]
    return out


# --- fused softmax cross-entropy with integer labels (rows, k) --------------------------------
@njit(cache=True)
def softmax_xent_rows(z, idx):
    """(rows, m) values of logsumexp(z[i]) - z[i, idx[i, j]], one pass over each row."""
    _same_rows(z, idx)
    k = z.shape[1]
    out = np.empty(idx.shape, z.dtype)
    for i in range(z.shape[0]):
        m = _row_max(z, i)
        total = 0.0
        for j in range(k):
            total += np.exp(z[i, j] - m)
        lse = np.log(total)
        for j in range(idx.shape[1]):
            out[i, j] = lse - (z[i, _column(idx, i, j, k)] - m)
    return out


@njit(cache=True)
def softmax_xent_grad_rows(g, z, idx):
    """softmax(z[i]) * sum_j g[i, j] - g[i, j] at idx[i, j]; ``g`` is (1 or rows, 1 or m)."""
    _same_rows(z, idx)
    k = z.shape[1]
    e = np.empty(z.shape, z.dtype)
    sums = np.empty((z.shape[0], 1), z.dtype)
    for i in range(z.shape[0]):
        m = _row_max(z, i)
        total = 0.0
        for j in range(k):
            v = np.exp(z[i, j] - m)
            e[i, j] = v
            total += v
        sums[i, 0] = total
    return xent_rows_grad_rows(g, e, sums, idx)


# --- small shape helpers ----------------------------------------------------------------------
@njit(cache=True)
def item(x):
    """The one element of a size-1 array, as a scalar (0-d values are scalars in kernels)."""
    return np.ascontiguousarray(x).ravel()[0]


@njit(cache=True)
def sum_to(x, target):
    """C-contiguous ``x`` summed over the axes along which the shape ``target`` (of the same
    rank) was broadcast: `runtime.sum_to` for sizes known only at run time. When the shapes
    are equal, which is what two unknown batch sizes usually turn out to be, ``x`` itself, as
    in NumPy (the op is marked a view, so buffer reuse knows about the alias): a flat loop
    with a div/mod per axis per element made this identity 0.8 ms of a 256-row Adam step."""
    if x.shape == target:
        return x
    ndim = x.ndim
    step = np.zeros(ndim, np.int64)  # out's flat stride along each axis, 0 where summed
    size = 1
    for axis in range(ndim - 1, -1, -1):
        if target[axis] == x.shape[axis]:
            step[axis] = size
        elif target[axis] != 1:
            raise ValueError("sum_to: the target shape does not broadcast to the operand's")
        size *= target[axis]
    out = np.zeros(target, x.dtype)
    if x.size == 0:
        return out
    flat, dest, last = x.ravel(), out.ravel(), x.shape[ndim - 1]
    index = np.zeros(ndim, np.int64)  # of the row of x starting at ``start``
    for start in range(0, flat.shape[0], last):
        base = 0
        for axis in range(ndim - 1):
            base += index[axis] * step[axis]
        if step[ndim - 1] == 0:
            acc = dest[base]
            for j in range(last):
                acc += flat[start + j]
            dest[base] = acc
        else:
            for j in range(last):
                dest[base + j] += flat[start + j]
        for axis in range(ndim - 2, -1, -1):
            index[axis] += 1
            if index[axis] < x.shape[axis]:
                break
            index[axis] = 0
    return out


@njit(cache=True)
def xent_rows_grad_rows(g, e, sums, idx):
    """e / sums * sum_j g[i, j] - g[i, j] at idx[i, j] (``g`` as in softmax_xent_grad_rows)."""
    _same_rows(e, idx)
    _same_rows(e, sums)
    k = e.shape[1]
    _cotangent_fits(g, idx)
    gr, gc = g.shape[0] > 1, g.shape[1] > 1
    out = np.empty(e.shape, e.dtype)
    for i in range(e.shape[0]):
        gi = i if gr else 0
        weight = 0.0
        for j in range(idx.shape[1]):
            weight += g[gi, j if gc else 0]
        scale = weight / sums[i, 0]
        for j in range(k):
            out[i, j] = e[i, j] * scale
        for j in range(idx.shape[1]):
            out[i, _column(idx, i, j, k)] -= g[gi, j if gc else 0]
    return out

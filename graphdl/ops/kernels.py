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


# --- convolution and pooling (graphdl.ops.conv): NCHW, any number of spatial axes --------------
# ``pad`` is one (before, after) pair per spatial axis; windows are gathered as strided views
# (`sliding_window_view`), so no Python loop runs over pixels, only over kernel offsets when
# adjoints are scattered back.
_LETTERS = "abcdefghijklm"


def _windows(x: np.ndarray, kernel: tuple, stride: tuple, pad: tuple, dilation: tuple,
             fill: float = 0.0) -> np.ndarray:
    """The views ``x[..., *(o*s + k*d - pad)]`` over the last ``len(kernel)`` axes, shaped
    (*leading, *out, *kernel)."""
    rank = len(kernel)
    front = x.ndim - rank
    if any(lo or hi for lo, hi in pad):
        x = np.pad(x, ((0, 0),) * front + tuple(pad), constant_values=fill)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    axes = tuple(range(front, front + rank))
    w = np.lib.stride_tricks.sliding_window_view(x, extent, axis=axes)
    sel = ((slice(None),) * front + tuple(slice(None, None, s) for s in stride)
           + tuple(slice(None, None, d) for d in dilation))
    return w[sel]


def _spatial(rank: int, start: int = 0) -> tuple[str, str]:
    """einsum letters for the output positions and the kernel offsets."""
    return _LETTERS[start:start + rank], _LETTERS[start + rank:start + 2 * rank]


def _fold(x: np.ndarray, lead: int) -> np.ndarray:
    """(*B, N, C, *S) -> (N, prod(B) * C, *S): vmapped entries become channel groups."""
    b = int(np.prod(x.shape[:lead]))
    x = x.reshape((b,) + x.shape[lead:])
    return np.moveaxis(x, 0, 1).reshape((x.shape[1], b * x.shape[2]) + x.shape[3:])


def _unfold(y: np.ndarray, lead_shape: tuple) -> np.ndarray:
    b = int(np.prod(lead_shape))
    y = y.reshape((y.shape[0], b, y.shape[1] // b) + y.shape[2:])
    return np.moveaxis(y, 1, 0).reshape(lead_shape + (y.shape[0],) + y.shape[2:])


def _fold_kernel(w: np.ndarray, lead: int) -> np.ndarray:
    return w.reshape((-1,) + w.shape[lead + 1:])


def conv(x: np.ndarray, w: np.ndarray, stride: tuple, pad: tuple, dilation: tuple,
         groups: int, lead: int = 0) -> np.ndarray:
    """Cross-correlation of ``x`` (N, C, *S) with ``w`` (O, C/groups, *K), as in PyTorch.
    ``lead`` leading axes of both operands are independent entries (vmap): they run at once,
    as extra groups."""
    if lead:
        b = int(np.prod(x.shape[:lead]))
        y = conv(_fold(x, lead), _fold_kernel(w, lead), stride, pad, dilation, groups * b)
        return _unfold(y, x.shape[:lead])
    rank = w.ndim - 2
    cols = _windows(x, w.shape[2:], stride, pad, dilation)  # (N, C, *out, *K)
    n, c = x.shape[:2]
    cols = cols.reshape((n, groups, c // groups) + cols.shape[2:])
    wg = w.reshape((groups, w.shape[0] // groups) + w.shape[1:])
    o, k = _spatial(rank)
    out = np.einsum(f"NGC{o}{k},GPC{k}->NGP{o}", cols, wg, optimize=True)
    return out.reshape((n, w.shape[0]) + out.shape[3:])


def conv_input_adjoint(g: np.ndarray, w: np.ndarray, x_spatial: tuple, stride: tuple,
                       pad: tuple, dilation: tuple, groups: int, lead: int = 0) -> np.ndarray:
    """The transposed convolution: the adjoint of `conv` with respect to ``x`` (shape
    (N, C, *x_spatial)) at the cotangent ``g`` (N, O, *out)."""
    if lead:
        b = int(np.prod(g.shape[:lead]))
        y = conv_input_adjoint(_fold(g, lead), _fold_kernel(w, lead), x_spatial, stride, pad,
                               dilation, groups * b)
        return _unfold(y, g.shape[:lead])
    rank = w.ndim - 2
    n, o_all = g.shape[:2]
    c = w.shape[1] * groups
    gg = g.reshape((n, groups, o_all // groups) + g.shape[2:])
    wg = w.reshape((groups, o_all // groups) + w.shape[1:])
    o, k = _spatial(rank)
    cols = np.einsum(f"NGP{o},GPC{k}->NGC{k}{o}", gg, wg, optimize=True)
    cols = cols.reshape((n, c) + cols.shape[3:])  # (N, C, *K, *out)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_spatial, pad))
    out = np.zeros((n, c) + padded, dtype=cols.dtype)
    out_sizes = g.shape[2:]
    for offset in np.ndindex(*w.shape[2:]):
        sel = tuple(slice(i * d, i * d + s * (m - 1) + 1, s)
                    for i, d, s, m in zip(offset, dilation, stride, out_sizes))
        out[(slice(None), slice(None)) + sel] += cols[(slice(None), slice(None)) + offset]
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_spatial, pad))
    return out[(slice(None), slice(None)) + crop]


def conv_kernel_adjoint(x: np.ndarray, g: np.ndarray, k_spatial: tuple, stride: tuple,
                        pad: tuple, dilation: tuple, groups: int, lead: int = 0) -> np.ndarray:
    """The adjoint of `conv` with respect to the kernel (O, C/groups, *k_spatial): the
    correlation of the input with the cotangent ``g``."""
    if lead:
        b = int(np.prod(x.shape[:lead]))
        y = conv_kernel_adjoint(_fold(x, lead), _fold(g, lead), k_spatial, stride, pad,
                                dilation, groups * b)
        return y.reshape(x.shape[:lead] + (-1,) + y.shape[1:])
    rank = len(k_spatial)
    cols = _windows(x, k_spatial, stride, pad, dilation)
    n, c = x.shape[:2]
    cols = cols.reshape((n, groups, c // groups) + cols.shape[2:])
    gg = g.reshape((n, groups, g.shape[1] // groups) + g.shape[2:])
    o, k = _spatial(rank)
    out = np.einsum(f"NGC{o}{k},NGP{o}->GPC{k}", cols, gg, optimize=True)
    return out.reshape((g.shape[1], c // groups) + tuple(k_spatial))


def avg_pool(x: np.ndarray, window: tuple, stride: tuple, pad: tuple) -> np.ndarray:
    """Window means; padded cells count as zeros (PyTorch's ``count_include_pad=True``)."""
    cols = _windows(x, window, stride, pad, (1,) * len(window))
    return cols.mean(axis=tuple(range(-len(window), 0)))


def _scatter_windows(parts, x_shape: tuple, window: tuple, stride: tuple, pad: tuple,
                     out_sizes: tuple, dtype) -> np.ndarray:
    """Sum ``parts(flat, offset)`` (shaped like the pooled result) back onto the cells of
    ``x_shape`` each window offset reads: the adjoint of reading windows, one offset at a time."""
    rank = len(window)
    front = len(x_shape) - rank
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[front:], pad))
    out = np.zeros(tuple(x_shape[:front]) + padded, dtype=dtype)
    lead = (slice(None),) * front
    for flat, offset in enumerate(np.ndindex(*window)):
        sel = tuple(slice(i, i + s * (m - 1) + 1, s) for i, s, m in zip(offset, stride, out_sizes))
        out[lead + sel] += parts(flat, offset)
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x_shape[front:], pad))
    return out[lead + crop]


def avg_pool_adjoint(g: np.ndarray, x_spatial: tuple, window: tuple, stride: tuple,
                     pad: tuple) -> np.ndarray:
    """The adjoint of `avg_pool`: each window's cotangent spread evenly over its cells."""
    rank = len(window)
    share = g / np.prod(window)
    return _scatter_windows(lambda flat, offset: share, g.shape[:-rank] + tuple(x_spatial),
                            window, stride, pad, g.shape[-rank:], g.dtype)


def _argmax_windows(x: np.ndarray, window: tuple, stride: tuple, pad: tuple) -> np.ndarray:
    """Per window, the flat offset (row-major over the window) of its first maximum."""
    cols = _windows(x, window, stride, pad, (1,) * len(window), fill=-np.inf)
    flat = cols.reshape(cols.shape[:-len(window)] + (-1,))
    return np.argmax(flat, axis=-1)


def max_pool(x: np.ndarray, window: tuple, stride: tuple, pad: tuple) -> np.ndarray:
    cols = _windows(x, window, stride, pad, (1,) * len(window), fill=-np.inf)
    return cols.max(axis=tuple(range(-len(window), 0)))


def max_pool_adjoint(x: np.ndarray, g: np.ndarray, window: tuple, stride: tuple,
                     pad: tuple) -> np.ndarray:
    """The cotangent ``g`` of each window routed to the window's first maximum in ``x``."""
    arg = _argmax_windows(x, window, stride, pad)
    return _scatter_windows(lambda flat, offset: np.where(arg == flat, g, 0), x.shape, window,
                            stride, pad, g.shape[-len(window):], g.dtype)


def max_pool_pick(x: np.ndarray, t: np.ndarray, window: tuple, stride: tuple,
                  pad: tuple) -> np.ndarray:
    """``t`` read at each window's first maximum of ``x`` (the tangent of `max_pool`)."""
    arg = _argmax_windows(x, window, stride, pad)
    cols = _windows(t, window, stride, pad, (1,) * len(window))
    flat = cols.reshape(cols.shape[:-len(window)] + (-1,))
    return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

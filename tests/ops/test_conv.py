"""Convolution and pooling (graphdl.ops.conv): values against naive loops written here (and
torch.nn.functional when installed), gradients against central differences for every option,
second order, vmap, dtypes and error messages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import DTypeError, ShapeError


def naive_conv(x, w, stride, pad, dilation, groups):
    """The definition, one output cell at a time (N, C, *S) * (O, C/g, *K)."""
    rank = w.ndim - 2
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pad))
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    og = o // groups
    out_sizes = [(x.shape[2 + i] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1
                 for i in range(rank)]
    out = np.zeros((n, o, *out_sizes))
    for b, oc in itertools.product(range(n), range(o)):
        grp = oc // og
        for pos in itertools.product(*map(range, out_sizes)):
            total = 0.0
            for ic in range(cg):
                for k in itertools.product(*map(range, w.shape[2:])):
                    idx = tuple(p * s + kk * d for p, s, kk, d in zip(pos, stride, k, dilation))
                    total += x[(b, grp * cg + ic) + idx] * w[(oc, ic) + k]
            out[(b, oc) + pos] = total
    return out


def naive_pool(x, window, stride, pad, how):
    fill = -np.inf if how == "max" else 0.0
    x = np.pad(x, ((0, 0), (0, 0)) + tuple(pad), constant_values=fill)
    sizes = [(x.shape[2 + i] - window[i]) // stride[i] + 1 for i in range(len(window))]
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for pos in itertools.product(*map(range, sizes)):
        sel = tuple(slice(p * s, p * s + k) for p, s, k in zip(pos, stride, window))
        cell = x[(slice(None), slice(None)) + sel].reshape(x.shape[:2] + (-1,))
        out[(slice(None), slice(None)) + pos] = cell.max(-1) if how == "max" else cell.mean(-1)
    return out


def naive_max_route(x, g, window, stride, pad):
    """The cotangent of each max-pool window added at its first maximum (row-major)."""
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pad), constant_values=-np.inf)
    out = np.zeros(xp.shape, dtype=g.dtype)
    for idx in np.ndindex(g.shape):
        n, c, pos = idx[0], idx[1], idx[2:]
        cells = list(itertools.product(*[range(p * s, p * s + k)
                                         for p, s, k in zip(pos, stride, window)]))
        best = max(cells, key=lambda cell: (xp[(n, c) + cell], -cells.index(cell)))
        out[(n, c) + best] += g[idx]
    crop = tuple(slice(lo, lo + m) for (lo, _), m in zip(pad, x.shape[2:]))
    return out[(slice(None), slice(None)) + crop]


def transpose_of(linear, out_like, arg_shape):
    """``A.T @ g`` for the linear map ``A`` given as a function, one basis vector at a time."""
    out = np.zeros(arg_shape)
    for i in np.ndindex(arg_shape):
        e = np.zeros(arg_shape)
        e[i] = 1.0
        out[i] = np.sum(linear(e) * out_like)
    return out


def central_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


CASES = [  # x shape, w shape, options, explicit pads for the naive reference
    ((2, 3, 5, 6), (4, 3, 2, 3), {}, ((0, 0), (0, 0))),
    ((1, 2, 7, 5), (3, 2, 3, 3), {"stride": 2, "padding": 1}, ((1, 1), (1, 1))),
    ((1, 4, 6, 7), (2, 2, 2, 2), {"groups": 2, "dilation": (2, 1)}, ((0, 0), (0, 0))),
    ((2, 2, 5, 5), (2, 2, 3, 2), {"padding": "same"}, ((1, 1), (0, 1))),
    ((1, 2, 7, 6), (2, 1, 3, 3), {"stride": (2, 3), "padding": ((2, 0), (1, 2)),
                                  "groups": 2, "dilation": 2}, ((2, 0), (1, 2))),
    ((2, 3, 9), (2, 3, 3), {"stride": 2, "padding": 1}, ((1, 1),)),
    ((1, 2, 4, 3, 5), (2, 2, 2, 2, 3), {"padding": (1, 0, 1)}, ((1, 1), (0, 0), (1, 1))),
]


def _options(opts, rank):
    stride = opts.get("stride", 1)
    dilation = opts.get("dilation", 1)
    def expand(v):
        return (v,) * rank if isinstance(v, int) else tuple(v)

    return expand(stride), expand(dilation), opts.get("groups", 1)


@pytest.mark.parametrize("xs, ws, opts, pads", CASES)
def test_conv_values_and_gradients_match_the_definition(xs, ws, opts, pads):
    rng = np.random.default_rng(len(xs) + sum(ws))
    xv, wv = rng.normal(size=xs), rng.normal(size=ws)
    stride, dilation, groups = _options(opts, len(ws) - 2)
    x, w = gd.tensor("x", xs), gd.tensor("w", ws)
    y = gd.conv(x, w, **opts)
    want = naive_conv(xv, wv, stride, pads, dilation, groups)
    assert y.shape == want.shape
    np.testing.assert_allclose(gd.function([x, w], y)(xv, wv), want, rtol=1e-12, atol=1e-12)

    # gradients of a weighted sum against central differences of the NumPy value
    cv = rng.normal(size=want.shape)
    cost = gd.sum(y * cv)
    gx, gw = gd.function([x, w], gd.grad(cost, [x, w]))(xv, wv)
    np.testing.assert_allclose(
        gx, central_grad(lambda a: np.sum(naive_conv(a, wv, stride, pads, dilation, groups) * cv),
                         xv), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        gw, central_grad(lambda a: np.sum(naive_conv(xv, a, stride, pads, dilation, groups) * cv),
                         wv), rtol=1e-6, atol=1e-7)

    # forward mode: conv is bilinear, so its tangent is exact
    tx, tw = rng.normal(size=xs), rng.normal(size=ws)
    jv = gd.function([x, w], gd.jvp(y, [x, w], [tx, tw]))(xv, wv)
    np.testing.assert_allclose(jv, naive_conv(tx, wv, stride, pads, dilation, groups)
                               + naive_conv(xv, tw, stride, pads, dilation, groups),
                               rtol=1e-10, atol=1e-10)


def test_conv_float32_end_to_end():
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(2, 2, 6, 5)).astype(np.float32)
    wv = rng.normal(size=(3, 2, 3, 2)).astype(np.float32)
    x, w = gd.tensor("x", xv.shape, "float32"), gd.tensor("w", wv.shape, "float32")
    y = gd.conv(x, w, stride=2, padding=1)
    assert y.dtype == np.float32
    cost = gd.sum(gd.tanh(y))
    val, gx, gw = gd.function([x, w], [y, *gd.grad(cost, [x, w])])(xv, wv)
    assert val.dtype == gx.dtype == gw.dtype == np.float32
    x64, w64 = xv.astype(np.float64), wv.astype(np.float64)
    pads = ((1, 1), (1, 1))
    np.testing.assert_allclose(val, naive_conv(x64, w64, (2, 2), pads, (1, 1), 1), rtol=1e-5,
                               atol=1e-5)
    def f(a, b):
        return np.sum(np.tanh(naive_conv(a, b, (2, 2), pads, (1, 1), 1)))

    np.testing.assert_allclose(gx, central_grad(lambda a: f(a, w64), x64), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw, central_grad(lambda b: f(x64, b), w64), rtol=1e-4, atol=1e-4)


def test_second_order_through_conv():
    """hvp of a non-quadratic cost, against central differences of the gradient."""
    rng = np.random.default_rng(2)
    xv, wv = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(2, 2, 3, 3))
    v = rng.normal(size=wv.shape)
    x, w = gd.tensor("x", xv.shape), gd.tensor("w", wv.shape)
    cost = gd.sum(gd.tanh(gd.conv(x, w, stride=2, padding=1, dilation=1)))
    grad_w = gd.function([x, w], gd.grad(cost, w))
    hv = gd.function([x, w], gd.hvp(cost, w, v))(xv, wv)
    h = 1e-5
    want = (grad_w(xv, wv + h * v) - grad_w(xv, wv - h * v)) / (2 * h)
    np.testing.assert_allclose(hv, want, rtol=1e-6, atol=1e-8)
    # the mixed second derivative reaches the input through the kernel adjoint's adjoint
    grad_x = gd.function([x, w], gd.grad(cost, x))
    mixed = gd.function([x, w], gd.grad(gd.sum(gd.grad(cost, w) * v), x))(xv, wv)
    want = (grad_x(xv, wv + h * v) - grad_x(xv, wv - h * v)) / (2 * h)
    np.testing.assert_allclose(mixed, want, rtol=1e-6, atol=1e-8)


def test_vmap_over_inputs_and_kernels():
    rng = np.random.default_rng(3)
    xs, ws = rng.normal(size=(3, 2, 4, 5, 5)), rng.normal(size=(3, 2, 2, 3, 3))
    x, w = gd.tensor("x", (2, 4, 5, 5)), gd.tensor("w", (2, 2, 3, 3))
    y = gd.conv(x, w, padding=1, groups=2)
    bx, bw = gd.tensor("bx", xs.shape), gd.tensor("bw", ws.shape)
    both = gd.function([bx, bw], gd.vmap(y, {x: bx, w: bw}))(xs, ws)
    only_x = gd.function([bx, w], gd.vmap(y, {x: bx}))(xs, ws[0])
    for i in range(3):
        pads = ((1, 1), (1, 1))
        np.testing.assert_allclose(both[i], naive_conv(xs[i], ws[i], (1, 1), pads, (1, 1), 2),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(only_x[i], naive_conv(xs[i], ws[0], (1, 1), pads, (1, 1), 2),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("how", ["max", "avg"])
@pytest.mark.parametrize("window, stride, padding", [
    (2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)),
])
def test_pooling_values_and_gradients(how, window, stride, padding):
    rng = np.random.default_rng(4)
    xv = rng.normal(size=(2, 3, 7, 6))
    pool = gd.max_pool if how == "max" else gd.avg_pool
    win = (window,) * 2 if isinstance(window, int) else window
    st = win if stride is None else ((stride,) * 2 if isinstance(stride, int) else stride)
    pd = (padding,) * 2 if isinstance(padding, int) else padding
    pads = tuple((p, p) for p in pd)
    x = gd.tensor("x", xv.shape)
    y = pool(x, window, stride=stride, padding=padding)
    want = naive_pool(xv, win, st, pads, how)
    np.testing.assert_allclose(gd.function([x], y)(xv), want, rtol=1e-12)
    cv = rng.normal(size=want.shape)
    gx = gd.function([x], gd.grad(gd.sum(y * cv), x))(xv)
    np.testing.assert_allclose(
        gx, central_grad(lambda a: np.sum(naive_pool(a, win, st, pads, how) * cv), xv),
        rtol=1e-6, atol=1e-7)
    t = rng.normal(size=xv.shape)
    h = 1e-6
    fd = (naive_pool(xv + h * t, win, st, pads, how)
          - naive_pool(xv - h * t, win, st, pads, how)) / (2 * h)
    np.testing.assert_allclose(gd.function([x], gd.jvp(y, x, t))(xv), fd, rtol=1e-6, atol=1e-7)


def test_max_pool_ties_go_to_the_first_maximum_and_second_order():
    xv = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    x = gd.tensor("x", xv.shape)
    g = gd.function([x], gd.grad(gd.sum(gd.max_pool(x, 2)), x))(xv)
    np.testing.assert_array_equal(g, [[[[1.0, 0.0], [0.0, 0.0]]]])
    # second order: the gradient of sum(max_pool(x)**2) is 2*max at the argmax; its hvp is
    # 2*v at the argmax, read back to the same cell
    rng = np.random.default_rng(5)
    xv, v = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(1, 2, 4, 4))
    x = gd.tensor("x", xv.shape)
    cost = gd.sum(gd.max_pool(x, 2) ** 2)
    grad = gd.function([x], gd.grad(cost, x))
    hv = gd.function([x], gd.hvp(cost, x, v))(xv)
    np.testing.assert_allclose(hv, (grad(xv + 1e-6 * v) - grad(xv - 1e-6 * v)) / 2e-6,
                               rtol=1e-6, atol=1e-8)


def test_avg_pool_float32_and_vmap():
    rng = np.random.default_rng(6)
    xs = rng.normal(size=(3, 2, 1, 4, 4)).astype(np.float32)
    x, bx = gd.tensor("x", (2, 1, 4, 4), "float32"), gd.tensor("bx", xs.shape, "float32")
    out = gd.function([bx], gd.vmap(gd.avg_pool(x, 2) + gd.max_pool(x, 2), {x: bx}))(xs)
    assert out.dtype == np.float32
    for i in range(3):
        want = naive_pool(xs[i], (2, 2), (2, 2), ((0, 0), (0, 0)), "avg") + naive_pool(
            xs[i], (2, 2), (2, 2), ((0, 0), (0, 0)), "max")
        np.testing.assert_allclose(out[i], want, rtol=1e-6)


def test_against_torch_when_installed():
    torch = pytest.importorskip("torch", reason="torch is not installed here")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    xv, wv = rng.normal(size=(2, 4, 9, 8)), rng.normal(size=(6, 2, 3, 2))
    x, w = gd.tensor("x", xv.shape), gd.tensor("w", wv.shape)
    got = gd.function([x, w], [gd.conv(x, w, stride=2, padding=(1, 2), dilation=(1, 2),
                                       groups=2), gd.max_pool(x, 3, 2, 1),
                               gd.avg_pool(x, 3, 2, 1)])(xv, wv)
    tx, tw = torch.from_numpy(xv), torch.from_numpy(wv)
    want = [F.conv2d(tx, tw, stride=2, padding=(1, 2), dilation=(1, 2), groups=2),
            F.max_pool2d(tx, 3, 2, 1), F.avg_pool2d(tx, 3, 2, 1)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-12)


def test_errors_name_the_operands_and_the_size_that_does_not_fit():
    x, w = gd.tensor("image", (1, 3, 4, 4)), gd.tensor("kernel", (2, 3, 5, 5))
    with pytest.raises(ShapeError) as err:
        gd.conv(x, w, stride=2, padding=0)
    msg = str(err.value)
    for part in ("image", "(1, 3, 4, 4)", "kernel", "(5, 5)", "stride (2, 2)",
                 "padding ((0, 0), (0, 0))", "size 4"):
        assert part in msg, msg
    with pytest.raises(ShapeError, match=r"image .* has 3 channels, kernel .* groups=1 expects "
                                         r"2 x 1 = 2"):
        gd.conv(x, gd.tensor("kernel", (2, 2, 3, 3)))
    with pytest.raises(ShapeError, match="4 output channels, not a multiple of groups=3"):
        gd.conv(x, gd.tensor("k", (4, 1, 3, 3)), groups=3)
    with pytest.raises(DTypeError, match="one floating dtype.*float32.*float64"):
        gd.conv(gd.tensor("a", (1, 3, 4, 4), "float32"), gd.tensor("b", (2, 3, 3, 3)))
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        gd.conv(x, gd.tensor("k", (2, 3, 3, 3)), padding="full")
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        gd.conv(x, gd.tensor("k", (2, 3, 3, 3)), stride=0)
    with pytest.raises(ShapeError, match="max_pool: .* more than half the window"):
        gd.max_pool(x, 2, padding=2)
    with pytest.raises(ShapeError, match="avg_pool: input v .* 1-3 spatial axes"):
        gd.avg_pool(gd.vector("v", 4), 2)


def test_numba_backend_refuses_by_name():
    from graphdl.codegen.numba_backend import NumbaLoweringError, NumbaUnavailable

    x, w = gd.tensor("x", (1, 1, 4, 4)), gd.tensor("w", (1, 1, 2, 2))
    try:
        gd.function([x, w], gd.conv(x, w), backend="numba")
    except NumbaUnavailable:
        pytest.skip("numba is not installed")
    except NumbaLoweringError as exc:
        assert "conv" in str(exc) and "numba" in str(exc), exc
    else:
        raise AssertionError("the numba backend compiled conv without a lowering")

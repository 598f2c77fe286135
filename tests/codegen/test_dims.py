"""Symbolic sizes (graphdl.codegen.dims) and the buffer reuse they allow over unknown sizes."""

import numpy as np

import graphdl as gd
from graphdl.codegen.dims import Size, symbolic_sizes
from graphdl.ir.walk import toposort


def sizes_of(*outputs):
    order = toposort(list(outputs))
    return symbolic_sizes(order)


def test_batch_size_is_followed_through_matmul_transpose_reductions_and_broadcasting():
    X = gd.matrix("X", (None, 4))
    W = gd.shared(np.ones((4, 3)), name="W")
    h = gd.relu(X @ W + np.ones(3))
    m = h.max(axis=1, keepdims=True)
    back = (h - m) @ W.T
    ht = h.T
    sizes = sizes_of(back, ht)
    (batch, four) = sizes[X]
    assert isinstance(batch, Size) and four == 4
    assert sizes[h] == (batch, 3)
    assert sizes[m] == (batch, 1)
    assert sizes[back] == (batch, 4)
    assert sizes[ht] == (3, batch)


def test_different_inputs_unknown_sizes_stay_different():
    x = gd.vector("x", (None,))
    y = gd.vector("y", (None,))
    s = x + y  # either may be 1 at run time: the result's size is neither's for sure
    sizes = sizes_of(s)
    assert sizes[x][0] is not sizes[y][0]
    assert sizes[s][0] is not sizes[x][0] and sizes[s][0] is not sizes[y][0]


def test_mlp_step_writes_the_relu_mask_product_and_the_shifted_logits_in_place():
    X = gd.matrix("X", (None, 5))
    y = gd.vector("y", (None,), dtype="int64")
    W1 = gd.shared(np.random.default_rng(0).standard_normal((5, 4)), name="W1")
    W2 = gd.shared(np.random.default_rng(1).standard_normal((4, 3)), name="W2")
    h = gd.relu(X @ W1)
    z = h @ W2
    loss = -gd.take_along_axis(gd.log_softmax(z, axis=1), y[:, None], axis=1).mean()
    g1, g2 = gd.grad(loss, [W1, W2])
    fn = gd.function([X, y], [loss, g1, g2])
    lines = fn.source.splitlines()
    assert any("np.multiply(" in s and "out=" in s and "multiply f64[?,4]" in s for s in lines)
    assert any("np.subtract(" in s and "out=" in s and "subtract f64[?,3]" in s for s in lines)
    plain = gd.function([X, y], [loss, g1, g2], optimize=False)
    rng = np.random.default_rng(2)
    for batch in (1, 7):
        args = rng.standard_normal((batch, 5)), rng.integers(0, 3, batch)
        for got, want in zip(fn(*args), plain(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_no_reuse_where_one_unknown_size_may_broadcast_against_another():
    x = gd.vector("x", (None,))
    y = gd.vector("y", (None,))
    out = gd.exp(x) * gd.exp(y)
    fn = gd.function([x, y], out)
    (product,) = [s for s in fn.source.splitlines() if "# multiply" in s]
    assert "out=" not in product
    np.testing.assert_allclose(fn(np.zeros(1), np.arange(4.0)), np.exp(np.arange(4.0)))
    np.testing.assert_allclose(fn(np.arange(4.0), np.zeros(1)), np.exp(np.arange(4.0)))

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Back-propagation is reverse-mode automatic differentiation
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# The lecture derives the gradient of a 3-layer network by hand (eqs. 13-47) and arrives at the
# back-propagation recursion of eq. 47: a forward pass that stores every layer's input and
# pre-activation, then a backward pass that carries an error vector $\boldsymbol\delta$ from
# the loss down to the first layer. That backward pass is the adjoint sweep of tutorial 1 applied
# to a graph whose nodes are matrices. Here we
#
# 1. code eq. 47 by hand in NumPy and check it against `gd.grad`, entry by entry (eq. 28) and
#    against finite differences;
# 2. read the code graphdl generates for the gradient and find the $\boldsymbol\delta$'s in it;
# 3. measure vanishing and exploding gradients (eq. 48): the gradient norm of each layer against
#    depth, activation function and initialization.

# %%
import os
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # as a script: write files, open no window
import matplotlib.pyplot as plt
import numpy as np

import graphdl as gd

OUT = Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", "tutorials/_out"))
OUT.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The network of eq. 14
#
# $$\bar{\mathbf x}_1 = \mathbf W_1 \mathbf x_0,\quad \mathbf x_1 = g(\bar{\mathbf x}_1),\quad
# \bar{\mathbf x}_2 = \mathbf W_2 \mathbf x_1,\quad \mathbf x_2 = g(\bar{\mathbf x}_2),\quad
# \mathbf x_3 = \mathbf W_3 \mathbf x_2,\quad L = \tfrac12 \|\mathbf x_3 - \mathbf e\|^2$$
#
# with $g = \tanh$ and parameters $\Theta = [\mathbf W_1, \mathbf W_2, \mathbf W_3]$ (eq. 15).
# The weights are graph *inputs* here, so we can evaluate the gradient at any values we like.

# %%
n0, n1, n2, n3 = 4, 5, 3, 2
x0 = gd.vector("x0", n0)
e = gd.vector("e", n3)
W1, W2, W3 = gd.matrix("W1", (n1, n0)), gd.matrix("W2", (n2, n1)), gd.matrix("W3", (n3, n2))

x1_bar = W1 @ x0
x1 = gd.tanh(x1_bar)
x2_bar = W2 @ x1
x2 = gd.tanh(x2_bar)
x3 = W3 @ x2
L = 0.5 * gd.sum(gd.square(x3 - e))

grads = gd.grad(L, [W1, W2, W3])  # eq. 16: dL/dW1, dL/dW2, dL/dW3 in one reverse sweep
backprop = gd.function([x0, e, W1, W2, W3], [L, *grads], name="backprop")

values = {
    "x0": rng.normal(size=n0), "e": rng.normal(size=n3),
    "W1": rng.normal(size=(n1, n0)), "W2": rng.normal(size=(n2, n1)),
    "W3": rng.normal(size=(n3, n2)),
}
loss, dW1, dW2, dW3 = backprop(*values.values())
print(f"L = {float(loss):.6f}")

# %% [markdown]
# ## Eq. 47 by hand
#
# Forward (store $\bar{\mathbf x}_i$ and $\mathbf x_i$), then backward:
# $\boldsymbol\delta_3 = \mathbf x_3 - \mathbf e$,
# $\partial L/\partial \mathbf W_3 = \boldsymbol\delta_3 \mathbf x_2^\top$ (eq. 30),
# $\boldsymbol\delta_2 = \mathbf W_3^\top\boldsymbol\delta_3 \odot g'(\bar{\mathbf x}_2)$,
# $\partial L/\partial \mathbf W_2 = \boldsymbol\delta_2 \mathbf x_1^\top$ (eq. 45),
# $\boldsymbol\delta_1 = \mathbf W_2^\top\boldsymbol\delta_2 \odot g'(\bar{\mathbf x}_1)$,
# $\partial L/\partial \mathbf W_1 = \boldsymbol\delta_1 \mathbf x_0^\top$ (eq. 46).


# %%
def g_prime(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def backprop_by_hand(x0, e, W1, W2, W3):
    """Eq. 47: the forward pass stores what the backward pass needs."""
    a1 = W1 @ x0
    h1 = np.tanh(a1)
    a2 = W2 @ h1
    h2 = np.tanh(a2)
    h3 = W3 @ h2
    delta3 = h3 - e
    delta2 = (W3.T @ delta3) * g_prime(a2)
    delta1 = (W2.T @ delta2) * g_prime(a1)
    return np.outer(delta1, x0), np.outer(delta2, h1), np.outer(delta3, h2), h2, h3


hand_W1, hand_W2, hand_W3, h2, h3 = backprop_by_hand(*values.values())
for name, ours, theirs in [("W1", dW1, hand_W1), ("W2", dW2, hand_W2), ("W3", dW3, hand_W3)]:
    print(f"dL/d{name}: max |gd.grad - eq. 47| = {np.abs(ours - theirs).max():.1e}")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)

# %% [markdown]
# The lecture gets there one index at a time: eq. 28 says
# $\partial L/\partial \mathbf W_3^{kl} = (\mathbf x_3^k - \mathbf e^k)\,\mathbf x_2^l$, and eq. 43
# says $\partial L/\partial \mathbf W_2^{kl} = \sum_i (\mathbf x_3^i - \mathbf e^i)\,
# \mathbf W_3^{ik}\, g'(\bar{\mathbf x}_2^k)\, \mathbf x_1^l$. Loops over the indices give the
# same matrices:

# %%
W3v, W2v, W1v, x0v, ev = values["W3"], values["W2"], values["W1"], values["x0"], values["e"]
a2 = W2v @ np.tanh(W1v @ x0v)
h1 = np.tanh(W1v @ x0v)
eq28 = np.array([[(h3[k] - ev[k]) * h2[l] for l in range(n2)] for k in range(n3)])
eq43 = np.array([[sum((h3[i] - ev[i]) * W3v[i, k] for i in range(n3)) * g_prime(a2[k]) * h1[l]
                  for l in range(n1)] for k in range(n2)])
np.testing.assert_allclose(eq28, dW3, rtol=1e-12)
np.testing.assert_allclose(eq43, dW2, rtol=1e-12)

# %% [markdown]
# And a central finite difference on one entry of $\mathbf W_1$, the layer furthest from the loss:

# %%
loss_only = gd.function([x0, e, W1, W2, W3], L)
eps = 1e-6
bump = np.zeros((n1, n0))
bump[2, 1] = eps
args = list(values.values())
plus = loss_only(args[0], args[1], args[2] + bump, args[3], args[4])
minus = loss_only(args[0], args[1], args[2] - bump, args[3], args[4])
numeric = (float(plus) - float(minus)) / (2 * eps)
print(f"dL/dW1[2, 1]: finite difference {numeric:.8f}, gd.grad {dW1[2, 1]:.8f}")
assert abs(numeric - dW1[2, 1]) < 1e-8

# %% [markdown]
# ## Where are the deltas?
#
# `gd.grad` did not know about layers or $\boldsymbol\delta$'s: it applied each op's VJP rule
# in reverse topological order (the adjoint sweep). The generated code reads like eq. 47: the
# adjoint of `x3` is $\boldsymbol\delta_3 = \mathbf x_3 - \mathbf e$ (times the $\tfrac12 \cdot 2$
# of the square), $\boldsymbol\delta_2$ and $\boldsymbol\delta_1$ are the products with
# `1 - square(tanh)` $= g'$, and every weight gradient is a column times a row (an outer product).

# %%
print(backprop.source)
# the backward pass reuses the forward values: tanh runs twice (two layers), never again
assert backprop.source.count("np.tanh(") == 2

# %% [markdown]
# The whole back-propagation for a mini-batch (eq. 13 sums the loss over the training pairs)
# is the same graph with a batch axis. With the batch as *rows* ($\mathbf X_0$ is
# $N \times n_0$ and a layer computes $\mathbf X \mathbf W^\top$), summing eq. 47 over the
# samples gives $\partial L/\partial \mathbf W_1 = \boldsymbol\Delta_1^\top \mathbf X_0$:

# %%
X0 = gd.matrix("X0", (None, n0))
E = gd.matrix("E", (None, n3))
XL = gd.tanh(gd.tanh(X0 @ gd.transpose(W1)) @ gd.transpose(W2)) @ gd.transpose(W3)
L_batch = 0.5 * gd.sum(gd.square(XL - E))  # eq. 13 with eq. 14's L per sample
batch_grad = gd.function([X0, E, W1, W2, W3], gd.grad(L_batch, [W1, W2, W3]))
Xs, Es = rng.normal(size=(8, n0)), rng.normal(size=(8, n3))
summed = [sum(g) for g in zip(*(backprop_by_hand(x, y, W1v, W2v, W3v)[:3]
                              for x, y in zip(Xs, Es)))]
for ours, theirs in zip(batch_grad(Xs, Es, W1v, W2v, W3v), summed):
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)

# %% [markdown]
# ## Vanishing and exploding gradients (eq. 48)
#
# Unrolling eq. 47 down to the first layer,
#
# $$\frac{\partial L}{\partial \mathbf W_1} = \Big(\mathbf W_2^\top \big(\mathbf W_3^\top
# (\mathbf x_3 - \mathbf e) \odot g'(\bar{\mathbf x}_2)\big) \odot g'(\bar{\mathbf x}_1)\Big)
# \mathbf x_0^\top,$$
#
# a product with one factor $\mathbf W_i^\top$ and one $g'(\bar{\mathbf x}_i)$ per layer. With
# $D$ layers, factors a little smaller than 1 shrink the first layers' gradient geometrically, and
# factors a little larger blow it up. We build $D$-layer networks of width 32 (batch-first,
# $\mathbf X \mathbf W$), take the norm $\|\partial L/\partial \mathbf W_l\|$ of every layer's
# gradient for a batch of 64 random inputs and targets, and vary the activation and the
# initialization. Sigmoid's derivative is at most 1/4, so its products vanish; weights drawn from
# $\mathcal N(0, 1)$ are far too large for width 32; Xavier's (eq. 77, tutorial 6) and He's
# scales keep every factor near 1.

# %%
WIDTH, BATCH = 32, 64


def layer_grad_norms(act, init, depth: int, seed: int = 0) -> np.ndarray:
    """||dL/dW_l|| for l = 1..depth, for a depth-layer MLP with activation ``act``."""
    r = np.random.default_rng(seed)
    X = gd.matrix("X", (None, WIDTH))
    T = gd.matrix("T", (None, WIDTH))
    Ws = [gd.shared(init((WIDTH, WIDTH), r), name=f"W{l + 1}") for l in range(depth)]
    h = X
    for layer, W in enumerate(Ws):
        h = h @ W
        if layer < depth - 1:
            h = act(h)
    loss = 0.5 * gd.mean(gd.sum(gd.square(h - T), axis=1))
    norms = gd.function([X, T], [gd.sqrt(gd.sum(gd.square(g))) for g in gd.grad(loss, Ws)])
    return np.array([float(v) for v in norms(r.normal(size=(BATCH, WIDTH)),
                                             r.normal(size=(BATCH, WIDTH)))])


def normal(std: float):
    return lambda shape, r: r.normal(0.0, std, shape)


SETTINGS = {
    "tanh, Xavier": (gd.tanh, gd.init.xavier_uniform),
    "ReLU, He": (gd.relu, gd.init.he_normal),
    "sigmoid, Xavier": (gd.sigmoid, gd.init.xavier_uniform),
    "tanh, N(0, 1)": (gd.tanh, normal(1.0)),
    "tanh, N(0, 0.01²)": (gd.tanh, normal(0.01)),
}
DEPTH = 16
per_layer = {name: layer_grad_norms(act, init, DEPTH) for name, (act, init) in SETTINGS.items()}
for name, norms in per_layer.items():
    print(f"{name:18s} ||dL/dW_1|| = {norms[0]:9.2e}   ||dL/dW_{DEPTH}|| = {norms[-1]:9.2e}   "
          f"ratio first/last = {norms[0] / norms[-1]:8.1e}")

# %% [markdown]
# The numbers say what eq. 48 predicts: with tanh and Xavier or ReLU and He initialization the
# first and last layers get gradients of the same size; sigmoid's gradient at the first layer is
# about ten orders of magnitude smaller than at the last (vanishing); tanh with $\mathcal N(0,1)$
# weights has a first-layer gradient thousands of times larger (exploding); and tiny weights make
# every gradient tiny, since $\partial L/\partial \mathbf W_l = \boldsymbol\delta_l
# \mathbf x_{l-1}^\top$ needs both the forward activations and the backward errors.

# %%
ratio = {name: norms[0] / norms[-1] for name, norms in per_layer.items()}
assert 0.1 < ratio["tanh, Xavier"] < 10 and 0.1 < ratio["ReLU, He"] < 10
assert ratio["sigmoid, Xavier"] < 1e-6  # vanishing
assert ratio["tanh, N(0, 1)"] > 100  # exploding
assert per_layer["tanh, N(0, 0.01²)"].max() < 1e-10  # everything vanishes

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, norms in per_layer.items():
    ax.semilogy(np.arange(1, DEPTH + 1), norms, "o-", ms=3, label=name)
ax.set(xlabel="layer l (1 = input side)", ylabel="||∂L/∂W_l||",
       title=f"Gradient norm per layer, {DEPTH} layers of width {WIDTH}")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "03_gradient_norm_per_layer.png", dpi=100)
plt.close(fig)

# %% [markdown]
# Against depth: the ratio between the first and the last layer's gradient norms for networks of
# 2 to 32 layers. Vanishing and exploding are geometric in the depth, straight lines on a log
# scale.

# %%
depths = [2, 4, 8, 12, 16, 24, 32]
against_depth = {}
for name, (act, init) in SETTINGS.items():
    if name != "tanh, N(0, 0.01²)":  # its ratio stays near 1: everything is tiny
        against_depth[name] = []
        for depth in depths:
            norms = layer_grad_norms(act, init, depth)
            against_depth[name].append(norms[0] / norms[-1])
sig = np.log10(against_depth["sigmoid, Xavier"])
assert np.all(np.diff(sig) < 0)  # vanishes faster the deeper the network
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, ratios in against_depth.items():
    ax.semilogy(depths, ratios, "o-", label=name)
ax.axhline(1.0, color="grey", lw=0.8)
ax.set(xlabel="depth D", ylabel="||∂L/∂W_1|| / ||∂L/∂W_D||",
       title="First-layer gradient relative to the last, against depth")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "03_gradient_ratio_vs_depth.png", dpi=100)
plt.close(fig)
print({name: f"{r[-1]:.1e}" for name, r in against_depth.items()})

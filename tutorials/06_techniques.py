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
# # 6. Optimization techniques
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# The lecture closes with the techniques that make deep networks trainable and make them
# generalize: Xavier initialization (eq. 77), batch normalization (eq. 78), data augmentation,
# dropout seen as an ensemble (eqs. 79-83) and multi-task learning. Each section measures the
# effect the slide claims, on graphs built with graphdl.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only cost time
import itertools
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # as a script: write files, open no window
import matplotlib.pyplot as plt
import numpy as np

import graphdl as gd
from graphdl import nn, optim
from graphdl.data import load_digits, random_shift, shift_images, train_val_test_split
from graphdl.training import Classifier

OUT = Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", "tutorials/_out"))
OUT.mkdir(parents=True, exist_ok=True)
X_all, y_all = load_digits()
(X_tr, y_tr), (X_va, y_va), (X_te, y_te) = train_val_test_split(X_all, y_all, val=0.2,
                                                                test=0.2, seed=0)

# %% [markdown]
# ## Xavier initialization (eq. 77)
#
# $\mathbf W_{ij} \sim \mathcal U\big(-\sqrt{6/(m+n)}, \sqrt{6/(m+n)}\big)$ has variance
# $2/(m+n)$: the compromise between keeping the activations' variance from layer to layer
# ($\mathrm{Var} = 1/m$) and keeping the gradients' variance ($1/n$). First the distribution:

# %%
m, n = 300, 100
W = gd.init.xavier_uniform((m, n), rng=0)
limit = np.sqrt(6 / (m + n))
print(f"bound {limit:.4f}, largest |W| {np.abs(W).max():.4f}, variance {W.var():.5f} "
      f"(2/(m+n) = {2 / (m + n):.5f})")
assert np.abs(W).max() <= limit and abs(W.var() / (2 / (m + n)) - 1) < 0.05

# %% [markdown]
# Then its purpose. Ten tanh layers of width 256 applied to a batch of 500 random inputs; for
# each layer we record the spread of the activations (forward) and of the gradient of a loss
# with respect to them (backward), comparing $\mathcal N(0, 1)$ weights, the older heuristic
# $\mathcal U(-1/\sqrt m, 1/\sqrt m)$ that Glorot and Bengio studied, and Xavier's.

# %%
DEPTH, WIDTH = 10, 256
INITS = {
    "N(0, 1)": lambda shape, r: r.normal(0, 1, shape),
    "U(±1/√m)": lambda shape, r: r.uniform(-1, 1, shape) / np.sqrt(shape[0]),
    "Xavier (eq. 77)": gd.init.xavier_uniform,
}


def spread_per_layer(init) -> tuple[np.ndarray, np.ndarray]:
    """Std of each layer's activations and of the loss gradient with respect to them."""
    r = np.random.default_rng(0)
    X = gd.matrix("X", (None, WIDTH))
    h, acts = X, []
    for _ in range(DEPTH):
        h = gd.tanh(h @ gd.shared(init((WIDTH, WIDTH), r)))
        acts.append(h)
    loss = gd.sum(h * gd.constant(r.normal(size=(500, WIDTH))))  # a random linear read-out
    grads = gd.grad(loss, acts)
    fn = gd.function([X], [gd.sqrt(gd.mean(gd.square(v))) for v in acts + grads])
    values = np.array([float(v) for v in fn(r.normal(size=(500, WIDTH)))])
    return values[:DEPTH], values[DEPTH:]


spreads = {name: spread_per_layer(init) for name, init in INITS.items()}
for name, (act, grad) in spreads.items():
    print(f"{name:16s} activation rms layer 1 {act[0]:.3f} -> layer {DEPTH} {act[-1]:.3f};  "
          f"gradient rms layer 1 {grad[0]:.2e} -> layer {DEPTH} {grad[-1]:.2e}")

# %% [markdown]
# With $\mathcal N(0,1)$ weights the tanh units saturate at $\pm 1$ (activation rms near 1) and
# the gradients explode towards the input; the old heuristic (variance $1/(3m)$) shrinks the
# activations by about $\sqrt 3$ per layer, and the gradients with them; Xavier keeps both the
# activations and the back-propagated gradients within a factor 3 across all ten layers.

# %%
sat_act, _ = spreads["N(0, 1)"]
old_act, old_grad = spreads["U(±1/√m)"]
xav_act, xav_grad = spreads["Xavier (eq. 77)"]
assert sat_act.min() > 0.9  # saturated
assert old_act[0] / old_act[-1] > 100 and old_grad[-1] / old_grad[0] > 100  # vanishing
assert xav_act[0] / xav_act[-1] < 3 and xav_grad.max() / xav_grad.min() < 3  # balanced

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
layers = np.arange(1, DEPTH + 1)
for name, (act, grad) in spreads.items():
    axes[0].plot(layers, act, "o-", label=name)
    axes[1].semilogy(layers, grad, "o-", label=name)
axes[0].set(xlabel="layer", ylabel="rms of activations", title="Forward: activations",
            ylim=(0, 1.05))
axes[1].set(xlabel="layer", ylabel="rms of ∂loss/∂activation", title="Backward: gradients")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "06_xavier_activations.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Batch normalization (eq. 78)
#
# In training mode, `nn.BatchNorm` normalizes each feature with the mini-batch's own mean and
# (biased) variance, then applies a learned scale and shift (1 and 0 at the start). We compare
# its output with eq. 78 in NumPy, and check the slide's "more resilient to parameter scaling":
# multiplying the previous layer's weights by 10 leaves the normalized output unchanged.

# %%
dense = nn.Dense(64, 32, rng=0, name="dense")
bn = nn.BatchNorm(32, name="bn")
Xb = gd.matrix("X", (None, 64))
mode = nn.Mode(training=True)
normalized = gd.function([Xb], bn(dense(Xb), mode))
batch = X_tr[:100]
pre = batch @ dense.W.get_value() + dense.b.get_value()
mu, var = pre.mean(axis=0), pre.var(axis=0)
np.testing.assert_allclose(normalized(batch), (pre - mu) / np.sqrt(var + bn.eps), atol=1e-12)
out = normalized(batch)
print(f"per-feature |mean| at most {np.abs(out.mean(axis=0)).max():.1e}, "
      f"variance {out.var(axis=0).mean():.4f}")
dense.W.set_value(10 * dense.W.get_value())
scaled_out = normalized(batch)
print(f"after W <- 10 W: largest change of the output {np.abs(scaled_out - out).max():.1e}")
assert np.abs(scaled_out - out).max() < 1e-3  # the same up to the effect of eps

# %% [markdown]
# "Prevents exploding or vanishing gradients": a 10-layer sigmoid network (tutorial 3 showed its
# gradient vanishing) with and without a `BatchNorm` before each activation. We measure the
# gradient norm of each dense layer's weights, then train both for 10 epochs of plain SGD.


# %%
def deep_sigmoid(batchnorm: bool, depth: int = 10) -> nn.Sequential:
    layers: list = []
    for i in range(depth):
        layers.append(nn.Dense(64, 64, rng=i, name=f"d{i + 1}"))
        if batchnorm:
            layers.append(nn.BatchNorm(64, name=f"bn{i + 1}"))
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers, nn.Dense(64, 10, rng=99, name="out"))


bn_results = {}
for label, use_bn in [("without BatchNorm", False), ("with BatchNorm", True)]:
    model = deep_sigmoid(use_bn)
    clf = Classifier(model, optim.SGD(0.1), n_features=64)
    weights = [v for k, v in model.named_parameters().items() if k.endswith(".W")][:-1]
    norms = gd.function([clf.X, clf.y], [gd.sqrt(gd.sum(gd.square(g)))
                                         for g in gd.grad(clf.loss, weights)])
    per_layer = np.array([float(v) for v in norms(X_tr[:128], y_tr[:128])])
    history = clf.fit((X_tr, y_tr), (X_va, y_va), epochs=10, batch_size=32, patience=None,
                      verbose=False).history
    bn_results[label] = (per_layer, history)
    print(f"{label:18s} gradient norm layer 1 / layer 10 = {per_layer[0] / per_layer[-1]:.1e}; "
          f"training loss after 10 epochs {history['train_loss'][-1]:.3f}, "
          f"validation accuracy {history['val_acc'][-1]:.3f}")

# %%
plain_norms, plain_hist = bn_results["without BatchNorm"]
bn_norms, bn_hist = bn_results["with BatchNorm"]
assert plain_norms[0] / plain_norms[-1] < 1e-4 and 0.2 < bn_norms[0] / bn_norms[-1] < 5
assert plain_hist["train_loss"][-1] > 2.0  # barely better than guessing (ln 10 = 2.30)
assert bn_hist["train_loss"][-1] < 0.5 and bn_hist["val_acc"][-1] > 0.9

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for label, (per_layer, history) in bn_results.items():
    axes[0].semilogy(np.arange(1, len(per_layer) + 1), per_layer, "o-", label=label)
    axes[1].plot(np.arange(1, len(history) + 1), history["train_loss"], "o-", label=label)
axes[0].set(xlabel="dense layer", ylabel="||∂L/∂W||", title="10 sigmoid layers: gradient norms")
axes[1].set(xlabel="epoch", ylabel="training loss", title="Training with SGD (η = 0.1)")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "06_batchnorm.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Data augmentation
#
# New training images from old ones by transformations that do not change the label: here,
# shifts by up to one pixel (`graphdl.data.random_shift`, applied to every training batch by
# `Classifier.fit(augment=...)`). A network trained on centred digits only has never seen a
# shifted one; the augmented network recognizes them.

# %%
def small_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Dense(64, 128, rng=1, name="d1"), nn.ReLU(),
                         nn.Dense(128, 10, rng=2, name="d2"))


shifted_test = random_shift(X_te, np.random.default_rng(5))
augmentation = {}
for label, augment in [("no augmentation", None), ("random shifts", random_shift)]:
    clf = Classifier(small_mlp(), optim.Adam(0.003), n_features=64)
    clf.fit((X_tr, y_tr), (X_va, y_va), epochs=30, batch_size=32, patience=None,
            verbose=False, augment=augment)
    augmentation[label] = (clf.evaluate(X_te, y_te)[1], clf.evaluate(shifted_test, y_te)[1])
    print(f"{label:16s} test accuracy {augmentation[label][0]:.3f}, "
          f"on shifted test images {augmentation[label][1]:.3f}")
assert augmentation["no augmentation"][1] < 0.7 < 0.9 < augmentation["random shifts"][1]

fig, axes = plt.subplots(3, 6, figsize=(9, 4.8))
offsets = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (1, 1)]
for row, index in enumerate([0, 1, 2]):
    for col, (dy, dx) in enumerate(offsets):
        image = shift_images(X_te[index:index + 1], dy, dx).reshape(8, 8)
        axes[row, col].imshow(image, cmap="gray_r")
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
        if row == 0:
            axes[row, col].set_title("original" if (dy, dx) == (0, 0) else f"shift {dy},{dx}",
                                     fontsize=9)
fig.suptitle("Augmented digits: accuracy on shifted test images "
             f"{augmentation['no augmentation'][1]:.2f} without, "
             f"{augmentation['random shifts'][1]:.2f} with augmentation")
fig.tight_layout()
fig.savefig(OUT / "06_augmentation.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Dropout as an ensemble (eqs. 79-83)
#
# Averaging models (eq. 79) helps because they make different errors. Dropout trains, at every
# step, one of the $2^n$ networks obtained by removing units, with shared weights (eq. 80); at
# test time it uses the full network with rescaled weights. For a linear softmax classifier
# (eq. 81) that shortcut is *exact* if the ensemble uses the normalized geometric mean
# (eq. 82): averaging $\log \mathrm{softmax}(\mathbf W(\boldsymbol\mu \odot \mathbf x) +
# \mathbf b)$ over all masks averages the scores, and the average of $\boldsymbol\mu \odot
# \mathbf x$ is $\mathbf x / 2$. We check it over all $2^{10}$ masks at once, as one batch:

# %%
n_in, n_classes = 10, 4
r = np.random.default_rng(3)
W_lin = gd.constant(r.normal(size=(n_in, n_classes)))
b_lin = gd.constant(r.normal(size=n_classes))
x = gd.vector("x", n_in)
masks = gd.matrix("masks", (None, n_in))
log_probs = gd.log_softmax((masks * x) @ W_lin + b_lin, axis=1)  # eq. 83, one row per mask
geometric = gd.softmax(gd.mean(log_probs, axis=0))  # eq. 82, normalized
weight_scaled = gd.softmax((0.5 * x) @ W_lin + b_lin)  # the full network, weights halved
arithmetic = gd.mean(gd.exp(log_probs), axis=0)  # eq. 80's plain average, for comparison
ensemble = gd.function([x, masks], [geometric, weight_scaled, arithmetic])
all_masks = np.array(list(itertools.product([0.0, 1.0], repeat=n_in)))
geo, scaled, arith = ensemble(r.normal(size=n_in) * 2, all_masks)
print(f"geometric mean {np.round(geo, 4)}\nscaled weights {np.round(scaled, 4)}\n"
      f"arithmetic     {np.round(arith, 4)}")
np.testing.assert_allclose(geo, scaled, rtol=1e-12)
assert np.abs(arith - scaled).max() > 1e-3  # the arithmetic mean is only approximated

# %% [markdown]
# Tutorial 4 trains with `nn.Dropout` and shows its effect on overfitting.
#
# ## Multi-task learning
#
# One shared trunk, two heads, one loss per task and their weighted sum (`nn.weighted_sum`):
# the trunk's gradient is the sum of what each task asks of it, so the shared features must serve
# both. Task A is the digit itself (10 classes); task B is a coarser label, "is the digit 5 or
# more" (2 classes).

# %%
trunk = nn.Sequential(nn.Dense(64, 64, rng=1, name="t1"), nn.Tanh(), name="trunk")
head_a = nn.Dense(64, 10, rng=2, name="digit")
head_b = nn.Dense(64, 2, rng=3, name="big")
Xm = gd.matrix("X", (None, 64))
ya, yb = gd.vector("ya", dtype="int64"), gd.vector("yb", dtype="int64")
features = trunk(Xm)
logits_a, logits_b = head_a(features), head_b(features)
loss_a = nn.softmax_cross_entropy(logits_a, ya)
loss_b = nn.softmax_cross_entropy(logits_b, yb)
total = nn.weighted_sum([loss_a, loss_b], [1.0, 0.5])
params = nn.collect_parameters([trunk, head_a, head_b])

W_trunk = trunk.parameters()[0]
g_total, g_a, g_b = (gd.grad(L, W_trunk) for L in (total, loss_a, loss_b))
check = gd.function([Xm, ya, yb], [g_total, g_a, g_b])
gt, ga, gb = check(X_tr[:50], y_tr[:50], (y_tr[:50] >= 5).astype(np.int64))
np.testing.assert_allclose(gt, ga + 0.5 * gb, atol=1e-14)  # the trunk serves both tasks

step = gd.function([Xm, ya, yb], [loss_a, loss_b],
                   updates=optim.Adam(0.005).updates(total, params))
evaluate = gd.function([Xm, ya, yb], [nn.accuracy(logits_a, ya), nn.accuracy(logits_b, yb)])
rng = np.random.default_rng(0)
curves = {"digit loss": [], "≥5 loss": [], "digit accuracy": [], "≥5 accuracy": []}
for _ in range(20):  # epochs
    order = rng.permutation(len(y_tr))
    losses = np.array([step(X_tr[i], y_tr[i], (y_tr[i] >= 5).astype(np.int64))
                       for i in np.array_split(order, len(order) // 32)], dtype=float)
    acc_a, acc_b = evaluate(X_va, y_va, (y_va >= 5).astype(np.int64))
    for key, value in zip(curves, [*losses.mean(axis=0), acc_a, acc_b]):
        curves[key].append(float(value))
print(f"after 20 epochs: digit accuracy {curves['digit accuracy'][-1]:.3f}, "
      f"'5 or more' accuracy {curves['≥5 accuracy'][-1]:.3f}")
assert curves["digit accuracy"][-1] > 0.93 and curves["≥5 accuracy"][-1] > 0.93
assert curves["digit loss"][-1] < 0.2 * curves["digit loss"][0]

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
epochs = np.arange(1, 21)
axes[0].semilogy(epochs, curves["digit loss"], "o-", label="task A: digit (10 classes)")
axes[0].semilogy(epochs, curves["≥5 loss"], "o-", label="task B: 5 or more (2 classes)")
axes[1].plot(epochs, curves["digit accuracy"], "o-", label="task A")
axes[1].plot(epochs, curves["≥5 accuracy"], "o-", label="task B")
axes[0].set(xlabel="epoch", ylabel="training loss", title="One trunk, two heads")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Both tasks learnt")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "06_multitask.png", dpi=100)
plt.close(fig)

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
# # 4. Losses, generalization and overfitting
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# Training looks for $\hat\Theta = \arg\min_\Theta \mathcal L(\Theta)$ (eq. 1), where the loss is
# the negative log-likelihood of the training set under the network's predictions (eq. 2). This
# tutorial derives the two classic losses from that one definition and checks them numerically,
# then trains networks small enough to run in seconds but large enough to *overfit*, and tries
# the lecture's remedies: a validation set with early stopping, L2 regularization (eq. 10) and
# dropout.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only cost time
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # as a script: write files, open no window
import matplotlib.pyplot as plt
import numpy as np

import graphdl as gd
from graphdl import nn, optim
from graphdl.data import load_digits, train_val_test_split
from graphdl.training import Classifier, EarlyStopping, plot_history

OUT = Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", "tutorials/_out"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Regression: the Gaussian likelihood is the squared error (eqs. 3-4)
#
# With $p_{\rm model}(\mathbf e \mid \mathbf o) = \mathcal N(\mathbf e; \mathbf o, \sigma^2
# \mathbf I)$, the negative log-likelihood of $N$ samples of dimension $d$ is
# $k_1 \sum_i \|\mathbf e_i - \mathbf o_i\|^2 + k_2$ with $k_1 = 1/(2\sigma^2)$ and
# $k_2 = \tfrac{Nd}{2}\log(2\pi\sigma^2)$: the same minimum as the plain sum of squares (eq. 4).
# We write the log-density as a graph and compare it with `nn.squared_error`:

# %%
O = gd.matrix("O", (None, 3))
E = gd.matrix("E", (None, 3))
sigma = 0.7
log_density = -0.5 * gd.square((E - O) / sigma) - np.log(sigma * np.sqrt(2 * np.pi))
nll = -gd.sum(log_density)  # eq. 3, first line
sse = nn.squared_error(O, E, reduction="sum")  # eq. 4
both = gd.function([O, E], [nll, sse])
rng = np.random.default_rng(0)
o_val, e_val = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
nll_val, sse_val = both(o_val, e_val)
k1, k2 = 1 / (2 * sigma**2), 5 * 3 / 2 * np.log(2 * np.pi * sigma**2)
print(f"NLL = {float(nll_val):.6f} = k1 * SSE + k2 = {k1 * float(sse_val) + k2:.6f}")
np.testing.assert_allclose(float(nll_val), k1 * float(sse_val) + k2, rtol=1e-12)

# %% [markdown]
# ## Classification: softmax and cross-entropy (eqs. 5-7)
#
# For $C$ classes the network outputs a score vector $\mathbf o \in \mathbb R^C$; softmax
# (eq. 5) turns it into a distribution (eq. 6), and the negative log-likelihood of the true class
# is the cross-entropy of eq. 7. Its gradient with respect to the scores is
# $\mathrm{softmax}(\mathbf o) - \mathrm{onehot}(c)$, and written through `log_softmax` it stays
# finite even for scores of $\pm 1000$.

# %%
logits = gd.matrix("logits", (None, 4))
labels = gd.vector("labels", dtype="int64")
probs = gd.softmax(logits, axis=1)
xent = nn.softmax_cross_entropy(logits, labels, reduction="sum")
check = gd.function([logits, labels], [probs, xent, gd.grad(xent, logits)])
scores = np.array([[2.0, 1.0, 0.1, -1.0], [0.0, 0.0, 0.0, 0.0], [1000.0, -1000.0, 0.0, 3.0]])
classes = np.array([0, 2, 1])
p, loss, dlogits = check(scores, classes)
assert np.all((p >= 0) & (p <= 1)) and np.allclose(p.sum(axis=1), 1.0)  # eq. 6
shifted = scores - scores.max(axis=1, keepdims=True)
log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
np.testing.assert_allclose(float(loss), -log_p[np.arange(3), classes].sum())  # eq. 7
np.testing.assert_allclose(dlogits, p - np.eye(4)[classes], atol=1e-15)
print(f"cross-entropy = {float(loss):.3f} (finite with a score of ±1000)")

# %% [markdown]
# ## Overfitting a regression
#
# Sixteen noisy samples of $\sin(3x)$, a $1 \to 64 \to 64 \to 1$ tanh network with
# about 4,400 parameters, and full-batch Adam. We minimize the training loss (eq. 8) but care
# about the loss on *other* data (eq. 9), which we estimate on 200 validation points the
# optimizer never sees.

# %%
def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x)


x_train = np.sort(rng.uniform(-1, 1, 16))
y_train = truth(x_train) + rng.normal(0, 0.2, x_train.shape)
x_val = rng.uniform(-1, 1, 200)
y_val = truth(x_val) + rng.normal(0, 0.2, x_val.shape)


def fit_curve(l2: float = 0.0, steps: int = 3000):
    """Train the same network (same initial weights) with an optional L2 term (eq. 10)."""
    model = nn.Sequential(nn.Dense(1, 64, rng=1, name="d1"), nn.Tanh(),
                          nn.Dense(64, 64, rng=2, name="d2"), nn.Tanh(),
                          nn.Dense(64, 1, rng=3, name="d3"))
    X, Y = gd.matrix("X", (None, 1)), gd.matrix("Y", (None, 1))
    loss = nn.mse(model(X), Y)
    objective = loss + nn.l2_penalty(model.regularized(), l2) if l2 else loss
    step = gd.function([X, Y], loss, updates=optim.Adam(0.01).updates(objective,
                                                                      model.parameters()))
    evaluate = gd.function([X, Y], loss)
    predict = gd.function([X], model(X))
    stopper, best, curves = EarlyStopping(patience=200), None, {"train": [], "val": []}
    for t in range(steps):
        curves["train"].append(float(step(x_train[:, None], y_train[:, None])))
        curves["val"].append(float(evaluate(x_val[:, None], y_val[:, None])))
        stopper.update(curves["val"][-1], t)
        if stopper.is_best:
            best = predict(np.linspace(-1, 1, 200)[:, None])[:, 0]
    final = predict(np.linspace(-1, 1, 200)[:, None])[:, 0]
    return {k: np.array(v) for k, v in curves.items()}, stopper, best, final


plain, plain_stop, plain_best, plain_final = fit_curve()
ridge, ridge_stop, _, ridge_final = fit_curve(l2=1e-3)
for name, c, s in [("no regularization", plain, plain_stop), ("L2 1e-3", ridge, ridge_stop)]:
    print(f"{name:18s} final train {c['train'][-1]:.4f}  val: best {c['val'].min():.4f} "
          f"at step {s.best_epoch}, final {c['val'][-1]:.4f}")

# %% [markdown]
# Without regularization the training loss keeps falling towards zero while the validation loss
# reaches its minimum early and then *rises*: the network has started fitting the noise. With
# 4,400 parameters for 16 points the network is heavily over-parameterized, the regime in which
# (S)GD provably drives the training loss to zero (the theorem of Allen-Zhu et al., eq. 60): a
# small training loss says nothing about eq. 9. Early
# stopping keeps the parameters of the best validation step; L2 regularization (eq. 10) keeps the
# weights small and the final model close to the best one.

# %%
assert plain["train"][-1] < 0.01  # the training points are (nearly) interpolated
assert plain["val"][-1] > 2 * plain["val"].min()  # validation loss turned up: overfitting
assert plain_stop.best_epoch < 1000
assert ridge["val"][-1] < 0.5 * plain["val"][-1]  # L2 generalizes better at the end

grid = np.linspace(-1, 1, 200)
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(grid, truth(grid), "k--", lw=1, label="sin(3x) (truth)")
ax.plot(x_train, y_train, "ko", label="training samples")
ax.plot(grid, plain_final, label="last step: overfit")
ax.plot(grid, plain_best, label=f"early stopping (step {plain_stop.best_epoch})")
ax.plot(grid, ridge_final, label="L2 regularization, last step")
ax.set(xlabel="x", ylabel="y", title="Regression with 16 samples and 4,400 parameters")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "04_regression_fit.png", dpi=100)
plt.close(fig)

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, c, style in [("no regularization", plain, "-"), ("L2 1e-3", ridge, ":")]:
    ax.semilogy(c["train"], "C0" + style, label=f"training, {name}")
    ax.semilogy(c["val"], "C1" + style, label=f"validation, {name}")
ax.axvline(plain_stop.best_epoch, color="grey", ls="--", lw=1)
ax.text(plain_stop.best_epoch, 0.25, " early stop", color="grey")
ax.set(xlabel="Adam step", ylabel="MSE", title="Training and validation loss")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "04_regression_curves.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Overfitting a classifier, and dropout
#
# The 8x8 digits bundled with graphdl: we train a $64 \to 256 \to 256 \to 10$ ReLU network on
# only 120 images, validate on 359 and keep 359 more as the test set $\mathcal T_T$, which is used
# once, at the very end (eqs. 8-9). `Classifier` compiles the training step (softmax
# cross-entropy, eq. 7, and Adam) and runs the epochs; `patience=None` disables early stopping
# so that we see the whole curves.

# %%
X, y = load_digits()
(X_tr, y_tr), (X_va, y_va), (X_te, y_te) = train_val_test_split(X, y, val=0.2, test=0.2, seed=0)
X_small, y_small = X_tr[:120], y_tr[:120]


def mlp(dropout: float = 0.0) -> nn.Sequential:
    layers: list = [nn.Dense(64, 256, rng=1, name="d1"), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, name="drop1"))
    layers += [nn.Dense(256, 256, rng=2, name="d2"), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout, name="drop2"))
    return nn.Sequential(*layers, nn.Dense(256, 10, rng=3, name="d3"))


runs = {}
for name, dropout, l2 in [("plain", 0.0, 0.0), ("dropout 0.5", 0.5, 0.0), ("L2 1e-3", 0.0, 1e-3)]:
    clf = Classifier(mlp(dropout), optim.Adam(0.003), n_features=64, l2=l2)
    result = clf.fit((X_small, y_small), (X_va, y_va), epochs=80, batch_size=32,
                     patience=None, verbose=False)
    runs[name] = (clf, result.history)
    val = np.array(result.history["val_loss"])
    print(f"{name:12s} train loss {result.history['train_loss'][-1]:.4f}  val loss best "
          f"{val.min():.3f} (epoch {val.argmin() + 1}) last {val[-1]:.3f}  "
          f"test accuracy {clf.evaluate(X_te, y_te)[1]:.3f}")

# %%
plain_val = np.array(runs["plain"][1]["val_loss"])
drop_val = np.array(runs["dropout 0.5"][1]["val_loss"])
assert runs["plain"][1]["train_loss"][-1] < 0.01  # 120 images learnt by heart
assert plain_val.argmin() < 40 and plain_val[-1] > 1.1 * plain_val.min()  # turned up
assert drop_val.min() < plain_val.min()  # dropout generalizes better
assert runs["dropout 0.5"][0].evaluate(X_te, y_te)[1] > runs["plain"][0].evaluate(X_te, y_te)[1]

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for i, (name, (_, history)) in enumerate(runs.items()):
    epochs = np.arange(1, len(history) + 1)
    axes[0].semilogy(epochs, history["train_loss"], f"C{i}:", label=f"training, {name}")
    axes[0].semilogy(epochs, history["val_loss"], f"C{i}-", label=f"validation, {name}")
    axes[1].plot(epochs, history["val_acc"], f"C{i}-", label=name)
axes[0].set(xlabel="epoch", ylabel="cross-entropy (eq. 7)", title="Loss: 120 training images")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Accuracy")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "04_classification_curves.png", dpi=100)
plt.close(fig)

# %% [markdown]
# With early stopping on (`patience=10`), `fit` stops once the validation loss has not improved
# for 10 epochs and puts back the parameters of the best epoch, so the model we keep has exactly
# the best validation loss seen. `plot_history` draws the curves with that epoch marked.

# %%
clf = Classifier(mlp(), optim.Adam(0.003), n_features=64)
result = clf.fit((X_small, y_small), (X_va, y_va), epochs=80, batch_size=32, patience=10,
                 verbose=False)
best_epoch, best_val = result.history.best("val_loss")
print(f"stopped after {len(result.history)} epochs; kept epoch {result.best_epoch} "
      f"(validation loss {best_val:.3f})")
assert result.stopped_early and len(result.history) < 80
np.testing.assert_allclose(clf.evaluate(X_va, y_va)[0], best_val, rtol=1e-10)
plot_history(result.history, OUT / "04_early_stopping.png", title="Early stopping")

# %% [markdown]
# ## Be careful with predicted distributions
#
# Softmax outputs look like probabilities, but they are not reliable ones (Hein et al., 2019):
# a ReLU network is piecewise linear, so far away from the data its scores grow linearly and the
# softmax saturates. Random images scaled up by a factor $\alpha$ are nothing like digits, yet
# the network grows *more* confident about them than about real test digits as $\alpha$ grows.

# %%
model_probs = gd.function([clf.X], gd.softmax(clf.eval_logits, axis=1))
confidence_digits = model_probs(X_te).max(axis=1)
noise = np.random.default_rng(1).uniform(0, 1, size=(500, 64))
alphas = np.array([1, 2, 5, 10, 20, 50, 100, 200])
mean_confidence = np.array([model_probs(a * noise).max(axis=1).mean() for a in alphas])
print(f"mean max probability: test digits {confidence_digits.mean():.3f}; noise scaled by "
      + ", ".join(f"{a}: {c:.3f}" for a, c in zip(alphas, mean_confidence)))
assert mean_confidence[-1] > 0.99 and mean_confidence[-1] > confidence_digits.mean()
assert np.all(np.diff(mean_confidence[3:]) > 0)  # far away, confidence only grows

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
bins = np.linspace(0, 1, 41)
axes[0].hist(confidence_digits, bins=bins, alpha=0.7, label="test digits")
axes[0].hist(model_probs(50 * noise).max(axis=1), bins=bins, alpha=0.7,
             label="50 × uniform noise (not digits)")
axes[0].set(xlabel="largest softmax probability", ylabel="images", yscale="log",
            title="Softmax confidence is not a reliable distribution")
axes[0].legend(fontsize=8)
axes[1].semilogx(alphas, mean_confidence, "o-", label="α × uniform noise")
axes[1].axhline(confidence_digits.mean(), color="C0", ls="--", label="test digits")
axes[1].set(xlabel="scale α", ylabel="mean largest probability", title="Far from the data")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "04_confidence.png", dpi=100)
plt.close(fig)

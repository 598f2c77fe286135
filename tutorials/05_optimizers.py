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
# # 5. Optimization algorithms
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# Every optimizer of the lecture is a rule turning the gradient $G(\Theta^t)$ into the next
# parameters: gradient descent (eqs. 11-12), stochastic and mini-batch SGD (eqs. 56-63),
# momentum (eq. 64), and the adaptive, preconditioned methods AdaGrad (eqs. 65-66, 68),
# RMSProp (eqs. 67, 69-70) and Adam (eqs. 71-76). In graphdl an optimizer builds the *graph* of
# that rule: `opt.updates(loss, params)` returns the new value of every parameter and of the
# optimizer's own state, and `gd.function(..., updates=...)` compiles forward pass, backward pass
# and update into one call.
#
# We first look at what a minimum is (the Hessian's eigenvalues), then run every optimizer on a
# two-parameter problem whose trajectories we can draw (the lecture's pictures with and without
# momentum), check each against its equation coded in NumPy, and finally train the digits MLP
# with each of them.

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
from graphdl.training import Classifier

OUT = Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", "tutorials/_out"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Minima, saddle points and the Hessian
#
# $\Theta^*$ is a local minimum when the gradient vanishes *and* every eigenvalue of the Hessian
# $\partial^2 \mathcal L / \partial \Theta^2$ is positive. For a random function in many
# dimensions, having all eigenvalues of one sign is unlikely, so most critical points are saddle
# points, and the "almost local minima" that gradient descent reaches in practice are good ones.
# On
# $f(a, b) = a^4/4 - a^2/2 + b^2/2$, `gd.hessian` (forward-over-reverse) classifies the three
# critical points:

# %%
theta = gd.vector("theta", 2)
a, b = theta[0], theta[1]
f2 = a**4 / 4 - a**2 / 2 + b**2 / 2
critical = gd.function([theta], [gd.grad(f2, theta), gd.hessian(f2, theta)])
for point in ([-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]):
    g, hess = critical(np.array(point))
    eig = np.linalg.eigvalsh(hess)
    kind = "minimum" if eig.min() > 0 else "saddle point" if eig.max() > 0 else "maximum"
    print(f"at {point}: |gradient| = {np.linalg.norm(g):.0e}, Hessian eigenvalues {eig} -> {kind}")
    assert np.linalg.norm(g) == 0
    assert kind == ("saddle point" if point[0] == 0 else "minimum")

# %% [markdown]
# ## A two-parameter problem
#
# Fitting a line $y \approx w x + c$ to 200 points by least squares, with $x \in [0, 6]$, gives
# a loss $\mathcal L(w, c) = \frac1N \sum_i (w x_i + c - y_i)^2$ whose level sets are long, thin,
# tilted ellipses: its Hessian has eigenvalues about 29 and 0.45. Gradient descent must take steps
# small enough for the steep direction, and then crawls along the flat one.

# %%
rng = np.random.default_rng(0)
N = 200
x_data = rng.uniform(0, 6, N)
y_data = 1.5 * x_data - 2.0 + rng.normal(0, 0.5, N)
A = np.stack([x_data, np.ones(N)], axis=1)
best = np.linalg.lstsq(A, y_data, rcond=None)[0]
hessian = 2 * A.T @ A / N
print(f"minimum (w, c) = {best}, Hessian eigenvalues {np.linalg.eigvalsh(hessian)}")

X = gd.matrix("X", (None, 2))
Y = gd.vector("y")
START = np.array([-1.0, 3.0])


def run(opt: optim.Optimizer, steps: int, batch: int | None = None, seed: int = 0):
    """The parameters after each step of ``opt`` (full batch, or random mini-batches)."""
    w = gd.shared(START.copy(), name="w")
    loss = gd.mean(gd.square(X @ w - Y))
    step = gd.function([X, Y], loss, updates=opt.updates(loss, [w]))
    pick = np.random.default_rng(seed)
    path = [w.get_value().copy()]
    for _ in range(steps):
        rows = pick.choice(N, batch, replace=False) if batch else slice(None)
        step(A[rows], y_data[rows])
        path.append(w.get_value().copy())
    return np.array(path)


def steps_to_reach(path: np.ndarray, tol: float = 1e-3) -> int | None:
    """The first step within ``tol`` of the minimum, and staying there."""
    far = np.flatnonzero(np.linalg.norm(path - best, axis=1) >= tol)
    return None if len(far) and far[-1] == len(path) - 1 else (far[-1] + 1 if len(far) else 0)


# %% [markdown]
# ## Each rule against its equation
#
# Before drawing anything, we check that graphdl's optimizers compute what the slides say: the
# same updates written directly in NumPy, with the gradient of the least-squares loss
# $G(\Theta) = \frac2N \mathbf A^\top(\mathbf A\Theta - \mathbf y)$, must give the same 50 steps.


# %%
def numpy_rule(name: str, lr: float, rho: float = 0.9, rho2: float = 0.999, delta: float = 1e-8):
    state = {"v": 0.0, "r": 0.0, "s": 0.0, "t": 0}

    def update(theta: np.ndarray) -> np.ndarray:
        G = 2 / N * A.T @ (A @ theta - y_data)
        if name == "sgd":  # eq. 57
            return theta - lr * G
        if name == "momentum":  # eq. 64
            state["v"] = rho * state["v"] + (1 - rho) * G
            return theta - lr * state["v"]
        if name == "adagrad":  # eq. 68
            state["r"] = state["r"] + G * G
            return theta - lr / (delta + np.sqrt(state["r"])) * G
        if name == "rmsprop":  # eq. 70 in eq. 68
            state["r"] = rho * state["r"] + (1 - rho) * G * G
            return theta - lr / (delta + np.sqrt(state["r"])) * G
        state["t"] += 1  # adam, eqs. 71-76
        state["s"] = rho * state["s"] + (1 - rho) * G
        state["r"] = rho2 * state["r"] + (1 - rho2) * G * G
        s_hat, r_hat = state["s"] / (1 - rho ** state["t"]), state["r"] / (1 - rho2 ** state["t"])
        return theta - lr / (delta + np.sqrt(r_hat)) * s_hat

    return update


checks = {
    "sgd": optim.SGD(0.05), "momentum": optim.Momentum(0.5, rho=0.9),
    "adagrad": optim.AdaGrad(1.0, delta=1e-8), "rmsprop": optim.RMSProp(0.05, rho=0.9),
    "adam": optim.Adam(0.3),
}
for name, opt in checks.items():
    ours = run(opt, 50)
    update, theirs = numpy_rule(name, opt.lr), [START.copy()]
    for _ in range(50):
        theirs.append(update(theirs[-1]))
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-10, atol=1e-12)
    print(f"{name:9s} matches its equation over 50 steps")

# %% [markdown]
# ## With and without momentum
#
# Gradient descent at the largest stable learning rate ($\eta = 0.06 < 2/29$) zig-zags across
# the valley and then crawls along it; momentum (eq. 64, $\rho = 0.8$) accumulates the
# component of the gradient that keeps pointing the same way, along the valley, so it swings
# wider at first but arrives in far fewer steps. (With $\rho = 0.9$ it overshoots and circles the
# minimum for a while: the best $\rho$ depends on how elongated the valley is.)

# %%
STEPS = 600
paths = {
    "GD (eq. 11), η = 0.06": run(optim.SGD(0.06), STEPS),
    "SGD, batches of 10 (eq. 62)": run(optim.SGD(0.02), STEPS, batch=10),
    "momentum (eq. 64), η = 0.5": run(optim.Momentum(0.5, rho=0.8), STEPS),
    "AdaGrad (eq. 68), λ = 1": run(optim.AdaGrad(1.0), STEPS),
    "RMSProp (eq. 70), λ = 0.02": run(optim.RMSProp(0.02), STEPS),
    "Adam (eq. 71), λ = 0.3": run(optim.Adam(0.3), STEPS),
}
reach = {name: steps_to_reach(p) for name, p in paths.items()}
for name, p in paths.items():
    print(f"{name:28s} steps to within 1e-3 of the minimum: {reach[name]},  "
          f"final distance {np.linalg.norm(p[-1] - best):.1e}")
gd_steps, momentum_steps = reach["GD (eq. 11), η = 0.06"], reach["momentum (eq. 64), η = 0.5"]
assert gd_steps is not None and momentum_steps is not None
assert momentum_steps < gd_steps / 2  # the lecture's picture: far fewer steps with momentum
assert reach["SGD, batches of 10 (eq. 62)"] is None  # a constant step keeps SGD noisy
assert reach["RMSProp (eq. 70), λ = 0.02"] is None  # ... and RMSProp's steps stay about λ
assert reach["Adam (eq. 71), λ = 0.3"] is not None

# %%
wg, cg = np.meshgrid(np.linspace(-1.5, 3.0, 200), np.linspace(-4.5, 4.0, 200))
residual = A[:, 0, None, None] * wg + A[:, 1, None, None] * cg - y_data[:, None, None]
loss_grid = np.mean(residual**2, axis=0)
levels = np.quantile(loss_grid, np.linspace(0, 1, 30) ** 2)


def draw(ax, path: np.ndarray, title: str, every: int = 1) -> None:
    ax.contour(wg, cg, loss_grid, levels=levels, colors="grey", linewidths=0.5)
    ax.plot(path[::every, 0], path[::every, 1], ".-", ms=3, lw=1)
    ax.plot(*best, "r*", ms=10)
    ax.set(title=title, xlabel="w", ylabel="c")


fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
draw(axes[0], paths["GD (eq. 11), η = 0.06"][:120], f"without momentum ({gd_steps} steps)")
draw(axes[1], paths["momentum (eq. 64), η = 0.5"][:120],
     f"with momentum ({momentum_steps} steps)")
fig.suptitle("The first 120 steps; steps counted to reach the minimum within 1e-3")
fig.tight_layout()
fig.savefig(OUT / "05_momentum.png", dpi=100)
plt.close(fig)

fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
for ax, (name, path) in zip(axes.ravel(), paths.items()):
    draw(ax, path[:300], name)
fig.suptitle("300 steps of each optimizer from (-1, 3) on the least-squares loss")
fig.tight_layout()
fig.savefig(OUT / "05_trajectories.png", dpi=100)
plt.close(fig)

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, path in paths.items():
    ax.semilogy(np.linalg.norm(path - best, axis=1), label=name)
ax.set(xlabel="step", ylabel="distance to the minimum", title="Convergence on the 2-D problem")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "05_loss_2d.png", dpi=100)
plt.close(fig)

# %% [markdown]
# A constant learning rate leaves mini-batch SGD wandering around the minimum, since each batch's
# gradient is a noisy estimate of the full one (eq. 63); convergence needs a decreasing
# $\eta_t$ (eq. 57), e.g. `optim.schedules.InverseTimeDecay`. RMSProp forgets old gradients, so
# near the minimum $\sqrt{\mathbf r^t}$ shrinks with $|\mathbf g^t|$ and its steps stay of size
# about $\lambda$: it hovers around the minimum instead of settling. Adam's $\rho_2 = 0.999$
# remembers about a thousand steps, large early gradients included, so its steps do shrink with
# $\mathbf g^t$ and it settles. The adaptive methods divide each coordinate's step by the root of
# its accumulated squared gradients (the diagonal preconditioner $\mathbf P_t$ of eqs. 65-67),
# which evens out the two directions of the valley.
#
# ## On the digits MLP
#
# The same rules on a $64 \to 64 \to 10$ tanh network trained on the digits for 15 epochs, all
# from the same initial weights. "GD" uses the whole training set as one batch (one step per
# epoch); the others use mini-batches of 32 (34 steps per epoch). Bottou's point in the lecture:
# many cheap, noisy steps beat few exact ones. The learning rates are modestly tuned (momentum
# 0.3, RMSProp 0.003, Adam 0.005); with these, momentum and the adaptive methods all end below
# plain SGD.

# %%
Xd, yd = load_digits()
(X_tr, y_tr), (X_va, y_va), _ = train_val_test_split(Xd, yd, val=0.2, test=0.2, seed=0)
contenders = {
    "GD (full batch)": (optim.SGD(0.5), len(y_tr)),
    "SGD": (optim.SGD(0.1), 32),
    "momentum": (optim.Momentum(0.3), 32),
    "AdaGrad": (optim.AdaGrad(0.05), 32),
    "RMSProp": (optim.RMSProp(0.003), 32),
    "Adam": (optim.Adam(0.005), 32),
}
histories = {}
for name, (opt, batch) in contenders.items():
    model = nn.Sequential(nn.Dense(64, 64, rng=1, name="d1"), nn.Tanh(),
                          nn.Dense(64, 10, rng=2, name="d2"))
    clf = Classifier(model, opt, n_features=64)
    histories[name] = clf.fit((X_tr, y_tr), (X_va, y_va), epochs=15, batch_size=batch,
                              patience=None, verbose=False).history
    h = histories[name]
    print(f"{name:16s} training loss {h['train_loss'][0]:.3f} -> {h['train_loss'][-1]:.3f}, "
          f"validation accuracy {h['val_acc'][-1]:.3f}")

# %%
final = {name: h["train_loss"][-1] for name, h in histories.items()}
for name, h in histories.items():
    assert h["train_loss"][-1] < h["train_loss"][0], name  # every optimizer makes progress
assert max(final.values()) == final["GD (full batch)"]  # 15 steps are not enough
assert all(final[k] < final["SGD"] for k in ("momentum", "AdaGrad", "RMSProp", "Adam"))
assert histories["Adam"]["val_acc"][-1] > 0.93

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for name, h in histories.items():
    epochs = np.arange(1, len(h) + 1)
    axes[0].semilogy(epochs, h["train_loss"], "o-", ms=3, label=name)
    axes[1].plot(epochs, h["val_acc"], "o-", ms=3, label=name)
axes[0].set(xlabel="epoch", ylabel="training loss", title="Digits MLP: training loss")
axes[1].set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "05_digits_optimizers.png", dpi=100)
plt.close(fig)

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
# # 1. Automatic differentiation, by hand and by graphdl
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# The lecture's running example (eq. 50) is
#
# $$f(x_1, x_2) = \ln(x_1) + x_1 x_2 - \sin(x_2)$$
#
# evaluated at $(x_1, x_2) = (2, 5)$. We first do what the slides do on paper: the forward
# primal trace, the forward tangent trace (eqs. 51-52), dual numbers (eqs. 53-54) and the reverse
# adjoint trace (eq. 55), with nothing but Python floats. Then we ask graphdl for the same
# tables, the same derivatives and the drawings of the graph, and check that every number agrees.
#
# Run it as a script (`python tutorials/01_autodiff.py`) or open the paired notebook. Figures go
# to `$GRAPHDL_TUTORIAL_OUT` (default `tutorials/_out`).

# %%
import math
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

# %% [markdown]
# ## By hand: the forward primal trace (eq. 50)
#
# A program computing $f$ runs a sequence of elementary operations. Naming every intermediate
# $v_i$ (inputs get $v_{-1}, v_0$) gives the *evaluation trace*:

# %%
v_m1, v_0 = 2.0, 5.0  # v_{-1} = x1, v_0 = x2
v_1 = math.log(v_m1)
v_2 = v_m1 * v_0
v_3 = math.sin(v_0)
v_4 = v_1 + v_2
v_5 = v_4 - v_3
print(f"v1 = {v_1:.3f}, v2 = {v_2:.3f}, v3 = {v_3:.3f}, v4 = {v_4:.3f}, f = v5 = {v_5:.3f}")
assert round(v_5, 3) == 11.652  # the lecture's value

# %% [markdown]
# ## By hand: the forward tangent trace (eqs. 51-52)
#
# To get $\partial f / \partial x_1$, attach to every $v_i$ its tangent
# $\dot v_i = \partial v_i / \partial x_1$, seed $\dot v_{-1} = 1$, $\dot v_0 = 0$, and apply the
# chain rule to each elementary operation in the same order as the primal trace.

# %%
dv_m1, dv_0 = 1.0, 0.0
dv_1 = dv_m1 / v_m1
dv_2 = dv_m1 * v_0 + dv_0 * v_m1
dv_3 = dv_0 * math.cos(v_0)
dv_4 = dv_1 + dv_2
dv_5 = dv_4 - dv_3
print(f"df/dx1 = v5-dot = {dv_5}")
assert dv_5 == 5.5

# %% [markdown]
# One forward sweep gives the derivative along *one* input direction. For $\partial f/\partial x_2$
# we would sweep again with the seed $(0, 1)$: a function of $n$ inputs needs $n$ sweeps.
#
# ## By hand: dual numbers (eqs. 53-54)
#
# The tangent trace is exactly arithmetic on numbers $v + \dot v\,\epsilon$ with $\epsilon^2 = 0$:
# $(v + \dot v\epsilon)(u + \dot u\epsilon) = vu + (v\dot u + \dot v u)\epsilon$ and
# $g(v + \dot v\epsilon) = g(v) + g'(v)\dot v\epsilon$. A ten-line class is enough to see it:


# %%
class TinyDual:
    """v + v_dot * eps with eps**2 = 0: just the rules of eq. 53 that f needs."""

    def __init__(self, v: float, dv: float = 0.0) -> None:
        self.v, self.dv = v, dv

    def __add__(self, o: "TinyDual") -> "TinyDual":
        return TinyDual(self.v + o.v, self.dv + o.dv)

    def __sub__(self, o: "TinyDual") -> "TinyDual":
        return TinyDual(self.v - o.v, self.dv - o.dv)

    def __mul__(self, o: "TinyDual") -> "TinyDual":
        return TinyDual(self.v * o.v, self.v * o.dv + self.dv * o.v)


def d_log(a: TinyDual) -> TinyDual:
    return TinyDual(math.log(a.v), a.dv / a.v)


def d_sin(a: TinyDual) -> TinyDual:
    return TinyDual(math.sin(a.v), math.cos(a.v) * a.dv)


y = d_log(TinyDual(2.0, 1.0)) + TinyDual(2.0, 1.0) * TinyDual(5.0) - d_sin(TinyDual(5.0))
print(f"f(2 + 1eps, 5) = {y.v:.3f} + {y.dv} eps")  # eq. 54: the eps coefficient is df/dx1
assert y.dv == dv_5

# %% [markdown]
# ## By hand: the reverse adjoint trace (eq. 55)
#
# Machine learning has $f: \mathbb{R}^n \to \mathbb{R}$ with $n$ huge, so one sweep per input is
# too many. Reverse mode attaches to every $v_i$ its *adjoint*
# $\bar v_i = \partial y / \partial v_i$, seeds $\bar v_5 = 1$ and walks the trace backwards; a
# node used twice ($v_{-1}$ and $v_0$ each feed two operations) accumulates one contribution per
# use. One sweep gives the whole gradient.

# %%
b_5 = 1.0
b_4 = b_5 * 1.0  # v5 = v4 - v3
b_3 = b_5 * -1.0
b_1 = b_4 * 1.0  # v4 = v1 + v2
b_2 = b_4 * 1.0
b_0 = b_3 * math.cos(v_0)  # v3 = sin v0
b_m1 = b_2 * v_0  # v2 = v_{-1} v0: contributes to both operands
b_0 = b_0 + b_2 * v_m1
b_m1 = b_m1 + b_1 / v_m1  # v1 = ln v_{-1}
print(f"x1-bar = {b_m1}, x2-bar = {b_0:.3f}")
assert b_m1 == 5.5 and round(b_0, 3) == 1.716

# %% [markdown]
# ## The same with graphdl
#
# In graphdl, the Python code *builds a graph*; nothing is computed until it is compiled. The
# text form lists one node per line, in an order where each node comes after its operands:

# %%
x1, x2 = gd.scalar("x1"), gd.scalar("x2")
f = gd.log(x1) + x1 * x2 - gd.sin(x2)
print(gd.format_graph(f))
assert gd.count_nodes(f) == 7  # 2 inputs + the 5 operations v1..v5

# %% [markdown]
# `gd.trace` evaluates the graph and prints the lecture's tables. Every number comes from the
# engine: the primal values from the compiled graph, the tangents from each op's JVP rule, the
# adjoints from each op's VJP rule, in the order of the reverse sweep.

# %%
forward = gd.trace(f, at={x1: 2.0, x2: 5.0}, mode="forward")
print(forward)
assert float(forward.value(f)) == v_5
assert float(forward.tangent(f)) == dv_5

# %%
reverse = gd.trace(f, at={x1: 2.0, x2: 5.0}, mode="reverse")
print("\n\n".join(str(reverse).split("\n\n")[1:]))  # the adjoint table only
gradient = reverse.gradient
assert float(gradient[x1]) == b_m1
np.testing.assert_allclose(float(gradient[x2]), b_0, rtol=1e-15)

# %% [markdown]
# `gd.Dual` is a complete dual-number type (every NumPy ufunc), and `gd.eval_dual` runs a graph
# on dual numbers by evaluating, node by node, the very NumPy expression the compiler emits. It
# is an independent check of the tangent trace: no JVP rule is involved.

# %%
d = gd.Dual(2.0, 1.0)
print("NumPy on duals: ", np.log(d) + d * 5.0 - np.sin(gd.Dual(5.0)))
print("graph on duals: ", gd.eval_dual(f, {x1: gd.Dual(2.0, 1.0), x2: 5.0}))
by_x2 = gd.eval_dual(f, {x1: 2.0, x2: gd.Dual(5.0, 1.0)})  # a second sweep for x2
assert by_x2.tangent == b_0

# %% [markdown]
# ## Derivatives as graphs
#
# `gd.grad` runs the reverse sweep *symbolically*: it returns new nodes that compute the
# adjoints, reusing the primal nodes. `gd.jvp` does the same for the tangent sweep. Both are
# ordinary graphs, so they compile to NumPy like anything else; `fn.source` shows the code.

# %%
df_dx1, df_dx2 = gd.grad(f, [x1, x2])
tangent = gd.jvp(f, [x1, x2], [gd.constant(1.0), gd.constant(0.0)])
fn = gd.function([x1, x2], [f, df_dx1, df_dx2, tangent])
value, g1, g2, t1 = fn(2.0, 5.0)
print(fn.source)
assert (round(float(value), 3), float(g1), round(float(g2), 3)) == (11.652, 5.5, 1.716)
assert float(t1) == 5.5

# %% [markdown]
# ## Autodiff against finite differences
#
# Numerical differentiation, $(f(x + h) - f(x))/h$, trades truncation error (large $h$) against
# rounding error (small $h$) and is never better than about $10^{-8}$ for the forward difference.
# Automatic differentiation has neither error: it is exact to the last bits. The compiled
# function accepts arrays for its scalar inputs, so we evaluate it for all step sizes at once.

# %%
h = np.logspace(-15, -1, 57)
f_only = gd.function([x1, x2], f)
forward_diff = (f_only(2.0 + h, 5.0) - f_only(2.0, 5.0)) / h
central_diff = (f_only(2.0 + h, 5.0) - f_only(2.0 - h, 5.0)) / (2 * h)
err_forward = np.abs(forward_diff - 5.5)
err_central = np.abs(central_diff - 5.5)
print(f"best forward difference error {err_forward.min():.1e}, central {err_central.min():.1e}")
assert 1e-10 < err_forward.min() < 1e-6 and err_central.min() > 1e-13

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(h, np.maximum(err_forward, 1e-17), ".-", label="forward difference")
ax.loglog(h, np.maximum(err_central, 1e-17), ".-", label="central difference")
ax.axhline(abs(float(g1) - 5.5) + 1e-17, color="k", ls="--", label="graphdl (reverse mode): exact")
ax.set(xlabel="step h", ylabel="|error| of df/dx1 at (2, 5)",
       title="Numerical versus automatic differentiation")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "01_finite_differences.png", dpi=100)
plt.close(fig)

# %% [markdown]
# Because the graph is elementwise, the compiled gradient also runs on whole arrays: here is
# $f$ and its two partial derivatives along $x_1 \in [0.5, 4]$ with $x_2 = 5$.

# %%
xs = np.linspace(0.5, 4.0, 200)
values, d1, d2, _ = fn(xs, 5.0)
np.testing.assert_allclose(d1, 1 / xs + 5.0)  # d/dx1: 1/x1 + x2
np.testing.assert_allclose(d2, xs - np.cos(5.0))  # d/dx2: x1 - cos x2
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(xs, values, label="f(x1, 5)")
ax.plot(xs, d1, label="∂f/∂x1")
ax.plot(xs, d2, label="∂f/∂x2")
ax.plot([2.0], [v_5], "ko")
ax.annotate("(2, 11.652)", (2.0, v_5), textcoords="offset points", xytext=(5, -15))
ax.set(xlabel="x1", title="f and its gradient, compiled once, evaluated on 200 points")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "01_f_and_gradient.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## The rendered graphs
#
# `gd.render` draws a graph with Graphviz: the computation graph of eq. 50, the same graph with
# its gradient (dashed orange nodes are what the reverse sweep added; the dotted links join each
# adjoint to its primal) and the reverse trace with each node's value and adjoint.

# %%
gd.render(f, OUT / "01_graph.png")
gd.render(f, OUT / "01_graph_with_gradient.png", wrt=[x1, x2])
gd.render(reverse, OUT / "01_reverse_trace.png")
print(sorted(p.name for p in OUT.glob("01_*.png")))

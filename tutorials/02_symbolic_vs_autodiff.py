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
# # 2. Symbolic versus automatic differentiation
#
# *Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
# (lecture, 2021).*
#
# The lecture lists four ways to get derivatives: by hand, by finite differences (tutorial 1),
# symbolically (Mathematica, Maple, SymPy) and automatically. Symbolic differentiation applies
# the rules to the *expression*; eq. 49 shows its weakness:
#
# $$h(x) = f(x)\,g(x), \qquad h'(x) = f'(x)\,g(x) + f(x)\,g'(x):$$
#
# $f$ and $g$ appear again in the derivative, and if they are themselves products, the copies
# multiply at every level of nesting (*expression swell*). Automatic differentiation applies the
# same rules to the *graph* and keeps the intermediate values, so each subexpression is computed
# once. `gd.compare` differentiates a function both ways (SymPy and graphdl), compiles both,
# evaluates both on the same points and reports sizes and timings; here we use it across
# nesting depths.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small arrays: threads only cost time
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # as a script: write files, open no window
import matplotlib.pyplot as plt
import numpy as np
import sympy

import graphdl as gd

OUT = Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", "tutorials/_out"))
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The lecture's function, both ways
#
# On $f(x_1, x_2) = \ln x_1 + x_1 x_2 - \sin x_2$ both methods agree to the last digit, and the
# sizes are similar: there is nothing to share yet.

# %%
x1, x2 = gd.scalar("x1"), gd.scalar("x2")
f = gd.log(x1) + x1 * x2 - gd.sin(x2)
report = gd.compare(f, at={"x1": 2.0, "x2": 5.0}, n_points=1000, repeats=1)
print(report)
np.testing.assert_allclose(report.grad_at_graphdl, [5.5, 5 * 0 + 2 - np.cos(5.0)], rtol=1e-14)
np.testing.assert_allclose(report.grad_at_sympy, report.grad_at_graphdl, rtol=1e-14)

# %% [markdown]
# `gd.to_sympy` reads any elementwise graph as a SymPy expression, so graphdl's gradient graph
# can be checked *symbolically* against `sympy.diff`:

# %%
grad_graph = gd.grad(f, [x1, x2])
as_sympy = gd.to_sympy(grad_graph)
symbolic = [sympy.diff(gd.to_sympy(f), s) for s in sympy.symbols("x1 x2", real=True)]
print("graphdl:", as_sympy, "\nSymPy:  ", symbolic)
assert all(sympy.simplify(a - b) == 0 for a, b in zip(as_sympy, symbolic))

# %% [markdown]
# ## Eq. 49: the product rule on a graph
#
# For $h(x) = f(x) g(x)$ with $f = e^{x}\sin x$ and $g = \ln(1 + x^2)$, SymPy's derivative
# repeats $e^x$, $\sin x$ and $\ln(1+x^2)$ in several terms. graphdl's gradient graph (drawn
# below: dashed nodes are the ones `gd.grad` added) points back at the primal nodes instead of
# copying them.

# %%
x = gd.scalar("x")
fx = gd.exp(x) * gd.sin(x)
gx = gd.log(1 + x**2)
h = fx * gx
sym_h = gd.to_sympy(h)
print("h'(x) =", sympy.diff(sym_h))
primal_ops = gd.count_nodes(h)
gradient_fn = gd.function([x], gd.grad(h, x))
print(gradient_fn.source)
for call in ("np.exp(", "np.sin(", "np.log"):  # each elementary function computed once
    assert gradient_fn.source.count(call) <= 1, call
gd.render(h, OUT / "02_product_rule_graph.png", wrt=[x])

# %% [markdown]
# ## Expression swell with depth
#
# The logistic map $\ell_1 = x$, $\ell_{k+1} = 4\ell_k(1 - \ell_k)$ (the example of Baydin et al.,
# the survey the lecture cites) uses each level twice. We compare both methods for depths 1 to
# 10. Sizes are operation counts: SymPy's tree (`count_ops`, a subexpression used twice counts
# twice), SymPy after `sympy.cse` (common subexpressions shared again), graphdl's gradient graph
# as `gd.grad` builds it and after its optimizer (which also runs CSE).

# %%
depths = list(range(1, 11))
rows = []
for depth in depths:
    level = x
    for _ in range(depth):
        level = 4 * level * (1 - level)
    rows.append(gd.compare(level, at={"x": 0.3}, n_points=2000, repeats=3))
    r = rows[-1]
    print(f"depth {depth:2d}: SymPy {r.sympy_grad_ops:6d} ops ({r.sympy_grad_ops_cse:3d} after "
          f"cse), graphdl {r.graphdl_grad_ops:3d} ({r.graphdl_grad_ops_optimized:3d} optimized); "
          f"prepare {1e3 * r.sympy_prepare_seconds:7.2f} ms vs "
          f"{1e3 * r.graphdl_prepare_seconds:5.2f} ms; max rel. difference {r.max_rel_diff:.0e}")

# %% [markdown]
# The SymPy tree grows by a factor of about 2.5 per level; `sympy.cse` recovers most of the
# sharing, at a cost that grows with the tree it has to search. graphdl's gradient graph grows by
# the same 8 operations per level from the start: the reverse sweep visits each node once and
# every adjoint reuses the primal values it needs.

# %%
raw = np.array([r.sympy_grad_ops for r in rows], dtype=float)
cse = np.array([r.sympy_grad_ops_cse for r in rows], dtype=float)
ours = np.array([r.graphdl_grad_ops for r in rows], dtype=float)
ours_opt = np.array([r.graphdl_grad_ops_optimized for r in rows], dtype=float)
assert max(r.max_rel_diff for r in rows) < 1e-9  # the same derivative
assert np.all(raw[1:] / raw[:-1] > 2.0)  # the tree more than doubles with each level
assert np.all(np.diff(ours) == np.diff(ours)[0])  # the graph grows by a constant per level
assert raw[-1] > 100 * ours[-1] and cse[-1] > ours_opt[-1]

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.semilogy(depths, raw, "o-", label="SymPy derivative (tree)")
ax.semilogy(depths, cse, "o-", label="SymPy derivative after sympy.cse")
ax.semilogy(depths, ours, "s-", label="graphdl gradient graph (gd.grad)")
ax.semilogy(depths, ours_opt, "s--", label="graphdl gradient, optimized")
ax.set(xlabel="depth of the logistic map", ylabel="operations",
       title="Expression swell: symbolic derivative vs gradient graph")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "02_expression_swell.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Timings
#
# "Prepare" is the time from a function to a callable gradient: `sympy.diff` then `lambdify`
# (which runs CSE) against `gd.grad` then `gd.function` (which optimizes and emits NumPy code).
# "Evaluate" is the compiled gradient on 2,000 points. After CSE both sides compute about the
# same thing, so evaluation times are close; preparation is where the swell costs, and it grows
# with the tree.

# %%
prep_sympy = np.array([r.sympy_prepare_seconds for r in rows])
prep_ours = np.array([r.graphdl_prepare_seconds for r in rows])
eval_sympy = np.array([r.sympy_eval_seconds for r in rows])
eval_ours = np.array([r.graphdl_eval_seconds for r in rows])
print(f"depth 10: prepare {prep_sympy[-1]:.3f} s (SymPy) vs {prep_ours[-1]:.4f} s (graphdl)")
assert prep_sympy[-1] > 5 * prep_ours[-1]

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].semilogy(depths, prep_sympy, "o-", label="sympy.diff + lambdify")
axes[0].semilogy(depths, prep_ours, "s-", label="gd.grad + gd.function")
axes[0].set(xlabel="depth", ylabel="seconds", title="Prepare the gradient")
axes[1].semilogy(depths, eval_sympy, "o-", label="SymPy (lambdify, cse=True)")
axes[1].semilogy(depths, eval_ours, "s-", label="graphdl")
axes[1].set(xlabel="depth", ylabel="seconds", title="Evaluate it at 2,000 points")
axes[0].legend(fontsize=8)
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "02_timings.png", dpi=100)
plt.close(fig)

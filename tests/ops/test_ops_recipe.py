"""The recipe for adding an op (docs/concepts/ops.md), run exactly as the page writes it: the new
op works under every transformation and tool at once, with nothing added anywhere else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "concepts" / "ops.md"

CHECKS = r'''
import numpy as np
import graphdl as gd
from graphdl.codegen.numba_backend import NumbaLoweringError, NumbaUnavailable


def f(v):
    return v / (1 + np.abs(v))


def df(v):
    return 1 / (1 + np.abs(v)) ** 2


points = np.array([-2.0, -0.3, 0.4, 3.0])  # away from the kink of |x| at 0
h = 1e-6
x = gd.vector("x", 4)

# reverse mode, against central differences and the closed form
g = gd.function([x], gd.grad(gd.sum(softsign(x)), x))(points)
np.testing.assert_allclose(g, (f(points + h) - f(points - h)) / (2 * h), rtol=1e-6)
np.testing.assert_allclose(g, df(points), rtol=1e-12)

# forward mode
t = np.array([1.0, -2.0, 0.5, 3.0])
np.testing.assert_allclose(gd.function([x], gd.jvp(softsign(x), x, t))(points), df(points) * t,
                           rtol=1e-12)

# second order: the Hessian of sum(softsign(x)) is diagonal, with f''
hess = gd.function([x], gd.hessian(gd.sum(softsign(x)), x))(points)
np.testing.assert_allclose(np.diag(hess), (df(points + h) - df(points - h)) / (2 * h),
                           rtol=1e-5)
np.testing.assert_allclose(hess - np.diag(np.diag(hess)), 0.0)

# vmap: a batch of rows at once equals the rows one by one
s, rows = gd.vector("s", 3), gd.matrix("rows", (4, 3))
values = np.arange(-6.0, 6.0).reshape(4, 3)
batched = gd.function([rows], gd.vmap(gd.sum(softsign(s)) * softsign(s), {s: rows}))(values)
np.testing.assert_allclose(batched, [f(r).sum() * f(r) for r in values], rtol=1e-12)

# the numba backend compiles it, or says clearly that it cannot
try:
    kernel = gd.function([x], softsign(x), backend="numba")
except NumbaUnavailable:
    pass
except NumbaLoweringError as exc:
    assert "softsign" in str(exc) and "numba" in str(exc), exc
else:
    np.testing.assert_allclose(kernel(points), f(points), rtol=1e-12)

# SymPy, traces and drawings
u = gd.scalar("u")
assert str(gd.to_sympy(softsign(u))) == "u/(Abs(u) + 1)"
primal = str(gd.trace(softsign(u) * u, {u: 2.0}))
assert "v_1 = softsign v_0 = softsign 2 = 0.667" in primal, primal
tangent = str(gd.trace(softsign(u) * u, {u: 2.0}, mode="forward"))
assert "v̇_1 = v̇_0 / (1 + |v_0|)²    = 1 / (1 + |2|)²        = 0.111" in tangent, tangent
adjoint = str(gd.trace(softsign(u) * u, {u: 2.0}, mode="reverse"))
assert "v̄_0 + v̄_1 / (1 + |v_0|)² = 0.889" in adjoint, adjoint
drawing = gd.to_dot(gd.trace(softsign(u) * u, {u: 2.0}, mode="reverse")).source
assert "v_1 = softsign v_0 | value 0.667 | adjoint 2" in drawing, drawing
assert "softsign" in gd.to_dot(softsign(u) * u).source
print("recipe ok")
'''


def test_the_documented_recipe_gives_a_complete_op(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    recipe = next(b for b in blocks if "elementwise_op(" in b)
    script = tmp_path / "recipe.py"
    script.write_text(recipe + "\n\n" + CHECKS, encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert "recipe ok" in done.stdout

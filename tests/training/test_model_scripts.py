"""One model-script convention for `graphdl train` and `graphdl render` (docs/model-scripts.md):
a training script (``build_model``) can be drawn, a drawing script gets a clear refusal from
train, a script with neither gets a clear error from both."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphdl as gd
from graphdl.training import models

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "model.py"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphdl.cli.main", *args], check=False,
                          capture_output=True, text=True, timeout=180, cwd=cwd)


def test_render_draws_the_objective_train_minimizes(tmp_path):
    out = tmp_path / "model.dot"
    done = _cli("render", str(EXAMPLE), "-o", str(out), "--grad")
    assert done.returncode == 0, done.stderr
    source = out.read_text()
    assert "subgraph cluster_" in source and "hidden" in source and "scores" in source
    assert 'label="X\\ninput f64[?,64]"' in source  # sized by the bundled digits
    assert "gradient output" in source  # --grad: one gradient per parameter
    assert source.count("filled,bold") >= 4 or source.count("gradient") >= 4
    for key, shape in (("hidden.W", "64,128"), ("hidden.b", "128"), ("scores.W", "128,10"),
                       ("scores.b", "10")):  # named by the model's parameter keys
        assert f'label="∂loss/∂{key}  f64[{shape}]"' in source


def test_the_drawn_objective_is_the_one_train_compiles():
    spec = models.load_script(EXAMPLE)
    loss, params = models.objective_graph(spec, 64, 10, np.random.default_rng(0))
    assert [p.name for p in params] == ["hidden_W", "hidden_b", "scores_W", "scores_b"]
    X = gd.graph_inputs([loss])
    fn = gd.function(X, loss)
    rng = np.random.default_rng(1)
    data = {"X": rng.normal(size=(5, 64)), "y": rng.integers(0, 10, 5)}
    value = fn(*[data[x.name] for x in X])
    # softmax cross-entropy of a freshly initialized net: about log(10), never far from it
    assert 1.0 < float(value) < 4.0


def test_example_trains(tmp_path):
    done = _cli("train", "--model", str(EXAMPLE), "--epochs", "2", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout + done.stderr


def test_train_refuses_a_drawing_script_and_says_why(tmp_path):
    script = tmp_path / "drawing.py"
    script.write_text("import graphdl as gd\nx = gd.scalar('x')\noutputs = gd.sin(x)\n")
    done = _cli("train", "--model", str(script), "--epochs", "1", "--out", str(tmp_path / "o"))
    assert done.returncode != 0
    assert "must define build_model" in done.stderr and "graphdl render" in done.stderr


def test_a_script_with_neither_is_refused_by_both(tmp_path):
    script = tmp_path / "empty.py"
    script.write_text(textwrap.dedent("""
        import graphdl as gd
        x = gd.scalar("x")
    """))
    done = _cli("render", str(script), "-o", str(tmp_path / "x.dot"))
    assert done.returncode == 2
    assert "none of `outputs`, `graph()` or `build_model`" in done.stderr and "x" in done.stderr
    with pytest.raises(TypeError, match="must define build_model"):
        models.load_script(script)

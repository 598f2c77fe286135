"""The tutorials run, pass their own checks, draw their figures, and match their notebooks.

Each tutorial is a jupytext "percent" script that asserts the numbers it teaches (the lecture's
11.652 / 5.5 / 1.716, eq. 47 against gd.grad, curves that must go down or turn up), so running
it in a fresh interpreter and requiring exit status 0 tests its content, not just that it runs.
The figures are checked to be real PNG images with something drawn on them, and each committed
notebook must hold the same cells as its script (regenerate with ``jupytext --sync``).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
TIMEOUT = 60  # seconds per tutorial, on 2 shared cores

FIGURES = {
    "01_autodiff": [
        "01_f_and_gradient.png", "01_finite_differences.png", "01_graph.png",
        "01_graph_with_gradient.png", "01_reverse_trace.png",
    ],
    "02_symbolic_vs_autodiff": [
        "02_expression_swell.png", "02_timings.png", "02_product_rule_graph.png",
    ],
    "03_backprop": ["03_gradient_norm_per_layer.png", "03_gradient_ratio_vs_depth.png"],
    "04_losses_overfitting": [
        "04_regression_fit.png", "04_regression_curves.png", "04_classification_curves.png",
        "04_early_stopping.png", "04_confidence.png",
    ],
    "05_optimizers": [
        "05_trajectories.png", "05_momentum.png", "05_loss_2d.png", "05_digits_optimizers.png",
    ],
    "06_techniques": [
        "06_xavier_activations.png", "06_batchnorm.png", "06_augmentation.png",
        "06_multitask.png",
    ],
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scripts() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def test_every_tutorial_is_listed() -> None:
    """A new tutorial must say which figures it draws, so this file tests it too."""
    assert [p.stem for p in scripts()] == sorted(FIGURES)


def check_png(path: Path) -> None:
    """A decodable PNG of a reasonable size with more than a blank canvas on it."""
    assert path.exists(), f"{path.name} was not written"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert width >= 200 and height >= 150, f"{path.name} is only {width}x{height}"
    assert len(data) > 5_000, f"{path.name} is only {len(data)} bytes"
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    rgb = pixels[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.02, f"{path.name} is (almost) one colour"
    colours = np.unique(np.round(rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) >= 8, f"{path.name} has only {len(colours)} colours"


NEEDS_DOT = {"01_autodiff", "02_symbolic_vs_autodiff"}  # they render graphs with gd.render


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_tutorial_runs_and_draws(name: str, tmp_path: Path) -> None:
    if name in NEEDS_DOT and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (scripts/setup.sh installs it)")
    out = tmp_path / "figures"
    env = {**os.environ, "GRAPHDL_TUTORIAL_OUT": str(out), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(TUTORIALS / f"{name}.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, (f"{name}.py failed after {seconds:.1f} s:\n"
                                  f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    assert sorted(p.name for p in out.glob("*.png")) == sorted(FIGURES[name])
    for figure in FIGURES[name]:
        check_png(out / figure)


def notebook_cells(path: Path) -> list[tuple[str, str]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]


@pytest.mark.parametrize("script", scripts(), ids=lambda p: p.stem)
def test_notebook_matches_script(script: Path) -> None:
    jupytext = pytest.importorskip("jupytext")
    paired = script.with_suffix(".ipynb")
    assert paired.exists(), f"run: jupytext --to ipynb {script.relative_to(ROOT)}"
    expected = [(c.cell_type, c.source) for c in jupytext.read(script).cells]
    assert notebook_cells(paired) == expected, (
        f"{paired.name} is out of date: run jupytext --sync {script.relative_to(ROOT)}")


def test_check_png_rejects_a_blank_image(tmp_path: Path) -> None:
    """The figure check itself can fail: a blank canvas of the right size does not pass."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 3))
    fig.savefig(tmp_path / "blank.png", dpi=100)
    plt.close(fig)
    with pytest.raises(AssertionError):
        check_png(tmp_path / "blank.png")


# --- the documentation's examples --------------------------------------------------------------
DOCS = ROOT / "docs"
DOC_CHECKS = {
    # page: code run after the page's Python blocks, asserting what the page says they give
    "getting-started.md": (
        "import numpy as np\n"
        "np.testing.assert_allclose(fn(2.0, 5.0), 11.652071455223084)\n"
        "np.testing.assert_allclose(both(2.0, 5.0), [11.652071455223084, 5.5, 1.71633781453677])\n"
        "np.testing.assert_allclose(w.get_value(), [1.0, -2.0, 0.5], atol=1e-8)\n"
        "assert clf.evaluate(*test)[1] > 0.9\n"
    ),
    "concepts/ops.md": (
        "import numpy as np\n"
        "np.testing.assert_allclose(value, np.sum([-2 / 3, 0.0, 3 / 4]))\n"
        "np.testing.assert_allclose(slope, [1 / 9, 1.0, 1 / 16])\n"
    ),
    "index.md": "",
}


def python_blocks(page: Path) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("page", sorted(DOC_CHECKS))
def test_documentation_examples_run(page: str, tmp_path: Path) -> None:
    """The Python blocks of a page, run in order in a fresh interpreter, then its checks."""
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no Python examples"
    script = tmp_path / "example.py"
    script.write_text("\n\n".join([*blocks, DOC_CHECKS[page]]), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{page}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"

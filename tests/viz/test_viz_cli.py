"""``graphdl render MODEL.py[:NAME]`` end to end through a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from graphdl.viz import dot as dotmod

SVG = "{http://www.w3.org/2000/svg}"
MODEL = textwrap.dedent('''
    import numpy as np
    import graphdl as gd

    X = gd.matrix("X", shape=(None, 4))
    with gd.name_scope("layer1"):
        W = gd.shared(np.full((4, 3), 0.1), name="W")
        h = gd.tanh(X @ W)
    with gd.name_scope("head"):
        loss = gd.mean(gd.square(h))
    outputs = loss
    hidden = h

    def graph():
        return [loss, h]

    if __name__ == "__main__":
        raise SystemExit("the training part must not run when rendering")
''')


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphdl.cli.main", *args], check=False,
                          capture_output=True,
                          text=True, timeout=120)


def _node_texts(path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {g.find(f"{SVG}title").text: " ".join(t.text for t in g.iter(f"{SVG}text"))
            for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def test_render_dot_source_of_outputs(model, tmp_path):
    out = tmp_path / "m.dot"
    done = _cli("render", str(model), "-o", str(out))
    assert done.returncode == 0, done.stderr
    source = out.read_text()
    assert "subgraph cluster_layer1" in source and "subgraph cluster_head" in source
    assert 'label="W\\nshared f64[4,3]"' in source and 'label="mean f64[]"' in source
    assert "filled,dashed" not in source  # no derivative nodes without --grad


@pytest.mark.skipif(not dotmod.dot_available(), reason="Graphviz dot not installed")
def test_render_grad_svg_and_named_variable(model, tmp_path):
    out = tmp_path / "g.svg"
    done = _cli("render", f"{model}:loss", "-o", str(out), "--grad")
    assert done.returncode == 0, done.stderr
    texts = _node_texts(out)
    assert "W shared f64[4,3]" in texts.values()
    assert texts["legend_gradient"] == "gradient output"
    assert "∂loss/∂W \xa0f64[4,3]" in texts.values()  # dW = Xᵀ @ ..., named
    assert "∂layer1" in open(out, encoding="utf-8").read()  # the backward scope of layer1
    assert "adjoint of" not in open(out, encoding="utf-8").read()
    linked = tmp_path / "l.dot"
    done = _cli("render", f"{model}:loss", "-o", str(linked), "--grad", "--links",
                "--collapse", "1")
    assert done.returncode == 0, done.stderr
    assert "adjoint of" in linked.read_text() and 'label="layer1\\n' in linked.read_text()
    out2 = tmp_path / "h.svg"
    done = _cli("render", f"{model}:hidden", "-o", str(out2), "--compare")
    assert done.returncode == 0, done.stderr
    labels = " ".join(_node_texts(out2).values())
    assert "tanh f64[?,3]" in labels


def test_render_errors(model, tmp_path):
    done = _cli("render", f"{model}:nothing", "-o", str(tmp_path / "x.dot"))
    assert done.returncode == 2 and "defines no 'nothing'" in done.stderr
    assert "hidden" in done.stderr and "loss" in done.stderr  # it lists what it found
    done = _cli("render", f"{model}:graph", "-o", str(tmp_path / "x.dot"), "--grad")
    assert done.returncode == 2 and "one scalar output" in done.stderr
    done = _cli("render", str(tmp_path / "missing.py"), "-o", str(tmp_path / "x.dot"))
    assert done.returncode == 2 and "no such model script" in done.stderr
    done = _cli("render", str(model), "-o", str(tmp_path / "x.dot"), "--max-nodes", "3")
    assert done.returncode == 2 and "max_nodes=3" in done.stderr

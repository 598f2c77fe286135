"""Graphviz drawings: DOT structure (nodes, edges, styles, links, clusters) of small graphs, the
node limit, rendering to SVG parsed as XML, and the error without Graphviz's dot program."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphdl as gd
from graphdl.viz import dot as dotmod
from graphdl.viz.dot import GraphTooLargeError, RenderError

needs_dot = pytest.mark.skipif(not dotmod.dot_available(), reason="Graphviz dot not installed")
SVG = "{http://www.w3.org/2000/svg}"


def _nodes(source: str) -> dict[str, str]:
    """DOT node id -> its attribute text (legend entries excluded)."""
    found = {}
    for line in source.splitlines():
        m = re.match(r"\s*(\w+) \[(.*)\]$", line.strip())
        if m and not m.group(1).startswith(("legend", "graph", "node", "edge")):
            found[m.group(1)] = m.group(2)
    return found


def _edges(source: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3) or "")
            for m in re.finditer(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", source, re.MULTILINE)
            if not m.group(1).startswith("legend")]


@pytest.fixture
def lecture():
    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    return x1, x2, gd.log(x1) + x1 * x2 - gd.sin(x2)


def test_nodes_edges_and_styles_of_the_lecture_graph(lecture):
    x1, x2, f = lecture
    source = gd.to_dot(f).source
    nodes = _nodes(source)
    assert len(nodes) == 7
    assert 'label="x1\\ninput f64[]"' in nodes[f"n{x1.id}"]
    assert 'fillcolor="#e7f5ff"' in nodes[f"n{x1.id}"]
    assert 'label="subtract f64[]"' in nodes[f"n{f.id}"]
    assert 'fillcolor="#b2f2bb"' in nodes[f"n{f.id}"]  # output: green
    edges = _edges(source)
    assert len(edges) == 8  # one per operand slot
    assert (f"n{x2.id}", f"n{f.inputs[1].id}", "") in edges  # x2 -> sin
    assert {e[2] for e in edges if e[1] == f"n{f.id}"} == {"headlabel=0", "headlabel=1"}
    assert "rankdir=LR" in source and "fontname=monospace" in source
    assert "subgraph cluster_legend" in source and 'legend_output [label=output' in source


def test_shared_constants_and_float32_labels():
    w = gd.shared(np.ones((3, 2), dtype="float32"), name="W")
    x = gd.matrix("x", shape=(None, 3), dtype="float32")
    y = gd.sum(x @ w * 2.0, axis=1)
    nodes = _nodes(gd.to_dot(y).source)
    assert 'label="W\\nshared f32[3,2]"' in nodes[f"n{w.id}"]
    assert 'fillcolor="#a5d8ff"' in nodes[f"n{w.id}"]  # parameters: light blue
    assert 'label="x\\ninput f32[?,3]"' in nodes[f"n{x.id}"]
    assert 'label="sum f32[?] axis=1"' in nodes[f"n{y.id}"]
    constant = y.inputs[0].inputs[1]
    assert 'label=2 ' in nodes[f"n{constant.id}"] and "#f1f3f5" in nodes[f"n{constant.id}"]


def test_gradient_nodes_are_styled_and_linked_to_their_primal(lecture):
    x1, x2, f = lecture
    grads, bar = dotmod.gradient_with_map(f, [x1, x2])
    values = gd.function([x1, x2], grads)(2.0, 5.0)
    assert [float(v) for v in values] == pytest.approx([5.5, 2 - np.cos(5)])
    assert "constraint=false" not in gd.to_dot(f, wrt=[x1, x2]).source  # links only on request
    source = gd.to_dot(f, wrt=[x1, x2], links=True).source  # builds its own gradient graph
    nodes = _nodes(source)
    assert sum('fillcolor="#ffc078"' in v for v in nodes.values()) == 2  # gradient outputs
    derivative = {k for k, v in nodes.items() if "filled,dashed" in v}
    assert derivative and all(f"n{n.id}" not in derivative for n in (x1, x2, f))
    links = [(a, b) for a, b, attrs in _edges(source) if "constraint=false" in attrs]
    assert all(a in derivative or 'fillcolor="#ffc078"' in nodes[a] for a, _ in links)
    sin = f.inputs[1]
    linked = {b for _, b in links}
    assert {f"n{n.id}" for n in (x1, x2, sin, f)} <= linked  # x̄1, x̄2, v̄_3, ȳ
    # the gradient outputs are the adjoints of the inputs
    x1_adjoint = next(a for a, b in links if b == f"n{x1.id}")
    assert 'fillcolor="#ffc078"' in nodes[x1_adjoint]
    assert bar[x1] is grads[0]
    assert "legend_adj_a -> legend_adj_b" in source


def test_trace_renders_as_record_nodes(lecture):
    x1, x2, f = lecture
    t = gd.trace(f, at={x1: 2, x2: 5}, mode="reverse")
    nodes = _nodes(t.to_dot().source)
    assert nodes[f"n{x1.id}"].startswith('label="v_\\{-1\\} = x1 | value 2 | adjoint 5.5"')
    assert "shape=record" in nodes[f"n{x1.id}"]
    assert 'label="v_5 = v_4 − v_3 | value 11.652 | adjoint 1"' in nodes[f"n{f.id}"]
    top_down = _nodes(t.to_dot(rankdir="TB").source)  # braces keep the fields stacked
    assert 'label="{v_5 = v_4 − v_3 | value 11.652 | adjoint 1}"' in top_down[f"n{f.id}"]
    forward = gd.trace(f, at={x1: 2, x2: 5}, mode="forward")
    assert "tangent 5.5" in _nodes(forward.to_dot().source)[f"n{f.id}"]


def test_name_scopes_become_clusters_and_fold():
    x = gd.vector("x", 4)
    with gd.name_scope("layer1") as path:
        h = gd.tanh(x * 2.0)
        with gd.name_scope("inner"):
            h2 = gd.exp(h)
    with gd.name_scope("head"):
        y = gd.sum(h2)
    assert path == ("layer1",)
    from graphdl.ir.scopes import scope_of

    assert scope_of(h) == ("layer1",) and scope_of(h2) == ("layer1", "inner")
    assert scope_of(x) == () and scope_of(gd.scalar("layer9/w")) == ("layer9",)
    with gd.name_scope("enc/dense"):  # slashes nest, as module names like "enc/dense" may
        z = y + 1.0
    after = z * 2.0
    assert scope_of(z) == ("enc", "dense") and scope_of(after) == ()
    with pytest.raises(ValueError, match="non-empty"), gd.name_scope("a//b"):
        pass
    source = gd.to_dot(y).source
    assert "subgraph cluster_layer1 {" in source and "subgraph cluster_layer1__inner {" in source
    assert "subgraph cluster_head {" in source
    folded = gd.to_dot(y, collapse=True).source
    nodes = _nodes(folded)
    assert "subgraph cluster_layer1" not in folded
    assert 'label="layer1\\n4 nodes"' in nodes["scope0"]  # constant 2, multiply, tanh, exp
    assert ("scope0", "scope1", 'label="f64[4]"') in _edges(folded)  # labelled by shape
    only_inner = _nodes(gd.to_dot(y, collapse=["layer1/inner"]).source)
    assert any('label="inner\\n1 node"' in v for v in only_inner.values())
    by_depth = _nodes(gd.to_dot(y, collapse=2).source)  # layer1/inner folds, head whole
    assert {v.split('"')[1] for k, v in by_depth.items() if k.startswith("scope")} == {
        "layer1\\n3 nodes", "inner\\n1 node", "head\\n1 node"}


def test_node_limit_says_how_to_shrink():
    x = gd.scalar("x")
    with gd.name_scope("block"):
        y = x
        for _ in range(30):
            y = gd.tanh(y)
    with pytest.raises(GraphTooLargeError, match=r"31 nodes.*max_nodes=10.*block \(30 nodes\)"):
        gd.to_dot(y, max_nodes=10)
    assert len(_nodes(gd.to_dot(y, max_nodes=10, collapse=True).source)) == 2


def test_compare_draws_two_sides(lecture):
    x1, _x2, f = lecture
    g = f * 1.0 + 0.0
    source = gd.to_dot(g, compare=True).source
    assert "subgraph cluster_a_side" in source and "subgraph cluster_b_side" in source
    assert re.search(r'label="as written: \d+ operations"', source)
    assert f"a_n{x1.id}" in source and f"b_n{x1.id}" in source


def test_without_dot_program_source_works_and_render_says_how_to_install(
        lecture, tmp_path, monkeypatch):
    _x1, _x2, f = lecture
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    path = gd.render(f, tmp_path / "f.dot")
    assert path.read_text().startswith("digraph graphdl {")
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        gd.render(f, tmp_path / "f.svg")
    with pytest.raises(ValueError, match=r"\.svg"):
        gd.render(f, tmp_path / "f.jpeg")


@needs_dot
def test_svg_output_has_the_expected_nodes(lecture, tmp_path):
    x1, x2, f = lecture
    path = gd.render(f, tmp_path / "f.svg", wrt=True)
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    titles = {g.find(f"{SVG}title").text: " ".join(t.text for t in g.iter(f"{SVG}text"))
              for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert titles[f"n{x1.id}"] == "x1 input f64[]"
    assert titles[f"n{f.id}"] == "loss subtract f64[]"  # the cost is named in a gradient
    assert sorted(t for t in titles.values() if t.startswith("∂")) == [
        "∂loss/∂x1 \xa0f64[]", "∂loss/∂x2 \xa0f64[]"]
    assert "legend_gradient" in titles
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) > 7
    png = gd.render(gd.trace(f, at={x1: 2, x2: 5}), tmp_path / "t.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_trace_html_embeds_the_graph(lecture):
    x1, x2, f = lecture
    html = gd.trace(f, at={x1: 2, x2: 5}, mode="forward")._repr_html_()
    assert "<svg" in html and "Forward tangent (derivative) trace" in html


def _mlp_objective():
    from graphdl.training import models

    return models.objective_graph(models.resolve("mlp"), 64, 10, np.random.default_rng(0))


def test_adjoint_nodes_sit_in_the_backward_scope_of_their_primal_layer():
    x = gd.matrix("x", shape=(None, 3))
    w = gd.shared(np.ones((3, 2)), name="layer_W")
    with gd.name_scope("layer"):
        h = gd.tanh(x @ w)
    with gd.name_scope("head"):
        cost = gd.mean(h * h)
    source = gd.to_dot(cost, wrt={"layer.W": w}).source
    nodes = _nodes(source)

    def cluster(name: str) -> list[str]:  # the labels of the nodes drawn in one cluster
        body = source[source.index(f"subgraph cluster_{name} {{"):]
        return re.findall(r'\[label="?(.*?)"? color=', body[:body.index("}")])

    # the backward pass of each scope is a cluster of its own, mirroring the forward one
    assert cluster("layer") == ["matmul f64[?,2]", "tanh f64[?,2]"]
    assert 'label="∂layer"' in source and 'label="∂head"' in source
    layer_back = cluster("back_layer")  # tanh's rule (1 - tanh²) and matmul's (xᵀ)
    assert {"square f64[?,2]", "subtract f64[?,2]", "transpose f64[3,?] axes=(1, 0)"} <= set(
        layer_back)
    head_back = cluster("back_head")  # the seed 1 and mean's and multiply's rules
    assert "1" in head_back and "divide f64[?,2]" in head_back
    assert not set(layer_back) & {"divide f64[?,2]", "broadcast_like f64[?,2]"}
    gradient = next(k for k, v in nodes.items() if 'label="∂loss/∂layer.W  f64[3,2]"' in v)
    assert "matmul f64[3,2]" in nodes[gradient]  # the tooltip says what the node computes
    # edges inside the backward sweep run consumer -> producer, arrow turned back
    back = [(a, b) for a, b, attrs in _edges(source) if "dir=back" in attrs]
    assert sum(a == gradient for a, _ in back) == 2  # dW = xᵀ @ v̄: both inputs are adjoint-side
    assert all("filled,dashed" in nodes[b] for _, b in back)
    assert f"n{x.id}" not in {b for _, b in back}  # primal -> backward edges keep their way
    folded = gd.to_dot(cost, wrt={"layer.W": w}, collapse=True).source
    boxes = {k: v.split('"')[1] for k, v in _nodes(folded).items() if k.startswith("scope")}
    assert sorted(b.split("\\")[0] for b in boxes.values()) == ["head", "layer", "∂head",
                                                                  "∂layer"]
    ids = {b.split("\\")[0]: k for k, b in boxes.items()}
    edges = _edges(folded)
    assert (ids["layer"], ids["head"], 'label="f64[?,2]"') in edges
    assert (ids["∂layer"], ids["∂head"], 'label="f64[?,2]" dir=back') in edges
    assert 'label="∂loss/∂layer.W  f64[3,2]"' in folded  # the gradient output stays visible
    assert nodes[f"n{w.id}"].startswith('label="layer.W\\nshared f64[3,2]"')  # by its key


@needs_dot
def test_model_gradient_drawings_stay_readable(tmp_path):
    from helpers import svg_geometry, svg_texts

    loss, params = _mlp_objective()
    named = dict(zip(("dense1.W", "dense1.b", "dense2.W", "dense2.b"), params))
    primal = gd.render(loss, tmp_path / "objective.svg")
    full = gd.render(loss, tmp_path / "full.svg", wrt=named)
    folded = gd.render(loss, tmp_path / "folded.svg", wrt=named, collapse=2, rankdir="TB")
    width, height, text = svg_geometry(folded)
    assert width <= 1920 and height <= 1080 and text >= 8, (width, height, text)
    assert svg_geometry(full)[0] <= 2 * svg_geometry(primal)[0]
    for path in (full, folded):
        texts = ["".join(t.split()) for t in svg_texts(path)]
        for key, w in named.items():
            assert texts.count(f"∂loss/∂{key}f64[{','.join(map(str, w.shape))}]") == 1

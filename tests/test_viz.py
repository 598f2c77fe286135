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
    source = gd.to_dot(f, wrt=[x1, x2]).source  # builds its own gradient graph
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
    assert ("scope0", "scope1", "") in _edges(folded)
    only_inner = _nodes(gd.to_dot(y, collapse=["layer1/inner"]).source)
    assert any('label="inner\\n1 nodes"' in v for v in only_inner.values())


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
    assert titles[f"n{f.id}"] == "subtract f64[]"
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

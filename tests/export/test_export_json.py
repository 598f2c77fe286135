"""The JSON form of the IR (``gd.save_graph`` / ``gd.load_graph``, issue 21): every op of the
registry's table and their gradient graphs round-trip to the same compiled values; shared
variables keep their values and updates; bad files fail with errors naming what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_ops_table import CASES

import graphdl as gd
from graphdl.export import graph_from_dict, graph_to_dict

NOT_SAVED = {"scan", "cond"}  # loops and branches: their bodies have no JSON form yet


def _table(variants=("static", "first")):
    return [pytest.param(name, case, v, id=f"{name}-{k}-{case.label or 'default'}-{v}")
            for name, cases in CASES.items() if name not in NOT_SAVED
            for k, case in enumerate(cases) for v in variants
            if v == "static" or v in case.none_variants]  # a case may need static sizes


def test_a_loop_is_refused_by_save_graph(tmp_path) -> None:
    x = gd.vector("x", 3)
    final, _ = gd.scan(lambda c, _: (c * 2.0, None), x, length=3)
    with pytest.raises(gd.ExportError, match="Body"):
        gd.save_graph([x], [final], tmp_path / "loop.json")


def _round_trip(tmp_path, inputs, outputs, updates=None):
    path = tmp_path / "graph.json"
    gd.save_graph(inputs, outputs, path, updates=updates)
    return gd.load_graph(path), path


@pytest.mark.parametrize(("name", "case", "variant"), _table())
def test_every_op_and_its_gradient_round_trip(tmp_path, name, case, variant) -> None:
    inputs = case.inputs(variant)
    out = case.build(*inputs)
    outputs = [out]
    if case.smooth and all(k == "f" for k in case.kinds or "f"):
        outputs += gd.grad(gd.sum(out * out), inputs)  # the adjoint graph's helper ops too
    values = case.values(np.random.default_rng(3))
    expected = gd.function(inputs, outputs)(*values)
    loaded, _ = _round_trip(tmp_path, inputs, outputs)
    assert [n.name for n in loaded.inputs] == [n.name for n in inputs]
    assert [(n.shape, n.dtype) for n in loaded.outputs] == [(n.shape, n.dtype) for n in outputs]
    assert name in {n.op.name for n in gd.toposort(loaded.outputs)}
    got = gd.function(loaded.inputs, loaded.outputs)(*values)
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_array_equal(g, e)
    # Unoptimized too: the loaded graph is the saved one, node for node.
    assert gd.count_nodes(loaded.outputs) == gd.count_nodes(outputs)


def test_training_step_keeps_shared_values_and_updates(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 4), dtype="float32")
    y = gd.vector("y", dtype="int64")
    W = gd.shared(rng.standard_normal((4, 3)).astype("float32"), name="W")
    b = gd.shared(np.zeros(3, "float32"), name="b")
    loss = -gd.take_along_axis(gd.log_softmax(X @ W + b, axis=1), y[:, None], axis=1).mean()
    gW, gb = gd.grad(loss, [W, b])
    updates = {W: W - 0.1 * gW, b: b - 0.1 * gb}
    loaded, _ = _round_trip(tmp_path, [X, y], loss, updates)
    assert isinstance(loaded.outputs, gd.Node)  # a single output stays single
    assert [v.name for v in loaded.shared] == ["W", "b"]
    np.testing.assert_array_equal(loaded.shared[0].get_value(), W.get_value())
    xs, ys = rng.standard_normal((5, 4)).astype("float32"), rng.integers(0, 3, 5)
    step = gd.function([X, y], loss, updates=updates)
    step2 = gd.function(loaded.inputs, loaded.outputs, updates=loaded.updates)
    for _ in range(3):
        a, c = step(xs, ys), step2(xs, ys)
        assert a.dtype == c.dtype == np.float32
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(loaded.shared[0].get_value(), W.get_value())
    assert not np.array_equal(W.get_value(), rng.standard_normal((4, 3)))


def test_file_is_plain_versioned_json_and_names_stay_strings(tmp_path) -> None:
    x = gd.vector("x; __import__('os').system('false')")
    y = gd.exp(x * 2.0)
    loaded, path = _round_trip(tmp_path, [x], [y])
    data = json.loads(path.read_text())
    assert data["format"] == "graphdl-graph" and data["version"] == 1
    assert [r["op"] for r in data["nodes"]] == ["input", "constant", "multiply", "exp"]
    assert data["nodes"][1]["attrs"] == {"value": 2.0, "weak": True}
    assert loaded.inputs[0].name == x.name
    np.testing.assert_allclose(gd.function(loaded.inputs, loaded.outputs)(np.ones(2))[0],
                               np.exp(2.0) * np.ones(2))


def test_attribute_encoding_round_trips_special_values() -> None:
    x = gd.vector("x", shape=(3,))
    c = gd.constant(np.array([np.nan, np.inf, -1.5]))
    s = gd.constant(np.float32(2.5))
    out = gd.where(x > 0, c, x)[::-1] * s
    data = json.loads(json.dumps(graph_to_dict([x], out), allow_nan=False))
    loaded = graph_from_dict(data)
    v = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(gd.function(loaded.inputs, loaded.outputs)(v),
                                  gd.function([x], out)(v))


def _saved(outputs=None):
    x = gd.vector("x", shape=(3,))
    return graph_to_dict([x], outputs if outputs is not None else [gd.exp(x)])


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda d: d.update(format="onnx"), 'expected "format": "graphdl-graph"'),
    (lambda d: d.update(version=2), "unsupported version 2 (this graphdl reads version 1)"),
    (lambda d: d["nodes"][1].update(op="frobnicate"),
     "node 1 (frobnicate): unknown op 'frobnicate'"),
    (lambda d: d["nodes"][1].update(inputs=[5]), "node 1 (exp): input 5 does not name an earlier"),
    (lambda d: d["nodes"][1].update(shape=[4]), "node 1 (exp): the file says float64[4], op 'exp' "
                                                "infers float64[3]"),
    (lambda d: d["nodes"][1].update(dtype="object"), "dtype object is not numeric"),
    (lambda d: d["nodes"][1].pop("attrs"), "node 1 (exp): missing field 'attrs'"),
    (lambda d: d.update(outputs=[9]), "outputs entry 9 does not name a node"),
    (lambda d: d.update(inputs=[1]), "inputs entry exp#"),
])
def test_bad_files_are_refused_naming_the_problem(tamper, message) -> None:
    data = _saved()
    tamper(data)
    with pytest.raises(gd.ExportError) as info:
        graph_from_dict(data)
    assert message in str(info.value)


def test_bad_attributes_are_refused() -> None:
    x = gd.matrix("x", shape=(2, 3))
    data = graph_to_dict([x], [gd.sum(x, axis=1)])
    data["nodes"][1]["attrs"]["axis"] = {"tuple": [7]}
    data["nodes"][1]["shape"] = [2, 3]  # even with a recorded type that would fit
    with pytest.raises(gd.ExportError, match=r"node 1 \(sum\): axis \(7,\) does not name "
                                             "distinct axes of a 2-d operand"):
        graph_from_dict(data)
    data = graph_to_dict([x], [x.T])
    data["nodes"][1]["attrs"]["axes"] = {"tuple": [0, 0]}
    data["nodes"][1]["shape"] = [2, 3]
    with pytest.raises(gd.ExportError, match=r"node 1 \(transpose\): axes \(0, 0\) is not a "
                                             "permutation"):
        graph_from_dict(data)
    data["nodes"][1]["attrs"]["axis"] = {"pickle": "gASVAAAA"}
    with pytest.raises(gd.ExportError, match="malformed attribute value"):
        graph_from_dict(data)
    data = _saved([gd.constant(np.arange(3.0)) + x[0]])
    data["nodes"][1]["attrs"]["value"]["array"] = "AAAA"
    with pytest.raises(gd.ExportError, match=r"array data has 3 bytes, shape \(3,\) of float64 "
                                             "needs 24"):
        graph_from_dict(data)


def test_not_json_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_bytes(b"\x80\x04\x95 pickled")
    with pytest.raises(gd.ExportError, match="is not UTF-8 text|is not JSON"):
        gd.load_graph(path)
    path.write_text("{nodes: [")
    with pytest.raises(gd.ExportError, match="is not JSON"):
        gd.load_graph(path)


def test_export_docs_list_every_registered_op() -> None:
    """docs/export.md's coverage table names every op of the registry, and its "refused" row
    names exactly the ops that have no ONNX form (`graphdl.export.onnx.coverage`)."""
    import re
    from pathlib import Path

    from graphdl.export.onnx import coverage
    from graphdl.ops.registry import REGISTRY

    page = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    table = page.split("### Op coverage", 1)[1].split("\n## ", 1)[0]
    listed, refused = set(), set()
    for row in table.splitlines():
        first = row.split("|")[1] if row.startswith("| ") else ""
        names = set(re.findall(r"`(\w+)`", first))
        listed |= names
        if first.strip().startswith("refused"):
            refused |= names
    assert listed == set(REGISTRY), (
        "add the new ops to docs/export.md's coverage table (the 'refused' row if they have no "
        f"ONNX rule): missing {sorted(set(REGISTRY) - listed)}, "
        f"unknown {sorted(listed - set(REGISTRY))}")
    assert refused == {op for op, how in coverage().items() if how.startswith("refused")}


def test_saving_a_loaded_graph_gives_the_same_file(tmp_path) -> None:
    """A saved graph is stable text (diffable): load and save again, byte for byte the same,
    leaves' origins (the user's lines) included."""
    x = gd.matrix("x", shape=(None, 3))
    W = gd.shared(np.ones((3, 2)), name="W")
    loss = gd.sum(gd.tanh(x @ W)[:, 1:] ** 2) + 1
    first = tmp_path / "a.json"
    gd.save_graph([x], [loss, *gd.grad(loss, [W])], first)
    loaded = gd.load_graph(first)
    assert loaded.inputs[0].origin.startswith("test_export_json.py:")
    second = tmp_path / "b.json"
    gd.save_graph(loaded.inputs, loaded.outputs, second)
    assert first.read_text() == second.read_text()

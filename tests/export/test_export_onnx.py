"""ONNX export (issue 21): graphs and their gradient graphs run in ONNX Runtime give graphdl's
values, for every op of the registry's table, the README's example, the training MLPs (with
Dropout masks and BatchNorm), float64 and float32; unknown sizes stay symbolic; an op without an
ONNX form is refused naming the op and the node; the CLI writes ONNX and JSON."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_ops_table import CASES

import graphdl as gd
from graphdl.export import ONNX_RULES
from graphdl.export.onnx import coverage
from graphdl.nn import Mode, losses
from graphdl.ops import elementwise as ew
from graphdl.training import models

onnx = pytest.importorskip("onnx", reason="ONNX export tests need onnx (the test extra)")
ort = pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime (test extra)")

TOL = {"float64": dict(rtol=1e-6, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}


def run_onnx(model, values):
    """The model run in ONNX Runtime on ``values`` (one per graph input, in order)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: np.asarray(v) for i, v in zip(session.get_inputs(), values)}
    return session.run(None, feed)


def assert_same(expected, got, dtype):
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        e = np.asarray(e)
        assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, e.dtype, g.shape, e.shape)
        np.testing.assert_allclose(g, e, **TOL[dtype])


def _table():
    params = []
    for name, cases in CASES.items():
        for k, case in enumerate(cases):
            for variant in ("static", "first", "all"):
                if variant != "static" and variant not in case.none_variants:
                    continue
                for dtype in ("float64", "float32"):
                    tag = f"{name}-{k}-{case.label or 'default'}-{variant}-{dtype}"
                    params.append(pytest.param(name, case, variant, dtype, id=tag))
    return params


@pytest.mark.parametrize(("name", "case", "variant", "dtype"), _table())
def test_every_op_and_its_gradient_in_onnx_runtime(name, case, variant, dtype) -> None:
    inputs = case.inputs(variant, dtype)
    out = case.build(*inputs)
    outputs = [out]
    if case.smooth and all(k == "f" for k in case.kinds or "f"):
        outputs += gd.grad(gd.sum(out * out), inputs)  # the adjoint graph's helper ops too
    values = case.values(np.random.default_rng(5), dtype)
    expected = gd.function(inputs, outputs, optimize=False)(*values)
    refused = sorted({n.op.name for n in gd.toposort(outputs)
                      if coverage()[n.op.name].startswith("refused")})
    if refused:  # an op without an ONNX form yet (listed so in docs/export.md) is refused by name
        with pytest.raises(gd.ExportError, match=f"cannot export ({'|'.join(refused)}) node"):
            gd.to_onnx(inputs, outputs)
        return
    model = gd.to_onnx(inputs, outputs)
    if dtype == "float64":  # (a cast to float32 of float32 builds no node)
        assert name in {n.op.name for n in gd.toposort(outputs)}
    assert_same(expected, run_onnx(model, values), dtype)


def test_an_op_without_an_onnx_form_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.delitem(ONNX_RULES, ew.SIN)
    x = gd.vector("x", shape=(3,))
    y = gd.sin(x) * 2.0
    with pytest.raises(gd.ExportError) as info:
        gd.to_onnx([x], y)
    message = str(info.value)
    assert message.startswith("to_onnx: cannot export sin node sin#")
    assert "(created at test_export_onnx.py:" in message and message.endswith("to ONNX: ONNX has "
                                                                              "no such op and "
                                                                              "graphdl has no "
                                                                              "lowering for it")


def _readme_graph(dtype="float64"):
    rng = np.random.default_rng(0)
    X = gd.matrix("X", shape=(None, 64), dtype=dtype)
    y = gd.vector("y", dtype="int64")
    W = gd.shared(rng.standard_normal((64, 10)).astype(dtype) * 0.1, name="W")
    b = gd.shared(rng.standard_normal(10).astype(dtype) * 0.1, name="b")
    loss = -gd.take_along_axis(gd.log_softmax(X @ W + b, axis=1), y[:, None], axis=1).mean()
    return [X, y], loss, gd.grad(loss, [W, b])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimize", [False, True])
def test_readme_training_step_loss_and_gradients(tmp_path, dtype, optimize) -> None:
    inputs, loss, grads = _readme_graph(dtype)
    path = tmp_path / "step.onnx"
    gd.to_onnx(inputs, [loss, *grads], path, optimize=optimize,
               output_names=["loss", "grad_W", "grad_b"])
    model = onnx.load(str(path))
    assert model.opset_import[0].version >= 17
    assert [o.name for o in model.graph.output] == ["loss", "grad_W", "grad_b"]
    assert {i.name for i in model.graph.initializer} >= {"W", "b"}
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "X_dim0" and not batch.HasField("dim_value")
    fn = gd.function(inputs, [loss, *grads])
    rng = np.random.default_rng(1)
    for n in (7, 32):  # one model, two batch sizes: the unknown size stays symbolic
        values = [rng.standard_normal((n, 64)).astype(dtype), rng.integers(0, 10, n)]
        assert_same(fn(*values), run_onnx(model, values), dtype)
    if optimize:  # the optimizer's fused cross-entropy went through its plain-op form
        optimized, _ = gd.optimize([loss, *grads])
        assert {"xent_rows", "xent_rows_grad"} <= {n.op.name for n in gd.toposort(optimized)}


def test_shared_variables_export_their_current_values() -> None:
    inputs, loss, _ = _readme_graph()
    W = next(n for n in gd.toposort([loss]) if n.name == "W")
    W.set_value(np.full((64, 10), 0.01))
    model = gd.to_onnx(inputs, loss)
    stored = next(i for i in model.graph.initializer if i.name == "W")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(stored), np.full((64, 10), 0.01))


def _classifier_graphs(builder, dtype):
    rng = np.random.default_rng(0)
    model = builder(64, 10, rng, dtype=dtype)
    X = gd.matrix("X", shape=(None, 64), dtype=dtype)
    y = gd.vector("y", dtype="int64")
    mode = Mode(training=True)
    logits = model(X, mode)
    loss = losses.softmax_cross_entropy(logits, y)
    grads = gd.grad(loss, model.parameters())
    masks = [m.node for m in mode.masks]
    return model, X, y, mode, loss, grads, masks


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("builder", [models.mlp, models.mlp_bn], ids=["mlp", "mlp_bn"])
def test_training_models_forward_and_gradients(builder, dtype) -> None:
    model, X, y, mode, loss, grads, masks = _classifier_graphs(builder, dtype)
    assert bool(masks) == (builder is models.mlp)  # dropout masks are inputs; BatchNorm has none
    rng = np.random.default_rng(2)
    n = 16
    values = [rng.standard_normal((n, 64)).astype(dtype), rng.integers(0, 10, n)]
    values += [m.sample(n, rng) for m in mode.masks]
    inputs = [X, y, *masks]
    train = gd.to_onnx(inputs, [loss, *grads])
    assert_same(gd.function(inputs, [loss, *grads])(*values), run_onnx(train, values), dtype)
    logits = model(X)  # evaluation mode: running statistics, no dropout
    evaluate = gd.to_onnx([X], logits, output_names=["logits"])
    assert [o.name for o in evaluate.graph.output] == ["logits"]
    assert_same([gd.function([X], logits)(values[0])], run_onnx(evaluate, values[:1]), dtype)


def test_names_are_strings_never_code() -> None:
    x = gd.vector("x); import os #", shape=(2,))
    y = gd.exp(x)
    model = gd.to_onnx([x], y, output_names=["y y"])
    assert [i.name for i in model.graph.input] == ["input_0"]
    assert [o.name for o in model.graph.output] == ["output_0"]
    np.testing.assert_allclose(run_onnx(model, [np.ones(2)])[0], np.exp(np.ones(2)))


def test_bad_arguments_are_clear_errors() -> None:
    x, z = gd.vector("x", shape=(2,)), gd.vector("z", shape=(2,))
    with pytest.raises(gd.ExportError, match=r"the outputs depend on input z \(created at "):
        gd.to_onnx([x], x + z)
    with pytest.raises(gd.ExportError, match="is not a graph input"):
        gd.to_onnx([x + 1], x)
    with pytest.raises(gd.ExportError, match="2 output names for 1 outputs"):
        gd.to_onnx([x], x * 2, output_names=["a", "b"])
    with pytest.raises(gd.ExportError, match="opset 16 is too old"):
        gd.to_onnx([x], x * 2, opset=16)


SCRIPT = """
import numpy as np
import graphdl as gd
X = gd.matrix("X", shape=(None, 4))
W = gd.shared(np.arange(12.0).reshape(4, 3) / 10, name="W")
loss = gd.mean(gd.tanh(X @ W) ** 2)
outputs = loss
"""


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "graphdl.cli.main", "export", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_exports_onnx_with_gradients_and_json(tmp_path) -> None:
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = _cli("model.py:loss", "-o", "step.onnx", "--grad", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote step.onnx (1 inputs, 3 outputs)" in done.stderr
    model = onnx.load(str(tmp_path / "step.onnx"))
    assert [o.name for o in model.graph.output] == ["loss", "grad_X", "grad_W"]
    xs = np.linspace(-1, 1, 8).reshape(2, 4)
    W = np.arange(12.0).reshape(4, 3) / 10
    t = np.tanh(xs @ W)
    bar = 2 * t * (1 - t**2) / t.size  # d loss / d (X @ W)
    expected = [np.mean(t**2), bar @ W.T, xs.T @ bar]
    assert_same(expected, run_onnx(model, [xs]), "float64")
    done = _cli("model.py", "-o", "graph.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = gd.load_graph(tmp_path / "graph.json")
    np.testing.assert_allclose(gd.function(loaded.inputs, loaded.outputs)(xs), expected[0])


@pytest.mark.parametrize(("args", "message"), [
    (["model.py", "-o", "m.txt"], "graphdl export: -o m.txt: the extension must be .onnx or "
                                  ".json"),
    (["missing.py", "-o", "m.onnx"], "graphdl export: no such model script: missing.py"),
    (["model.py:W", "-o", "m.onnx", "--grad"], "graphdl export: --grad needs one scalar output"),
    (["model.py", "-o", "m.json", "--optimized"], "graphdl export: --optimized applies to ONNX"),
])
def test_cli_errors_are_one_line(tmp_path, args, message) -> None:
    (tmp_path / "model.py").write_text(textwrap.dedent(SCRIPT))
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_deep_graphs_export_without_recursion() -> None:
    x = gd.vector("x", shape=(3,))
    y = x
    for _ in range(1500):  # deeper than Python's recursion limit
        y = gd.sin(y) + 0.5
    model = gd.to_onnx([x], y)
    v = np.linspace(-1, 1, 3)
    assert_same([gd.function([x], y, optimize=False)(v)], run_onnx(model, [v]), "float64")

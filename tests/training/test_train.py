"""graphdl.training: the loop lowers the loss, early stopping fires on overfitting and keeps the
best epoch, parameter files round-trip safely, model scripts load, and ``graphdl train`` runs end to
end (in a subprocess) and reaches the promised accuracy."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import svg_geometry, svg_texts

import graphdl as gd
from graphdl import nn, optim
from graphdl.training import Classifier, load_params, resolve, save_params
from graphdl.training.job import TrainOptions
from graphdl.training.job import run as run_job

ROOT = Path(__file__).resolve().parents[2]


def blobs(n: int, seed: int, n_features: int = 4, n_classes: int = 3):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(100).normal(scale=3.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n)
    return centers[y] + rng.normal(size=(n, n_features)), y


def test_training_lowers_the_loss_on_a_small_problem():
    model = nn.Sequential(nn.Dense(4, 16, 0), gd.relu, nn.Dense(16, 3, 1))
    clf = Classifier(model, optim.Adam(0.01), n_features=4, l2=1e-4)
    train, val = blobs(240, 1), blobs(90, 2)
    before = clf.evaluate(*val)
    result = clf.fit(train, val, epochs=15, batch_size=16, rng=0, patience=None, verbose=False)
    losses = result.history["train_loss"]
    assert len(losses) == 15 and not result.stopped_early
    assert losses[-1] < 0.2 * losses[0]
    after = clf.evaluate(*val)
    assert after[0] < 0.2 * before[0] and after[1] >= 0.9
    np.testing.assert_allclose(result.history["val_loss"][-1], after[0], rtol=1e-12)


def test_float32_training_stays_float32():
    model = nn.Sequential(nn.Dense(4, 8, 0, dtype="float32"), gd.relu, nn.Dropout(0.2),
                          nn.Dense(8, 3, 1, dtype="float32"))
    clf = Classifier(model, optim.Adam(0.01), n_features=4, l2=1e-4, dtype="float32")
    train, val = blobs(120, 3), blobs(60, 4)
    result = clf.fit(train, val, epochs=10, batch_size=16, patience=None, verbose=False)
    assert all(v.dtype == np.float32 for v in model.parameters())
    assert result.history["val_acc"][-1] > 0.9


def test_classifier_refuses_a_model_of_another_dtype():
    model = nn.Sequential(nn.Dense(4, 3, 0))
    expected = "dense.W has dtype float64, the classifier runs in float32"
    with pytest.raises(TypeError, match=expected):
        Classifier(model, optim.SGD(0.1), n_features=4, dtype="float32")


def test_float32_job_builds_a_float32_model(tmp_path):
    result = run_job(TrainOptions(model="mlp-bn", dtype="float32", epochs=2, out=str(tmp_path),
                                  verbose=False))
    with np.load(tmp_path / "params.npz", allow_pickle=False) as stored:
        assert {stored[k].dtype for k in stored.files} == {np.dtype("float32")}
        assert "bn1.running_var" in stored.files
    assert len(result.fit.history) == 2 and result.test_acc > 0.8


def test_blas_threads_are_limited_while_training():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from graphdl.training.job import blas_threads

    with blas_threads(1):
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
    with blas_threads(0):  # 0: untouched
        pass


def test_early_stopping_fires_on_overfitting_and_keeps_the_best_epoch():
    """Labels that are pure noise: a large network memorizes the 24 training rows, so the
    validation loss only rises after the first epochs; training must stop and roll back."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(24, 20)), rng.integers(0, 4, size=24)
    val = rng.normal(size=(200, 20)), rng.integers(0, 4, size=200)
    model = nn.Sequential(nn.Dense(20, 128, 1), gd.relu, nn.Dense(128, 4, 2))
    clf = Classifier(model, optim.Adam(0.01), n_features=20)
    result = clf.fit(train, val, epochs=200, batch_size=8, patience=5, verbose=False)
    history = result.history
    assert result.stopped_early and len(history) < 200
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]  # it did memorize
    best = int(np.argmin(history["val_loss"]))
    assert result.best_epoch == history.epochs[best]
    assert len(history) == result.best_epoch + 5  # patience epochs without improvement
    # the parameters were put back to the best epoch's
    assert clf.evaluate(*val)[0] == pytest.approx(history["val_loss"][best], rel=1e-12)


def test_batchnorm_model_trains_and_moves_running_statistics():
    model = nn.Sequential(nn.Dense(4, 8, 0), nn.BatchNorm(8, name="bn"), gd.relu,
                          nn.Dense(8, 3, 1))
    clf = Classifier(model, optim.Adam(0.01), n_features=4)
    assert set(clf.updates) >= set(model.state())
    train, val = blobs(200, 5), blobs(60, 6)
    clf.fit(train, val, epochs=8, batch_size=20, patience=None, verbose=False)
    running_mean = model.named_state()["bn.running_mean"].get_value()
    assert np.abs(running_mean).max() > 0.1
    assert clf.evaluate(*val)[1] > 0.9


def test_save_and_load_params_round_trip(tmp_path):
    model = nn.Sequential(nn.Dense(3, 4, 0, name="a"), nn.BatchNorm(4, name="bn"))
    path = save_params(tmp_path / "weights", model)
    assert path.name == "weights.npz"
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["a.W", "a.b", "bn.beta", "bn.gamma",
                                        "bn.running_mean", "bn.running_var"]
    saved = {k: v.get_value() for k, v in model.named_variables().items()}
    for var in model.named_variables().values():
        var.set_value(var.get_value() + 1.0)
    load_params(path, model)
    for key, var in model.named_variables().items():
        np.testing.assert_array_equal(var.get_value(), saved[key])


def test_load_params_checks_names_shapes_dtypes_and_changes_nothing_on_error(tmp_path):
    model = nn.Sequential(nn.Dense(3, 4, 0, name="a"))
    W, b = model.named_parameters()["a.W"], model.named_parameters()["a.b"]
    original = W.get_value()
    np.savez(tmp_path / "missing.npz", **{"a.W": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=r"missing \['a.b'\], unexpected \[\]"):
        load_params(tmp_path / "missing.npz", model)
    np.savez(tmp_path / "shape.npz", **{"a.W": np.zeros((3, 4)), "a.b": np.zeros(5)})
    with pytest.raises(ValueError, match=r"'a.b' has shape \(5,\) in the file, the model expects"):
        load_params(tmp_path / "shape.npz", model)
    np.savez(tmp_path / "dtype.npz", **{"a.W": np.zeros((3, 4)), "a.b": np.zeros(4, "float32")})
    with pytest.raises(ValueError, match="'a.b' has dtype float32"):
        load_params(tmp_path / "dtype.npz", model)
    np.testing.assert_array_equal(W.get_value(), original)  # nothing was half-loaded
    assert not b.get_value().any()
    objects = np.empty(4, dtype=object)
    np.savez(tmp_path / "pickled.npz", **{"a.W": np.zeros((3, 4)), "a.b": objects})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_params(tmp_path / "pickled.npz", model)


SCRIPT = textwrap.dedent('''
    import graphdl as gd
    from graphdl import nn

    DEFAULTS = {"epochs": 4, "lr": 0.01, "batch_size": 16}

    def build_model(n_features, n_classes, rng):
        return nn.Sequential(nn.Dense(n_features, 12, rng, name="hidden"), gd.tanh,
                             nn.Dense(12, n_classes, rng, name="out"))

    def loss(logits, labels):
        return nn.softmax_cross_entropy(logits, labels) + 1e-3 * gd.mean(gd.square(logits))

    def load_data():
        import numpy as np
        rng = np.random.default_rng(0)
        centers = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
        y = rng.integers(0, 3, size=300)
        return centers[y] + rng.normal(size=(300, 2)), y
''')


def test_model_script_is_loaded_and_trained(tmp_path):
    script = tmp_path / "my_model.py"
    script.write_text(SCRIPT)
    spec = resolve(str(script))
    assert spec.name == "my_model" and spec.defaults["epochs"] == 4 and callable(spec.loss)
    result = run_job(TrainOptions(model=str(script), out=str(tmp_path / "out"), verbose=False))
    source = (tmp_path / "out" / "train_step.py").read_text()
    loss_line = 1 + next(i for i, line in enumerate(SCRIPT.splitlines()) if "1e-3 *" in line)
    assert f"(my_model.py:{loss_line})" in source  # nodes the script's loss built name its line
    assert result.settings["epochs"] == 4 and result.settings["lr"] == 0.01
    assert len(result.fit.history) == 4
    assert result.test_acc > 0.95
    (tmp_path / "bad.py").write_text("x = 1\n")
    with pytest.raises(TypeError, match="must define build_model"):
        resolve(str(tmp_path / "bad.py"))
    with pytest.raises(ValueError, match="not a built-in model"):
        resolve("resnet")


def test_default_job_reaches_96_percent_on_the_digits(tmp_path):
    result = run_job(TrainOptions(out=str(tmp_path), verbose=False))
    assert result.n_test == 270
    assert result.test_acc >= 0.96
    assert result.fit.seconds < 30


def test_graphdl_train_end_to_end_in_a_subprocess(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "graphdl.cli.main", "train", "--epochs", "3", "--optimizer",
         "momentum", "--lr", "0.2", "--batch-size", "64", "--seed", "1", "--out", str(out)],
        check=False, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 3  # one line per epoch under CI
    assert any(line.startswith("test accuracy: ") for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["optimizer"] == "momentum" and metrics["epochs_run"] == 3
    assert metrics["n_test"] == 270 and 0.5 < metrics["test_acc"] <= 1.0
    assert f"{metrics['test_acc']:.2%}" in proc.stdout
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:5] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert float(rows[-1][3]) == pytest.approx(metrics["history"]["val_loss"][-1])
    source = (out / "train_step.py").read_text()
    compile(source, "train_step.py", "exec")
    assert source.startswith("def train_step(")
    assert "runpy" not in source  # built by the command: no launcher lines as origins
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(out / "params.npz", allow_pickle=False) as stored:
        assert stored["dense1.W"].shape == (64, 256)
        stored_shapes = {k: stored[k].shape for k in stored.files}
    drawn = [(out / name).exists() for name in ("model.svg", "gradient.svg", "gradient_full.svg")]
    if all(drawn):  # rendering available: real SVG drawings, the layers as clusters
        model_svg = (out / "model.svg").read_text()
        assert "<svg" in model_svg and "dense1" in model_svg
        # gradient.svg: one box per layer and per layer's backward pass, fits a 1920x1080 screen
        width, height, text = svg_geometry(out / "gradient.svg")
        assert width <= 1920 and height <= 1080 and text >= 8, (width, height, text)
        folded = svg_texts(out / "gradient.svg")
        assert {"dense1", "∂dense1", "dense2", "∂dense2", "cross_entropy"} <= set(folded)
        for drawing in ("gradient.svg", "gradient_full.svg"):  # every gradient output is named
            texts = svg_texts(out / drawing)
            for key in ("dense1.W", "dense1.b", "dense2.W", "dense2.b"):
                label = "".join(f"∂loss/∂{key}  f64{list(stored_shapes[key])}".split())
                assert sum("".join(t.split()) == label for t in texts) == 1, (drawing, label)
            assert "adjoint of" not in (out / drawing).read_text()  # no links unless asked
    else:  # otherwise the run says why it skipped them
        assert "model.svg" in proc.stdout and ("skipped" in proc.stdout
                                               or "could not render" in proc.stdout)


def test_numba_backend_trains_to_the_same_parameters():
    pytest.importorskip("numba")
    histories, params = [], []
    for backend in ("numpy", "numba"):
        model = nn.Sequential(nn.Dense(4, 8, 0), gd.relu, nn.Dropout(0.25), nn.Dense(8, 3, 1))
        clf = Classifier(model, optim.Adam(0.01), n_features=4, l2=1e-4, backend=backend)
        assert clf.train_step.backend == backend
        result = clf.fit(blobs(64, 5), blobs(32, 6), epochs=3, batch_size=16, rng=0,
                         patience=None, verbose=False)
        histories.append(result.history["train_loss"])
        params.append([np.asarray(p.get_value()) for p in model.parameters()])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-10)
    for a, b in zip(*params):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)

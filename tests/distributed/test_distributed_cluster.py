"""graphdl on a real Dask cluster: a LocalCluster of 2 worker processes (1 thread each, every
port on loopback and chosen free) started once for this module. Every result is compared with
the same computation on one machine."""

from __future__ import annotations

import json
import operator
import os
import signal
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

import graphdl as gd  # noqa: E402
from graphdl import nn, optim  # noqa: E402
from graphdl.cli.main import build_parser, main  # noqa: E402
from graphdl.data import load_digits  # noqa: E402
from graphdl.distributed import (  # noqa: E402
    DataParallelClassifier,
    ShardedGradient,
    map_batches,
)
from graphdl.training.loop import Classifier  # noqa: E402
from graphdl.training.models import mlp  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:600], y[:600]


def _model(seed: int = 0, dtype: str = "float64"):
    return mlp(64, 10, np.random.default_rng(seed), hidden=(32,), dropout=0.0, dtype=dtype)


def _objective(model, dtype: str = "float64"):
    X = gd.matrix("X", shape=(None, 64), dtype=dtype)
    y = gd.vector("y", dtype="int64")
    logits = model(X)
    objective = nn.softmax_cross_entropy(logits, y) + nn.l2_penalty(model.regularized(), 1e-3)
    return X, y, logits, objective


def test_map_batches_equals_the_local_result_and_stays_lazy(client, digits):
    X_np, y_np = digits
    model = _model()
    X, y, logits, _ = _objective(model)
    predict = gd.function([X, y], [gd.softmax(logits), nn.accuracy(logits, y)])
    Xd, yd = da.from_array(X_np, chunks=(128, 16)), da.from_array(y_np, chunks=100)
    probs, acc = map_batches(predict, Xd, yd)
    assert isinstance(probs, da.Array) and probs.chunks[0] == (128, 128, 128, 128, 88)
    assert probs.shape == (600, 10) and acc.shape == (5,)
    w = model.parameters()[0]
    old = w.get_value()
    w.set_value(np.zeros_like(old))  # built before: computes with the values of that moment
    got_probs, got_acc = dask.compute(probs, acc)
    w.set_value(old)
    want_probs, _ = predict(X_np, y_np)
    np.testing.assert_allclose(got_probs, want_probs, rtol=1e-13, atol=1e-16)
    chunk_acc = [predict(X_np[i:i + 128], y_np[i:i + 128])[1] for i in range(0, 600, 128)]
    np.testing.assert_allclose(got_acc, chunk_acc, rtol=1e-15)
    # The function itself also goes straight into dask's own map_blocks (it pickles).
    scores = gd.function([X], logits)
    plain = Xd.rechunk({1: -1}).map_blocks(scores, chunks=((128,) * 4 + (88,), (10,)),
                                           dtype="float64")
    np.testing.assert_allclose(plain.compute(), scores(X_np), rtol=1e-13)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_full_batch_gradient_equals_the_local_one(client, digits, dtype):
    X_np, y_np = digits[0].astype(dtype), digits[1]
    model = _model(dtype=dtype)
    X, y, logits, objective = _objective(model, dtype)
    sharded = ShardedGradient([X, y], objective, model.parameters(),
                              outputs=[objective, nn.accuracy(logits, y)])
    (want_obj, want_acc), want = sharded.local(X_np, y_np)
    Xd, yd = da.from_array(X_np, chunks=(70, 64)), da.from_array(y_np, chunks=70)
    lazy = sharded.lazy(Xd, yd, split_every=3)  # 9 chunks: a tree of three levels
    assert len(lazy.dask) > 9
    (got_obj, got_acc), got = client.compute(lazy).result()
    rtol = 1e-12 if dtype == "float64" else 2e-5
    assert got_obj == pytest.approx(want_obj, rel=rtol) and got_acc == pytest.approx(want_acc)
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())
    # And the gradient itself is right: check one weight against a central difference.
    if dtype == "float64":
        W = model.parameters()[0]
        eps, base = 1e-6, W.get_value()
        values = []
        for sign in (1, -1):
            bumped = base.copy()
            bumped[3, 5] += sign * eps
            values.append(sharded.local(X_np, y_np, params=[bumped, *sharded.values()[1:]])[0][0])
        assert got[0][3, 5] == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-6)


def test_workers_never_use_old_parameters(client, digits):
    X_np, y_np = digits
    model = _model()
    X, y, _, objective = _objective(model)
    sharded = ShardedGradient([X, y], objective, model.parameters())
    Xd, yd = da.from_array(X_np, chunks=(150, 64)), da.from_array(y_np, chunks=150)
    first_value, _ = sharded(Xd, yd)
    for p in model.parameters():  # the driver changes the parameters...
        p.set_value(p.get_value() * 0.5 + 0.01)
    value, grads = sharded(Xd, yd)  # ...and the next call on the cluster uses the new ones
    want_value, want = sharded.local(X_np, y_np)
    assert value == pytest.approx(want_value, rel=1e-12) and value != pytest.approx(first_value)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-15)


def _steps(clf, X_np, y_np, rng, batches=4, batch_size=33):
    outputs = []
    for _ in range(batches):
        idx = rng.choice(len(y_np), batch_size, replace=False)
        masks = clf.mode.sample_masks(batch_size, rng)
        outputs.append([float(v) for v in clf.train_step(X_np[idx], y_np[idx], *masks)])
    return outputs


def test_data_parallel_steps_equal_local_steps(client, digits):
    X_np, y_np = digits

    def build(cls, **extra):
        model = mlp(64, 10, np.random.default_rng(3), hidden=(48,), dropout=0.2)
        return cls(model, optim.Adam(1e-2), 64, l2=1e-3, **extra)

    local = build(Classifier)
    parallel = build(DataParallelClassifier, client=client)
    assert parallel.train_step.n_shards == 2
    want = _steps(local, X_np, y_np, np.random.default_rng(7))
    got = _steps(parallel, X_np, y_np, np.random.default_rng(7))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert want[0] != pytest.approx(want[-1])  # the steps did change the parameters
    for a, b in zip(local.params + local.optimizer.state(),
                    parallel.params + parallel.optimizer.state()):
        np.testing.assert_allclose(b.get_value(), a.get_value(), rtol=1e-10, atol=1e-14)
    assert "def shard_gradient(" in parallel.train_step.source
    assert "def apply_gradients(" in parallel.train_step.source


def test_data_parallel_refuses_batchnorm(client):
    model = nn.Sequential(nn.Dense(8, 4, np.random.default_rng(0)), nn.BatchNorm(4))
    with pytest.raises(ValueError, match="BatchNorm"):
        DataParallelClassifier(model, optim.SGD(0.1), 8, client=client)


def test_graphdl_train_with_a_scheduler_matches_local_training(client, tmp_path):
    assert build_parser().parse_args(["train", "--scheduler"]).scheduler == "local"
    common = ["train", "--epochs", "2", "--patience", "0", "--quiet", "--seed", "4"]
    address = client.scheduler.address
    assert main([*common, "--scheduler", address, "--out", str(tmp_path / "dp")]) == 0
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    dp = json.loads((tmp_path / "dp" / "metrics.json").read_text())
    local = json.loads((tmp_path / "local" / "metrics.json").read_text())
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        np.testing.assert_allclose(dp["history"][key], local["history"][key], rtol=1e-10)
    assert dp["test_acc"] == local["test_acc"] > 0.8
    source = (tmp_path / "dp" / "train_step.py").read_text()
    assert "def shard_gradient(" in source


def _slow_chunks(array: np.ndarray, rows: int, seconds: float):
    """``array`` as a dask array whose every chunk takes ``seconds`` to load (a stand-in for
    reading from disk), built from stdlib calls only so that workers need nothing of ours."""
    pieces = []
    for start in range(0, len(array), rows):
        block = array[start:start + rows]
        wait = dask.delayed(time.sleep, pure=False)(seconds)
        loaded = dask.delayed(operator.getitem)((block, wait), 0)
        pieces.append(da.from_delayed(loaded, block.shape, dtype=block.dtype))
    return da.concatenate(pieces)


def test_a_worker_killed_mid_run_does_not_lose_the_job(client, digits):
    X_np, y_np = digits
    model = _model()
    X, y, _, objective = _objective(model)
    sharded = ShardedGradient([X, y], objective, model.parameters())
    want_value, want = sharded.local(X_np, y_np)
    Xd = _slow_chunks(X_np, 50, 0.25)  # 12 chunks of 0.25 s on 2 workers: 1.5 s at least
    future = client.compute(sharded.lazy(Xd, da.from_array(y_np, chunks=50)))
    pids = client.run(os.getpid)
    victim_address, victim = min(pids.items())
    deadline = time.monotonic() + 20
    while not client.processing().get(victim_address) and time.monotonic() < deadline:
        time.sleep(0.02)  # kill it while it is running one of our tasks
    assert not future.done()
    os.kill(victim, signal.SIGKILL)
    value, grads = future.result(timeout=60)
    assert value == pytest.approx(want_value, rel=1e-12)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-15)
    client.wait_for_workers(2, timeout=30)  # the nanny restarted it: a new process
    assert victim not in client.run(os.getpid).values()


def test_a_data_parallel_step_survives_losing_the_worker_that_holds_its_function(client, digits):
    """The step's compiled function is sent once. Dask's active memory manager keeps one copy of
    it (extra replicas go within seconds), so killing the worker holding it must not lose it."""
    from graphdl.distributed import DataParallelStep

    X_np, y_np = digits
    model = _model(seed=5)
    X, y, _, objective = _objective(model)
    local_model = _model(seed=5)
    lX, ly, _, local_objective = _objective(local_model)
    local = gd.function([lX, ly], local_objective)
    step = DataParallelStep(client, [X, y], objective, model.parameters(), optim.SGD(0.0))
    assert step(X_np[:40], y_np[:40]) == pytest.approx(local(X_np[:40], y_np[:40]), rel=1e-12)
    deadline = time.monotonic() + 10
    while len(client.who_has([step._function]).get(step._function.key, ())) != 1:
        assert time.monotonic() < deadline, "the extra replicas were never dropped"
        time.sleep(0.1)
    (holder,) = client.who_has([step._function])[step._function.key]
    os.kill(client.run(os.getpid)[holder], signal.SIGKILL)
    for rows in (slice(40, 80), slice(80, 120)):  # every later step still runs
        value = step(X_np[rows], y_np[rows])
        assert value == pytest.approx(local(X_np[rows], y_np[rows]), rel=1e-12)
    client.wait_for_workers(2, timeout=30)

"""The main job, ``graphdl train``: train a classifier and write everything about the run.

With no options it trains the default MLP on the bundled 8x8 digits (1797 images, nothing
downloaded) with Adam, early stopping and a progress bar, reports the test accuracy, and writes
to the output folder:

- ``metrics.json``: options, per-epoch history, final test loss/accuracy, timings;
- ``metrics.csv``: the per-epoch history, one row per epoch;
- ``curves.png``: loss and accuracy curves, the kept (best) epoch marked;
- ``train_step.py``: the generated NumPy source of the compiled training step;
- ``params.npz``: the trained parameters (load with `graphdl.training.load_params`);
- ``model.svg`` and ``gradient.svg``: the model graph and its gradient graph, when graph
  rendering (``gd.render``) is available.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from graphdl import optim
from graphdl.data import compose, gaussian_noise, load_digits, random_shift, train_val_test_split
from graphdl.training.loop import Classifier, FitResult
from graphdl.training.models import ModelSpec, build, resolve
from graphdl.training.params import save_params
from graphdl.training.plots import plot_history

# lr None: the optimizer's own default (Adam: the lecture's lambda = 0.001).
BUILTIN_DEFAULTS: dict[str, Any] = {"optimizer": "adam", "lr": None, "epochs": 150,
                                    "batch_size": 32, "l2": 1e-4, "patience": 10}


@dataclass
class TrainOptions:
    """Options of ``graphdl train``; ``None`` means the model script's or the built-in default."""

    model: str = "mlp"
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    l2: float | None = None
    patience: int | None = None
    seed: int = 0
    out: str = "out/train"
    dtype: str = "float64"
    augment: bool = False
    threads: int | None = 1
    verbose: bool = True
    backend: str = "numpy"


@dataclass
class JobResult:
    test_loss: float
    test_acc: float
    n_test: int
    fit: FitResult
    settings: dict[str, Any]
    written: list[Path]


def _settings(options: TrainOptions, spec: ModelSpec) -> dict[str, Any]:
    settings = dict(BUILTIN_DEFAULTS)
    settings.update(spec.defaults)
    for key in BUILTIN_DEFAULTS:
        value = getattr(options, key)
        if value is not None:
            settings[key] = value
    if settings["lr"] is None:
        settings["lr"] = optim.DEFAULT_LR[settings["optimizer"]]
    if settings["optimizer"] == "gd" and options.batch_size is None:
        settings["batch_size"] = None  # gradient descent (eq. 11): the whole training set
    if settings["patience"] is not None and settings["patience"] <= 0:
        settings["patience"] = None  # --patience 0: no early stopping
    return settings


def _load_data(spec: ModelSpec, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    if spec.load_data is None:
        return load_digits(dtype=dtype)
    X, y = spec.load_data()
    X, y = np.asarray(X, dtype=dtype), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or y.dtype.kind not in "iu":
        raise ValueError(f"model {spec.name}: load_data() must return X (n, features) and integer "
                         f"labels y (n,), got X {X.shape} and y {y.shape} of dtype {y.dtype}")
    return X, y.astype(np.int64)


def blas_threads(threads: int | None):
    """Limit BLAS to ``threads`` threads while training (None or 0: leave it alone).

    The digits model's matrices are tiny: a second BLAS thread only adds synchronization, and on
    a busy machine a 270-row matmul took 16 ms with two threads against 0.1 ms with one.
    """
    if not threads:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up: without it BLAS keeps its default
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def run(options: TrainOptions, stream: IO[str] | None = None,
        make_classifier: Callable[..., Classifier] = Classifier) -> JobResult:
    """Train, evaluate on the test split, write the outputs; print a summary to ``stream``.

    ``make_classifier`` takes `Classifier`'s arguments; ``graphdl train --scheduler`` passes
    one that trains data-parallel on a Dask cluster (`graphdl.distributed`).
    """
    with blas_threads(options.threads):
        return _run(options, stream, make_classifier)


def _run(options: TrainOptions, stream: IO[str] | None,
         make_classifier: Callable[..., Classifier]) -> JobResult:
    say = (lambda text: print(text, file=stream, flush=True)) if options.verbose else (
        lambda text: None)
    spec = resolve(options.model)
    settings = _settings(options, spec)
    X, y = _load_data(spec, options.dtype)
    train, val, test = train_val_test_split(X, y, val=0.15, test=0.15, seed=options.seed)
    n_features, n_classes = X.shape[1], int(y.max()) + 1
    say(f"graphdl train: model {spec.name}, {len(X)} samples ({len(train[1])} train, "
        f"{len(val[1])} validation, {len(test[1])} test), {n_features} features, "
        f"{n_classes} classes")
    say("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))

    model = build(spec, n_features, n_classes, np.random.default_rng(options.seed), options.dtype)
    optimizer = optim.get(settings["optimizer"], settings["lr"])
    loss_kw = {"loss": spec.loss} if spec.loss is not None else {}
    tick = time.perf_counter()
    clf = make_classifier(model, optimizer, n_features, l2=settings["l2"], dtype=options.dtype,
                          backend=options.backend, **loss_kw)
    compile_seconds = time.perf_counter() - tick
    augment = (compose(random_shift, lambda xb, rng: gaussian_noise(xb, rng, std=0.02))
               if options.augment else None)
    batch_size = settings["batch_size"] or len(train[1])
    fit = clf.fit(train, val, epochs=settings["epochs"], batch_size=batch_size,
                  rng=np.random.default_rng([options.seed, 1]), patience=settings["patience"],
                  augment=augment, verbose=options.verbose)
    test_loss, test_acc = clf.evaluate(*test)
    epochs_run = len(fit.history)
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "model": spec.name, "options": asdict(options), "settings": settings,
        "n_train": len(train[1]), "n_val": len(val[1]), "n_test": len(test[1]),
        "test_loss": test_loss, "test_acc": test_acc, "best_epoch": fit.best_epoch,
        "epochs_run": epochs_run, "stopped_early": fit.stopped_early,
        "compile_seconds": compile_seconds, "train_seconds": fit.seconds,
        "epochs_per_second": epochs_run / fit.seconds if fit.seconds > 0 else None,
        "history": fit.history.to_dict(),
    }
    written = _write_outputs(out, clf, fit, summary, say)
    correct = round(test_acc * len(test[1]))
    say(f"kept epoch {fit.best_epoch} of {epochs_run}"
        f"{' (early stopping)' if fit.stopped_early else ''}; {epochs_run / fit.seconds:.1f} "
        f"epochs/s, {fit.seconds:.2f} s training, {compile_seconds:.2f} s compiling")
    say(f"test accuracy: {test_acc:.2%} ({correct}/{len(test[1])}), test loss {test_loss:.4f}")
    say(f"wrote {', '.join(p.name for p in written)} to {out}/")
    return JobResult(test_loss, test_acc, len(test[1]), fit, settings, written)


def _write_outputs(out: Path, clf: Classifier, fit: FitResult, summary: dict[str, Any],
                   say) -> list[Path]:
    written = [out / "metrics.json", out / "metrics.csv", out / "curves.png",
               out / "train_step.py"]
    written[0].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    fit.history.to_csv(written[1])
    plot_history(fit.history, written[2], title=f"graphdl train: {summary['model']}")
    written[3].write_text(clf.train_step.source, encoding="utf-8")
    written.append(save_params(out / "params.npz", clf.model))
    written += _render_graphs(out, clf, say)
    return written


def _render_graphs(out: Path, clf: Classifier, say) -> list[Path]:
    """model.svg (the evaluation graph of the logits), gradient.svg (the training objective and
    its gradient with respect to the parameters, each layer and each layer's backward pass folded
    into one box) and gradient_full.svg (the same, node by node). The gradient drawings run top
    down: the forward sweep descends through the layers, the backward sweep climbs beside it."""
    import graphdl as gd

    render = getattr(gd, "render", None)
    if render is None:
        say("note: graph rendering (gd.render) is not available; model.svg and gradient.svg "
            "skipped")
        return []
    written = []
    grad = {"wrt": clf.model.named_parameters(), "rankdir": "TB"}
    for name, graph, options in (("model.svg", clf.eval_logits, {}),
                                 ("gradient.svg", clf.objective, dict(grad, collapse=2)),
                                 ("gradient_full.svg", clf.objective, grad)):
        path = out / name
        try:
            render(graph, path, **options)
        except Exception as exc:  # noqa: BLE001 - rendering is a bonus: report, keep results
            say(f"note: could not render {name}: {type(exc).__name__}: {exc}")
            continue
        written.append(path)
    return written

"""The training loop for classifiers: compile once, then run the compiled step on mini-batches.

`Classifier` builds, from a model and an optimizer, the two graphs a define-then-run engine
needs (see `graphdl.nn.mode`) and compiles them:

- ``train_step(X, y, *masks) -> [loss, accuracy, objective]`` with the optimizer's updates and
  the model's own (BatchNorm running averages); ``loss`` is the data term (eq. 7), ``objective``
  adds the L2 term (eq. 10) and is what the gradients minimize;
- ``evaluate_step(X, y) -> [loss, accuracy]`` in evaluation mode, with no updates.

``backend="numba"`` compiles both as numba kernels (`gd.function`'s backend), right here
(`Function.compile_now`): a few seconds the first time, then loaded from the cache.

`Classifier.fit` then runs epochs of shuffled mini-batches, draws the dropout masks and optional
augmentation from one seeded generator, evaluates on the validation set after every epoch,
stops early when the validation loss stops improving (the lecture's overfitting slide) and puts
back the parameters of the best epoch.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphdl.codegen import function
from graphdl.ir.node import Node
from graphdl.nn import losses
from graphdl.nn.mode import Mode
from graphdl.nn.module import Module
from graphdl.ops.leaves import tensor
from graphdl.optim.optimizers import Optimizer
from graphdl.training.early_stopping import EarlyStopping
from graphdl.training.history import History
from graphdl.training.params import restore, snapshot
from graphdl.training.progress import print_epoch, progress, set_metrics, use_bars

LossFn = Callable[[Node, Node], Node]
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class FitResult:
    history: History
    best_epoch: int | None
    stopped_early: bool
    seconds: float


class Classifier:
    """A model compiled with its loss and optimizer into train and evaluation functions."""

    def __init__(self, model: Module, optimizer: Optimizer, n_features: int,
                 loss: LossFn = losses.softmax_cross_entropy, l2: float = 0.0,
                 dtype: str = "float64", backend: str = "numpy") -> None:
        self.model, self.optimizer, self.dtype = model, optimizer, np.dtype(dtype)
        for key, var in model.named_variables().items():
            if var.dtype != self.dtype:
                raise TypeError(f"Classifier: model variable {key} has dtype {var.dtype}, the "
                                f"classifier runs in {self.dtype}; build the model in {dtype}")
        self.X = tensor("X", (None, int(n_features)), self.dtype)
        self.y = tensor("y", (None,), "int64")
        self.mode = Mode(training=True)
        logits = model(self.X, self.mode)
        self.loss = loss(logits, self.y)
        self.objective = self.loss
        if l2:
            self.objective = self.loss + losses.l2_penalty(model.regularized(), l2)
        self.params = model.parameters()
        self.updates = self.mode.all_updates(optimizer.updates(self.objective, self.params))
        self.train_step = function(
            [self.X, self.y, *self.mode.mask_inputs],
            [self.loss, losses.accuracy(logits, self.y), self.objective],
            updates=self.updates, name="train_step", backend=backend)
        self.eval_logits = model(self.X)
        self.evaluate_step = function(
            [self.X, self.y],
            [loss(self.eval_logits, self.y), losses.accuracy(self.eval_logits, self.y)],
            name="evaluate", backend=backend)
        self._predict = None
        self.backend = backend
        if backend == "numba":  # compile the kernels here, not inside the first training step
            self.train_step.compile_now()
            self.evaluate_step.compile_now()

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 2048
                 ) -> tuple[float, float]:
        """Mean loss and accuracy over ``(X, y)`` in evaluation mode (in chunks)."""
        X, y = np.asarray(X, dtype=self.dtype), np.asarray(y)
        n = len(y)
        total_loss = total_acc = 0.0
        for start in range(0, n, batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            loss, acc = self.evaluate_step(xb, yb)
            total_loss += float(loss) * len(yb)
            total_acc += float(acc) * len(yb)
        return total_loss / n, total_acc / n

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class scores (logits) in evaluation mode."""
        if self._predict is None:
            self._predict = function([self.X], self.eval_logits, name="predict",
                                     backend=self.backend)
        return self._predict(np.asarray(X, dtype=self.dtype))

    def fit(self, train: Pair, val: Pair, epochs: int = 100, batch_size: int = 32,
            rng: np.random.Generator | int = 0, patience: int | None = 10,
            augment: Augment | None = None, verbose: bool = True,
            on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> FitResult:
        """Train for up to ``epochs`` epochs; returns the history and the epoch kept.

        ``patience=None`` turns early stopping off (the last epoch's parameters are kept).
        ``augment(X_batch, rng)`` transforms each training batch (never validation data).
        """
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        X_train, y_train = np.asarray(train[0], dtype=self.dtype), np.asarray(train[1])
        X_val, y_val = np.asarray(val[0], dtype=self.dtype), np.asarray(val[1])
        history = History()
        stopper = EarlyStopping(patience=patience) if patience is not None else None
        best = None
        bars = verbose and use_bars()
        epoch_bar = progress(range(1, epochs + 1), total=epochs, desc="train",
                             disable=not bars, leave=True)
        start = time.perf_counter()
        for epoch in epoch_bar:
            tick = time.perf_counter()
            train_loss, train_acc = self._epoch(X_train, y_train, batch_size, rng, augment)
            val_loss, val_acc = self.evaluate(X_val, y_val)
            metrics = {"train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                       "val_acc": val_acc, "seconds": time.perf_counter() - tick}
            history.log(epoch, **metrics)
            shown = {k: v for k, v in metrics.items() if k != "seconds"}
            if bars:
                set_metrics(epoch_bar, **shown)
            elif verbose:
                print_epoch(epoch, shown, epochs)
            if on_epoch is not None:
                on_epoch(epoch, metrics)
            if stopper is None:
                continue
            stop = stopper.update(val_loss, epoch)
            if stopper.is_best:
                best = snapshot(self.model)
            if stop:
                break
        epoch_bar.close()
        if best is not None:
            restore(self.model, best)
        return FitResult(history, stopper.best_epoch if stopper else len(history),
                         bool(stopper and stopper.should_stop), time.perf_counter() - start)

    def _epoch(self, X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator,
               augment: Augment | None) -> tuple[float, float]:
        from graphdl.data import minibatches

        total_loss = total_acc = 0.0
        for xb, yb in minibatches(X, y, batch_size, rng):
            if augment is not None:
                xb = augment(xb, rng)
            masks = self.mode.sample_masks(len(yb), rng)
            loss, acc, _ = self.train_step(xb.astype(self.dtype, copy=False), yb, *masks)
            total_loss += float(loss) * len(yb)
            total_acc += float(acc) * len(yb)
        return total_loss / len(y), total_acc / len(y)

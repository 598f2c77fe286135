"""Early stopping on a validation metric.

As training goes on, the training loss keeps falling, but the validation loss falls only
while the network learns patterns that generalise; once it starts fitting noise in the
training set (over-fitting) the validation loss starts increasing. The lecture's rule is
to stop there and keep the parameters from the epoch where validation loss was lowest.
Because validation loss is noisy, we wait ``patience`` epochs without improvement before
stopping, instead of stopping at the first uptick.
"""

from __future__ import annotations

import math
from typing import Literal


class EarlyStopping:
    """Decide when to stop training, and flag the epochs whose parameters are worth keeping.

    Typical loop::

        stopper = EarlyStopping(patience=5)
        for epoch in range(max_epochs):
            ...train one epoch, compute val_loss...
            stop = stopper.update(val_loss, epoch)
            if stopper.is_best:
                best_params = {k: v.copy() for k, v in params.items()}
            if stop:
                break
        # restore best_params: they belong to stopper.best_epoch

    ``mode="min"`` is for losses, ``mode="max"`` for scores such as accuracy. A value counts
    as an improvement only if it beats the best so far by more than ``min_delta``, so tiny
    fluctuations do not reset the patience counter. A NaN value never counts as one.
    """

    def __init__(
        self, patience: int = 5, min_delta: float = 0.0, mode: Literal["min", "max"] = "min"
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be non-negative, got patience={patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be non-negative, got min_delta={min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got mode={mode!r}")
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.is_best = False
        self.wait = 0  # epochs since the last improvement
        self.stopped_epoch: int | None = None

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record this epoch's metric; return True when training should stop now.

        After the call, ``is_best`` says whether this epoch is the new best (so the caller
        should copy its parameters). Training stops at the ``patience``-th epoch in a row
        without improvement (``patience=0`` behaves like 1: the first such epoch).
        """
        value = float(value)
        self.is_best = self._improves(value)
        if self.is_best:
            self.best_value = value
            self.best_epoch = epoch
            self.wait = 0
            return False
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            return True
        return False

    @property
    def should_stop(self) -> bool:
        """Whether an earlier :meth:`update` asked to stop."""
        return self.stopped_epoch is not None

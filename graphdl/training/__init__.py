"""graphdl.training: the training loop (`Classifier`), model scripts, parameter files and the
``graphdl train`` job, with the helpers they use (early stopping, metric history, progress
display, learning-curve plots).

The helpers in `early_stopping`, `history`, `progress` and `plots` do not import the graph core
and can be used with any framework; `loop`, `models`, `params` and `job` build on `graphdl.nn`
and `graphdl.optim`.
"""

from graphdl.training.early_stopping import EarlyStopping
from graphdl.training.history import History
from graphdl.training.loop import Classifier, FitResult
from graphdl.training.models import MODELS, ModelSpec, load_script, resolve
from graphdl.training.params import load_params, restore, save_params, snapshot
from graphdl.training.plots import plot_history
from graphdl.training.progress import (
    format_metrics,
    in_ci,
    print_epoch,
    progress,
    set_metrics,
    use_bars,
)

__all__ = [
    "MODELS",
    "Classifier",
    "EarlyStopping",
    "FitResult",
    "History",
    "ModelSpec",
    "format_metrics",
    "in_ci",
    "load_params",
    "load_script",
    "plot_history",
    "print_epoch",
    "progress",
    "resolve",
    "restore",
    "save_params",
    "set_metrics",
    "snapshot",
    "use_bars",
]

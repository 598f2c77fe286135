"""graphdl.train: the training loop, model scripts, parameter files and the ``graphdl train`` job.

`graphdl.training` holds the graph-free helpers (early stopping, history, progress bar, plots)
that this package drives.
"""

from graphdl.train.loop import Classifier, FitResult
from graphdl.train.models import MODELS, ModelSpec, load_script, resolve
from graphdl.train.params import load_params, restore, save_params, snapshot

__all__ = [
    "MODELS",
    "Classifier",
    "FitResult",
    "ModelSpec",
    "load_params",
    "load_script",
    "resolve",
    "restore",
    "save_params",
    "snapshot",
]

"""A model script that both `graphdl train` and `graphdl render` read.

    graphdl train --model examples/model.py --epochs 5     # fit it to the bundled digits
    graphdl render examples/model.py -o model.svg --grad   # draw its loss and the gradient

`build_model(n_features, n_classes, rng)` is the one required name (docs/model-scripts.md):
train compiles a training step from it, render draws the loss train would minimize. Each layer
is a name scope, so `--collapse` folds it into one box.
"""

import numpy as np

import graphdl as gd
from graphdl import nn

DEFAULTS = {"optimizer": "adam", "lr": 1e-3, "epochs": 30}


def build_model(n_features: int, n_classes: int, rng: np.random.Generator,
                dtype: str = "float64") -> nn.Module:
    """64 -> 128 (tanh) -> 10 class scores."""
    return nn.Sequential(
        nn.Dense(n_features, 128, rng, name="hidden", dtype=dtype),
        gd.tanh,
        nn.Dense(128, n_classes, rng, name="scores", dtype=dtype),
    )

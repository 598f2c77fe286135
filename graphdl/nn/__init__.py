"""graphdl.nn: layers and losses that build graphs.

A model is called once per mode while graphs are built (``model(X, nn.Mode(training=True))``
for the training step, ``model(X)`` for evaluation); see `graphdl.nn.mode` for why, and
`graphdl.training` for the loop that compiles and runs both.
"""

from graphdl.nn.layers import Activation, BatchNorm, Dense, Dropout, ReLU, Sigmoid, Tanh
from graphdl.nn.losses import (
    accuracy,
    binary_cross_entropy,
    l2_penalty,
    mse,
    softmax_cross_entropy,
    squared_error,
    weighted_sum,
)
from graphdl.nn.mode import MaskInput, Mode
from graphdl.nn.module import Module, Sequential, collect_parameters

__all__ = [
    "Activation",
    "BatchNorm",
    "Dense",
    "Dropout",
    "MaskInput",
    "Mode",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "accuracy",
    "binary_cross_entropy",
    "collect_parameters",
    "l2_penalty",
    "mse",
    "softmax_cross_entropy",
    "squared_error",
    "weighted_sum",
]

"""graphdl.optim: optimizers as graph updates, learning-rate schedules, gradient clipping.

    opt = optim.Adam(lr=1e-3)
    step = gd.function([X, y], loss, updates=opt.updates(loss, params))
"""

from graphdl.optim import schedules
from graphdl.optim.clipping import clip_by_global_norm, clip_by_value, global_norm
from graphdl.optim.optimizers import (
    DEFAULT_LR,
    GD,
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    RMSProp,
    get,
)

__all__ = [
    "DEFAULT_LR",
    "GD",
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSProp",
    "clip_by_global_norm",
    "clip_by_value",
    "get",
    "global_norm",
    "schedules",
]

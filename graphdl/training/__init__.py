"""Training helpers that do not depend on the graph core: early stopping, metric history,
progress display and learning-curve plots.
"""

from graphdl.training.early_stopping import EarlyStopping
from graphdl.training.history import History
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
    "EarlyStopping",
    "History",
    "format_metrics",
    "in_ci",
    "plot_history",
    "print_epoch",
    "progress",
    "set_metrics",
    "use_bars",
]

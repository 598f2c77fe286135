"""Learning curves as a PNG.

Drawn with matplotlib's object API on an Agg canvas rather than through ``pyplot``: Agg
renders straight to a file with no display, works on headless machines and in CI, and
using it this way leaves the caller's global matplotlib backend and figures untouched.
matplotlib is imported only when a plot is made, so training without plots does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from graphdl.training.history import History

LOSS_KEYS = ("train_loss", "val_loss")
ACC_KEYS = ("train_acc", "val_acc")


def _panel(ax, history: History, keys: Sequence[str], ylabel: str) -> None:
    for key in keys:
        ax.plot(history.epochs, history[key], marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()


def plot_history(
    history: History,
    path: str | Path,
    loss_keys: Sequence[str] = LOSS_KEYS,
    acc_keys: Sequence[str] = ACC_KEYS,
    best_key: str | None = "val_loss",
    title: str | None = None,
) -> Path:
    """Save loss curves (left) and accuracy curves (right) to the PNG file ``path``.

    Keys absent from ``history`` are skipped, and the accuracy panel is left out when no
    accuracy key is present. If ``best_key`` is recorded, a dashed vertical line marks the
    epoch where it was lowest: the epoch early stopping keeps. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    loss = [k for k in loss_keys if k in history]
    acc = [k for k in acc_keys if k in history]
    if not loss and not acc:
        wanted = [*loss_keys, *acc_keys]
        raise ValueError(f"history has none of the keys {wanted}; it has {sorted(history.metrics)}")
    panels = [(keys, label) for keys, label in ((loss, "loss"), (acc, "accuracy")) if keys]
    fig = Figure(figsize=(5.5 * len(panels), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    best_epoch = None
    if best_key is not None and best_key in history:
        values = history[best_key]
        if any(not math.isnan(v) for v in values):
            best_epoch, _ = history.best(best_key, "min")
    for ax, (keys, label) in zip(axes, panels, strict=True):
        _panel(ax, history, keys, label)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1)
            ax.text(
                best_epoch,
                1.0,
                f" best epoch {best_epoch}",
                transform=ax.get_xaxis_transform(),
                va="top",
                ha="left",
                fontsize=8,
                color="grey",
            )
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    return path

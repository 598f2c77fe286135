"""Per-epoch record of training metrics, with JSON and CSV export.

Keeping the numbers (not just the final score) is what lets one see over-fitting: the
train and validation curves drawn from a History show where they part ways.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Literal

Number = float | int


class History:
    """Columns of per-epoch metrics: ``history["val_loss"]`` is a list, one value per epoch.

    Every column has one entry per logged epoch. A metric missing from some epoch (e.g.
    validation run only every few epochs) is stored there as NaN, so columns stay aligned
    with :attr:`epochs`. In CSV, NaN is an empty cell. Strict JSON has no NaN or Infinity,
    so every non-finite value (NaN, or the inf of a diverged run) is written as ``null``
    there and read back as NaN.
    """

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.metrics: dict[str, list[float]] = {}

    def log(self, epoch: int, **metrics: Number) -> None:
        """Append one epoch's metrics, e.g. ``log(3, train_loss=0.41, val_loss=0.52)``."""
        for name in metrics:
            if name not in self.metrics:
                self.metrics[name] = [math.nan] * len(self.epochs)
        self.epochs.append(int(epoch))
        for name, column in self.metrics.items():
            column.append(float(metrics.get(name, math.nan)))

    def __getitem__(self, name: str) -> list[float]:
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def __len__(self) -> int:
        return len(self.epochs)

    def best(self, metric: str, mode: Literal["min", "max"] = "min") -> tuple[int, float]:
        """Return ``(epoch, value)`` of the best non-NaN value; the earliest epoch on ties."""
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got mode={mode!r}")
        if metric not in self.metrics:
            raise KeyError(f"no metric {metric!r}; have {sorted(self.metrics)}")
        found = [
            (v, e)
            for e, v in zip(self.epochs, self.metrics[metric], strict=True)
            if not math.isnan(v)
        ]
        if not found:
            raise ValueError(f"metric {metric!r} has no recorded (non-NaN) value")
        pick = min if mode == "min" else max
        value, epoch = pick(found, key=lambda pair: pair[0])
        return epoch, value

    def to_dict(self) -> dict[str, list]:
        """Plain columns with an ``epoch`` column first; non-finite values become None."""
        out: dict[str, list] = {"epoch": list(self.epochs)}
        for name, column in self.metrics.items():
            out[name] = [v if math.isfinite(v) else None for v in column]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        """Inverse of :meth:`to_dict`."""
        hist = cls()
        hist.epochs = [int(e) for e in data["epoch"]]
        for name, column in data.items():
            if name == "epoch":
                continue
            if len(column) != len(hist.epochs):
                raise ValueError(
                    f"column {name!r} has {len(column)} values for {len(hist.epochs)} epochs"
                )
            hist.metrics[name] = [math.nan if v is None else float(v) for v in column]
        return hist

    def to_json(self, path: str | Path) -> None:
        """Write the columns as strict JSON (no NaN literals), readable by any tool."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def to_csv(self, path: str | Path) -> None:
        """Write one row per epoch with a header row; floats keep full precision (repr)."""
        names = list(self.metrics)
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["epoch", *names])
            for i, epoch in enumerate(self.epochs):
                cells = [self.metrics[n][i] for n in names]
                writer.writerow([epoch, *("" if math.isnan(v) else repr(v) for v in cells)])

    @classmethod
    def from_csv(cls, path: str | Path) -> History:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        if not header or header[0] != "epoch":
            raise ValueError(f"{path}: first CSV column must be 'epoch', got header {header}")
        data: dict[str, list] = {name: [] for name in header}
        for row in body:
            data["epoch"].append(int(row[0]))
            for name, cell in zip(header[1:], row[1:], strict=True):
                data[name].append(None if cell == "" else float(cell))
        return cls.from_dict(data)

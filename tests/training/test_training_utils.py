"""Tests for graphdl.training: early stopping, history, progress display and plots."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from graphdl.training import (
    EarlyStopping,
    History,
    format_metrics,
    in_ci,
    plot_history,
    print_epoch,
    progress,
    set_metrics,
    use_bars,
)

# --- early stopping -----------------------------------------------------------------------

# Validation loss falls to its minimum at epoch 4, then rises: the classic over-fitting shape.
VAL_LOSS = [1.0, 0.8, 0.6, 0.5, 0.45, 0.47, 0.5, 0.55, 0.6, 0.7, 0.8]


def run(stopper: EarlyStopping, values: list[float]) -> tuple[int | None, list[int]]:
    """Feed values until the stopper fires; return (stop epoch, epochs flagged as best)."""
    best_epochs = []
    for epoch, value in enumerate(values):
        stop = stopper.update(value, epoch)
        if stopper.is_best:
            best_epochs.append(epoch)
        if stop:
            return epoch, best_epochs
    return None, best_epochs


def test_early_stopping_fires_after_patience_epochs_without_improvement():
    stopper = EarlyStopping(patience=3)
    stop_epoch, best_epochs = run(stopper, VAL_LOSS)
    # Epochs 5, 6, 7 fail to beat 0.45 -> stop at epoch 7, keep epoch 4.
    assert stop_epoch == 7
    assert best_epochs == [0, 1, 2, 3, 4]
    assert stopper.best_epoch == 4 and stopper.best_value == 0.45
    assert stopper.stopped_epoch == 7 and stopper.should_stop


def test_early_stopping_patience_resets_on_improvement():
    values = [1.0, 1.1, 1.2, 0.9, 1.0, 1.1, 1.2, 1.3]
    stop_epoch, best_epochs = run(EarlyStopping(patience=3), values)
    assert best_epochs == [0, 3]
    assert stop_epoch == 6


def test_early_stopping_min_delta_ignores_tiny_gains():
    values = [1.0, 0.999, 0.998, 0.997, 0.5]
    stop_epoch, best_epochs = run(EarlyStopping(patience=3, min_delta=0.01), values)
    assert best_epochs == [0]
    assert stop_epoch == 3


def test_early_stopping_max_mode_for_accuracy():
    acc = [0.5, 0.7, 0.9, 0.88, 0.9, 0.85]
    stopper = EarlyStopping(patience=2, mode="max")
    stop_epoch, best_epochs = run(stopper, acc)
    assert best_epochs == [0, 1, 2]  # 0.9 again at epoch 4 is not strictly better
    assert stop_epoch == 4 and stopper.best_value == 0.9


def test_early_stopping_nan_is_never_best():
    stopper = EarlyStopping(patience=2)
    stop_epoch, best_epochs = run(stopper, [0.5, math.nan, math.nan, 0.1])
    assert best_epochs == [0] and stop_epoch == 2


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    stop_epoch, _ = run(EarlyStopping(patience=0), [3.0, 2.0, 2.5, 1.0])
    assert stop_epoch == 2


def test_early_stopping_lets_caller_keep_best_parameters():
    stopper = EarlyStopping(patience=2)
    params = {"w": np.zeros(3)}
    best = None
    for epoch, loss in enumerate([0.9, 0.4, 0.6, 0.7, 0.8]):
        params["w"] += 1.0  # pretend a training step
        stop = stopper.update(loss, epoch)
        if stopper.is_best:
            best = {k: v.copy() for k, v in params.items()}
        if stop:
            break
    assert epoch == 3 and stopper.best_epoch == 1
    np.testing.assert_array_equal(best["w"], np.full(3, 2.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": -1}, "patience=-1"),
        ({"min_delta": -0.1}, "min_delta=-0.1"),
        ({"mode": "lowest"}, "mode='lowest'"),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


# --- history ------------------------------------------------------------------------------


def make_history() -> History:
    h = History()
    h.log(1, train_loss=0.9, val_loss=1.0, train_acc=0.6)
    h.log(2, train_loss=0.5, val_loss=0.7, train_acc=0.8, val_acc=0.75)
    h.log(3, train_loss=0.25, val_loss=0.8, train_acc=0.9, val_acc=0.72)
    h.log(4, train_loss=np.float32(0.125), train_acc=0.95)  # no validation this epoch
    return h


def test_history_columns_stay_aligned():
    h = make_history()
    assert len(h) == 4 and h.epochs == [1, 2, 3, 4]
    assert h["train_loss"] == [0.9, 0.5, 0.25, 0.125]
    assert all(type(v) is float for v in h["train_loss"])
    assert math.isnan(h["val_acc"][0]) and h["val_acc"][1:3] == [0.75, 0.72]
    assert math.isnan(h["val_loss"][3])
    assert "val_acc" in h and "test_acc" not in h


def test_history_best():
    h = make_history()
    assert h.best("val_loss") == (2, 0.7)
    assert h.best("val_acc", "max") == (2, 0.75)
    assert h.best("train_loss", "min") == (4, 0.125)
    with pytest.raises(KeyError, match="test_acc"):
        h.best("test_acc")
    with pytest.raises(ValueError, match="mode='median'"):
        h.best("val_loss", "median")


def _same(a: History, b: History) -> None:
    assert a.epochs == b.epochs and list(a.metrics) == list(b.metrics)
    for name in a.metrics:
        np.testing.assert_array_equal(a[name], b[name])  # NaN == NaN here


def test_history_json_round_trip(tmp_path):
    h = make_history()
    path = tmp_path / "history.json"
    h.to_json(path)
    data = json.loads(path.read_text())
    assert data["epoch"] == [1, 2, 3, 4]
    assert data["val_acc"] == [None, 0.75, 0.72, None]
    assert "NaN" not in path.read_text()
    _same(h, History.from_json(path))


def test_history_json_writes_inf_as_null(tmp_path):
    h = History()
    h.log(0, train_loss=math.inf)
    h.to_json(tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text())["train_loss"] == [None]


def test_history_csv_round_trip(tmp_path):
    h = make_history()
    h.log(5, train_loss=1 / 3)  # needs full precision to round-trip exactly
    path = tmp_path / "history.csv"
    h.to_csv(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,train_loss,val_loss,train_acc,val_acc"
    assert lines[1] == "1,0.9,1.0,0.6,"
    back = History.from_csv(path)
    _same(h, back)
    assert back["train_loss"][4] == 1 / 3


# --- progress -----------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_ci_reads_environment(monkeypatch):
    for value, expected in (("true", True), ("TRUE", True), ("1", True), ("false", False)):
        monkeypatch.setenv("CI", value)
        assert in_ci() is expected
    monkeypatch.delenv("CI")
    assert in_ci() is False


def test_bars_only_on_a_tty_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert use_bars(FakeTTY()) is True
    assert use_bars(io.StringIO()) is False
    monkeypatch.setenv("CI", "true")
    assert use_bars(FakeTTY()) is False


def test_progress_draws_bar_with_metrics_on_tty(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = FakeTTY()
    bar = progress(range(5), desc="epoch 1", file=out)
    assert not bar.disable
    assert list(_drive(bar)) == [0, 1, 2, 3, 4]
    text = out.getvalue()
    assert "epoch 1" in text and "loss=0.2500" in text and "acc=0.8000" in text


def _drive(bar):
    for item in bar:
        set_metrics(bar, loss=0.25, acc=0.8)
        yield item


def test_progress_silent_in_ci_and_off_tty(monkeypatch):
    monkeypatch.setenv("CI", "true")
    out = FakeTTY()
    bar = progress(range(3), file=out)
    assert bar.disable and list(_drive(bar)) == [0, 1, 2]
    assert out.getvalue() == ""
    monkeypatch.delenv("CI")
    plain = io.StringIO()
    assert list(_drive(progress(range(3), file=plain))) == [0, 1, 2]
    assert plain.getvalue() == ""


def test_print_epoch_one_plain_line():
    out = io.StringIO()
    line = print_epoch(3, {"train_loss": 0.41234, "val_acc": 0.9}, total_epochs=20, file=out)
    assert line == "epoch 3/20 train_loss=0.4123 val_acc=0.9000"
    assert out.getvalue() == line + "\n"
    assert format_metrics({}) == ""
    assert print_epoch(1, {}, file=io.StringIO()) == "epoch 1"


# --- plots --------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_history_writes_png(tmp_path):
    h = History()
    for e in range(1, 21):
        train = math.exp(-e / 4)
        val = train + 0.002 * max(0, e - 8) ** 2
        h.log(e, train_loss=train, val_loss=val, train_acc=1 - train / 2, val_acc=1 - val / 2)
    path = plot_history(h, tmp_path / "curves.png", title="test")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 20_000  # two panels of curves, not an empty canvas
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 400)  # 11 x 4 inches at 100 dpi


def test_plot_history_loss_only_and_missing_keys(tmp_path):
    h = History()
    for e in range(5):
        h.log(e, train_loss=1.0 / (e + 1))
    data = plot_history(h, tmp_path / "loss.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert int.from_bytes(data[16:20], "big") == 550  # one panel
    with pytest.raises(ValueError, match="none of the keys"):
        plot_history(History(), tmp_path / "empty.png")

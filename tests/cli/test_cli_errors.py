"""Issue 15: every mistake a user can make on the command line ends in one line on stderr and a
non-zero exit, never a traceback or a silent wrong run (through a subprocess, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _graphdl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "graphdl", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert message in last, result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model", "no_such_model.py"],
            "graphdl train: model script no_such_model.py does not exist",
        ),
        (
            ["--model", "cnn"],
            "graphdl train: --model 'cnn': not a built-in model (mlp, mlp-bn, linear)",
        ),
        (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
        (["--epochs", "-1"], "argument --epochs: must be a positive integer, got -1"),
        (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
        (["--batch-size", "-5"], "argument --batch-size: must be a positive integer, got -5"),
        (["--lr", "-1"], "argument --lr: must be a positive number, got -1"),
        (["--lr", "nan"], "argument --lr: must be a finite number, got nan"),
        (["--l2", "-0.1"], "argument --l2: must be 0 or more, got -0.1"),
        (["--patience", "-2"], "argument --patience: must be 0 or more, got -2"),
    ],
)
def test_train_refuses_bad_options_in_one_line_before_training(tmp_path: Path, args, message):
    result = _graphdl("train", *args, "--quiet", "--out", str(tmp_path / "run"))
    _one_line_error(result, message)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_train_out_is_a_folder_created_with_its_parents_or_refused_when_it_cannot_be(tmp_path):
    out = tmp_path / "new" / "nested"
    result = _graphdl("train", "--epochs", "1", "--patience", "0", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "metrics.json").is_file()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = _graphdl("train", "--epochs", "1", "--quiet", "--out", str(blocker / "run"))
    _one_line_error(result, f"graphdl train: {blocker / 'run'}: Not a directory")


def test_render_refuses_a_file_output_in_a_missing_folder(tmp_path: Path) -> None:
    script = tmp_path / "model.py"
    script.write_text("import graphdl as gd\nx = gd.scalar('x')\noutputs = gd.sin(x)\n")
    target = tmp_path / "missing" / "graph.dot"
    result = _graphdl("render", str(script), "-o", str(target))
    _one_line_error(result, f"cannot write {target}: the folder {target.parent}/ does not exist")
    ok = _graphdl("render", str(script), "-o", str(tmp_path / "graph.dot"))
    assert ok.returncode == 0, ok.stderr
    assert "digraph" in (tmp_path / "graph.dot").read_text()


def test_render_and_demo_refuse_bad_values_in_one_line(tmp_path: Path) -> None:
    _one_line_error(
        _graphdl("render", str(tmp_path / "none.py"), "-o", str(tmp_path / "g.svg")),
        f"graphdl render: no such model script: {tmp_path / 'none.py'}",
    )
    _one_line_error(_graphdl("demo", "--x1", "0"), "argument --x1: must be a positive number")
    _one_line_error(_graphdl("demo", "--x2", "inf"), "argument --x2: must be a finite number")


def test_a_graph_error_in_a_command_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "model.py"
    script.write_text(
        "import graphdl as gd\nx = gd.vector('x', 3)\noutputs = gd.vector('y', 2) + x\n"
    )
    result = _graphdl("render", str(script), "-o", str(tmp_path / "g.svg"))
    _one_line_error(result, "graphdl render: ")


def test_python_dash_m_graphdl_runs_the_command_line() -> None:
    result = _graphdl("demo", "--x1", "2", "--x2", "5")
    assert result.returncode == 0, result.stderr
    assert "f      = 11.652071" in result.stdout
    assert "graphdl" in _graphdl("--version").stdout


def test_output_closed_early_is_one_line_not_a_broken_pipe_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "graphdl", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # as `| head -0` does: the reader is gone before the first write
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stderr.strip() == "graphdl demo: output closed early (broken pipe)"

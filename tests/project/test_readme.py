"""Every command the README's "What is here" table shows runs verbatim from the repository root.

Each command runs in a scratch folder that links to the repository's top-level entries, so
relative paths (``examples/model.py``, ``tutorials/...``) resolve as in a fresh clone while the
files the commands write (``graph.svg``, ``out/``) land outside the repository. ``graphdl`` is
the console script next to this interpreter, as after ``source .venv/bin/activate``.

Commands run elsewhere are mapped, not skipped silently: the tutorials by
``tests/project/test_tutorials.py`` (all six), the docs build by ``.ci/run``; ``pip install`` lines
change the environment and are not run here (CI's set-up installs the same extras).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNNERS = ("graphdl ", "python ", "bash ", "pip ")
ELSEWHERE = {
    "python tutorials/01_autodiff.py": "tests/project/test_tutorials.py runs every tutorial",
    "bash scripts/docs.sh": ".ci/run builds the site",
    'pip install -e ".[numba]"': "installs; CI's set-up installs the test extra, which has numba",
}


def table_commands() -> list[str]:
    """The backticked commands in the last column of the "What is here" table."""
    section = README.split("## What is here", 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            run_column = line.rstrip(" |").rsplit(" | ", 1)[-1]
            commands += [c for c in re.findall(r"`([^`]+)`", run_column) if c.startswith(RUNNERS)]
    return commands


COMMANDS = table_commands()


def test_the_table_is_read():
    assert "graphdl demo" in COMMANDS and len(COMMANDS) >= 10, COMMANDS


def test_commands_run_elsewhere_are_really_run_there():
    assert (ROOT / "tests" / "project" / "test_tutorials.py").is_file()
    assert "bash scripts/docs.sh" in (ROOT / ".ci" / "run").read_text()
    for command in ELSEWHERE:
        assert command in COMMANDS, f"{command!r} is no longer in the README: update ELSEWHERE"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("clone")
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv", "out", "site", "build"):
            (where / entry.name).symlink_to(entry)
    return where


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ELSEWHERE])
def test_readme_command_runs(command, clone):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    done = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr

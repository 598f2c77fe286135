"""Shared pytest setup: ``from helpers import ...`` works under any import mode, and so do the
shared case tables other folders reuse (``from test_ops_table import CASES``,
``from test_optimize_property import ...``: every test folder is on the path; test file names
are unique across folders), and a seeded random generator fixture so every test draws
reproducible values.

The folders mirror the packages (``tests/ops`` for ``graphdl/ops``, ...); ``tests/project`` holds
whole-project checks (layers, README commands, tutorials, the lecture's numbers, citations, the
random-graph sweep)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_HERE = Path(__file__).resolve().parent
for _folder in [_HERE, *sorted(p for p in _HERE.iterdir() if p.is_dir() and p.name.isidentifier())]:
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator seeded the same way in every test: failures reproduce exactly."""
    return np.random.default_rng(20240917)

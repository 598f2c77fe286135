"""Shared pytest setup: ``from helpers import ...`` works under any import mode, and a seeded
random generator fixture so every test draws reproducible values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator seeded the same way in every test: failures reproduce exactly."""
    return np.random.default_rng(20240917)

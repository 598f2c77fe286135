"""The NumPy/SciPy coverage table (docs/hooks/coverage.py, rendered as
docs/concepts/numpy-coverage.md by the docs build) is read off the live library."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import graphdl as gd
from graphdl.ops.registry import REGISTRY

_PATH = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "coverage.py"
_SPEC = importlib.util.spec_from_file_location("graphdl_docs_coverage", _PATH)
coverage = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(coverage)
entries = coverage.entries


def test_every_available_function_resolves_and_natives_are_registry_ops() -> None:
    rows = entries()
    assert len({(e.module, e.name) for e in rows}) == len(rows)  # no name listed twice
    for e in rows:
        if e.spelling is None:
            assert e.reason and not e.native
            continue
        place, _, attr = e.spelling.rpartition(".")
        target = {"gd": gd, "gd.linalg": gd.linalg, "gd.special": gd.special}[place]
        assert callable(getattr(target, attr)), e
        assert e.native == (attr in REGISTRY), e


def test_the_issue_16_functions_are_listed_as_available() -> None:
    status = {(e.module, e.name): e for e in entries()}
    for name in ("einsum", "tensordot", "dot", "kron", "arctan2", "logaddexp", "mod", "round"):
        assert status["numpy", name].spelling == f"gd.{name}", name
    assert status["numpy", "einsum"].native and not status["numpy", "kron"].native
    for name in ("solve", "inv", "det", "slogdet", "cholesky"):
        assert status["numpy.linalg", name].spelling == f"gd.linalg.{name}"
    assert status["numpy", "real"].reason.startswith("complex dtypes")

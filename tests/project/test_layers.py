"""The layer contract (`graphdl._architecture`): packages import only downward, in-function
imports included; the failure names the file, line and import."""

from __future__ import annotations

import pytest

from graphdl import _architecture as arch


def test_packages_import_only_downward():
    found, _ = arch.violations()
    assert not found, "layer violations:\n" + "\n".join(found)


def test_allowed_exceptions_still_occur():
    _, used = arch.violations()
    stale = sorted(set(arch.ALLOWED) - used)
    assert not stale, f"remove these from ALLOWED, they no longer occur: {stale}"


@pytest.mark.parametrize("source, module, expected", [
    ("import graphdl as gd\n", "graphdl", arch.FACADE),
    ("from graphdl import init\n", "graphdl.init", "init"),
    ("from graphdl import grad\n", "graphdl.grad", arch.FACADE),
    ("def f():\n    from graphdl.codegen import runtime\n", "graphdl.codegen", "codegen"),
    ("if TYPE_CHECKING:\n    import graphdl.ops\nimport graphdl.ir.node\n",
     "graphdl.ir.node", "ir"),
])
def test_the_checker_sees_every_form_of_import(tmp_path, source, module, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    [(_, target, written)] = list(arch.imports(path))
    assert (target, written) == (expected, module)


def test_an_upward_import_is_reported_with_its_place(tmp_path, monkeypatch):
    package = tmp_path / "ir"
    package.mkdir()
    (package / "walk.py").write_text(
        "import numpy\n\ndef f():\n    from graphdl.codegen import x\n")
    monkeypatch.setattr(arch, "ROOT", tmp_path)
    found, _ = arch.violations()
    assert found == ["graphdl/ir/walk.py:4: ir imports graphdl.codegen (a higher layer)"]


def test_the_drawing_has_every_layer_and_no_upward_edge():
    dot = arch.dot_source()
    for package in ("ir", "ops", "autodiff", "rewriting", "codegen", "viz", "nn", "cli"):
        assert f'"{package}"' in dot
    assert '"ir" -> "ops"' not in dot and '"ops" -> "ir"' in dot

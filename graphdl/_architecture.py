"""The layer contract of graphdl's packages, and the import graph that checks it.

    ir  <-  ops  <-  autodiff  <-  rewriting  <-  codegen  <-  symbolic, viz
        <-  nn, optim  <-  training  <-  distributed  <-  cli

A package imports only packages of lower layers. Every ``import`` statement counts, including
those inside functions (an import deferred into a function to dodge a cycle is the same
dependency); only imports under ``if TYPE_CHECKING:``, which never run, are skipped
(`graphdl.ir.node` names the `Op` type in annotations). ``errors``, ``data`` and ``init`` sit
below everything: they import no other graphdl package. Two packages of one layer (symbolic and
viz, nn and optim) do not import each other. The ``graphdl`` facade (``import graphdl as gd``)
imports every layer up to nn and optim, so only the layers above them may use it.

`violations()` is what ``tests/project/test_layers.py`` asserts empty; `dot_source()` draws the
measured package graph for ``docs/architecture.md`` (made by the docs build, so the picture is
the code's). This module reads source files as text; it imports nothing of graphdl.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent

LAYERS: dict[str, int] = {
    "errors": 0, "data": 0, "init": 0, "_architecture": 0,
    "ir": 1,
    "ops": 2,
    "autodiff": 3,
    "rewriting": 4,
    "codegen": 5,
    "symbolic": 6, "viz": 6, "export": 6,
    "nn": 7, "optim": 7,
    "training": 8,
    "distributed": 9,
    "cli": 10,
    "__main__": 11,  # python -m graphdl: the entry point, above the command line it runs
}
FACADE = "graphdl"  # ``import graphdl`` or ``from graphdl import <a re-exported name>``
FACADE_LAYER = 7.5  # it imports nn and optim: only the layers above them may import it

# (importing file relative to graphdl/, module as written) -> why this upward import is allowed.
# Kept short: `tests/project/test_layers.py` also fails when an entry no longer occurs.
ALLOWED: dict[tuple[str, str], str] = {}  # none today


def package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0][:-3] if len(parts) == 1 else parts[0]


def imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, imported package or FACADE, module as written)`` for each graphdl import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for block in ast.walk(tree):
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "graphdl":
                    yield node.lineno, parts[1] if len(parts) > 1 else FACADE, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "graphdl":
                continue
            if len(parts) > 1:
                yield node.lineno, parts[1], node.module
                continue
            for alias in node.names:  # ``from graphdl import nn``: a package; else the facade
                target = alias.name if alias.name in LAYERS else FACADE
                yield node.lineno, target, f"graphdl.{alias.name}"


def _sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(ROOT.rglob("*.py")):
        if not (path.name == "__init__.py" and path.parent == ROOT):  # the facade itself
            yield path, package_of(path)


def violations() -> tuple[list[str], set[tuple[str, str]]]:
    """Every import that breaks the contract (``file:line: what``), and the allowed exceptions
    that were met."""
    found: list[str] = []
    used: set[tuple[str, str]] = set()
    for path, source in _sources():
        level = LAYERS.get(source)
        rel = path.relative_to(ROOT).as_posix()
        if level is None:
            found.append(f"graphdl/{rel}: package {source!r} has no layer in LAYERS")
            continue
        for line, target, module in imports(path):
            if target == source:
                continue
            target_level = FACADE_LAYER if target == FACADE else LAYERS.get(target)
            if target_level is None:
                found.append(f"graphdl/{rel}:{line}: imports {module}, which has no layer")
            elif target_level >= level:
                if (rel, module) in ALLOWED:
                    used.add((rel, module))
                    continue
                how = "a package of the same layer" if target_level == level else "a higher layer"
                found.append(f"graphdl/{rel}:{line}: {source} imports {module} ({how})")
    return found, used


def package_graph() -> dict[tuple[str, str], int]:
    """``(importer, imported) -> number of import statements`` between distinct packages."""
    edges: dict[tuple[str, str], int] = {}
    for path, source in _sources():
        for _, target, _ in imports(path):
            if target not in (source, FACADE) and target in LAYERS:
                edges[source, target] = edges.get((source, target), 0) + 1
    return edges


def dot_source() -> str:
    """The measured package graph as graphviz source, one row per layer with ir at the bottom;
    an arrow means "imports". Downward arrows implied by a longer downward path are left out
    (transitive reduction), and so are imports of ``errors`` (every layer has them); an upward
    import, a broken contract, is drawn red."""
    edges = {e for e in package_graph() if "errors" not in e and not e[0].startswith("_")}
    down = {(a, b) for a, b in edges if LAYERS[b] < LAYERS[a]}

    def reachable(start: str, skip: tuple[str, str]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            here = todo.pop()
            for a, b in down:
                if a == here and (a, b) != skip and b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    kept = sorted(e for e in down if e[1] not in reachable(e[0], e))
    upward = sorted(edges - down)
    used = {p for edge in kept + upward for p in edge}
    rows: dict[int, list[str]] = {}
    for package, level in LAYERS.items():
        if package in used:
            rows.setdefault(level, []).append(package)
    lines = ["digraph layers {", "  nodesep=0.3; ranksep=0.3;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica", fontsize=11];',
             '  edge [color="#8a94a6", arrowsize=0.6];']
    levels = sorted(rows)
    for level in levels:
        names = " ".join(f'"{p}"' for p in sorted(rows[level]))
        lines.append(f"  {{ rank=same; {names} }}")
    for upper, lower in zip(levels[1:], levels):  # keep the rows in layer order
        lines.append(f'  "{sorted(rows[upper])[0]}" -> "{sorted(rows[lower])[0]}" [style=invis];')
    lines += [f'  "{a}" -> "{b}";' for a, b in kept]
    lines += [f'  "{a}" -> "{b}" [color="#d62728", constraint=false];' for a, b in upward]
    lines.append("}")
    return "\n".join(lines)

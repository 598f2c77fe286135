"""MkDocs hook: pages generated at build time, so they can never drift from the code.

- ``cli.md``: the ``--help`` text of ``graphdl`` and each of its subcommands, taken from the very
  argparse parsers ``graphdl.cli.main`` builds;
- ``api/ops.md``: every op-building function of ``import graphdl as gd`` with its signature and
  docstring (most are made by factories, so only the running code knows their docstrings), and
  the op registry with each op's derivative rule and SymPy mapping;
- ``concepts/numpy-coverage.md``: graphdl's status per NumPy / SciPy function (``coverage.py``
  beside this file, looked up in the live library);
- ``architecture-layers.svg``: the packages' import graph, measured from the source, drawn by
  graphviz for ``architecture.md``;
- ``tutorials/NN_name.md``: each jupytext percent script in ``tutorials/`` turned into a page
  (markdown cells as text, code cells as Python blocks). Figures are embedded after the cell that
  saves them when they exist in the figures folder (``GRAPHDL_TUTORIAL_OUT``, default
  ``tutorials/_out``; ``bash scripts/docs.sh --figures`` runs the tutorials first).

Nothing is written into ``docs/``: the pages exist only in the build (``File.generated``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
SUBCOMMANDS = ["demo", "train", "compare", "trace", "render", "export"]
SAVED_FIGURE = re.compile(r"OUT\s*/\s*\"([^\"]+\.png)\"")
CELL = re.compile(r"^# %%(.*)$")


def figures_dir() -> Path:
    return Path(os.environ.get("GRAPHDL_TUTORIAL_OUT", str(TUTORIALS / "_out")))


# --- the CLI reference --------------------------------------------------------------------------
def help_text(argv: list[str]) -> str:
    """What ``graphdl <argv> --help`` prints, at a fixed width."""
    from graphdl.cli.main import main

    os.environ["COLUMNS"] = "100"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    return out.getvalue().rstrip()


def cli_page() -> str:
    parts = [
        "# Command line\n",
        "`pip install -e .` installs the `graphdl` command (also `python -m graphdl.cli.main`). "
        "This page is generated from the command's own argument parsers when the site is "
        "built.\n",
        "```text\n$ graphdl --help\n" + help_text([]) + "\n```\n",
    ]
    for command in SUBCOMMANDS:
        parts.append(f"## graphdl {command}\n")
        parts.append(f"```text\n$ graphdl {command} --help\n{help_text([command])}\n```\n")
    return "\n".join(parts)


# --- the op reference ------------------------------------------------------------------------
FAMILIES = {
    "graphdl.ops.elementwise": "Elementwise",
    "graphdl.ops.ufuncs": "More NumPy elementwise functions",
    "graphdl.ops.reductions": "Reductions",
    "graphdl.ops.shape_ops": "Shape",
    "graphdl.ops.indexing": "Indexing",
    "graphdl.ops.linalg": "Linear algebra",
    "graphdl.ops.contractions": "Contractions",
    "graphdl.ops.softmax": "Softmax family",
}


def one_line(text: str | None) -> str:
    """A docstring as one table cell."""
    return " ".join((text or "").split()).replace("|", "\\|")


def bare_signature(fn) -> str:
    """``(x, axis=None, keepdims=False)``: names and defaults, no annotations (the table is
    about what to pass; the annotations are strings under ``from __future__ import
    annotations`` and would print quoted)."""
    import inspect

    signature = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=params, return_annotation=inspect.Signature.empty))


def ops_page() -> str:
    import inspect

    import graphdl as gd
    from graphdl.ops.registry import REGISTRY

    parts = [
        "# Op reference\n",
        "Every function below is `gd.<name>`; each builds one node (or a few) of the ops in the "
        "registry table at the end. This page is generated from the running code when the site "
        "is built.\n",
    ]
    by_family: dict[str, list[str]] = {module: [] for module in FAMILIES}
    for name in dir(gd):
        obj = getattr(gd, name)
        if inspect.isfunction(obj) and obj.__module__ in by_family:
            by_family[obj.__module__].append(name)
    for module, title in FAMILIES.items():
        parts.append(f"## {title}\n\n`{module}`\n")
        parts.append("| function | what it computes |\n| --- | --- |")
        for name in by_family[module]:
            fn = getattr(gd, name)
            signature = bare_signature(fn).replace("|", "\\|")
            parts.append(f"| `gd.{name}{signature}` | {one_line(fn.__doc__)} |")
        parts.append("")
    parts.append("## The registry\n")
    parts.append("Each `Op` holds its shape/dtype rule, its NumPy emission and its derivative: "
                 "elementwise ops give partial derivatives, the others a VJP (reverse) and "
                 "optionally a JVP (forward) rule; ops with a zero derivative almost everywhere "
                 "say so. See [Ops and the registry](../concepts/ops.md).\n")
    parts.append("| op | elementwise | derivative | SymPy | notes |\n"
                 "| --- | --- | --- | --- | --- |")
    for name, op in REGISTRY.items():
        if op.zero_derivative:
            rule = "zero"
        elif op.partials is not None:
            rule = "partials"
        elif op.vjp is not None:
            rule = "vjp + jvp" if op.jvp is not None else "vjp"
        else:
            rule = "none"
        parts.append(f"| `{name}` | {'yes' if op.elementwise else ''} | {rule} | "
                     f"{'yes' if op.sympy else ''} | {one_line(op.doc)} |")
    return "\n".join(parts) + "\n"


# --- tutorials as pages -----------------------------------------------------------------------
def coverage_page() -> str:
    """docs/concepts/numpy-coverage.md: graphdl's status per NumPy / SciPy function."""
    spec = importlib.util.spec_from_file_location(
        "graphdl_docs_coverage", Path(__file__).with_name("coverage.py"))
    coverage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coverage)
    rows = coverage.entries()
    have = sum(e.spelling is not None for e in rows)
    parts = [
        "# NumPy and SciPy coverage\n",
        "Generated by the docs build from `docs/hooks/coverage.py` and the live library: the "
        "functions users differentiate in the test suites of autograd and JAX, and how graphdl "
        "spells each. *native* means a registry op of that name (its own shape rule, NumPy "
        "code, JVP, VJP, batching rule); *composed* means a function built from other ops, "
        "whose derivatives are theirs. See the [op reference](../api/ops.md).\n",
        f"{have} of {len(rows)} functions are available.\n",
    ]
    for module in dict.fromkeys(e.module for e in rows):
        parts.append(f"## `{module}`\n")
        parts.append("| function | graphdl | status |\n| --- | --- | --- |")
        for e in (e for e in rows if e.module == module):
            status = ("native op" if e.native else "composed") if e.spelling else e.reason
            spelled = f"`{e.spelling}`" if e.spelling else ""
            parts.append(f"| `{e.name}` | {spelled} | {status} |")
        parts.append("")
    return "\n".join(parts)


def split_cells(source: str) -> list[tuple[str, list[str]]]:
    """``[(kind, lines)]`` of a percent script; the jupytext header is dropped."""
    cells: list[tuple[str, list[str]]] = []
    kind, lines = None, []
    for line in source.splitlines():
        match = CELL.match(line)
        if match:
            if kind is not None:
                cells.append((kind, lines))
            kind = "markdown" if "[markdown]" in match.group(1) else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append((kind, lines))
    return cells


def markdown_of(lines: list[str]) -> str:
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)


def tutorial_page(script: Path, figures: dict[str, str]) -> str:
    rel = script.relative_to(ROOT).as_posix()
    note = (f"!!! note \"Run it\"\n    This page is `{rel}`, a jupytext script paired with the "
            f"notebook `{Path(rel).with_suffix('.ipynb').as_posix()}`. Run it with "
            f"`python {rel}` (its checks are assertions, so it fails loudly if a number "
            "changes) or open the notebook in Jupyter.\n")
    out: list[str] = []
    for i, (kind, lines) in enumerate(split_cells(script.read_text(encoding="utf-8"))):
        if kind == "markdown":
            out.append(markdown_of(lines).strip())
            if i == 0:
                out.append(note)
            continue
        code = "\n".join(lines).strip("\n")
        if not code:
            continue
        out.append(f"```python\n{code}\n```")
        for name in SAVED_FIGURE.findall(code):
            if name in figures:
                out.append(f"![{name}]({figures[name]})")
    return "\n\n".join(out) + "\n"


def tutorial_scripts() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


# --- the package layers ---------------------------------------------------------------------------
def layers_svg() -> str:
    """The packages' measured import graph (`graphdl._architecture`), drawn by graphviz."""
    import subprocess

    from graphdl import _architecture

    done = subprocess.run(["dot", "-Tsvg"], input=_architecture.dot_source(), text=True,
                          capture_output=True, check=True)
    return done.stdout


# --- the pictures of drawing.md ----------------------------------------------------------------
def drawing_files() -> dict[str, str]:
    """``drawing/<name>`` -> content: the drawings docs/drawing.md shows, made by the code."""
    import numpy as np

    import graphdl as gd
    from graphdl.training import models

    x1, x2 = gd.scalar("x1"), gd.scalar("x2")
    f = gd.log(x1) + x1 * x2 - gd.sin(x2)
    loss, params = models.objective_graph(models.resolve("mlp"), 64, 10,
                                          np.random.default_rng(0), named=True)
    rng = np.random.default_rng(0)
    batch = {"X": rng.normal(size=(4, 64)), "y": np.array([0, 3, 5, 9]),
             "dropout1_mask": (rng.random((4, 256)) > 0.2) / 0.8}
    drawings = {
        "lecture.svg": gd.to_dot(f, wrt=True),
        "lecture_trace.svg": gd.trace(f, at={x1: 2, x2: 5}, mode="reverse").to_dot(),
        "model.svg": gd.to_dot(loss),
        "gradient.svg": gd.to_dot(loss, wrt=params, collapse=2, rankdir="TB"),
        "gradient_full.svg": gd.to_dot(loss, wrt=params, rankdir="TB"),
    }
    files = {name: graph.pipe(format="svg").decode("utf-8") for name, graph in drawings.items()}
    from graphdl.viz.explorer import to_html

    files["explorer.html"] = to_html(loss, wrt=params, at=batch, title="mlp objective")
    return files


# --- KaTeX, served from the site ---------------------------------------------------------------
def katex_files(config) -> list[File]:
    """KaTeX's script, auto-render extension, stylesheet and fonts as ``assets/katex/...``, from
    the copy ``scripts/docs.sh`` unpacks (``GRAPHDL_KATEX_DIR``): the math renders offline."""
    folder = os.environ.get("GRAPHDL_KATEX_DIR")
    if not folder or not (Path(folder) / "katex.min.js").is_file():
        raise RuntimeError("KaTeX not found: build the docs with `bash scripts/docs.sh`, which "
                           "fetches it (GRAPHDL_KATEX_DIR names the unpacked dist folder)")
    root = Path(folder)
    wanted = ["katex.min.js", "katex.min.css", "contrib/auto-render.min.js",
              *[f"fonts/{f.name}" for f in sorted((root / "fonts").glob("*.woff2"))]]
    return [File.generated(config, f"assets/katex/{name}", abs_src_path=str(root / name))
            for name in wanted]


# --- hook entry point ---------------------------------------------------------------------------
def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "cli.md", content=cli_page()))
    files.append(File.generated(config, "api/ops.md", content=ops_page()))
    files.append(File.generated(config, "concepts/numpy-coverage.md", content=coverage_page()))
    files.append(File.generated(config, "architecture-layers.svg", content=layers_svg()))
    for name, content in drawing_files().items():
        files.append(File.generated(config, f"drawing/{name}", content=content))
    for file in katex_files(config):
        files.append(file)
    figures: dict[str, str] = {}
    folder = figures_dir()
    if folder.is_dir():
        for png in sorted(folder.glob("*.png")):
            uri = f"tutorials/figures/{png.name}"
            files.append(File.generated(config, uri, abs_src_path=str(png)))
            figures[png.name] = f"figures/{png.name}"
    for script in tutorial_scripts():
        page = tutorial_page(script, figures)
        files.append(File.generated(config, f"tutorials/{script.stem}.md", content=page))
    return files

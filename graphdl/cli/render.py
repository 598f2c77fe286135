"""``graphdl render MODEL.py[:NAME] -o out.svg [--grad] [--optimized]``: draw the graph a
define-then-run model script builds (docs/model-scripts.md describes the convention).

The script is run as a module named ``__graphdl_render__`` (so its ``if __name__ ==
"__main__":`` block, where training usually lives, does not run); the graph is then taken from
``NAME`` if given, else from the variable ``outputs``, else from calling ``graph()``, else, for a
``graphdl train`` model script (``build_model``), the training objective ``graphdl train``
would minimize, with respect to the model's parameters.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path
from typing import Any

from graphdl.cli.options import output_file, positive_int

RUN_NAME = "__graphdl_render__"
WRT_NAMED = "__graphdl_wrt_named__"  # the model's parameters by key, for the gradient labels


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "render", help="draw the graph a model script defines (svg, png, pdf or dot)",
        description="Draw the graph defined by a model script: the variable `outputs` (a node "
                    "or a list of nodes), or a function `graph()` returning it, or the variable "
                    "or function named after a colon (model.py:loss).")
    parser.add_argument("model", metavar="MODEL.py[:NAME]", nargs="?")
    parser.add_argument("--formula", metavar="TEXT",
                        help="draw a formula instead of a model script, read in graphdl's "
                             'formula language as by trace and compare ("log(x1) + x1*x2 - '
                             'sin(x2)"); its inputs are scalars')
    parser.add_argument("-o", "--output", required=True,
                        help="file to write, in an existing folder; the extension picks the format "
                             "(.svg .png .pdf .dot, or .html for the interactive explorer)")
    parser.add_argument("--grad", action="store_true",
                        help="also draw the gradient (w.r.t. the script's `wrt`, else every float "
                             "input and shared variable), each adjoint node in the backward "
                             "scope (∂layer) of the primal node it belongs to")
    parser.add_argument("--at", nargs="+", metavar="NAME=VALUE", default=None,
                        help="with an .html output: input values (a number, or a .npy file) "
                             "to show each node's value and adjoint in the explorer")
    parser.add_argument("--links", action="store_true",
                        help="with --grad: also link each adjoint node to its primal node "
                             "(dashed; off by default, the backward scopes already pair them)")
    parser.add_argument("--optimized", action="store_true",
                        help="draw the graph after the optimizer")
    parser.add_argument("--compare", action="store_true",
                        help="draw the graph as written and optimized side by side")
    parser.add_argument("--collapse", nargs="*", metavar="SCOPE",
                        help="fold name scopes into single boxes, backward scopes included (all "
                             "top-level ones if no names; a number folds the scopes at that "
                             "depth: 2 for the layers of a model)")
    parser.add_argument("--max-nodes", type=positive_int, default=400,
                        help="refuse to draw more nodes than this (default 400)")
    parser.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), default=None,
                        help="layout direction (default LR; TB with --compare)")
    parser.add_argument("--no-legend", action="store_true")
    parser.set_defaults(run=run)


class ModelError(Exception):
    """The script does not expose a graph the way the convention says."""


def split_spec(spec: str) -> tuple[Path, str]:
    """``model.py:loss`` -> (``model.py``, ``loss``); a path that exists is taken whole."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), ""
    path_text, _, name = spec.rpartition(":")
    return Path(path_text), name


def load_graph(spec: str) -> tuple[Any, dict[str, Any]]:
    """Run the script named in ``spec`` (``path.py`` or ``path.py:NAME``) and return the graph it
    exposes, and the script's globals."""
    from graphdl.ir.node import Node

    path, name = split_spec(spec)
    path_text = str(path)
    if not path.is_file():
        raise ModelError(f"no such model script: {path_text}")
    namespace = runpy.run_path(str(path), run_name=RUN_NAME)
    candidates = [name] if name else ["outputs", "graph"]
    for key in candidates:
        if key in namespace:
            value = namespace[key]
            if callable(value) and not isinstance(value, Node):
                value = value()
            return _check_graph(value, f"{path.name}:{key}"), namespace
    if not name and "build_model" in namespace:
        return _training_objective(path, namespace)
    nodes = sorted(k for k, v in namespace.items() if isinstance(v, Node) and not k.startswith("_"))
    if name:
        raise ModelError(f"{path.name} defines no {name!r}" + (
            f" (nodes it defines: {', '.join(nodes)})" if nodes else ""))
    raise ModelError(f"{path.name} defines none of `outputs`, `graph()` or `build_model`; expose "
                     f"the graph as one of them or pick a variable with {path.name}:NAME" + (
                         f" (nodes it defines: {', '.join(nodes)})" if nodes else ""))


def _training_objective(path: Path, namespace: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The loss ``graphdl train --model path`` minimizes, sized by the script's ``load_data()``
    if it has one, else by the bundled digits (64 features, 10 classes); ``wrt`` is the model's
    parameters."""
    import numpy as np

    from graphdl.training import models

    try:
        spec = models.spec_from_namespace(namespace, path)
        if spec.load_data is not None:
            X, y = spec.load_data()
            n_features, n_classes = np.shape(X)[1], int(np.max(y)) + 1
        else:
            n_features, n_classes = 64, 10
        loss, params = models.objective_graph(spec, n_features, n_classes,
                                              np.random.default_rng(0), named=True)
    except (TypeError, ValueError) as exc:
        raise ModelError(str(exc)) from exc
    # `wrt` stays a list (graphdl export reads it too); the drawing names gradients by the keys
    return loss, {**namespace, "wrt": list(params.values()), WRT_NAMED: params}


def _check_graph(value: Any, where: str) -> Any:
    from graphdl.ir.node import Node

    if isinstance(value, Node):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Node) for v in value):
        return list(value)
    raise ModelError(f"{where} is {type(value).__name__}, expected a graph node or a list of nodes")


def run(args: argparse.Namespace) -> int:
    import graphdl as gd

    output_file(args.output)
    try:
        graph, namespace = load_source(args.model, args.formula)
    except ModelError as exc:
        print(f"graphdl render: {exc}", file=sys.stderr)
        return 2
    wrt = None
    if args.grad:
        wrt = namespace.get(WRT_NAMED) or namespace.get("wrt", True)
        if isinstance(graph, list):
            if len(graph) != 1:
                print("graphdl render: --grad needs one scalar output (expose the cost alone, "
                      "e.g. model.py:loss)", file=sys.stderr)
                return 2
            graph = graph[0]
    collapse = None if args.collapse is None else (args.collapse or True)
    if isinstance(collapse, list) and len(collapse) == 1 and collapse[0].isdigit():
        collapse = int(collapse[0])
    options = {}
    if args.at is not None:
        try:
            options["at"] = _parse_at(args.at)
        except ValueError as exc:
            print(f"graphdl render: {exc}", file=sys.stderr)
            return 2
        if not str(args.output).lower().endswith(".html"):
            print("graphdl render: --at needs an .html output (the explorer shows values)",
                  file=sys.stderr)
            return 2
    try:
        path = gd.render(graph, args.output, wrt=wrt, optimized=args.optimized,
                         compare=args.compare, collapse=collapse, max_nodes=args.max_nodes,
                         rankdir=args.rankdir, legend=not args.no_legend, links=args.links,
                         title=args.formula or split_spec(args.model)[0].name, **options)
    except (gd.GraphError, ValueError) as exc:
        print(f"graphdl render: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}", file=sys.stderr)
    return 0


def load_source(model: str | None, formula: str | None) -> tuple[Any, dict[str, Any]]:
    """The graph to draw: a model script's (`load_graph`), or a formula's (`graphdl.ops.formula`,
    over scalar inputs)."""
    from graphdl.ops.formula import FormulaError, parse_formula

    if formula is None:
        if not model:
            raise ModelError("give a model script (MODEL.py[:NAME]) or --formula TEXT")
        return load_graph(model)
    if model:
        raise ModelError(f"give a model script or --formula, not both ({model!r} and "
                         f"{formula!r})")
    try:
        return parse_formula(formula), {}
    except FormulaError as exc:
        raise ModelError(str(exc)) from exc


def _parse_at(items: list[str]) -> dict[str, Any]:
    """``["x=3", "X=batch.npy"]`` -> ``{"x": 3.0, "X": <array>}`` (.npy files never unpickled)."""
    import numpy as np

    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name or not text:
            raise ValueError(f"--at takes NAME=VALUE (a number or a .npy file), got {item!r}")
        if text.endswith(".npy"):
            try:
                values[name] = np.load(text, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ValueError(f"--at {name}: cannot read {text}: {exc}") from exc
        else:
            try:
                values[name] = float(text)
            except ValueError:
                raise ValueError(f"--at {name}: {text!r} is neither a number nor a .npy "
                                 "file") from None
    return values

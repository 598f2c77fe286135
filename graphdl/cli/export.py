"""``graphdl export MODEL.py[:NAME] -o model.onnx [--grad] [--optimized]``: write the graph a
model script defines as an ONNX model (``.onnx``) or as graphdl's JSON form of the IR (``.json``).

The script follows the convention of ``graphdl render`` (docs/model-scripts.md): the graph is
``NAME`` if given, else the variable ``outputs``, else ``graph()``. The model's inputs are the
symbolic inputs the outputs depend on, in first-use order; shared variables are saved with their
current values. ``--grad`` exports the cost together with its gradients (w.r.t. the script's
``wrt``, else every float input and shared variable), named ``grad_<name>``.
"""

from __future__ import annotations

import argparse
import sys

from graphdl.cli.render import ModelError, load_graph, split_spec


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export", help="write a model script's graph as ONNX (.onnx) or graphdl JSON (.json)",
        description="Export the graph a model script defines: ONNX (opset 18, needs the onnx "
                    "package: pip install 'graphdl[onnx]') or graphdl's versioned JSON form of "
                    "the IR, picked by the extension of -o.")
    parser.add_argument("model", metavar="MODEL.py[:NAME]")
    parser.add_argument("-o", "--output", required=True,
                        help="file to write: .onnx for ONNX, .json for graphdl's JSON form")
    parser.add_argument("--grad", action="store_true",
                        help="also export the gradients of the (scalar) cost")
    parser.add_argument("--optimized", action="store_true",
                        help="export the graph after graphdl's optimizer (ONNX only)")
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    print(f"graphdl export: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import graphdl as gd
    from graphdl.ir.walk import graph_inputs, shared_variables

    kind = args.output.rsplit(".", 1)[-1].lower() if "." in args.output else ""
    if kind not in ("onnx", "json"):
        return _fail(f"-o {args.output}: the extension must be .onnx or .json")
    if args.optimized and kind == "json":
        return _fail("--optimized applies to ONNX export; the JSON form keeps the graph as built")
    try:
        graph, namespace = load_graph(args.model)
    except ModelError as exc:
        return _fail(str(exc))
    outputs = [graph] if isinstance(graph, gd.Node) else list(graph)
    names: list[str | None] = [o.name for o in outputs]
    picked = split_spec(args.model)[1]
    if len(outputs) == 1 and names[0] is None:
        names = [picked or ("cost" if args.grad else None)]  # model.py:loss -> "loss"
    if args.grad:
        if len(outputs) != 1 or outputs[0].shape != ():
            return _fail("--grad needs one scalar output (expose the cost alone, e.g. "
                         "model.py:loss)")
        cost = outputs[0]
        wrt = namespace.get("wrt")
        if wrt is None:
            wrt = [n for n in graph_inputs([cost]) + shared_variables([cost])
                   if n.dtype.kind == "f"]
        elif isinstance(wrt, gd.Node):
            wrt = [wrt]
        try:
            grads = gd.grad(cost, list(wrt))
        except (gd.GraphError, ValueError, TypeError) as exc:
            return _fail(str(exc))
        outputs += list(grads)
        names += [f"grad_{w.name}" if w.name else None for w in wrt]
    inputs = graph_inputs(outputs)
    try:
        if kind == "onnx":
            gd.to_onnx(inputs, outputs, args.output, optimize=args.optimized,
                       output_names=names)
        else:
            gd.save_graph(inputs, outputs, args.output)
    except (gd.GraphError, ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"wrote {args.output} ({len(inputs)} inputs, {len(outputs)} outputs)", file=sys.stderr)
    return 0

"""Loops and branches inside the graph: ``scan``, ``fori_loop``, ``while_loop``, ``cond``,
``switch``.

A body is a Python function traced once into a *closed* sub-graph (`Body`): placeholder inputs in,
nodes out. Outer nodes the body reads (weights, shared variables, anything built before the
trace) do not stay inside it: each becomes an explicit operand of the loop node, and a
placeholder takes its place in the body. So walks, CSE, toposort, autodiff and the emitter see
every dependency of a loop as an ordinary edge, and a body can be emitted, differentiated or
rewritten on its own.

A loop or branch node has several results (final carries, stacked outputs); its value is the
tuple of them, and `part` nodes pick one each (``loop[0]``). Carries, slices and results may be
nested tuples, lists and dicts of nodes (a pytree); they are flattened to lists of leaves here.

Derivatives: the tangent of a loop is a loop over the body's tangents, the adjoint of a scan is a
scan running the other way over the body's adjoints, with the carries of the forward pass saved
(stacked) by a forward scan that also returns them; a branch differentiates only the branch that
runs. This module may not import `graphdl.autodiff` (the layers go upward only), so the sweeps
pass themselves in: rules marked ``needs_sweep`` are called with the sweep as third argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphdl.errors import DifferentiationError, DTypeError, InputError, ShapeError
from graphdl.ir.node import Node, next_node_id
from graphdl.ir.shapes import fmt_shape
from graphdl.ir.walk import toposort
from graphdl.ops.batching import align, broadcast_batch
from graphdl.ops.elementwise import add, equal, maximum, minimum, not_equal, where
from graphdl.ops.leaves import INPUT, SHARED, tensor
from graphdl.ops.registry import Op, apply, as_node
from graphdl.ops.shape_ops import transpose, zeros_like

# --- pytrees: nested tuples, lists and dicts of nodes


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """The leaves of ``tree`` (left to right, dict keys sorted) and its structure."""
    if isinstance(tree, (tuple, list)):
        leaves, defs = [], []
        for item in tree:
            sub, d = flatten(item)
            leaves += sub
            defs.append(d)
        return leaves, (type(tree), tuple(defs))
    if isinstance(tree, dict):
        keys = sorted(tree)
        leaves, defs = [], []
        for key in keys:
            sub, d = flatten(tree[key])
            leaves += sub
            defs.append(d)
        return leaves, (dict, tuple(keys), tuple(defs))
    if tree is None:
        return [], None
    return [tree], "*"


def unflatten(structure: Any, leaves: Sequence[Any]) -> Any:
    """The inverse of `flatten`."""
    it = iter(leaves)

    def build(d: Any) -> Any:
        if d == "*":
            return next(it)
        if d is None:
            return None
        if d[0] is dict:
            return {k: build(s) for k, s in zip(d[1], d[2])}
        return d[0](build(s) for s in d[1])

    return build(structure)


def paths(structure: Any, prefix: str) -> list[str]:
    """A readable name for each leaf (``carry['h'][0]``), for error messages."""
    if structure == "*":
        return [prefix]
    if structure is None:
        return []
    if structure[0] is dict:
        items = zip(structure[1], structure[2])
        return [p for k, s in items for p in paths(s, f"{prefix}[{k!r}]")]
    return [p for i, s in enumerate(structure[1]) for p in paths(s, f"{prefix}[{i}]")]


def _describe(structure: Any) -> str:
    if structure == "*":
        return "node"
    if structure is None:
        return "None"
    if structure[0] is dict:
        items = zip(structure[1], structure[2])
        return "{" + ", ".join(f"{k!r}: {_describe(s)}" for k, s in items) + "}"
    inner = ", ".join(_describe(s) for s in structure[1])
    if structure[0] is list:
        return f"[{inner}]"
    return f"({inner}{',' if len(structure[1]) == 1 else ''})"


# --- bodies: closed sub-graphs


@dataclass(frozen=True, eq=False)
class Body:
    """A closed graph: ``params`` (placeholder inputs) -> ``outputs``. Compared by identity, so
    CSE merges two loops only when they run the very same body."""

    params: tuple[Node, ...]
    outputs: tuple[Node, ...]

    def __repr__(self) -> str:
        return f"<Body {len(self.params)} -> {len(self.outputs)}>"


def placeholder(like: Node) -> Node:
    """A body input with ``like``'s static type."""
    return tensor(None, like.shape, like.dtype)


def close(params: Sequence[Node], branches: Sequence[Sequence[Node]], start: int
          ) -> tuple[list[Body], list[Node]]:
    """Close traced bodies over the outer nodes they read.

    Nodes built before ``start`` (the node id when the trace began), and symbolic inputs or shared
    variables that are not ``params``, are outer: each becomes one placeholder shared by all
    ``branches``, appended to their params. Returns the bodies and the outer nodes (the loop
    node's extra operands, in the order of the appended placeholders)."""
    own = set(params)
    outer: dict[Node, Node] = {}  # outer node -> its placeholder
    orders = []
    for outputs in branches:
        order: list[Node] = []
        seen: set[Node] = set()
        for root in outputs:
            stack = [root]
            while stack:  # iterative post-order, not descending into outer nodes
                node = stack[-1]
                if node in seen:
                    stack.pop()
                    continue
                if node not in own and (node.id < start or node.op is INPUT or node.op is SHARED):
                    if node not in outer:
                        outer[node] = placeholder(node)
                    seen.add(node)
                    stack.pop()
                    continue
                pending = [p for p in node.inputs if p not in seen]
                if pending:
                    stack.extend(reversed(pending))
                    continue
                seen.add(node)
                stack.pop()
                order.append(node)
        orders.append(order)
    extra = tuple(outer.values())
    bodies = []
    for outputs, order in zip(branches, orders):
        memo: dict[Node, Node] = dict(outer)
        for node in order:
            if node.inputs:
                inputs = tuple(memo.get(p, p) for p in node.inputs)
                if any(a is not b for a, b in zip(inputs, node.inputs)):
                    memo[node] = node.over(inputs, node.shape, node.dtype)
        bodies.append(Body(tuple(params) + extra, tuple(memo.get(o, o) for o in outputs)))
    return bodies, list(outer)


def _trace(fn: Callable, args: Sequence[Any]) -> tuple[Any, int]:
    start = next_node_id()
    return fn(*args), start


# --- type checks


def _check_same(what: str, names: Sequence[str], before: Sequence[Node], after: Sequence[Node],
                where: str) -> None:
    """Each leaf of ``after`` has the static type of its leaf in ``before``."""
    for name, a, b in zip(names, before, after):
        if a.dtype != b.dtype:
            raise DTypeError(f"{what}: {name} enters as {a.dtype} but {where} {b.dtype}; a loop "
                             "carry keeps its dtype (cast it with gd.cast)")
        if len(a.shape) != len(b.shape) or any(
                x is not None and y is not None and x != y for x, y in zip(a.shape, b.shape)):
            raise ShapeError(f"{what}: {name} enters with shape {fmt_shape(a.shape)} but {where} "
                             f"shape {fmt_shape(b.shape)}; a loop carry keeps its shape")


def _leaves(tree: Any, what: str) -> tuple[list[Node], Any]:
    leaves, structure = flatten(tree)
    out = []
    for name, leaf in zip(paths(structure, what), leaves):
        try:
            out.append(as_node(leaf))
        except Exception as exc:  # noqa: BLE001 - reworded with the leaf's place
            raise InputError(f"{name} is not a node, number or array: {leaf!r} ({exc})") from None
    return out, structure


def _same_structure(what: str, expected: Any, got: Any, where: str) -> None:
    if expected != got:
        raise InputError(f"{what}: {where} has structure {_describe(got)}, expected "
                         f"{_describe(expected)}")


def _stacked(shape: tuple, length: int | None) -> tuple:
    return (length, *shape)


# --- the ops


def _tuple_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    return (), np.dtype(object)


def _as_statements(args: Sequence[str], attrs: dict[str, Any]) -> str:
    # Loops and branches are statements, written by graphdl.codegen.control; as an expression
    # (constant folding tries one) this name does not exist, so the attempt fails quietly.
    return "_statement_block_not_an_expression"


def _part_infer(inputs: Sequence[Node], attrs: dict[str, Any]):
    return inputs[0].attrs["types"][attrs["index"]]


def _part_jvp(node: Node, tangents: list[Any]) -> Node | None:
    inner = tangents[0]
    return None if inner is None else inner[node.attrs["index"]]


def _part_vjp(node: Node, g: Node) -> list[Any]:
    whole = [None] * len(node.inputs[0].attrs["types"])
    whole[node.attrs["index"]] = g
    return [tuple(whole)]


def _part_batch(node: Node, inputs: Sequence[Node], batched: Sequence[Any]) -> Node:
    return part(inputs[0], node.attrs["index"])  # the batched loop's result has the batch axis


PART = Op("part", _part_infer, "{0}[{index}]", jvp=_part_jvp, vjp=_part_vjp, view=True,
          batch=_part_batch,
          doc="One result of a loop or branch node (whose value is the tuple of its results).")


def part(node: Node, index: int) -> Node:
    return apply(PART, node, index=index)


def _pack_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool]) -> tuple:
    return pack(inputs), tuple(batched)


PACK = Op("pack", _tuple_infer, lambda args, attrs: f"({''.join(a + ', ' for a in args)})",
          jvp=lambda node, tangents: tuple(tangents), vjp=lambda node, g: list(g),
          batch=_pack_batch,
          doc="Several nodes as one tuple value (what a batched loop or branch returns).")


def pack(nodes: Sequence[Node]) -> Node:
    return apply(PACK, *nodes, types=tuple((n.shape, n.dtype) for n in nodes))


def _float(node: Node) -> bool:
    return node.dtype.kind in "fc"


def _zeros(like: Node) -> Node:
    return zeros_like(like)


# scan ---
# operands: k initial carries, m stacked slices, then the outer nodes the body reads;
# body: (carries, slices, outer) -> (new carries, per-step outputs)


def _scan_node(body: Body, operands: Sequence[Node], carries: int, slices: int,
               length: int | None, reverse: bool) -> Node:
    outs = body.outputs
    types = tuple((o.shape, o.dtype) for o in outs[:carries]) + tuple(
        (_stacked(o.shape, length), o.dtype) for o in outs[carries:])
    return apply(SCAN, *operands, body=body, length=length, reverse=reverse, carries=carries,
                 slices=slices, types=types)


def _scan_jvp(node: Node, dots: list[Any], sweep: Callable) -> tuple:
    """A scan of tangents: every float carry gets a tangent carry (zero when it starts at zero:
    the body may make it non-zero), slices and outer operands only where their tangent is
    non-zero; the body returns its results followed by theirs."""
    a = node.attrs
    body, k, m = a["body"], a["carries"], a["slices"]
    ops, params, outs = node.inputs, body.params, body.outputs
    tangent = [i for i in range(len(ops)) if _float(ops[i]) and (i < k or dots[i] is not None)]
    tparams = {i: placeholder(params[i]) for i in tangent}
    dot = sweep(outs, {params[i]: tparams[i] for i in tangent})
    ct = [i for i in tangent if i < k]
    sl = [i for i in tangent if k <= i < k + m]
    co = [i for i in tangent if i >= k + m]
    ys = [j for j in range(len(outs) - k) if _float(outs[k + j])]

    def t(out: Node) -> Node:
        d = dot.get(out)
        return d if d is not None else _zeros(out)

    new_params = (params[:k] + tuple(tparams[i] for i in ct) + params[k:k + m]
                  + tuple(tparams[i] for i in sl) + params[k + m:] + tuple(tparams[i] for i in co))
    new_outs = (outs[:k] + tuple(t(outs[i]) for i in ct) + outs[k:]
                + tuple(t(outs[k + j]) for j in ys))
    seed = [dots[i] if dots[i] is not None else _zeros(ops[i]) for i in ct]
    operands = (list(ops[:k]) + seed + list(ops[k:k + m]) + [dots[i] for i in sl]
                + list(ops[k + m:]) + [dots[i] for i in co])
    new = _scan_node(Body(new_params, new_outs), operands, k + len(ct), m + len(sl), a["length"],
                     a["reverse"])
    result: list[Any] = [None] * len(outs)
    for n, i in enumerate(ct):
        result[i] = part(new, k + n)
    for n, j in enumerate(ys):
        result[k + j] = part(new, k + len(ct) + (len(outs) - k) + n)
    return tuple(result)


_scan_jvp.needs_sweep = True


def _scan_vjp(node: Node, g: tuple, sweep: Callable) -> list[Any]:
    """The lecture's adjoint sweep, one step at a time and backwards: a forward scan saves the
    carry entering each step (stacked); a scan in the other direction then carries the carries'
    adjoints and the outer operands' accumulated adjoints, and stacks the slices' adjoints."""
    a = node.attrs
    body, k, m, length = a["body"], a["carries"], a["slices"], a["length"]
    ops, params, outs = node.inputs, body.params, body.outputs
    ny = len(outs) - k
    saving = Body(params, outs + params[:k])
    forward = _scan_node(saving, ops, k, m, length, a["reverse"])
    saved = [part(forward, k + ny + i) for i in range(k)]

    fc = [i for i in range(k) if _float(ops[i])]
    fx = [j for j in range(k, k + m) if _float(ops[j])]
    fw = [j for j in range(k + m, len(ops)) if _float(ops[j])]
    gy = [j for j in range(ny) if g[k + j] is not None]
    ct_c = [placeholder(params[i]) for i in fc]
    ct_w = [placeholder(params[j]) for j in fw]
    ct_y = [placeholder(outs[k + j]) for j in gy]
    bar = sweep([outs[i] for i in fc] + [outs[k + j] for j in gy], ct_c + ct_y,
                [params[i] for i in fc + fx + fw])

    def adj(p: Node) -> Node:
        b = bar.get(p)
        return b if b is not None else _zeros(p)

    r_params = tuple(ct_c + ct_w) + params[k:k + m] + params[:k] + tuple(ct_y) + params[k + m:]
    r_outs = (tuple(adj(params[i]) for i in fc)
              + tuple(w if bar.get(params[j]) is None else add(w, bar[params[j]])
                      for w, j in zip(ct_w, fw))
              + tuple(adj(params[j]) for j in fx))
    init = ([g[i] if g[i] is not None else _zeros(ops[i]) for i in fc]
            + [_zeros(ops[j]) for j in fw])
    operands = init + list(ops[k:k + m]) + saved + [g[k + j] for j in gy] + list(ops[k + m:])
    back = _scan_node(Body(r_params, r_outs), operands, len(init), m + k + len(gy), length,
                      not a["reverse"])
    result: list[Any] = [None] * len(ops)
    for n, i in enumerate(fc + fw):
        result[i] = part(back, n)
    for n, j in enumerate(fx):
        result[j] = part(back, len(init) + n)
    return result


_scan_vjp.needs_sweep = True

def _swap01(x: Node) -> Node:
    return transpose(x, (1, 0, *range(2, x.ndim)))


def _batched_placeholder(p: Node, like: Node) -> Node:
    return tensor(None, (like.shape[0], *p.shape), p.dtype)


def _scan_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                vmap: Callable) -> tuple:
    """A scan over batches: every carry gets the batch axis (the body may mix batched values
    into it), batched slices turn to (steps, batch, ...) and stacked outputs back."""
    a = node.attrs
    body, k, m = a["body"], a["carries"], a["slices"]
    like = next(x for x, b in zip(inputs, batched) if b)
    ops = [x if b or i >= k else broadcast_batch(x, like)
           for i, (x, b) in enumerate(zip(inputs, batched))]
    ops = [_swap01(x) if k <= i < k + m and batched[i] else x for i, x in enumerate(ops)]
    params = list(body.params)
    for i in range(len(ops)):
        if i < k or batched[i]:
            params[i] = _batched_placeholder(body.params[i], like)
    outs = vmap(list(body.outputs), {p: q for p, q in zip(body.params, params) if p is not q})
    new = _scan_node(Body(tuple(params), tuple(outs)), ops, k, m, a["length"], a["reverse"])
    results = [part(new, i) for i in range(k)] + [
        _swap01(part(new, i)) for i in range(k, len(outs))]
    return pack(results), (True,) * len(results)


_scan_batch.needs_sweep = True

SCAN = Op("scan", _tuple_infer, _as_statements, jvp=_scan_jvp, vjp=_scan_vjp, batch=_scan_batch,
          doc="A loop over steps carrying values and stacking per-step outputs (gd.scan).")


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs`` (or ``length`` times with
    ``x = None``); return the final carry and the ``y`` of every step stacked on a new leading
    axis. ``init``, ``xs`` and the results may be nested tuples, lists and dicts of nodes. The
    body is traced once into a sub-graph and runs as a loop (not unrolled); ``reverse=True``
    walks the steps from last to first (outputs stay in step order)."""
    carry, c_struct = _leaves(init, "init")
    xs_leaves, x_struct = _leaves(xs, "xs")
    for name, x in zip(paths(x_struct, "xs"), xs_leaves):
        if x.ndim == 0:
            raise ShapeError(f"gd.scan: {name} is 0-d ({x.type_str()}); slices are taken along a "
                             "leading axis")
        if length is not None and x.shape[0] is not None and x.shape[0] != length:
            raise ShapeError(f"gd.scan: {name} has {x.shape[0]} steps along its leading axis but "
                             f"length={length}")
        if length is None:
            length = x.shape[0]
    if length is None and not xs_leaves:
        raise InputError("gd.scan needs xs or length (the number of steps)")
    if length is not None and (not isinstance(length, (int, np.integer)) or length < 0):
        raise InputError(f"gd.scan: length must be a non-negative int, got {length!r}")
    if xs_leaves:
        sizes = {x.shape[0] for x in xs_leaves}
        if len(sizes - {None}) > 1:
            raise ShapeError("gd.scan: the slices of xs differ in length: "
                             + ", ".join(f"{n} {x.type_str()}" for n, x in
                                         zip(paths(x_struct, "xs"), xs_leaves)))
    c_params = [placeholder(c) for c in carry]
    x_params = [tensor(None, x.shape[1:], x.dtype) for x in xs_leaves]
    result, start = _trace(f, (unflatten(c_struct, c_params),
                               unflatten(x_struct, x_params) if xs is not None else None))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise InputError(f"gd.scan: the body must return a pair (carry, y), got {result!r}")
    new_carry, n_struct = _leaves(result[0], "carry")
    ys, y_struct = _leaves(result[1], "y")
    _same_structure("gd.scan", c_struct, n_struct, "the carry the body returns")
    names = paths(c_struct, "carry")
    _check_same("gd.scan", names, carry, new_carry, "the body returns it with")
    (body,), outer = close(c_params + x_params, [new_carry + ys], start)
    node = _scan_node(body, carry + xs_leaves + outer, len(carry), len(xs_leaves),
                      None if length is None else int(length), reverse)
    parts = [part(node, i) for i in range(len(body.outputs))]
    return unflatten(c_struct, parts[:len(carry)]), unflatten(y_struct, parts[len(carry):])


def fori_loop(lower: int, upper: int, body: Callable, init: Any) -> Any:
    """``for i in range(lower, upper): carry = body(i, carry)``, as a scan (static bounds, so it
    differentiates in both modes); ``i`` is an int64 node."""
    for name, v in (("lower", lower), ("upper", upper)):
        if not isinstance(v, (int, np.integer)):
            raise InputError(f"gd.fori_loop: {name} must be a Python int (a static trip count), "
                             f"got {v!r}; use gd.while_loop for a bound known only at run time")
    steps = np.arange(int(lower), max(int(lower), int(upper)), dtype=np.int64)
    final, _ = scan(lambda c, i: (body(i, c), None), init, as_node(steps))
    return final


# while ---
# operands: k initial carries, then outer nodes; bodies: test (carries, outer) -> 0-d predicate,
# step (carries, outer) -> new carries


def _while_node(test: Body, step: Body, operands: Sequence[Node], carries: int) -> Node:
    types = tuple((o.shape, o.dtype) for o in step.outputs)
    return apply(WHILE, *operands, test=test, body=step, carries=carries, types=types)


def _while_jvp(node: Node, dots: list[Any], sweep: Callable) -> tuple:
    a = node.attrs
    test, step, k = a["test"], a["body"], a["carries"]
    ops, params = node.inputs, step.params
    tangent = [i for i in range(len(ops)) if _float(ops[i]) and (i < k or dots[i] is not None)]
    tparams = {i: placeholder(params[i]) for i in tangent}
    dot = sweep(step.outputs, {params[i]: tparams[i] for i in tangent})
    ct = [i for i in tangent if i < k]
    co = [i for i in tangent if i >= k]
    new_params = params[:k] + tuple(tparams[i] for i in ct) + params[k:] + tuple(
        tparams[i] for i in co)
    outs = step.outputs
    new_outs = outs + tuple(dot.get(outs[i]) if dot.get(outs[i]) is not None else _zeros(outs[i])
                            for i in ct)
    # the test reads the same primal placeholders (test.params is step.params, see while_loop)
    new = _while_node(Body(new_params, test.outputs), Body(new_params, new_outs),
                      list(ops[:k]) + [dots[i] if dots[i] is not None else _zeros(ops[i])
                                       for i in ct] + list(ops[k:]) + [dots[i] for i in co],
                      k + len(ct))
    result: list[Any] = [None] * k
    for n, i in enumerate(ct):
        result[i] = part(new, k + n)
    return tuple(result)


_while_jvp.needs_sweep = True


def _while_vjp(node: Node, g: Any) -> list[Any]:
    raise DifferentiationError(
        f"cannot differentiate while_loop node {node.label()} (created at {node.origin}) in "
        "reverse mode: its trip count is known only at run time, so the steps to run backwards "
        "cannot be saved; use gd.fori_loop or gd.scan with a static number of steps (forward "
        "mode, gd.jvp, works through while_loop)")


WHILE = Op("while_loop", _tuple_infer, _as_statements, jvp=_while_jvp, vjp=_while_vjp,
           doc="A loop running while a predicate of its carries holds (gd.while_loop).")


def while_loop(cond_fun: Callable, body_fun: Callable, init: Any) -> Any:
    """``while cond_fun(carry): carry = body_fun(carry)``; returns the final carry. Forward mode
    (`gd.jvp`) differentiates through it; reverse mode refuses (use `scan`/`fori_loop`)."""
    carry, c_struct = _leaves(init, "init")
    c_params = [placeholder(c) for c in carry]
    pred, start = _trace(cond_fun, (unflatten(c_struct, c_params),))
    pred = _predicate(pred, "gd.while_loop: cond_fun")
    new, _ = _trace(body_fun, (unflatten(c_struct, c_params),))
    new_carry, n_struct = _leaves(new, "carry")
    _same_structure("gd.while_loop", c_struct, n_struct, "the carry body_fun returns")
    _check_same("gd.while_loop", paths(c_struct, "carry"), carry, new_carry,
                "body_fun returns it with")
    (test, step), outer = close(c_params, [[pred], new_carry], start)
    params = step.params  # both bodies read the same placeholders
    test = Body(params, test.outputs)
    node = _while_node(test, step, carry + outer, len(carry))
    return unflatten(c_struct, [part(node, i) for i in range(len(carry))])


def _predicate(pred: Any, what: str) -> Node:
    pred = as_node(pred)
    if pred.ndim != 0:
        raise ShapeError(f"{what} must give a 0-d predicate, got shape {fmt_shape(pred.shape)} "
                         f"({pred.type_str()}); reduce it first (gd.all, gd.any, gd.sum)")
    return pred


# cond and switch ---
# operands: the predicate or index, the operands, then outer nodes; one body per branch,
# (operands, outer) -> results; only the taken branch runs


def _cond_node(kind: str, branches: Sequence[Body], operands: Sequence[Node]) -> Node:
    types = tuple((o.shape, o.dtype) for o in branches[0].outputs)
    return apply(COND, *operands, branches=tuple(branches), kind=kind, types=types)


def _cond_jvp(node: Node, dots: list[Any], sweep: Callable) -> tuple:
    branches, ops = node.attrs["branches"], node.inputs
    params = branches[0].params  # every branch reads the same placeholders (see _branches)
    tangent = [i for i in range(1, len(ops)) if _float(ops[i]) and dots[i] is not None]
    tparams = {i: placeholder(params[i - 1]) for i in tangent}
    floats = [j for j, o in enumerate(branches[0].outputs) if _float(o)]
    new = []
    for b in branches:
        dot = sweep(b.outputs, {params[i - 1]: tparams[i] for i in tangent})
        extra = tuple(dot.get(b.outputs[j]) if dot.get(b.outputs[j]) is not None
                      else _zeros(b.outputs[j]) for j in floats)
        new.append(Body(params + tuple(tparams[i] for i in tangent), b.outputs + extra))
    cond = _cond_node(node.attrs["kind"], new, list(ops) + [dots[i] for i in tangent])
    result: list[Any] = [None] * len(branches[0].outputs)
    for n, j in enumerate(floats):
        result[j] = part(cond, len(result) + n)
    return tuple(result)


_cond_jvp.needs_sweep = True


def _cond_vjp(node: Node, g: tuple, sweep: Callable) -> list[Any]:
    branches, ops = node.attrs["branches"], node.inputs
    params = branches[0].params
    wrt = [i for i in range(1, len(ops)) if _float(ops[i])]
    given = [j for j in range(len(g)) if g[j] is not None]
    cts = [placeholder(branches[0].outputs[j]) for j in given]
    new = []
    for b in branches:
        bar = sweep([b.outputs[j] for j in given], cts, [params[i - 1] for i in wrt])
        outs = tuple(bar.get(params[i - 1]) if bar.get(params[i - 1]) is not None
                     else _zeros(params[i - 1]) for i in wrt)
        new.append(Body(params + tuple(cts), outs))
    cond = _cond_node(node.attrs["kind"], new, list(ops) + [g[j] for j in given])
    result: list[Any] = [None] * len(ops)
    for n, i in enumerate(wrt):
        result[i] = part(cond, n)
    return result


_cond_vjp.needs_sweep = True

def _inline(body: Body, operands: Sequence[Node]) -> list[Node]:
    """The body's results computed in the enclosing graph from ``operands``."""
    memo: dict[Node, Node] = dict(zip(body.params, operands))
    for n in toposort(body.outputs):
        if n not in memo:
            memo[n] = apply(n.op, *[memo[p] for p in n.inputs], **n.attrs) if n.inputs else n
    return [memo[o] for o in body.outputs]


def _cond_batch(node: Node, inputs: Sequence[Node], batched: Sequence[bool],
                vmap: Callable) -> tuple:
    """Batched operands: each branch is batched and one of them runs. A batched predicate or
    index: every branch runs on the whole batch and each entry takes its own branch's results
    (``where``), as JAX does; the derivative then flows through the selection only."""
    branches, params = node.attrs["branches"], node.attrs["branches"][0].params
    like = next(x for x, b in zip(inputs, batched) if b)
    new_params = list(params)
    for i in range(1, len(inputs)):
        if batched[i]:
            new_params[i - 1] = _batched_placeholder(params[i - 1], like)
    swap = {p: q for p, q in zip(params, new_params) if p is not q}
    bodies = [Body(tuple(new_params), tuple(vmap(list(b.outputs), swap)) if swap else b.outputs)
              for b in branches]
    if not batched[0]:
        return _cond_node(node.attrs["kind"], bodies, inputs), (True,) * len(bodies[0].outputs)
    taken = [[r if r.ndim == o.ndim + 1 else broadcast_batch(r, like)
              for r, o in zip(_inline(b, inputs[1:]), branch.outputs)]
             for b, branch in zip(bodies, branches)]
    selector = inputs[0]
    if node.attrs["kind"] == "cond":
        picks = [selector if selector.dtype == np.bool_ else not_equal(selector, 0), None]
    else:
        selector = minimum(maximum(selector, 0), len(branches) - 1)
        picks = [equal(selector, n) for n in range(len(branches))]
    results = taken[-1]
    for pick, rs in zip(reversed(picks[:-1]), reversed(taken[:-1])):
        results = [where(align(pick, r.ndim - 1), r, other) for r, other in zip(rs, results)]
    return pack(results), (True,) * len(results)


_cond_batch.needs_sweep = True

COND = Op("cond", _tuple_infer, _as_statements, jvp=_cond_jvp, vjp=_cond_vjp, batch=_cond_batch,
          doc="Run one of several branches, chosen at run time (gd.cond, gd.switch).")


def _branches(kind: str, what: str, selector: Node, functions: Sequence[Callable],
              operands: Sequence[Any]) -> Any:
    leaves, o_struct = _leaves(tuple(operands), "operands")
    params = [placeholder(x) for x in leaves]
    start = next_node_id()
    traced = []
    for fn in functions:
        traced.append(fn(*unflatten(o_struct, params)))
    flat = [_leaves(t, "result") for t in traced]
    first, structure = flat[0]
    names = paths(structure, "result")
    for n, (out, s) in enumerate(flat[1:], start=1):
        _same_structure(what, structure, s, f"branch {n}'s result")
        for name, a, b in zip(names, first, out):
            if a.dtype != b.dtype or tuple(a.shape) != tuple(b.shape):
                error = DTypeError if a.dtype != b.dtype else ShapeError
                raise error(f"{what}: {name} is {a.type_str()} in branch 0 but {b.type_str()} in "
                            f"branch {n}; every branch returns the same types")
    bodies, outer = close(params, [out for out, _ in flat], start)
    node = _cond_node(kind, bodies, [selector] + leaves + outer)
    return unflatten(structure, [part(node, i) for i in range(len(first))])


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``: only the branch taken
    runs, and only its derivative is taken, so ``cond(a >= 0, sqrt, lambda a: sqrt(-a), a)`` has
    a finite gradient everywhere (``gd.where`` evaluates both sides)."""
    pred = _predicate(pred, "gd.cond: pred")
    return _branches("cond", "gd.cond", pred, [true_fun, false_fun], operands)


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``branches[index](*operands)``, the index clamped to the valid range (as JAX does)."""
    index = _predicate(index, "gd.switch: index")
    if index.dtype.kind not in "iub":
        raise DTypeError(f"gd.switch: index must be an integer, got {index.type_str()}")
    if not branches:
        raise InputError("gd.switch needs at least one branch")
    return _branches("switch", "gd.switch", index, list(branches), operands)

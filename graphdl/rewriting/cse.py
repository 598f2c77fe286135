"""Common-subexpression elimination by structural hashing, in one pass over the topological order.

Two nodes compute the same value when they apply the same op with the same attributes to the
same (already merged) inputs, so a node's key is ``(op, attributes, input identities)``; the
first node with a key stands for every later one. Constants are keyed by value (dtype, shape,
weak flag and bytes, so ``0.0`` and ``-0.0`` stay apart); symbolic inputs and shared variables
are never merged. For commutative ops the input identities are sorted in the key, so ``a + b``
and ``b + a`` merge (the first one written keeps its operand order).

``Op.commutative`` is about values: ``maximum`` and ``minimum`` declare it although their
derivative rules are not symmetric (ties go to the first operand), since the optimizer runs on
graphs whose derivatives are already built, and the *values* agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.ir.node import Node
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.ops.registry import Op
from graphdl.rewriting.rewriter import rebuild, topological

_PYTHON_NUMBER = frozenset({float, int})  # weak constants of these are keyed without `freeze`
HASH_BYTES_LIMIT = 1 << 20  # larger constant arrays are keyed by identity, not hashed


def freeze(value: Any) -> Any:
    """A hashable stand-in for an attribute value that tells apart what NumPy tells apart."""
    if isinstance(value, np.ndarray):
        if value.nbytes > HASH_BYTES_LIMIT:
            return ("array-id", id(value))
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return ("numpy", value.dtype.str, value.tobytes())
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, (bool, int, str, type(None))):
        return (type(value).__name__, value)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    return ("object", id(value))


def node_key(node: Node, inputs: tuple[Node, ...]) -> tuple:
    """``node``'s key over (already merged) ``inputs``: equal keys, equal values. Nodes hash and
    compare by identity, so the key holds the input nodes themselves (ordered by ``id`` for a
    commutative op)."""
    op = node.op
    if len(inputs) == 2 and op.commutative:
        a, b = inputs
        if id(b) < id(a):
            inputs = (b, a)
    attrs = tuple(sorted((k, freeze(v)) for k, v in node.attrs.items())) if node.attrs else ()
    return (op, attrs, inputs, node.shape, node.dtype)


def _same_type(new: Node, old: Node) -> bool:
    """``new`` replaces ``old`` without changing the static type of their consumers (the case
    `rebuild` also recognizes first; weak constants it looks at more closely)."""
    return new is old or (new.dtype is old.dtype and new.shape == old.shape
                          and new.op is not CONSTANT and old.op is not CONSTANT)


def cse(outputs: Sequence[Node], order: Sequence[Node] | None = None
        ) -> tuple[list[Node], Counter]:
    """Merge structurally equal nodes: (new outputs, {"merged nodes": count}). ``order`` is the
    graph's topological order if the caller has it.

    This is `node_key` written out in the loop, which runs once per node of 10^5-node graphs
    every round; attribute dicts are frozen once each (rebuilt nodes share their original's).
    """
    table: dict[tuple, Node] = {}
    memo: dict[Node, Node] = {}
    frozen: dict[int, tuple[dict, tuple]] = {}  # id(attrs) -> (attrs kept alive, frozen form)
    commutes: dict[Op, bool] = {}
    merged = 0
    for node in order if order is not None else topological(outputs):
        op = node.op
        if op is INPUT or op is SHARED:
            memo[node] = node
            continue
        old = node.inputs
        if len(old) == 1:
            inputs = operands = (memo[old[0]],)
        elif len(old) == 2:
            a, b = memo[old[0]], memo[old[1]]
            inputs = operands = (a, b)
            swap = commutes.get(op)
            if swap is None:
                swap = commutes[op] = op.commutative
            if swap and id(b) < id(a):
                operands = (b, a)
        else:
            inputs = operands = tuple([memo[p] for p in old])
        attrs = node.attrs
        if op is CONSTANT and len(attrs) == 2 and attrs["weak"] is True and type(
                attrs["value"]) in _PYTHON_NUMBER:  # told apart as `freeze` tells them apart
            value = attrs["value"]
            key = (op, (float, value.hex()) if type(value) is float else (int, value), (),
                   node.shape, node.dtype)
        elif attrs:
            entry = frozen.get(id(attrs))
            if entry is None:
                entry = frozen[id(attrs)] = (attrs, tuple(sorted(
                    (k, freeze(v)) for k, v in attrs.items())))
            key = (op, entry[1], operands, node.shape, node.dtype)
        else:
            key = (op, (), operands, node.shape, node.dtype)
        found = table.get(key)
        if found is None:
            if inputs == old:  # element by element, by identity
                found = node
            elif all(map(_same_type, inputs, old)):
                found = node.over(inputs, node.shape, node.dtype)  # what rebuild would do
            else:
                found = rebuild(node, inputs)
            table[key] = found
        else:
            merged += 1
        memo[node] = found
    fired: Counter = Counter()
    if merged:
        fired["merged nodes"] = merged
    return [memo[o] for o in outputs], fired

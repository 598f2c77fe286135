"""Name scopes: group the nodes a block of code builds, so a drawing can cluster or fold them.

``Node`` has no scope field and stays that way: node ids increase as nodes are built, so a scope
only needs to remember the range of ids handed out while it was open. ``with
gd.name_scope("layer1"):`` records ``("layer1", first_id, end_id)``; `scope_of` finds the
innermost range containing a node. Nodes whose *name* holds slashes (``"layer1/W"``) belong to
that prefix too (the TensorFlow convention), which works without any ``with`` block.

Only drawing reads scopes; building and running graphs never do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from graphdl.ir.node import Node, next_node_id


@dataclass
class _Scope:
    path: tuple[str, ...]
    first: int  # the first node id built inside the scope
    end: float = math.inf  # ids from here on were built after the scope closed


_open: list[_Scope] = []
_all: list[_Scope] = []


def _next_id() -> int:
    """A lower bound of the ids of nodes built from now on."""
    return next_node_id()


@contextmanager
def name_scope(name: str) -> Iterator[tuple[str, ...]]:
    """Nodes built inside the block belong to scope ``name``; nested scopes make a path
    (``("model", "layer1")``), drawn as nested clusters."""
    parts = tuple(name.split("/")) if isinstance(name, str) else ()
    if not parts or not all(parts):
        raise ValueError(f"name_scope: a scope name must be a non-empty string (slashes "
                         f"separate nested scopes), got {name!r}")
    parent = _open[-1].path if _open else ()
    scope = _Scope(parent + parts, _next_id())
    _open.append(scope)
    _all.append(scope)
    try:
        yield scope.path
    finally:
        _open.pop()
        scope.end = _next_id()


def scope_of(node: Node) -> tuple[str, ...]:
    """The scope path of ``node``: the innermost ``name_scope`` it was built in, else the prefix
    of a slashed name (``"layer1/W"`` gives ``("layer1",)``), else ``()``."""
    return scopes_of([node])[node]


def scopes_of(nodes: Iterable[Node]) -> dict[Node, tuple[str, ...]]:
    """`scope_of` for many nodes in one sweep over ids (scopes nest like the ``with`` blocks
    that made them, so a stack of open ranges finds each node's innermost scope)."""
    result: dict[Node, tuple[str, ...]] = {}
    stack: list[_Scope] = []
    position = 0
    for node in sorted(nodes, key=lambda n: n.id):
        while position < len(_all) and _all[position].first <= node.id:
            opening = _all[position]
            while stack and stack[-1].end <= opening.first:
                stack.pop()
            stack.append(opening)
            position += 1
        while stack and stack[-1].end <= node.id:
            stack.pop()
        if stack:
            result[node] = stack[-1].path
        elif node.name and "/" in node.name:
            result[node] = tuple(part for part in node.name.split("/")[:-1] if part)
        else:
            result[node] = ()
    return result

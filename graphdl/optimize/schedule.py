"""The final schedule: an order of the nodes that keeps the peak of live intermediates low.

Generated code frees each intermediate right after its last use, so the order of statements
decides how many arrays are alive at once. A depth-first order (`graphdl.ir.toposort`) finishes
one output before starting the next and can keep a big array alive across a whole other branch.
`schedule` is a greedy list scheduler: among the nodes whose inputs are computed, it runs the one
that frees the most bytes net of what it allocates, breaking ties by the depth-first order (so
where memory does not care, the code reads in the order it was written).

The memory model: a computed node allocates ``size * itemsize`` bytes, views (transpose,
reshape, basic indexing, broadcasts, expand_dims/squeeze) allocate nothing but keep their base
alive, inputs and constants are free, outputs live to the end, and an unknown size counts as
`UNKNOWN_SIZE` elements. Scores only grow as consumers run, so a heap with re-pushed entries keeps
the whole schedule O(E log V).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NamedTuple

from graphdl.ir.node import Node
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.optimize.rewriter import topological

UNKNOWN_SIZE = 1024  # elements assumed for a size known only at call time
VIEWS = {"transpose", "reshape", "getitem", "broadcast_to", "broadcast_like", "expand_dims",
         "squeeze", "stop_gradient"}
_FREE = (INPUT, SHARED, CONSTANT)


def nbytes(node: Node) -> int:
    """Bytes a node's value takes (0 for views, inputs and constants)."""
    if node.op in _FREE or node.op.name in VIEWS:
        return 0
    n = node.dtype.itemsize
    for d in node.shape:
        n *= UNKNOWN_SIZE if d is None else d
    return n


def _storage(order: Sequence[Node]) -> dict[Node, Node]:
    """The node owning each node's memory: itself, or for a view the owner of its base."""
    owner: dict[Node, Node] = {}
    for node in order:
        owner[node] = owner[node.inputs[0]] if node.op.name in VIEWS and node.inputs else node
    return owner


def _reads(order: Sequence[Node], owner: dict[Node, Node]
           ) -> dict[Node, tuple[tuple[Node, int], ...]]:
    """For each node, the storage owners it reads and how many of its distinct inputs each
    accounts for (``a * a.T`` reads one owner twice), computed once for all later counting."""
    reads: dict[Node, tuple[tuple[Node, int], ...]] = {}
    for node in order:
        inputs = node.inputs
        if len(inputs) == 1:
            reads[node] = ((owner[inputs[0]], 1),)
            continue
        counts: dict[Node, int] = {}
        for p in set(inputs):
            o = owner[p]
            counts[o] = counts.get(o, 0) + 1
        reads[node] = tuple(counts.items())
    return reads


def peak_bytes(order: Sequence[Node], outputs: Sequence[Node],
               memory: _Memory | None = None) -> int:
    """Peak bytes of computed arrays alive at once when the statements run in ``order``
    (``memory``: the graph's `_Memory` if the caller has it, for any order of the same graph)."""
    owner, reads, size = memory or _Memory.of(order)
    uses: dict[Node, int] = {}
    for node in order:
        for o, k in reads[node]:
            uses[o] = uses.get(o, 0) + k
    for out in outputs:
        uses[owner[out]] = uses.get(owner[out], 0) + 1  # outputs are never freed
    live = peak = 0
    for node in order:
        live += size[node]
        if live > peak:
            peak = live
        for o, k in reads[node]:
            left = uses[o] - k
            uses[o] = left
            if left == 0:
                live -= size[o]
    return peak


class _Memory(NamedTuple):
    """What the memory model knows of each node of a graph, whatever the statement order."""

    owner: dict[Node, Node]
    reads: dict[Node, tuple[tuple[Node, int], ...]]
    size: dict[Node, int]

    @classmethod
    def of(cls, order: Sequence[Node]) -> _Memory:
        owner = _storage(order)
        return cls(owner, _reads(order, owner), {node: nbytes(node) for node in order})


def schedule(outputs: Sequence[Node], order: Sequence[Node] | None = None,
             memory: _Memory | None = None) -> list[Node]:
    """A topological order of everything ``outputs`` need, chosen to keep peak memory low.
    ``order`` (their depth-first order) and its ``memory`` may be passed in if already known."""
    order = topological(outputs) if order is None else order
    owner, reads, size = memory or _Memory.of(order)
    # Nodes are numbered by their depth-first position (also the tie-break): lists indexed by
    # number instead of dicts keyed by node keep this loop cheap on 10^5-node graphs.
    number = {node: i for i, node in enumerate(order)}
    nbytes_ = [size[node] for node in order]
    reads_ = [tuple([(number[o], k) for o, k in reads[node]]) for node in order]
    readers: list[list[int]] = [[] for _ in order]  # owner -> nodes reading it
    consumers: list[list[int]] = [[] for _ in order]
    waiting = [0] * len(order)
    uses = [0] * len(order)
    for i, node in enumerate(order):
        inputs = node.inputs
        distinct = (number[inputs[0]],) if len(inputs) == 1 else {number[p] for p in inputs}
        waiting[i] = len(distinct)
        for p in distinct:
            consumers[p].append(i)
        for o, k in reads_[i]:
            readers[o].append(i)
            uses[o] += k
    for out in outputs:
        uses[number[owner[out]]] += 1

    heap: list[tuple[int, int]] = []
    best = [0] * len(order)
    done = [False] * len(order)
    push_ = heapq.heappush

    def push(i: int) -> None:
        score = -nbytes_[i]  # what running node i frees, net of what it allocates
        for o, k in reads_[i]:
            if uses[o] == k:
                score += nbytes_[o]
        best[i] = score
        push_(heap, (-score, i))

    result: list[int] = []
    for i, node in enumerate(order):  # leaves first, in the written order (they cost nothing)
        if not node.inputs:
            done[i] = True
            result.append(i)
            for c in consumers[i]:
                waiting[c] -= 1
    for i in range(len(order)):
        if not done[i] and waiting[i] == 0:
            push(i)
    while heap:
        neg, i = heapq.heappop(heap)
        if done[i] or -neg != best[i]:
            continue  # an outdated entry: the node was re-pushed with a better score
        done[i] = True
        result.append(i)
        for o, k in reads_[i]:
            uses[o] -= k
            if uses[o] <= 2:  # its last reader(s), if ready, may now free it: re-score
                for r in readers[o]:
                    if not done[r] and waiting[r] == 0:
                        push(r)
        for c in consumers[i]:
            waiting[c] -= 1
            if waiting[c] == 0:
                push(c)
    return _views_just_in_time([order[i] for i in result])


def _views_just_in_time(order: list[Node]) -> list[Node]:
    """The same order with each view moved to just before its first reader. A view costs no
    memory either way (its base is alive until its last reader anyway), and the code reads better
    with ``W.T`` next to the product that uses it."""
    deferred: set[Node] = set()
    result: list[Node] = []

    def place(node: Node) -> None:
        for p in node.inputs:
            if p in deferred:
                deferred.discard(p)
                place(p)
        result.append(node)

    for node in order:
        if node.inputs and node.op.name in VIEWS:
            deferred.add(node)
        else:
            place(node)
    for node in order:  # views that are outputs themselves, or read by nothing scheduled
        if node in deferred:
            deferred.discard(node)
            place(node)
    return result


def schedule_with_peaks(outputs: Sequence[Node], order: Sequence[Node]
                        ) -> tuple[list[Node], int, int]:
    """(`schedule`, peak bytes of the depth-first ``order``, peak bytes of the schedule), with
    the memory model of the graph worked out once for the three."""
    memory = _Memory.of(order)
    scheduled = schedule(outputs, order, memory)
    return scheduled, peak_bytes(order, outputs, memory), peak_bytes(scheduled, outputs, memory)

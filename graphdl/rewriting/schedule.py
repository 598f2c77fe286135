"""The final schedule: an order of the nodes that keeps the peak of live intermediates low.

Generated code frees each intermediate right after its last use, so the order of statements
decides how many arrays are alive at once. A depth-first order (`graphdl.ir.toposort`) finishes
one output before starting the next and can keep a big array alive across a whole other branch.
`schedule` is a greedy list scheduler: among the nodes whose inputs are computed, it runs the one
that frees the most bytes net of what it allocates, breaking ties by the depth-first order (so
where memory does not care, the code reads in the order it was written).

The memory model: a computed node allocates ``size * itemsize`` bytes, views (ops declaring
``allocates=False``: transpose, reshapes, basic indexing, broadcasts, expand_dims/squeeze,
concat_piece, stop_gradient) allocate nothing but keep their base alive, inputs and constants are
free, outputs live to the end, and an unknown size counts as
`UNKNOWN_SIZE` elements. Scores only grow as consumers run, so a heap with re-pushed entries keeps
the whole schedule O(E log V).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import NamedTuple

from graphdl.ir.node import Node
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED
from graphdl.rewriting.rewriter import topological

UNKNOWN_SIZE = 1024  # elements assumed for a size known only at call time
_FREE = (INPUT, SHARED, CONSTANT)


def nbytes(node: Node) -> int:
    """Bytes a node's value takes (0 for views, inputs and constants)."""
    if node.op in _FREE or not node.op.allocates:
        return 0
    n = node.dtype.itemsize
    for d in node.shape:
        n *= UNKNOWN_SIZE if d is None else d
    return n


class _Memory(NamedTuple):
    """What the memory model knows of each node of a graph, whatever the statement order.

    Nodes are numbered by their position in the ``order`` the model was made from (lists
    indexed by number instead of dicts keyed by node keep the loops cheap on 10^5-node graphs).
    """

    order: Sequence[Node]
    number: dict[Node, int]
    owner: list[int]  # the node owning each node's memory: itself, or a view's base's owner
    # the storage owners each node reads, with how many of its distinct inputs each accounts for
    # (``a * a.T`` reads one owner twice), worked out once for all later counting
    reads: list[tuple[tuple[int, int], ...]]
    size: list[int]  # bytes each node allocates (`nbytes`)

    @classmethod
    def of(cls, order: Sequence[Node]) -> _Memory:
        number = {node: i for i, node in enumerate(order)}
        owner: list[int] = []
        reads: list[tuple[tuple[int, int], ...]] = []
        size: list[int] = []
        for i, node in enumerate(order):
            inputs = node.inputs
            view = not node.op.allocates
            size.append(0 if view else nbytes(node))
            if not inputs:
                owner.append(i)
                reads.append(())
                continue
            first = owner[number[inputs[0]]]
            owner.append(first if view else i)
            if len(inputs) == 1 or (len(inputs) == 2 and inputs[0] is inputs[1]):
                reads.append(((first, 1),))
                continue
            if len(inputs) == 2:
                second = owner[number[inputs[1]]]
                reads.append(((first, 2),) if first == second else ((first, 1), (second, 1)))
                continue
            counts: dict[int, int] = {}
            for p in set(inputs):
                o = owner[number[p]]
                counts[o] = counts.get(o, 0) + 1
            reads.append(tuple(counts.items()))
        return cls(order, number, owner, reads, size)


def _positions(order: Sequence[Node], memory: _Memory) -> Sequence[int]:
    """The numbers of ``order``'s nodes in ``memory`` (any order of the same graph)."""
    if order is memory.order:
        return range(len(order))
    number = memory.number
    return [number[node] for node in order]


def peak_bytes(order: Sequence[Node], outputs: Sequence[Node],
               memory: _Memory | None = None) -> int:
    """Peak bytes of computed arrays alive at once when the statements run in ``order``
    (``memory``: the graph's `_Memory` if the caller has it, for any order of the same graph)."""
    memory = memory if memory is not None else _Memory.of(order)
    number, owner, reads, size = memory.number, memory.owner, memory.reads, memory.size
    positions = _positions(order, memory)
    uses = [0] * len(memory.order)
    for i in positions:
        for o, k in reads[i]:
            uses[o] += k
    for out in outputs:
        uses[owner[number[out]]] += 1  # outputs are never freed
    live = peak = 0
    for i in positions:
        live += size[i]
        if live > peak:
            peak = live
        for o, k in reads[i]:
            left = uses[o] - k
            uses[o] = left
            if left == 0:
                live -= size[o]
    return peak


def schedule(outputs: Sequence[Node], order: Sequence[Node] | None = None,
             memory: _Memory | None = None) -> list[Node]:
    """A topological order of everything ``outputs`` need, chosen to keep peak memory low.
    ``order`` (their depth-first order) and its ``memory`` may be passed in if already known."""
    order = topological(outputs) if order is None else order
    if memory is None or memory.order is not order:
        memory = _Memory.of(order)
    # Nodes are numbered by their depth-first position, which is also the tie-break.
    number, owner, reads, size = memory.number, memory.owner, memory.reads, memory.size
    n = len(order)
    readers: list[list[int]] = [[] for _ in range(n)]  # owner -> nodes reading it
    consumers: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    uses = [0] * n
    for i, node in enumerate(order):
        inputs = node.inputs
        if len(inputs) == 1 or (len(inputs) == 2 and inputs[0] is inputs[1]):
            waiting[i] = 1
            consumers[number[inputs[0]]].append(i)
        elif len(inputs) == 2:
            waiting[i] = 2
            consumers[number[inputs[0]]].append(i)
            consumers[number[inputs[1]]].append(i)
        elif inputs:
            distinct = {number[p] for p in inputs}
            waiting[i] = len(distinct)
            for p in distinct:
                consumers[p].append(i)
        for o, k in reads[i]:
            readers[o].append(i)
            uses[o] += k
    for out in outputs:
        uses[owner[number[out]]] += 1

    # A heap entry is one int, -score * n + i: it sorts as (-score, i) (the most bytes freed
    # first, then the depth-first position) and compares faster than a tuple.
    heap: list[int] = []
    best = [0] * n
    done = [False] * n
    push, pop = heapq.heappush, heapq.heappop
    result: list[int] = []
    for i, node in enumerate(order):  # leaves first, in the written order (they cost nothing)
        if not node.inputs:
            done[i] = True
            result.append(i)
            for c in consumers[i]:
                waiting[c] -= 1
    for i in range(n):
        if not done[i] and waiting[i] == 0:
            score = -size[i]  # what running node i frees, net of what it allocates
            for o, k in reads[i]:
                if uses[o] == k:
                    score += size[o]
            best[i] = score
            push(heap, -score * n + i)
    while heap:
        neg, i = divmod(pop(heap), n)
        if done[i] or -neg != best[i]:
            continue  # an outdated entry: the node was re-pushed with a better score
        done[i] = True
        result.append(i)
        for o, k in reads[i]:
            left = uses[o] = uses[o] - k
            if left <= 2:  # its last reader(s), if ready, may now free it: re-score
                for r in readers[o]:
                    if not done[r] and waiting[r] == 0:
                        score = -size[r]
                        for o2, k2 in reads[r]:
                            if uses[o2] == k2:
                                score += size[o2]
                        best[r] = score
                        push(heap, -score * n + r)
        for c in consumers[i]:
            waiting[c] -= 1
            if waiting[c] == 0:
                score = -size[c]
                for o2, k2 in reads[c]:
                    if uses[o2] == k2:
                        score += size[o2]
                best[c] = score
                push(heap, -score * n + c)
    return _views_just_in_time([order[i] for i in result])


def _views_just_in_time(order: list[Node]) -> list[Node]:
    """The same order with each view moved to just before its first reader. A view costs no
    memory either way (its base is alive until its last reader anyway), and the code reads better
    with ``W.T`` next to the product that uses it."""
    if not any(node.inputs and not node.op.allocates for node in order):
        return order
    deferred: set[Node] = set()
    result: list[Node] = []

    def place(node: Node) -> None:
        for p in node.inputs:
            if p in deferred:
                deferred.discard(p)
                place(p)
        result.append(node)

    for node in order:
        if node.inputs and not node.op.allocates:
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

"""Buffer reuse: which statements may write their result into an existing array.

Hand-written NumPy reuses memory (``h *= mask``, ``W -= lr * g``); generated code should too, or a
training step allocates a fresh array per statement and peak memory grows with the graph. Two
kinds of reuse are planned here, both only where they are provably invisible:

- **dead temporaries**: an elementwise node whose operand is an intermediate array that nobody reads
  afterwards (neither it nor any view of it), with the same dtype and provably the same shape as
  the result, computes into that operand (``np.add(v3, b, out=v3)``); unknown sizes count as the
  same when they come from the same input's size (`graphdl.codegen.dims`), so ``delta * mask``
  over a batch axis ``None`` is written in place too;
- **shared state**: an update ``W <- f(W, ...)`` computed by an elementwise op writes into ``W``'s
  own buffer, after every other reader of ``W`` (update statements that nothing else reads move to
  the end of the schedule, always a valid order; one that later statements read stays put and
  writes in place only if nothing after it reads the old value). Updates still all read the old
  values: an in-place write is kept only when nothing after it reads the variable. A call that
  raises must leave every shared variable as it was, so a shared buffer is written only by a
  statement that cannot raise and after the last statement that can (`cannot_fail`: run-time
  sizes are checked before the code runs, `graphdl.codegen.sizes`; what remains is data, such
  as an index out of range).

An op opts in by giving ``Op.inplace``, a template with ``{out}``; ``Op.view`` marks ops whose
result may share memory with their first operand (transpose, reshape, basic indexing...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphdl.codegen.dims import symbolic_sizes
from graphdl.ir.node import Node
from graphdl.ops.leaves import CONSTANT, INPUT, SHARED

# Knowledge from outside the static shapes: "these two nodes will have the same run-time shape"
SameShape = Callable[[Node, Node], bool]


@dataclass
class Plan:
    schedule: list[Node]
    writes_into: dict[Node, Node]  # node -> the node whose buffer receives its result


# Non-elementwise ops that cannot raise once the run-time sizes are checked (max/min can: an
# empty axis; indexing can: an index out of range; runtime helpers may check values)
_SIZE_ONLY = frozenset({
    "reshape", "reshape_like", "transpose", "expand_dims", "squeeze", "broadcast_to",
    "broadcast_like", "concatenate", "zeros_like", "sum", "mean", "sum_to", "axis_size",
    "matmul", "softmax", "log_softmax", "logsumexp",
})


def cannot_fail(node: Node) -> bool:
    """Whether ``node``'s statement cannot raise once the run-time sizes are known to fit:
    elementwise arithmetic on floats and booleans (NumPy gives inf/nan, not errors; integer
    arithmetic can raise, e.g. a negative integer power) and a few size-only ops."""
    if _is_leaf(node):
        return True
    if node.op.elementwise:
        return node.dtype.kind in "fcb" and all(p.dtype.kind in "fcb" for p in node.inputs)
    return node.op.name in _SIZE_ONLY


def _is_leaf(node: Node) -> bool:
    return node.op is INPUT or node.op is SHARED or node.op is CONSTANT


def _alias_roots(schedule: Sequence[Node]) -> dict[Node, Node]:
    """The array each node's value may share memory with (itself unless it is a view)."""
    root: dict[Node, Node] = {}
    for node in schedule:
        if getattr(node.op, "view", False) and node.inputs:
            root[node] = root.get(node.inputs[0], node.inputs[0])
        else:
            root[node] = node
    return root


def _same_runtime_shape(target: Node, node: Node) -> bool:
    """Can static shapes prove that ``target`` has exactly the shape of ``node``'s result?"""
    if target.ndim != node.ndim or target.ndim == 0:
        return False
    for axis, (td, nd) in enumerate(zip(target.shape, node.shape)):
        if td is not None and td == nd:
            continue
        if td is None and nd is None:
            # the result's size is the target's unless another operand could stretch it
            for other in node.inputs:
                if other is target:
                    continue
                from_end = node.ndim - axis
                if other.ndim >= from_end and other.shape[-from_end] != 1:
                    return False
            continue
        return False
    return True


def plan_inplace(schedule: Sequence[Node], outputs: Sequence[Node], updates: Sequence[Node],
                 targets: Sequence[Node], same_shape: SameShape | None = None) -> Plan:
    """The statement order and the buffer each statement may write into."""
    root = _alias_roots(schedule)
    sizes = symbolic_sizes(schedule)
    proven = same_shape

    def same_shape(a: Node, b: Node) -> bool:
        # 0-d results stay out: arithmetic on 0-d arrays returns NumPy scalars, not arrays
        return (a.ndim > 0 and sizes[a] == sizes[b]) or (proven is not None and proven(a, b))

    returned = set(outputs)
    returned_roots = {root.get(n, n) for n in outputs}
    readers: dict[Node, int] = {}
    for node in schedule:
        for parent in node.inputs:
            readers[parent] = readers.get(parent, 0) + 1
    update_target: dict[Node, Node] = {}
    for value, target in zip(updates, targets):
        update_target.setdefault(value, target)

    # Updates that could write into their own variable go last (nothing reads them but the return).
    movable = [
        n for n in schedule
        if n in update_target and not _is_leaf(n) and n not in returned and not readers.get(n)
        and update_target[n] in n.inputs and update_target[n] not in returned_roots
        and n.op.inplace is not None and _writable(update_target[n], n)
    ]
    moved = set(movable)
    order = [n for n in schedule if n not in moved] + movable
    position = {n: i for i, n in enumerate(order)}
    # a shared buffer may be written from this position on: nothing from there can raise
    safe_from = len(order)
    while safe_from > 0 and cannot_fail(order[safe_from - 1]):
        safe_from -= 1

    last_read: dict[Node, int] = {}  # alias root -> position of its last reader
    for here, node in enumerate(order):  # in order, so the last write is the latest reader
        for parent in node.inputs:
            last_read[root.get(parent, parent)] = here
    for node in list(outputs) + list(updates):
        last_read[root.get(node, node)] = len(order)  # returned: alive to the end

    writes: dict[Node, Node] = {}
    for node in order:
        if node.op.inplace is None or _is_leaf(node):
            continue
        here = position[node]
        if node in moved:
            target = update_target[node]
            if last_read.get(target, -1) <= here and here >= safe_from:
                writes[node] = target
            continue
        target = update_target.get(node)
        if (target is not None and node not in returned and target in node.inputs
                and target not in returned_roots and _writable(target, node)
                and last_read.get(target, -1) <= here and here >= safe_from):
            # a new state that later statements read too (Adam's s feeds s-hat): it can still
            # take the variable's buffer when nothing reads the old value after this point
            writes[node] = target
            continue
        for operand in node.inputs:
            if _is_leaf(operand) or root.get(operand) is not operand:
                continue
            if last_read.get(operand, -1) == here and _can_write(node, operand, same_shape):
                writes[node] = operand
                break
    return Plan(order, writes)


def _writable(target: Node, node: Node) -> bool:
    """A shared variable's buffer can take ``node``'s result. Not for 0-d state: arithmetic on
    0-d arrays gives NumPy scalars, so another function updating the same variable would leave
    an immutable scalar in its box."""
    return (target.dtype == node.dtype and target.shape == node.shape and target.ndim > 0
            and None not in target.shape)


def _can_write(node: Node, target: Node, same_shape: SameShape | None = None) -> bool:
    if node.op.inplace is None or target.dtype != node.dtype:
        return False
    if same_shape is not None and same_shape(target, node):
        return True
    return _same_runtime_shape(target, node)

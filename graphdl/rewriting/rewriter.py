"""Local rewrites and the engine that applies them to a whole graph.

A rewrite is a small pure function ``(node) -> replacement | None``, registered with
`node_rewriter` into a named family (``canonicalize``, ``stabilize``, ``specialize``, ``fold``)
for the ops it looks at. It sees a node whose inputs are already rewritten and returns a node of
the *same static shape and dtype* built from them, or None. The engine checks that promise: a
replacement that changes shape or dtype is refused (an error in ``strict`` mode, so tests catch a
wrong rule).

`rewrite_graph` walks the graph once in topological order. Each node is rebuilt over its
rewritten inputs, then the family's rules are tried on it until none fires; the nodes a rule
creates are themselves rewritten before the result is final, so one walk reaches a fixpoint for
the family (a rule only looks at a node and its inputs, and those are final). Every node is
memoized, so the work is linear in the graph size plus the size of what the rules build; a bound
on rewrites per node stops a pair of rules that would undo each other.

Families in `NO_GROWTH` (``canonicalize``) promise a graph no bigger than before, so the engine
also refuses a replacement that would duplicate work staying alive: ``-(1 - a) -> a - 1`` is a
win when ``1 - a`` is read only there, and a new node beside the old one when ``1 - a`` is also
read elsewhere. It counts the operations the replacement adds (nodes not in the graph yet) and
those it frees (the replaced node and what only it reads, by consumer counts), and keeps the
replacement only when it adds no more than it frees. Leaves, views and negations cost nothing
here (negations move outward to cancel or merge into subtractions); the pass manager then undoes
a whole canonicalize pass that would leave more operations than it found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from graphdl.ir.node import Node
from graphdl.ir.walk import toposort as topological  # the passes import it from here
from graphdl.ops.leaves import CONSTANT
from graphdl.ops.registry import Op

RewriteFn = Callable[[Node], "Node | None"]
MAX_REWRITES_PER_NODE = 32
NO_GROWTH = frozenset({"canonicalize"})  # families whose rules may not enlarge the graph


@dataclass(frozen=True)
class Rule:
    name: str  # what it does, as the report prints it: "x * 1 -> x"
    family: str
    ops: tuple[str, ...]  # op names it applies to; ("*",) for every op
    fn: RewriteFn


RULES: dict[str, list[Rule]] = {}


def node_rewriter(family: str, ops: Iterable[str], name: str) -> Callable[[RewriteFn], RewriteFn]:
    """Register ``fn`` as the rewrite ``name`` of ``family`` for nodes of ``ops``."""

    def register(fn: RewriteFn) -> RewriteFn:
        rule = Rule(name, family, tuple(ops), fn)
        if any(r.name == name for r in RULES.get(family, [])):
            raise ValueError(f"rewrite {name!r} is registered twice in {family!r}")
        RULES.setdefault(family, []).append(rule)
        return fn

    return register


def rules_by_op(families: Sequence[str]) -> dict[str, list[Rule]]:
    """The rules of ``families`` indexed by op name (``"*"`` holds rules for every op)."""
    index: dict[str, list[Rule]] = {}
    for family in families:
        for rule in RULES.get(family, []):
            for op in rule.ops:
                index.setdefault(op, []).append(rule)
    return index


class RewriteError(AssertionError):
    """A rule proposed a replacement of another shape or dtype (raised in strict mode)."""


def rebuild(node: Node, inputs: tuple[Node, ...]) -> Node:
    """``node`` over new ``inputs`` (``node`` itself when they are the same nodes).

    The copy keeps the user's name and line, so generated code and error messages still point
    at the line that built the original. When every new input has the static type of the one
    it replaces (what rewrites guarantee), the node's type is known and inference is skipped;
    weak Python-number constants go through inference, since they steer promotion, unless the
    replacement is an equal weak constant (what CSE merges), which steers it the same way.
    """
    old_inputs = node.inputs
    if inputs == old_inputs:  # element by element, by identity (nodes define no __eq__)
        return node
    for new, old in zip(inputs, old_inputs):
        if new is old:
            continue
        if (new.shape != old.shape or (new.dtype is not old.dtype and new.dtype != old.dtype)
                or ((new.op is CONSTANT or old.op is CONSTANT) and (_weak(new) or _weak(old))
                    and not _equal_weak(new, old))):
            shape, dtype = node.op.infer(inputs, node.attrs)
            return node.over(inputs, tuple(shape), np.dtype(dtype))
    return node.over(inputs, node.shape, node.dtype)


def _weak(node: Node) -> bool:
    return node.op is CONSTANT and node.attrs.get("weak", False)


def _equal_weak(a: Node, b: Node) -> bool:
    """Two weak constants of the same Python type and value."""
    if not (_weak(a) and _weak(b)):
        return False
    u, v = a.attrs["value"], b.attrs["value"]
    return type(u) is type(v) and u == v


class Rewriter:
    """Applies one set of rules over a graph (see the module docstring)."""

    def __init__(self, rules: dict[str, list[Rule]], strict: bool = False,
                 no_growth: frozenset[str] = frozenset(), clean: set[Node] | None = None
                 ) -> None:
        self.rules = rules
        self.anywhere = tuple(rules.get("*", ()))
        self._for_op: dict[str, tuple[Rule, ...]] = {}
        self._fns_for_op: dict[Op, tuple[RewriteFn, ...]] = {}  # the rules' functions
        self.strict = strict
        self.no_growth = no_growth
        self.fired: Counter = Counter()
        self.rejected: Counter = Counter()
        self.duplicating: Counter = Counter()  # refused: would duplicate live work
        self.memo: dict[Node, Node] = {}
        # Consumers (edges) of each node of the graph being built, counted from the written
        # graph and carried to replacements: an upper bound, so a refusal errs on the safe side.
        self.uses: dict[Node, int] = {}
        # Nodes on which every rule of these families proposed nothing. Rules are pure functions
        # of a node and what it reads (immutable, fixed by the node's identity), so they would
        # propose nothing again: a later walk of the same families (the pass manager's next
        # round) passes such a node through without trying them.
        self.clean: set[Node] = clean if clean is not None else set()

    def run(self, outputs: Sequence[Node], order: Sequence[Node] | None = None) -> list[Node]:
        """Rewrite the graph; ``order`` is its topological order if the caller has it.

        Most nodes fire no rule, so the loop tries their rules itself and hands a node to
        `_simplify` only once a rule proposed something (10^5-node graphs, several passes).
        """
        memo = self.memo
        order = order if order is not None else topological(outputs)
        uses = self.uses
        no_growth = bool(self.no_growth)
        if no_growth:
            counted = Counter(p for node in order for p in node.inputs)
            counted.update(outputs)
            for p, k in counted.items():
                uses[p] = uses.get(p, 0) + k
        fns_for, rules_for, simplify = self._fns_for_op, self._rules_for, self._simplify
        clean = self.clean
        for node in order:
            if node in memo:
                continue
            old = node.inputs
            if not old:
                new = node
            elif len(old) == 1:  # the common cases, without building a list first
                p = old[0]
                q = memo[p]
                if q is p:
                    new = node
                elif (q.dtype is p.dtype and q.shape == p.shape and q.op is not CONSTANT
                      and p.op is not CONSTANT):  # same static type: `rebuild` would not infer
                    new = node.over((q,), node.shape, node.dtype)
                else:
                    new = rebuild(node, (q,))
            elif len(old) == 2:
                a, b = old
                qa, qb = memo[a], memo[b]
                if qa is a and qb is b:
                    new = node
                elif ((qa is a or (qa.dtype is a.dtype and qa.shape == a.shape
                                   and qa.op is not CONSTANT and a.op is not CONSTANT))
                      and (qb is b or (qb.dtype is b.dtype and qb.shape == b.shape
                                       and qb.op is not CONSTANT and b.op is not CONSTANT))):
                    new = node.over((qa, qb), node.shape, node.dtype)
                else:
                    new = rebuild(node, (qa, qb))
            else:
                inputs = tuple([memo[p] for p in old])
                new = node if inputs == old else rebuild(node, inputs)  # == is identity here
            final = new
            if new not in clean:
                fns = fns_for.get(new.op)
                if fns is None:
                    fns = fns_for[new.op] = tuple(r.fn for r in rules_for(new.op.name))
                for fn in fns:
                    candidate = fn(new)
                    if candidate is not None and candidate is not new:
                        final = simplify(new, rules_for(new.op.name)[fns.index(fn)], candidate)
                        break
                else:
                    clean.add(new)
            memo[node] = final
            if final is not node:
                memo[final] = final
                if no_growth:
                    uses[final] = uses.get(final, 0) + uses.get(node, 0)
        return [memo[o] for o in outputs]

    def _simplify(self, node: Node, rule: Rule | None = None, candidate: Node | None = None
                  ) -> Node:
        """``node`` after its rules. ``rule`` and its ``candidate``: the first of the node's
        rules to propose a replacement, when the caller has already tried those before it."""
        for _ in range(MAX_REWRITES_PER_NODE):
            rules = self._rules_for(node.op.name)
            replacement = None
            start = 0
            if rule is not None:
                start = rules.index(rule) + 1
                replacement = self._accept(rule, node, candidate)
                rule = None
            if replacement is None:
                for later in rules[start:]:
                    proposed = later.fn(node)
                    if proposed is None or proposed is node:
                        continue
                    replacement = self._accept(later, node, proposed)
                    if replacement is not None:
                        break
            if replacement is None:
                return node
            node = replacement
        return node

    def _accept(self, rule: Rule, node: Node, candidate: Node) -> Node | None:
        """The settled replacement of ``node`` by ``rule``'s ``candidate``, or None when it is
        refused (another shape or dtype; more operations than it frees, in a no-growth family)."""
        if candidate.shape != node.shape or candidate.dtype != node.dtype:
            self._refuse(rule, node, candidate)
            return None
        if rule.family in self.no_growth and self._grows(node, candidate):
            self.duplicating[rule.name] += 1
            return None
        self.fired[rule.name] += 1
        replacement = self._settle(candidate, node)
        if self.no_growth:  # the replaced node no longer reads its inputs
            uses = self.uses
            for p in node.inputs:
                uses[p] = uses.get(p, 1) - 1
        return replacement

    def _rules_for(self, op_name: str) -> tuple[Rule, ...]:
        found = self._for_op.get(op_name)
        if found is None:
            found = self._for_op[op_name] = (*self.rules.get(op_name, ()), *self.anywhere)
        return found

    def _refuse(self, rule: Rule, node: Node, candidate: Node) -> None:
        message = (f"rewrite {rule.name!r} on {node.op.name} node {node.label()} "
                   f"({node.type_str()}) proposed {candidate.type_str()}")
        if self.strict:
            raise RewriteError(message)
        self.rejected[rule.name] += 1

    def _grows(self, node: Node, candidate: Node) -> bool:
        """Would replacing ``node`` by ``candidate`` add more operations than it frees?"""
        memo = self.memo
        if candidate in memo:
            added, keep = 0, {candidate}
        else:
            fresh = _unseen(candidate, memo)
            added = sum(1 for n in fresh if _costs(n))
            keep = {p for n in fresh for p in n.inputs if p in memo}
        if added == 0:
            return False
        uses = self.uses
        freed = 1 if _costs(node) else 0
        reads: Counter = Counter()
        stack = [node]
        while stack and freed < added:  # what only the replaced node (transitively) reads
            for p in stack.pop().inputs:
                reads[p] += 1
                if p.inputs and reads[p] == uses.get(p, 1 << 30) and p not in keep:
                    freed += 1 if _costs(p) else 0
                    stack.append(p)
        return added > freed

    def _settle(self, root: Node, replaced: Node) -> Node:
        """Rewrite the nodes a rule just built (those not seen yet), innermost first."""
        memo = self.memo
        if root in memo:
            return memo[root]
        uses = self.uses if self.no_growth else None
        for fresh in _unseen(root, memo):
            _adopt(fresh, replaced, fresh is root)
            new = rebuild(fresh, tuple(memo[p] for p in fresh.inputs))
            if uses is not None:  # the root's own consumers are carried over by `run`
                for p in new.inputs:
                    uses[p] = uses.get(p, 0) + 1
            final = self._simplify(new)
            memo[fresh] = final
            memo[final] = final
        return memo[root]


def _costs(node: Node) -> bool:
    """Does ``node`` count as an operation here (not a leaf, a view or a negation)?

    Negations are what canonicalize moves outward so that they cancel (``--x``) or merge into a
    subtraction (``a + -b -> a - b``); a negation pulled through a shared operand is usually
    absorbed further on. Should it not be, the pass manager's check on the whole pass
    (`operations`) still refuses a canonicalize pass that ends with more operations.
    """
    return bool(node.inputs) and not node.op.view and node.op.name != "negative"


def operations(order: Sequence[Node]) -> int:
    """The operations of a graph (nodes that are not leaves or views), for the growth check."""
    return sum(1 for n in order if n.inputs and not n.op.view)


def _unseen(root: Node, seen: dict[Node, Node]) -> list[Node]:
    """Nodes reachable from ``root`` without passing through ``seen``, inputs first."""
    order: list[Node] = []
    stack: list[tuple[Node, int]] = [(root, 0)]
    visiting = {root}
    while stack:
        node, i = stack[-1]
        if i < len(node.inputs):
            stack[-1] = (node, i + 1)
            child = node.inputs[i]
            if child not in seen and child not in visiting:
                visiting.add(child)
                stack.append((child, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def _adopt(fresh: Node, replaced: Node, is_root: bool) -> None:
    """Give a node a rule just built the origin (and, for the root, the name) of the node it
    replaces, so generated code and errors keep pointing at the user's line.

    This completes the construction of a node no one else holds yet (it was created inside the
    rule a moment ago); nodes already in a graph are never touched.
    """
    object.__setattr__(fresh, "origin", replaced.origin)
    if is_root and replaced.name and not fresh.name:
        object.__setattr__(fresh, "name", replaced.name)


def rewrite_graph(outputs: Sequence[Node], families: Sequence[str], strict: bool = False,
                  order: Sequence[Node] | None = None, clean: set[Node] | None = None
                  ) -> tuple[list[Node], Counter, Counter]:
    """Apply the rules of ``families`` over the graph: (new outputs, fired, rejected).
    ``clean``: nodes an earlier walk of the same families found nothing to rewrite on (it is
    updated with this walk's, see `Rewriter.clean`)."""
    rewriter = Rewriter(rules_by_op(families), strict=strict,
                        no_growth=NO_GROWTH.intersection(families), clean=clean)
    new = rewriter.run(outputs, order)
    return new, rewriter.fired, rewriter.rejected

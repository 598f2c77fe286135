"""The pass manager: runs the passes in rounds until a round changes nothing (or a bound).

A round is, in order: ``cse`` (merge equal subexpressions), ``fold`` (compute what depends only
on constants), ``canonicalize`` (algebraic identities), ``stabilize`` (numerically safe forms of
log-softmax, logsumexp, log1p, expm1, log-sigmoid and cross-entropy) and ``specialize`` (the
cheapest NumPy for what is left: ``x**2 -> square``, ``a * (1/b) -> a / b``) and ``scale`` (one
scalar factor at the source of a linear computation instead of one per result: a training
step's ``p - lr * g`` multiplies the loss's ``1/n`` by ``lr`` once; `graphdl.rewriting.scaling`).
After the rounds, ``schedule`` orders the statements to keep the peak of live intermediates low
(`graphdl.rewriting.schedule`); `gd.function` emits code in that order. Each rewriting pass
reaches its own fixpoint in one walk; rounds let one pass's result feed another's rules (a fold
exposes ``x * 1``, a merge exposes ``a - -b``...). Dead code never survives: every pass rebuilds
only what the outputs reach.

Each pass is linear in the graph (one topological walk, memoized by node), and the number of
rounds is bounded, so optimization time is linear in graph size. A pass that changed nothing is
not rerun until another pass changes the graph, and a rerun passes over the nodes its family found
nothing to rewrite on before (`Rewriter.clean`) without trying its rules again. A canonicalize pass
that would end with more operations than it started with is undone (`Report.reverted`):
simplification never grows a graph.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from graphdl.ir.collector import collector_paused
from graphdl.ir.node import Node
from graphdl.ops.registry import as_node
from graphdl.rewriting import (  # noqa: F401 (importing registers the rules)
    canonicalize,
    fold,
    shapes,
    specialize,
    stabilize,
)
from graphdl.rewriting.cse import cse
from graphdl.rewriting.report import Report
from graphdl.rewriting.rewriter import NO_GROWTH, operations, rewrite_graph, topological
from graphdl.rewriting.scaling import sink_scale
from graphdl.rewriting.schedule import schedule_with_peaks

# A pass: (outputs, their topological order, strict, what it kept from its previous runs in
# this optimize call) -> (new outputs, fired, refused)
PassFn = Callable[[list[Node], list[Node], bool, dict],
                  tuple[list[Node], Counter, Counter]]


def _rewriting(family: str) -> PassFn:
    def run(outputs: list[Node], order: list[Node], strict: bool, kept: dict
            ) -> tuple[list[Node], Counter, Counter]:
        clean = kept.setdefault("clean", set())  # see Rewriter.clean
        return rewrite_graph(outputs, [family], strict=strict, order=order, clean=clean)

    run.__name__ = family
    return run


def _cse(outputs: list[Node], order: list[Node], strict: bool, kept: dict
         ) -> tuple[list[Node], Counter, Counter]:
    new, merged = cse(outputs, order)
    return new, merged, Counter()


PASSES: dict[str, PassFn] = {
    "cse": _cse,
    "fold": _rewriting("fold"),
    "canonicalize": _rewriting("canonicalize"),
    "stabilize": _rewriting("stabilize"),
    "specialize": _rewriting("specialize"),
    "scale": sink_scale,
}
FINAL_PASSES = ("schedule",)  # run once, after the rounds
# Passes that leave nothing for a second run of themselves: merging equal nodes twice merges
# nothing more, and a fold folds every all-constant node it can. (The rule families are not:
# canonicalize's guard against growth counts consumers conservatively, so a second walk may
# find a rewrite the first refused.)
IDEMPOTENT = frozenset({"cse", "fold"})
DEFAULT_PASSES = ("cse", "fold", "canonicalize", "stabilize", "specialize", "scale", "schedule")
MAX_ROUNDS = 4


def optimize(outputs: Node | Sequence[Any], passes: Sequence[str] | None = None,
             max_rounds: int = MAX_ROUNDS, strict: bool = False
             ) -> tuple[Node | list[Node], Report]:
    """Optimize the graph of ``outputs``: (the new output(s), in the same form; `Report`).

    ``passes`` picks and orders passes by name (default: all of `DEFAULT_PASSES`). With
    ``strict=True`` a rewrite that would change a node's static shape or dtype raises instead
    of being skipped (for tests of the rules).
    """
    single = isinstance(outputs, Node)
    outs = [outputs] if single else [as_node(o) for o in outputs]
    names = tuple(DEFAULT_PASSES if passes is None else passes)
    unknown = [n for n in names if n not in PASSES and n not in FINAL_PASSES]
    if unknown:
        raise ValueError(f"optimize: unknown pass(es) {unknown}; known: {sorted(PASSES)}")
    with collector_paused():
        return _optimize(outs, single, names, max_rounds, strict)


def _optimize(outs: list[Node], single: bool, names: tuple[str, ...], max_rounds: int,
              strict: bool) -> tuple[Node | list[Node], Report]:
    start = time.perf_counter()
    order = topological(outs)
    report = Report(nodes_before=len(order))
    rewriting = [n for n in names if n in PASSES]
    # A pass is deterministic: on a graph where it fired nothing it would fire nothing again, and
    # an idempotent pass has nothing to do on a graph it left itself. Such a pass runs again only
    # once another pass has changed the graph (a "no change" round would walk it once per pass).
    stale = set(rewriting)
    kept: dict[str, dict] = {name: {} for name in rewriting}  # each pass's own, between runs
    for _ in range(max_rounds if rewriting else 0):
        report.rounds += 1
        changed = False
        for name in rewriting:
            if name not in stale:
                continue
            t0 = time.perf_counter()
            before = len(order)
            new, fired, rejected = PASSES[name](outs, order, strict, kept[name])
            if fired:  # otherwise the graph is untouched and so is its order
                new_order = topological(new)
                if name in NO_GROWTH and operations(new_order) > operations(order):
                    report.reverted.append((name, report.rounds, operations(order),
                                            operations(new_order)))
                    new, new_order, fired = outs, order, Counter()
                order = new_order
            if fired:
                stale.update(rewriting)
            if not fired or name in IDEMPOTENT:
                stale.discard(name)  # it would do the same (nothing) again on this graph
            report.record(name, report.rounds, before, len(order), time.perf_counter() - t0,
                          fired)
            report.rejected.update(rejected)
            changed = changed or bool(fired)
            outs = new
        if not changed or not stale:
            break
    report.nodes_after = len(order)
    if "schedule" in names:
        t0 = time.perf_counter()
        report.schedule, depth_first, scheduled = schedule_with_peaks(outs, order)
        report.peak_bytes = {"depth-first": depth_first, "scheduled": scheduled}
        report.schedule_seconds = time.perf_counter() - t0
    report.seconds = time.perf_counter() - start
    return (outs[0] if single else outs), report

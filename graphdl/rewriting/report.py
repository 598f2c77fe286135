"""What the optimizer did, pass by pass: the `Report` kept on every compiled function.

A report answers "why does my compiled code look like this?": for each pass the node counts
before and after, how long it took, and every rewrite that fired, by name and count
(``cse: merged 14 nodes``, ``stabilize: log(softmax(x)) -> log_softmax(x)``). It prints as a
text table and converts to plain dicts (``to_dict``) for logs and tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PassRecord:
    """One run of one pass."""

    name: str
    round: int
    nodes_before: int
    nodes_after: int
    seconds: float = 0.0
    rewrites: Counter = field(default_factory=Counter)

    @property
    def fired(self) -> int:
        return sum(self.rewrites.values())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "round": self.round, "nodes_before": self.nodes_before,
                "nodes_after": self.nodes_after, "seconds": self.seconds,
                "rewrites": dict(self.rewrites)}

    def describe(self) -> str:
        if self.name == "cse":
            merged = self.rewrites.get("merged nodes", 0)
            return f"merged {merged} node{'s' * (merged != 1)}" if merged else ""
        return ", ".join(f"{rule} ({count})" for rule, count in
                         sorted(self.rewrites.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class Report:
    """The optimizer's account of one ``optimize`` call (see the module docstring)."""

    nodes_before: int = 0
    nodes_after: int = 0
    seconds: float = 0.0
    rounds: int = 0
    passes: list[PassRecord] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # rewrites refused: shape/dtype changed
    peak_bytes: dict[str, int] = field(default_factory=dict)  # by statement order
    schedule: list | None = None  # the order gd.function emits statements in (nodes)
    schedule_seconds: float = 0.0
    # passes undone because they would have grown the graph: (pass, round, operations before,
    # operations after)
    reverted: list[tuple[str, int, int, int]] = field(default_factory=list)

    def record(self, name: str, round: int, before: int, after: int, seconds: float,
               rewrites: Counter) -> None:
        self.passes.append(PassRecord(name, round, before, after, seconds, Counter(rewrites)))

    def fired(self, name: str) -> int:
        """How often the rewrite called ``name`` fired, over all passes (0 if never)."""
        return sum(p.rewrites.get(name, 0) for p in self.passes)

    @property
    def rewrites(self) -> Counter:
        """Every rewrite that fired, by name, summed over passes and rounds."""
        total: Counter = Counter()
        for p in self.passes:
            total.update(p.rewrites)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
                "seconds": self.seconds, "rounds": self.rounds,
                "passes": [p.to_dict() for p in self.passes],
                "rewrites": dict(self.rewrites),
                "rejected": dict(self.rejected), "peak_bytes": dict(self.peak_bytes),
                "reverted": [list(r) for r in self.reverted]}

    def __str__(self) -> str:
        rounds = f"{self.rounds} round{'s' * (self.rounds != 1)}"
        total = f"{self.nodes_before} -> {self.nodes_after} nodes"
        lines = [f"optimize: {total} in {self.seconds * 1e3:.1f} ms, {rounds}"]
        width = max((len(p.name) for p in self.passes), default=4)
        for r in range(1, self.rounds + 1):
            runs = [p for p in self.passes if p.round == r]
            if not any(p.fired for p in runs):
                lines.append(f"  round {r}: no change")
                continue
            lines.append(f"  round {r}")
            for p in runs:
                nodes = f"{p.nodes_before:>6} -> {p.nodes_after:<6}"
                line = f"    {p.name:<{width}} {nodes} {p.seconds * 1e3:6.1f} ms  {p.describe()}"
                lines.append(line.rstrip())
        for name, r, before, after in self.reverted:
            lines.append(f"  undid {name} in round {r}: it would have grown the graph from "
                         f"{before} to {after} operations")
        for rule, count in sorted(self.rejected.items()):
            lines.append(f"  refused {count} x {rule} (would change shape or dtype)")
        if self.peak_bytes:
            shown = " -> ".join(f"{_bytes(v)} {k}" for k, v in self.peak_bytes.items())
            lines.append(f"  schedule: peak live intermediates {shown} "
                         f"({self.schedule_seconds * 1e3:.1f} ms)")
        return "\n".join(lines)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover

"""Run every graphdl benchmark and print one table per workload (optionally JSON too).

Each thread count runs in its own child process, pinned to that many CPUs before any
library starts a thread pool: then NumPy, PyTorch, JAX and PyTensor all get the same
number of cores, which threadpoolctl alone cannot ensure (XLA has its own pool).
Inside a child the contenders share one process and are timed in interleaved rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import ModuleType

import harness as H

WORKLOADS = ("mlp_step", "f_points", "nested", "compile_scale", "memory")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few rounds: about three minutes on two cores",
    )
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        metavar="N",
        help="thread counts to measure (default: 1 2)",
    )
    ap.add_argument("--json", metavar="PATH", help="also write every row to this JSON file")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=WORKLOADS,
        metavar="WORKLOAD",
        help=f"run just these of {', '.join(WORKLOADS)}",
    )
    ap.add_argument("--child", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--child-first", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def load(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(name)


def child(args: argparse.Namespace) -> None:
    """Run the selected workloads at one thread count and dump the rows as JSON."""
    pin_note = H.pin_to_cpus(args.child)
    cfg = H.Config.make(args.quick, [args.child])
    rows: list[H.Result] = []
    for name in args.only or WORKLOADS:
        mod = load(name)
        # Compile-time and memory workloads do not depend on BLAS threads: run them once.
        if not getattr(mod, "PER_THREAD", False) and not args.child_first:
            continue
        t0 = time.perf_counter()
        print(f"[threads={args.child}] {name} ...", file=sys.stderr, flush=True)
        try:
            got = mod.run(cfg)
        except Exception as exc:  # noqa: BLE001 - keep the other workloads' numbers
            got = [
                H.Result(
                    name,
                    "(workload)",
                    "-",
                    "-",
                    args.child,
                    status="failed",
                    note=f"{type(exc).__name__}: {exc}",
                )
            ]
        for r in got:
            if pin_note and r.status == "ok":
                r.note = "; ".join(x for x in (r.note, pin_note) if x)
        rows += got
        print(
            f"[threads={args.child}] {name} done in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    with open(args.child_out, "w", encoding="utf-8") as fh:
        json.dump([dataclasses.asdict(r) for r in rows], fh, default=H._json_default)


def ordered(rows: list[H.Result]) -> list[H.Result]:
    """Group a workload's rows by case (as first seen), then thread count, then contender."""
    case_pos: dict[tuple, int] = {}
    who_pos: dict[str, int] = {H.REFERENCE: 0}
    for r in rows:
        case_pos.setdefault((r.workload, r.size, r.dtype, r.metric), len(case_pos))
        who_pos.setdefault(r.contender, len(who_pos))
    return sorted(
        rows,
        key=lambda r: (
            case_pos[(r.workload, r.size, r.dtype, r.metric)],
            r.threads,
            who_pos[r.contender],
        ),
    )


def busy_note(when: str) -> str:
    """A warning when other processes were using the CPUs (the 1-minute load average)."""
    if not hasattr(os, "getloadavg"):
        return ""
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load < 0.5 * cpus:
        return ""
    return (
        f"warning: load average {load:.1f} on {cpus} CPUs {when} the run: other processes "
        "shared the CPUs, so times are inflated and noisy (ratios suffer less)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child is not None:
        child(args)
        return
    t0 = time.perf_counter()
    load_before = busy_note("before")
    env = {**H.SPIN_ENV, **os.environ}  # the user's own settings win
    rows: list[H.Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(args.threads):
            out = os.path.join(tmp, f"rows{n}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--child", str(n), "--child-out", out]
            cmd += ["--quick"] if args.quick else []
            cmd += ["--child-first"] if i == 0 else []
            cmd += ["--only", *args.only] if args.only else []
            proc = subprocess.run(cmd, check=False, env=env)
            if proc.returncode != 0 or not os.path.exists(out):
                print(f"threads={n}: child failed with exit code {proc.returncode}")
                continue
            with open(out, encoding="utf-8") as fh:
                rows += [H.Result(**d) for d in json.load(fh)]
    for name in args.only or WORKLOADS:
        mine = [r for r in rows if r.workload == name]
        if mine:
            H.print_table(f"{name}: {load(name).TITLE}", ordered(mine))
    seconds = time.perf_counter() - t0
    print(f"\ntotal {seconds:.0f} s; ratio = median / median of {H.REFERENCE} in the same case")
    load_after = busy_note("after")
    for note in (load_before, load_after):
        if note:
            print(note)
    if args.json:
        cfg = H.Config.make(args.quick, args.threads)
        H.write_json(args.json, rows, cfg, seconds, {"before": load_before, "after": load_after})
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

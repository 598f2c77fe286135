"""Shared machinery for the graphdl benchmarks: thread limits, fair timing, checks, tables.

Every workload module builds a list of :class:`Result` rows through the helpers here, so
that all contenders are timed the same way (interleaved rounds in one process, with the
same BLAS thread count) and a contender whose numbers disagree with the hand-written
NumPy reference is reported as WRONG instead of getting a (meaningless) time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

# Benchmark the graphdl of this checkout, not whatever copy may be installed elsewhere.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

REFERENCE = "numpy (hand-written)"

# Loose enough for a different summation order in BLAS, tight enough to catch a wrong gradient.
TOLERANCE: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (2e-4, 2e-5),
}


@dataclasses.dataclass
class Config:
    """Run-wide settings; ``quick`` trades statistical care for a run of a few minutes."""

    quick: bool = False
    threads: tuple[int, ...] = (1, 2)
    rounds: int = 25
    min_sample: float = 0.02  # seconds; each sample repeats the call until it lasts this long
    max_seconds_per_case: float = 20.0  # stop adding rounds to one case past this

    @classmethod
    def make(cls, quick: bool, threads: Sequence[int]) -> Config:
        if quick:
            return cls(True, tuple(threads), rounds=9, min_sample=0.005, max_seconds_per_case=4.0)
        return cls(False, tuple(threads))


@dataclasses.dataclass
class Result:
    """One row of a table. ``value`` is a time in seconds unless ``unit`` says otherwise."""

    workload: str
    contender: str
    dtype: str
    size: str
    threads: int
    status: str = "ok"  # ok | WRONG | skipped | failed
    metric: str = "time"
    unit: str = "s"
    value: float | None = None
    iqr: float | None = None
    ratio: float | None = None
    samples: int = 0
    note: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


# ----------------------------------------------------------------------------- peers


_MISSING: dict[str, str] = {}


def optional_import(name: str) -> Any | None:
    """Import a peer library, or return None and remember why (printed once per run)."""
    if name in _MISSING:
        return None
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - a broken install must not stop the other contenders
        _MISSING[name] = f"{type(exc).__name__}: {exc}"
        print(f"  note: {name} not available ({_MISSING[name]}); its contender is skipped")
        return None


def graphdl_or_note(required: Sequence[str]) -> tuple[Any | None, str]:
    """Return (graphdl module, "") or (None, reason) when it is missing or lacks an API."""
    gd = optional_import("graphdl")
    if gd is None:
        return None, f"graphdl not importable: {_MISSING.get('graphdl', '')}"
    lacking = [n for n in required if not hasattr(gd, n)]
    if lacking:
        return None, "graphdl lacks " + ", ".join(f"gd.{n}" for n in lacking)
    return gd, ""


def pytensor_note(fn: Any) -> str:
    """Which backend PyTensor's default mode picked (it changed across releases)."""
    linker = getattr(getattr(fn, "maker", None), "linker", None)
    return f"linker={type(linker).__name__}" if linker is not None else ""


def versions() -> dict[str, str]:
    """Versions of everything that may have been measured, for the JSON record.

    Read from package metadata, so the parent process need not import the peers.
    """
    from importlib import metadata

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("graphdl", "torch", "jax", "jaxlib", "pytensor", "sympy", "threadpoolctl"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            mod = sys.modules.get(name)
            if mod is not None:
                out[name] = str(getattr(mod, "__version__", "unknown"))
    return out


# ----------------------------------------------------------------------------- threads


@contextlib.contextmanager
def thread_limit(n: int) -> Iterator[str]:
    """Limit every BLAS/OpenMP pool in the process (and torch's own pool) to ``n`` threads.

    XLA's pool is out of threadpoolctl's reach; :func:`pin_to_cpus` limits it. Yields a
    note when the limit could not be applied.
    """
    notes = []
    torch = sys.modules.get("torch")
    old_torch = torch.get_num_threads() if torch is not None else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
        notes.append("threadpoolctl missing: BLAS threads not limited")
    try:
        ctx = threadpool_limits(limits=n) if threadpool_limits else contextlib.nullcontext()
        with ctx:
            if torch is not None:
                torch.set_num_threads(n)
            yield "; ".join(notes)
    finally:
        if torch is not None and old_torch is not None:
            torch.set_num_threads(old_torch)


# ----------------------------------------------------------------------------- checks


def allclose(ref: Any, got: Any, dtype: str) -> tuple[bool, str]:
    """Compare two (nested) sequences of arrays with the per-dtype tolerance.

    ``atol`` is scaled by the reference's largest magnitude, so tiny gradients of a large
    layer are not judged by an absolute bound meant for values of order one.
    """
    rtol, atol = TOLERANCE.get(dtype, TOLERANCE["float32"])
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    gots = list(got) if isinstance(got, (list, tuple)) else [got]
    if len(refs) != len(gots):
        return False, f"{len(gots)} outputs, expected {len(refs)}"
    for i, (r, g) in enumerate(zip(refs, gots)):
        r = np.asarray(r, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64)
        if r.shape != g.shape:
            try:
                g = np.broadcast_to(g, r.shape)
            except ValueError:
                return False, f"output {i}: shape {g.shape}, expected {r.shape}"
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        if not np.allclose(g, r, rtol=rtol, atol=atol * scale):
            err = float(np.max(np.abs(g - r)))
            return False, f"output {i}: max abs error {err:.3g}"
    return True, ""


# ----------------------------------------------------------------------------- timing


def _calibrate(fn: Callable[[], Any], min_sample: float) -> int:
    """How many calls make one sample last at least ``min_sample`` seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_sample or n >= 1 << 20:
            return n
        n = max(n * 2, int(n * min_sample / max(dt, 1e-9) * 1.2))


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    cfg: Config,
    reset: dict[str, Callable[[], None]] | None = None,
) -> dict[str, list[float]]:
    """Per-call times of each function, sampled round-robin so drift hits all alike.

    One round takes one sample of every contender in turn (starting at a different one each
    round). ``reset[name]`` runs before each sample, untimed, e.g. to restore weights.
    """
    reset = reset or {}
    names = list(fns)
    for name in names:  # warm up: caches, lazy compilation, allocator pools
        reset.get(name, _noop)()
        fns[name]()
    counts = {name: _calibrate(fns[name], cfg.min_sample) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    t_start = time.perf_counter()
    for r in range(cfg.rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            fn, n = fns[name], counts[name]
            reset.get(name, _noop)()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
        if r >= 4 and time.perf_counter() - t_start > cfg.max_seconds_per_case:
            break
    return samples


def _noop() -> None:
    return None


def summarize(samples: Sequence[float]) -> tuple[float, float]:
    """Median and inter-quartile range: robust to the odd slow round."""
    arr = np.asarray(samples, dtype=np.float64)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return float(med), float(q3 - q1)


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of a single call (for compile times, which cannot be repeated cheaply)."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def time_repeated(
    make: Callable[[], Any], seconds: float, max_repeats: int = 5
) -> tuple[list[float], Any]:
    """Repeat a one-shot job (a compile from scratch) while it fits in ``seconds``.

    Returns the wall times and the last result. The first try always runs.
    """
    times: list[float] = []
    out = None
    spent = 0.0
    while len(times) < max_repeats and (not times or spent + times[-1] <= seconds):
        dt, out = time_once(make)
        times.append(dt)
        spent += dt
    return times, out


class Budget(Exception):
    """Raised inside a call that ran past its time budget (see :func:`deadline`)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt pure-Python work (e.g. SymPy) after ``seconds`` with :class:`Budget`.

    Uses SIGALRM, so it works only in the main thread on POSIX; elsewhere it does nothing.
    """
    usable = hasattr(signal, "setitimer") and _in_main_thread()
    if not usable or seconds <= 0:
        if seconds <= 0:
            raise Budget()
        yield
        return

    def _fire(signum: int, frame: Any) -> None:
        raise Budget()

    old = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ----------------------------------------------------------------------------- cases


class Skip(Exception):
    """A contender cannot run here (not installed, or lacks an API); the message says why."""


@dataclasses.dataclass
class Contender:
    """One way of computing a case.

    ``run`` is what gets timed. ``check`` returns the outputs compared with the reference
    (None: not comparable, e.g. the GEMM-only floor). ``after_step`` returns the state after
    one timed call from a fresh ``reset`` (e.g. updated weights), compared too when given.
    """

    run: Callable[[], Any]
    check: Callable[[], Any] | None = None
    reset: Callable[[], None] | None = None
    after_step: Callable[[], Any] | None = None
    note: str = ""


def build_all(builders: dict[str, Callable[[], Contender]]) -> dict[str, Contender | str]:
    """Build every contender; a failed build becomes its reason string (printed in the table)."""
    built: dict[str, Contender | str] = {}
    for name, build in builders.items():
        try:
            built[name] = build()
        except Skip as exc:
            built[name] = f"skipped: {exc}"
        except Exception as exc:  # noqa: BLE001 - a peer's API change must not sink the whole run
            built[name] = f"failed: {type(exc).__name__}: {str(exc)[:160]}"
    return built


def verify(built: dict[str, Contender | str], dtype: str) -> dict[str, tuple[str, str]]:
    """Status per contender: ok, WRONG (disagrees with the reference), skipped or failed."""
    ref = built.get(REFERENCE)
    if not isinstance(ref, Contender) or ref.check is None:
        raise RuntimeError("the hand-written reference must build and be checkable")
    _reset(ref)
    ref_out = ref.check()
    ref_after = None
    if ref.after_step is not None:
        _reset(ref)
        ref.run()
        ref_after = ref.after_step()
    verdicts: dict[str, tuple[str, str]] = {}
    for name, c in built.items():
        if isinstance(c, str):
            status, why = c.split(": ", 1)
            verdicts[name] = (status, why)
            continue
        if c.check is None:
            verdicts[name] = ("ok", "; ".join(x for x in ("not checked", c.note) if x))
            continue
        try:
            _reset(c)
            ok, why = allclose(ref_out, c.check(), dtype)
            if ok and ref_after is not None and c.after_step is not None:
                _reset(c)
                c.run()
                ok, why = allclose(ref_after, c.after_step(), dtype)
                why = f"after one step: {why}" if why else ""
        except Exception as exc:  # noqa: BLE001 - reported as the contender's status
            verdicts[name] = ("failed", f"{type(exc).__name__}: {str(exc)[:160]}")
            continue
        verdicts[name] = ("ok", c.note) if ok else ("WRONG", why)
    return verdicts


def _reset(c: Contender) -> None:
    if c.reset is not None:
        c.reset()


def run_case(
    workload: str,
    dtype: str,
    size: str,
    builders: dict[str, Callable[[], Contender]],
    cfg: Config,
    metric: str = "time",
) -> list[Result]:
    """Build, check once, then time the contenders that agree, once per thread count."""
    built = build_all(builders)
    verdicts = verify(built, dtype)
    rows: list[Result] = []
    for n in cfg.threads:
        with thread_limit(n) as limit_note:
            live = {
                k: c
                for k, c in built.items()
                if isinstance(c, Contender) and verdicts[k][0] == "ok"
            }
            samples = time_interleaved(
                {k: c.run for k, c in live.items()},
                cfg,
                reset={k: c.reset for k, c in live.items() if c.reset is not None},
            )
        case_rows = timed_rows(workload, dtype, size, n, samples, verdicts, limit_note)
        for row in case_rows:
            row.metric = metric
        rows.extend(case_rows)
    return rows


# ----------------------------------------------------------------------------- rows


def timed_rows(
    workload: str,
    dtype: str,
    size: str,
    threads: int,
    samples: dict[str, list[float]],
    verdicts: dict[str, tuple[str, str]],
    note: str = "",
) -> list[Result]:
    """Rows for one case: timed contenders get median/IQR/ratio, others their verdict."""
    rows = []
    ref = summarize(samples[REFERENCE])[0] if REFERENCE in samples else None
    for name, (status, why) in verdicts.items():
        row = Result(workload, name, dtype, size, threads, status=status, note=why)
        if status == "ok" and name in samples:
            row.value, row.iqr = summarize(samples[name])
            row.samples = len(samples[name])
            row.ratio = row.value / ref if ref else None
        if note and status == "ok":
            row.note = "; ".join(x for x in (row.note, note) if x)
        rows.append(row)
    return rows


def fmt_value(value: float | None, unit: str) -> str:
    """Human units: times scaled to ns/us/ms/s, bytes to KiB/MiB, counts as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(value) >= scale or name == "ns":
                return f"{value / scale:.3g} {name}"
    if unit == "B":
        return f"{value / 2**20:.3g} MiB"
    if unit == "count":
        return f"{int(value)}"
    return f"{value:.3g} {unit}"


def print_table(title: str, rows: Sequence[Result]) -> None:
    """A fixed-width table; the ratio is to hand-written NumPy in the same case."""
    headers = ["contender", "dtype", "size", "threads", "metric", "median", "IQR", "ratio", "note"]
    body = []
    for r in rows:
        if r.status == "ok":
            med, iqr = fmt_value(r.value, r.unit), fmt_value(r.iqr, r.unit)
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        else:
            med, iqr, ratio = r.status, "-", "-"
        extra = ", ".join(f"{k}={v}" for k, v in r.extra.items())
        note = "; ".join(x for x in (extra, r.note) if x)
        body.append([r.contender, r.dtype, r.size, str(r.threads), r.metric, med, iqr, ratio, note])
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)
    ]
    widths[-1] = len(headers[-1])  # the note is free text, never padded
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip())
    sys.stdout.flush()


def write_json(
    path: str, rows: Sequence[Result], cfg: Config, seconds: float, load: dict | None = None
) -> None:
    """Machine-readable record: every row plus what it ran on."""
    doc = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": dataclasses.asdict(cfg),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
        },
        "versions": versions(),
        "wall_seconds": seconds,
        "load_warnings": load or {},
        "results": [dataclasses.asdict(r) for r in rows],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def pin_to_cpus(n: int) -> str:
    """Confine the whole process to ``n`` CPUs, before any peer library starts its pools.

    threadpoolctl reaches BLAS and OpenMP, but XLA sizes its own pool from the CPUs it may
    use; pinning is the one limit that binds every contender alike. Returns a note when
    ``n`` exceeds the CPUs available (then nothing is pinned).
    """
    getaff = getattr(os, "sched_getaffinity", None)
    if getaff is None:
        return "cannot pin CPUs on this OS: XLA's pool is not limited"
    cpus = sorted(getaff(0))
    if n > len(cpus):
        return f"{n} threads asked but only {len(cpus)} CPUs: oversubscribed"
    os.sched_setaffinity(0, set(cpus[:n]))
    return ""


# Idle BLAS/OpenMP workers spin for a long while by default (OpenBLAS ~2**28 cycles), and
# with contenders interleaved that spinning steals the cores of the next contender. These
# bound the spin to well under a millisecond; they must be set before the libraries load.
SPIN_ENV = {"OPENBLAS_THREAD_TIMEOUT": "20", "GOMP_SPINCOUNT": "100000"}

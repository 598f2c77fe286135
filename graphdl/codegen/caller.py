"""The call path of a compiled function, generated like the function itself.

A training step of a small model runs in tens of microseconds, so the Python around the generated
code matters: a generic ``__call__`` that loops over argument checkers, shared variables and
updates costs about 3 us, a tenth of a tiny MLP step. This module writes that path out for one
function, unrolled, as a person would: for each argument one ``if`` that accepts an array of the
right class, dtype, rank and static sizes; the shared values read from their boxes; the kernel
call; each update stored. Anything unusual (a list, another dtype, a wrong shape, a vectorized
call with extra axes) takes the generic path (``slow``), which converts, explains errors and
picks vectorized variants exactly as before; so the fast path never changes an answer, only how
soon a plain call gets there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphdl.errors import GraphError


def fast_caller(checkers: list[Any], run: Callable, shared_boxes: list[Any],
                update_boxes: list[Any], maybe_readonly: set[int] | frozenset[int], single: bool,
                slow: Callable[[tuple], Any], explain: Callable[[Exception, Callable], Exception],
                own: Callable[[Any], Any],
                vectorized: Callable[[], Callable] | None = None) -> Callable[..., Any]:
    """``call(*args)``: the generated fast path (``slow(args)`` for anything it does not
    accept; ``explain(exc, code)`` turns a failure inside ``code`` into the error to raise).

    With ``vectorized`` (when every input may take extra leading axes), a call whose arguments
    all have extra axes and one same shape runs the code ``vectorized()`` returns for that
    pattern (`Function`'s vectorized variant, which reuses buffers of that shape)."""
    namespace: dict[str, Any] = {"ndarray": np.ndarray, "run": run, "slow": slow,
                                 "explain": explain, "own": own, "GraphError": GraphError,
                                 "variant": [], "make_variant": vectorized}
    args = [f"a{i}" for i in range(len(checkers))]
    lines = ["def call(*args):", f"    if len(args) != {len(args)}:", "        return slow(args)"]
    if args:
        lines.append(f"    {', '.join(args)}{',' if len(args) == 1 else ''} = args")
    exact, grown = [], []
    for i, check in enumerate(checkers):
        namespace[f"dt{i}"] = check.dtype
        kind = [f"a{i}.__class__ is ndarray", f"a{i}.dtype == dt{i}"]
        exact += kind + [f"a{i}.ndim == {check.ndim}"]
        exact += [f"a{i}.shape[{axis}] == {size}" for axis, size in check.static]
        grown += kind + [f"a{i}.ndim > {check.ndim}", f"a{i}.shape == a0.shape"]
        grown += [f"a{i}.shape[{axis - check.ndim}] == {size}" for axis, size in check.static]
    lines += [f"    if {' and '.join(exact) or 'True'}:", "        code = run"]
    if vectorized is not None and args:
        lines += [f"    elif {' and '.join(grown)}:",
                  "        code = variant[0] if variant else make_variant()",
                  "        if not variant:", "            variant.append(code)"]
    lines += ["    else:", "        return slow(args)"]
    for j, box in enumerate(shared_boxes):
        namespace[f"b{j}"] = box
    params = args + [f"b{j}.value" for j in range(len(shared_boxes))]
    lines += ["    try:", f"        outputs, state = code({', '.join(params)})",
              "    except GraphError:", "        raise",
              "    except Exception as exc:", "        raise explain(exc, code) from None"]
    for k, box in enumerate(update_boxes):
        namespace[f"u{k}"] = box
        lines += [f"    new = state[{k}]", f"    if new is not u{k}.value:",
                  f"        u{k}.value = own(new)"]
    if maybe_readonly:
        lines.append("    outputs = list(outputs)")
        for i in sorted(maybe_readonly):
            lines += [f"    out = outputs[{i}]",
                      "    if out.__class__ is ndarray and not out.flags.writeable:",
                      f"        outputs[{i}] = out.copy()"]
    lines.append("    return outputs[0]" if single else "    return list(outputs)")
    exec(compile("\n".join(lines) + "\n", "<graphdl call path>", "exec"), namespace)  # noqa: S102
    return namespace["call"]

"""The call path of a compiled function, generated like the function itself.

A training step of a small model runs in tens of microseconds, so the Python around the generated
code matters: a generic ``__call__`` that loops over argument checkers, shared variables and
updates costs about 3 us, a tenth of a tiny MLP step. This module writes that path out for one
function, unrolled, as a person would: for each argument one ``if`` that accepts an array of the
right class, dtype, rank and static sizes; the shared values read from their boxes; the kernel
call; each update stored. Anything unusual (a list, another dtype, a wrong shape, a vectorized
call with extra axes) takes the generic path (``slow``), which converts, explains errors and
picks vectorized variants exactly as before; so the fast path never changes an answer, only how
soon a plain call gets there. Arguments of unknown size have their shapes checked against the
graph (`graphdl.codegen.sizes`) once per pattern of shapes, before the code runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphdl.errors import GraphError


@dataclass
class CallSpec:
    """What the call path of one compiled function must do."""

    checkers: list[Any]  # the arguments' checks (dtype, ndim, static sizes)
    run: Callable  # the generated code (or numba kernel)
    shared_boxes: list[Any]  # boxes whose values are passed after the arguments
    update_boxes: list[Any]  # boxes receiving the returned state, in order
    maybe_readonly: frozenset[int]  # outputs that may be read-only views (copied when they are)
    single: bool  # one output, returned bare
    slow: Callable[[tuple], Any]  # the generic path, for anything unusual
    explain: Callable[[Exception, Callable, tuple], Exception]  # (exc, code, values) -> error
    own: Callable[[Any, Any], Any]  # (new state value, its box) -> the value to store
    vectorized: Callable[[], Callable] | None = None  # code for same-shape vectorized calls
    scalars: frozenset[int] = frozenset()  # parameters passed as scalars (numba kernels)
    outputs_0d: tuple[tuple[int, type], ...] = ()  # outputs converted to NumPy scalars
    zero_strides: bool = False  # copy outputs with a 0 stride too (numba's broadcasts)
    sizes: Any = None  # `graphdl.codegen.sizes.SizeCheck` of the arguments of unknown size
    copies: frozenset[int] = frozenset()  # outputs always copied (they may alias state)
    indices: Any = None  # `graphdl.codegen.indices.IndexCheck` of arguments used as indices


def fast_caller(spec: CallSpec) -> Callable[..., Any]:
    """``call(*args)``: the generated fast path (``spec.slow(args)`` for anything it does not
    accept). With ``spec.vectorized`` (when every input may take extra leading axes), a call
    whose arguments all have extra axes and one same shape runs the code it returns for that
    pattern (`Function`'s vectorized variant, which reuses buffers of that shape)."""
    namespace: dict[str, Any] = {"ndarray": np.ndarray, "run": spec.run, "slow": spec.slow,
                                 "explain": spec.explain, "own": spec.own,
                                 "GraphError": GraphError, "variant": [],
                                 "make_variant": spec.vectorized}
    args = [f"a{i}" for i in range(len(spec.checkers))]
    lines = ["def call(*args):", f"    if len(args) != {len(args)}:", "        return slow(args)"]
    if args:
        lines.append(f"    {', '.join(args)}{',' if len(args) == 1 else ''} = args")
    exact, grown = [], []
    for i, check in enumerate(spec.checkers):
        namespace[f"dt{i}"] = check.dtype
        kind = [f"a{i}.__class__ is ndarray", f"a{i}.dtype == dt{i}"]
        exact += kind + [f"a{i}.ndim == {check.ndim}"]
        exact += [f"a{i}.shape[{axis}] == {size}" for axis, size in check.static]
        grown += kind + [f"a{i}.ndim > {check.ndim}", f"a{i}.shape == a0.shape"]
        grown += [f"a{i}.shape[{axis - check.ndim}] == {size}" for axis, size in check.static]
    lines += [f"    if {' and '.join(exact) or 'True'}:", "        code = run"]
    if spec.vectorized is not None and args:
        lines += [f"    elif {' and '.join(grown)}:",
                  "        code = variant[0] if variant else make_variant()",
                  "        if not variant:", "            variant.append(code)"]
    lines += ["    else:", "        return slow(args)"]
    if spec.indices is not None:  # labels and indices in range (the check explains a failure)
        namespace["indices"] = spec.indices
        for i, low, high, _node, _label in spec.indices.ranges:
            unsigned = spec.indices.unsigned.get(i)
            if unsigned is not None:  # one pass: negative labels read as huge unsigned values
                namespace[f"u{i}_dtype"] = unsigned
                bad = f"a{i}.view(u{i}_dtype).max() >= {high}"
            else:
                bad = f"(a{i}.min() < {low} or a{i}.max() >= {high})"
            lines += [f"    if a{i}.size and {bad}:", "        indices(args)"]
    if spec.sizes is not None:  # run-time sizes, checked once per pattern of argument shapes
        namespace["sizes"], namespace["seen"] = spec.sizes, spec.sizes.seen
        key = "".join(f"a{i}.shape, " for i in spec.sizes.positions)
        lines += [f"    key = ({key})", "    if key not in seen:", "        sizes(key)"]
    for j, box in enumerate(spec.shared_boxes):
        namespace[f"b{j}"] = box
    values = args + [f"b{j}.value" for j in range(len(spec.shared_boxes))]
    params = [v + "[()]" if i in spec.scalars else v for i, v in enumerate(values)]
    lines += ["    try:", f"        outputs, state = code({', '.join(params)})",
              "    except GraphError:", "        raise",
              "    except Exception as exc:",
              f"        raise explain(exc, code, ({', '.join(values)}{',' * (len(values) == 1)}))"
              " from None"]
    for k, box in enumerate(spec.update_boxes):
        namespace[f"u{k}"] = box
        lines += [f"    new = state[{k}]", f"    if new is not u{k}.value:",
                  f"        u{k}.value = own(new, u{k})"]
    if spec.maybe_readonly or spec.outputs_0d or spec.copies:
        lines.append("    outputs = list(outputs)")
    for i, kind in spec.outputs_0d:
        namespace[f"kind{i}"] = kind
        lines.append(f"    outputs[{i}] = kind{i}(outputs[{i}])")
    copy_when = "not out.flags.writeable" + (" or 0 in out.strides" if spec.zero_strides else "")
    for i in sorted(spec.maybe_readonly):
        lines += [f"    out = outputs[{i}]",
                  f"    if out.__class__ is ndarray and ({copy_when}):",
                  f"        outputs[{i}] = out.copy()"]
    for i in sorted(spec.copies):
        lines += [f"    out = outputs[{i}]", "    if out.__class__ is ndarray:",
                  f"        outputs[{i}] = out.copy()"]
    lines.append("    return outputs[0]" if spec.single else "    return list(outputs)")
    exec(compile("\n".join(lines) + "\n", "<graphdl call path>", "exec"), namespace)  # noqa: S102
    return namespace["call"]

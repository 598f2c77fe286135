"""The numba backend: the whole graph as one ``numba.njit`` kernel (``gd.function(...,
backend="numba")``).

At small sizes a NumPy training step is ~30 library calls, and their Python overhead, not the
arithmetic, is most of its time. Compiled to one kernel a call is one dispatch. The statements are
the NumPy emitter's (same schedule, names, buffer reuse and comments; `emitter.Dialect` is the
hook), except that single-use elementwise chains are inlined into one statement, which numba
compiles into one loop (`emitter.plan_fusion`); each op's right-hand side may differ, and those
differences live here, registered against the `Op` object (``@lowers(OP)``), like PyTensor's
``numba_funcify`` dispatch: an op's
own definition stays the reference NumPy, and a backend that cannot run it says so here rather
than in every op module.

numba's nopython mode differs from NumPy in ways the lowerings work around:
- no ``ufunc.reduce``, ``keepdims=``, ``out=`` keywords, ``np.take_along_axis`` or ``del``;
  reductions and the softmax family move their axis last and run loops from
  `graphdl.codegen.numba_kernels` over a ``(rows, k)`` view; ufunc outputs are positional;
- scalar typing: a Python float literal or a float64 scalar turns float32 arrays into float64.
  0-d values are therefore numba scalars (never 0-d arrays), and every 0-d operand of an
  elementwise op is cast to the dtype the op computes in (``np.float32(0.5) * x``), so float32
  graphs stay float32 end to end, as NumPy 2's weak scalars do.

Buffer reuse (`graphdl.codegen.inplace`) applies unchanged: ufuncs take their output positionally,
so a dead temporary is reused and a step writes ``W - lr * g`` into ``W``'s own array as the NumPy
code does. Kernels are typed and compiled at their first call (`compile_kernel`), from a cache
shared across processes when possible. The lowerings of ops with axes and of shape ops are in
`graphdl.codegen.numba_lowerings`. An op the backend cannot lower raises `NumbaLoweringError`
when the function is compiled.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphdl.codegen.emitter import literal
from graphdl.errors import GraphError
from graphdl.ir.node import Node
from graphdl.ops import elementwise as ew
from graphdl.ops import indexing, shape_ops
from graphdl.ops.leaves import CONSTANT
from graphdl.ops.registry import Op

INSTALL_HINT = "pip install graphdl[numba]"


class NumbaUnavailable(GraphError, ImportError):
    """backend="numba" was asked for but numba (or the SciPy its np.dot needs) is missing."""


class NumbaLoweringError(GraphError, NotImplementedError):
    """An op (or an op with these operands) that the numba backend cannot lower."""


def require_numba() -> Any:
    """The numba module, or `NumbaUnavailable` saying how to install it."""
    try:
        import numba

        _load_scipy_blas()  # numba's np.dot / @ call SciPy's BLAS
    except ImportError as exc:
        raise NumbaUnavailable(f"backend='numba' needs numba and SciPy ({exc}); install them "
                               f"with `{INSTALL_HINT}`, or use backend='numpy'") from exc
    return numba


def _load_scipy_blas() -> None:
    """Import SciPy's BLAS with the thread count NumPy's BLAS has now.

    It is a second BLAS library, loaded when a process compiles its first numba function. A
    limit put on BLAS threads before that (``threadpoolctl.threadpool_limits(1)`` around the
    training, as ``graphdl train --threads 1`` and ``benchmarks/train_step.py`` do) reaches
    only NumPy's copy: the kernel's matrix products ran on every core while the NumPy backend's
    ran on one, and on a busy 2-core machine the 784-512-512-10 Adam step took 123 ms instead
    of 27 ms. Done only when threadpoolctl is in use (imported) and SciPy is loaded here; the
    limit outlives the caller's ``with`` block, which never knew about this library.
    """
    if "scipy.linalg" in sys.modules or "threadpoolctl" not in sys.modules:
        import scipy.linalg  # noqa: F401
        return
    threadpoolctl = sys.modules["threadpoolctl"]
    before = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    import scipy.linalg  # noqa: F401
    if not before:
        return
    known = {lib.filepath for lib in before}
    after = threadpoolctl.ThreadpoolController().select(user_api="blas")
    new = [lib.filepath for lib in after.lib_controllers if lib.filepath not in known]
    if new:
        after.select(filepath=new).limit(limits=min(lib.num_threads for lib in before))


def unsupported(node: Node, why: str) -> NumbaLoweringError:
    return NumbaLoweringError(
        f"backend='numba' cannot compile {node.op.name} node {node.label()} (created at "
        f"{node.origin}): {why}; compile this function with backend='numpy'")


def np_type(dtype: np.dtype) -> str:
    """The NumPy scalar type as code numba accepts (``np.bool_``, not ``np.bool``)."""
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


Lowering = Callable[[Node, list[str], dict[str, Any], str], str]
LOWERINGS: dict[Op, Lowering] = {}  # op -> right-hand side of the op's statement


def lowers(*ops: Op) -> Callable[[Lowering], Lowering]:
    """Register ``fn`` as the numba lowering of ``ops`` (`Op` objects, never names)."""

    def register(fn: Lowering) -> Lowering:
        for op in ops:
            LOWERINGS[op] = fn
        return fn

    return register


# --- elementwise: 0-d operands cast to the dtype the op computes in ----------------------------
def _weak(node: Node) -> bool:
    return node.op is CONSTANT and bool(node.attrs.get("weak"))


def operands(node: Node, args: Sequence[str]) -> list[str]:
    """``args`` with each 0-d operand cast to the op's computing dtype (see module docstring)."""
    target = node.dtype
    if target.kind == "b":  # comparisons: the operands' common dtype, weak numbers following
        strong = [p.dtype for p in node.inputs if not _weak(p)]
        target = np.result_type(*strong) if strong else None
    if target is None or target.kind not in "iuf":
        return list(args)
    first = 1 if node.op is ew.WHERE else 0  # where's condition stays boolean
    return [f"{np_type(target)}({a})" if i >= first and p.ndim == 0 and p.dtype != target else a
            for i, (p, a) in enumerate(zip(node.inputs, args))]


_ELEMENTWISE_TEMPLATES = {  # templates with literals in them, the literals typed
    ew.RECIPROCAL: "{t}(1) / {0}",
    ew.SIGMOID: "np.exp(np.minimum({0}, {t}(0))) / ({t}(1) + np.exp(-np.abs({0})))",
    ew.SOFTPLUS: "np.logaddexp({t}(0), {0})",
    ew.RELU: "np.maximum({0}, {t}(0))",
}
_INTO_TEMPLATES = {ew.RECIPROCAL: "np.divide({t}(1), {0}, {out})",
                   ew.RELU: "np.maximum({0}, {t}(0), {out})"}


def elementwise(node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
    cast = operands(node, args)
    op, t = node.op, np_type(node.dtype)
    if op is ew.CAST:
        return f"{t}({args[0]})" if node.inputs[0].ndim == 0 else f"{args[0]}.astype({t})"
    if op in _ELEMENTWISE_TEMPLATES:
        return _ELEMENTWISE_TEMPLATES[op].format(*cast, t=t)
    if node.ndim == 0 and op is ew.WHERE:  # np.where of scalars gives a 0-d array
        return f"({cast[1]} if {cast[0]} else {cast[2]})"
    if node.ndim == 0 and op is ew.CLIP:
        return f"np.minimum(np.maximum({cast[0]}, {cast[1]}), {cast[2]})"
    return node.op.emit_expr(cast, attrs)


def elementwise_into(node: Node, args: list[str], out: str) -> str:
    cast = operands(node, args)
    template = _INTO_TEMPLATES.get(node.op)
    if template is not None:
        return template.format(*cast, t=np_type(node.dtype), out=out)
    return node.op.inplace.replace(", out={out})", ", {out})").format(*cast, out=out)


# --- the dialect the emitter uses ---------------------------------------------------------------
_NOT_NOPYTHON = ("_rt.", ".reduce(", "keepdims=", "out=", "take_along_axis", "np.s_[")


class NumbaDialect:
    """`emitter.Dialect` for numba kernels: lowerings from `LOWERINGS`, elementwise ops through
    `operands`, other ops through their NumPy emission when numba's nopython mode reads it.

    With ``fuses`` (the default) a chain of single-use elementwise nodes is one statement
    (`emitter.plan_fusion`), which numba compiles into one loop over memory instead of one per
    node: ``fuses=False`` gives the NumPy backend's one statement per node."""

    deletes = False  # numba frees dead temporaries itself, and nopython mode has no ``del``

    def __init__(self, fuses: bool = True) -> None:
        from graphdl.codegen import numba_kernels, numba_lowerings  # noqa: F401 - registers

        self.namespace = {"_nb": numba_kernels}
        self.fuses = fuses

    def constant(self, node: Node, render: Any) -> str:
        value = node.attrs["value"]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]  # 0-d values are scalars in kernels
        if isinstance(value, np.ndarray):
            return str(render(value))  # a global array: numba freezes it into the kernel
        if isinstance(value, (bool, np.bool_)):
            return repr(bool(value))
        return literal(value)

    def expression(self, node: Node, args: list[str], attrs: dict[str, Any], var: str) -> str:
        lowering = LOWERINGS.get(node.op)
        if lowering is not None:
            return lowering(node, args, attrs, var)
        if node.op.elementwise:
            return elementwise(node, args, attrs, var)
        code = node.op.emit_expr(args, attrs)
        if any(part in code for part in _NOT_NOPYTHON):
            raise unsupported(node, f"its NumPy code `{code}` does not run in numba's nopython "
                                    "mode and the numba backend has no lowering for it")
        return code

    def into(self, node: Node, args: list[str], out: str) -> str:
        return elementwise_into(node, args, out)


# --- compiling, with machine code cached across processes ---------------------------------------
def cache_dir() -> Path | None:
    """Where kernels are cached: ``$GRAPHDL_CACHE/numba`` (``~/.cache/graphdl/numba`` by
    default); None when ``GRAPHDL_CACHE`` is ``off``, ``0`` or empty."""
    root = os.environ.get("GRAPHDL_CACHE", str(Path.home() / ".cache" / "graphdl"))
    return None if root.strip().lower() in ("", "0", "off") else Path(root) / "numba"


def _cache_key(emitted: Any, numba: Any, boundscheck: bool) -> str:
    """The kernel's source, its constants, the helpers it calls, its compile flags and the
    library versions: what the cached machine code depends on (numba freezes global arrays
    into it; its own cache index does not tell bounds-checked code from unchecked)."""
    from graphdl.codegen import numba_kernels

    digest = hashlib.sha256(emitted.source.encode())
    digest.update(f"boundscheck={boundscheck}".encode())
    for name, value in sorted(emitted.namespace.items()):
        if isinstance(value, np.ndarray):
            digest.update(f"{name}{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    digest.update(Path(numba_kernels.__file__).read_bytes())
    digest.update(f"{numba.__version__} {np.__version__} {sys.version}".encode())
    return digest.hexdigest()[:32]


def _from_cache_file(emitted: Any, numba: Any, boundscheck: bool) -> Any | None:
    """The kernel defined in ``<cache>/<key>.py`` (written once, never rewritten) and jitted
    with ``cache=True``, so a later process loads its machine code instead of compiling.
    None when there is no usable cache directory."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{_cache_key(emitted, numba, boundscheck)}.py"
        if not path.exists():
            with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp",
                                             delete=False) as tmp:
                tmp.write(emitted.source)
            os.replace(tmp.name, path)  # atomic: a concurrent writer wrote the same text
        spec = importlib.util.spec_from_file_location(f"graphdl_kernel_{path.stem}", path)
        module = sys.modules.get(spec.name)
        if module is None:  # numba's cache looks the kernel's module up by name
            module = importlib.util.module_from_spec(spec)
            module.__dict__.update(emitted.namespace)  # np, _nb, hoisted constants
            spec.loader.exec_module(module)
            sys.modules[spec.name] = module
    except OSError:
        return None
    return numba.njit(cache=True, boundscheck=boundscheck)(
        getattr(module, emitted.function_name))


def compile_kernel(emitted: Any, python_function: Any) -> Any:
    """``python_function`` (the kernel's source executed) as a numba dispatcher, typed and
    compiled lazily at the first call, from the cross-process cache when it is usable."""
    numba = require_numba()
    checked = needs_boundscheck(emitted)
    cached = _from_cache_file(emitted, numba, checked)
    return cached if cached is not None else numba.njit(boundscheck=checked)(python_function)


def needs_boundscheck(emitted: Any) -> bool:
    """Whether the kernel's own statements index arrays with numbers or index arrays (``a[3]``,
    ``x[:, idx]``, squeezing an axis of unknown size), where an index past an unknown size must
    raise rather than read memory. Only such kernels get numba's bounds checks, which cost the
    784-512-512-10 Adam step (no such index) 4%; slices clip, and the `_nb` helpers check the
    indices they are given themselves."""
    for node in emitted.line_nodes.values():
        op = node.op
        if op is indexing.TAKE:
            return True
        if op in (indexing.GETITEM, indexing.INDEX_ADJOINT) and any(
                not isinstance(e, (str, tuple)) for e in node.attrs["index"]):
            return True  # entries are "newaxis", ("slice", start, stop, step) or numbers
        if op is shape_ops.SQUEEZE and any(node.inputs[0].shape[a] is None
                                     for a in node.attrs["axis"]):
            return True
    return False

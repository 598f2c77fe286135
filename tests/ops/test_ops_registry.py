"""Ops are declared whole (issue 14): one constructor call, frozen afterwards, and the facts other
layers need (views for the scheduler, batching, ...) read from the op object, never from a list
of op names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import graphdl as gd
from graphdl.ops import indexing, reductions, shape_ops
from graphdl.ops.elementwise import elementwise_op
from graphdl.ops.registry import REGISTRY, Op, apply
from graphdl.rewriting.schedule import nbytes, schedule


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_is_frozen(name: str) -> None:
    op = REGISTRY[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.batch = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.view = not op.view


def test_allocates_defaults_to_not_view_and_linear_is_checked() -> None:
    try:
        copy = Op("test_copy", infer=lambda i, a: (i[0].shape, i[0].dtype), emit="{0}.copy()")
        alias = Op("test_alias", infer=lambda i, a: (i[0].shape, i[0].dtype), emit="{0}",
                   view=True)
        assert copy.allocates is True and alias.allocates is False
        with pytest.raises(ValueError, match="linear must be 'all', 'one' or 'first', got 'two'"):
            Op("test_bad_linear", infer=copy.infer, emit="{0}", linear="two")
    finally:
        for name in ("test_copy", "test_alias", "test_bad_linear"):
            REGISTRY.pop(name, None)


def test_the_scheduler_reads_views_from_the_ops() -> None:
    """The memory model's views are the ops declaring ``allocates=False``. Decided per op:
    reshape_like and concat_piece return NumPy views (free, as reshape is); sum_to may return
    its operand but usually sums into a new array, so it counts as allocating."""
    x = gd.matrix("x", (4, 3))  # 96 bytes
    ref = gd.vector("ref", 12)
    like = apply(shape_ops.RESHAPE_LIKE, x, ref)
    piece = apply(shape_ops.CONCAT_PIECE, x, x, x, axis=0, index=1)
    summed = apply(reductions.SUM_TO, x, gd.vector("r", 3))
    assert (nbytes(like), nbytes(piece), nbytes(summed)) == (0, 0, 24)
    assert nbytes(gd.reshape(x, (12,))) == 0 and nbytes(gd.exp(x)) == 96
    views = {op.name for op in REGISTRY.values() if not op.allocates}
    assert {"reshape", "reshape_like", "transpose", "getitem", "broadcast_to", "broadcast_like",
            "expand_dims", "squeeze", "stop_gradient", "concat_piece", "part"} == views
    assert indexing.GETITEM.view and reductions.SUM_TO.view and reductions.SUM_TO.allocates
    # a view is scheduled just before its first reader, whatever op it is
    y = gd.exp(x)
    order = schedule([gd.sum(apply(shape_ops.RESHAPE_LIKE, y, ref)) + gd.sum(gd.log(x))])
    names = [n.op.name for n in order if n.inputs]
    assert names.index("reshape_like") == names.index("sum") - 1


def test_an_elementwise_op_defined_outside_the_library_batches() -> None:
    """The factory fills the batching rule: a new op works under vmap at once (it used to get
    its rule only if defined inside graphdl/ops/elementwise.py)."""
    cube = elementwise_op("test_cube", "{0} ** 3", np.positive,
                          partials=lambda node, i: 3 * gd.square(node.inputs[0]),
                          sympy=lambda sp, a, at: a[0] ** 3, inplace=None)
    try:
        x = gd.vector("x", 2)
        xs = gd.matrix("xs", (3, 2))
        out = gd.vmap(apply(cube, x), {x: xs})
        values = np.arange(6.0).reshape(3, 2)
        np.testing.assert_allclose(gd.function([xs], out)(values), values ** 3)
        assert cube.batch is not None and cube.inplace is None
    finally:
        del REGISTRY["test_cube"]


def test_inplace_true_writes_with_the_ufunc() -> None:
    assert gd.ops.elementwise.ADD.inplace == "np.add({0}, {1}, out={out})"
    assert gd.ops.elementwise.ABS.inplace == "np.absolute({0}, out={out})"
    assert gd.ops.elementwise.DIVIDE.inplace == "np.divide({0}, {1}, out={out})"
    assert gd.ops.elementwise.SIGMOID.inplace is None  # its ufunc only gives the dtype rule


def test_notation_is_the_ops_own() -> None:
    """Traces and drawings read ``Op.notation``; no table keyed by op name in viz."""
    from graphdl.viz import formulas

    assert not hasattr(formulas, "FORMS")
    x, y = gd.scalar("x"), gd.scalar("y")
    assert formulas.primal_formula(gd.log(x), ["v_0"]) == "ln v_0"
    assert formulas.tangent_formula(x * y, ["ẋ", "ẏ"], ["x", "y"], "v") == "ẋ × y + ẏ × x"
    m = gd.matmul(gd.matrix("A", (2, 2)), gd.matrix("B", (2, 2)))
    assert gd.ops.linalg.MATMUL.notation.bilinear
    assert formulas.tangent_formula(m, ["Ȧ", "Ḃ"], ["A", "B"], "v") == "Ȧ @ B + A @ Ḃ"


def test_value_commutative_ops_merge_in_cse() -> None:
    """CSE reads ``Op.commutative`` alone (it kept its own list of names before)."""
    from graphdl.rewriting.cse import node_key

    a, b = gd.vector("a", 2), gd.vector("b", 2)
    for build in (gd.maximum, gd.minimum, gd.equal, gd.not_equal, gd.add):
        assert node_key(build(a, b), (a, b)) == node_key(build(b, a), (b, a)), build.__name__
    assert node_key(gd.subtract(a, b), (a, b)) != node_key(gd.subtract(b, a), (b, a))


def test_numba_lowerings_are_registered_against_ops_and_refusals_name_the_op() -> None:
    pytest.importorskip("numba")
    from graphdl.codegen import numba_lowerings  # noqa: F401  (registers the lowerings)
    from graphdl.codegen.numba_backend import LOWERINGS, NumbaLoweringError

    assert all(isinstance(op, Op) for op in LOWERINGS)
    assert reductions.SUM in LOWERINGS and shape_ops.RESHAPE in LOWERINGS
    helper = Op("test_rt_helper", infer=lambda i, a: (i[0].shape, i[0].dtype),
                emit="_rt.softmax({0}, axis=-1)")
    try:
        x = gd.vector("x", 3)
        with pytest.raises(NumbaLoweringError,
                           match=r"backend='numba' cannot compile test_rt_helper node "
                                 r"test_rt_helper#\d+ .*no lowering for it"):
            gd.function([x], apply(helper, x), backend="numba")
    finally:
        del REGISTRY["test_rt_helper"]


def test_one_evaluator_serves_folding_and_dual_numbers() -> None:
    """`graphdl.ops.evaluate` computes a node as the compiled code does (the op's emission, or its
    kernel: relu keeps nan and sends -inf to 0 like np.maximum), and dual numbers go through it
    (relu'(0) = 0, casts keep the tangent)."""
    from graphdl.ops.evaluate import evaluate

    x = gd.vector("x", 4)
    values = np.array([-np.inf, -1.0, 0.0, np.nan])
    for node in (gd.relu(x), gd.softmax(x), gd.cast(x, "float32"), x * 2.0):
        expected = gd.function([x], node, optimize=False)(values)
        got = np.asarray(evaluate(node, [values, 2.0][:len(node.inputs)]))
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
    c = gd.constant(3.0)
    assert evaluate(c, []) == 3.0
    with pytest.raises(ValueError, match="input x has no value of its own"):
        evaluate(x, [])
    s = gd.scalar("s")
    assert gd.eval_dual(gd.relu(s), {s: gd.Dual(0.0, 1.0)}).tangent == 0.0
    assert gd.eval_dual(gd.relu(s), {s: gd.Dual(2.0, 1.0)}).tangent == 1.0
    half = gd.eval_dual(gd.cast(s * s, "float32"), {s: gd.Dual(3.0, 1.0)})
    assert (half.primal, half.tangent) == (9.0, 6.0) and half.tangent.dtype == np.float32


def test_constant_folding_uses_the_evaluator() -> None:
    from graphdl.rewriting.fold import fold_constants

    folded = fold_constants(gd.relu(gd.constant(np.array([-2.0, 0.5, np.nan]))))
    np.testing.assert_array_equal(folded.attrs["value"], [0.0, 0.5, np.nan])
    grown = gd.broadcast_to(gd.constant(1.0), (3, 3))
    assert fold_constants(grown) is None  # a broadcast stays a free view
    assert fold_constants(gd.reshape(gd.constant(np.arange(4.0)), (2, 2))) is not None


def test_the_op_modules_import_each_other_as_a_dag() -> None:
    """Module-level imports inside graphdl/ops have no cycle (elementwise, reductions and
    shape_ops used to import each other); rules reaching a family above import it when run."""
    import ast
    from graphlib import CycleError, TopologicalSorter
    from pathlib import Path

    root = Path(gd.ops.__file__).parent
    modules = {p.stem for p in root.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        found: set[str] = set()
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module == "graphdl.ops":
                found |= {a.name for a in node.names}
            elif node.module.startswith("graphdl.ops."):
                found.add(node.module.split(".")[2])
        graph[name] = (found & modules) - {name}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - the failure message
        raise AssertionError(f"import cycle in graphdl/ops: {exc.args[1]}") from exc
    assert order.index("shape_ops") < order.index("elementwise") < order.index("reductions")


def test_numpy_emission_is_a_dialect_of_the_one_emission_loop() -> None:
    """`emit_function` has no NumPy special case: the default is `NumpyDialect`, and passing it
    explicitly writes the same source (scalar literals inline, arrays hoisted, dels kept)."""
    import inspect

    from graphdl.codegen import emitter

    assert "dialect is None" not in inspect.getsource(emitter.emit_function).replace(
        "dialect = NUMPY if dialect is None else dialect", "")
    x = gd.vector("x", 3)
    w = gd.shared(np.array([1.0, 2.0, 3.0]), "w")
    y = gd.sum(gd.exp(x * np.array([0.5, 1.0, 2.0])) * w + 2.0)
    from graphdl.ir.walk import toposort

    order = toposort([y])
    default = emitter.emit_function("f", [x, w], order, [y], [])
    explicit = emitter.emit_function("f", [x, w], order, [y], [], dialect=emitter.NumpyDialect())
    assert default.source == explicit.source
    assert "_k0" in default.source and "del " in default.source and "2.0" in default.source
    namespace = dict(default.namespace)
    exec(default.source, namespace)  # noqa: S102 - our own generated code
    (value,), _ = namespace["f"](np.ones(3), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(value, np.sum(np.exp([0.5, 1.0, 2.0]) * [1.0, 2.0, 3.0] + 2.0))


def test_shape_only_operands_are_declared_by_the_ops() -> None:
    """The optimizer replaces an operand read only for its shape by the earliest node of that
    shape; which operands those are is each op's ``shape_only`` (specialize kept a name table)."""
    from graphdl.rewriting.specialize import SHAPE_ONLY, shape_only_operand

    assert set(SHAPE_ONLY) == {"broadcast_like", "sum_to", "reshape_like", "zeros_like",
                               "axis_size", "take_along_adjoint", "take_adjoint", "index_adjoint"}
    x = gd.vector("x")
    z = apply(shape_ops.ZEROS_LIKE, gd.exp(x) * 2.0, dtype="float64")
    replaced = shape_only_operand(z)
    assert replaced is not None and replaced.inputs[0] is x

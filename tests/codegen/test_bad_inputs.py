"""Bad arguments to a compiled training step, one table row each: the error's class and that its
message names the input at fault (and what was expected), on both backends, and that nothing was
updated. NaN and inf in float data are values like any other (as in NumPy); they are refused only
where an integer is expected (class labels)."""

from __future__ import annotations

import numpy as np
import pytest

import graphdl as gd
from graphdl.errors import GraphRuntimeError, InputError
from graphdl.nn import losses


def _backends():
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "numba"]


_STEPS: dict[str, tuple] = {}


def _step(backend: str):
    """A softmax-regression SGD step over X f64[?,3] and labels y i64[?] (one per backend)."""
    if backend not in _STEPS:
        X = gd.matrix("X", (None, 3))
        y = gd.vector("y", dtype="int64")
        W = gd.shared(np.linspace(-1.0, 1.0, 12).reshape(3, 4), name="W")
        loss = losses.softmax_cross_entropy(X @ W, y)
        (g,) = gd.grad(loss, [W])
        _STEPS[backend] = (W, gd.function([X, y], loss, updates={W: W - 0.1 * g},
                                          name="step", backend=backend))
    return _STEPS[backend]


X_OK = np.ones((2, 3))
Y_OK = np.array([0, 3])

# (case, positional arguments, keyword arguments, error class, message pattern)
TABLE = [
    ("rank", (np.ones(3), Y_OK), {}, InputError,
     r"input X: expected shape \(\?, 3\) \(rank 2\), received shape \(3,\) \(rank 1\)"),
    ("static size", (np.ones((2, 4)), Y_OK), {}, InputError,
     r"input X: expected shape \(\?, 3\), received \(2, 4\) \(axis 1 should be 3\)"),
    ("batch sizes disagree", (X_OK, np.array([0, 1, 2])), {}, GraphRuntimeError,
     r"node .*test_bad_inputs.py:\d+.* inputs X \(2, 3\), y \(3,\)"),
    ("complex data", (X_OK.astype(complex), Y_OK), {}, InputError,
     r"input X: expected dtype float64, received complex128 \(not a safe cast"),
    ("float labels", (X_OK, np.array([0.0, 1.0])), {}, InputError,
     r"input y: expected dtype int64, received float64"),
    ("NaN label", (X_OK, [0, float("nan")]), {}, InputError,
     r"input y: expected dtype int64, received list of dtype float64"),
    ("string data", (np.array([["a"] * 3] * 2), Y_OK), {}, InputError,
     r"input X: expected dtype float64, received <U1"),
    ("a graph node", (gd.matrix("X2", (None, 3)), Y_OK), {}, InputError,
     r"input X: received a graph node"),
    ("too few", (X_OK,), {}, InputError,
     r"function step takes 2 argument\(s\) \(X, y\), received 1"),
    ("too many", (X_OK, Y_OK, Y_OK), {}, InputError,
     r"function step takes 2 argument\(s\) \(X, y\), received 3"),
    ("unknown keyword", (X_OK,), {"labels": Y_OK}, InputError,
     r"function step has no input named 'labels' \(its inputs: X, y\)"),
    ("keyword given twice", (X_OK, Y_OK), {"X": X_OK}, InputError,
     r"function step: input X is given twice \(by position and by name\)"),
    ("keyword missing", (), {"X": X_OK}, InputError,
     r"function step: no value for input\(s\) y"),
    ("empty batch", (np.ones((0, 3)), np.zeros(0, dtype=np.int64)), {}, InputError,
     r"input X: received an empty batch \(shape \(0, 3\)\), and mean node"),
    ("label -1", (X_OK, np.array([0, -1])), {}, InputError,
     r"input y: class labels must be in \[0, 4\) .* received -1 at position \(1,\)"),
    ("label = classes", (X_OK, np.array([4, 0])), {}, InputError,
     r"input y: class labels must be in \[0, 4\) .* received 4 at position \(0,\)"),
]


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("case, args, named, error, pattern", TABLE, ids=[r[0] for r in TABLE])
def test_bad_arguments_are_refused_naming_the_input(backend, case, args, named, error, pattern):
    W, step = _step(backend)
    before = W.get_value()
    with pytest.raises(error, match=pattern):
        step(*args, **named)
    np.testing.assert_array_equal(W.get_value(), before)


@pytest.mark.parametrize("backend", _backends())
def test_good_arguments_by_position_and_by_name_agree(backend):
    W, step = _step(backend)
    start = W.get_value()
    first = step(X_OK, Y_OK)
    W.set_value(start)
    assert step(y=Y_OK, X=X_OK) == first
    W.set_value(start)
    assert step(X_OK, y=[0, 3]) == first
    logits = X_OK @ start
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert first == pytest.approx(-(log_p[0, 0] + log_p[1, 3]) / 2, rel=1e-12)


@pytest.mark.parametrize("backend", _backends())
def test_nan_and_inf_in_float_data_propagate_as_in_numpy(backend):
    x = gd.vector("x", (3,))
    f = gd.function([x], gd.sum(x * 2.0), backend=backend)
    assert np.isnan(f(np.array([1.0, np.nan, 2.0])))
    assert f(np.array([1.0, np.inf, 2.0])) == np.inf

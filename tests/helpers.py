"""Shared test utilities: compile both ways, and central finite differences.

Derivative tests compare graphdl's symbolic JVPs and VJPs with *central* differences of the
compiled primal function. Central differences have truncation error O(eps^2) and round-off error
O(macheps / eps); with eps = 1e-6 in float64 both stay around 1e-10 relative to the values, so
the default tolerances (rtol 1e-5, atol 1e-7) leave a wide margin while still catching a wrong
rule (a wrong rule is off by O(1)).

Every check compiles with ``optimize=False`` and with the default ``optimize=True`` and asserts
both agree, so a rewrite that changes a value is caught by the same tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import graphdl as gd
from graphdl.ir.node import Node

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7


def compile_both(inputs: Sequence[Node], outputs: Any) -> tuple[gd.Function, gd.Function]:
    """The graph compiled without and with the optimizer."""
    return (
        gd.function(list(inputs), outputs, optimize=False),
        gd.function(list(inputs), outputs, optimize=True),
    )


def run_both(
    inputs: Sequence[Node], outputs: Any, *args: Any, rtol: float = 1e-12, atol: float = 0.0
) -> Any:
    """Run the graph compiled both ways, assert the results agree, return the unoptimized one.

    Agreement is to ``rtol`` (1e-12 by default: rewrites may reassociate, nothing more).
    """
    plain, optimized = compile_both(inputs, outputs)
    a, b = plain(*args), optimized(*args)
    for x, y in zip(_as_list(a), _as_list(b)):
        assert np.shape(x) == np.shape(y)
        assert np.asarray(x).dtype == np.asarray(y).dtype
        # a rewrite may round differently (x**3 -> x*x*x): allow a few float32 ulps there
        tol = max(rtol, 2e-6) if np.asarray(x).dtype == np.float32 else rtol
        np.testing.assert_allclose(x, y, rtol=tol, atol=atol)
    return a


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list) else [x]


def numeric_jvp(
    f: Callable[..., Any],
    args: Sequence[np.ndarray],
    tangents: Sequence[np.ndarray | None],
    eps: float = EPS,
) -> np.ndarray:
    """(f(args + eps t) - f(args - eps t)) / (2 eps); a None tangent leaves that argument fixed."""
    plus = [
        a if t is None else (a + eps * t).astype(np.asarray(a).dtype)
        for a, t in zip(args, tangents)
    ]
    minus = [
        a if t is None else (a - eps * t).astype(np.asarray(a).dtype)
        for a, t in zip(args, tangents)
    ]
    return (np.asarray(f(*plus), dtype=np.float64) - np.asarray(f(*minus), dtype=np.float64)) / (
        2 * eps
    )


def numeric_gradient(
    f: Callable[..., Any],
    args: Sequence[np.ndarray],
    index: int,
    cotangent: np.ndarray | None = None,
    eps: float = EPS,
) -> np.ndarray:
    """d <cotangent, f(args)> / d args[index], element by element by central differences.

    Without a cotangent, f must return a scalar (the plain gradient).
    """
    base = [np.asarray(a) for a in args]
    x = base[index]
    out = np.zeros(x.shape)
    flat = out.reshape(-1)
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = eps
        step = step.reshape(x.shape)
        hi = base[:index] + [(x + step).astype(x.dtype)] + base[index + 1 :]
        lo = base[:index] + [(x - step).astype(x.dtype)] + base[index + 1 :]
        f_hi, f_lo = np.asarray(f(*hi)), np.asarray(f(*lo))
        if cotangent is not None:
            f_hi, f_lo = np.sum(cotangent * f_hi), np.sum(cotangent * f_lo)
        flat[k] = (f_hi - f_lo) / (2 * eps)
    return out


def float_positions(inputs: Sequence[Node]) -> list[int]:
    return [i for i, x in enumerate(inputs) if x.dtype.kind == "f"]


def assert_vjp_matches_fd(
    inputs: Sequence[Node],
    output: Node,
    values: Sequence[np.ndarray],
    rng: np.random.Generator,
    rtol: float = RTOL,
    atol: float = ATOL,
    eps: float = EPS,
) -> None:
    """gd.vjp with a random cotangent equals central differences of <cotangent, output>,
    for every float input."""
    forward = gd.function(list(inputs), output, optimize=False)
    y = np.asarray(forward(*values))
    wrt = [inputs[i] for i in float_positions(inputs)]
    cotangent_in = gd.tensor("cotangent", output.shape, output.dtype)
    bars = gd.vjp(output, wrt, cotangent_in)
    ct = rng.standard_normal(y.shape).astype(output.dtype)
    got = run_both(list(inputs) + [cotangent_in], bars, *values, ct, rtol=1e-10, atol=1e-12)
    for i, bar, g in zip(float_positions(inputs), bars, got):
        expected = numeric_gradient(forward, values, i, ct, eps)
        assert np.shape(g) == np.shape(values[i]), (inputs[i].label(), np.shape(g))
        assert bar.dtype == inputs[i].dtype == np.asarray(g).dtype, (inputs[i], bar)
        np.testing.assert_allclose(
            g,
            expected,
            rtol=rtol,
            atol=atol,
            err_msg=f"VJP wrt {inputs[i].label()} of {output.op.name}",
        )


def assert_jvp_matches_fd(
    inputs: Sequence[Node],
    output: Node,
    values: Sequence[np.ndarray],
    rng: np.random.Generator,
    rtol: float = RTOL,
    atol: float = ATOL,
    eps: float = EPS,
) -> None:
    """gd.jvp along a random direction (every float input moves) equals central differences."""
    forward = gd.function(list(inputs), output, optimize=False)
    positions = float_positions(inputs)
    directions: list[np.ndarray | None] = [None] * len(inputs)
    tangent_inputs = []
    for i in positions:
        directions[i] = rng.standard_normal(np.shape(values[i])).astype(inputs[i].dtype)
        tangent_inputs.append(gd.tensor(f"t{i}", inputs[i].shape, inputs[i].dtype))
    dot = gd.jvp(output, [inputs[i] for i in positions], tangent_inputs)
    got = run_both(
        list(inputs) + tangent_inputs,
        dot,
        *values,
        *[directions[i] for i in positions],
        rtol=1e-10,
        atol=1e-12,
    )
    expected = numeric_jvp(forward, values, directions, eps)
    assert np.shape(got) == np.shape(expected)
    assert dot.dtype == output.dtype == np.asarray(got).dtype, (output, dot)
    np.testing.assert_allclose(
        got, expected, rtol=rtol, atol=atol, err_msg=f"JVP of {output.op.name}"
    )


def svg_geometry(path: Any) -> tuple[float, float, float]:
    """``(width_px, height_px, smallest_text_pt)`` of an SVG as a viewer shows it: the size from
    the file's own ``width``/``height`` (points, 96 px per 72 pt) and the smallest ``font-size``
    scaled by width / viewBox width (Graphviz scales the drawing when a size limit applies)."""
    import re
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    width = float(root.get("width").removesuffix("pt"))
    height = float(root.get("height").removesuffix("pt"))
    view = [float(v) for v in root.get("viewBox").split()]
    scale = width / view[2]
    sizes = [float(e.get("font-size")) for e in root.iter() if e.get("font-size")]
    assert sizes and re.fullmatch(r"[\d.]+pt", root.get("width"))
    return width * 96 / 72, height * 96 / 72, min(sizes) * scale


def svg_texts(path: Any) -> list[str]:
    """Every text line of an SVG drawing."""
    import xml.etree.ElementTree as ET

    return [e.text or "" for e in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]

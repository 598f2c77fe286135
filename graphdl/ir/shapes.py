"""Static shape arithmetic with unknown sizes.

A static shape is a tuple of ints, with ``None`` for a size known only at call time (a batch
axis). These helpers follow NumPy's rules and stay conservative where a ``None`` hides the answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphdl.errors import ShapeError

Shape = tuple


def broadcast_shapes(op: str, shapes: Sequence[Shape], labels: Sequence[str]) -> Shape:
    """NumPy broadcasting of static shapes; an impossible combination raises ShapeError.

    With a ``None`` size the result stays ``None`` unless the other side is a known size
    greater than one (then ``None`` must be 1 or that size at run time, and the result is it).
    """
    first = None  # fast path: operands of one shape, and scalars (most graphs, at 10^5 nodes)
    for s in shapes:
        if s and first is None:
            first = s
        elif s and s != first:
            break
    else:
        return tuple(first) if first is not None else ()
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int | None] = []
    for axis in range(-ndim, 0):
        dims = [s[axis] for s in shapes if len(s) >= -axis]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            described = ", ".join(f"{lab}: {fmt_shape(s)}" for lab, s in zip(labels, shapes))
            raise ShapeError(
                f"{op}: operands cannot be broadcast together ({described}); "
                f"axis {axis} has sizes {sorted(known)}"
            )
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ShapeError(f"{op}: axis {axis} is out of range for an operand of rank {ndim}")
    return axis % ndim if ndim else 0


def normalize_axes(op: str, axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Axes as a sorted tuple of non-negative ints; ``None`` means every axis."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = tuple(sorted(normalize_axis(op, int(a), ndim) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return normalized


def fmt_shape(shape: Shape) -> str:
    """``(None, 64)`` printed as ``(?, 64)`` so unknown sizes stand out."""
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def size_of(shape: Shape) -> int | None:
    """Number of elements, or None when a size is unknown."""
    n = 1
    for d in shape:
        if d is None:
            return None
        n *= d
    return n

"""Integer arguments used as indices, checked for range before the code runs.

NumPy's gathers wrap negative indices, so a class label of -1 silently picks the last class (and a
training step trains on it), a label equal to the number of classes raises an IndexError deep in
generated code, and ``one_hot`` quietly gives a row of zeros; a numba kernel would read whatever
memory the index lands on. graphdl's rule:

- ``take`` is NumPy's: indices in ``[-n, n)``, negative ones counting from the end;
- class labels, that is the indices of ``take_along_axis`` (the cross-entropy's pick from
  ``log_softmax``), of the fused cross-entropy ops and of ``one_hot``, must be in ``[0, n)``.

The check covers index operands that are (views or casts of) an argument of the function, where
the indexed axis has a static size: the common case of labels given as an input. An index
outside its range is an `InputError` naming the input, the bad value and the node that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphdl.errors import InputError
from graphdl.ir.node import Node
from graphdl.ops.leaves import INPUT

# op name -> (index operand, indexed operand or None for one_hot's depth, labels: in [0, n))
_INDEXING = {
    "take": (1, 0, False),
    "take_adjoint": (2, 1, False),
    "take_along_axis": (1, 0, True),
    "take_along_adjoint": (2, 1, True),
    "softmax_xent": (1, 0, True),
    "softmax_xent_grad": (2, 1, True),
    "xent_rows": (2, 0, True),
    "xent_rows_grad": (3, 1, True),
    "one_hot": (0, None, True),
}
_SAME_VALUES = frozenset({"getitem", "expand_dims", "reshape", "squeeze", "broadcast_to",
                          "transpose", "cast"})  # ops whose values are some of their operand's


class IndexCheck:
    """Checks the values of the arguments used as indices: ``check(values)``, with ``values``
    indexed by argument position."""

    def __init__(self, inputs: Sequence[Node], schedule: Sequence[Node]) -> None:
        position = {x: i for i, x in enumerate(inputs)}
        ranges: dict[int, tuple[int, int, Node]] = {}  # argument -> (low, high, node): tightest
        for node in schedule:
            rule = _INDEXING.get(node.op.name)
            if rule is None:
                continue
            at, data, labels = rule
            if data is None:
                size = node.attrs["depth"]
            else:
                axis = node.attrs.get("axis", 0)
                size = node.inputs[data].shape[axis]
            source = _source(node.inputs[at])
            if size is None or source not in position:
                continue
            low, high = (0 if labels else -size), size
            i = position[source]
            old = ranges.get(i)
            if old is not None:  # one argument indexing several nodes: the tightest range
                node = node if low > old[0] or high < old[1] else old[2]
                low, high = max(low, old[0]), min(high, old[1])
            ranges[i] = (low, high, node)
        # (argument, low, high, the node in words, the input's label): plain values, so the
        # check travels with a pickled function (a Dask worker checks labels too)
        self.ranges = sorted(
            (i, low, high, f"{node.op.name} node {node.label()} (created at {node.origin})",
             inputs[i].label()) for i, (low, high, node) in ranges.items())
        # class labels of a signed dtype are checked in one pass: read as unsigned, negative
        # ones are huge (arguments reach the check in their input's dtype)
        self.unsigned = {i: np.dtype(inputs[i].dtype.str.replace("i", "u"))
                          for i, low, *_ in self.ranges if low == 0 and inputs[i].dtype.kind == "i"}

    def __call__(self, values: Sequence[Any]) -> None:
        for i, low, high, user, label in self.ranges:
            value = values[i]
            if not value.size:
                continue
            unsigned = self.unsigned.get(i)
            if unsigned is not None and value.dtype.itemsize == unsigned.itemsize:
                bad = value.view(unsigned).max() >= high
            else:
                bad = value.min() < low or value.max() >= high
            if bad:
                raise _out_of_range(np.asarray(value), low, high, user, label)


def _source(index: Node) -> Node | None:
    """The node whose values ``index`` takes (through views and casts)."""
    while index.op.name in _SAME_VALUES and index.inputs and index.dtype.kind in "iu":
        index = index.inputs[0]
    return index if index.op is INPUT else None


def _out_of_range(value: np.ndarray, low: int, high: int, user: str, label: str) -> InputError:
    bad = np.argwhere((value < low) | (value >= high))[0]
    where = tuple(int(b) for b in bad)
    kind = "class labels" if low == 0 else "indices"
    return InputError(
        f"input {label}: {kind} must be in [{low}, {high}) for {user}; received {value[where]} "
        f"at position {where if where else '()'}")

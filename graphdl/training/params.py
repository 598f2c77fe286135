"""Saving and loading parameters as ``.npz``: one array per variable, keyed by its path name.

``.npz`` holds plain arrays, and loading passes ``allow_pickle=False``, so opening a parameter
file can never run code (unlike pickle-based checkpoints). Loading is all-or-nothing: every name,
shape and dtype is checked against the model before any variable changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from graphdl.nn.module import Module
from graphdl.ops.leaves import SharedVariable

Variables = Mapping[str, SharedVariable] | Module


def _named(variables: Variables) -> dict[str, SharedVariable]:
    named = variables.named_variables() if isinstance(variables, Module) else dict(variables)
    for key, var in named.items():
        if not isinstance(var, SharedVariable):
            raise TypeError(f"params: {key!r} is not a shared variable ({var!r})")
        if not key or "/" in key or "\\" in key:
            raise ValueError(f"params: {key!r} cannot be a key in a .npz file")
    return named


def save_params(path: str | os.PathLike, variables: Variables) -> Path:
    """Write the current values of ``variables`` (a module or ``{name: shared}``) to ``path``.

    ``np.savez`` adds ``.npz`` when the name lacks it; the path actually written is returned.
    """
    named = _named(variables)
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    np.savez(path, **{key: var.get_value(copy=False) for key, var in named.items()})
    return path


def load_params(path: str | os.PathLike, variables: Variables) -> None:
    """Set ``variables`` from a file written by `save_params`, checking it fits first.

    Raises ``ValueError`` naming every missing or unexpected key, or the first variable whose
    shape or dtype differs from the file's array; on error no variable has been changed.
    """
    named = _named(variables)
    with np.load(Path(path), allow_pickle=False) as archive:
        stored = {key: archive[key] for key in archive.files}
    missing = sorted(set(named) - set(stored))
    unexpected = sorted(set(stored) - set(named))
    if missing or unexpected:
        raise ValueError(f"load_params {path}: the file does not match the model: "
                         f"missing {missing}, unexpected {unexpected}")
    for key, var in named.items():
        value = stored[key]
        if value.shape != var.shape:
            raise ValueError(f"load_params {path}: {key!r} has shape {value.shape} in the file, "
                             f"the model expects {var.shape}")
        if value.dtype != var.dtype:
            raise ValueError(f"load_params {path}: {key!r} has dtype {value.dtype} in the file, "
                             f"the model expects {var.dtype}")
    for key, var in named.items():
        var.set_value(stored[key])


def snapshot(variables: Variables) -> dict[str, np.ndarray]:
    """Copies of the current values (e.g. the best epoch's, for early stopping)."""
    return {key: var.get_value() for key, var in _named(variables).items()}


def restore(variables: Variables, values: Mapping[str, np.ndarray]) -> None:
    """Put back values taken by `snapshot`."""
    named = _named(variables)
    for key, value in values.items():
        named[key].set_value(value)

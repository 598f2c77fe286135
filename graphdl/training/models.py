"""Built-in models for ``graphdl train --model NAME``, and loading a user's model script.

A model script (``graphdl train --model my_model.py``) is a Python file that defines

``build_model(n_features, n_classes, rng)`` (required)
    returns an `graphdl.nn.Module` mapping a ``(batch, n_features)`` matrix to
    ``(batch, n_classes)`` class scores (logits); draw initial weights from ``rng``, a seeded
    ``numpy.random.Generator``, so ``--seed`` makes the run reproducible. If it also takes a
    ``dtype`` keyword, ``--dtype`` is passed there (otherwise only float64 models can run).
``loss(logits, labels)`` (optional)
    a scalar graph to minimize; default `graphdl.nn.softmax_cross_entropy` (eq. 7).
``load_data()`` (optional)
    returns ``(X, y)``: float features ``(n, n_features)`` and integer labels ``(n,)``;
    default: the bundled 8x8 digits.
``DEFAULTS`` (optional)
    a dict of option defaults (``optimizer``, ``lr``, ``epochs``, ``batch_size``, ``l2``,
    ``patience``) that command-line flags still override.

The script is run like an imported module, so it is trusted code: only train scripts you wrote
or read.

Equation numbers (eq. N) are those of V. Lepetit, "Optimization for Deep Learning"
(lecture, 2021).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from graphdl.nn import BatchNorm, Dense, Dropout, Mode, Module, Sequential, losses
from graphdl.ops import elementwise as ew
from graphdl.ops.leaves import tensor

Builder = Callable[[int, int, np.random.Generator], Module]
DEFAULT_KEYS = ("optimizer", "lr", "epochs", "batch_size", "l2", "patience")


def mlp(n_features: int, n_classes: int, rng: np.random.Generator,
        hidden: Sequence[int] = (256,), dropout: float = 0.2, dtype: str = "float64") -> Module:
    """Dense -> ReLU -> Dropout per hidden layer, then a Dense layer to the class scores.

    The default (64-256-10, dropout 0.2) reaches 97-99% test accuracy on the digits for every
    seed we tried with Adam at the lecture's lambda = 0.001.
    """
    layers: list[Any] = []
    sizes = [n_features, *hidden]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        layers += [Dense(n_in, n_out, rng, name=f"dense{i}", dtype=dtype), ew.relu]
        if dropout:
            layers.append(Dropout(dropout, name=f"dropout{i}"))
    layers.append(Dense(sizes[-1], n_classes, rng, name=f"dense{len(sizes)}", dtype=dtype))
    return Sequential(*layers, name="mlp")


def mlp_bn(n_features: int, n_classes: int, rng: np.random.Generator,
           hidden: Sequence[int] = (128,), dtype: str = "float64") -> Module:
    """Dense -> BatchNorm -> ReLU per hidden layer (eq. 78), then the output layer."""
    layers: list[Any] = []
    sizes = [n_features, *hidden]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        layers += [Dense(n_in, n_out, rng, name=f"dense{i}", dtype=dtype),
                   BatchNorm(n_out, name=f"bn{i}", dtype=dtype), ew.relu]
    layers.append(Dense(sizes[-1], n_classes, rng, name=f"dense{len(sizes)}", dtype=dtype))
    return Sequential(*layers, name="mlp_bn")


def linear(n_features: int, n_classes: int, rng: np.random.Generator,
           dtype: str = "float64") -> Module:
    """Softmax regression: one Dense layer (the exact case of the lecture's eq. 81)."""
    return Sequential(Dense(n_features, n_classes, rng, name="dense1", dtype=dtype),
                      name="linear")


MODELS: dict[str, Builder] = {"mlp": mlp, "mlp-bn": mlp_bn, "linear": linear}


@dataclass
class ModelSpec:
    """What ``--model`` resolved to: a builder and the optional parts of a model script."""

    name: str
    build: Builder
    loss: Callable[..., Any] | None = None
    load_data: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)


def resolve(model: str) -> ModelSpec:
    """A built-in name (``mlp``, ``mlp-bn``, ``linear``) or the path of a ``.py`` script."""
    if model in MODELS:
        return ModelSpec(model, MODELS[model])
    if model.endswith(".py") or Path(model).is_file():
        return load_script(model)
    raise ValueError(f"--model {model!r}: not a built-in model ({', '.join(MODELS)}) "
                     "and not a .py file")


def build(spec: ModelSpec, n_features: int, n_classes: int, rng: np.random.Generator,
          dtype: str = "float64") -> Module:
    """Call the builder, passing ``dtype`` when it takes one."""
    params = inspect.signature(spec.build).parameters
    takes_dtype = "dtype" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    model = (spec.build(n_features, n_classes, rng, dtype=dtype) if takes_dtype
             else spec.build(n_features, n_classes, rng))
    if not isinstance(model, Module):
        raise TypeError(f"model {spec.name}: build_model returned {model!r}, not a "
                        "graphdl.nn.Module")
    return model


def load_script(path: str | Path) -> ModelSpec:
    """Run a model script as a module and pick out what it defines (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model script {path} does not exist")
    return spec_from_namespace(vars(_import(path)), path)


def spec_from_namespace(namespace: dict[str, Any], path: Path) -> ModelSpec:
    """The `ModelSpec` of a script whose top level defined ``namespace`` (``graphdl train`` and
    ``graphdl render`` read the same names: one convention for both)."""
    build = namespace.get("build_model")
    if not callable(build):
        drawable = [k for k in ("outputs", "graph") if k in namespace]
        hint = (f" (it defines {' and '.join(drawable)}, which `graphdl render` draws; training "
                "needs a model to fit to data)" if drawable else "")
        raise TypeError(f"model script {path} must define build_model(n_features, "
                        f"n_classes, rng) returning a graphdl.nn.Module{hint}")
    defaults = dict(namespace.get("DEFAULTS", {}) or {})
    unknown = sorted(set(defaults) - set(DEFAULT_KEYS))
    if unknown:
        raise ValueError(f"model script {path}: DEFAULTS has unknown keys {unknown}; "
                         f"known: {list(DEFAULT_KEYS)}")
    return ModelSpec(path.stem, build, _optional(namespace, "loss", path),
                     _optional(namespace, "load_data", path), defaults)


def objective_graph(spec: ModelSpec, n_features: int, n_classes: int,
                    rng: np.random.Generator, dtype: str = "float64",
                    named: bool = False) -> tuple[Any, Any]:
    """``(loss, parameters)``: the graph ``graphdl train`` minimizes for ``spec`` (the model in
    training mode on a symbolic batch ``X`` of shape ``(None, n_features)`` and integer labels
    ``y``, through the script's ``loss`` or softmax cross-entropy), without compiling anything.
    ``graphdl render`` draws it. ``named``: the parameters as ``model.named_parameters()``
    (``{"dense1.W": ...}``), which a drawing labels the gradient outputs by."""
    model = build(spec, n_features, n_classes, rng, dtype)
    X = tensor("X", (None, int(n_features)), dtype)
    y = tensor("y", (None,), "int64")
    loss = (spec.loss or losses.softmax_cross_entropy)(model(X, Mode(training=True)), y)
    return loss, model.named_parameters() if named else model.parameters()


def _optional(namespace: dict[str, Any], name: str, path: Path) -> Callable[..., Any] | None:
    value = namespace.get(name)
    if value is not None and not callable(value):
        raise TypeError(f"model script {path}: {name} must be a function, got {value!r}")
    return value


def _import(path: Path) -> ModuleType:
    name = f"graphdl_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load model script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module

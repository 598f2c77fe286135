"""graphdl: a define-then-run computation-graph engine.

Declare a graph over symbolic inputs, optimize it, differentiate it as a graph transformation,
and compile it to readable, vectorized NumPy source.
"""

from graphdl import init, nn, optim  # subpackages: gd.nn.Dense, gd.optim.Adam, gd.init
from graphdl import ops as _ops  # noqa: F401  (registers every op, installs operators)
from graphdl.autodiff import Dual, eval_dual, grad, hessian, hvp, jacobian, jvp, vjp
from graphdl.autodiff.vmap import vmap
from graphdl.codegen import Function, function
from graphdl.errors import (
    DifferentiationError,
    DTypeError,
    ExportError,
    GraphError,
    GraphRuntimeError,
    InputError,
    ShapeError,
)
from graphdl.export import load_graph, save_graph, to_onnx
from graphdl.ir import (
    Node,
    count_nodes,
    format_graph,
    graph_inputs,
    name_scope,
    to_networkx,
    toposort,
)
from graphdl.ops import numpy_linalg as linalg
from graphdl.ops import special
from graphdl.ops.contractions import (
    diag,
    diagonal,
    dot,
    einsum,
    inner,
    kron,
    outer,
    tensordot,
)
from graphdl.ops.control import cond, fori_loop, scan, switch, while_loop
from graphdl.ops.conv import avg_pool, conv, max_pool
from graphdl.ops.elementwise import (
    abs,
    add,
    cast,
    clip,
    cos,
    divide,
    equal,
    exp,
    expm1,
    floor,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    reciprocal,
    relu,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tan,
    tanh,
    where,
)
from graphdl.ops.indexing import getitem, one_hot, take, take_along_axis
from graphdl.ops.leaves import SharedVariable, constant, matrix, scalar, shared, tensor, vector
from graphdl.ops.linalg import matmul
from graphdl.ops.reductions import argmax, argmin, max, mean, min, prod, sum
from graphdl.ops.shape_ops import (
    broadcast_to,
    concatenate,
    expand_dims,
    reshape,
    squeeze,
    stack,
    transpose,
)
from graphdl.ops.softmax import log_softmax, logsumexp, softmax
from graphdl.ops.special import gelu
from graphdl.ops.ufuncs import (
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    ceil,
    cosh,
    exp2,
    hypot,
    log2,
    log10,
    logaddexp,
    mod,
    round,
    sinh,
)
from graphdl.rewriting import Report, optimize
from graphdl.symbolic import compare, from_sympy, to_sympy
from graphdl.viz import Trace, render, to_dot, trace

__version__ = "0.1.0"

"""The SymPy bridge: graphs to SymPy and back, and symbolic versus automatic differentiation.

Nothing here imports SymPy until it is used (it takes half a second to import).
"""

from graphdl.symbolic.compare import Comparison, compare
from graphdl.symbolic.graph_to_sympy import SymbolicError, input_symbols, to_sympy
from graphdl.symbolic.sympy_to_graph import from_sympy

__all__ = ["Comparison", "SymbolicError", "compare", "from_sympy", "input_symbols", "to_sympy"]

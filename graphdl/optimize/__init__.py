"""The graph optimizer: ``gd.optimize(outputs) -> (optimized outputs, report)``.

`gd.function` runs it by default (``optimize=False`` compiles the graph as written) and keeps the
`Report` as ``fn.report``. Passes, in `graphdl.optimize.manager` order: common-subexpression
elimination (`cse`), constant folding (`fold`), algebraic simplification (`canonicalize`),
numerical stabilization (`stabilize`) and specialization (`specialize`), each rewrite a small
function registered with `node_rewriter` (`rewriter`).
"""

from graphdl.optimize.manager import DEFAULT_PASSES, PASSES, optimize
from graphdl.optimize.report import PassRecord, Report
from graphdl.optimize.rewriter import RULES, RewriteError, node_rewriter

__all__ = ["DEFAULT_PASSES", "PASSES", "RULES", "PassRecord", "Report", "RewriteError",
           "node_rewriter", "optimize"]

"""Graph rewriting, the engine behind ``gd.optimize(outputs) -> (optimized outputs, report)``.

The package is named for what it does (rewriting graphs into equivalent, cheaper or more stable
graphs) and so that it is not confused with `graphdl.optim`, the training optimizers; the public
verb stays ``gd.optimize``.

`gd.function` runs it by default (``optimize=False`` compiles the graph as written) and keeps the
`Report` as ``fn.report``. Passes, in `graphdl.rewriting.manager` order: common-subexpression
elimination (`cse`), constant folding (`fold`), algebraic simplification (`canonicalize`),
numerical stabilization (`stabilize`) and specialization (`specialize`), each rewrite a small
function registered with `node_rewriter` (`rewriter`).
"""

from graphdl.autodiff.api import stabilize_before_differentiating
from graphdl.rewriting.manager import DEFAULT_PASSES, PASSES, optimize
from graphdl.rewriting.report import PassRecord, Report
from graphdl.rewriting.rewriter import RULES, RewriteError, node_rewriter


def _stable(outputs):
    """``gd.grad`` and friends differentiate the stable form (`graphdl.autodiff.api`)."""
    return list(optimize(outputs, passes=["stabilize"])[0])


stabilize_before_differentiating(_stable)

__all__ = ["DEFAULT_PASSES", "PASSES", "RULES", "PassRecord", "Report", "RewriteError",
           "node_rewriter", "optimize"]

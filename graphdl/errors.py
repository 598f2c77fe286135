"""The errors graphdl raises, each naming the node or input at fault."""


class GraphError(Exception):
    """Base class for graphdl errors."""


class ShapeError(GraphError, ValueError):
    """A graph whose shapes cannot work, found when the graph is built."""


class DTypeError(GraphError, TypeError):
    """A dtype an op cannot take, found when the graph is built."""


class InputError(GraphError, ValueError):
    """A compiled function was called with arguments that do not fit its inputs."""


class GraphRuntimeError(GraphError, RuntimeError):
    """A failure inside compiled code, re-raised naming the node and the user's line."""


class DifferentiationError(GraphError, ValueError):
    """A derivative that cannot be taken (non-scalar cost, non-differentiable op, ...)."""


class ExportError(GraphError, ValueError):
    """A graph that cannot be written in, or read back from, an exchange format (ONNX, JSON)."""

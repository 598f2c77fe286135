"""Which line of the user's script created a node.

Errors raised while building or running a graph name this line, so a user sees *their* code, not
graphdl's internals or generated source.
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_origin() -> str:
    """``file.py:12`` for the innermost frame outside the graphdl package (or ``?``)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"

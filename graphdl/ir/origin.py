"""Which line of the user's script created a node.

Errors raised while building or running a graph name this line, so a user sees *their* code, not
graphdl's internals or generated source.
"""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CLI_DIR = os.path.join(_PACKAGE_DIR, "cli")


def user_origin() -> str:
    """``file.py:12`` for the innermost frame outside the graphdl package (or ``?``).

    A graph built by a graphdl command itself (``graphdl train``) has no user line: the frames
    beyond ``graphdl/cli`` are only its launcher (runpy, the console script), so the walk stops
    there. A user's function that the command calls (a model script) is still found first.
    """
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_CLI_DIR):
            return "?"
        if not filename.startswith(_PACKAGE_DIR):
            return f"{os.path.basename(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"

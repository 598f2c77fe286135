"""Which line of the user's script created a node.

Errors raised while building or running a graph name this line, so a user sees *their* code, not
graphdl's internals or generated source.
"""

from __future__ import annotations

import os
import sys
from types import CodeType

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CLI_DIR = os.path.join(_PACKAGE_DIR, "cli")


def user_origin(skip: int = 1) -> str:
    """``file.py:12`` for the innermost frame outside the graphdl package (or ``?``), looking
    from ``skip`` frames up (1: the caller; a caller that knows it is inside graphdl skips itself).

    A graph built by a graphdl command itself (``graphdl train``) has no user line: the frames
    beyond ``graphdl/cli`` are only its launcher (runpy, the console script), so the walk stops
    there. A user's function that the command calls (a model script) is still found first.
    """
    frame = sys._getframe(skip)
    while frame is not None:
        code = frame.f_code
        where = _WHERE.get(code)
        if where is None:
            where = _classify(code)
        if where is _STOP:
            return "?"
        if where is not _INSIDE:
            return f"{where}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


# Every node built walks a few frames, so what each code object is (graphdl's own code, the
# CLI, or a user's file and its short name) is decided once per code object, not per node.
_INSIDE, _STOP = object(), object()  # graphdl's own code; the CLI (stop: no user line)
_WHERE: dict[CodeType, object] = {}  # code object -> _INSIDE, _STOP or the file's short name
_WHERE_LIMIT = 1 << 14  # code objects made by exec() at run time must not pile up


def _classify(code: CodeType) -> object:
    filename = code.co_filename
    if filename.startswith(_CLI_DIR):
        where = _STOP
    elif filename.startswith(_PACKAGE_DIR):
        where = _INSIDE
    else:
        where = os.path.basename(filename)
    if len(_WHERE) >= _WHERE_LIMIT:
        _WHERE.clear()
    _WHERE[code] = where
    return where

"""Names in generated code. User-given names are *data*: they become variable names only when
they are plain ASCII identifiers that cannot shadow anything, and reach comments only escaped, so
no name can inject code (``"x\\n__import__('os').system(...)"`` stays a harmless comment)."""

from __future__ import annotations

import builtins
import keyword
import re

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,40}\Z")
_RESERVED = {"np", "_rt", "self", "special"} | set(dir(builtins))  # special: scipy.special


def safe_identifier(name: str | None) -> str | None:
    """``name`` if it can be a variable name as it is, else None."""
    if not name or not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name in _RESERVED:
        return None
    return name


def comment_text(text: str, limit: int = 60) -> str:
    """``text`` made safe for a ``#`` comment: one line, printable, escaped, bounded."""
    if text.isascii() and text.isprintable():  # the common case: nothing to escape
        escaped = text.replace("\\", "\\\\")
        return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."
    escaped = text.encode("unicode_escape").decode("ascii")
    escaped = "".join(c if c.isprintable() else "?" for c in escaped)
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


class Namer:
    """Hands out unique variable names: the user's where safe, ``v<n>`` otherwise."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._counter = 0

    def name(self, preferred: str | None, fallback_prefix: str = "v") -> str:
        base = safe_identifier(preferred)
        if base is not None:
            candidate, k = base, 2
            while candidate in self._used:
                candidate, k = f"{base}_{k}", k + 1
            self._used.add(candidate)
            return candidate
        while True:
            candidate = f"{fallback_prefix}{self._counter}"
            self._counter += 1
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

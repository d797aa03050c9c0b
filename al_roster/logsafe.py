"""Values from a request or from a district's data, fit for a log line.

A value sent by a browser, a platform or a district's file may hold a line break (to forge a
log line of its own), terminal escapes, bidi overrides, or megabytes of text. ``for_log``
keeps it on one line: control and format characters and line separators are written as
escapes (``\\n``, ``\\x1b``, ``\\u202e``) and the text is cut at ``limit`` characters.
Backslashes are left alone, so text that is already escaped (a ``repr``) passes unchanged.
"""
from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
        code = ord(char)
        if code < 0x100:
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return char


def for_log(value: object, limit: int = 200) -> str:
    """``value`` as one line of at most ``limit`` characters (before escaping)."""
    text = value if isinstance(value, str) else str(value)
    shown = "".join(_escape(c) for c in text[:limit])
    return f"{shown}...({len(text):,} characters)" if len(text) > limit else shown

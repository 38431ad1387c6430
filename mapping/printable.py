"""Platform text as it may be shown: on a terminal, in a report, in a log line.

Any village agent can put any character in a transaction. Control characters (an ESC starts a
terminal escape sequence that can clear the screen, move the cursor or retitle the window; a CR
overwrites the line shown), and the bidirectional overrides and isolates (they make text read
otherwise than it is stored) are never shown as they are: :func:`printable` writes each as a
visible escape such as ``\\x1b``, so an operator sees that something odd was sent.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (U+009B is a one-character CSI), the bidi marks, overrides and
# isolates, the line and paragraph separators, the BOM, and the invisible characters: the soft
# hyphen, the zero-width space and joiners, the word joiner and the invisible operators.
_OTHERS = "\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNPRINTABLE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_UNPRINTABLE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_OTHERS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with every control or bidi character written as a visible escape (``\\x1b``).

    Args:
        text: any text, platform text included.
        newlines: keep line feeds (text the program composed of several lines); a value from
            the platform or a database is shown on one line, so that it cannot fake another.
    """
    pattern = _UNPRINTABLE_BUT_NEWLINE if newlines else _UNPRINTABLE
    return pattern.sub(_escape, text) if pattern.search(text) else text


def without_controls(text: str) -> str:
    """``text`` with the characters :func:`printable` escapes removed, tabs and carriage returns
    and line feeds made spaces (for places where an escape would itself mislead, e.g. a cell)."""
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub(lambda m: " " if m.group() in "\t\r\n" else "", text)

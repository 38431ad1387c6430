"""JSON from the platform, parsed with a bound on nesting.

``json.loads`` recurses once per level: an answer nested a few thousand levels deep raises
``RecursionError`` and, inside one feed page, would stop the night at that page for good. No
value of the contract is nested deeper than about ten levels, so every structure deeper than
``MAX_DEPTH`` is replaced by the string ``TOO_DEEP`` before parsing: the rest of the page stays
readable, and the one item that carried it is made invalid downstream (``mapping.wire``) with
the field named. Likewise an integer of thousands of digits, which ``int()`` refuses.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
TOO_DEEP = "[pb:too_deep]"
# A whole string literal (skipped as one token), or one bracket.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


MAX_INT_DIGITS = 40  # no number of the contract has more; Python refuses more than 4,300 at all
TOO_LONG = "[pb:too_long]"


def _int(text: str) -> int | str:
    """An integer literal, or ``TOO_LONG`` for one longer than any the contract has: the record
    that carries it is invalid (a string where a number belongs), the page stays readable."""
    return int(text) if len(text) <= MAX_INT_DIGITS else TOO_LONG


def loads(content: bytes) -> Any:
    """Parse ``content``; structures deeper than ``MAX_DEPTH`` become ``TOO_DEEP``, integers longer
    than ``MAX_INT_DIGITS`` become ``TOO_LONG``.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError`` or a text that does not decode).
    """
    try:
        return json.loads(content, parse_int=_int)
    except RecursionError:
        return json.loads(flatten_deep(content), parse_int=_int)


def flatten_deep(content: bytes, max_depth: int = MAX_DEPTH) -> bytes:
    """``content`` with every structure that opens below ``max_depth`` replaced by ``TOO_DEEP``."""
    out, depth, start, kept = [], 0, -1, 0
    marker = json.dumps(TOO_DEEP).encode()
    for match in _TOKEN.finditer(content):
        token = match.group()
        if token[0] == 0x22:  # a string: neither opens nor closes anything
            continue
        if token[0] in _OPEN:
            depth += 1
            if depth == max_depth + 1:
                start = match.start()
        else:
            if depth == max_depth + 1 and start >= 0:
                out += [content[kept:start], marker]
                kept, start = match.end(), -1
            depth -= 1
    if start >= 0:  # never closed: not JSON; cut it so the parser says so instead of recursing
        out += [content[kept:start], marker]
        return b"".join(out)
    out.append(content[kept:])
    return b"".join(out)

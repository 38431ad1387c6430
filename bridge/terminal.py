"""The command line's console: whatever it prints is shown as the text it is.

The CLI prints values that came from the platform or from the databases (remarks, agent names,
conflict details, error messages). Printed through Rich as they are, ``[/bogus]`` in a remark
crashed ``conflicts show`` (a closing tag with nothing open), ``[bold red]x[/]`` restyled the
screen, ``:warning:`` became an emoji, and an ESC sequence (``\\x1b[2J``) cleared the operator's
terminal. This console reads no markup and no emoji codes anywhere, highlights nothing, and writes
every control or bidi character as a visible escape (``mapping.printable``) — in plain prints,
table cells, titles and JSON alike.
"""

from __future__ import annotations

import json as _json
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from mapping.printable import printable

# What json.dumps(ensure_ascii=False) leaves as it is but a terminal acts on: DEL, C1, bidi.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


class SafeConsole(Console):
    """A Rich console for output that may carry platform text (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "markup": False, "emoji": False, "highlight": False})

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # Every str printed or put in a table comes here; the program's own line breaks are kept.
        return super().render_str(printable(text, newlines=True), **{**kwargs, "markup": False, "emoji": False})

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*objects, **{**kwargs, "markup": False, "emoji": False})

    def print_json(self, json: str | None = None, *, data: Any = None, indent: int | str | None = 2,
                   **kwargs: Any) -> None:
        """JSON as data, shown plainly: what JSON leaves unescaped but a terminal acts on as ``\\uXXXX``."""
        value = _json.loads(json) if json is not None else data
        shown = _json.dumps(value, ensure_ascii=False, indent=indent, default=str)
        super().print(Text(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", shown)), soft_wrap=True)

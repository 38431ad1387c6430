"""structlog set-up: JSON lines when not on a terminal, and masking of personal numbers.

Masking runs on every value of every event, so no ID number, phone or bank account number
reaches a log line in clear, whichever code logged it. Control and bidi characters in values are
written as visible escapes: on a terminal, the console renderer prints strings as they are, and
an ESC sequence or a line feed from the platform would act on the screen or fake a log line.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from mapping.personal import mask_text
from mapping.printable import printable

# Fields that hold a region code (12 digits at most, the length of the shortest account number):
# shown as they are when they are one; anywhere else, 12 digits are masked as an account.
_REGION_KEYS = frozenset({"region", "region_code", "prefix", "from_region_code", "aab301"})
_REGION = re.compile(r"[0-9]{2,12}")


def mask(text: str) -> str:
    """``530102199003071234`` -> ``530102********1234``; phones and bank accounts alike, in every
    form people write them (``mapping.personal``)."""
    return mask_text(text)


def _mask_value(value: Any, key: Any = None) -> Any:
    if isinstance(value, str):
        if key in _REGION_KEYS and _REGION.fullmatch(value):
            return value
        return printable(mask(value), newlines=key == "exception")  # a traceback keeps its lines
    if isinstance(value, dict):
        return {k: _mask_value(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 10**10:
        return mask(str(value))
    return value


def mask_values(values: dict[str, Any]) -> dict[str, Any]:
    """A record with every personal number in its values masked, as in a log line."""
    return {k: _mask_value(v, k) for k, v in values.items()}


def mask_processor(_logger: Any, _name: str, event: EventDict) -> EventDict:
    return {k: _mask_value(v, k) for k, v in event.items()}


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of writing: a progress display on the terminal
    swaps it for a proxy that prints above the display (``bridge.progress``)."""

    def write(self, data: str) -> int:
        return sys.stderr.write(data)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(log_file: Path | None = None, level: int = logging.INFO, stream: Any = None) -> None:
    """Log to ``stream`` (stderr) as console lines on a terminal, JSON otherwise; also to ``log_file`` as JSON."""
    stream = stream or _Stderr()
    shared: list[Processor] = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
              structlog.processors.TimeStamper(fmt="iso"), structlog.processors.format_exc_info, mask_processor]
    handlers: list[logging.Handler] = [logging.StreamHandler(stream)]
    handlers[0].setFormatter(_formatter(stream.isatty()))
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # Watched: logrotate may move the file away (docs/operations.md); the next line opens a new one.
        handlers.append(logging.handlers.WatchedFileHandler(log_file, encoding="utf-8"))
        handlers[-1].setFormatter(_formatter(False))
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-run chatter is not news
    # One line per HTTP request (thousands a night) buries what matters and costs a stat() of the
    # log file each; the client logs retries and failures itself.
    for noisy in ("httpx", "httpcore", "procrastinate"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(processors=shared + [structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory(), cache_logger_on_first_use=False)


def _formatter(console: bool) -> logging.Formatter:
    renderer = structlog.dev.ConsoleRenderer(colors=False) if console else structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.stdlib.ProcessorFormatter(processor=renderer,
                                               foreign_pre_chain=[structlog.processors.add_log_level, mask_processor])

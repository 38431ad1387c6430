"""structlog set-up: JSON lines when not on a terminal, and masking of personal numbers.

Masking runs on every value of every event, so no ID number, phone or bank account number
reaches a log line in clear, whichever code logged it.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import Any

import structlog

# Not inside a longer identifier such as a platform txn_id (RH + region + date + serial).
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z])(1\d{2})\d{4}(\d{4})(?![0-9A-Za-z])")
_ACCOUNT = re.compile(r"(?<![0-9A-Za-z])(\d{4})\d{8,24}(\d{4})(?![0-9A-Za-z])")


def mask(text: str) -> str:
    """``530102199003071234`` -> ``530102********1234``; phones and bank accounts alike."""
    text = _ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    text = _ACCOUNT.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 10**10:
        return mask(str(value))
    return value


def mask_processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: _mask_value(v) for k, v in event.items()}


def configure(log_file: Path | None = None, level: int = logging.INFO, stream: Any = None) -> None:
    """Log to ``stream`` (stderr) as console lines on a terminal, JSON otherwise; also to ``log_file`` as JSON."""
    stream = stream or sys.stderr
    shared = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
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

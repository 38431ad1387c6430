"""The one message catalogue: every text an operator, agent or auditor reads.

Texts live in ``messages.zh.toml`` by dotted key (``problem.id_checksum``,
``field.person.id_number``); code asks for them by key and never holds Chinese literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from config import load_toml


def _flatten(prefix: str, node: dict[str, Any], out: dict[str, str]) -> dict[str, str]:
    for key, value in node.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = value
    return out


_TEXTS: dict[str, str] = _flatten("", load_toml("messages.zh.toml"), {})
_ADDED: set[str] = set()  # keys ``add`` brought, which ``remove`` may take back


def add(texts: Mapping[str, str]) -> None:
    """Texts a business type brings (``mapping.businesses.registry``); a key held already keeps its text."""
    for key, value in texts.items():
        if key not in _TEXTS:
            _TEXTS[key] = value
            _ADDED.add(key)
    _plain.cache_clear()


def remove(texts: Mapping[str, str]) -> None:
    """Take back texts ``add`` added (a test's own business type), and only those."""
    for key in texts:
        if key in _ADDED:
            _ADDED.discard(key)
            del _TEXTS[key]
    _plain.cache_clear()


def has(key: str) -> bool:
    """Whether the catalogue holds ``key``."""
    return key in _TEXTS


def text(key: str, /, **values: object) -> str:
    """The text for ``key`` with ``{placeholders}`` filled in.

    Raises:
        KeyError: the catalogue has no such key (a test keeps every used key present).
    """
    return _TEXTS[key].format(**values) if values else _plain(key)


@cache
def _plain(key: str) -> str:
    """A text without placeholders, formatted once: reports ask for the same labels per row."""
    return _TEXTS[key].format()


def label(group: str, code: str | None) -> str:
    """The words for ``code`` in ``group`` (``biz_type``, ``state`` …), or the code itself when the
    catalogue has none: codes come from the platform too, and an unknown one is shown, not fatal."""
    if not code:
        return ""
    return text(f"{group}.{code}") if has(f"{group}.{code}") else code


def field_label(field: str) -> str:
    """A field path (``person.id_number``, ``payload.years[1]``) in words."""
    base = field.split("[", 1)[0]
    while base and not has(f"field.{base}"):
        base = base.rpartition(".")[0]
    label = text(f"field.{base}") if base else field
    return label if base == field.split("[", 1)[0] else f"{label}（{field}）"


def keys() -> frozenset[str]:
    """All keys, for completeness tests."""
    return frozenset(_TEXTS)

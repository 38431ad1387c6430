"""The one registry of business types: what the bridge knows of each ``biz_type`` but how to plan it.

An entry names the platform code, its rules (payload model, validation, required materials),
its internal business type (AA10 ``YWLX``) and the catalogue texts it brings. The planning
side of an entry is registered by its planner module in ``sync/planning/`` (mapping never
imports sync); ``sync.planning.registry.check`` refuses, at start-up, a type with one side
and not the other. Everything that lists business types — validation, the summary, the
console's filter, the sandbox — reads this registry instead of a copy of the codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config import catalogue
from mapping.businesses.base import Business, Payload


@dataclass(frozen=True)
class BusinessType:
    """One platform business type.

    Attributes:
        code: the platform's ``biz_type`` (``CBDJ``).
        rules: payload model, business rules and required materials.
        ywlx: the AA10 ``YWLX`` of its ``AE_YWJL`` rows; None reads it from ``codes.toml``
            ``[business_type]`` (the deployment's table), which also overrides a value given here.
        texts: catalogue texts the type brings (``biz_type.<code>`` …) when it is not shipped in
            ``messages.zh.toml``; a text the catalogue holds already is never replaced.
    """

    code: str
    rules: Business
    ywlx: str | None = None
    texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def payload_model(self) -> type[Payload]:
        return self.rules.payload_model


REGISTRY: dict[str, BusinessType] = {}


def register(entry: BusinessType) -> BusinessType:
    """Add ``entry``; its catalogue texts join the catalogue.

    Raises:
        ValueError: another entry has that code, or the rules are of another code.
    """
    if entry.code in REGISTRY:
        raise ValueError(f"business type {entry.code} registered twice")
    if entry.rules.code != entry.code:
        raise ValueError(f"business type {entry.code}: its rules are those of {entry.rules.code}")
    catalogue.add(entry.texts)
    REGISTRY[entry.code] = entry
    return entry


def unregister(code: str) -> None:
    """Remove a type and the texts it brought (for tests that register a type of their own)."""
    entry = REGISTRY.pop(code, None)
    if entry is not None:
        catalogue.remove(entry.texts)


def get(code: str) -> BusinessType | None:
    return REGISTRY.get(code)


def codes() -> tuple[str, ...]:
    """The registered codes, in the order they were registered (the order people see them in)."""
    return tuple(REGISTRY)


def ywlx_defaults() -> dict[str, str]:
    """``biz_type -> YWLX`` of the entries that name their own."""
    return {e.code: e.ywlx for e in REGISTRY.values() if e.ywlx}

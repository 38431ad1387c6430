"""The codes the sandbox writes, read from the bridge's own tables: ``config/codes.toml`` and the
business-type registry. The sandbox keeps no copy of them that could drift from what the bridge
expects (a YWLX, a termination reason, the scans a business needs)."""

from __future__ import annotations

from typing import Any

from mapping.businesses import registry
from mapping.codes import CodeTables

CODES = CodeTables(aa10={}, grades=())  # codes.toml only: the sandbox's AA10 and AA18 are its own rows


def entry(biz: str) -> registry.BusinessType:
    """The registered type ``biz``.

    Raises:
        KeyError: no such type is registered.
    """
    found = registry.get(biz)
    if found is None:
        raise KeyError(biz)
    return found


def ywlx(biz: str) -> str:
    """AE_YWJL.YWLX of a business type."""
    value = CODES.ywlx(biz)
    if value is None:
        raise KeyError(biz)
    return value


def setting(table: str, key: str) -> str:
    return str(CODES.setting(table, key))


def termination(reason: str) -> str:
    """AC02.AAE160 of a platform cancellation reason."""
    return str(CODES.mapping["termination_reason"][reason])


def scan_kinds(biz: str, payload: dict[str, Any]) -> list[str]:
    """The attachment kinds an agent scans for this business: what its rules require, the first
    of each set of alternatives."""
    rules = entry(biz).rules
    needs = rules.materials(rules.payload_model.model_validate(payload), CODES)
    return [need.split("|")[0] for need in needs]


def creates_person(biz: str) -> bool:
    return entry(biz).rules.creates_person

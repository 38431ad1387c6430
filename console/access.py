"""Who may see and do what. Enforced by the server on every request, not by the menu."""

from __future__ import annotations

from console.auth import User
from sync.resolutions import applicable

AGENT_KINDS = frozenset({"materials_incomplete", "stale_change"})  # materials to complete, data to correct
ACTIONS = {"agent": frozenset({"return"}),
           "staff": frozenset({"apply", "link", "merge", "reject", "return", "keep"}),
           "auditor": frozenset()}


def visible_kinds(user: User) -> frozenset[str] | None:
    """The conflict kinds a user may see; None for all."""
    return AGENT_KINDS if user.role == "agent" else None


def may_see(user: User, conflict: dict) -> bool:
    in_region = (conflict.get("region_code") or "").startswith(user.region_prefix)
    kinds = visible_kinds(user)
    return in_region and (kinds is None or conflict["kind"] in kinds)


def may_do(user: User, conflict: dict, action: str) -> bool:
    return may_see(user, conflict) and action in ACTIONS[user.role] and action in applicable(conflict["kind"])


def actions_for(user: User, kind: str) -> list[str]:
    """The buttons a user gets for a conflict of this kind."""
    order = ("apply", "link", "merge", "keep", "return", "reject")
    return [a for a in order if a in ACTIONS[user.role] and a in applicable(kind)]

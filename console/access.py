"""Who may see and do what. Enforced by the server on every request, not by the menu."""

from __future__ import annotations

import re
from typing import Any

from config.catalogue import has, text
from console.auth import User
from mapping import idcard
from sync.resolutions import applicable

AGENT_KINDS = frozenset({"materials_incomplete", "stale_change"})  # materials to complete, data to correct
ACTIONS = {"agent": frozenset({"return"}),
           "staff": frozenset({"apply", "link", "merge", "reject", "return", "keep"}),
           "auditor": frozenset()}


def visible_kinds(user: User) -> frozenset[str] | None:
    """The conflict kinds a user may see; None for all."""
    return AGENT_KINDS if user.role == "agent" else None


def may_see(user: User, conflict: dict[str, Any]) -> bool:
    in_region = (conflict.get("region_code") or "").startswith(user.region_prefix)
    kinds = visible_kinds(user)
    # An agent linked to a platform agent_id works that agent's items only, not the whole village's.
    own = not (user.role == "agent" and user.agent_id) or conflict.get("agent_id") == user.agent_id
    return in_region and own and (kinds is None or conflict["kind"] in kinds)


def mine(user: User, asked: str) -> bool:
    """Whether the queue shows only the user's own items: always for a linked agent, on request
    ("1") for anyone else linked, never for a user without a link."""
    if not user.agent_id:
        return False
    return user.role == "agent" or asked == "1"


def button_label(user: User, action: str, kind: str = "") -> str:
    """The words on a button, for who presses it: an agent's "return" sends the item back to the
    platform for the agent to fix, which "退回代办员" (to himself) did not say."""
    for key in (f"button.{user.role}.{action}.{kind}", f"button.{user.role}.{action}", f"action.{action}"):
        if has(key):
            return text(key)
    return action


def may_do(user: User, conflict: dict[str, Any], action: str) -> bool:
    return may_see(user, conflict) and action in ACTIONS[user.role] and action in applicable(conflict["kind"])


def actions_for(user: User, kind: str) -> list[str]:
    """The buttons a user gets for a conflict of this kind."""
    order = ("apply", "link", "merge", "keep", "return", "reject")
    return [a for a in order if a in ACTIONS[user.role] and a in applicable(kind)]


# --- personal numbers: who reads them in clear --------------------------------------------------

ID_KEYS = frozenset({"id_number", "aac002"})          # the platform's and the internal side's ID number
ACCOUNT_KEYS = frozenset({"account_no", "aae010"})    # bank account numbers
# Account numbers are found by their keys only: in free text their 12-19 digits look like region
# codes (12) and person numbers (16), which agents do read.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def sees_numbers(user: User) -> bool:
    """Staff link, merge and check against the internal record, auditors check what was done: both
    need the numbers. An agent's tasks (complete the materials, correct a change) need to know which
    number differs, not the number: the person and their cards are in front of the agent."""
    return user.role != "agent"


def mask_account(value: str) -> str:
    return value[:4] + "*" * 8 + value[-4:] if len(value) >= 12 else "*" * len(value)


def mask_text(value: str) -> str:
    """ID numbers inside free text (sentences, reasons, any other value) masked."""
    return _ID_IN_TEXT.sub(lambda m: idcard.masked(m.group(0)), value)


def _leaf(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if key in ID_KEYS:
        return idcard.masked(str(value))
    if key in ACCOUNT_KEYS:
        return mask_account(str(value))
    return mask_text(value) if isinstance(value, str) else value


def masked(value: Any, key: str = "") -> Any:
    """A snapshot, internal row or list with every ID and account number masked."""
    if isinstance(value, dict):
        if value.get("field") == "bank_account":  # an XXBG change of the account: old and new are numbers
            return {k: masked(v, "account_no" if k in ("old", "new") and not isinstance(v, dict) else k)
                    for k, v in value.items()}
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    return _leaf(key, value)


def _field_key(field: str) -> str:
    """``person.id_number`` -> ``id_number``; ``payload.bank_account`` -> ``account_no``."""
    last = field.split("[", 1)[0].rsplit(".", 1)[-1]
    return "account_no" if last == "bank_account" else last


def for_user(user: User, conflict: dict[str, Any]) -> dict[str, Any]:
    """The conflict as this user may read it."""
    if sees_numbers(user):
        return conflict
    fields = [{**d, "platform": masked(d.get("platform"), _field_key(str(d.get("field", "")))),
               "internal": masked(d.get("internal"), _field_key(str(d.get("field", ""))))}
              for d in conflict.get("fields") or []]
    return {**conflict, "platform": masked(conflict.get("platform")), "fields": fields,
            "internal_rows": masked(conflict.get("internal_rows")), "sentence": mask_text(str(conflict.get("sentence") or "")),
            "history": [{**h, "reason": mask_text(h["reason"]) if h.get("reason") else h.get("reason")}
                        for h in conflict.get("history") or []]}


def line_for(user: User, row: dict[str, Any]) -> dict[str, Any]:
    """A queue line as this user may read it."""
    if sees_numbers(user):
        return row
    return {**row, "sentence": mask_text(str(row.get("sentence") or ""))}


# --- runs ---------------------------------------------------------------------------------------

def sees_run(user: User, scopes: list[str | None]) -> bool:
    """A run's figures and problems cover every scope it ran: only someone whose region holds all
    of them may read it (a run of the whole province, scope None, is no county's to read)."""
    return bool(scopes) and all(s is not None and s.startswith(user.region_prefix) for s in scopes)

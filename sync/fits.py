"""Whether the rows a decision would write fit their internal columns, named as the agent knows them.

The limits come from one place, the contract's tables (``connectors.internal.schema.LIMITS``,
held equal to ``internal-db.sql`` by a test). A value longer than its column — a 12-digit bank
code, a 54-character account holder, an operator ``姓名(agent_id)`` the bridge composes longer
than ``AAE011`` — is refused by PostgreSQL and MariaDB for the whole transaction; found here,
before anything is written or simulated, it makes that one record invalid instead.
"""

from __future__ import annotations

from typing import Any

from connectors.internal import schema as it
from mapping.problems import Problem
from sync.planning import ops as o
from sync.planning.decisions import Apply, Decision

# The platform field each internal column is written from, to name it to the agent.
FIELD_OF = {
    "aac002": "person.id_number", "aac003": "person.name", "aac004": "person.gender", "aac005": "person.ethnicity",
    "aac009": "person.hukou_type", "aab301": "region_code", "aae005": "person.phone", "aae006": "person.address",
    "aae008": "payload.bank_account.bank_code", "aae009": "payload.bank_account.holder_name",
    "aae010": "payload.bank_account.account_no", "aac049": "payload.enroll_date", "aaz289": "payload.grade",
    "aic301": "payload.effective_date", "aae022": "payload.grade", "aae003": "payload.years",
    "zcdq": "payload.from_region_code", "grzhye": "payload.account_balance", "jfnx": "payload.paid_years",
    "zypzh": "payload.transfer_doc_no", "wblsh": "txn_id", "bgnr": "payload.changes", "aae011": "agent.name",
    "aae013": "remarks",
}
CHANGED = {"ac01", "ac02", "ac_yhzh"}  # what a change (XXBG) writes: named as its change list


def _rows(op: o.Op) -> list[tuple[str, dict[str, Any]]]:
    """(table, values) the op writes that come from the record (identifiers are allocated inside)."""
    if isinstance(op, o.NewPerson):
        return [("ac01", {**op.values, "aab301": op.region})]
    if isinstance(op, o.UpdatePerson):
        return [("ac01", op.values)]
    if isinstance(op, (o.NewEnrolment, o.UpdateEnrolment)):
        return [("ac02", op.values)]
    if isinstance(op, o.PutBank):
        return [("ac_yhzh", op.values)]
    if isinstance(op, o.NewBusinessLog):
        return [("ae_ywjl", {"ywlx": op.ywlx, "wblsh": op.txn_id, "bgnr": op.bgnr,
                             "aae013": getattr(op, "remark", None)})]
    if isinstance(op, o.LinkBusinessLog):
        return [("ae_ywjl", {"wblsh": op.txn_id})]
    if isinstance(op, o.NewPayments):
        return [("ac_jfjl", {**op.values, "aae003": year}) for year in op.years]
    if isinstance(op, o.NewTransfer):
        return [("ac_zyzr", op.values)]
    return []


def problems(decision: Decision, operator: str, biz_type: str | None = None) -> tuple[Problem, ...]:
    """Every value of ``decision`` (and the operator stamped on its rows) its column cannot hold,
    each a problem naming the platform field; () when everything fits or nothing is written."""
    if not isinstance(decision, Apply):
        return ()
    found: dict[str, Problem] = {}
    for op in decision.ops:
        for table, values in _rows(op):
            stamped = {**values, "aae011": operator} if "aae011" in it.LIMITS.get(table, {}) else values
            for column, (kind, bound) in it.misfits(table, stamped):
                field = FIELD_OF.get(column, f"{table}.{column}")
                if biz_type == "XXBG" and table in CHANGED and column != "aae011":
                    field = "payload.changes"
                code, value = ("db_too_long", str(bound)) if kind == "chars" else ("db_too_large", None)
                found.setdefault(field, Problem(field, code, value))
    return tuple(found.values())

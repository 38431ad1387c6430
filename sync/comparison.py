"""A conflict as one aligned table: each field the business writes, the platform's value beside
the internal one, codes decoded, dates and amounts as people write them, the differing rows marked.

Pure: it reads the conflict as ``sync.conflicts.show`` returns it (or as ``console.access`` masked
it) and the code tables; it never touches a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from config.catalogue import field_label, has, text
from mapping.codes import CodeTables

# Platform field -> the internal column that holds it, and the AA10 code type that decodes it.
PERSON = (("person.name", "aac003", None), ("person.id_number", "aac002", None),
          ("person.gender", "aac004", "AAC004"), ("person.ethnicity", "aac005", "AAC005"),
          ("person.birth_date", "aac006", None), ("person.hukou_type", "aac009", "AAC009"),
          ("person.phone", "aae005", None), ("person.address", "aae006", None), ("region_code", "aab301", None))
PAYLOAD = {  # per business type: what its payload writes, and where
    "CBDJ": (("payload.grade", "aaz289", None), ("payload.enroll_date", "aac049", None),
             ("payload.bank_account.bank_code", None, None), ("payload.bank_account.account_no", None, None),
             ("payload.bank_account.holder_name", None, None)),
    "BJ": (("payload.years", "aae003", None), ("payload.amount", "aae022", None)),
    "XXBG": (),
    "ZXDJ": (("payload.reason", "aae160", "AAE160"), ("payload.effective_date", "aic301", None)),
    "ZYZR": (("payload.from_region_code", "zcdq", None), ("payload.account_balance", "grzhye", None),
             ("payload.paid_years", "jfnx", None), ("payload.transfer_doc_no", "zypzh", None)),
}
BUSINESS = (("biz_type", "ywlx", "YWLX"), ("created_at", "aae036", None), ("agent", "aae011", None))
INTERNAL_ONLY = (("ywlsh", None), ("sjly", "SJLY"), ("aae016", "AAE016"), ("qzzt", "QZZT"))
CHANGE_FIELDS = {"name": "person.name", "phone": "person.phone", "address": "person.address",
                 "hukou_type": "person.hukou_type", "ethnicity": "person.ethnicity", "grade": "payload.grade"}
MONEY_FIELDS = frozenset({"payload.grade", "payload.amount", "payload.account_balance", "grade"})
_STAMP = re.compile(r"[0-9]{14}")
_DAY = re.compile(r"[0-9]{8}")
_MONTH = re.compile(r"[0-9]{6}")
_NONE_IN_PARENS = re.compile(r"[(（]None[)）]")


@dataclass
class Line:
    """One row of the aligned table."""

    label: str
    platform: str
    internal: list[str] = field(default_factory=list)
    differs: bool = False


@dataclass
class Comparison:
    """The aligned table, the internal columns' headings and the platform's changes in words."""

    columns: list[str]
    lines: list[Line]
    changes: list[str]
    has_internal: bool


def empty() -> str:
    return text("compare.empty")


def shown(value: Any, key: str = "", codes: CodeTables | None = None, code_type: str | None = None) -> str:
    """A value as people read it: ``（未填）`` for nothing, codes decoded, dates and money formatted."""
    if value is None or value == "" or value == []:
        return empty()
    if isinstance(value, list):
        return "、".join(shown(v, key, codes, code_type) for v in value)
    if isinstance(value, dict):  # an agent {name, agent_id}, a bank account
        return _agent(value) if "agent_id" in value or key == "agent" else "，".join(
            shown(v, k) for k, v in value.items())
    raw = str(value)
    if code_type and codes is not None and codes.name(code_type, raw.strip()):
        return str(codes.name(code_type, raw.strip()))
    for candidate in (f"value.{key}.{raw}", f"biz_type.{raw}" if key == "biz_type" else ""):
        if candidate and has(candidate):
            return text(candidate)
    if key in MONEY_FIELDS or key.endswith(".grade"):
        return text("compare.yuan", value=_money(raw))
    return _date(raw)


def _agent(value: dict[str, Any]) -> str:
    name, agent_id = str(value.get("name") or ""), value.get("agent_id")
    return text("compare.agent", name=name, id=agent_id) if agent_id else (name or empty())


def _money(raw: str) -> str:
    return raw[:-3] if raw.endswith(".00") else raw


def _date(raw: str) -> str:
    """``20261111062945`` -> ``2026-11-11 06:29``, ``19800101`` -> ``1980-01-01``, ``202001`` -> ``2020-01``."""
    raw = _NONE_IN_PARENS.sub("", raw)
    if _STAMP.fullmatch(raw):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:8]} {raw[8:10]}:{raw[10:12]}"
    if _DAY.fullmatch(raw) and raw[:2] in ("19", "20"):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:8]}"
    if _MONTH.fullmatch(raw) and raw[:2] in ("19", "20") and 1 <= int(raw[4:]) <= 12:
        return f"{raw[:4]}-{raw[4:]}"
    if len(raw) == 19 and raw[10] == " " and raw[4] == "-":  # a platform time: to the minute
        return raw[:16]
    return raw


def _pick(raw: dict[str, Any], path: str) -> Any:
    value: Any = raw
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _records(internal_rows: list[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The person's rows merged into one record, and each business row (AE_YWJL) apart."""
    person: dict[str, Any] = {}
    businesses = []
    for row in internal_rows or []:
        if not isinstance(row, dict):
            continue
        if row.get("ywlsh"):
            businesses.append(row)
        else:
            person.update({k: v for k, v in row.items() if v is not None or k not in person})
    return person, businesses


def change_lines(changes: Any) -> list[str]:
    """An XXBG's changes in words: ``缴费档次：未填 → 200元``."""
    out = []
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, dict):
            continue
        name = str(change.get("field") or "")
        key = f"change_field.{name}"
        label = text(key) if has(key) else name
        shape = "grade" if name == "grade" else CHANGE_FIELDS.get(name, name)
        out.append(text("compare.change", field=label, old=shown(change.get("old"), shape),
                        new=shown(change.get("new"), shape)))
    return out


def _diff_path(field_name: str) -> str:
    """A conflict's differing field as a platform path: ``phone`` (a change) -> ``person.phone``."""
    return CHANGE_FIELDS.get(field_name, field_name)


def _grade(value: Any, codes: CodeTables | None) -> Any:
    grade = codes.grade_by_id(value) if codes is not None and isinstance(value, int) else None
    return str(grade.amount) if grade is not None else value


def compare(conflict: dict[str, Any], codes: CodeTables | None = None) -> Comparison:
    """The conflict as one table: 项目 | 平台 | 内部 (one internal column per candidate business)."""
    raw = conflict.get("platform") or {}
    person, businesses = _records(conflict.get("internal_rows") or [])
    columns = [text("compare.internal_business", ywlsh=b["ywlsh"]) for b in businesses] if len(businesses) > 1 \
        else [text("compare.internal")]
    records = [{**person, **b} for b in businesses] or [person]
    diffs = {_diff_path(str(d.get("field") or "")): d for d in conflict.get("fields") or [] if isinstance(d, dict)}
    lines: list[Line] = []
    spec = (*BUSINESS[:1], ("txn_id", "wblsh", None), *BUSINESS[1:], *PERSON,
            *PAYLOAD.get(str(raw.get("biz_type") or ""), ()))
    for path, column, code_type in spec:
        lines.append(_line(path, _pick(raw, path), column, code_type, records, diffs.pop(path, None), codes))
    for path, d in diffs.items():  # what differs and no row above names: a stale change's old value, a year
        lines.append(_line(path, d.get("platform"), None, None, records, d, codes))
    for column, code_type in INTERNAL_ONLY:
        if any(r.get(column) is not None for r in records):
            label = text(f"column.{column}") if has(f"column.{column}") else column
            lines.append(Line(text("compare.internal_only", field=label), "—",
                              [shown(r.get(column), column, codes, code_type) for r in records]))
    return Comparison(columns, lines, change_lines((raw.get("payload") or {}).get("changes")),
                      bool(person or businesses))


def _line(path: str, platform: Any, column: str | None, code_type: str | None, records: list[dict[str, Any]],
          diff: dict[str, Any] | None, codes: CodeTables | None) -> Line:
    label = _label(path, diff)
    if diff is not None:  # the value the check compared: the authority on both sides
        platform = diff.get("platform")
        cells = [shown(diff.get("internal"), path, codes, code_type)] * len(records)
        return Line(label, shown(platform, path, codes), cells, True)
    values = [r.get(column) if column else None for r in records]
    if path == "payload.grade":
        values = [_grade(v, codes) for v in values]
    cells = [shown(v, path, codes, code_type) if column and column in r else "—" for v, r in zip(values, records)]
    mine = shown(platform, path, codes)
    differs = any(c not in ("—", mine) and mine != empty() and c != empty() for c in cells) and \
        path not in ("created_at", "agent")  # when and by whom: two sides' own facts, not a dispute
    return Line(label, mine, cells, differs)


def _label(path: str, diff: dict[str, Any] | None) -> str:
    if diff is not None and path in CHANGE_FIELDS.values() and diff.get("field") in CHANGE_FIELDS:
        return text("compare.before_change", field=field_label(path))
    if path == "txn_id":
        return text("compare.txn_id")
    if path == "created_at":
        return text("compare.accepted_at")
    return field_label(path)


def resident(conflict: dict[str, Any]) -> str:
    """The resident's name, as the platform has it (else as the internal record has it)."""
    name = _pick(conflict.get("platform") or {}, "person.name")
    if not name:
        person, _ = _records(conflict.get("internal_rows") or [])
        name = person.get("aac003")
    return str(name) if name else text("compare.no_name")

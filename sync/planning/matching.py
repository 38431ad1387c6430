"""Recognising business already in the internal database: typed by hand, or entered twice.

A hand-typed business (``SJLY`` by hand, ``WBLSH`` null) of the same person and type,
entered within the window around the platform's ``created_at``, is a candidate. Exact
agreement of the rows it implies links it; anything else goes to an operator with the
differing fields. Business written by sync for *another* transaction that agrees exactly
is the same business entered twice on the platform.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.records import BusinessRecord
from sync.planning.decisions import Decision, Hold, Link
from sync.planning.ops import LinkBusinessLog
from sync.planning.registry import planner_for


def _entered(row: BusinessRow) -> datetime | None:
    try:
        return datetime.strptime(row.aae036 or "", "%Y%m%d%H%M%S")
    except ValueError:
        return None


def hand_typed(record: BusinessRecord, state: PersonState, codes: CodeTables, window: timedelta
               ) -> list[BusinessRow]:
    """Unlinked hand-typed business of the record's type entered within the window."""
    ywlx = codes.ywlx(record.biz_type)
    by_hand = codes.setting("source", "by_hand")
    # A type may tell its business apart before comparing rows (a change: the fields in BGNR).
    same = planner_for(record.biz_type).same_business
    out = []
    for row in state.business:
        entered = _entered(row)
        if (row.ywlx == ywlx and row.sjly == by_hand
                and row.wblsh is None and entered is not None
                and abs(entered - record.created_at) <= window and same(record, row)):
            out.append(row)
    return out


def _platform_twin(record: BusinessRecord, state: PersonState, codes: CodeTables) -> BusinessRow | None:
    ywlx = codes.ywlx(record.biz_type)
    compare = planner_for(record.biz_type).compare
    for row in state.business:
        if (row.ywlx == ywlx and row.wblsh not in (None, record.txn_id)
                and not compare(record, row, state, codes)):
            return row
    return None


def match(record: BusinessRecord, state: PersonState | None, codes: CodeTables, window: timedelta) -> Decision | None:
    """Link, hold, or None when nothing in the internal database is this business."""
    if state is None:
        return None
    candidates = hand_typed(record, state, codes, window)
    if len(candidates) > 1:
        return Hold("multiple_candidates", detail=str(len(candidates)), rows=tuple(r._asdict() for r in candidates))
    if candidates:
        row = candidates[0]
        diffs = planner_for(record.biz_type).compare(record, row, state, codes)
        if not diffs:
            return Link((LinkBusinessLog(row.ywlsh, record.txn_id),), ywlsh=row.ywlsh)
        return Hold("double_entry_mismatch", detail="、".join(d["field"] for d in diffs), fields=tuple(diffs),
                    rows=(row._asdict(),))
    twin = _platform_twin(record, state, codes)
    if twin is not None:
        return Hold("platform_duplicate", detail=str(twin.wblsh), rows=(twin._asdict(),))
    return None

"""The unsynced records: queries over the bridge's tables and the internal database.

Rows are streamed from the databases (``yield_per``) and summaries counted as they pass,
so a report over a million ledger rows never holds the table in memory.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ColumnElement, Select

from config.catalogue import has, label, text
from connectors.internal import schema as it
from connectors.internal.reader import chunk_size, chunks, within
from mapping.codes import CodeTables, code
from mapping.idcard import masked
from mapping.regions import Regions
from sync import atrest
from sync.conflicts import sentence
from sync.ledger import payloads
from sync.ledger import tables as t
from sync.status import waited_days, waited_since

KINDS = ("pending", "invalid", "conflict", "writeback_pending", "writeback_refused", "writeback_failing",
         "writeback_ferried", "writeback_held", "seal_missing", "hand_typed")
BUCKETS = ((1, "lt1"), (3, "1to3"), (7, "3to7"), (30, "7to30"), (None, "gt30"))
STREAM = 2000


@dataclass(frozen=True)
class Filters:
    region: str | None = None
    since: date | None = None
    kind: str | None = None
    min_age_days: float | None = None


@dataclass(slots=True)
class Row:
    kind: str
    txn_id: str | None
    region_code: str
    region_name: str
    agent: str
    biz_type: str
    person: str
    state: str
    reason: str
    reason_kind: str
    since: datetime | None
    days: float
    resident: str = ""  # the resident's name, as the console shows it
    conflict_id: int | None = None  # the open conflict's number, as the console names it (第 N 号)

    def cells(self) -> list[Any]:
        """The row's cells in the order of ``COLUMNS``: text, numbers, and the time the wait began as
        a ``datetime`` (at its wall-clock time, without a zone) or None; each writer shows them its way."""
        since = self.since
        return [text(f"report.kind.{self.kind}"), self.conflict_id, self.txn_id or "", self.region_code,
                self.region_name, self.agent, self.biz_type, self.resident, self.person, self.state, self.reason,
                since.replace(tzinfo=None) if since is not None and since.tzinfo is not None else since,
                round(self.days, 1)]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


COLUMNS = ("kind", "conflict_id", "txn_id", "region_code", "region_name", "agent", "biz_type", "resident", "person",
           "state", "reason", "since", "days")


def bucket(days: float) -> str:
    for limit, name in BUCKETS:
        if limit is None or days < limit:
            return name
    raise AssertionError("the last bucket has no limit")


@dataclass
class Summary:
    """Rows counted once each, by every dimension together; the counts by one dimension, labelled
    in words, are added up when asked for (a report counts 150,000 rows, and reads these once)."""

    total: int = 0
    # (kind, county, agent, biz_type, reason_kind, age) -> rows
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)

    def add(self, row: Row, county: str) -> None:
        self.total += 1
        self.counts[(row.kind, county, row.agent, row.biz_type, row.reason_kind, bucket(row.days))] += 1

    def _by(self, label: Callable[[tuple[str, ...]], str]) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, n in self.counts.items():
            out[label(key)] += n
        return out

    @property
    def by_kind(self) -> Counter[str]:
        return self._by(lambda k: text(f"report.kind.{k[0]}"))

    @property
    def by_region(self) -> Counter[str]:
        return self._by(lambda k: k[1])

    @property
    def by_agent(self) -> Counter[str]:
        return self._by(lambda k: k[2] or "—")

    @property
    def by_type(self) -> Counter[str]:
        return self._by(lambda k: k[3] or "—")

    @property
    def by_reason(self) -> Counter[str]:
        return self._by(lambda k: _reason_label(k[0], k[4]))

    @property
    def by_age(self) -> Counter[str]:
        return self._by(lambda k: text(f"report.age.{k[5]}"))

    def groups(self) -> list[tuple[str, list[tuple[str, int]]]]:
        ages = [text(f"report.age.{name}") for _, name in BUCKETS]
        by_age = self.by_age
        return [(text("report.by_kind"), self.by_kind.most_common()),
                (text("report.by_region"), self.by_region.most_common()),
                (text("report.by_agent"), self.by_agent.most_common(15)),
                (text("report.by_type"), self.by_type.most_common()),
                (text("report.by_reason"), self.by_reason.most_common(15)),
                (text("report.by_age"), [(a, by_age.get(a, 0)) for a in ages])]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, **{title: dict(items) for title, items in self.groups()}}


def _reason_label(kind: str, reason_kind: str) -> str:
    key = f"conflict_kind.{reason_kind}"
    return text(key) if has(key) else text(f"report.kind.{kind}")


def _biz(code: str | None) -> str:
    return label("biz_type", code)


class UnsyncedReport:
    """Everything not finished end to end, in both directions."""

    def __init__(self, internal: Engine, state: Engine, regions: Regions, codes: CodeTables, now: datetime,
                 residents: bool = True) -> None:
        self.internal, self.state, self.regions, self.codes, self.now = internal, state, regions, codes, now
        self.residents = residents  # False: rows without the resident's name (a summary counts, it shows none)
        self._names: dict[str, str] = {}  # region names by code, as the rows ask for them
        self._counties: dict[str, str] = {}

    def _days(self, since: datetime | None) -> float:
        return waited_days(since, self.now)

    def _row(self, kind: str, txn_id: str | None, region_code: str | None, agent: str, biz_type: str, person: str,
             state: str, reason: str, reason_kind: str, since: datetime | None, resident: str = "",
             conflict_id: int | None = None) -> Row:
        region = region_code or ""
        return Row(kind, txn_id, region, self._name(region) if region else "", agent, biz_type, person, state, reason,
                   reason_kind, since, self._days(since), resident, conflict_id)

    def _name(self, code: str) -> str:
        name = self._names.get(code)
        if name is None:
            name = self._names[code] = self.regions.name(code)
        return name

    # --- the parts -------------------------------------------------------------------------

    def _ledger_where(self, query: Select[Any], f: Filters) -> Select[Any]:
        x = t.txn.c
        if f.region:
            query = query.where(x.region_code.startswith(f.region))
        return query

    def _waiting(self, f: Filters) -> Iterator[Row]:
        x = t.txn.c
        query = self._ledger_where(select(x.txn_id, x.version, x.state, x.reason_kind, x.reasons, x.region_code,
                                          x.agent_id, x.agent_name, x.biz_type, x.id_number, x.created_at,
                                          x.first_seen_at)
                                   .where(x.state.in_(("pending", "invalid", "conflict"))), f).order_by(x.txn_id)
        for part in chunks(self._stream(self.state, query), STREAM):
            names = self._residents([(r[0], r[1]) for r in part])
            numbers = self._open_conflicts([r[0] for r in part if r[2] == "conflict"])
            for (txn_id, _, state, reason_kind, reasons, region_code, agent_id, agent_name, biz_type, id_number,
                 created_at, first_seen_at) in part:  # unpacked: a Row's attributes cost more, 150,000 times
                yield self._row(state, txn_id=txn_id, region_code=region_code, agent=_agent(agent_id, agent_name),
                                biz_type=_biz(biz_type), person=masked(id_number) if id_number else "",
                                state=text(f"state.{state}"), reason=_ledger_reason(state, reason_kind, reasons),
                                reason_kind=reason_kind or state, since=waited_since(created_at, first_seen_at),
                                resident=names.get(txn_id, ""), conflict_id=numbers.get(txn_id))

    def _unwritten(self, f: Filters) -> Iterator[Row]:
        x, w = t.txn.c, t.writeback.c
        # Not an anti-join over the whole ledger (2 s at a million rows on PostgreSQL, for none
        # found), but two small sets of candidates:
        # - rows no result has answered since their latest version but one: the partial index the
        #   nightly sweep reads (``tables.unanswered``);
        # - rows with a result that is not sent: handed to the ferry, held, failing, superseded.
        # A row with no result sent is in one or the other: its hint is only raised in the
        # transaction that records a result sent or ferried, and results are never deleted
        # (``verify`` names any hint without its result). What became of each candidate is then
        # read by key, a chunk at a time, and those with a result sent are left out.
        columns = (x.txn_id, x.version, x.state, x.region_code, x.agent_id, x.agent_name, x.biz_type, x.id_number,
                   x.state_at, x.created_at)
        hinted, unsent = (self._ledger_where(select(*columns).where(
            x.state.in_(("applied", "linked", "rejected")), or_(x.status.is_(None), x.status != "withdrawn"),
            candidates), f).order_by(x.txn_id)
            for candidates in (t.unanswered(),
                               and_(not_(t.unanswered()), x.txn_id.in_(select(w.txn_id).where(w.status != "sent")))))
        # Two cursors, disjoint, merged for the order of the rows: the first by its partial index
        # only (as the sweep reads it: the planner, misjudging the hint, may prefer the whole
        # ledger), the second as planned (no index knows which results are not sent; it reads
        # pb_writeback once).
        candidates = heapq.merge(self._stream(self.state, hinted, by_index=True), self._stream(self.state, unsent),
                                 key=lambda r: r.txn_id)
        for part in chunks(candidates):
            statuses = self._writeback_statuses([r.txn_id for r in part])
            names = self._residents([(r.txn_id, r.version) for r in part if "sent" not in statuses.get(r.txn_id, ())])
            for r in part:
                seen = statuses.get(r.txn_id, set())
                if "sent" in seen:
                    continue
                # Across the network gap: handed to the ferry and not yet answered, or held by a one-way gap.
                # Refused by the platform as malformed: not sent again until its body changes.
                kind = ("writeback_refused" if "refused" in seen else
                        "writeback_failing" if "failed" in seen else "writeback_ferried" if "ferried" in seen
                        else "writeback_held" if "held" in seen else "writeback_pending")
                yield self._row(kind, txn_id=r.txn_id, region_code=r.region_code,
                                agent=_agent(r.agent_id, r.agent_name),
                                biz_type=_biz(r.biz_type), person=masked(r.id_number) if r.id_number else "",
                                state=text(f"state.{r.state}"), reason=text(f"report.kind.{kind}"),
                                reason_kind=kind, since=waited_since(r.created_at, r.state_at),
                                resident=names.get(r.txn_id, ""))

    def _writeback_statuses(self, txn_ids: list[str]) -> dict[str, set[str]]:
        w = t.writeback.c
        out: dict[str, set[str]] = {}
        with self.state.connect() as conn:
            for txn_id, status in conn.execute(select(w.txn_id, w.status).where(w.txn_id.in_(txn_ids))):
                out.setdefault(txn_id, set()).add(status)
        return out

    def _residents(self, keys: list[tuple[str, int]]) -> dict[str, str]:
        """The resident's name in each of these versions, as the platform sent it and the console
        shows it (``sync.conflicts.page``); none for a payload purged after retention, or one that
        does not open here (a data key this side does not hold): the row is listed all the same."""
        v = t.txn_version.c
        wanted = dict(keys)
        out: dict[str, str] = {}
        if not wanted or not self.residents:
            return out
        with self.state.connect() as conn:
            for part in chunks(sorted(wanted), chunk_size(conn)):
                found = conn.execute(select(v.txn_id, v.version, v.raw).where(within(conn, v.txn_id, part)))
                for txn_id, version, raw in found:
                    if wanted.get(txn_id) == version:
                        out[txn_id] = _resident(raw, txn_id, version)
        return out

    def _open_conflicts(self, txn_ids: list[str]) -> dict[str, int]:
        """The number the console names each of these transactions' open conflict by."""
        c = t.conflict.c
        out: dict[str, int] = {}
        if not txn_ids:
            return out
        with self.state.connect() as conn:
            for part in chunks(sorted(set(txn_ids)), chunk_size(conn)):
                found = conn.execute(select(c.txn_id, func.max(c.id)).where(
                    within(conn, c.txn_id, part), c.status == "open").group_by(c.txn_id))
                out.update((txn_id, int(number)) for txn_id, number in found)
        return out

    def _created(self, txn_ids: list[str]) -> dict[str, str | None]:
        """The platform's ``created_at`` of these transactions: when their residents' wait began."""
        x = t.txn.c
        out: dict[str, str | None] = {}
        if not txn_ids:
            return out
        with self.state.connect() as conn:
            for part in chunks(sorted(set(txn_ids)), chunk_size(conn)):
                found = conn.execute(select(x.txn_id, x.created_at).where(within(conn, x.txn_id, part)))
                out.update((txn_id, created_at) for txn_id, created_at in found)
        return out

    def _people_query(self, *where: ColumnElement[bool]) -> Select[Any]:
        y, p = it.ae_ywjl.c, it.ac01.c
        return (select(y.ywlsh, y.wblsh, y.ywlx, y.aae011, y.aae036, y.aae015, y.qzzt, p.aab301, p.aac002, p.aac003)
                .select_from(it.ae_ywjl.join(it.ac01, y.aac001 == p.aac001)).where(*where))

    def _unsealed(self, f: Filters) -> Iterator[Row]:
        y, p = it.ae_ywjl.c, it.ac01.c
        query = self._people_query(y.wblsh.isnot(None), y.aae016 == code("review", "approved"),
                                   y.qzzt != code("seal", "sealed"))
        if f.region:
            query = query.where(p.aab301.startswith(f.region))
        for part in chunks(self._stream(self.internal, query.order_by(y.ywlsh)), STREAM):
            created = self._created([r.wblsh for r in part])
            for r in part:
                # The resident has waited since the agent took the business (the platform's
                # created_at), as on every other row; the internal approval time only without it.
                yield self._row("seal_missing", txn_id=r.wblsh, region_code=r.aab301, agent=r.aae011,
                                biz_type=self._ywlx(r.ywlx), person=masked(r.aac002),
                                state=text(f"qzzt.{str(r.qzzt).strip()}"),
                                reason=text("report.kind.seal_missing"), reason_kind="seal_missing",
                                since=waited_since(created.get(r.wblsh), _stamp(r.aae015) or _stamp(r.aae036)),
                                resident=_name(r.aac003))

    def _hand_typed(self, f: Filters, live_since: datetime | None) -> Iterator[Row]:
        if live_since is None:
            return
        y, p = it.ae_ywjl.c, it.ac01.c
        query = self._people_query(y.sjly == self.codes.setting("source", "by_hand"), y.wblsh.is_(None),
                                   y.aae036 >= live_since.strftime("%Y%m%d%H%M%S"))
        if f.region:
            query = query.where(p.aab301.startswith(f.region))
        for r in self._stream(self.internal, query.order_by(y.ywlsh)):
            yield self._row("hand_typed", txn_id=None, region_code=r.aab301, agent=r.aae011,
                            biz_type=self._ywlx(r.ywlx), person=masked(r.aac002), state=text("report.kind.hand_typed"),
                            reason=text("report.hand_typed_reason", ywlsh=r.ywlsh), reason_kind="hand_typed",
                            since=_stamp(r.aae036), resident=_name(r.aac003))

    def _ywlx(self, ywlx: str) -> str:
        code = str(ywlx).strip()
        return _biz(next((b for b, c in self.codes.mapping["business_type"].items() if c == code), code))

    def live_since(self) -> datetime | None:
        """When the bridge went live: its first run."""
        with self.state.connect() as conn:
            return conn.execute(select(func.min(t.run.c.started_at)).where(t.run.c.kind == "sync")).scalar()

    @staticmethod
    def _stream(engine: Engine, query: Select[Any], by_index: bool = False) -> Iterator[Any]:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                if by_index:
                    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                # A server-side cursor is planned for its first tenth by default (a nested loop of
                # a million index probes: 10 s); the report reads every row: plan for all of them.
                conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
                # and no JIT: it compiled for 50-120 ms per query, for estimates of rows never read
                conn.exec_driver_sql("SET LOCAL jit = off")
            yield from conn.execution_options(stream_results=True, yield_per=STREAM).execute(query)

    # --- all of it ----------------------------------------------------------------------------

    def rows(self, f: Filters = Filters()) -> Iterator[Row]:
        unsealed: set[str] = set()  # their result waits for the seal: one row each, not two
        for row in self._unsealed(f):
            if row.txn_id:
                unsealed.add(row.txn_id)
            if _kept(row, f):
                yield row
        for source in (self._waiting(f), self._unwritten(f), self._hand_typed(f, self.live_since())):
            for row in source:
                if row.txn_id not in unsealed and _kept(row, f):
                    yield row

    def county(self, row: Row) -> str:
        code = row.region_code[:6]
        county = self._counties.get(code)
        if county is None:
            county = self._counties[code] = f"{code} {self._name(code)}".strip() if code else "—"
        return county


def _kept(row: Row, f: Filters) -> bool:
    if f.kind and f.kind not in (row.kind, row.reason_kind):
        return False
    if f.since and (row.since is None or row.since.date() < f.since):
        return False
    return not (f.min_age_days is not None and row.days < f.min_age_days)


def _resident(raw: str, txn_id: str, version: int) -> str:
    try:
        person = payloads.open_json(raw, txn_id, version).get("person")
    except (atrest.NotOpened, atrest.DataKeyError, ValueError, AttributeError):
        return ""
    name = person.get("name") if isinstance(person, dict) else None
    return name if isinstance(name, str) else ""


def _name(value: Any) -> str:
    """A name from the internal database (``AC01.AAC003``, fixed width on some)."""
    return str(value).strip() if value is not None else ""


def _agent(agent_id: str | None, agent_name: str | None) -> str:
    return f"{agent_name}({agent_id})" if agent_name else (agent_id or "")


@lru_cache(maxsize=8192)  # a night's invalid and held records share a few thousand reasons
def _ledger_reason(state: str, reason_kind: str | None, reasons: str | None) -> str:
    data = json.loads(reasons) if reasons else None
    if state == "invalid":
        return "；".join(p["message"] for p in data or [])
    if state == "conflict":
        return sentence(reason_kind or "", (data or {}).get("detail"))
    return text(f"state.{state}")


def _parse(value: str | None) -> datetime | None:
    """The platform's ``YYYY-MM-DD HH:MM:SS``."""
    try:
        return datetime.fromisoformat(value) if value and len(value) == 19 and value[10] == " " else None
    except ValueError:
        return None


def _stamp(value: str | None) -> datetime | None:
    """The internal system's ``YYYYMMDDHHMMSS``."""
    if not value or len(value) != 14 or not value.isdigit():
        return None
    try:
        return datetime(int(value[:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:12]),
                        int(value[12:]))
    except ValueError:
        return None


def collect(report: UnsyncedReport, f: Filters) -> Iterator[tuple[Row, Summary]]:
    """Rows as they stream, each with the summary counted so far (the last one is complete)."""
    summary = Summary()
    for row in report.rows(f):
        summary.add(row, report.county(row))
        yield row, summary

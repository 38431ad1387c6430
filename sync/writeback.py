"""Results back to the platform (§6), once per state reached, idempotently.

Each business the bridge applied, linked, or turned down gets the outcome its internal
state calls for: review pending -> ``accepted``; approved and sealed -> ``completed`` with
the seal; review failed, rejected by an operator, or invalid -> ``rejected`` with a reason
an agent understands. The body is stored before it is sent, and the ``Idempotency-Key`` is
derived from (txn_id, version, outcome): a crash and a retry send the same key and body,
and the platform answers the first result again. ``40901`` means the platform holds a newer
version or a withdrawal: it is taken in through the sync engine's rules, never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Column, Table, exists, or_, select
from sqlalchemy.engine import Connection, Engine

from config.catalogue import text
from connectors.bulk import insert_rows, update_rows
from connectors.internal import schema as it
from connectors.internal.reader import chunk_size, chunks, within
from connectors.platform import ConflictError, PlatformError, RetryBudgetExhausted
from connectors.platform.errors import FatalError, NotFound
from mapping import wire
from mapping.codes import code
from mapping.types import platform_time
from sync import audit, faultpoints
from sync.engine import Parts
from sync.ledger import statistics
from sync.ledger import tables as t
from sync.process import stage

log = structlog.get_logger(__name__)
Due = tuple[dict[str, Any], dict[str, Any]]  # a ledger row that owes a result, and the result's body
STATES = t.OWING  # the states a result is written back for
PENDING, APPROVED = code("review", "pending"), code("review", "approved")  # AAE016, config/codes.toml
REVIEW = {PENDING: "accepted", APPROVED: "completed", code("review", "refused"): "rejected"}  # AAE016 -> outcome
FINAL = ("completed", "rejected")


@dataclass
class WritebackTally:
    sent: int = 0
    failed: int = 0
    superseded: int = 0
    refused: int = 0  # the platform refused the body as malformed (40001 …): not sent again unchanged
    waiting: int = 0  # approved, seal not yet made

    def count(self, outcome: str) -> None:
        with _TALLY_LOCK:  # results are sent from several threads
            setattr(self, outcome, getattr(self, outcome) + 1)


_TALLY_LOCK = threading.Lock()


def idempotency_key(txn_id: str, version: int, outcome: str) -> str:
    return hashlib.sha256(f"{txn_id}|{version}|{outcome}".encode()).hexdigest()


def _reason(ledger: dict[str, Any]) -> str:
    reasons = json.loads(ledger["reasons"] or "null")
    if ledger["state"] == "invalid":
        return text("writeback.invalid_reason", value="；".join(p["message"] for p in reasons or []))[:500]
    return (reasons or {}).get("reason") or text("writeback.review_failed")


def refused(err: PlatformError) -> bool:
    """The platform refused this request as it is (§2: 40001 "fix the request; never retry as
    is", 40401, any other 4xx it does not say to retry): the result ends ``refused`` and goes
    again only with another body. A bad key (40101), a region not permitted (40301) or an
    answer the client could not read say nothing about the body: those stay ``failed``."""
    return (isinstance(err, (FatalError, NotFound)) and isinstance(err.code, int) and 40000 <= err.code < 50000
            and err.code not in (40101, 40301))


def outcome_of(ledger: dict[str, Any], business: dict[str, Any] | None, seal: dict[str, Any] | None
               ) -> dict[str, Any] | None:
    """The result body (without ``version``) a transaction's current state calls for, or None.

    Never a body the platform must refuse: ``processed_at`` is a time the bridge knows (the
    review time, else the entry time, else when the ledger reached its state), and a review
    status inside that is none of AA10 AAE016's (``REVIEW``) sends nothing (``unknown_review``)."""
    if ledger["state"] in ("rejected", "invalid"):
        return {"outcome": "rejected", "reason": _reason(ledger), "processed_at": platform_time(ledger["state_at"]),
                "handler": "pension-bridge"}
    if business is None:
        return None
    outcome = REVIEW.get(str(business["aae016"]).strip())
    if outcome is None:
        return None
    known = [business["aae015"]] if outcome != "accepted" else []
    at = next(filter(None, map(platform_time, [*known, business["aae036"], ledger["state_at"]])), None)
    body = {"outcome": outcome, "internal_ref": business["ywlsh"], "handler": business["aae011"] or "pension-bridge",
            "processed_at": at or platform_time(ledger["state_at"])}
    if outcome == "rejected":
        body["reason"] = business["aae013"] or text("writeback.review_failed")
    if outcome == "completed":
        if seal is None:
            return None
        body["seal"] = {k: seal[k] for k in ("seal_code", "sealed_at", "receipt_sha256", "signature", "algorithm")}
    return body


def _ledger_rows(parts: Parts, after: str | None = None, limit: int | None = None,
                 only: list[str] | None = None) -> list[dict[str, Any]]:
    """Ledger rows that may owe a result, in txn_id order from after ``after`` (keyset pages);
    among ``only`` if given (a night's candidates, ``sync.sweep``)."""
    x, w = t.txn.c, t.writeback.c
    # A final result (completed, rejected) answering the ledger's latest version — or the one
    # before it, whose echo the latest is — closes the transaction: the nightly scan reads only
    # what is still open, not every row ever synced. A newer version from the agent reopens it.
    closed = exists().where(w.txn_id == x.txn_id, w.status.in_(("sent", "ferried")), w.outcome.in_(FINAL),
                            w.version + 1 >= x.version)
    query = (select(x.txn_id, x.state, x.version, x.status, x.ywlsh, x.reasons, x.state_at)
             .where(x.state.in_(STATES), x.txn_id.notlike("UNIDENTIFIED-%"),
                    (x.status.is_(None)) | (x.status != "withdrawn"), ~closed).order_by(x.txn_id))
    if parts.same_db:
        # Business that waits for review inside, its "accepted" sent, owes nothing yet (``_due_of``
        # reads it and finds so). Where the ledger and the internal tables share a database, the
        # query leaves it out: a quiet night over 87,000 such rows reads none of them.
        y = it.ae_ywjl.c
        accepted = exists().where(w.txn_id == x.txn_id, w.status.in_(("sent", "ferried")), w.outcome == "accepted")
        query = query.where(~(accepted & exists().where(y.ywlsh == x.ywlsh, y.aae016 == PENDING)))
    if after is not None:
        query = query.where(x.txn_id > after)
    if limit is not None:
        query = query.limit(limit)
    with parts.state.connect() as conn:
        if only is not None:
            query = query.where(within(conn, x.txn_id, only))
        result = conn.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, r)) for r in result]


def _by_key(engine: Engine, table: Table, column: Column[Any], values: list[str], *columns: Any,
            where: tuple[Any, ...] = ()) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for part in chunks(values, chunk_size(conn)):
            out.update({r._mapping[column.name]: dict(r._mapping) for r in
                        conn.execute(select(*columns).where(within(conn, column, part), *where))})
    return out


def _sent(parts: Parts, first: str, last: str) -> set[tuple[str, str]]:
    """Results sent, or handed to the ferry (``sync.ferry``) and awaiting the collector's answer,
    of the transactions from ``first`` to ``last``: a page's range of txn_id, read by the index
    without sending its keys."""
    w = t.writeback.c
    with parts.state.connect() as conn:
        return {(r.txn_id, r.outcome) for r in conn.execute(
            select(w.txn_id, w.outcome).where(w.txn_id >= first, w.txn_id <= last, w.status.in_(("sent", "ferried"))))}


def due(parts: Parts) -> tuple[list[Due], int]:
    """(ledger row, body) of every result not yet written back; and how many wait for a seal."""
    todo, waiting = [], 0
    for part, waits in due_in_pages(parts):
        todo.extend(part)
        waiting += waits
    return todo, waiting


def due_in_pages(parts: Parts, size: int = 5000, only: Collection[str] | None = None
                 ) -> Iterator[tuple[list[Due], int]]:
    """``due`` a page of the ledger at a time: memory stays flat however long the ledger.
    ``only``: among these txn_ids (a night's candidates), a page of them at a time."""
    if only is not None:
        for part in chunks(sorted(only), size):
            ledger = _ledger_rows(parts, only=part)
            if ledger:
                yield _due_of(parts, ledger)
        return
    after = None
    while True:
        ledger = _ledger_rows(parts, after, size)
        if not ledger:
            return
        yield _due_of(parts, ledger)
        after = ledger[-1]["txn_id"]


def _due_of(parts: Parts, ledger: list[dict[str, Any]]) -> tuple[list[Due], int]:
    """What a page of open ledger rows owes. Most of them, night after night, are business that
    waits for review inside with its "accepted" already sent: their AE_YWJL rows are read only
    once reviewed (``AAE016`` no longer 0), and seals only for approved business, so a quiet
    night reads a few rows instead of every open one."""
    y = it.ae_ywjl.c
    # What went out already, read by the page's range of txn_id. (As an EXISTS column of the
    # page's query, PostgreSQL hashed the whole of pb_writeback for every page: quadratic, 5 s
    # of a quiet night at N = 100,000.)
    sent = _sent(parts, ledger[0]["txn_id"], ledger[-1]["txn_id"])
    waiting_review = {r["ywlsh"] for r in ledger if r["ywlsh"] and (r["txn_id"], "accepted") in sent}
    columns = (y.ywlsh, y.aae016, y.aae013, y.aae015, y.aae036, y.aae011)
    business = _by_key(parts.internal, it.ae_ywjl, y.ywlsh,
                       [r["ywlsh"] for r in ledger if r["ywlsh"] and r["ywlsh"] not in waiting_review], *columns)
    business.update(_by_key(parts.internal, it.ae_ywjl, y.ywlsh, sorted(waiting_review), *columns,
                            where=(or_(y.aae016.is_(None), y.aae016 != PENDING),)))
    approved = [k for k, b in business.items() if str(b["aae016"]).strip() == APPROVED]
    for r in ledger:
        if (b := business.get(r["ywlsh"])) is not None and str(b["aae016"]).strip() not in REVIEW:
            log.warning("writeback_unknown_review", txn_id=r["txn_id"], aae016=str(b["aae016"])[:10])
    seals = _by_key(parts.state, t.seal, t.seal.c.ywlsh, approved, *[c for c in t.seal.c])
    owed, waiting = [], 0
    for row in ledger:
        seal = seals.get(row["ywlsh"])
        body = outcome_of(row, business.get(row["ywlsh"]), seal if seal and seal["status"] == "sealed" else None)
        if body is None:
            waiting += row["ywlsh"] in business and str(business[row["ywlsh"]]["aae016"]).strip() == APPROVED
        else:
            owed.append((row, body))
    owed = [(row, body) for row, body in owed if (row["txn_id"], body["outcome"]) not in sent]
    refused_bodies = _refused(parts, ledger[0]["txn_id"], ledger[-1]["txn_id"])
    return [(row, body) for row, body in owed
            if refused_bodies.get((row["txn_id"], body["outcome"], row["version"])) != {"version": row["version"], **body}
            ], waiting


def _refused(parts: Parts, first: str, last: str) -> dict[tuple[str, str, int], Any]:
    """(txn_id, outcome, version) -> body of results the platform refused as they were, of the
    transactions from ``first`` to ``last``: the same body is not sent again; another is."""
    w = t.writeback.c
    with parts.state.connect() as conn:
        return {(r.txn_id, r.outcome, r.version): json.loads(r.body) for r in conn.execute(
            select(w.txn_id, w.outcome, w.version, w.body).where(w.txn_id >= first, w.txn_id <= last,
                                                                 w.status == "refused"))}


def unfinished(parts: Parts, txn_ids: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    """(txn_id, outcome) -> (key, body) of earlier attempts that may have reached the platform."""
    w = t.writeback.c
    out: dict[tuple[str, str], tuple[str, str]] = {}
    with parts.state.connect() as conn:
        for part in chunks(txn_ids):
            query = (select(w.txn_id, w.outcome, w.idempotency_key, w.body)
                     .where(within(conn, w.txn_id, part), w.status.in_(("sending", "failed"))).order_by(w.created_at))
            out.update({(r.txn_id, r.outcome): (r.idempotency_key, r.body) for r in conn.execute(query)})
    return out


@dataclass
class Attempt:
    """One result to send: its key and exact body, fixed before anything is sent."""

    txn_id: str
    outcome: str
    key: str
    payload: dict[str, Any]
    status: str = "sending"
    answer: Any = None
    error: str | None = None


def prepare(row: dict[str, Any], body: dict[str, Any], earlier: tuple[str, str] | None) -> Attempt:
    # An attempt that may have reached the platform is repeated as it was: same key, same
    # body, even if the platform's echo has moved our version on since. The platform then
    # answers the first result again instead of recording a second one.
    if earlier:
        return Attempt(row["txn_id"], body["outcome"], earlier[0], json.loads(earlier[1]))
    return Attempt(row["txn_id"], body["outcome"], idempotency_key(row["txn_id"], row["version"], body["outcome"]),
                   {"version": row["version"], **body})


def _store(parts: Parts, attempts: list[Attempt]) -> None:
    """Every body of a chunk stored (status ``sending``) before any of them is sent."""
    w = t.writeback.c
    now = parts.clock()
    with parts.state.begin() as conn:
        known: set[str] = set()
        for part in chunks([a.key for a in attempts]):
            known.update(r[0] for r in conn.execute(select(w.idempotency_key).where(within(conn, w.idempotency_key, part))))
        new = [{"idempotency_key": a.key, "txn_id": a.txn_id, "outcome": a.outcome, "version": a.payload["version"],
                "body": json.dumps(a.payload, ensure_ascii=False), "status": "sending", "attempts": 0,
                "created_at": now} for a in attempts if a.key not in known]
        if new:
            insert_rows(conn, t.writeback, new)
        # A key stored before goes out again: as it was (``unfinished``), or with the body that
        # replaces one the platform refused — stored as sent, so the record says what went out.
        update_rows(conn, t.writeback, "idempotency_key",
                    [{"idempotency_key": a.key, "body": json.dumps(a.payload, ensure_ascii=False)}
                     for a in attempts if a.key in known],
                    lambda v: {"status": "sending", "body": v["body"]})


def _post(parts: Parts, attempt: Attempt) -> None:
    try:
        attempt.answer = parts.platform.post_result(attempt.txn_id, attempt.payload, attempt.key)
        attempt.status = "sent"
        faultpoints.reached("after_writeback_post")
    except ConflictError as err:
        attempt.status, attempt.error = "superseded", str(err)
    except RetryBudgetExhausted:
        attempt.status, attempt.error = "failed", "platform unreachable"
        raise
    except PlatformError as err:
        attempt.status, attempt.error = ("refused" if refused(err) else "failed"), str(err)[:1000]


def _settle(parts: Parts, attempts: list[Attempt], tally: WritebackTally) -> None:
    """What the platform answered, for finished chunks in one transaction (audit entries included).
    A crash before this commit leaves them ``sending``: the next run repeats key and body."""
    w = t.writeback.c
    now = parts.clock()
    done = [a for a in attempts if a.status != "sending"]
    with parts.state.begin() as conn:
        sent = [a for a in done if a.status == "sent"]
        audit.append_many(conn, [(now, "pension-bridge", "writeback", a.txn_id, {"key": a.key}) for a in sent])
        # One statement per kind of answer, not one per result (the profile: half the
        # write-back's CPU went into building and running those one by one).
        update_rows(conn, t.writeback, "idempotency_key",
                    [{"idempotency_key": a.key, "response": json.dumps(a.answer, ensure_ascii=False)} for a in sent],
                    lambda v: {"status": "sent", "attempts": w.attempts + 1, "sent_at": now, "response": v["response"]})
        update_rows(conn, t.writeback, "idempotency_key",
                    [{"idempotency_key": a.key, "status": a.status, "last_error": a.error}
                     for a in done if a.status != "sent"],
                    lambda v: {"status": v["status"], "attempts": w.attempts + 1, "last_error": v["last_error"]})
        answered(conn, [(a.txn_id, a.payload["version"]) for a in sent])
        _bump(conn, [(a.txn_id, a.answer) for a in sent])
    for a in done:
        tally.count(a.status)
    for a in done:
        if a.status == "superseded":
            try:
                take_in(parts, a.txn_id)
            except RetryBudgetExhausted:
                raise
            except Exception:  # one transaction's newer version must not stop the others' results
                log.exception("take_in_failed", txn_id=a.txn_id)


def answered(conn: Connection, results: Iterable[tuple[str, int]]) -> None:
    """The hint a quiet night reads (``sync.sweep``): the version each result answered, kept in
    the transaction that records it sent (or ferried). Only ever raised. ``results``: (txn_id,
    version answered)."""
    x = t.txn.c
    latest: dict[str, int] = {}
    for txn_id, version in results:
        latest[txn_id] = max(latest.get(txn_id, 0), version)
    update_rows(conn, t.txn, "txn_id", [{"txn_id": k, "answered_version": v} for k, v in latest.items()],
                where=lambda v: [or_(x.answered_version.is_(None), x.answered_version < v["answered_version"])])


def _bump(conn: Connection, answers: list[tuple[str, Any]]) -> None:
    """The platform bumped the version in its answer: the next result answers that one, and
    the echo is old news. ``answers``: (txn_id, the platform's answer)."""
    update_rows(conn, t.txn, "txn_id",
                [{"txn_id": txn_id, "version": answer["version"], "status": answer.get("status")}
                 for txn_id, answer in answers if isinstance(answer, dict) and isinstance(answer.get("version"), int)],
                where=lambda v: [t.txn.c.version < v["version"]])


def follow(parts: Parts, txn_id: str, answer: Any) -> None:
    """One answer's version bump (the ferry's loader), in a transaction of its own."""
    with parts.state.begin() as conn:
        _bump(conn, [(txn_id, answer)])


def take_in(parts: Parts, txn_id: str) -> None:
    """Fetch the platform's current version and process it by the sync engine's rules."""
    raw = parts.platform.transaction(txn_id)
    ident = wire.identity(raw)
    if ident is not None and ident[0] != txn_id:  # another transaction's snapshot: the feed brings the right one
        raise ValueError(f"the platform answered transaction {ident[0]!r} when asked for {txn_id!r}")
    version = wire.version_of(raw.get("version")) if isinstance(raw, dict) else None
    seen = None
    if version is not None:  # read as the wire model reads it ("2" is 2); any other is staged as it is
        with parts.state.connect() as conn:
            seen = conn.execute(select(t.txn_version.c.version).where(
                t.txn_version.c.txn_id == txn_id, t.txn_version.c.version == version)).first()
    if seen is None:
        processor = parts.processor(f"takein-{txn_id}")
        batch = [stage(raw)]
        processor.process(batch, parts.scans.outcomes(raw.get("attachments") or [], {}), None, None)


def write_back(parts: Parts, workers: int = 8, chunk: int | None = None, depth: int = 3,
               only: Collection[str] | None = None) -> WritebackTally:
    """Send every result that is due, ``workers`` at a time (paced by the client's limiter);
    ``only``: among these txn_ids, a night's candidates (``sync.sweep``).

    A chunk's bodies are stored before it is sent and its answers recorded after, those of
    all chunks finished by then in one transaction. A chunk is 16 rounds of the workers (128
    results with 8): a run killed again and again — a timeout every night, say — still commits
    its progress every fraction of a second, and what was sent but not yet recorded goes again
    with the same key. Smaller chunks cost more than they save: each costs two transactions and
    eight statements, done under the GIL among the sending workers (18,040 results: 13.7 s of CPU
    in chunks of 32, 10.5 in 64, 10.0 in 128, 9.6 in 256). Up to ``depth`` chunks are in
    flight, so the workers keep sending while this thread stores the next chunk and records
    the last.
    Ends early, cleanly, when the platform stays down: what was not sent is due next run.
    """
    tally = WritebackTally()
    down = threading.Event()
    chunk = chunk or max(32, 16 * workers)
    flight: deque[list[Any]] = deque()  # [chunk's attempts, how many of them are still out]
    # The first night's write-back grows pb_writeback from nothing to a row per transaction.
    growth = statistics.Growth(parts.state, t.writeback,
                               lambda: statistics.refresh(parts.state, (t.writeback, t.txn)))

    def send(attempt: Attempt) -> None:
        if down.is_set():
            return
        try:
            _post(parts, attempt)
        except RetryBudgetExhausted:
            down.set()

    running: dict[Future[Any], list[Any]] = {}  # a result being sent -> its chunk's entry in the flight
    # Each future queues itself when done: wait(FIRST_COMPLETED) over all those running installed
    # a waiter on every one of them for every result (at the platform's pace, most of the
    # write-back's CPU: hundreds running, one finishing at a time).
    returns: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()

    def returned(future: Future[Any]) -> None:
        entry = running.pop(future)
        entry[1] -= 1
        if (error := future.exception()) is not None:
            raise error

    def settle(wait_first: bool) -> None:
        """Record the chunks finished at the head of the flight (waiting for the first if ``wait_first``)."""
        while not returns.empty():
            returned(returns.get())
        finished: list[Attempt] = []
        while flight:
            if flight[0][1] == 0:
                finished.extend(flight.popleft()[0])
            elif wait_first and not finished:
                returned(returns.get())
            else:
                break
        if finished:
            _settle(parts, finished, tally)

    # A standard executor rather than a crew of threads of our own: at the platform's limit the
    # CPU its futures cost (about 0.1 ms a result) is a thousandth of a core (sync.scans did the same).
    pool = ThreadPoolExecutor(workers, thread_name_prefix="writeback")
    try:
        try:
            for todo, waiting in due_in_pages(parts, only=only):
                tally.waiting += waiting
                earlier = unfinished(parts, [row["txn_id"] for row, _ in todo])
                attempts = [prepare(row, body, earlier.get((row["txn_id"], body["outcome"]))) for row, body in todo]
                for start in range(0, len(attempts), chunk):
                    if down.is_set():
                        break
                    part = attempts[start:start + chunk]
                    _store(parts, part)
                    growth.grew(len(part))
                    entry = [part, len(part)]
                    flight.append(entry)
                    for attempt in part:
                        future = pool.submit(send, attempt)
                        running[future] = entry
                        future.add_done_callback(returns.put)
                    settle(wait_first=len(flight) > depth)
                if down.is_set():
                    break
        finally:
            while flight:
                settle(wait_first=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a failure: what no worker has taken is not sent
    if down.is_set():
        log.error("writeback_stopped", reason="platform unreachable")
        raise RetryBudgetExhausted("write-back: the platform stayed down")
    return tally

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
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update

from config.catalogue import text
from connectors.internal import schema as it
from connectors.internal.reader import chunks
from connectors.platform import ConflictError, PlatformError, RetryBudgetExhausted
from sync import audit, faultpoints
from sync.engine import Parts
from sync.ledger import tables as t
from sync.process import Processor, Tally, stage

log = structlog.get_logger(__name__)
STATES = ("applied", "linked", "rejected", "invalid")
REVIEW = {"0": "accepted", "1": "completed", "2": "rejected"}  # AAE016 -> outcome


@dataclass
class WritebackTally:
    sent: int = 0
    failed: int = 0
    superseded: int = 0
    waiting: int = 0  # approved, seal not yet made

    def count(self, outcome: str) -> None:
        with _TALLY_LOCK:  # results are sent from several threads
            setattr(self, outcome, getattr(self, outcome) + 1)


_TALLY_LOCK = threading.Lock()


def idempotency_key(txn_id: str, version: int, outcome: str) -> str:
    return hashlib.sha256(f"{txn_id}|{version}|{outcome}".encode()).hexdigest()


def _time(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    try:
        return datetime.strptime(str(value or ""), "%Y%m%d%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _reason(ledger: dict[str, Any]) -> str:
    reasons = json.loads(ledger["reasons"] or "null")
    if ledger["state"] == "invalid":
        return text("writeback.invalid_reason", value="；".join(p["message"] for p in reasons or []))[:500]
    return (reasons or {}).get("reason") or text("writeback.review_failed")


def outcome_of(ledger: dict[str, Any], business: dict[str, Any] | None, seal: dict[str, Any] | None
               ) -> dict[str, Any] | None:
    """The result body (without ``version``) a transaction's current state calls for, or None."""
    if ledger["state"] in ("rejected", "invalid"):
        return {"outcome": "rejected", "reason": _reason(ledger), "processed_at": _time(ledger["state_at"]),
                "handler": "pension-bridge"}
    if business is None:
        return None
    outcome = REVIEW.get(str(business["aae016"]).strip())
    body = {"outcome": outcome, "internal_ref": business["ywlsh"], "handler": business["aae011"],
            "processed_at": _time(business["aae015"] if outcome != "accepted" else business["aae036"])}
    if outcome == "rejected":
        body["reason"] = business["aae013"] or text("writeback.review_failed")
    if outcome == "completed":
        if seal is None:
            return None
        body["seal"] = {k: seal[k] for k in ("seal_code", "sealed_at", "receipt_sha256", "signature", "algorithm")}
    return body


def _ledger_rows(parts: Parts) -> list[dict[str, Any]]:
    x = t.txn.c
    query = (select(x.txn_id, x.state, x.version, x.status, x.ywlsh, x.reasons, x.state_at)
             .where(x.state.in_(STATES), x.txn_id.notlike("UNIDENTIFIED-%"),
                    (x.status.is_(None)) | (x.status != "withdrawn")))
    with parts.state.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _by_key(engine, table, column, values, *columns) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for part in chunks(values):
            out.update({r._mapping[column.name]: dict(r._mapping) for r in
                        conn.execute(select(*columns).where(column.in_(part)))})
    return out


def _sent(parts: Parts, txn_ids: list[str]) -> set[tuple[str, str]]:
    """Results sent, or handed to the ferry (``sync.ferry``) and awaiting the collector's answer."""
    w = t.writeback.c
    out: set[tuple[str, str]] = set()
    with parts.state.connect() as conn:
        for part in chunks(txn_ids):
            out.update((r.txn_id, r.outcome) for r in conn.execute(
                select(w.txn_id, w.outcome).where(w.txn_id.in_(part), w.status.in_(("sent", "ferried")))))
    return out


def due(parts: Parts) -> tuple[list[tuple[dict, dict]], int]:
    """(ledger row, body) of every result not yet written back; and how many wait for a seal."""
    ledger = _ledger_rows(parts)
    y = it.ae_ywjl.c
    business = _by_key(parts.internal, it.ae_ywjl, y.ywlsh, [r["ywlsh"] for r in ledger if r["ywlsh"]],
                       y.ywlsh, y.aae016, y.aae013, y.aae015, y.aae036, y.aae011)
    seals = _by_key(parts.state, t.seal, t.seal.c.ywlsh, [r["ywlsh"] for r in ledger if r["ywlsh"]],
                    *[c for c in t.seal.c])
    sent = _sent(parts, [r["txn_id"] for r in ledger])
    todo, waiting = [], 0
    for row in ledger:
        seal = seals.get(row["ywlsh"])
        body = outcome_of(row, business.get(row["ywlsh"]), seal if seal and seal["status"] == "sealed" else None)
        if body is None:
            waiting += row["ywlsh"] in business and str(business[row["ywlsh"]]["aae016"]).strip() == "1"
        elif (row["txn_id"], body["outcome"]) not in sent:
            todo.append((row, body))
    return todo, waiting


def _record(parts: Parts, key: str, values: dict[str, Any]) -> None:
    with parts.state.begin() as conn:
        if values.get("status") == "sent":
            audit.append(conn, parts.clock(), "pension-bridge", "writeback", values.get("txn_id") or key[:16],
                         {"key": key})
        if conn.execute(select(t.writeback.c.attempts).where(t.writeback.c.idempotency_key == key)).first() is None:
            first = {k: v for k, v in values.items() if k != "attempts"}
            conn.execute(t.writeback.insert().values(idempotency_key=key, attempts=0, created_at=parts.clock(), **first))
        else:
            conn.execute(update(t.writeback).where(t.writeback.c.idempotency_key == key).values(**values))


def unfinished(parts: Parts, txn_ids: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    """(txn_id, outcome) -> (key, body) of earlier attempts that may have reached the platform."""
    w = t.writeback.c
    out: dict[tuple[str, str], tuple[str, str]] = {}
    with parts.state.connect() as conn:
        for part in chunks(txn_ids):
            query = (select(w.txn_id, w.outcome, w.idempotency_key, w.body)
                     .where(w.txn_id.in_(part), w.status.in_(("sending", "failed"))).order_by(w.created_at))
            out.update({(r.txn_id, r.outcome): (r.idempotency_key, r.body) for r in conn.execute(query)})
    return out


def send_one(parts: Parts, row: dict[str, Any], body: dict[str, Any], tally: WritebackTally,
             earlier: tuple[str, str] | None = None) -> None:
    # An attempt that may have reached the platform is repeated as it was: same key, same
    # body, even if the platform's echo has moved our version on since. The platform then
    # answers the first result again instead of recording a second one.
    if earlier:
        key, payload = earlier[0], json.loads(earlier[1])
    else:
        key = idempotency_key(row["txn_id"], row["version"], body["outcome"])
        payload = {"version": row["version"], **body}
    common = {"txn_id": row["txn_id"], "outcome": body["outcome"], "version": payload["version"],
              "body": json.dumps(payload, ensure_ascii=False)}
    _record(parts, key, {**common, "status": "sending"})
    try:
        answer = parts.client.post_result(row["txn_id"], payload, key)
        faultpoints.reached("after_writeback_post")
    except ConflictError as err:
        _record(parts, key, {"status": "superseded", "last_error": str(err), "attempts": t.writeback.c.attempts + 1})
        tally.count("superseded")
        take_in(parts, row["txn_id"])
        return
    except RetryBudgetExhausted:
        _record(parts, key, {"status": "failed", "last_error": "platform unreachable",
                             "attempts": t.writeback.c.attempts + 1})
        tally.count("failed")
        raise
    except PlatformError as err:
        _record(parts, key, {"status": "failed", "last_error": str(err)[:1000], "attempts": t.writeback.c.attempts + 1})
        tally.count("failed")
        return
    _record(parts, key, {"txn_id": row["txn_id"], "status": "sent", "sent_at": parts.clock(), "response": json.dumps(answer, ensure_ascii=False),
                         "attempts": t.writeback.c.attempts + 1})
    _follow(parts, row["txn_id"], answer)
    tally.count("sent")


def _follow(parts: Parts, txn_id: str, answer: Any) -> None:
    """The platform bumped the version: the next result answers that one, and the echo is old news."""
    if isinstance(answer, dict) and isinstance(answer.get("version"), int):
        with parts.state.begin() as conn:
            conn.execute(update(t.txn).where(t.txn.c.txn_id == txn_id, t.txn.c.version < answer["version"])
                         .values(version=answer["version"], status=answer.get("status")))


def take_in(parts: Parts, txn_id: str) -> None:
    """Fetch the platform's current version and process it by the sync engine's rules."""
    raw = parts.client.transaction(txn_id)
    with parts.state.connect() as conn:
        seen = conn.execute(select(t.txn_version.c.version).where(
            t.txn_version.c.txn_id == txn_id, t.txn_version.c.version == raw.get("version"))).first()
    if seen is None:
        processor = Processor(parts.internal, parts.state, parts.same_db, parts.codes, parts.context,
                              f"takein-{txn_id}", parts.clock, Tally(), parts.rules)
        batch = [stage(raw)]
        processor.process(batch, parts.fetcher.outcomes(raw.get("attachments") or [], {}), None, None)


def write_back(parts: Parts, workers: int = 8) -> WritebackTally:
    """Send every result that is due, ``workers`` at a time (paced by the client's limiter).

    Ends early, cleanly, when the platform stays down: what was not sent is due next run.
    """
    tally = WritebackTally()
    todo, tally.waiting = due(parts)
    earlier = unfinished(parts, [row["txn_id"] for row, _ in todo])
    down = threading.Event()

    def send(item: tuple[dict, dict]) -> None:
        row, body = item
        if down.is_set():
            return
        try:
            send_one(parts, row, body, tally, earlier.get((row["txn_id"], body["outcome"])))
        except RetryBudgetExhausted:
            down.set()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(send, todo))
    if down.is_set():
        log.error("writeback_stopped", reason="platform unreachable")
        raise RetryBudgetExhausted("write-back: the platform stayed down")
    return tally

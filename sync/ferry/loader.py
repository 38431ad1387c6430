"""The internal half: feed batches through the same path as ``sync``; results out as batches.

Each verified batch is imported through ``sync.process.Processor`` exactly as ``sync`` imports
a page: versions already in the ledger are dropped first, so a batch imported twice, or a
crash between importing and marking it imported, changes nothing. The answers the collector
carried back (``acks``) settle the write-back rows. Then approved business is sealed, and every
due result goes out in a result batch — or, across a one-way gap, is held and reported.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from config.catalogue import text
from connectors.internal.reader import chunks, within
from mapping.types import PLATFORM_ID
from sync import audit, faultpoints, services, writeback
from sync.engine import Parts, exit_status
from sync.ferry import batch as b
from sync.ferry.collector import Folders
from sync.ferry.inbox import Inbox
from sync.ferry.outbox import Outbox
from sync.ferry.signing import BatchSigner
from sync.ledger import tables as t
from sync.locks import run_lock
from sync.process import Processor, Tally
from sync.scans import ScanOutcome, ScanStore

log = structlog.get_logger(__name__)
RESULTS_PER_BATCH = 2000
SCAN_STATUSES = ("ok", "missing", "sha256_mismatch", "type_not_allowed", "too_large", "no_hash")


def _short(value: object) -> str | None:
    """An attachment's words (kind, declared type) as the ledger keeps them: short text or nothing."""
    return value[:40] if isinstance(value, str) else None


@dataclass
class LoadResult:
    run_id: str
    status: str = "completed"
    tally: Tally = field(default_factory=Tally)
    imported: list[str] = field(default_factory=list)     # sender:seq
    duplicates: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    acks: int = 0
    results: int = 0
    result_batches: list[int] = field(default_factory=list)
    held: int = 0
    problems: list[str] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)
    attention: bool = False  # a database error, a quarantined batch: a person must look

    @property
    def exit_code(self) -> int:
        return exit_status(self.status, self.attention)


class Loader:
    def __init__(self, parts: Parts, folders: Folders, signer: BatchSigner, sender: str, one_way: bool = False) -> None:
        self.parts, self.folders, self.one_way = parts, folders, one_way
        self.outbox = Outbox(parts.state, "results", sender, folders.outbox, folders.archive, signer, parts.clock)
        self.inbox = Inbox(parts.state, "feed", folders.inbox, folders.quarantine, folders.received, signer,
                           parts.clock)
        self.store = ScanStore(parts.scan_dir or parts.home / "scans")

    def run(self, wait: bool = False, accept_gap: bool = False) -> LoadResult:
        p = self.parts
        run_id = p.clock().strftime("load-%Y%m%d%H%M%S-") + uuid.uuid4().hex[:6]
        structlog.contextvars.bind_contextvars(run_id=run_id)
        result = LoadResult(run_id)
        with p.state.begin() as conn:
            conn.execute(t.run.insert().values(run_id=run_id, kind="load", started_at=p.clock(), status="running"))
        with run_lock(p.state, p.home, "ferry:load", wait=wait):
            self.outbox.recover(self._record_results)
            processor = p.processor(run_id, result.tally)
            try:
                for batch in self.inbox.take(accept_gap):
                    with batch:
                        self.import_batch(processor, batch, result)
                    self.inbox.archive(batch)
            except SQLAlchemyError as err:  # the batch in hand is taken again next run
                result.status = "incomplete"
                result.attention = True
                result.problems.append(f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
                log.error("load_incomplete", error=result.problems[-1])
            result.duplicates, result.quarantined = self.inbox.duplicates, self.inbox.quarantined
            result.waiting = self.inbox.waiting
            if result.quarantined:  # unsigned, changed or unreadable: the other side must send it again
                result.status = "incomplete"
                result.attention = True
            result.after["seal"] = dataclasses.asdict(services.seal(services.Seal(), p))
            self.send_results(result)
        self._report(result)
        self._finish(result)
        return result

    # --- feed batches in ------------------------------------------------------------------------

    def import_batch(self, processor: Processor, batch: b.Batch, result: LoadResult) -> None:
        p, m = self.parts, batch.manifest
        raws = batch.items("transactions")
        for sha in batch.scan_names():  # verified: 64 hex digits, the bytes hash to them
            if not self.store.has(sha):
                self.store.put(sha, batch.scan(sha))
        outcomes = {aid: self._outcome(batch, aid, o) for aid, o in m.attachments.items()
                    if isinstance(o, dict) and PLATFORM_ID.fullmatch(aid)}
        if batch.dropped:  # set aside unread: only the attachments naming a dropped scan fail
            detail = ", ".join(f"{name[:80]} ({why})" for name, why in batch.dropped[:5])
            result.problems.append(text("ferry.dropped_line", batch=f"{m.sender}:{m.seq}", count=len(batch.dropped),
                                        detail=detail))
            log.warning("batch_members_dropped", sender=m.sender, seq=m.seq, dropped=batch.dropped[:20])
        fresh = services.load_batch(services.LoadBatch(tuple(raws), outcomes), p, processor)
        acks = batch.items("acks")
        counts = {"transactions": len(raws), "new": fresh, "acks": len(acks)}
        if batch.dropped:
            counts["dropped"] = len(batch.dropped)
        with p.state.begin() as conn:
            self._settle(conn, acks)
            if batch.dropped:
                audit.append(conn, p.clock(), "pension-bridge", "ferry_members_dropped", f"{m.sender}:{m.seq}",
                             {"dropped": [[name[:80], why] for name, why in batch.dropped[:50]]})
            self.inbox.record(conn, batch, counts)
        for ack in acks:
            answer = ack.get("answer")
            if ack.get("status") == "sent" and isinstance(answer, dict):
                writeback.follow(p, ack["txn_id"], answer)
        result.acks += len(acks)
        result.imported.append(f"{m.sender}:{m.seq}")
        log.info("batch_imported", sender=m.sender, seq=m.seq, transactions=len(raws), new=fresh, acks=len(acks))
        faultpoints.reached("after_batch_imported")

    def _outcome(self, batch: b.Batch, aid: str, o: dict[str, Any]) -> ScanOutcome:
        """An attachment's outcome as the collector reported it, unless this side knows better: a
        ``sha256`` that is no SHA-256, or names a scan the batch set aside, has failed; one marked
        fetched that neither this batch nor the store holds is missing (the record waits for it)."""
        status, sha = o.get("status"), o.get("sha256")
        if status not in SCAN_STATUSES:
            status = "missing"
        if status == "ok":
            carried = batch.carries(sha)
            if carried is False:
                status = "sha256_mismatch"
            elif carried is None and not self.store.has(b.scan_hash(sha)):
                status = "missing"
        size = o.get("size")
        return ScanOutcome(aid, status, b.scan_hash(sha), _short(o.get("kind")), _short(o.get("content_type")),
                           size if isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**31 else None)

    def _settle(self, conn: Connection, acks: list[dict[str, Any]]) -> None:
        """The platform's answers to results sent across: sent, superseded, or failed (sent again)."""
        w = t.writeback.c
        now = self.parts.clock()
        for ack in acks:
            key, status = ack.get("idempotency_key"), ack.get("status")
            row = conn.execute(select(w.status, w.txn_id).where(w.idempotency_key == key)).first()
            if row is None or row.status == "sent" or status not in ("sent", "superseded", "failed"):
                continue
            answer = json.dumps(ack.get("answer"), ensure_ascii=False)
            values: dict[str, Any] = {"status": status, "attempts": w.attempts + 1}
            if status == "sent":
                values.update(sent_at=now, response=answer)
                audit.append(conn, now, "pension-bridge", "writeback", row.txn_id, {"key": key, "via": "ferry"})
            else:
                values["last_error"] = answer
            conn.execute(update(t.writeback).where(w.idempotency_key == key).values(**values))

    # --- results out ----------------------------------------------------------------------------

    def send_results(self, result: LoadResult) -> None:
        p = self.parts
        todo, waiting = writeback.due(p)
        earlier = writeback.unfinished(p, [row["txn_id"] for row, _ in todo])
        items = []
        for row, body in todo:
            before = earlier.get((row["txn_id"], body["outcome"]))
            if before:  # a result that may have reached the platform goes again as it was
                key, payload = before[0], json.loads(before[1])
            else:
                key = writeback.idempotency_key(row["txn_id"], row["version"], body["outcome"])
                payload = {"version": row["version"], **body}
            items.append({"idempotency_key": key, "txn_id": row["txn_id"], "outcome": body["outcome"], "body": payload})
        result.after["results"] = {"due": len(items), "waiting_for_seal": waiting}
        if self.one_way:
            with p.state.begin() as conn:
                self._mark(conn, items, "held", None)
            result.held = len(items)
            if p.signer is not None:
                audit.sign_head(p.state, p.signer, p.home, p.clock())
            return
        # The audit head, signed at the end of the run (``sync.audit``), goes across in each batch.
        head = audit.sign_head(p.state, p.signer, p.home, p.clock()) if p.signer is not None else None
        for start in range(0, len(items), RESULTS_PER_BATCH):
            seq = self.outbox.send(b.Contents(results=items[start:start + RESULTS_PER_BATCH], audit_head=head),
                                   self._record_results)
            result.result_batches.append(seq)
        result.results = len(items)

    def _record_results(self, conn: Connection, seq: int, contents: b.Contents) -> None:
        self._mark(conn, contents.results, "ferried", seq)

    def _mark(self, conn: Connection, items: list[dict[str, Any]], status: str, seq: int | None) -> None:
        """Record results as handed to the ferry (or held), a batch of statements, not one per result;
        a result the platform already confirmed (``sent``) is left as it is."""
        w = t.writeback.c
        now = self.parts.clock()
        known: dict[str, str] = {}
        for part in chunks([i["idempotency_key"] for i in items]):
            known.update(conn.execute(select(w.idempotency_key, w.status).where(within(conn, w.idempotency_key, part))).all())
        rows = [{"k": i["idempotency_key"], "txn_id": i["txn_id"], "outcome": i["outcome"],
                 "version": i["body"]["version"], "body": json.dumps(i["body"], ensure_ascii=False), "status": status,
                 "last_error": f"results batch {seq}" if seq else None} for i in items]
        new = [{**{k: v for k, v in r.items() if k != "k"}, "idempotency_key": r["k"], "attempts": 0,
                "created_at": now} for r in rows if r["k"] not in known]
        again = [r for r in rows if known.get(r["k"]) not in (None, "sent")]
        if new:
            conn.execute(t.writeback.insert(), new)
        if again:
            conn.execute(update(t.writeback).where(w.idempotency_key == bindparam("k")).values(
                txn_id=bindparam("txn_id"), outcome=bindparam("outcome"), version=bindparam("version"),
                body=bindparam("body"), status=bindparam("status"), last_error=bindparam("last_error")), again)
        if status == "ferried":  # answered, as the nightly scan counts it: a quiet night skips them
            writeback.answered(conn, [(r["txn_id"], r["version"]) for r in rows if known.get(r["k"]) != "sent"])

    # --- the run's record -----------------------------------------------------------------------

    def _report(self, result: LoadResult) -> None:
        from sync.nightly import daily_report
        try:
            daily_report(self.parts, result)
        except (OSError, ValueError) as err:
            result.problems.append(f"report: {err}")
            log.error("report_failed", error=str(err))

    def _finish(self, result: LoadResult) -> None:
        tally = result.tally
        summary = {"pulled": tally.pulled, "new_versions": tally.new_versions, "by_state": dict(tally.by_state),
                   "conflicts": dict(tally.conflicts), "imported": result.imported, "duplicates": result.duplicates,
                   "quarantined": result.quarantined, "waiting": result.waiting, "acks": result.acks,
                   "results": result.results, "result_batches": result.result_batches, "held": result.held,
                   "problems": result.problems, **result.after}
        with self.parts.state.begin() as conn:
            conn.execute(update(t.run).where(t.run.c.run_id == result.run_id).values(
                finished_at=self.parts.clock(), status=result.status,
                summary=json.dumps(summary, ensure_ascii=False)))

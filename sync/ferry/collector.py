"""The external half: the feed and its scans into signed batches; results from the inside
posted to the platform, their answers carried back.

It pulls exactly as ``sync`` does (the same feed iterator, overlap and scan fetcher) but keeps
its own state database: its checkpoint per scope (``collect:<prefix>``), the versions it has
sent (``pb_ferry_sent``), so none is sent twice, and the answers it owes the inside.
"""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from connectors.internal.reader import chunks, within
from connectors.platform import (
    ConflictError,
    PlatformClient,
    PlatformError,
    RegionForbidden,
    RetryBudgetExhausted,
)
from connectors.platform.feed import pages
from mapping import wire
from sync import audit, faultpoints
from sync import checkpoint as cp
from sync.engine import INCOMPLETE, page_position
from sync.ferry import batch as b
from sync.ferry.inbox import Inbox
from sync.ferry.outbox import Outbox
from sync.ferry.signing import BatchSigner
from sync.ledger import tables as t
from sync.ledger.store import record_attachments, verified_scans
from sync.locks import run_lock
from sync.process import Staged, stage
from sync.scans import ScanFetcher, ScanOutcome, ScanUnreadable

log = structlog.get_logger(__name__)


@dataclass
class Folders:
    """Where batches go out, come in, and are kept on one side."""

    outbox: Path
    inbox: Path
    home: Path

    @property
    def archive(self) -> Path:
        return self.home / "ferry" / "sent"

    @property
    def received(self) -> Path:
        return self.home / "ferry" / "received"

    @property
    def quarantine(self) -> Path:
        return self.home / "ferry" / "quarantine"


@dataclass
class CollectorParts:
    client: PlatformClient
    state: Engine
    fetcher: ScanFetcher
    folders: Folders
    signer: BatchSigner
    sender: str
    scopes: tuple[str | None, ...]
    overlap: timedelta
    page_size: int
    clock: Callable[[], datetime]


@dataclass
class CollectResult:
    status: str = "completed"
    batches: list[int] = field(default_factory=list)
    pulled: int = 0
    sent_versions: int = 0
    scans: int = 0
    results_posted: dict[str, int] = field(default_factory=dict)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped_regions: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "completed" else INCOMPLETE


def collect_scope(scope: str | None) -> str:
    return f"collect:{scope or '*'}"


def _record_feed(conn: Connection, seq: int, contents: b.Contents, now: datetime) -> None:
    """What a feed batch carried is sent: versions, scans' outcomes, answers, checkpoint."""
    staged = [stage(raw) for raw in contents.transactions]
    f = t.ferry_sent.c
    known: set[tuple[str, int]] = set()
    for part in chunks(list({s.txn_id for s in staged})):
        known.update((r.txn_id, r.version) for r in conn.execute(select(f.txn_id, f.version).where(within(conn, f.txn_id, part))))
    rows = {(s.txn_id, s.version): {"txn_id": s.txn_id, "version": s.version, "seq": seq} for s in staged}
    new = [row for key, row in rows.items() if key not in known]
    if new:
        conn.execute(t.ferry_sent.insert(), new)
    record_attachments(conn, [ScanOutcome(aid, o["status"], o.get("sha256"), o.get("kind"), o.get("content_type"),
                                          o.get("size")) for aid, o in contents.attachments.items()], now)
    for part in chunks([a["idempotency_key"] for a in contents.acks]):
        conn.execute(update(t.ferry_ack).where(within(conn, t.ferry_ack.c.idempotency_key, part)).values(seq=seq))
    for scope, position in contents.positions.items():
        cp.write(conn, scope, cp.Checkpoint(updated_at=datetime.fromisoformat(position)), now)


class Collector:
    def __init__(self, parts: CollectorParts) -> None:
        self.parts = parts
        f = parts.folders
        self.outbox = Outbox(parts.state, "feed", parts.sender, f.outbox, f.archive, parts.signer, parts.clock)
        self.inbox = Inbox(parts.state, "results", f.inbox, f.quarantine, f.received, parts.signer, parts.clock)
        self.result = CollectResult()

    def record(self, conn: Connection, seq: int, contents: b.Contents) -> None:
        _record_feed(conn, seq, contents, self.parts.clock())

    def run(self, wait: bool = False, accept_gap: bool = False) -> CollectResult:
        p = self.parts
        with run_lock(p.state, p.folders.home, "ferry:collect", wait=wait):
            self.outbox.recover(self.record)
            try:
                self.post_results(accept_gap)
            except (RetryBudgetExhausted, PlatformError) as err:
                self._problem("results", err)
            for scope in p.scopes:
                try:
                    self.collect(scope)
                except RegionForbidden:
                    self.result.skipped_regions.append(scope or "*")
                except (RetryBudgetExhausted, PlatformError) as err:
                    self._problem(scope or "*", err)
            self._send(b.Contents())  # answers still owed, when no feed batch carried them
        self.result.quarantined = self.inbox.quarantined
        self.result.waiting = self.inbox.waiting
        return self.result

    def _problem(self, where: str, err: Exception) -> None:
        self.result.status = "incomplete"
        self.result.problems.append(f"{where}: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
        log.error("collect_incomplete", where=where, error=self.result.problems[-1])

    # --- the feed -------------------------------------------------------------------------------

    def collect(self, scope: str | None) -> None:
        p = self.parts
        key = collect_scope(scope)

        def committed() -> datetime | None:
            with p.state.connect() as conn:
                return cp.read(conn, key).updated_at

        for page in pages(p.client, committed, region_prefix=scope, overlap=p.overlap, limit=p.page_size):
            self.result.pulled += len(page.items)
            fresh = self._new_versions(page.items)
            position = page_position(page.items)
            contents = b.Contents(transactions=[s.raw for s in fresh])
            if position is not None:
                contents.positions[key] = position.isoformat()
            self._scans(fresh, contents)
            self._send(contents)
            faultpoints.reached("after_batch")

    def _new_versions(self, items: list[Any]) -> list[Staged]:
        staged = [stage(item) for item in items]
        f = t.ferry_sent.c
        with self.parts.state.connect() as conn:
            sent = {(r.txn_id, r.version) for part in chunks(list({s.txn_id for s in staged}))
                    for r in conn.execute(select(f.txn_id, f.version).where(within(conn, f.txn_id, part)))}
        fresh: dict[tuple[str, int], Staged] = {}
        for s in staged:
            if (s.txn_id, s.version) not in sent:
                fresh.setdefault((s.txn_id, s.version), s)
        return list(fresh.values())

    def _scans(self, fresh: list[Staged], contents: b.Contents) -> None:
        attachments = [a for s in fresh if _may_need_scans(s)
                       for a in s.raw["attachments"] if isinstance(a, dict) and isinstance(a.get("attachment_id"), str)]
        with self.parts.state.connect() as conn:
            verified = verified_scans(conn, [a["attachment_id"] for a in attachments])
        outcomes = self.parts.fetcher.outcomes(attachments, verified)
        kept: dict[str, str] = {}  # SHA-256 -> status, each scan checked once per batch
        for aid, o in outcomes.items():
            status = o.status
            if o.ok:  # every batch carries its own scans: no batch needs another
                sha = b.scan_hash(o.sha256)
                if sha is None:
                    status = "sha256_mismatch"  # a "hash" that is a path, or anything else: no bytes of ours
                else:
                    if sha not in kept:
                        kept[sha] = self._kept_scan(sha, contents)
                    status = kept[sha]
            contents.attachments[aid] = {"status": status, "sha256": b.scan_hash(o.sha256), "kind": o.kind,
                                         "content_type": o.content_type, "size": o.size}
        self.result.scans += len(contents.scans)

    def _kept_scan(self, sha: str, contents: b.Contents) -> str:
        """Put the scan kept under ``sha`` (64 lowercase hex digits) into ``contents`` if it is a
        regular file of the scan store whose bytes hash to ``sha``; the attachment's status."""
        path = Path(self.parts.fetcher.store.root) / sha[:2] / sha
        try:
            info = path.lstat()
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISREG(info.st_mode) or info.st_size > b.MAX_SCAN:
            log.error("scan_not_kept_file", sha256=sha, mode=oct(info.st_mode), size=info.st_size)
            return "sha256_mismatch"
        store = self.parts.fetcher.store
        try:  # through the store: decrypted if kept encrypted, checked against the name
            store.open_file(path)
        except ScanUnreadable:  # changed on disk since it was fetched, or under a key not held
            log.error("scan_kept_bytes_differ", sha256=sha)
            return "sha256_mismatch"
        contents.scans[sha] = lambda: store.open_file(path)  # read again as the batch is written
        return "ok"

    def _send(self, contents: b.Contents) -> None:
        a = t.ferry_ack.c
        with self.parts.state.connect() as conn:
            contents.acks = [{"idempotency_key": r.idempotency_key, "txn_id": r.txn_id, "status": r.status,
                              "answer": json.loads(r.answer) if r.answer else None}
                             for r in conn.execute(select(a.idempotency_key, a.txn_id, a.status, a.answer)
                                                   .where(a.seq.is_(None)).order_by(a.idempotency_key))]
        if not contents.transactions and not contents.acks:
            if contents.positions:  # nothing new on this page: the checkpoint still moves on
                with self.parts.state.begin() as conn:
                    self.record(conn, 0, contents)
            return
        seq = self.outbox.send(contents, self.record)
        self.result.batches.append(seq)
        self.result.sent_versions += len(contents.transactions)

    # --- results from the inside ---------------------------------------------------------------

    def post_results(self, accept_gap: bool) -> None:
        counts = self.result.results_posted
        for batch in self.inbox.take(accept_gap):
            with batch:
                items = batch.items("results")
                down = threading.Event()

                def post(item: dict[str, Any], down: threading.Event = down) -> str | None:
                    if down.is_set():
                        return None
                    try:
                        return self._post(item)
                    except RetryBudgetExhausted:
                        down.set()
                        return None

                pool = ThreadPoolExecutor(self.parts.fetcher.workers, thread_name_prefix="results")
                try:
                    for future in as_completed([pool.submit(post, item) for item in items]):
                        if (status := future.result()) is not None:
                            counts[status] = counts.get(status, 0) + 1
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)  # a failure: what has not started is not sent
                if down.is_set():  # the platform stayed down: the batch is taken again next run
                    raise RetryBudgetExhausted("results: the platform stayed down")
                with self.parts.state.begin() as conn:
                    self.inbox.record(conn, batch, {"results": len(items)})
                if isinstance(batch.manifest.audit_head, dict):  # the inside's signed head, witnessed here
                    audit.append_head(self.parts.folders.home / "audit" / "inside-heads.jsonl",
                                      batch.manifest.audit_head)
            self.inbox.archive(batch)

    def _post(self, item: dict[str, Any]) -> str:
        """Post one result unless it already was; its answer is owed to the inside either way."""
        key, txn_id, body = item["idempotency_key"], item["txn_id"], item["body"]
        a = t.ferry_ack.c
        with self.parts.state.connect() as conn:
            earlier = conn.execute(select(a.status).where(a.idempotency_key == key)).scalar()
        if earlier in ("sent", "superseded"):
            with self.parts.state.begin() as conn:  # answer again: the first answer may have been lost
                conn.execute(update(t.ferry_ack).where(a.idempotency_key == key).values(seq=None))
            return "repeated"
        try:
            answer = self.parts.client.post_result(txn_id, body, key)
            status = "sent"
            faultpoints.reached("after_writeback_post")
        except ConflictError as err:
            status, answer = "superseded", {"error": str(err)[:500]}
        except RetryBudgetExhausted:
            raise
        except PlatformError as err:
            status, answer = "failed", {"error": str(err)[:500]}
        values = {"txn_id": txn_id, "status": status, "answer": json.dumps(answer, ensure_ascii=False), "seq": None}
        with self.parts.state.begin() as conn:
            if conn.execute(update(t.ferry_ack).where(a.idempotency_key == key).values(**values)).rowcount == 0:
                conn.execute(t.ferry_ack.insert().values(idempotency_key=key, **values))
        return status

    def resend(self, seq: int, rebuild: bool = False) -> Path:
        return self.outbox.resend(seq, rebuild)[0]


def _may_need_scans(staged: Staged) -> bool:
    """What the external side can tell without the internal tables: a record whose wire model is
    sound (its attachments' shapes, at most ``wire.MAX_ATTACHMENTS`` of them) and not withdrawn.
    Anything else is invalid or ignored inside whatever its scans hold: no request is spent on it.
    The loader decides the rest (``Processor.needs_scans`` there needs the code and region tables)."""
    if not staged.identified or not isinstance(staged.raw, dict) or not staged.raw.get("attachments"):
        return False
    try:
        return wire.parse(staged.raw).status != "withdrawn"
    except wire.WireError:
        return False

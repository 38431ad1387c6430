"""Picking up the other side's batches: complete ones only, verified, in sequence, once.

A file under a temporary name is still being written and is left alone. A complete one is
verified whole (``batch.Batch``); a bad one is moved to the quarantine folder beside a short
report of why, and recorded — nothing of it is imported. A copy of a batch already imported is
dropped. The rest are taken per sender in sequence: a batch whose predecessor has not arrived
waits in the inbox (``ferry status`` shows the gap) unless the operator accepts the gap.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from config.catalogue import text
from sync import audit
from sync.ferry import batch as b
from sync.ferry.signing import BatchSigner
from sync.ledger import tables as t

log = structlog.get_logger(__name__)
DONE = ("imported", "skipped")


def next_expected(seqs: set[int]) -> int:
    n = 0
    while n + 1 in seqs:
        n += 1
    return n + 1


class Inbox:
    def __init__(self, state: Engine, kind: str, folder: Path, quarantine: Path, received: Path,
                 signer: BatchSigner, clock: Callable[[], datetime]) -> None:
        self.state, self.kind, self.folder, self.quarantine, self.received = state, kind, folder, quarantine, received
        self.signer, self.clock = signer, clock
        self.quarantined: list[tuple[str, str]] = []
        self.duplicates = 0
        self.waiting: dict[str, dict[str, Any]] = {}  # sender -> {"missing": first missing seq, "held": [seqs]}

    def files(self) -> list[Path]:
        """Complete batch files of this kind (a temporary name is a batch still arriving)."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.iterdir()):
            named = b.parse_name(path.name)
            if path.is_file() and named and named[0] == self.kind:
                out.append(path)
        return out

    def done_seqs(self, conn: Connection) -> dict[str, dict[int, str]]:
        """sender -> {seq: file SHA-256} of batches imported (or skipped by an operator)."""
        i = t.ferry_in.c
        out: dict[str, dict[int, str]] = {}
        query = select(i.sender, i.seq, i.file_sha256, i.status).where(i.kind == self.kind, i.status.in_(DONE))
        for r in conn.execute(query):
            seqs = out.setdefault(r.sender, {})
            if r.status == "imported" or r.seq not in seqs:
                seqs[r.seq] = r.file_sha256
        return out

    def take(self, accept_gap: bool = False) -> Iterator[b.Batch]:
        """Verified batches in sequence; the caller imports each and then calls ``done``."""
        with self.state.connect() as conn:
            done = self.done_seqs(conn)
        ready: list[b.Batch] = []
        for path in self.files():
            try:
                batch = b.Batch(path, self.signer)
            except b.BadBatch as bad:
                self._quarantine(path, bad)
                continue
            m = batch.manifest
            earlier = done.get(m.sender, {}).get(m.seq)
            if earlier in (None, "skipped"):  # new, or arriving after the operator gave up on it
                ready.append(batch)
            elif earlier == batch.file_sha256:
                batch.close()
                self._drop_copy(path)
            elif earlier is not None:
                batch.close()
                self._quarantine(path, b.BadBatch("seq_reused", f"{m.sender} {m.seq}"))
        ready.sort(key=lambda x: (x.manifest.sender, x.manifest.seq))
        seen: set[tuple[str, int]] = set()
        try:
            while ready:
                batch = ready.pop(0)
                m = batch.manifest
                if (m.sender, m.seq) in seen:  # the same batch twice in the inbox under two names
                    batch.close()
                    continue
                seen.add((m.sender, m.seq))
                expected = next_expected(set(done.get(m.sender, {})))
                if m.seq > expected:
                    if not accept_gap:
                        self.waiting.setdefault(m.sender, {"missing": expected, "held": []})["held"].append(m.seq)
                        batch.close()
                        continue
                    self._skip(m.sender, expected, m.seq)
                    done.setdefault(m.sender, {}).update({s: "skipped" for s in range(expected, m.seq)})
                yield batch
                done.setdefault(m.sender, {})[m.seq] = batch.file_sha256
        finally:
            for batch in ready:
                batch.close()
        for sender, gap in self.waiting.items():
            log.warning("batch_waiting", sender=sender, **gap)

    def record(self, conn: Connection, batch: b.Batch, counts: dict[str, int]) -> None:
        """Mark ``batch`` imported, in the caller's transaction (with what it changed)."""
        m = batch.manifest
        i = t.ferry_in.c
        conn.execute(delete(t.ferry_in).where(i.sender == m.sender, i.kind == m.kind, i.seq == m.seq,
                                              i.status == "skipped"))
        conn.execute(t.ferry_in.insert().values(sender=m.sender, kind=m.kind, seq=m.seq, file_name=batch.path.name,
                                                file_sha256=batch.file_sha256, status="imported",
                                                counts=json.dumps(counts), received_at=self.clock()))
        audit.append(conn, self.clock(), "pension-bridge", f"ferry_{self.kind}_imported", f"{m.sender}:{m.seq}",
                     {"file_sha256": batch.file_sha256, **counts})

    def archive(self, batch: b.Batch) -> None:
        batch.close()
        self._move(batch.path, self.received)

    def _skip(self, sender: str, start: int, stop: int) -> None:
        with self.state.begin() as conn:
            for seq in range(start, stop):
                conn.execute(t.ferry_in.insert().values(
                    sender=sender, kind=self.kind, seq=seq, file_name=b.file_name(self.kind, sender, seq),
                    file_sha256="skipped", status="skipped", detail=text("ferry.gap_accepted"),
                    received_at=self.clock()))
                audit.append(conn, self.clock(), "operator", "ferry_gap_accepted", f"{sender}:{seq}", {})
        log.warning("batch_gap_accepted", sender=sender, skipped=list(range(start, stop)))

    def _drop_copy(self, path: Path) -> None:
        self.duplicates += 1
        log.info("batch_duplicate", file=path.name)
        self._move(path, self.received, suffix=".duplicate")

    def _quarantine(self, path: Path, bad: b.BadBatch) -> None:
        named = b.parse_name(path.name) or (self.kind, None, None)
        target = self._move(path, self.quarantine)
        reason = text(f"ferry.bad.{bad.reason}")
        target.with_name(target.name + ".txt").write_text(
            text("ferry.quarantine_note", file=path.name, reason=reason, detail=bad.detail or "-",
                 at=self.clock().strftime("%Y-%m-%d %H:%M:%S")) + "\n", encoding="utf-8")
        with self.state.begin() as conn:
            conn.execute(t.ferry_in.insert().values(
                sender=named[1], kind=named[0], seq=named[2], file_name=path.name,
                file_sha256=b.sha256_file(target), status="quarantined",
                detail=f"{bad.reason}: {bad.detail}"[:1000], received_at=self.clock()))
            audit.append(conn, self.clock(), "pension-bridge", "ferry_quarantined", path.name[:80],
                         {"reason": bad.reason, "detail": bad.detail[:200]})
        self.quarantined.append((path.name, bad.reason))
        log.error("batch_quarantined", file=path.name, reason=bad.reason, detail=bad.detail[:200])

    def _move(self, path: Path, folder: Path, suffix: str = "") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (path.name + suffix)
        n = 1
        while target.exists():
            target = folder / f"{path.name}{suffix}.{n}"
            n += 1
        shutil.move(path, target)
        return target

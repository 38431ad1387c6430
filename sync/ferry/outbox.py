"""The batches one side writes: numbered without gaps, archived, delivered, recovered.

Each batch takes the next number of its kind in ``pb_ferry_out`` (status ``writing``) before
anything is written; the file goes to the archive, then is copied into the outbox (temporary
name, renamed); only then does ``record`` mark what it carried as sent, in one transaction
with the batch's status. A crash anywhere leaves a ``writing`` row, which the next run finishes
from the archive — or, if the archive never got the file, fills with an empty batch so that the
other side never waits for a number that will not come. Delivering a batch twice is harmless:
the other side drops the copy.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from sync import audit, faultpoints
from sync.ferry import batch as b
from sync.ferry.signing import BatchSigner
from sync.ledger import tables as t

log = structlog.get_logger(__name__)
Record = Callable[[Connection, int, b.Contents], None]


class Outbox:
    def __init__(self, state: Engine, kind: str, sender: str, outbox: Path, archive: Path, signer: BatchSigner,
                 clock: Callable[[], datetime]) -> None:
        self.state, self.kind, self.sender, self.outbox, self.archive = state, kind, sender, outbox, archive
        self.signer, self.clock = signer, clock

    def _allocate(self) -> int:
        o = t.ferry_out.c
        with self.state.begin() as conn:
            seq = (conn.execute(select(func.max(o.seq)).where(o.kind == self.kind)).scalar() or 0) + 1
            conn.execute(t.ferry_out.insert().values(kind=self.kind, seq=seq, status="writing", created_at=self.clock(),
                                                     file_name=b.file_name(self.kind, self.sender, seq)))
        return seq

    def send(self, contents: b.Contents, record: Record) -> int:
        """Write, archive and deliver one batch; ``record`` marks its contents as sent."""
        seq = self._allocate()
        self._finish(seq, contents, record)
        return seq

    def _finish(self, seq: int, contents: b.Contents, record: Record, path: Path | None = None) -> None:
        if path is None:
            path = b.write(self.archive, self.kind, self.sender, seq, self.clock().strftime("%Y-%m-%d %H:%M:%S"),
                           contents, self.signer)
        faultpoints.reached("after_batch_archived")
        b.copy_into(path, self.outbox)
        faultpoints.reached("after_batch_delivered")
        first, last = contents.range()
        counts = {"transactions": len(contents.transactions), "results": len(contents.results),
                  "acks": len(contents.acks), "scans": len(contents.scans)}
        with self.state.begin() as conn:
            record(conn, seq, contents)
            conn.execute(update(t.ferry_out).where(t.ferry_out.c.kind == self.kind, t.ferry_out.c.seq == seq).values(
                status="sent", file_sha256=b.sha256_file(path), counts=json.dumps(counts), first_at=first,
                last_at=last, sent_at=self.clock()))
        log.info("batch_sent", kind=self.kind, seq=seq, **counts)

    def recover(self, record: Record) -> int:
        """Finish the batches a crash left ``writing``; how many."""
        o = t.ferry_out.c
        with self.state.connect() as conn:
            unfinished = [r.seq for r in conn.execute(select(o.seq).where(o.kind == self.kind, o.status == "writing")
                                                      .order_by(o.seq))]
        for seq in unfinished:
            path = self.archive / b.file_name(self.kind, self.sender, seq)
            if path.is_file():
                with b.Batch(path, self.signer, own=True) as done:
                    contents = done.contents()
                self._finish(seq, contents, record, path)
            else:
                self._finish(seq, b.Contents(), lambda conn, seq, contents: None)
            log.warning("batch_recovered", kind=self.kind, seq=seq, from_archive=path.is_file())
        return len(unfinished)

    def resend(self, seq: int, rebuild: bool = False) -> tuple[Path, bool]:
        """Deliver an archived batch again (the other side asked for it, or it was lost); whether
        it was rebuilt.

        A sound archive goes again byte for byte: the other side refused a copy damaged on the
        way, or never got one. An archive holding what a sound writer never writes (a scan whose
        bytes are not its name, a member no manifest lists) would be refused again as it is: it
        is rebuilt under the same number from what verifies — the same transactions, results and
        answers, the sound scans, an attachment whose scan is left out marked as failed — signed
        with this side's key (``rebuild`` forces this, e.g. after a key change). The archive it
        replaces is kept beside it (``….replaced``). ``BadBatch``: the archive cannot be read.
        """
        path = self.archive / b.file_name(self.kind, self.sender, seq)
        if not path.is_file():
            raise FileNotFoundError(path)
        with b.Batch(path, self.signer, own=True) as batch:
            if batch.clean and not rebuild:
                return b.copy_into(path, self.outbox), False
            with tempfile.TemporaryDirectory(prefix=b.TEMP_PREFIX, dir=self.archive) as scratch:
                contents = batch.salvage(Path(scratch))
                created_at, dropped = batch.manifest.created_at, batch.dropped
                build = Path(scratch) / "build"
                fresh = b.write(build, self.kind, self.sender, seq, created_at, contents, self.signer)
                n, kept = 0, path.with_name(path.name + ".replaced")
                while kept.exists():
                    n += 1
                    kept = path.with_name(f"{path.name}.replaced.{n}")
                os.replace(path, kept)
                os.replace(fresh, path)
        with self.state.begin() as conn:
            conn.execute(update(t.ferry_out).where(t.ferry_out.c.kind == self.kind, t.ferry_out.c.seq == seq)
                         .values(file_sha256=b.sha256_file(path)))
            audit.append(conn, self.clock(), "operator", "ferry_batch_rebuilt", f"{self.kind}:{self.sender}:{seq}",
                         {"dropped": [[name[:80], why] for name, why in dropped[:50]], "replaced": kept.name})
        log.warning("batch_rebuilt", kind=self.kind, seq=seq, dropped=dropped[:20])
        return b.copy_into(path, self.outbox), True

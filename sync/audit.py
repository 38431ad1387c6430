"""The audit trail: append-only and tamper-evident.

Each entry's hash covers its content and the previous entry's hash, so editing or deleting
any entry breaks every hash after it; ``check`` finds the first break. Appenders take turns
through the one-row head table, updated in the same transaction as the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from connectors.bulk import insert_rows
from sync.ledger import tables as t

GENESIS = "0" * 64


def entry_hash(prev: str, at: datetime, actor: str, action: str, subject: str | None, detail: str | None) -> str:
    body = json.dumps([prev, at.isoformat(timespec="seconds"), actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def append(conn: Connection, at: datetime, actor: str, action: str, subject: str | None = None,
           detail: Any = None) -> None:
    """Add one entry in the caller's transaction."""
    at = at.replace(microsecond=0)
    text_detail = detail if isinstance(detail, str) or detail is None else json.dumps(detail, ensure_ascii=False,
                                                                                       default=str)
    # Taking the head's row lock first makes concurrent appenders wait their turn.
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(entries=t.audit_head.c.entries + 1))
    prev = conn.execute(select(t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)).scalar_one()
    digest = entry_hash(prev, at, actor[:60], action, subject, text_detail)
    conn.execute(t.audit.insert().values(at=at, actor=actor[:60], action=action, subject=subject,
                                         detail=text_detail, prev_hash=prev, hash=digest))
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(last_hash=digest))


def append_many(conn: Connection, entries: list[tuple[datetime, str, str, str | None, Any]]) -> None:
    """Add entries (at, actor, action, subject, detail) in order, taking the head's turn once."""
    if not entries:
        return
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(
        entries=t.audit_head.c.entries + len(entries)))
    prev = conn.execute(select(t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)).scalar_one()
    rows = []
    for at, actor, action, subject, detail in entries:
        at = at.replace(microsecond=0)
        text_detail = detail if isinstance(detail, str) or detail is None else json.dumps(
            detail, ensure_ascii=False, default=str)
        digest = entry_hash(prev, at, actor[:60], action, subject, text_detail)
        rows.append({"at": at, "actor": actor[:60], "action": action, "subject": subject, "detail": text_detail,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    insert_rows(conn, t.audit, rows)
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(last_hash=prev))


def check(conn: Connection, signed: dict[str, Any] | None = None) -> list[str]:
    """Problems with the chain: an edited entry, a deleted one, or a head that does not match;
    with ``signed`` (``latest_head``), also a chain that no longer holds the head signed: entry
    number ``entries`` (in order) must carry the hash signed. A chain rewritten from its first
    entry, with a head row made to match, breaks it; so does an edit or a deletion before it."""
    problems, prev, count = [], GENESIS, 0
    want, signed_hash, signed_at = (int(signed["entries"]), signed["hash"], signed["at"]) if signed else (0, None, None)
    query = select(t.audit).order_by(t.audit.c.id).execution_options(yield_per=2000)
    for row in conn.execute(query):
        count += 1
        if row.prev_hash != prev:
            problems.append(f"audit entry {row.id}: the entry before it was changed or removed")
        if entry_hash(row.prev_hash, row.at, row.actor, row.action, row.subject, row.detail) != row.hash:
            problems.append(f"audit entry {row.id}: its content was changed")
        if count == want and row.hash != signed_hash:
            problems.append(f"audit trail: entry {want} does not hold the head signed at {signed_at}; "
                            "the chain was rewritten")
        prev = row.hash
    if count < want:
        problems.append(f"audit trail: {count} entries, {want} were signed at {signed_at}; entries were removed")
    head = conn.execute(select(t.audit_head)).first()
    if head is not None and (head.last_hash != prev or head.entries != count):
        problems.append("audit trail: entries are missing at its end")
    return problems


# --- the signed head: a witness outside the database ---------------------------------------------
#
# Nothing in the database proves the chain: whoever can write it can rewrite every entry from the
# first and set ``pb_audit_head`` to match. At the end of each run the head (entry count and last
# hash) is signed with the seal key and appended to ``$BRIDGE_HOME/audit/heads.jsonl``, and carried
# in each results batch across the gap. ``check`` holds the chain to the latest head that verifies
# under the seal key: its entry number ``entries`` must still carry that hash.

HEADS_FILE = "heads.jsonl"


def head(conn: Connection) -> tuple[int, str]:
    """(entries, last hash) of the chain as the head row records it."""
    row = conn.execute(select(t.audit_head.c.entries, t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)).first()
    return (int(row.entries), row.last_hash) if row is not None else (0, GENESIS)


def _head_digest(entries: int, last_hash: str, at: str) -> bytes:
    body = json.dumps({"entries": entries, "hash": last_hash, "at": at}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).digest()


def signed_head(conn: Connection, signer: Any, at: datetime) -> dict[str, Any]:
    """The chain's head signed by ``signer`` (``sync.sealing.signer.Signer``, the seal key)."""
    entries, last_hash = head(conn)
    stamp = at.replace(microsecond=0).isoformat()
    signature = signer.sign(_head_digest(entries, last_hash, stamp))
    return {"entries": entries, "hash": last_hash, "at": stamp, "algorithm": signer.algorithm,
            "fingerprint": signer.fingerprint, "signature": signature.hex()}


def head_holds(record: Any, signer: Any) -> bool:
    """``record`` is a head signed by ``signer``'s key (its public half is enough)."""
    try:
        entries, last_hash, stamp = int(record["entries"]), str(record["hash"]), str(record["at"])
        if record.get("algorithm") != signer.algorithm or record.get("fingerprint") != signer.fingerprint:
            return False
        return bool(signer.verify(_head_digest(entries, last_hash, stamp), bytes.fromhex(str(record["signature"]))))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def heads_path(home: Any) -> Path:
    return Path(home) / "audit" / HEADS_FILE


def append_head(path: Path, record: dict[str, Any]) -> None:
    """Append one signed head: the file is created owner-only (0600, its folder 0700) and only
    ever opened for appending, never through a symbolic link."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def sign_head(engine: Any, signer: Any, home: Any, at: datetime) -> dict[str, Any] | None:
    """Sign the head now and append it to the heads file; the record, or None without a key that
    signs (a verifying-only key, a signing service that is down: the run is not failed for it)."""
    try:
        with engine.connect() as conn:
            record = signed_head(conn, signer, at)
        append_head(heads_path(home), record)
    except Exception as err:  # the run's work is done; the missing head is reported by ``verify``
        structlog.get_logger(__name__).error("audit_head_not_signed", error=f"{type(err).__name__}: {err}"[:300])
        return None
    return record


def latest_head(path: Path, signer: Any) -> tuple[dict[str, Any] | None, list[str], int]:
    """The last head in ``path`` that ``signer``'s key signed; the problems found (a line that
    is no head, a head claiming the seal key whose signature does not hold — forged or edited —,
    a head with fewer entries than one before it: the chain only grows); and how many heads are
    under another key (an earlier seal key, a trial key replaced by the agency's: not taken, and
    harmless — a forger's head under a key of their own is not taken either, and the last head
    of the seal key still holds the chain)."""
    problems: list[str] = []
    best: dict[str, Any] | None = None
    other = 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None, [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("fingerprint") != signer.fingerprint:
            other += 1
            continue
        if not isinstance(record, dict) or not head_holds(record, signer):
            problems.append(f"audit heads line {number}: not a head signed by the seal key")
            continue
        if best is not None and int(record["entries"]) < int(best["entries"]):
            problems.append(f"audit heads line {number}: {record['entries']} entries, fewer than "
                            f"{best['entries']} signed before")
            continue
        best = record
    return best, problems, other

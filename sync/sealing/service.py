"""Sealing approved business: receipt, signature, ``QZZT``; failures retried next run."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Select, exists, select, update
from sqlalchemy.engine import Connection

from config.catalogue import text
from connectors.internal import schema as it
from connectors.internal.reader import chunk_size, chunks, within
from mapping.codes import code
from mapping.idcard import masked
from mapping.types import platform_time
from sync import audit
from sync.engine import Parts
from sync.ledger import payloads
from sync.ledger import tables as t
from sync.sealing.receipt import QrText, ReceiptFacts, details, render, stamped
from sync.sealing.signer import Signer

log = structlog.get_logger(__name__)
SEALED, FAILED = code("seal", "sealed"), code("seal", "failed")  # QZZT (AA10), config/codes.toml
APPROVED = code("review", "approved")  # AAE016 审核通过


@dataclass
class SealTally:
    sealed: int = 0
    failed: int = 0


def _stamp(value: str | None) -> str:
    """yyyymmddhhmmss as the platform writes times; anything else as it stands."""
    return platform_time(value) or value or ""


def verify_code(ywlsh: str, txn_id: str, sealed_at: str, seal_code: str) -> str:
    return hashlib.sha256(f"{ywlsh}|{txn_id}|{sealed_at}|{seal_code}".encode()).hexdigest()[:12].upper()


def _unsealed(parts: Parts, only: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(txn_id, ywlsh) of business written or linked by the bridge and not yet sealed."""
    x = t.txn.c
    query = select(x.txn_id, x.ywlsh).where(*_unsealed_where())
    with parts.state.connect() as conn:
        return [(r.txn_id, r.ywlsh) for q in _among(conn, query, only) for r in conn.execute(q)]


def _among(conn: Connection, query: Select[Any], only: Collection[str] | None) -> Iterator[Select[Any]]:
    """``query`` as it stands, or once per chunk of ``only`` (a night's candidates, ``sync.sweep``)."""
    if only is None:
        yield query
        return
    for part in chunks(sorted(only), chunk_size(conn)):
        yield query.where(within(conn, t.txn.c.txn_id, part))


def _unsealed_where() -> tuple[ColumnElement[bool], ...]:
    x, s = t.txn.c, t.seal.c
    # NOT EXISTS, not NOT IN (see ``verify._every_version_has_a_state``): a county's sealed
    # history outgrows work_mem, and a NULL among it would have made NOT IN answer nothing.
    done = exists().where(s.ywlsh == x.ywlsh, s.status == "sealed")
    return x.state.in_(("applied", "linked")), x.ywlsh.isnot(None), ~done


_COLUMNS = (it.ae_ywjl.c.ywlsh, it.ae_ywjl.c.wblsh, it.ae_ywjl.c.ywlx, it.ae_ywjl.c.aae011, it.ae_ywjl.c.aae036,
            it.ae_ywjl.c.aae015, it.ae_ywjl.c.qzzt, it.ac01.c.aac002, it.ac01.c.aac003, it.ac01.c.aab301)


def _approved(parts: Parts, ywlshs: list[str]) -> list[dict[str, Any]]:
    y, p = it.ae_ywjl.c, it.ac01.c
    out: list[dict[str, Any]] = []
    with parts.internal.connect() as conn:
        for part in chunks(ywlshs, chunk_size(conn)):
            query = (select(*_COLUMNS).select_from(it.ae_ywjl.join(it.ac01, y.aac001 == p.aac001))
                     .where(within(conn, y.ywlsh, part), y.aae016 == APPROVED))
            out.extend(dict(r._mapping) for r in conn.execute(query))
    return out


def to_seal(parts: Parts, only: Collection[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(txn_id, business and person) of every approved business of the bridge's without a seal;
    among ``only`` if given.

    Where the ledger and the internal tables share a database, one join: the unsealed business
    still waiting for review (on a quiet night, all of it) stays in the database. Otherwise the
    ledger's unsealed keys are looked up inside, a chunk at a time."""
    if parts.same_db:
        x, y, p = t.txn.c, it.ae_ywjl.c, it.ac01.c
        query = (select(x.txn_id, *_COLUMNS)
                 .select_from(t.txn.join(it.ae_ywjl, y.ywlsh == x.ywlsh).join(it.ac01, y.aac001 == p.aac001))
                 .where(*_unsealed_where(), y.aae016 == APPROVED))
        with parts.state.connect() as conn:
            rows = [dict(r._mapping) for q in _among(conn, query, only) for r in conn.execute(q)]
        return list({r["ywlsh"]: (r.pop("txn_id"), r) for r in rows}.values())
    owners = dict((ywlsh, txn_id) for txn_id, ywlsh in _unsealed(parts, only))
    return [(owners[row["ywlsh"]], row) for row in _approved(parts, list(owners))]


def _platform(parts: Parts, txn_id: str) -> tuple[str | None, Any]:
    """The platform's ``created_at`` of the transaction (受理时间: when the resident's business was
    taken in) and the version the bridge applied, as the platform sent it (None once purged)."""
    x, v = t.txn.c, t.txn_version.c
    with parts.state.connect() as conn:
        txn = conn.execute(select(x.created_at, x.version, x.applied_version).where(x.txn_id == txn_id)).first()
        if txn is None:
            return None, None
        version = txn.applied_version or txn.version
        stored = conn.execute(select(v.raw).where(v.txn_id == txn_id, v.version == version)).scalar()
    try:
        raw = payloads.open_json(stored, txn_id, version) if stored else None
    except ValueError:  # a payload under a key this side does not hold: the receipt without details
        raw = None
    raw = None if payloads.is_purged(raw) else raw
    created = txn.created_at or (raw.get("created_at") if isinstance(raw, dict) else None)
    return (str(created) if created else None), raw


def _facts(row: dict[str, Any], txn_id: str, parts: Parts, signer: Signer, sealed_at: str) -> ReceiptFacts:
    created_at, raw = _platform(parts, txn_id)
    business = next((b for b, code in parts.codes.mapping["business_type"].items() if code == str(row["ywlx"]).strip()),
                    "")
    return ReceiptFacts(
        business=text(f"biz_type.{business}") if business else str(row["ywlx"]), ywlsh=row["ywlsh"], txn_id=txn_id,
        person_name=row["aac003"], id_masked=masked(row["aac002"]), region=parts.context.regions.name(row["aab301"]),
        result=text("receipt.approved"), accepted_at=created_at or _stamp(row["aae036"]),
        completed_at=_stamp(row["aae015"]),
        handler=row["aae011"], seal_name=signer.seal_name, seal_code=signer.seal_code, sealed_at=sealed_at,
        algorithm=signer.algorithm, verify_code=verify_code(row["ywlsh"], txn_id, sealed_at, signer.seal_code),
        agency=signer.seal_name, details=details(raw, parts.codes))


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def seal_one(row: dict[str, Any], txn_id: str, parts: Parts, signer: Signer, folder: Path) -> dict[str, Any]:
    """Render, sign and keep the receipt of one approved business; the pb_seal row to store."""
    sealed_at = parts.clock().strftime("%Y-%m-%d %H:%M:%S")
    facts = _facts(row, txn_id, parts, signer, sealed_at)
    body = render(facts)  # the sealed document: its hash is signed, the QR stamp carries both
    digest = hashlib.sha256(body).digest()
    signed = signer.sign(digest)
    signature = base64.b64encode(signed).decode()
    qr = QrText(digest, signed, signer.fingerprint)
    document = stamped(body, qr)
    path = folder / f"{row['ywlsh']}.pdf"
    seal = {"ywlsh": row["ywlsh"], "txn_id": txn_id, "status": "sealed", "seal_code": signer.seal_code,
            "algorithm": signer.algorithm, "key_fingerprint": signer.fingerprint, "sealed_at": sealed_at,
            "receipt_sha256": digest.hex(), "signature": signature, "receipt_path": str(path),
            "verify_code": facts.verify_code, "failure": None}
    _write(path, document)
    _write(path.with_name(path.name + ".sig.json"),
           json.dumps({**seal, "qr": str(qr)}, ensure_ascii=False, indent=2).encode())
    return seal


def _store(parts: Parts, seal: dict[str, Any], qzzt: str) -> None:
    """QZZT inside and the pb_seal row, in one transaction when the databases are one."""
    now = parts.clock()
    def internal(conn: Connection) -> None:
        conn.execute(update(it.ae_ywjl).where(it.ae_ywjl.c.ywlsh == seal["ywlsh"], it.ae_ywjl.c.qzzt != SEALED)
                     .values(qzzt=qzzt))

    def state(conn: Connection) -> None:
        attempts = conn.execute(select(t.seal.c.attempts).where(t.seal.c.ywlsh == seal["ywlsh"])).scalar()
        values = {**seal, "attempts": (attempts or 0) + 1, "updated_at": now}
        audit.append(conn, now, "pension-bridge", f"seal:{seal['status']}", seal["ywlsh"],
                     {"sha256": seal.get("receipt_sha256"), "failure": seal.get("failure")})
        if attempts is None:
            conn.execute(t.seal.insert().values(values))
        else:
            conn.execute(update(t.seal).where(t.seal.c.ywlsh == seal["ywlsh"]).values(values))

    with parts.uow() as uow:
        internal(uow.internal)
        state(uow.state)
        uow.commit()


def seal_approved(parts: Parts, signer: Signer, folder: Path, only: Collection[str] | None = None) -> SealTally:
    """Seal every approved business of the bridge's that has no seal yet (among ``only``)."""
    tally = SealTally()
    for txn_id, row in to_seal(parts, only):
        try:
            seal = seal_one(row, txn_id, parts, signer, folder)
        except Exception as err:  # a signing service down, a disk full: recorded, retried next run
            log.error("seal_failed", txn_id=txn_id, ywlsh=row["ywlsh"], error=str(err))
            _store(parts, {"ywlsh": row["ywlsh"], "txn_id": txn_id, "status": "failed",
                           "failure": f"{type(err).__name__}: {err}"[:1000]}, FAILED)
            tally.failed += 1
            continue
        _store(parts, seal, SEALED)
        tally.sealed += 1
    return tally

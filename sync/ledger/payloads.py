"""The platform's payloads as the ledger keeps them (``pb_txn_version.raw``): the one way in and
the one way out.

``seal_raw`` is what ``LedgerWriter.stage`` writes: the canonical JSON encrypted under the data
key (``sync.atrest``, SM4-GCM, the transaction and version as associated data), or as it is
without a key. ``open_raw`` is what every reader goes through: it takes an encrypted payload, a
clear one (written before a key was set) and a purged one (``sync.retention``: the payload's hash
and the few fields still needed, no personal data) alike.
"""

from __future__ import annotations

import json
from typing import Any

from sync import atrest

PURGED = "purged"  # the key of a purged payload's JSON object


def name(txn_id: str, version: int) -> str:
    """The associated data binding a payload to its row: moved to another row, it does not open."""
    return f"pb_txn_version:{txn_id}:{version}"


def seal_raw(raw: str, txn_id: str, version: int, ring: atrest.Keyring | None = None) -> str:
    return (ring or atrest.ring()).seal_text(raw, name(txn_id, version))


def open_raw(stored: str, txn_id: str, version: int, ring: atrest.Keyring | None = None) -> str:
    """The payload's JSON text.

    Raises:
        atrest.NotOpened: encrypted under a key this side does not hold, damaged, or moved.
    """
    return (ring or atrest.ring()).open_text(stored, name(txn_id, version))


def open_json(stored: str, txn_id: str, version: int, ring: atrest.Keyring | None = None) -> Any:
    """The payload as the platform sent it; a purged one as ``{"purged": {...}}``."""
    return json.loads(open_raw(stored, txn_id, version, ring))


def is_purged(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {PURGED}


def rotate(engine: Any, ring: atrest.Keyring, batch: int = 500) -> tuple[int, int]:
    """Re-encrypt, a batch per transaction, every payload not yet under the current key (clear
    ones too); (payloads moved, payloads that did not open). Resumable: a payload already under
    the current key is not read again, so a run stopped half-way goes on where it was."""
    from sqlalchemy import and_, or_, select, update

    from sync.ledger import tables as t

    if ring.current is None:
        raise atrest.DataKeyError("no current data key (BRIDGE_DATA_KEY)")
    v = t.txn_version.c
    done_prefix = f"{atrest.TEXT_PREFIX}{ring.current.key_id}:"
    moved, failed, after = 0, 0, ("", -1)
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(v.txn_id, v.version, v.raw)
                .where(~v.raw.startswith(done_prefix, autoescape=True),
                       or_(v.txn_id > after[0], and_(v.txn_id == after[0], v.version > after[1])))
                .order_by(v.txn_id, v.version).limit(batch)).all()
            if not rows:
                return moved, failed
            for r in rows:
                try:
                    clear = open_raw(r.raw, r.txn_id, r.version, ring)
                except atrest.NotOpened:
                    failed += 1
                    continue
                conn.execute(update(t.txn_version).where(v.txn_id == r.txn_id, v.version == r.version)
                             .values(raw=seal_raw(clear, r.txn_id, r.version, ring)))
                moved += 1
            after = (rows[-1].txn_id, rows[-1].version)

"""Personal data at rest (issue 27): attacks on what the bridge keeps that must now fail."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update

from sync import audit
from sync.ferry import batch as b
from sync.ledger import tables as lt
from sync.verify import verify
from tests.factories import raw_txn
from tests.integration.test_seal_writeback import night  # noqa: F401  (fixture)
from tests.integration.test_sync import with_scans


# --- the audit trail proves itself ---------------------------------------------------------------

def _heads(home: Path):
    return audit.heads_path(home)


def test_a_chain_rewritten_from_its_first_entry_with_a_consistent_head_fails_verify(night, tmp_path):  # noqa: F811
    """Whoever can write the bridge's database rewrites the whole chain and its head row; the
    head the run signed with the seal key, outside the database, no longer matches."""
    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
        n.review(txn["txn_id"], "1", qzzt="1")
        n.run()
    state, signer = n.parts.state, n.parts.signer
    heads = _heads(n.parts.home)
    assert len(heads.read_text().splitlines()) == 2  # one signed head per run
    report = verify(n.parts.internal, state, "2", heads=heads, signer=signer)
    assert report.ok and report.checked["audit_signed_entries"] == 3, report.problems
    with state.begin() as conn:
        entries = conn.execute(select(lt.audit).order_by(lt.audit.c.id)).all()
        conn.execute(lt.audit.delete())
        conn.execute(update(lt.audit_head).values(entries=0, last_hash=audit.GENESIS))
        for e in entries:  # the same history with the first result's subject changed
            audit.append(conn, e.at, e.actor, e.action, "TXFORGED" if e.id == entries[0].id else e.subject, e.detail)
    assert verify(n.parts.internal, state, "2").ok  # the database alone is consistent
    problems = verify(n.parts.internal, state, "2", heads=heads, signer=signer).problems
    assert any("rewritten" in p for p in problems), problems


def test_a_forged_head_appended_to_the_file_is_named(night, tmp_path):  # noqa: F811
    """A head not signed by the seal key (one made to match a rewritten chain) is not taken."""
    from sync.sealing import signer as s

    txn = raw_txn("CBDJ")
    box, make = night(with_scans(txn))
    with box as server:
        n = make(server)
        n.run()
    other = s.Sm2Signer(s.new_key("SM2-SM3", "X-1", "forger"))
    with n.parts.state.connect() as conn:
        audit.append_head(_heads(n.parts.home), audit.signed_head(conn, other, n.parts.clock()))
    problems = verify(n.parts.internal, n.parts.state, "2", heads=_heads(n.parts.home), signer=n.parts.signer).problems
    assert any("not a head signed by the seal key" in p for p in problems)


def test_a_results_batch_carries_the_head_and_an_old_batch_still_reads(tmp_path):
    from sync.ferry.signing import HmacSigner

    signer = HmacSigner(b"k" * 64)
    head = {"entries": 3, "hash": "a" * 64, "at": "2026-11-26T02:00:00", "algorithm": "SM2-SM3",
            "fingerprint": "f" * 64, "signature": "00"}
    result = {"idempotency_key": "K1", "txn_id": "T1", "outcome": "completed", "body": {"version": 1}}
    new = b.write(tmp_path / "new", "results", "inside", 1, "2026-11-26 02:00:00",
                  b.Contents(results=[result], audit_head=head), signer)
    old = b.write(tmp_path / "old", "results", "inside", 1, "2026-11-26 02:00:00", b.Contents(results=[result]),
                  signer)
    with b.Batch(new, signer) as batch:
        assert batch.manifest.audit_head == head and batch.contents().audit_head == head
    with b.Batch(old, signer) as batch:
        assert batch.manifest.audit_head is None
        import zipfile
        with zipfile.ZipFile(old) as z:  # what an older reader sees: the manifest as it always was
            assert "audit_head" not in json.loads(z.read("manifest.json"))

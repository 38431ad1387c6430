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
    with n.parts.state.connect() as conn:  # a head made to match a rewritten chain, claiming the seal key
        forged = {**audit.signed_head(conn, n.parts.signer, n.parts.clock()), "entries": 99}
    audit.append_head(_heads(n.parts.home), forged)
    problems = verify(n.parts.internal, n.parts.state, "2", heads=_heads(n.parts.home), signer=n.parts.signer).problems
    assert any("not a head signed by the seal key" in p for p in problems)
    other = s.Sm2Signer(s.new_key("SM2-SM3", "X-1", "forger"))  # under a key of the forger's: not taken
    with n.parts.state.connect() as conn:
        audit.append_head(_heads(n.parts.home), {**audit.signed_head(conn, other, n.parts.clock()), "entries": 99})
    report = verify(n.parts.internal, n.parts.state, "2", heads=_heads(n.parts.home), signer=n.parts.signer)
    assert report.checked["audit_heads_other_keys"] == 1 and report.checked["audit_signed_entries"] == 1


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


# --- encryption at rest with SM4-GCM -------------------------------------------------------------

import hashlib  # noqa: E402

import pytest  # noqa: E402

from sync import atrest  # noqa: E402
from sync.ledger import payloads  # noqa: E402
from sync.scans import ScanStore, ScanUnreadable  # noqa: E402

JPEG = b"\xff\xd8\xff\xe0" + "张三 身份证 530102199001011234".encode() * 40


@pytest.fixture(autouse=True)
def _process_ring_restored():
    """A night with a key sets the process's keyring: the next test starts without one."""
    yield
    atrest.configure(atrest.Keyring())


def _key(home: Path) -> Path:
    key = atrest.DataKey.new()
    path = atrest.keys_folder(home) / f"{key.key_id}.json"
    atrest.write_key(path, key)
    return path


def test_a_scan_file_on_disk_is_not_clear_and_is_named_by_its_clear_hash(tmp_path):
    ring = atrest.Keyring(atrest.DataKey.new())
    store = ScanStore(tmp_path / "scans", ring)
    digest = hashlib.sha256(JPEG).hexdigest()
    store.put(digest, JPEG)
    on_disk = store.path(digest).read_bytes()
    assert store.path(digest).name == digest and store.has(digest)
    assert b"\xff\xd8\xff" not in on_disk and b"530102199001011234" not in on_disk
    assert atrest.key_id_of(on_disk) == ring.key_id
    assert store.read(digest) == JPEG


def test_a_scan_moved_under_another_name_or_changed_does_not_open(tmp_path):
    ring = atrest.Keyring(atrest.DataKey.new())
    store = ScanStore(tmp_path / "scans", ring)
    one, two = JPEG, JPEG + b"2"
    a, b_ = hashlib.sha256(one).hexdigest(), hashlib.sha256(two).hexdigest()
    store.put(a, one)
    store.put(b_, two)
    store.path(b_).write_bytes(store.path(a).read_bytes())  # another person's scan under this name
    with pytest.raises(ScanUnreadable):
        store.read(b_)
    flipped = bytearray(store.path(a).read_bytes())
    flipped[40] ^= 1
    store.path(a).write_bytes(bytes(flipped))
    with pytest.raises(ValueError):  # as a changed clear file always was
        store.read(a)


def test_without_a_key_items_are_clear_and_read_both_ways(tmp_path):
    clear_store = ScanStore(tmp_path / "scans", atrest.Keyring())
    digest = hashlib.sha256(JPEG).hexdigest()
    clear_store.put(digest, JPEG)
    assert clear_store.path(digest).read_bytes() == JPEG
    keyed = ScanStore(tmp_path / "scans", atrest.Keyring(atrest.DataKey.new()))
    assert keyed.read(digest) == JPEG  # a clear file written before the key was set
    raw = '{"person":{"name":"张三"}}'
    assert payloads.seal_raw(raw, "T1", 1, atrest.Keyring()) == raw
    assert payloads.open_raw(raw, "T1", 1, atrest.Keyring(atrest.DataKey.new())) == raw


def test_a_payload_read_from_the_database_is_not_clear_and_the_console_reads_it(night, tmp_path):  # noqa: F811
    """A night under a data key (on SQLite, PostgreSQL and MariaDB): every raw payload in
    ``pb_txn_version`` and every scan file is ciphertext; the conflict view still reads them."""
    from sync import conflicts as queue

    key = _key(tmp_path / "keys-home")
    txn = raw_txn("CBDJ")
    held = raw_txn("CBDJ", txn_id="RH53010220261125CB02")
    held["attachments"] = []  # materials incomplete: a conflict the console shows
    box, make = night(with_scans(txn, held))
    with box as server:
        n = make(server)
        n.run(data_key=key)
    with n.parts.state.connect() as conn:
        stored = conn.execute(select(lt.txn_version.c.txn_id, lt.txn_version.c.version, lt.txn_version.c.raw)).all()
        conflict_id = conn.execute(select(lt.conflict.c.id)).scalars().first()
    assert len(stored) == 2
    for txn_id, version, raw in stored:
        assert raw.startswith(atrest.TEXT_PREFIX)
        assert txn["person"]["id_number"] not in raw and txn["person"]["name"] not in raw
        assert json.loads(payloads.open_raw(raw, txn_id, version))["txn_id"] == txn_id
    files = list(ScanStore(n.parts.scan_dir).files())
    assert files and all(atrest.key_id_of(p.read_bytes()[:16]) == atrest.read_key(key).key_id for p in files)
    assert conflict_id is not None
    shown = queue.show(n.parts.state, conflict_id)
    assert shown["platform"]["txn_id"] == held["txn_id"]


def test_a_rotated_key_still_opens_old_items_and_rotation_moves_them(internal_url, tmp_path):
    """On SQLite, PostgreSQL and MariaDB: the rotation's query pages by key and skips what is done."""
    from connectors.internal.db import engine_for
    from sync.ledger.migrate import upgrade

    old, new = atrest.DataKey.new(), atrest.DataKey.new()
    engine = engine_for(internal_url)
    upgrade(engine)
    before = atrest.Keyring(old)
    store = ScanStore(tmp_path / "scans", before)
    digest = hashlib.sha256(JPEG).hexdigest()
    store.put(digest, JPEG)
    raw = '{"txn_id":"T1","person":{"id_number":"530102199001011234"}}'
    from datetime import datetime
    with engine.begin() as conn:
        conn.execute(lt.txn_version.insert(), [
            {"txn_id": f"T{i}", "version": 1, "updated_at": "2026-11-25 10:00:00", "content_hash": "h",
             "raw": payloads.seal_raw(raw, f"T{i}", 1, before) if i else raw,  # T0 clear, from before any key
             "received_at": datetime(2026, 11, 25), "run_id": "r"} for i in range(5)])
    after = atrest.Keyring(new, {old.key_id: old})
    assert ScanStore(tmp_path / "scans", after).read(digest) == JPEG  # an old item opens after rotation
    assert payloads.rotate(engine, after, batch=2) == (5, 0)
    assert payloads.rotate(engine, after, batch=2) == (0, 0)  # resumable: nothing twice
    assert ScanStore(tmp_path / "scans", after).rotate() == (1, 0)
    only_new = atrest.Keyring(new)
    assert ScanStore(tmp_path / "scans", only_new).read(digest) == JPEG
    with engine.connect() as conn:
        for r in conn.execute(select(lt.txn_version)):
            assert atrest.key_id_of(r.raw) == new.key_id
            assert payloads.open_raw(r.raw, r.txn_id, r.version, only_new) == raw
    with pytest.raises(atrest.NotOpened):  # a key no longer held opens nothing
        atrest.Keyring(old).open(store.path(digest).read_bytes(), digest)


def test_a_key_file_is_owner_only_and_never_replaced(tmp_path):
    import stat

    path = _key(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        atrest.write_key(path, atrest.DataKey.new())
    path.chmod(0o600)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "key": "00" * 16}))  # an id that is not the key's
    with pytest.raises(atrest.DataKeyError):
        atrest.read_key(path)


def test_a_collector_batch_carries_clear_scans_read_through_the_encrypted_store(tmp_path):
    from sync.ferry.signing import HmacSigner

    signer = HmacSigner(b"k" * 64)
    store = ScanStore(tmp_path / "scans", atrest.Keyring(atrest.DataKey.new()))
    digest = hashlib.sha256(JPEG).hexdigest()
    store.put(digest, JPEG)
    path = b.write(tmp_path / "out", "feed", "ext1", 1, "2026-11-26 02:00:00",
                   b.Contents(transactions=[{"txn_id": "T1", "version": 1}],
                              scans={digest: lambda: store.read(digest)}), signer)
    with b.Batch(path, signer) as batch:
        assert batch.scan(digest) == JPEG  # the loader puts it into its own store, under its own key


def test_doctor_warns_without_a_data_key_and_fails_on_one_others_can_read(tmp_path):
    from bridge import doctor
    from bridge.settings import Settings

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    without = doctor.check_data_key(doctor.Deployment(Settings(home=home), [], "direct"))
    assert without.status == doctor.WARN and "BRIDGE_DATA_KEY" in without.fix
    key = _key(home)
    good = doctor.check_data_key(doctor.Deployment(Settings(home=home, data_key=key), [], "direct"))
    assert good.status == doctor.OK and atrest.read_key(key).key_id in good.line
    key.chmod(0o644)
    assert doctor.check_data_key(doctor.Deployment(Settings(home=home, data_key=key), [], "direct")).status == doctor.FAIL


# --- batches across the gap, encrypted as well as signed -----------------------------------------

@pytest.fixture
def ferry_key():
    key = atrest.DataKey.new()
    b.configure_cipher(key)
    yield key
    b.configure_cipher(None)


def _feed(folder: Path, signer) -> Path:
    digest = hashlib.sha256(JPEG).hexdigest()
    txn = raw_txn("CBDJ")
    return b.write(folder, "feed", "ext1", 1, "2026-11-26 02:00:00",
                   b.Contents(transactions=[txn], scans={digest: lambda: JPEG},
                              attachments={"A1": {"status": "ok", "sha256": digest}}), signer)


def test_a_batch_is_encrypted_when_this_side_has_the_ferry_key(tmp_path, ferry_key):
    from sync.ferry.signing import HmacSigner

    signer = HmacSigner(b"k" * 64)
    path = _feed(tmp_path / "out", signer)
    stored = path.read_bytes()
    assert stored.startswith(b.SEALED) and raw_txn("CBDJ")["person"]["id_number"].encode() not in stored
    assert b"\xff\xd8\xff" not in stored and b"manifest.json" not in stored
    with b.Batch(path, signer) as batch:  # the other side, holding the same key
        assert batch.items("transactions")[0]["person"]["id_number"] == raw_txn("CBDJ")["person"]["id_number"]
        assert batch.scan(hashlib.sha256(JPEG).hexdigest()) == JPEG
    b.configure_cipher(atrest.DataKey.new())  # another key
    with pytest.raises(b.BadBatch) as refused:
        b.Batch(path, signer)
    assert refused.value.reason == "not_decryptable"
    b.configure_cipher(None)  # no key
    with pytest.raises(b.BadBatch):
        b.Batch(path, signer)
    b.configure_cipher(ferry_key)
    flipped = bytearray(stored)
    flipped[len(stored) // 2] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(b.BadBatch) as damaged:
        b.Batch(path, signer)
    assert damaged.value.reason == "unreadable"


def test_a_clear_batch_still_reads_where_the_key_is_set(tmp_path):
    from sync.ferry.signing import HmacSigner

    signer = HmacSigner(b"k" * 64)
    path = _feed(tmp_path / "out", signer)  # a peer without the key, or a batch from before
    assert not path.read_bytes().startswith(b.SEALED)
    b.configure_cipher(atrest.DataKey.new())
    try:
        with b.Batch(path, signer) as batch:
            assert len(batch.items("transactions")) == 1
    finally:
        b.configure_cipher(None)


def test_collector_to_loader_through_encrypted_batches(tmp_path):
    from bridge import wiring
    from sync.ferry.collector import Collector
    from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
    from tests.integration.test_ferry import side_settings
    from tests.integration.test_sync import CLOCK
    from tests.reliability.test_kill import SCENARIO, fresh_db

    key_file = tmp_path / "ferry-data.json"
    atrest.write_key(key_file, atrest.DataKey.new())
    url = fresh_db(tmp_path / "internal.db")
    try:
        with sandbox(SCENARIO) as server:
            outside = side_settings(tmp_path, "collector", platform_url=server.base_url, app_key=KEY,
                                    app_secret=SECRET, ferry_data_key=key_file)
            inside = side_settings(tmp_path, "loader", internal_db=url, ferry_data_key=key_file)
            Collector(wiring.build_collector(outside, clock=CLOCK)).run()
        sent = sorted(outside.ferry_outbox.glob("pb-feed-*.zip"))
        assert sent and all(p.read_bytes().startswith(b.SEALED) for p in sent)
        inside.ferry_inbox.mkdir(parents=True, exist_ok=True)
        for p in sent:
            b.copy_into(p, inside.ferry_inbox)
        loaded = wiring.build_loader(inside, clock=CLOCK).run()
        assert loaded.imported and not loaded.quarantined, loaded.problems
        assert loaded.tally.new_versions > 0
    finally:
        b.configure_cipher(None)

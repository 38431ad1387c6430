"""The ferry at the trust boundary (issue 22, findings 3 and 7): hostile batch files are refused
before anything is inflated, with memory staying small; a scan "hash" that is a path never puts
a host file into a batch; a bad member costs only the records that depend on it; a quarantined
archive is rebuilt, not resent as the same bad bytes."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import wiring
from connectors.internal.db import engine_for
from sandbox.generator import generate
from sandbox.seed import seed
from sync.ferry import batch as b
from sync.ferry.collector import Collector
from sync.ferry.signing import HmacSigner
from sync.ledger import tables as lt
from sync.scans import ScanOutcome
from tests.ferry_chaos import ChaosFerry, Mishaps
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_ferry import SECRET_KEY, side_settings
from tests.integration.test_sync import CLOCK

SIGNER = HmacSigner(SECRET_KEY.encode())
MiB = 1 << 20
NAME = "pb-feed-ext1-00000001.zip"
SMALL = generate(24, seed=5, existing=10, messy_share=0.0, double_share=0.0)


def _manifest(files: dict[str, bytes], **over) -> bytes:
    lines = files.get("transactions.jsonl", b"").count(b"\n")
    manifest = {"format": b.FORMAT, "format_version": 1, "kind": "feed", "sender": "ext1", "seq": 1,
                "created_at": "2026-11-26 02:00:00", "counts": {"transactions": lines, "results": 0, "acks": 0,
                                                                "scans": sum(n.startswith("scans/") for n in files)},
                "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}, **over}
    return json.dumps(manifest, sort_keys=True).encode()


def _zip(path: Path, members: list[tuple[str, bytes | int, int]]) -> Path:
    """Members as (name, bytes or a count of zero bytes streamed in, compression)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with zipfile.ZipFile(path, "w") as archive:
            for name, data, method in members:
                info = zipfile.ZipInfo(name)
                info.compress_type = method
                with archive.open(info, "w") as out:
                    if isinstance(data, int):
                        for _ in range(data // MiB):
                            out.write(bytes(MiB))
                    else:
                        out.write(data)
    return path


def _signed(path: Path, files: dict[str, bytes], extra: list[tuple[str, bytes | int, int]] = ()) -> Path:
    manifest = _manifest(files)
    sig = json.dumps({"algorithm": SIGNER.algorithm, "signature": SIGNER.sign(manifest)}).encode()
    members = [("manifest.json", manifest, zipfile.ZIP_STORED), ("manifest.sig", sig, zipfile.ZIP_STORED)]
    members += [(n, d, zipfile.ZIP_STORED) for n, d in files.items()]
    return _zip(path, members + list(extra))


def _refused(path: Path) -> tuple[str, int]:
    """The reason the batch is refused, and the peak of memory allocated while refusing it."""
    tracemalloc.start()
    try:
        with pytest.raises(b.BadBatch) as refused:
            b.Batch(path, SIGNER)
        return refused.value.reason, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


TXNS = b'{"txn_id":"T1","version":1,"updated_at":"2026-11-25 10:00:00"}\n'


def test_a_deflate_bomb_manifest_is_refused_before_the_signature_and_before_inflating(tmp_path):
    bomb = _zip(tmp_path / NAME, [("manifest.json", 256 * MiB, zipfile.ZIP_DEFLATED),
                                  ("manifest.sig", b'{"algorithm": "HMAC-SHA256", "signature": "00"}', 0)])
    assert bomb.stat().st_size < 1 * MiB  # a quarter of a GiB of zeros in well under a MiB
    reason, peak = _refused(bomb)
    assert reason == "too_large" and peak < 8 * MiB


def test_a_manifest_that_lies_about_its_size_is_read_no_further_than_it_declared(tmp_path):
    path = _zip(tmp_path / NAME, [("manifest.json", 64 * MiB, zipfile.ZIP_DEFLATED),
                                  ("manifest.sig", b"{}", zipfile.ZIP_STORED)])
    data = bytearray(path.read_bytes())
    # declare 1000 bytes, in its local header and its central directory entry (the first)
    directory = int.from_bytes(data[-6:-2], "little")
    assert data[:4] == b"PK\x03\x04" and data[directory:directory + 4] == b"PK\x01\x02"
    data[22:26] = data[directory + 24:directory + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    reason, peak = _refused(path)
    assert reason == "unreadable" and peak < 8 * MiB


def test_an_oversized_manifest_is_refused_unread(tmp_path):
    big = b'{"pad":"' + b"x" * (9 * MiB) + b'"}'
    path = _zip(tmp_path / NAME, [("manifest.json", big, zipfile.ZIP_STORED),
                                  ("manifest.sig", b"{}", zipfile.ZIP_STORED)])
    reason, peak = _refused(path)
    assert reason == "too_large" and peak < 4 * MiB


def test_an_unsigned_or_forged_batch_is_refused_without_reading_its_members(tmp_path):
    unsigned = _zip(tmp_path / NAME, [("manifest.json", _manifest({"transactions.jsonl": TXNS}), zipfile.ZIP_STORED),
                                      ("transactions.jsonl", 256 * MiB, zipfile.ZIP_DEFLATED)])
    reason, peak = _refused(unsigned)
    assert reason == "unsigned" and peak < 8 * MiB
    forged_sig = json.dumps({"algorithm": SIGNER.algorithm, "signature": "0" * 64}).encode()
    (tmp_path / "f").mkdir()
    forged = _zip(tmp_path / "f" / NAME,
                  [("manifest.json", _manifest({"transactions.jsonl": TXNS}), zipfile.ZIP_STORED),
                   ("manifest.sig", forged_sig, zipfile.ZIP_STORED),
                   ("transactions.jsonl", 256 * MiB, zipfile.ZIP_DEFLATED)])
    reason, peak = _refused(forged)
    assert reason == "bad_signature" and peak < 8 * MiB


def test_a_signed_batch_with_a_bomb_member_is_refused_by_its_declared_size_and_ratio(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    huge = _signed(tmp_path / "a" / NAME, {"transactions.jsonl": TXNS})  # signed for TXNS ...
    # ... then the member swapped for a bomb under the same name (the gateway, or someone on it)
    with zipfile.ZipFile(huge) as src:
        kept = [(i.filename, src.read(i.filename), zipfile.ZIP_STORED) for i in src.infolist()
                if i.filename != "transactions.jsonl"]
    _zip(huge, kept + [("transactions.jsonl", 128 * MiB, zipfile.ZIP_DEFLATED)])
    reason, peak = _refused(huge)
    assert reason == "too_large" and peak < 8 * MiB
    _zip(tmp_path / "b" / NAME, kept + [("transactions.jsonl", 32 * MiB, zipfile.ZIP_DEFLATED)])
    reason, peak = _refused(tmp_path / "b" / NAME)
    assert reason == "compression_ratio" and peak < 8 * MiB


@pytest.mark.parametrize("name", ["../../etc/cron.d/pb", "/etc/passwd", "scans/../../internal.db",
                                  "C:\\windows\\x", "scans//x", "a/./b"])
def test_a_member_added_under_a_path_traversal_name_is_refused(tmp_path, name):
    path = _signed(tmp_path / NAME, {"transactions.jsonl": TXNS}, [(name, b"owned", zipfile.ZIP_STORED)])
    reason, _ = _refused(path)
    assert reason == "unsafe_name"


def test_a_member_name_given_twice_is_refused(tmp_path):
    path = _signed(tmp_path / NAME, {"transactions.jsonl": TXNS},
                   [("transactions.jsonl", b'{"txn_id":"EVIL","version":9}\n', zipfile.ZIP_STORED)])
    assert _refused(path)[0] == "duplicate_member"


# --- finding 3: a scan "hash" that is a path ---------------------------------------------------

def _hostile_outcomes(collector: Collector, hostile: dict[str, str]):
    """The scan store as it was: ``has()`` said yes to a path, so the fetcher reported it kept."""
    real = collector.parts.fetcher.outcomes

    def outcomes(attachments, known):
        found = real(attachments, known)
        for aid, sha in hostile.items():
            if aid in found:
                o = found[aid]
                found[aid] = ScanOutcome(aid, "ok", sha, o.kind, o.content_type, o.size)
        return found
    collector.parts.fetcher.outcomes = outcomes


def _first_attachments(n: int) -> list[str]:
    return [t["attachments"][0]["attachment_id"] for t in SMALL["transactions"] if t.get("attachments")][:n]


def _loader(tmp_path: Path, url: str):
    return wiring.build_loader(side_settings(tmp_path, "loader", internal_db=url), clock=CLOCK)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_scan_hash_that_is_a_path_never_copies_a_host_file_and_costs_only_its_transaction(tmp_path, internal_url):
    secret = tmp_path / "internal.db.secret"
    secret.write_bytes(b"HOST-SECRET " * 100)
    victims = _first_attachments(2)
    seed(engine_for(internal_url), SMALL["internal"])
    with sandbox(SMALL) as server:
        outside = side_settings(tmp_path, "collector", platform_url=server.base_url, app_key=KEY, app_secret=SECRET)
        collector = Collector(wiring.build_collector(outside, clock=CLOCK))
        _hostile_outcomes(collector, {victims[0]: str(secret), victims[1]: "./../internal.db.secret"})
        collected = collector.run()
    assert collected.sent_versions == len(SMALL["transactions"])
    archives = sorted((outside.home / "ferry" / "sent").glob("pb-feed-*.zip"))
    for path in archives:
        assert b"HOST-SECRET" not in path.read_bytes()
        with b.Batch(path, SIGNER) as batch:
            assert batch.clean and all(b.SCAN_HASH.match(s) for s in batch.scan_names())
            for aid in victims:
                if aid in batch.manifest.attachments:
                    assert batch.manifest.attachments[aid]["status"] == "sha256_mismatch"
    inside = side_settings(tmp_path, "loader", internal_db=internal_url)
    ChaosFerry(outside.ferry_outbox, inside.ferry_inbox, Mishaps()).carry()
    loaded = _loader(tmp_path, internal_url).run()
    assert loaded.quarantined == [] and len(loaded.imported) == len(archives)
    assert loaded.tally.new_versions == len(SMALL["transactions"])
    _victims_not_applied(internal_url, victims)


def _victims_not_applied(url: str, victims: list[str]) -> None:
    owners = {t["txn_id"] for t in SMALL["transactions"]
              if any(a["attachment_id"] in victims for a in t.get("attachments", []))}
    engine = engine_for(url)
    with engine.connect() as conn:
        states = dict(conn.execute(select(lt.txn.c.txn_id, lt.txn.c.state)).all())
    engine.dispose()
    assert len(states) == len({t["txn_id"] for t in SMALL["transactions"]})
    assert all(states[t] not in ("applied", "linked") for t in owners), {t: states[t] for t in owners}
    assert any(s == "applied" for t, s in states.items() if t not in owners)


def _poison(path: Path, victim: str, secret: bytes) -> None:
    """Rewrite a sound archived batch as the old collector wrote it: the host file carried under
    ``scans//etc/passwd`` and listed, signed, with the victim's scan pointing at it."""
    with zipfile.ZipFile(path) as src:
        members = {i.filename: src.read(i.filename) for i in src.infolist()}
    manifest = json.loads(members.pop("manifest.json"))
    members.pop("manifest.sig")
    members["scans//etc/passwd"] = secret
    manifest["files"]["scans//etc/passwd"] = hashlib.sha256(secret).hexdigest()
    manifest["counts"]["scans"] += 1
    manifest["attachments"][victim] = {**manifest["attachments"][victim], "status": "ok", "sha256": "/etc/passwd"}
    body = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode()
    sig = json.dumps({"algorithm": SIGNER.algorithm, "signature": SIGNER.sign(body)}).encode()
    _zip(path, [("manifest.json", body, 0), ("manifest.sig", sig, 0)] + [(n, d, 0) for n, d in members.items()])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_old_poisoned_batch_imports_without_its_bad_scan_and_resend_rebuilds_it(tmp_path, internal_url):
    secret = b"root:x:0:0:HOST-SECRET\n" * 20
    seed(engine_for(internal_url), SMALL["internal"])
    with sandbox(SMALL) as server:
        outside = side_settings(tmp_path, "collector", platform_url=server.base_url, app_key=KEY, app_secret=SECRET)
        Collector(wiring.build_collector(outside, clock=CLOCK)).run()
    archive = outside.home / "ferry" / "sent"
    first = archive / "pb-feed-collector-00000001.zip"
    with b.Batch(first, SIGNER) as batch:
        victim = next(aid for aid, o in batch.manifest.attachments.items() if o["status"] == "ok")
    _poison(first, victim, secret)
    # the loader: the batch is imported, the signed-but-wrong member never read, the victim fails
    inside = side_settings(tmp_path, "loader", internal_db=internal_url)
    inside.ferry_inbox.mkdir(parents=True)
    for path in sorted(archive.glob("pb-feed-*.zip")):
        b.copy_into(path, inside.ferry_inbox)
    loaded = _loader(tmp_path, internal_url).run()
    assert loaded.quarantined == [] and "collector:1" in loaded.imported
    assert any("scans//etc/passwd" in p for p in loaded.problems)
    store = inside.home / "scans"
    assert not any(secret in f.read_bytes() for f in store.rglob("*") if f.is_file())
    _victims_not_applied(internal_url, [victim])
    # the sender: resend does not send the same bad bytes again; it rebuilds them
    bad_bytes = first.read_bytes()
    resent = Collector(wiring.build_collector(outside, clock=CLOCK)).resend(1)
    assert resent.read_bytes() != bad_bytes and b"HOST-SECRET" not in resent.read_bytes()
    assert (archive / (first.name + ".replaced")).read_bytes() == bad_bytes
    with b.Batch(resent, SIGNER) as rebuilt:
        assert rebuilt.clean and rebuilt.manifest.seq == 1
        assert rebuilt.manifest.attachments[victim]["status"] == "sha256_mismatch"
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / first.name).write_bytes(bad_bytes)
        with b.Batch(tmp_path / "old" / first.name, SIGNER) as old:
            assert rebuilt.items("transactions") == old.items("transactions")
            assert set(rebuilt.scan_names()) == set(old.scan_names())
    # a sound archive goes again byte for byte
    second = archive / "pb-feed-collector-00000002.zip"
    if second.exists():
        again = Collector(wiring.build_collector(outside, clock=CLOCK)).resend(2)
        assert again.read_bytes() == second.read_bytes()

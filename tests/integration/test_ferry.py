"""Across the network gap, in one process: batch files, their checks, and a collector and a
loader that exchange only files through a misbehaving gateway end where a direct sync ends."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from bridge import wiring
from bridge.settings import Settings
from devtools.demo import counter_staff_review
from sync.ferry import batch as b
from sync.ferry.collector import Collector
from sync.ferry.signing import HmacSigner, Sm2BatchSigner
from sync.ferry.status import ferry_status
from sync.sealing.signer import new_key
from sync.verify import verify
from tests.ferry_chaos import ChaosFerry, Mishaps
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_sync import CLOCK, snapshot
from tests.reliability.test_kill import SCENARIO, fresh_db, reference

SECRET_KEY = "k" * 64
SIGNER = HmacSigner(SECRET_KEY.encode())


def _batch(folder: Path, seq: int = 1, signer=SIGNER, **contents) -> Path:
    scan = folder / "scan.bin"
    scan.write_bytes(b"\xff\xd8\xff scan")
    import hashlib
    sha = hashlib.sha256(scan.read_bytes()).hexdigest()
    body = b.Contents(transactions=[{"txn_id": "T1", "version": 1, "updated_at": "2026-11-25 10:00:00"}],
                      scans={sha: scan}, attachments={"A1": {"status": "ok", "sha256": sha}}, **contents)
    return b.write(folder / "out", "feed", "ext1", seq, "2026-11-26 02:00:00", body, signer)


def test_a_batch_reads_back_as_written(tmp_path):
    path = _batch(tmp_path)
    assert path.name == "pb-feed-ext1-00000001.zip" and not list(path.parent.glob(".tmp-*"))
    with b.Batch(path, SIGNER) as batch:
        assert batch.manifest.counts == {"transactions": 1, "results": 0, "acks": 0, "scans": 1}
        assert batch.items("transactions")[0]["txn_id"] == "T1"
        assert [content for _, content in batch.scans()] == [b"\xff\xd8\xff scan"]


def _rewrite(path: Path, change) -> None:
    with zipfile.ZipFile(path) as src:
        members = {i.filename: src.read(i.filename) for i in src.infolist()}
    change(members)
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "unreadable"),
    (lambda p: _rewrite(p, lambda m: m.pop("manifest.sig")), "unsigned"),
    (lambda p: _rewrite(p, lambda m: m.update({"transactions.jsonl": m["transactions.jsonl"] + b"{}\n"})),
     "hash_mismatch"),
    (lambda p: _rewrite(p, lambda m: m.update({"../extra.txt": b"x"})), "unsafe_name"),
    (lambda p: _rewrite(p, lambda m: m.update({"manifest.json": m["manifest.json"].replace(b'"seq": 1', b'"seq": 2')})),
     "bad_signature"),
    (lambda p: p.rename(p.with_name("pb-feed-ext1-00000002.zip")), "name_mismatch"),
])
def test_a_damaged_batch_is_refused_with_its_reason(tmp_path, damage, reason):
    path = _batch(tmp_path)
    damage(path)
    path = next(path.parent.glob("pb-*.zip"))
    with pytest.raises(b.BadBatch) as refused:
        b.Batch(path, SIGNER)
    assert refused.value.reason == reason


def test_a_member_the_manifest_does_not_list_is_set_aside_unread(tmp_path):
    path = _batch(tmp_path)
    _rewrite(path, lambda m: m.update({"extra.txt": b"x" * 100, "scans/" + "0" * 64: b"not listed"}))
    with b.Batch(path, SIGNER) as batch:
        assert sorted(batch.dropped) == [("extra.txt", "unlisted"), ("scans/" + "0" * 64, "unlisted")]
        assert batch.items("transactions")[0]["txn_id"] == "T1"
        assert [content for _, content in batch.scans()] == [b"\xff\xd8\xff scan"]
        assert batch.carries("0" * 64) is None and not batch.clean


def test_a_flipped_byte_never_changes_what_is_imported(tmp_path):
    """At every offset: the batch is refused, or the byte was zip bookkeeping (a timestamp) and
    everything the batch carries reads back exactly as signed."""
    path = _batch(tmp_path)
    data = path.read_bytes()
    with b.Batch(path, SIGNER) as good:
        signed = (good.manifest, good.items("transactions"), list(good.scans()))
    refused = 0
    for offset in range(len(data)):
        bad = bytearray(data)
        bad[offset] ^= 0x10
        path.write_bytes(bytes(bad))
        try:
            with b.Batch(path, SIGNER) as batch:
                assert (batch.manifest, batch.items("transactions"), list(batch.scans())) == signed, offset
        except b.BadBatch:
            refused += 1
    assert refused > len(data) * 0.8


def test_wrong_key_and_sm2(tmp_path):
    path = _batch(tmp_path)
    with pytest.raises(b.BadBatch) as refused:
        b.Batch(path, HmacSigner(b"another shared secret of enough length...."))
    assert refused.value.reason == "bad_signature"
    outside, inside = new_key("SM2-SM3", "F", "f"), new_key("SM2-SM3", "F", "f")
    (tmp_path / "sm2").mkdir()
    signed = _batch(tmp_path / "sm2", signer=Sm2BatchSigner(outside, inside))
    with b.Batch(signed, Sm2BatchSigner(inside, outside)):
        pass
    with pytest.raises(b.BadBatch) as refused:
        b.Batch(signed, Sm2BatchSigner(inside, inside))
    assert refused.value.reason == "bad_signature"


# --- both halves, through a gateway that misbehaves ---------------------------------------------

def side_settings(tmp_path: Path, side: str, **values) -> Settings:
    folder = tmp_path / side
    out, into = ("a2b", "b2a") if side == "collector" else ("b2a", "a2b")
    return Settings(home=folder / "home", ferry_outbox=folder / out, ferry_inbox=folder / into,
                    ferry_key=SECRET_KEY, ferry_sender=side, regions="5301", rate_limit=0, page_size=10, **values)


def test_across_the_gap_ends_where_a_direct_sync_ends(tmp_path):
    expected = reference(True)
    url = fresh_db(tmp_path / "internal.db")
    with sandbox(SCENARIO) as server:
        outside = side_settings(tmp_path, "collector", platform_url=server.base_url, app_key=KEY, app_secret=SECRET)
        inside = side_settings(tmp_path, "loader", internal_db=url)
        feed = ChaosFerry(outside.ferry_outbox, inside.ferry_inbox,
                          Mishaps(delay={2: 2}, duplicate={3}, swap_with_next={5}, half_written={6}, flip={8},
                                  unsign={9}))
        results = ChaosFerry(inside.ferry_outbox, outside.ferry_inbox, Mishaps(duplicate={1}, delay={2: 1}))
        reviewed, quiet = False, 0
        for _ in range(40):
            collected = Collector(wiring.build_collector(outside, clock=CLOCK)).run()
            feed.carry()
            loader = wiring.build_loader(inside, clock=CLOCK)
            loaded = loader.run()
            for name, _reason in loaded.quarantined:  # the operator asks the outside to send it again
                Collector(wiring.build_collector(outside, clock=CLOCK)).resend(b.parse_name(name)[2])
            results.carry()
            settled = not (feed.in_transit() or results.in_transit() or loaded.waiting or loaded.quarantined
                           or loaded.tally.new_versions or collected.sent_versions)
            if settled and not reviewed:
                counter_staff_review(loader.parts, Console(quiet=True))
                reviewed = True
            elif settled and not loaded.results and not collected.results_posted.get("sent"):
                quiet += 1
                if quiet == 2:
                    break
        assert reviewed and quiet == 2, (feed.log, results.log)
        assert {"delay 2", "duplicate 3", "flip 8", "unsign 9", "half 6"} <= set(feed.log)
        assert snapshot(loader.parts.internal) == expected[0]
        assert sorted((r["txn_id"], r["outcome"]) for r in server.state.results) == expected[1]
        assert verify(loader.parts.internal, loader.parts.state, "2").ok
        status = ferry_status(loader.parts.state, inside.ferry_inbox, inside.ferry_outbox)
        assert {q["reason"] for q in status["quarantined"]} == {"hash_mismatch", "unsigned"} or \
            {q["reason"] for q in status["quarantined"]} == {"unreadable", "unsigned"}
        assert status["received"]["feed:collector"]["missing"] == [] and status["results_unanswered"]["count"] == 0
        assert json.dumps(status)


def test_one_way_gap_holds_results_and_the_report_says_so(tmp_path):
    """Nothing can cross back: no result batch is written; each due result is held and reported."""
    from reports.unsynced import UnsyncedReport

    url = fresh_db(tmp_path / "internal.db")
    with sandbox(SCENARIO) as server:
        outside = side_settings(tmp_path, "collector", platform_url=server.base_url, app_key=KEY, app_secret=SECRET)
        inside = side_settings(tmp_path, "loader", internal_db=url, ferry_one_way=True)
        Collector(wiring.build_collector(outside, clock=CLOCK)).run()
        ChaosFerry(outside.ferry_outbox, inside.ferry_inbox, Mishaps()).carry()
        loader = wiring.build_loader(inside, clock=CLOCK)
        loaded = loader.run()
        assert loaded.tally.new_versions == len(SCENARIO["transactions"]) and loaded.held > 0
        assert loaded.result_batches == [] and not list(inside.ferry_outbox.glob("*"))
        assert server.state.results == []
        p = loader.parts
        rows = list(UnsyncedReport(p.internal, p.state, p.context.regions, p.codes, CLOCK()).rows())
        held = [r for r in rows if r.kind == "writeback_held"]
        # invalid records are reported as such (with their problems), the rest as held results
        assert len(held) == loaded.held - loaded.tally.by_state["invalid"] > 0 and "单向网闸" in held[0].reason
        again = wiring.build_loader(inside, clock=CLOCK).run()  # held again, never doubled
        assert again.held == loaded.held and again.tally.new_versions == 0
        assert ferry_status(p.state, inside.ferry_inbox, inside.ferry_outbox)["results_held"] == loaded.held

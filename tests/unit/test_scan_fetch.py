"""``ScanFetcher``'s downloads: a bounded window of futures, taken as each finishes (``sync.scans``)."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest

from connectors.platform import NotFound
from connectors.platform.client import Scan
from sync.scans import ScanFetcher, ScanStore


def _content(a_id: str) -> bytes:
    return b"\xff\xd8\xff" + a_id.encode() * 20


def _attachment(a_id: str) -> dict:
    return {"attachment_id": a_id, "sha256": hashlib.sha256(_content(a_id)).hexdigest()}


class FakeClient:
    """Answers ``attachment`` after a short random pause, counting what is asked and in flight."""

    def __init__(self, missing: frozenset[str] = frozenset(), broken: frozenset[str] = frozenset()) -> None:
        self.missing, self.broken = missing, broken
        self.asked: list[str] = []
        self.out = self.most_out = 0
        self._lock = threading.Lock()

    def attachment(self, a_id: str, expected: str | None) -> Scan:
        with self._lock:
            self.asked.append(a_id)
            self.out += 1
            self.most_out = max(self.most_out, self.out)
        try:
            time.sleep(random.uniform(0, 0.004))
            if a_id in self.broken:
                raise RuntimeError("the platform's bytes broke the client")
            if a_id in self.missing:
                raise NotFound("no such attachment", 40401)
            content = _content(a_id)
            return Scan(content, "image/jpeg", hashlib.sha256(content).hexdigest())
        finally:
            with self._lock:
                self.out -= 1


class CountingStore(ScanStore):
    """Counts the downloads held in memory: asked for and not yet written."""

    def __init__(self, root, client: FakeClient) -> None:
        super().__init__(root)
        self.client, self.most_held = client, 0

    def put(self, sha256: str, content: bytes) -> None:
        self.most_held = max(self.most_held, len(self.client.asked) - self.fetched_so_far)
        super().put(sha256, content)
        self.fetched_so_far += 1

    fetched_so_far = 0


def test_every_scan_is_fetched_once_kept_and_reported_in_the_attachments_order(tmp_path):
    ids = [f"F{n:05d}" for n in range(300)]
    client = FakeClient()
    store = CountingStore(tmp_path, client)
    fetcher = ScanFetcher(client, store, workers=4)  # type: ignore[arg-type]
    attachments = [_attachment(a_id) for a_id in ids]
    outcomes = fetcher.outcomes(attachments + attachments[:20])  # named twice: fetched once
    assert list(outcomes) == ids
    assert sorted(client.asked) == ids
    assert all(o.ok for o in outcomes.values()) and fetcher.fetched == 300
    assert all(store.read(o.sha256) == _content(a_id) for a_id, o in outcomes.items())
    # At most the window (four per worker) asked for and not yet written, and never more at
    # once than the workers.
    assert store.most_held <= 4 * 4 and client.most_out <= 4


def test_a_scan_the_platform_does_not_have_is_missing_and_the_others_are_kept(tmp_path):
    ids = [f"F{n:05d}" for n in range(120)]
    client = FakeClient(missing=frozenset(ids[7::50]))
    fetcher = ScanFetcher(client, ScanStore(tmp_path), workers=3)  # type: ignore[arg-type]
    outcomes = fetcher.outcomes([_attachment(a_id) for a_id in ids])
    assert list(outcomes) == ids
    assert {a_id for a_id, o in outcomes.items() if o.status == "missing"} == set(ids[7::50])
    assert all(o.ok for a_id, o in outcomes.items() if a_id not in ids[7::50])
    assert fetcher.fetched == 120 - 3


def test_a_download_that_fails_stops_the_fetch_and_what_has_not_started_is_not_sent(tmp_path):
    ids = [f"F{n:05d}" for n in range(400)]
    client = FakeClient(broken=frozenset({ids[10]}))
    fetcher = ScanFetcher(client, ScanStore(tmp_path), workers=2)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="broke"):
        fetcher.outcomes([_attachment(a_id) for a_id in ids])
    assert ids[10] in client.asked and len(client.asked) < 40  # the window is 8: not the 400

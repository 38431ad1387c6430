"""The real client against the real sandbox server over 127.0.0.1, with each fault switch."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from connectors.platform import FatalError, RegionForbidden, RetryBudgetExhausted
from connectors.platform.client import ScanRejected
from connectors.platform.feed import pages
from sandbox.faults import Faults
from sandbox.generator import generate
from tests.integration.sandbox_fixtures import client, sandbox

SCENARIO = generate(400, seed=7, messy_share=0.0)
ALL = {t["txn_id"] for t in SCENARIO["transactions"]}


def read_all(c, committed=lambda: None, **kw) -> list[dict]:
    return [item for page in pages(c, committed, limit=50, **kw) for item in page.items]


@pytest.mark.parametrize("fault", ["error_200", "rate_limited", "http500", "http503", "drop", "truncate",
                                   "repeat_page"])
def test_feed_is_complete_under_each_fault(fault):
    with sandbox(SCENARIO, Faults(seed=3, **{fault: 0.3})) as server:
        c = client(server)
        items = read_all(c)
    assert {i["txn_id"] for i in items} == ALL
    assert c.stats.retries > 0 or fault == "repeat_page"


def test_slow_answers_past_the_timeout_are_retried():
    with sandbox(SCENARIO, Faults(seed=1, slow=0.2, slow_seconds=1.5)) as server:
        items = read_all(client(server, timeout=0.5))
    assert {i["txn_id"] for i in items} == ALL


def test_platform_that_stays_down_ends_within_the_budget():
    with sandbox(SCENARIO, Faults(http503=1.0)) as server:
        started = time.monotonic()
        with pytest.raises(RetryBudgetExhausted):
            read_all(client(server, retries=5, seconds=5))
    assert time.monotonic() - started < 10


def test_visibility_lag_is_caught_by_the_overlap():
    with sandbox(SCENARIO) as server:
        c = client(server)
        items = read_all(c)
        last = max(datetime.strptime(i["updated_at"], "%Y-%m-%d %H:%M:%S") for i in items)
        late = dict(SCENARIO["transactions"][0], txn_id="RH530102209901010001",
                    updated_at=(last - timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S"))
        server.state.put(late, lag=0.0)
        again = read_all(c, committed=lambda: last)
    assert "RH530102209901010001" in {i["txn_id"] for i in again}


def test_without_overlap_the_late_item_would_be_missed():
    with sandbox(SCENARIO) as server:
        c = client(server)
        last = max(datetime.strptime(t["updated_at"], "%Y-%m-%d %H:%M:%S") for t in SCENARIO["transactions"])
        late = dict(SCENARIO["transactions"][0], txn_id="RH530102209901010002",
                    updated_at=(last - timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S"))
        server.state.put(late, lag=0.0)
        page = c.changes_page(updated_after=last)
    assert "RH530102209901010002" not in {i["txn_id"] for i in page.items}


def test_expired_cursor_restarts_from_the_committed_checkpoint():
    with sandbox(SCENARIO) as server:
        c = client(server)
        seen, expired = [], False
        for page in pages(c, lambda: None, limit=50):
            seen.extend(page.items)
            if len(seen) >= 100 and not expired:
                server.state.expire_cursors()
                expired = True
    assert {i["txn_id"] for i in seen} == ALL and len(seen) > len(ALL)


def test_clock_skew_is_followed():
    with sandbox(SCENARIO, clock_skew=900) as server:
        items = read_all(client(server))
    assert len(items) == len(ALL)


def test_bad_secret_fails_at_once():
    with sandbox(SCENARIO) as server:
        c = client(server)
        c._auth._secret = "wrong"
        with pytest.raises(FatalError) as err:
            read_all(c)
    assert err.value.code == 40101 and c.stats.retries == 0


def test_region_not_permitted():
    with sandbox(SCENARIO, prefixes=("5301",)) as server:
        with pytest.raises(RegionForbidden):
            read_all(client(server), region_prefix="5302")


def test_attachment_is_verified():
    txn = next(t for t in SCENARIO["transactions"] if t["attachments"])
    a = txn["attachments"][0]
    with sandbox(SCENARIO, Faults(seed=2, truncate=0.5, drop=0.3)) as server:
        c = client(server)
        scan = c.attachment(a["attachment_id"], a["sha256"])
        with pytest.raises(ScanRejected):
            c.attachment(a["attachment_id"], "0" * 64)
    assert scan.sha256 == a["sha256"]


def test_write_back_is_idempotent_and_checks_versions():
    txn = SCENARIO["transactions"][0]
    body = {"version": txn["version"], "outcome": "accepted", "internal_ref": "YW1",
            "processed_at": "2026-11-25 18:03:11", "handler": "王芳"}
    with sandbox(SCENARIO) as server:
        c = client(server)
        first = c.post_result(txn["txn_id"], body, "k1")
        again = c.post_result(txn["txn_id"], body, "k1")
        with pytest.raises(FatalError):
            c.post_result(txn["txn_id"], dict(body, handler="x"), "k1")
        from connectors.platform import ConflictError
        with pytest.raises(ConflictError) as err:
            c.post_result(txn["txn_id"], body, "k2")
    assert first == again and first["version"] == txn["version"] + 1
    assert err.value.current_version == txn["version"] + 1
    assert len(server.state.results) == 1


def test_an_attachment_id_with_a_space_and_chinese_is_fetched_over_the_wire():
    """The id goes as one percent-encoded path segment, signed as sent; the server decodes it."""
    import hashlib as _hashlib

    from tests.integration.sandbox_fixtures import client as _client
    from tests.integration.sandbox_fixtures import sandbox as _sandbox

    jpeg = b"\xff\xd8\xff\xe0" + b"odd" * 40
    scenario = {"seed": 0, "transactions": [], "attachments": {"F 1/扫描": {"content": jpeg, "content_type": "image/jpeg"}}}
    with _sandbox(scenario) as server:
        scan = _client(server).attachment("F 1/扫描", _hashlib.sha256(jpeg).hexdigest())
    assert scan.content == jpeg

"""Hypothesis values in every field of the wire format, attachments and nested payloads included,
through the whole nightly path (feed, scans, validate, plan, apply, commit, seal, write-back) on
PostgreSQL, then every scan asked of the console.

What must hold for any value an agent's account can send (issue 22):
- no run crashes and no run is left ``running``; the clean record beside the hostile one is applied;
- nothing outside the scan store is read: every file kept there is named by the hash of its bytes,
  and every attachment the ledger calls ``ok`` has such a file;
- nothing the platform sent is served back as active content: every scan the console answers is
  a download or a checked image, in a sandbox, never the declared type.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge import wiring
from mapping import idcard
from sync import nightly
from sync.ledger import tables as lt
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings

CLOCK = lambda: datetime(2026, 11, 26, 2, 0, 0)  # noqa: E731 - a fixed night
HTML = b"<html><script>document.title='pwned'</script></html>"
PDF_WITH_SCRIPT = b"%PDF-1.4\n<script>alert(1)</script>"
JS = b"fetch('/conflicts/1/resolve',{method:'POST'})"
JPEG = b"\xff\xd8\xff\xe0" + b"scan" * 30
CONTENTS = [HTML, PDF_WITH_SCRIPT, JS, JPEG]
PATHS = ["/etc/passwd", "./../internal.db", "../../bridge.env", "..", "/", "C:\\Windows\\win.ini", "%2e%2e%2f"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(PATHS + ["<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0",
                                                                   "[/bogus]", "\x1b[2J", "\u202eevil", "\x00"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=12)
FIELDS = ["txn_id", "version", "biz_type", "status", "created_at", "updated_at", "region_code", "agent", "person",
          "payload", "attachments", "remarks", "seal_status"]
ATTACHMENT_FIELDS = ["attachment_id", "kind", "file_name", "content_type", "size", "sha256"]
SERIAL = itertools.count(1)


@st.composite
def hostile(draw, serial: int):
    """A transaction with hostile values in some fields and hostile attachments."""
    txn = raw_txn(draw(st.sampled_from(["CBDJ", "BJ", "XXBG", "ZXDJ", "ZYZR"])), txn_id=f"RHHOSTILE{serial:06d}")
    attachments, served = [], {}
    for i in range(draw(st.integers(0, 3))):
        content = draw(st.sampled_from(CONTENTS))
        a = {"attachment_id": f"H{serial}x{i}", "kind": draw(st.sampled_from(["id_card", "household_register",
                                                                          "application_form", "other"])),
             "file_name": "../../x.html", "content_type": draw(st.sampled_from(["text/html", "application/javascript",
                                                                                "image/svg+xml", "image/jpeg"])),
             "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
        for name in draw(st.lists(st.sampled_from(ATTACHMENT_FIELDS), max_size=2, unique=True)):
            a[name] = draw(st.one_of(JSON, st.sampled_from(PATHS)))
        attachments.append(a)
        if isinstance(a.get("attachment_id"), str):
            served[a["attachment_id"]] = {"content": content, "content_type": "text/html"}
    txn["attachments"] = attachments
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)):
        if name in ("txn_id",):
            continue  # the record must stay identifiable for the assertions below
        txn[name] = draw(JSON)
    if isinstance(txn.get("payload"), dict) and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(txn["payload"]) or ["x"]))
        txn["payload"][key] = draw(JSON)
    return txn, served


def clean(serial: int) -> tuple[dict, dict]:
    txn = raw_txn("CBDJ", txn_id=f"RHCLEAN{serial:06d}")
    txn["person"] = dict(txn["person"], id_number=idcard.make(f"53010219800101{serial % 1000:03d}"),
                         birth_date="1980-01-01")
    number = txn["person"]["id_number"]
    txn["person"]["gender"] = "M" if int(number[16]) % 2 else "F"
    served = {}
    for a in txn["attachments"]:
        a["attachment_id"] = f"C{serial}{a['attachment_id']}"
        content = JPEG + a["attachment_id"].encode()
        a["sha256"] = hashlib.sha256(content).hexdigest()
        served[a["attachment_id"]] = {"content": content, "content_type": "image/jpeg"}
    return txn, served


def _store_is_content_addressed(home) -> None:
    for path in (home / "scans").rglob("*"):
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path


def _console_serves_no_active_content(parts, hostile_id: str) -> None:
    from starlette.testclient import TestClient

    from console.app import Console
    from console.auth import add_user, login
    name = "审计员"
    with parts.state.connect() as conn:
        exists = conn.execute(select(lt.user.c.name).where(lt.user.c.name == name)).first()
        conflict = conn.execute(select(lt.conflict.c.id).where(lt.conflict.c.txn_id == hostile_id)).first()
    if not exists:
        add_user(parts.state, name, "staff", "53", "correct horse 1", CLOCK())
    if conflict is None:
        return
    client = TestClient(Console(parts, CLOCK).app)
    token = login(parts.state, name, "correct horse 1", CLOCK())
    client.cookies.set("pb_session", token)
    page = client.get(f"/conflicts/{conflict.id}")
    assert page.status_code in (200, 403, 404)
    with parts.state.connect() as conn:
        attachment_ids = [r.attachment_id for r in conn.execute(select(lt.attachment.c.attachment_id))]
    for aid in attachment_ids:
        answer = client.get(f"/conflicts/{conflict.id}/scan/{aid}")
        if answer.status_code != 200:
            continue
        kind = answer.headers["content-type"].split(";")[0]
        assert kind in ("image/jpeg", "image/png", "application/pdf", "application/octet-stream"), kind
        assert "sandbox" in answer.headers.get("content-security-policy", "")
        assert answer.headers.get("x-content-type-options") == "nosniff"
        if kind not in ("image/jpeg", "image/png"):
            assert answer.headers.get("content-disposition", "").startswith("attachment")


@pytest.mark.parametrize("backend", ["postgresql"])
@hsettings(max_examples=25, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_value_in_any_field_costs_only_its_own_record(data, backend, internal_url, tmp_path_factory):
    serial = next(SERIAL)
    home = tmp_path_factory.mktemp("home")
    bad, bad_scans = data.draw(hostile(serial))
    good, good_scans = clean(serial)
    scenario = {"seed": 0, "transactions": [copy.deepcopy(bad), good], "attachments": {**bad_scans, **good_scans}}
    with sandbox(scenario) as server:
        parts = wiring.build(settings(server, internal_url, home, regions="5301"), clock=CLOCK)
        result = nightly.run(parts)
    assert result.status == "completed", result.problems
    with parts.state.connect() as conn:
        states = {r.txn_id: r.state for r in conn.execute(select(lt.txn.c.txn_id, lt.txn.c.state))}
        running = conn.execute(select(lt.run.c.run_id).where(lt.run.c.status == "running")).all()
        ok = [r.sha256 for r in conn.execute(select(lt.attachment.c.sha256).where(  # this example's, the DB is shared
            lt.attachment.c.status == "ok", lt.attachment.c.attachment_id.in_([*bad_scans, *good_scans])))]
    assert not running
    assert states[good["txn_id"]] == "applied", states
    for sha in ok:
        assert (home / "scans" / sha[:2] / sha).is_file()
    _store_is_content_addressed(home)
    _console_serves_no_active_content(parts, bad["txn_id"])

"""The console in a real browser (Playwright driving Debian's chromium), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from sync.ledger import tables as lt
from tests.conftest import _fresh_url
from tests.e2e.console_world import PASSWORD, USERS, ConsoleServer, build_world
from tests.integration.sandbox_fixtures import sandbox
from tests.integration.test_sync import rows

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires chromium for the console tests (.ci/run installs it)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path):
    from connectors.internal.db import engine_for
    from connectors.internal.schema import create_contract_schema
    for url in _fresh_url(request.param, tmp_path):
        create_contract_schema(engine_for(url))
        with sandbox() as platform:
            parts = build_world(platform, url, tmp_path)
            with ConsoleServer(parts) as console:
                yield parts, console


def signed_in(browser, console, role: str):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(console.url + "/login")
    page.fill("#name", USERS[role][0])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")
    return page


def conflict_id(parts, kind: str) -> int:
    return next(r["id"] for r in rows(parts.state, lt.conflict) if r["kind"] == kind)


def resolve_in_page(page, console, cid: int, action_label: str, reason: str | None = None, choose=None) -> None:
    page.goto(f"{console.url}/conflicts/{cid}")
    page.get_by_role("button", name=action_label).click()
    if choose:
        choose(page)
    if reason:
        page.fill("#reason", reason)
    page.click("#confirm")
    page.wait_for_url(f"{console.url}/conflicts/{cid}?done=*")


PLAN = [  # kind, button, reason, a choice on the confirmation page, the state it ends in
    ("materials_incomplete", "退回代办员补正", "户口簿照片缺页", None, "rejected"),
    ("already_enrolled", "退回平台（不予办理）", "已在本县参保", None, "rejected"),
    ("not_enrolled", "退回平台（不予办理）", "请先办理参保登记", None, "rejected"),
    ("year_already_paid", "退回平台（不予办理）", "2019年已缴费", None, "rejected"),
    ("stale_change", "按平台内容入库", None, None, "applied"),
    ("double_entry_mismatch", "逐项合并后关联", None, lambda p: p.check("input[value='person.name']"), "linked"),
    ("multiple_candidates", "关联柜面已录入的业务", None, lambda p: p.select_option("#ywlsh", "YW2026112500000052"),
     "linked"),
    ("platform_duplicate", "退回平台（不予办理）", "重复提交", None, "rejected"),
    ("withdrawn_after_apply", "保留内部记录", None, None, "applied"),
    ("changed_after_apply", "保留内部记录", None, None, "applied"),
]


def test_staff_resolve_a_conflict_of_every_kind(browser, world):
    parts, console = world
    page = signed_in(browser, console, "staff")
    for kind, button, reason, choose, state in PLAN:
        cid = conflict_id(parts, kind)
        resolve_in_page(page, console, cid, button, reason, choose)
        assert "已处理完毕" in page.inner_text("[role=status]"), kind
        conflict = rows(parts.state, lt.conflict, id=cid)[0]
        assert (conflict["status"], conflict["resolved_by"]) == ("resolved", "李华"), kind
        assert rows(parts.state, lt.txn, txn_id=conflict["txn_id"])[0]["state"] == state, kind
        trail = rows(parts.state, lt.audit, subject=str(cid))
        assert [a["actor"] for a in trail] == ["李华"] and trail[0]["action"].startswith("resolve:"), kind
        assert "李华" in page.inner_text("table >> nth=-1")  # the history shows who did it
    from sync.verify import verify
    assert verify(parts.internal, parts.state, "2").ok


def test_agent_sees_only_his_region_and_kinds(browser, world):
    parts, console = world
    page = signed_in(browser, console, "agent")
    listed = page.locator("tbody tr").all_inner_texts()
    assert len(listed) == 2 and all("530102" in line for line in listed)
    assert any("材料不全" in line for line in listed) and any("变更前内容与内部系统不一致" in line for line in listed)
    other = next(r["id"] for r in rows(parts.state, lt.conflict) if r["region_code"].startswith("530103"))
    assert page.goto(f"{console.url}/conflicts/{other}").status == 403
    hidden = conflict_id(parts, "already_enrolled")  # his region, a kind only staff work
    assert page.goto(f"{console.url}/conflicts/{hidden}").status == 403
    resolve_in_page(page, console, conflict_id(parts, "materials_incomplete"), "退回代办员补正", "补拍身份证")
    assert page.locator("button", has_text="按平台内容入库").count() == 0


def test_auditor_reads_and_changes_nothing(browser, world):
    parts, console = world
    page = signed_in(browser, console, "auditor")
    assert page.locator("tbody tr").count() == 11
    cid = conflict_id(parts, "stale_change")
    page.goto(f"{console.url}/conflicts/{cid}")
    assert page.locator("form[action$='/confirm']").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{console.url}/conflicts/{cid}/resolve", form={"csrf": csrf, "action": "apply"})
    assert answer.status == 403 and rows(parts.state, lt.conflict, id=cid)[0]["status"] == "open"


def test_a_form_without_its_csrf_token_is_refused(browser, world):
    parts, console = world
    page = signed_in(browser, console, "staff")
    cid = conflict_id(parts, "stale_change")
    answer = page.request.post(f"{console.url}/conflicts/{cid}/resolve", form={"action": "apply"})
    assert answer.status == 403
    forged = page.request.post(f"{console.url}/conflicts/{cid}/resolve", form={"action": "apply", "csrf": "x" * 43})
    assert forged.status == 403 and rows(parts.state, lt.conflict, id=cid)[0]["status"] == "open"


def test_cookies_and_lockout(browser, world):
    parts, console = world
    page = signed_in(browser, console, "staff")
    cookie = next(c for c in page.context.cookies() if c["name"] == "pb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    with httpx.Client(base_url=console.url) as client:
        form = client.get("/login")
        token = client.cookies["pb_login"]
        assert 'name="csrf"' in form.text
        for _ in range(5):
            refused = client.post("/login", data={"csrf": token, "name": "李华", "password": "wrong"})
        assert refused.status_code == 401 and "锁定" in refused.text
        right = client.post("/login", data={"csrf": token, "name": "李华", "password": PASSWORD})
        assert right.status_code == 401  # locked even with the right password
    assert rows(parts.state, lt.user, name="李华")[0]["locked_until"] is not None


def test_pages_for_reports_and_runs(browser, world):
    parts, console = world
    page = signed_in(browser, console, "staff")
    page.click("text=未同步报告")
    assert "合计" in page.inner_text("main")
    before = set(Path(tempfile.gettempdir()).glob("pb-report-*"))
    with page.expect_download() as download:
        page.click("text=下载 Excel")
    assert download.value.suggested_filename.endswith(".xlsx")
    assert download.value.path().stat().st_size > 0
    for _ in range(50):  # the server removes its copy once sent
        left = set(Path(tempfile.gettempdir()).glob("pb-report-*")) - before
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"the download left {left} behind"
    page.click("text=运行记录")
    assert page.locator("tbody tr").count() == 2

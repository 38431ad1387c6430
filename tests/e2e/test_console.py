"""The console in a real browser (Playwright driving Debian's chromium), on SQLite and PostgreSQL."""

from __future__ import annotations

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


def signed_in(browser, console, role: str, viewport: dict | None = None):
    page = browser.new_page(viewport=viewport or {"width": 1366, "height": 768})
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
    listed = page.locator(".queue .item").all_inner_texts()
    assert len(listed) == 2 and all("530102" in line for line in listed)
    assert any("材料不全" in line for line in listed) and any("变更前内容与内部系统不一致" in line for line in listed)
    other = next(r["id"] for r in rows(parts.state, lt.conflict) if r["region_code"].startswith("530103"))
    assert page.goto(f"{console.url}/conflicts/{other}").status == 403
    hidden = conflict_id(parts, "already_enrolled")  # his region, a kind only staff work
    assert page.goto(f"{console.url}/conflicts/{hidden}").status == 403
    resolve_in_page(page, console, conflict_id(parts, "materials_incomplete"), "退回平台，我去补传材料", "补拍身份证")
    assert page.locator("button", has_text="按平台内容入库").count() == 0


def test_auditor_reads_and_changes_nothing(browser, world):
    parts, console = world
    page = signed_in(browser, console, "auditor")
    assert page.locator(".queue .item").count() == 12
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


def test_the_conflict_page_aligns_both_records(browser, world):
    """Issue 26, finding 1: one table, codes decoded, dates formatted, empty values named."""
    parts, console = world
    page = signed_in(browser, console, "staff")
    page.goto(f"{console.url}/conflicts/{conflict_id(parts, 'double_entry_mismatch')}")
    table = {r.locator("th").inner_text().split("（不一致）")[0]: r for r in page.locator("#compare tbody tr").all()}
    name = table["姓名"]
    assert "differs" in name.get_attribute("class") and name.locator("td").all_inner_texts() == ["测试4", "测试肆"]
    assert table["参保日期"].locator("td").all_inner_texts() == ["2026-11", "2020-01"]
    assert table["银行代码"].locator("td").all_inner_texts() == ["102", "（未填）"]
    assert table["业务类型"].locator("td").all_inner_texts() == ["参保登记", "参保登记"]  # YWLX 11 decoded
    assert table["数据来源（仅内部）"].locator("td").all_inner_texts() == ["—", "柜面录入"]
    assert table["审核状态（仅内部）"].locator("td").all_inner_texts() == ["—", "未审核"]
    assert "2026-11-25 15:00" in table["受理时间（平台）／经办时间（内部）"].inner_text()  # not 20261125150000
    main = page.inner_text("main")
    assert "None" not in main and "20261125150000" not in main and "系统自动" in main  # not "pension-bridge"
    assert page.locator(".next").inner_text().startswith("下一步：")
    page.goto(f"{console.url}/conflicts/{conflict_id(parts, 'stale_change')}")
    before = page.locator("#compare tr", has_text="变更前的联系电话").locator("td").all_inner_texts()
    assert before == ["13700000000", "13800138000"]  # the internal value, though no internal business row
    assert "联系电话：13700000000 → 13900139000" in page.inner_text("main")  # the change in words, not JSON


def test_confirm_pages_restate_and_warn(browser, world):
    """Finding 4: the resident, the result, each value written; a warning where one is due."""
    parts, console = world
    page = signed_in(browser, console, "staff")
    cid = conflict_id(parts, "double_entry_mismatch")
    page.goto(f"{console.url}/conflicts/{cid}")
    page.get_by_role("button", name="按平台内容入库").click()
    assert "测试4" in page.locator("h1").inner_text()
    warning = page.locator(".warning").inner_text()
    assert "YW2026112500000041" in warning and "两笔" in warning
    assert page.locator("#written tr", has_text="姓名").locator("td").inner_text() == "测试4"
    assert page.evaluate("document.activeElement.id") == "reason"  # focus on the form, not <body>
    page.goto(f"{console.url}/conflicts/{cid}")
    page.get_by_role("button", name="关联柜面已录入的业务").click()
    assert any("姓名" in w and "测试肆" in w and "测试4" in w for w in page.locator(".warning").all_inner_texts())
    page.goto(f"{console.url}/conflicts/{cid}")
    page.get_by_role("button", name="逐项合并后关联").click()
    assert "内部“测试肆” → 改为平台的“测试4”" in page.locator("label", has=page.locator("input[value='person.name']")
                                                         ).inner_text()
    box = page.locator("input[value='person.name']").bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24  # not a tiny checkbox
    page.fill("#reason", "")
    page.goto(f"{console.url}/conflicts/{conflict_id(parts, 'materials_incomplete')}")
    page.get_by_role("button", name="按平台内容入库").click()
    assert "材料仍不齐" in page.locator(".warning").inner_text()


def test_an_agent_sees_his_own_items_and_what_to_do(browser, world):
    """Finding 3: the agent_id link, the next step per kind and role, the resident's name."""
    parts, console = world
    page = signed_in(browser, console, "agent")
    items = page.locator(".queue .item").all_inner_texts()
    assert all("A0017" in i for i in items) and not any("赵六" in i for i in items)
    assert any("测试3" in i for i in items)  # the resident's name in the queue
    neighbour = next(r["id"] for r in rows(parts.state, lt.conflict) if r["agent_id"] == "A0020")
    assert page.goto(f"{console.url}/conflicts/{neighbour}").status == 403
    page.goto(f"{console.url}/conflicts/{conflict_id(parts, 'materials_incomplete')}")
    step = page.locator(".next").inner_text()
    assert "身份证（上传的文件校验不符，需重新上传）" in step  # which scan, and that it failed its check
    staff = signed_in(browser, console, "staff")
    assert any("赵六" in i for i in staff.locator(".queue .item").all_inner_texts())
    staff.goto(f"{console.url}/conflicts/{neighbour}")
    assert "身份证（没有上传）" in staff.locator(".next").inner_text()


def test_the_queue_pages_by_key_and_counts_the_residents_wait(browser, world, monkeypatch):
    """Finding 2 and 5: keyset pages, and the wait from the platform's created_at (not "0天")."""
    from console import app as console_app
    parts, console = world
    monkeypatch.setattr(console_app, "PAGE_SIZE", 5)
    page = signed_in(browser, console, "auditor")
    seen = []
    while True:
        seen += [a.get_attribute("href") for a in page.locator(".queue .item a").all()]
        if page.locator("a[rel=next]").count() == 0:
            break
        page.locator("a[rel=next]").click()
    assert len(seen) == len(set(seen)) == 12
    # The stale change was taken on the platform 2026-11-20 08:00, its conflict opened 2026-11-26
    # 02:00, the console's clock says 2026-11-26 09:00: six days, the longest wait, listed first.
    page.goto(console.url + "/")
    first = page.locator(".queue .item").first.inner_text()
    assert "变更前内容" in first and "已等 6 天" in first and "2026-11-20 08:00" in first
    buckets = dict(li.inner_text().split() for li in page.locator(".cards").nth(1).locator("li").all())
    assert (buckets["3-7天"], buckets["不足1天"]) == ("1", "11")


def test_chinese_error_pages_and_a_region_outside(browser, world):
    """Finding 6: no English error page; a region outside the user's prefix is said, not hidden."""
    parts, console = world
    page = signed_in(browser, console, "agent")
    answer = page.goto(f"{console.url}/no-such-page")
    assert answer.status == 404 and "找不到这个页面" in page.inner_text("main") and "Not Found" not in page.content()
    page.goto(f"{console.url}/?region=5301")
    assert "530102" in page.locator("[role=alert]").inner_text() and page.input_value("#region") == "530102"
    assert page.locator("a.skip").get_attribute("href") == "#main"
    with httpx.Client(base_url=console.url) as client:
        assert "不支持这种操作方式" in client.put("/login").text

"""Finding 10 (console parts) and the class: what a link, a query or the platform can put on a page."""

from __future__ import annotations

import json
import re
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from sync.ledger import tables as lt
from tests.e2e.console_world import USERS
from tests.integration.test_sync import rows
from tests.security.console_fixtures import Clock, bare_console, full_console, sign_in

HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "cache-control": "no-store"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    with full_console(request.param, tmp_path_factory.mktemp(request.param)) as found:
        yield found


def guarded(answer: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name, answer.headers)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "Traceback" not in answer.text


def conflict(parts, kind: str) -> dict:
    return next(r for r in rows(parts.state, lt.conflict) if r["kind"] == kind)


def conflict_token(client: httpx.Client, cid: int) -> str:
    """The CSRF token of a conflict's page, as its forms post it."""
    page = client.get(f"/conflicts/{cid}")
    return page.text.split('name="csrf" value="')[1].split('"')[0]


@pytest.mark.parametrize("query", ["min_age=abc", "min_age=1e999", "min_age=nan", "kind=zzz", "biz_type=<b>",
                                   "region=53%27--", "region=" + "1" * 20])
def test_a_malformed_filter_is_400_with_the_headers(world, query):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        answer = client.get(f"/?{query}")
    assert answer.status_code == 400 and "请求的条件有误" in answer.text
    guarded(answer)


def test_unknown_ids_paths_and_methods_get_the_console_error_page(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        for path, status in (("/conflicts/" + "9" * 20, 404), ("/conflicts/0", 404), ("/no-such-page", 404),
                             ("/conflicts/1/scan/" + "9" * 20, 404)):
            answer = client.get(path)
            assert answer.status_code == status, path
            assert 'lang="zh-CN"' in answer.text and 'role="alert"' in answer.text
            guarded(answer)
        wrong_method = client.delete("/runs")
        assert wrong_method.status_code == 405 and "不支持这种操作方式" in wrong_method.text
        guarded(wrong_method)


def test_a_server_error_is_the_chinese_page_with_the_headers(world, monkeypatch):
    parts, console = world
    from sync import conflicts

    def broken(*_a, **_k):
        raise RuntimeError("the database went away")
    with closing(sign_in(console, USERS["staff"][0])) as client:
        monkeypatch.setattr(conflicts, "page", broken)  # the queue reads its page here
        answer = client.get("/")
    assert answer.status_code == 500 and "系统出了问题" in answer.text and "database went away" not in answer.text
    guarded(answer)


def test_a_link_cannot_put_words_on_the_page(world):
    parts, console = world
    cid = conflict(parts, "stale_change")["id"]
    with closing(sign_in(console, USERS["staff"][0])) as client:
        forged = client.get(f"/conflicts/{cid}", params={"refused": "请立即致电 400-000-0000 核实身份",
                                                          "done": "请立即致电 400-000-0000"})
        unknown_key = client.get(f"/conflicts/{cid}", params={"refused": "console.locked:x", "done": "zzz"})
        known = client.get(f"/conflicts/{cid}", params={"done": "applied"})
    assert forged.status_code == 200 and "400-000-0000" not in forged.text
    assert unknown_key.status_code == 200 and 'role="alert"' not in unknown_key.text
    assert 'role="status"' not in unknown_key.text
    assert 'role="status"' in known.text and "已处理完毕" in known.text
    for answer in (forged, unknown_key, known):
        guarded(answer)


def test_a_refusal_is_shown_from_the_catalogue_on_the_page_itself(world):
    parts, console = world
    cid = conflict(parts, "double_entry_mismatch")["id"]
    with closing(sign_in(console, USERS["staff"][0])) as client:
        csrf = conflict_token(client, cid)
        answer = client.post(f"/conflicts/{cid}/resolve", data={"csrf": csrf, "action": "merge"})  # no field chosen
    assert answer.status_code == 409 and "请选择要以平台为准的项目" in answer.text
    assert rows(parts.state, lt.conflict, id=cid)[0]["status"] == "open"
    guarded(answer)


def test_pages_and_downloads_with_personal_data_are_not_cached(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        for path in ("/", f"/conflicts/{conflict(parts, 'stale_change')['id']}", "/reports", "/runs",
                     "/reports/unsynced.csv", "/reports/unsynced.xlsx", "/login"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            guarded(answer)


def test_agents_read_id_and_account_numbers_masked_staff_in_clear(world):
    parts, console = world
    cid = conflict(parts, "materials_incomplete")["id"]
    raw = json.loads(rows(parts.state, lt.txn_version, txn_id=conflict(parts, "materials_incomplete")["txn_id"])[0]["raw"])
    number, account = raw["person"]["id_number"], raw["payload"]["bank_account"]["account_no"]
    with closing(sign_in(console, USERS["agent"][0])) as agent, closing(sign_in(console, USERS["staff"][0])) as staff:
        seen_by_agent, seen_by_staff = agent.get(f"/conflicts/{cid}").text, staff.get(f"/conflicts/{cid}").text
        queue = agent.get("/").text
    assert number not in seen_by_agent and account not in seen_by_agent and number not in queue
    assert number[:6] + "*" * 8 + number[-4:] in seen_by_agent
    assert number in seen_by_staff and account in seen_by_staff
    assert not re.search(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])", seen_by_agent)


def test_runs_only_for_users_whose_region_holds_the_runs_scopes(world):
    parts, console = world  # the world's runs served 5301
    with closing(sign_in(console, USERS["staff"][0])) as staff, closing(sign_in(console, USERS["agent"][0])) as agent:
        assert staff.get("/runs").text.count("<tr><td>") == 2
        assert agent.get("/runs").text.count("<tr><td>") == 0


def test_runs_of_two_counties_are_not_one_countys(tmp_path):
    from datetime import datetime

    from console.auth import add_user
    from tests.e2e.console_world import PASSWORD
    clock = Clock()
    with bare_console("sqlite", tmp_path, clock, regions="530102,530103") as (parts, console):
        add_user(parts.state, "县甲", "staff", "530102", PASSWORD, clock())
        with parts.state.begin() as conn:
            conn.execute(lt.run.insert().values(run_id="R1", kind="sync", started_at=datetime(2026, 11, 26, 2),
                                                status="completed", summary=json.dumps({"problems": ["530103 的问题"]})))
        with closing(sign_in(console, "县甲")) as county, closing(sign_in(console, USERS["staff"][0])) as city:
            assert "530103 的问题" not in county.get("/runs").text
            assert "530103 的问题" in city.get("/runs").text


def test_no_template_marks_a_value_safe():
    for template in Path(__file__).parents[2].joinpath("console", "templates").glob("*.j2"):
        source = template.read_text()
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, template
    app = Path(__file__).parents[2].joinpath("console", "app.py").read_text()
    assert "Markup" not in app


def test_an_agents_download_names_no_resident_staffs_does(world):
    """An agent's download covers his whole prefix, other agents' residents too: it carries no
    resident's name; county staff's carries them (the report's 参保人姓名 column)."""
    import csv
    import io

    parts, console = world
    name = json.loads(rows(parts.state, lt.txn_version,
                           txn_id=conflict(parts, "materials_incomplete")["txn_id"])[0]["raw"])["person"]["name"]

    def names(role: str) -> list[str]:
        with closing(sign_in(console, USERS[role][0])) as client:
            answer = client.get("/reports/unsynced.csv")
        assert answer.status_code == 200
        table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        column = next(i for i, title in enumerate(table[0]) if "姓名" in title)
        return [line[column] for line in table[1:] if len(line) > column]
    assert name in names("staff")
    assert name not in names("agent")


def test_a_body_over_the_limit_is_refused_before_any_form_is_parsed(world):
    parts, console = world
    cid = conflict(parts, "stale_change")["id"]
    with closing(sign_in(console, USERS["staff"][0])) as client:
        token = conflict_token(client, cid)
        declared = client.post(f"/conflicts/{cid}/resolve", data={"csrf": token, "note": "x" * 100_000})

        def chunks():
            yield f"csrf={token}&note=".encode()
            for _ in range(200):
                yield b"y" * 1024
        chunked = client.post(f"/conflicts/{cid}/resolve", content=chunks(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        two_files = client.post(f"/conflicts/{cid}/resolve", data={"csrf": token},
                                files=[("a", ("a.txt", b"1")), ("b", ("b.txt", b"2"))])
    for answer in (declared, chunked):
        assert answer.status_code == 413 and "提交的内容太大" in answer.text
        guarded(answer)
    assert two_files.status_code in (400, 403) and "Traceback" not in two_files.text
    assert rows(parts.state, lt.conflict, id=cid)[0]["status"] == "open"

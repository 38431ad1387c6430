"""The console on a phone (390×844) and on county staff's screen (1366×768), for every role:
nothing wider than the viewport, every action on screen without scrolling, each conflict kind
with its aligned table and its next step, and axe-core finding no violation on any page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.ledger import tables as lt
from tests.e2e.console_world import USERS
from tests.e2e.test_console import signed_in, world  # noqa: F401 (world: a fixture; the browser is tests/conftest.py's)
from tests.integration.test_sync import rows

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
WIDEST = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


def axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    found = Axe().run(page).response["violations"]
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in found]


def fits(page, viewport: dict) -> None:
    assert page.evaluate(WIDEST) <= viewport["width"], f"{page.url} is wider than {viewport['width']} px"
    assert axe_violations(page) == [], page.url


def conflicts_of(parts, page, console) -> list[int]:
    """The conflicts the queue lists, every page of it."""
    ids = []
    while True:
        ids += [int(a.get_attribute("href").rsplit("/", 1)[1]) for a in page.locator(".queue .item a").all()]
        more = page.locator("a[rel=next]")
        if more.count() == 0:
            return ids
        more.click()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
@pytest.mark.parametrize("role", sorted(USERS))
def test_every_page_fits_and_passes_axe(browser, world, role, size):
    parts, console = world
    viewport = VIEWPORTS[size]
    page = signed_in(browser, console, role, viewport)
    fits(page, viewport)
    listed = conflicts_of(parts, page, console)
    assert listed, role
    kinds = {}
    for cid in listed:
        kind = rows(parts.state, lt.conflict, id=cid)[0]["kind"]
        if kind in kinds:
            continue
        kinds[kind] = cid
        page.goto(f"{console.url}/conflicts/{cid}")
        fits(page, viewport)
        assert page.locator("#compare tbody tr").count() >= 5, kind  # the aligned table, every field
        assert "None" not in page.inner_text("main"), kind
        assert page.locator(".next").inner_text().startswith("下一步："), kind
        buttons = page.locator(".actions button")
        for i in range(buttons.count()):  # the sticky bar: on screen as the page opens, no scrolling
            box = buttons.nth(i).bounding_box()
            assert box and box["y"] + box["height"] <= viewport["height"] and box["x"] >= 0, (kind, i)
            assert box["x"] + box["width"] <= viewport["width"], (kind, i)
        for i in range(buttons.count()):
            page.goto(f"{console.url}/conflicts/{cid}")
            page.locator(".actions button").nth(i).click()
            page.wait_for_url(f"{console.url}/conflicts/{cid}/confirm")
            fits(page, viewport)
            assert page.evaluate("document.activeElement.tagName") in ("TEXTAREA", "SELECT"), kind
            assert page.locator("#confirm").is_visible()
    if role == "auditor":
        assert page.locator(".actions").count() == 0
    for path in ("/reports", "/runs", "/no-such-page"):
        page.goto(console.url + path)
        fits(page, viewport)
    page.close()


def _every_kind(parts) -> dict[str, int]:
    """An open conflict of every kind the catalogue names: the world's own, and for the kinds its
    sync does not reach (the domain rules of issue 23) a copy of one of its conflicts under that kind."""
    from sqlalchemy import insert

    from config.catalogue import keys
    found = {r["kind"]: r["id"] for r in rows(parts.state, lt.conflict) if r["status"] == "open"}
    template = next(r for r in rows(parts.state, lt.conflict) if r["status"] == "open")
    for n, kind in enumerate(sorted(k.split(".", 1)[1] for k in keys() if k.startswith("conflict_kind."))):
        if kind not in found:
            copy = {k: v for k, v in template.items() if k != "id"}
            copy.update(kind=kind, detail="", opened_at=template["opened_at"] + timedelta(seconds=n + 1))
            with parts.state.begin() as conn:
                found[kind] = conn.execute(insert(lt.conflict).values(**copy)).inserted_primary_key[0]
    return found


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_every_kind_shows_its_table_and_a_next_step_of_its_own_to_staff(browser, world, size):
    """Every conflict kind, not only those the world's sync produces: on a phone and on the
    desktop, the aligned table, a next step written for that kind (not the catch-all), its buttons
    on screen, nothing wider than the screen and no axe-core violation."""
    from config.catalogue import text
    parts, console = world
    viewport = VIEWPORTS[size]
    page = signed_in(browser, console, "staff", viewport)
    catch_all = "下一步：" + text("next_step.staff.other")
    for kind, cid in sorted(_every_kind(parts).items()):
        page.goto(f"{console.url}/conflicts/{cid}")
        fits(page, viewport)
        assert page.locator("#compare tbody tr").count() >= 5, kind
        step = page.locator(".next").inner_text().strip()
        assert step.startswith("下一步：") and step != catch_all, (kind, step)
        assert page.locator(".actions button").count() >= 1, kind
    page.close()


@pytest.mark.parametrize("size", sorted(VIEWPORTS))
def test_the_sign_in_and_error_pages_fit_and_speak_chinese(browser, world, size):
    """What anyone sees first or when something is wrong: the sign-in page, a page that does not
    exist and a method the page does not take, in Chinese, at both sizes, axe-core clean."""
    parts, console = world
    viewport = VIEWPORTS[size]
    page = browser.new_page(viewport=viewport)
    page.goto(console.url + "/login")
    fits(page, viewport)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page = signed_in(browser, console, "agent", viewport)
    for path, words in (("/no-such-page", "找不到这个页面"), ("/conflicts/999999", "找不到这笔待办")):
        answer = page.goto(console.url + path)
        assert answer is not None and answer.status in (403, 404), path
        fits(page, viewport)
        main = page.inner_text("main")
        assert words in main and not any(w in main for w in ("Not Found", "Forbidden", "Error")), (path, main)
    page.close()

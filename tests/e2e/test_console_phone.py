"""The console on a phone (390×844) and on county staff's screen (1366×768), for every role:
nothing wider than the viewport, every action on screen without scrolling, each conflict kind
with its aligned table and its next step, and axe-core finding no violation on any page."""

from __future__ import annotations

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

"""The README's screenshots of the console, phone and desktop: ``python -m tests.e2e.screenshots``
(needs chromium). Built on the same world as the console's browser tests."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from sync.ledger import tables as lt
from tests.e2e.console_world import PASSWORD, USERS, ConsoleServer, build_world
from tests.integration.sandbox_fixtures import sandbox
from tests.integration.test_sync import rows

SHOTS = (  # file, role, viewport, what to open (a path or a conflict kind), full page
    ("console-phone-queue.png", "agent", (390, 844), "/", False),
    ("console-phone-conflict.png", "agent", (390, 844), "materials_incomplete", False),
    ("console-phone-confirm.png", "staff", (390, 844), "double_entry_mismatch:merge", False),
    ("console-desktop-queue.png", "staff", (1366, 768), "/", False),
    ("console-desktop-conflict.png", "staff", (1366, 768), "double_entry_mismatch", False),
)


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright
    home = Path(tempfile.mkdtemp())
    url = f"sqlite:///{home / 'internal.db'}"
    create_contract_schema(engine_for(url))
    with sandbox() as platform, sync_playwright() as p:
        parts = build_world(platform, url, home)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        with ConsoleServer(parts) as console:
            for name, role, (width, height), target, full in SHOTS:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(console.url + "/login")
                page.fill("#name", USERS[role][0])
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(console.url + "/")
                if not target.startswith("/"):
                    kind, _, action = target.partition(":")
                    cid = next(r["id"] for r in rows(parts.state, lt.conflict) if r["kind"] == kind)
                    page.goto(f"{console.url}/conflicts/{cid}")
                    if action:
                        page.locator(f".actions input[value={action}] ~ button").click()
                        page.wait_for_url(f"{console.url}/conflicts/{cid}/confirm")
                page.screenshot(path=str(out / name), full_page=full)
                page.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))

"""The README's screenshots of the console, phone and desktop: ``python -m devtools.screenshots [DIR]``
(default docs/images; needs chromium and playwright, headless, with the flags of the browser tests).
Built on the same world as the console's browser tests (tests/e2e/console_world.py: the sandbox
platform, a contract-schema internal database, one user of each role), so they can be made again
whenever the console changes. ``console-phone.png`` is an agent's queue on a 390×844 phone,
``console-desktop.png`` the county staff's queue at 1366×768."""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from sync.ledger import tables as lt
from tests.conftest import ARGS, CHROMIUM
from tests.e2e.console_world import PASSWORD, USERS, ConsoleServer, build_world
from tests.integration.sandbox_fixtures import sandbox
from tests.integration.test_sync import rows

SHOTS = (  # file, role, viewport, what to open (a path or a conflict kind), full page
    ("console-phone.png", "agent", (390, 844), "/", False),
    ("console-phone-conflict.png", "agent", (390, 844), "materials_incomplete", False),
    ("console-phone-confirm.png", "staff", (390, 844), "double_entry_mismatch:merge", False),
    ("console-desktop.png", "staff", (1366, 768), "/", False),
    ("console-desktop-conflict.png", "staff", (1366, 768), "double_entry_mismatch", False),
)


def chinese_fonts(home: Path) -> dict[str, str | float | bool]:
    """chromium's environment with fontconfig told where a Chinese font is: the WenQuanYi Micro Hei
    the receipt embeds, from a PyPI package the project installs (sync/sealing/receipt.py), so
    that a machine without Chinese fonts still draws the pages in Chinese, not in boxes."""
    from sync.sealing.receipt import FONT_FILE, FONT_PACKAGE

    folder = Path(str(resources.files(FONT_PACKAGE) / FONT_FILE)).parent
    conf = home / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                    f'<include ignore_missing="yes">/etc/fonts/fonts.conf</include><dir>{folder}</dir>'
                    f'<cachedir>{home / "fontcache"}</cachedir></fontconfig>', encoding="utf-8")
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright
    home = Path(tempfile.mkdtemp())
    url = f"sqlite:///{home / 'internal.db'}"
    create_contract_schema(engine_for(url))
    with sandbox() as platform, sync_playwright() as p:
        parts = build_world(platform, url, home)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True, env=chinese_fonts(home))
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

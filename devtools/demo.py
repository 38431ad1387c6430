"""``make demo``: the nightly job end to end on embedded defaults.

A sandbox platform on 127.0.0.1 serving a realistic scenario, an SQLite internal database
built from the contract DDL and seeded with people already enrolled (and business typed in
by hand), one sync run, its summary, and where everything is.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import inspect, select, update

from bridge import logging as bridge_logging
from bridge import summary, wiring
from bridge.settings import Settings, prepare_home
from config.catalogue import text
from connectors.internal import schema as it
from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from sandbox.faults import Faults
from sandbox.generator import generate
from sandbox.seed import seed
from sandbox.server import SandboxServer
from sandbox.state import App, PlatformState
from sync import nightly
from sync.engine import Parts
from sync.verify import verify

APP_KEY, APP_SECRET = "demo", "demo-secret"


def _scenario(home: Path, n: int) -> dict[str, Any]:
    path = home / "sandbox-scenario.json"
    if not path.exists():
        path.write_text(json.dumps(generate(n, seed=2026, existing=max(500, n // 2)), ensure_ascii=False),
                        encoding="utf-8")
    scenario: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return scenario


def _internal_db(home: Path, scenario: dict[str, Any]) -> str:
    url = f"sqlite:///{home / 'internal.db'}"
    db = engine_for(url)
    if not inspect(db).has_table("ac01"):
        create_contract_schema(db)
        seed(db, scenario["internal"])
    db.dispose()
    return url


def counter_staff_review(parts: Parts, console: Console, share: float = 0.5, refuse: float = 0.05) -> None:
    """What counter staff do between two nights: approve some business, turn a little down."""
    rng = random.Random(7)
    y = it.ae_ywjl.c
    # Reviewed now, as staff do between two nights: a fixed date here fell out of the next night's
    # window of review times two days later, and the demo stopped showing its seals.
    reviewed = f"{parts.clock():%Y%m%d%H%M%S}"
    with parts.internal.begin() as conn:
        rows = conn.execute(select(y.ywlsh, y.ywlx).where(y.sjly == "2", y.aae016 == "0").order_by(y.ywlsh)).all()
        approved = refused = 0
        for ywlsh, ywlx in rows:
            roll = rng.random()
            if roll < refuse:
                values = {"aae016": "2", "aae015": reviewed, "aae013": "户口簿照片不清晰，请重新提交"}
                refused += 1
            elif roll < refuse + share:
                # The internal system seals on approval, except 信息变更 (YWLX 13): the missing seal.
                values = {"aae016": "1", "aae015": reviewed, "qzzt": "0" if ywlx.strip() == "13" else "1"}
                approved += 1
            else:
                continue
            conn.execute(update(it.ae_ywjl).where(y.ywlsh == ywlsh).values(**values))
    console.print(text("demo.reviewed", approved=approved, refused=refused))


def _show_receipt(home: Path, console: Console) -> None:
    receipts = sorted((home / "receipts").glob("*.pdf"))
    if receipts:
        console.print(text("demo.receipt", path=receipts[0]))


def _keep_platform(home: Path, scenario: dict[str, Any], state: PlatformState) -> None:
    """The sandbox platform's state (results written back) for the next demo run."""
    scenario["transactions"] = sorted(state.txns.values(), key=lambda t: (str(t.get("updated_at")), t["txn_id"]))
    (home / "sandbox-scenario.json").write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")


DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


def _demo_user(parts: Parts) -> None:
    """A staff user for the console on the demo data (a demo password, printed on purpose)."""
    from sqlalchemy import select as select_

    from console.auth import add_user
    from mapping.types import now_local
    from sync.ledger import tables as lt

    with parts.state.connect() as conn:
        exists = conn.execute(select_(lt.user.c.name).where(lt.user.c.name == DEMO_USER)).first()
    if exists is None:
        add_user(parts.state, DEMO_USER, "staff", "5301", DEMO_PASSWORD, now_local())


def _env_file(home: Path, settings: Settings) -> Path:
    """The demo's settings, so the other commands work on the demo data.

    It holds the app secret: created 0600 from its first byte, then moved over the last run's."""
    path = home / "bridge.env"
    partial = home / f".bridge.env.{secrets.token_hex(6)}.partial"
    lines = [f"BRIDGE_PLATFORM_URL={settings.platform_url}", f"BRIDGE_APP_KEY={APP_KEY}",
             f"BRIDGE_APP_SECRET={APP_SECRET}", f"BRIDGE_INTERNAL_DB={settings.internal_db}",
             f"BRIDGE_HOME={home}", "BRIDGE_REGIONS=5301", f"BRIDGE_DATA_KEY={settings.data_key}", ""]
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.replace(partial, path)
    return path


def _trial_data_key(home: Path, console: Console) -> Path:
    """The demo's data key (``sync.atrest``): scans and payloads at rest are encrypted in the
    demo as in production; made once, owner-only, kept with the others under the home."""
    from sync import atrest

    folder = atrest.keys_folder(home)
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if found:
        return found[0]
    key = atrest.DataKey.new()
    path = folder / f"{key.key_id}.json"
    atrest.write_key(path, key)
    console.print(text("atrest.trial_key_made", path=path))
    return path


def run_demo(n: int, home: Path, console: Console) -> int:
    prepare_home(home)
    (home / "logs").mkdir(mode=0o700, exist_ok=True)
    # The terminal shows the summary; the run's log lines go to files only.
    bridge_logging.configure(home / "logs" / "bridge.log", stream=(home / "logs" / "console.log").open("a"))
    scenario = _scenario(home, n)
    url = _internal_db(home, scenario)
    state = PlatformState(apps={APP_KEY: App(APP_SECRET)})
    state.load(scenario)
    server = SandboxServer(state, Faults()).start()
    console.print(text("demo.sandbox", url=server.base_url, count=len(scenario["transactions"])))
    first_time = not (home / "counter-approved").exists()
    try:
        settings = Settings(platform_url=server.base_url, app_key=APP_KEY, app_secret=SecretStr(APP_SECRET),
                            internal_db=url, home=home, regions="5301", rate_limit=0, data_key=_trial_data_key(home, console))
        parts = wiring.build(settings)
        result = nightly.run(parts)
        summary.render(result, console)
        if first_time:
            counter_staff_review(parts, console)
            (home / "counter-approved").write_text("the demo's counter staff reviewed once\n")
            result = nightly.run(wiring.build(settings))
            summary.render(result, console)
            _show_receipt(home, console)
        _keep_platform(home, scenario, state)
        report = verify(parts.internal, parts.state, parts.codes.setting("source", "platform"))
        console.print(text("run.verify_ok", transactions=report.checked["transactions"],
                           rows=report.checked["synced_business_rows"]) if report.ok
                      else text("run.verify_failed", count=len(report.problems)))
    finally:
        server.stop()
    env = _env_file(home, settings)
    _demo_user(parts)
    console.print(text("demo.where", db=home / "internal.db", log=home / "logs" / "bridge.log"))
    console.print(text("demo.next", env=env))
    return result.exit_code if report.ok else 1

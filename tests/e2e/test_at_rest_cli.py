"""Personal data at rest from the command line (issue 27): keys new, sync under the key, purge
--dry-run and purge, keys rotate, verify against the signed head; the warning without a key."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from datetime import datetime, timedelta
from pathlib import Path

from sync import atrest
from tests.e2e.test_cli import cli
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_sync import with_scans


def _raw(db: str) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("select txn_id, raw from pb_txn_version").fetchall())


def test_keys_sync_purge_and_rotate(sqlite_internal_url, tmp_path):
    kept = raw_txn("CBDJ")
    gone = raw_txn("CBDJ", txn_id="RH53010220261125CB09", status="withdrawn")
    home = tmp_path / "home"
    with sandbox(with_scans(kept, gone)) as server:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
               "BRIDGE_PLATFORM_URL": server.base_url, "BRIDGE_APP_KEY": KEY, "BRIDGE_APP_SECRET": SECRET,
               "BRIDGE_INTERNAL_DB": sqlite_internal_url, "BRIDGE_HOME": str(home), "BRIDGE_REGIONS": "5301",
               "BRIDGE_RATE_LIMIT": "0"}
        made = cli("keys", "new", env=env)
        assert made.returncode == 0, made.stderr
        [key] = list(atrest.keys_folder(home).glob("*.json"))
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and str(key) in made.stdout
        env["BRIDGE_DATA_KEY"] = str(key)
        synced = cli("sync", env=env)
        assert synced.returncode == 0, synced.stderr
        assert "BRIDGE_DATA_KEY" not in synced.stderr  # a key: no warning
    db = sqlite_internal_url.removeprefix("sqlite:///")
    before = _raw(db)
    assert all(v.startswith(atrest.TEXT_PREFIX) and kept["person"]["id_number"] not in v for v in before.values())

    later = {**env, "PB_FIXED_NOW": (datetime.now() + timedelta(days=200)).isoformat(timespec="seconds")}
    listed = cli("purge", "--dry-run", env=later)
    assert listed.returncode == 0, listed.stderr
    assert gone["txn_id"] in listed.stdout and kept["txn_id"] not in listed.stdout  # accepted: still owed
    assert _raw(db) == before  # a dry run changes nothing
    purged = cli("purge", env=later)
    assert purged.returncode == 0 and "已清除 1 笔" in purged.stdout, purged.stdout + purged.stderr
    assert _raw(db)[kept["txn_id"]] == before[kept["txn_id"]] and _raw(db)[gone["txn_id"]] != before[gone["txn_id"]]
    assert "没有到期" in cli("purge", "--dry-run", env=later).stdout

    checked = cli("verify", env=env)
    assert checked.returncode == 0 and "核对通过" in checked.stdout, checked.stdout + checked.stderr
    assert "签名的链头" not in checked.stdout  # the sync signed one

    again = cli("keys", "new", env=env)
    new = Path(re.search(r"BRIDGE_DATA_KEY=(\S+?\.json)", again.stdout).group(1))
    rotated = cli("keys", "rotate", env={**env, "BRIDGE_DATA_KEY": str(new)})
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    new_id = atrest.read_key(new).key_id
    assert all(atrest.key_id_of(v) == new_id for v in _raw(db).values())
    scans = [p for p in (home / "scans").rglob("*") if p.is_file()]
    assert scans and all(atrest.key_id_of(p.read_bytes()[:16]) == new_id for p in scans)


def test_without_a_key_every_start_says_so_once(sqlite_internal_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"))) as server:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
               "BRIDGE_PLATFORM_URL": server.base_url, "BRIDGE_APP_KEY": KEY, "BRIDGE_APP_SECRET": SECRET,
               "BRIDGE_INTERNAL_DB": sqlite_internal_url, "BRIDGE_HOME": str(tmp_path), "BRIDGE_REGIONS": "5301",
               "BRIDGE_RATE_LIMIT": "0"}
        first, second = cli("sync", env=env), cli("sync", env=env)
    for run in (first, second):
        assert run.returncode == 0, run.stderr
        assert run.stderr.count("未设置数据密钥 BRIDGE_DATA_KEY") == 1
    db = sqlite_internal_url.removeprefix("sqlite:///")
    assert all(v.startswith("{") for v in _raw(db).values())  # kept clear, as it says


def test_the_conflict_commands_read_payloads_under_the_key(sqlite_internal_url, tmp_path):
    held = raw_txn("CBDJ")
    held["attachments"] = []  # materials missing: an open conflict
    home = tmp_path / "home"
    key = atrest.keys_folder(home) / "k.json"
    atrest.write_key(key, atrest.DataKey.new())
    with sandbox(with_scans(held)) as server:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
               "BRIDGE_PLATFORM_URL": server.base_url, "BRIDGE_APP_KEY": KEY, "BRIDGE_APP_SECRET": SECRET,
               "BRIDGE_INTERNAL_DB": sqlite_internal_url, "BRIDGE_HOME": str(home), "BRIDGE_REGIONS": "5301",
               "BRIDGE_RATE_LIMIT": "0", "BRIDGE_DATA_KEY": str(key)}
        assert cli("sync", env=env).returncode == 0
    listed = cli("conflicts", "list", "--format", "json", env=env)
    assert listed.returncode == 0 and held["txn_id"] in listed.stdout, listed.stdout + listed.stderr
    shown = cli("conflicts", "show", "1", env=env)
    assert shown.returncode == 0 and held["txn_id"] in shown.stdout, shown.stdout + shown.stderr
    assert all(v.startswith(atrest.TEXT_PREFIX) for v in _raw(sqlite_internal_url.removeprefix("sqlite:///")).values())

"""The command line as an operator runs it: a real process against the real sandbox."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_sync import with_scans


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, env=env, timeout=120)


def test_sync_then_verify_then_nothing_new(sqlite_internal_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"), raw_txn("BJ", updated_at="2026-11-25 10:00:00"))) as server:
        env = {**os.environ, "BRIDGE_PLATFORM_URL": server.base_url, "BRIDGE_APP_KEY": KEY,
               "BRIDGE_APP_SECRET": SECRET, "BRIDGE_INTERNAL_DB": sqlite_internal_url, "BRIDGE_HOME": str(tmp_path),
               "BRIDGE_REGIONS": "5301", "BRIDGE_RATE_LIMIT": "0"}
        first = cli("sync", env=env)
        second = cli("sync", env=env)
        checked = cli("verify", env=env)
    assert first.returncode == 0, first.stderr
    assert "参保登记" in first.stdout and "补缴" in first.stdout
    assert "平台没有新的业务" in second.stdout
    assert checked.returncode == 0 and "核对通过" in checked.stdout
    log = (tmp_path / "logs" / "bridge.log").read_text(encoding="utf-8")
    assert raw_txn("CBDJ")["person"]["id_number"] not in log + first.stdout + first.stderr
    assert SECRET not in log + first.stdout + first.stderr


def test_missing_setting_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    result = cli("sync", env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("设置错误：BRIDGE_PLATFORM_URL 未设置")

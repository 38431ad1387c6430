"""The demo end to end as a newcomer runs it, and what it leaves in its logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_twice_and_logs_no_personal_numbers(tmp_path):
    home = tmp_path / "demo"
    first = subprocess.run([sys.executable, "-m", "bridge", "demo", "--n", "300", "--home", str(home)],
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "核对通过" in first.stdout and "办结凭证示例" in first.stdout and "已直接关联" in first.stdout
    assert sorted(p.suffix for p in (home / "reports").iterdir()) == [".html", ".xlsx"]
    second = subprocess.run([sys.executable, "-m", "bridge", "demo", "--n", "300", "--home", str(home)],
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and "平台没有新的业务" in second.stdout
    scenario = json.loads((home / "sandbox-scenario.json").read_text(encoding="utf-8"))
    secrets = {t["person"]["id_number"] for t in scenario["transactions"] if isinstance(t.get("person"), dict)
               and isinstance(t["person"].get("id_number"), str) and len(t["person"]["id_number"]) == 18}
    secrets |= {t["person"]["phone"] for t in scenario["transactions"] if isinstance(t.get("person"), dict)
                and isinstance(t["person"].get("phone"), str) and len(t["person"]["phone"]) == 11}
    secrets |= {r["aae010"] for r in scenario["internal"]["ac_yhzh"]}
    secrets.add("demo-secret")
    logs = "".join(p.read_text(encoding="utf-8") for p in (home / "logs").glob("*.log"))
    output = first.stdout + first.stderr + second.stdout + second.stderr + logs
    assert len(logs) > 1000
    assert [s for s in secrets if s in output] == []

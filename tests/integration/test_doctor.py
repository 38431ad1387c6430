"""``pension-bridge doctor`` against real databases and the real sandbox: a ready deployment
passes, and each thing broken in a deployment is found by its check, with what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text as sql

from bridge import doctor
from connectors.internal import indexes
from connectors.internal.db import engine_for
from sandbox.faults import Faults
from sandbox.server import SandboxServer
from sandbox.state import App, PlatformState
from sync.ledger import migrate
from sync.ledger.migrate import VERSION_TABLE, upgrade
from sync.sealing.signer import new_key, write_key
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox


@pytest.fixture(autouse=True)
def _no_bridge_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("BRIDGE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def ready(internal_url: str, home: Path) -> dict:
    """A deployment done as docs/deployment.md says: schema at head, indexes, the agency's key."""
    engine = engine_for(internal_url)
    upgrade(engine)
    indexes.create(engine, indexes.missing(engine))
    engine.dispose()
    key = home / "seal.json"
    write_key(key, new_key("SM2-SM3", "530102-0001", "某县社会保险事业管理局业务专用章"))
    from sync import atrest
    data_key = home / "data-key.json"
    atrest.write_key(data_key, atrest.DataKey.new())
    return dict(internal_db=internal_url, home=home, seal_key=key, data_key=data_key, regions="5301", rate_limit=0)


def examine(server: SandboxServer | None, role: str | None = None, **values) -> dict[str, doctor.Result]:
    if server is not None:
        values = dict(platform_url=server.base_url, app_key=KEY, app_secret=SECRET) | values
    results = doctor.run(doctor.load_deployment(role, **values))
    return {r.check: r for r in results}


def statuses(found: dict[str, doctor.Result]) -> dict[str, str]:
    return {name: r.status for name, r in found.items()}


def test_a_ready_deployment_passes_every_check(ready):
    with sandbox() as server:
        found = examine(server, **ready)
    assert statuses(found) == {name: doctor.OK for name, _, roles in doctor.CHECKS if "direct" in roles}
    assert doctor.healthy(list(found.values()))


def test_every_bad_setting_is_named_at_once(monkeypatch, home):
    monkeypatch.setenv("BRIDGE_RATE_LIMIT", "fast")
    monkeypatch.setenv("BRIDGE_PAGE_SIZE", "9000")
    monkeypatch.setenv("BRIDGE_PROXY", "ftp://proxy")
    monkeypatch.setenv("BRIDGE_PLATFORM_URL", "dzrh.example.gov.cn/open/v1")
    found = examine(None, home=home, internal_db=f"sqlite:///{home / 'absent.db'}")
    line = found["settings"].line
    assert found["settings"].status == doctor.FAIL and found["settings"].fix
    for name in ("BRIDGE_RATE_LIMIT", "BRIDGE_PAGE_SIZE", "BRIDGE_PROXY", "BRIDGE_PLATFORM_URL", "BRIDGE_APP_KEY",
                 "BRIDGE_APP_SECRET"):
        assert name in line
    assert "BRIDGE_INTERNAL_DB" not in line


def test_an_unreachable_internal_database_is_named_without_its_password(home):
    found = examine(None, home=home, internal_db="postgresql://bridge:pw-Secret-9@127.0.0.1:1/pension")
    assert found["internal_db"].status == doctor.FAIL
    assert "pw-Secret-9" not in json.dumps([r.__dict__ for r in found.values()], ensure_ascii=False)
    assert {found[c].status for c in ("contract_tables", "code_tables", "grades", "internal_indexes")} == {doctor.SKIP}


def test_a_missing_sqlite_file_is_reported_not_created(home):
    path = home / "pension.db"
    found = examine(None, home=home, internal_db=f"sqlite:///{path}")
    assert found["internal_db"].status == doctor.FAIL and str(path) in found["internal_db"].line
    assert found["schema"].status == doctor.FAIL and "db upgrade" in found["schema"].fix
    assert not path.exists()


def test_a_missing_contract_table_is_named(ready):
    engine = engine_for(ready["internal_db"])
    with engine.begin() as conn:
        conn.execute(sql("drop table ac_zyzr"))
    engine.dispose()
    found = doctor.check_contract_tables(doctor.load_deployment(**ready))
    assert found.status == doctor.FAIL and "AC_ZYZR" in found.line and "AC01" not in found.line


def test_missing_codes_and_sequences_are_named(ready):
    engine = engine_for(ready["internal_db"])
    with engine.begin() as conn:
        conn.execute(sql("delete from aa10 where aaa100 = 'AAE140' and aaa102 = '170'"))
        conn.execute(sql("delete from aa10 where aaa100 = 'QZZT' and aaa102 = '2'"))
        conn.execute(sql("delete from xt_seq where seq_name = 'JFJL'"))
    engine.dispose()
    found = doctor.check_code_tables(doctor.load_deployment(**ready))
    assert found.status == doctor.FAIL
    assert "AAE140=170" in found.line and "QZZT=2" in found.line and "XT_SEQ JFJL" in found.line


def test_grades_that_all_expired_fail(ready):
    engine = engine_for(ready["internal_db"])
    with engine.begin() as conn:
        conn.execute(sql("update aa18 set aae042 = 202312"))
    engine.dispose()
    found = doctor.check_grades(doctor.load_deployment(**ready))
    assert found.status == doctor.FAIL and "AA18" in found.fix


def test_missing_indexes_are_advice_naming_the_command(internal_url, home):
    engine = engine_for(internal_url)
    upgrade(engine)
    engine.dispose()
    found = doctor.check_internal_indexes(doctor.load_deployment(internal_db=internal_url, home=home))
    assert found.status == doctor.WARN and "pb_ix_ae_ywjl_aae015" in found.line  # MariaDB has the others (FKs)
    assert "db internal-indexes --create" in found.fix


@pytest.mark.parametrize("revision, key", [(None, "schema_none"), ("0007", "schema_behind"), ("9999", "schema_newer")])
def test_a_schema_not_at_head_fails(internal_url, home, revision, key):
    engine = engine_for(internal_url)
    if revision is not None:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sql(f"update {VERSION_TABLE} set version_num = :v"), {"v": revision})
    engine.dispose()
    deployment = doctor.load_deployment(internal_db=internal_url, home=home)
    found = doctor.check_schema(deployment)
    deployment.close()
    assert found.status == doctor.FAIL
    assert found.line == doctor.fail("schema", key, "schema_upgrade", at=revision, head=migrate.HEAD,
                                     url=doctor.safe_url(internal_url)).line


def test_a_wrong_secret_is_refused_signing(ready):
    with sandbox() as server:
        found = examine(server, **ready, app_secret="not-the-secret")
    assert found["platform"].status == doctor.FAIL and "40101" in found["platform"].line
    assert "BRIDGE_APP_SECRET" in found["platform"].fix


def test_a_platform_that_does_not_answer(ready):
    found = examine(None, **ready, platform_url="http://127.0.0.1:1/open/v1", app_key=KEY, app_secret=SECRET)
    assert found["platform"].status == doctor.FAIL and "BRIDGE_PROXY" in found["platform"].fix
    assert found["clock"].status == doctor.SKIP


def test_a_region_the_key_may_not_read(ready):
    with sandbox(prefixes=("5302",)) as server:
        found = examine(server, **ready)
    assert found["platform"].status == doctor.FAIL and "40301" in found["platform"].line


@pytest.mark.parametrize("skew, status", [(-600.0, doctor.FAIL), (90.0, doctor.WARN), (0.0, doctor.OK)])
def test_the_clock_against_the_platforms_date(ready, skew, status):
    with sandbox(clock_skew=skew) as server:
        found = examine(server, **ready)
    assert found["clock"].status == status
    assert found["platform"].status == doctor.OK  # 40102 once: the client follows the platform's clock
    if status != doctor.OK:  # the Date header has whole seconds
        assert any(f" {int(abs(skew)) + d} 秒" in found["clock"].line for d in (-1, 0, 1)), found["clock"].line
        assert found["clock"].line.startswith("本机时间比平台" + ("快" if skew < 0 else "慢"))


def test_seal_keys_trial_missing_or_broken(ready, home):
    trial = home / "trial.json"
    write_key(trial, new_key("SM2-SM3", "TRIAL-0001", "试用", trial=True))
    broken = home / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    broken.chmod(0o600)
    results = {name: doctor.check_seal_key(doctor.load_deployment(**(ready | {"seal_key": path})))
               for name, path in (("none", None), ("trial", trial), ("absent", home / "no.json"), ("broken", broken))}
    assert {k: r.status for k, r in results.items()} == {"none": doctor.WARN, "trial": doctor.WARN,
                                                         "absent": doctor.FAIL, "broken": doctor.FAIL}
    assert "BRIDGE_SEAL_KEY" in results["none"].fix


def test_a_home_or_key_others_can_read_fails(ready, home):
    deployment = doctor.load_deployment(**ready)
    assert doctor.check_permissions(deployment).status == doctor.OK
    ready["seal_key"].chmod(0o644)
    found = doctor.check_permissions(deployment)
    assert found.status == doctor.FAIL and str(ready["seal_key"]) in found.line and str(home) + "、" not in found.line
    home.chmod(0o755)
    assert str(home) in doctor.check_permissions(deployment).line


def test_too_little_free_disk_for_scans(ready):
    deployment = doctor.load_deployment(**ready)
    assert doctor.check_disk(deployment).status == doctor.OK
    assert doctor.check_disk(deployment, warn_below=2 ** 62).status == doctor.WARN
    found = doctor.check_disk(deployment, fail_below=2 ** 62, warn_below=2 ** 62)
    assert found.status == doctor.FAIL and "BRIDGE_SCAN_DIR" in found.fix


def test_a_loader_with_a_missing_inbox_and_a_weak_key(ready, tmp_path):
    outbox = tmp_path / "out"
    outbox.mkdir()
    loader = ready | {"ferry_outbox": outbox, "ferry_inbox": tmp_path / "not-there", "ferry_key": "short"}
    found = examine(None, **loader)
    assert doctor.load_deployment(**loader).role == "loader" and "platform" not in found
    assert found["ferry_folders"].status == doctor.FAIL and "BRIDGE_FERRY_INBOX" in found["ferry_folders"].line
    assert "BRIDGE_FERRY_OUTBOX" not in found["ferry_folders"].line
    assert found["ferry_key"].status == doctor.FAIL
    (tmp_path / "not-there").mkdir()
    found = examine(None, **(loader | {"ferry_key": "k" * 40}))
    assert statuses(found) == {name: doctor.OK for name, _, roles in doctor.CHECKS if "loader" in roles}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=300,
                          env=clean | env)


def test_passes_on_the_demo_deployment_and_fails_when_it_is_broken(tmp_path):
    home = tmp_path / "demo"
    demo = _cli("demo", "--n", "200", "--home", str(home), env={})
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    state = PlatformState(apps={"demo": App("demo-secret")})
    state.load(json.loads((home / "sandbox-scenario.json").read_text(encoding="utf-8")))
    server = SandboxServer(state, Faults()).start()
    try:
        env = {"BRIDGE_ENV_FILE": str(home / "bridge.env"), "BRIDGE_PLATFORM_URL": server.base_url}
        good = _cli("doctor", env=env)
        report = json.loads(_cli("doctor", "--format", "json", env=env).stdout)
        broken = _cli("doctor", "--format", "json", env=env | {"BRIDGE_APP_SECRET": "wrong-secret-x"})
    finally:
        server.stop()
    assert good.returncode == 0, good.stdout
    assert len(good.stdout.strip().splitlines()) == len(report["checks"]) + 1  # one line each, and the total
    assert report["ok"] is True and {c["status"] for c in report["checks"]} <= {"ok", "warn"}
    assert broken.returncode == 1
    failed = [c["check"] for c in json.loads(broken.stdout)["checks"] if c["status"] == "fail"]
    assert failed == ["platform"] and "wrong-secret-x" not in broken.stdout

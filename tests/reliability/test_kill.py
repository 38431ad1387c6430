"""``kill -9`` of the real ``pension-bridge sync`` at random moments and at named points:
the internal database and the platform's results end as in a run that was never killed."""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, inspect, select

from bridge import wiring
from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from devtools.demo import counter_staff_review
from sandbox.faults import Faults
from sandbox.generator import generate
from sandbox.seed import seed
from sync import faultpoints, nightly
from sync.ledger import tables as lt
from sync.verify import verify
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox, settings
from tests.integration.test_sync import CLOCK, snapshot

SCENARIO = generate(250, seed=31, existing=120, messy_share=0.1, double_share=0.1)
FIXED_NOW = CLOCK().isoformat()
TIMES = {"ac01": {"aae036"}, "ac02": {"aae036"}, "ac_yhzh": {"aae036"}}


def fresh_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = create_contract_schema(engine_for(url)) or engine_for(url)
    seed(engine, SCENARIO["internal"])
    return url


@functools.cache
def reference(reviewed: bool = False) -> tuple[dict, list]:
    """The end state of runs that were never killed (with counter staff reviewing in between)."""
    folder = Path(tempfile.mkdtemp(prefix="pb-reference-"))
    try:
        url = fresh_db(folder / "reference.db")
        with sandbox(SCENARIO) as server:
            parts = wiring.build(settings(server, url, folder / "home", page_size=10), clock=CLOCK)
            nightly.run(parts)
            if reviewed:
                counter_staff_review(parts, Console(quiet=True))
                nightly.run(parts)
            results = sorted((r["txn_id"], r["outcome"]) for r in server.state.results)
        state = snapshot(parts.internal)
        parts.internal.dispose()
        parts.state.dispose()
        return state, results
    finally:  # the reference run's files are not needed once its end state is taken
        shutil.rmtree(folder, ignore_errors=True)


def env_for(server, url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PB_"))}
    env.update(BRIDGE_PLATFORM_URL=server.base_url, BRIDGE_APP_KEY=KEY, BRIDGE_APP_SECRET=SECRET,
               BRIDGE_INTERNAL_DB=url, BRIDGE_HOME=str(home), BRIDGE_REGIONS="5301", BRIDGE_RATE_LIMIT="0",
               BRIDGE_PAGE_SIZE="10", PB_FIXED_NOW=FIXED_NOW, **extra)
    return env


def sync_process(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bridge", "sync", "--wait"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def progress(state_url: str) -> tuple[int, int, int]:
    engine = engine_for(state_url)
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())  # a kill can land before the migrations ran
        counts = tuple(conn.execute(select(func.count()).select_from(table)).scalar() or 0
                       if table.name in present else 0 for table in (lt.txn, lt.writeback, lt.seal))
    engine.dispose()
    return counts


def finish(env: dict[str, str]) -> None:
    assert subprocess.run([sys.executable, "-m", "bridge", "sync", "--wait"], env=env, timeout=300,
                          capture_output=True).returncode == 0


def same_end(tmp_path: Path, url: str, state_url: str, server, expected) -> None:
    internal, state = engine_for(url), engine_for(state_url)
    assert snapshot(internal) == expected[0]
    assert sorted((r["txn_id"], r["outcome"]) for r in server.state.results) == expected[1]
    assert verify(internal, state, "2").ok


FAULTS = dict(seed=2, slow=0.02, slow_seconds=0.3)  # a realistic pace: kills land all along


@functools.cache
def run_seconds() -> float:
    """How long one uninterrupted sync process takes on this machine: kills are timed as shares
    of it (fixed delays of 0.6-3 s let most runs finish first on a machine twice as fast)."""
    folder = Path(tempfile.mkdtemp(prefix="pb-pace-"))
    try:
        url = fresh_db(folder / "internal.db")
        with sandbox(SCENARIO) as server:
            server.faults = Faults(**FAULTS)
            started = time.perf_counter()
            finish(env_for(server, url, folder / "home"))
            return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def killed_until_done(tmp_path: Path, cycle: int, separate_state: bool, rng: random.Random,
                      expected) -> tuple[int, set]:
    """One database and platform, the sync killed at random until a run completes; then compared."""
    folder = tmp_path / f"cycle{cycle}"
    folder.mkdir()
    url = fresh_db(folder / "internal.db")
    state_url = f"sqlite:///{folder / 'state.db'}" if separate_state else url
    kills, points = 0, set()
    with sandbox(SCENARIO) as server:
        server.faults = Faults(**FAULTS)
        env = env_for(server, url, folder / "home", **({"BRIDGE_STATE_DB": state_url} if separate_state else {}))
        while kills < 30:
            process = sync_process(env)
            time.sleep(rng.uniform(0.1, 0.8) * run_seconds())
            if process.poll() is not None:
                break  # this run finished before it could be killed
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            if os.path.exists(folder / "state.db") or not separate_state:
                # where the run was: ledger rows, write-back rows, seals — and results on the
                # platform, which move one by one while the write-back's rows move a chunk at a time
                points.add((cycle, *progress(state_url), len(server.state.results)))
        finish(env)
        same_end(folder, url, state_url, server, expected)
    return kills, points


@pytest.mark.slow
@pytest.mark.parametrize("separate_state", [False, True])
def test_random_kills_lose_nothing_and_double_nothing(tmp_path, separate_state):
    """At least 20 kills at random moments, over as many fresh databases as it takes, landing
    all along the run (the ledger's progress differs between at least 8 of them)."""
    expected = reference()
    rng = random.Random(5 + separate_state)
    kills, points = 0, set()
    for cycle in range(16):
        more, where = killed_until_done(tmp_path, cycle, separate_state, rng, expected)
        kills, points = kills + more, points | where
        if kills >= 22:
            break
    assert kills >= 20 and len(points) >= 8, (kills, points)


@pytest.mark.slow
@pytest.mark.parametrize("point", faultpoints.POINTS)
def test_kill_at_each_named_point(tmp_path, point):
    """Separate state database; the seal points after counter staff approved business."""
    reviewed = point in ("after_seal", "after_writeback_post")
    expected = reference(reviewed)
    url = fresh_db(tmp_path / "internal.db")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    with sandbox(SCENARIO) as server:
        env = env_for(server, url, tmp_path / "home", BRIDGE_STATE_DB=state_url)
        if reviewed:
            finish(env)
            counter_staff_review(wiring.build(settings(server, url, tmp_path / "home", state_db=state_url),
                                              clock=CLOCK), Console(quiet=True))
        killed = subprocess.run([sys.executable, "-m", "bridge", "sync"], env={**env, "PB_KILL_AT": f"{point}:2"
                                                                              if point != "after_seal" else point},
                                timeout=300, capture_output=True)
        assert killed.returncode == -signal.SIGKILL
        finish(env)
        same_end(tmp_path, url, state_url, server, expected)

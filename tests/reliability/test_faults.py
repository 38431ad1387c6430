"""A misbehaving platform, a database that drops connections and holds locks, and counter
staff typing at the same time: nothing lost, nothing applied twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select, text

from bridge import wiring
from connectors.internal import schema as it
from connectors.internal.sequences import allocate
from sandbox.faults import Faults
from sandbox.generator import generate
from sandbox.seed import seed
from sync import nightly
from sync.applier import Applier
from sync.engine import INCOMPLETE
from sync.verify import verify
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK, settings_stub, snapshot
from tests.reliability.test_kill import env_for

SCENARIO = generate(160, seed=41, existing=80, messy_share=0.1, double_share=0.1)
ALL_FAULTS = Faults(seed=9, error_200=0.05, rate_limited=0.05, http500=0.05, http503=0.05, drop=0.03, truncate=0.03,
                    repeat_page=0.1, expire_cursor=0.1, slow=0.02, slow_seconds=3.5, retry_after=0.05)


def night(url, home, faults=None, **over):
    seed(wiring.engines(settings_stub(url, home))[0], SCENARIO["internal"])
    with sandbox(SCENARIO, faults, lag_seconds=2.0, **over.pop("state", {})) as server:
        parts = wiring.build(settings(server, url, home, page_size=20, timeout=3.0, **over), clock=CLOCK)
        result = nightly.run(parts)
        results = sorted((r["txn_id"], r["outcome"]) for r in server.state.results)
    return parts, result, results


@pytest.mark.slow
def test_every_platform_fault_at_once_changes_nothing(internal_url, tmp_path, sqlite_internal_url):
    clean_parts, _, clean_results = night(sqlite_internal_url, tmp_path / "clean")
    parts, result, results = night(internal_url, tmp_path / "faulty", ALL_FAULTS)
    assert result.status == "completed", result.problems
    assert parts.client.stats.retries > 10
    assert snapshot(parts.internal) == snapshot(clean_parts.internal)
    assert results == clean_results
    assert verify(parts.internal, parts.state, "2").ok


def test_clock_skew_is_survived(sqlite_internal_url, tmp_path):
    parts, result, results = night(sqlite_internal_url, tmp_path, state={"clock_skew": 1200})
    assert result.status == "completed" and len(results) > 100


def test_a_platform_that_stays_down_ends_cleanly_and_the_next_run_resumes(sqlite_internal_url, tmp_path):
    seed(wiring.engines(settings_stub(sqlite_internal_url, tmp_path))[0], SCENARIO["internal"])
    down = Faults(seed=1, http503=1.0, retry_after=0.01)
    with sandbox(SCENARIO, down) as server:
        env = env_for(server, sqlite_internal_url, tmp_path / "home", BRIDGE_RETRY_BUDGET="8", BRIDGE_RETRY_SECONDS="5")
        started = time.monotonic()
        failed = subprocess.run([sys.executable, "-m", "bridge", "sync"], env=env, capture_output=True, text=True,
                                timeout=120)
        assert failed.returncode == INCOMPLETE and time.monotonic() - started < 60
        assert "平台持续无法访问" in failed.stdout
        server.faults = Faults()
        resumed = subprocess.run([sys.executable, "-m", "bridge", "sync"], env=env, capture_output=True, text=True,
                                 timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    parts = wiring.build(settings_stub(sqlite_internal_url, tmp_path / "home"))
    assert verify(parts.internal, parts.state, "2").ok


def test_postgresql_connection_dropped_mid_batch(internal_url, backend, tmp_path, sqlite_internal_url, mocker):
    if backend != "postgresql":
        pytest.skip("terminating a backend is PostgreSQL's")
    clean_parts, _, _ = night(sqlite_internal_url, tmp_path / "clean")
    real = Applier.apply
    dropped = {"n": 0}

    def drop_once(self, work):
        if dropped["n"] == 2:  # the third batch: its own server process dies under it
            dropped["n"] += 1
            self.conn.execute(text("select pg_terminate_backend(pg_backend_pid())"))
        dropped["n"] += 1
        return real(self, work)

    mocker.patch.object(Applier, "apply", drop_once)
    parts, result, _ = night(internal_url, tmp_path / "faulty")
    assert dropped["n"] > 3 and result.status == "completed"
    assert snapshot(parts.internal) == snapshot(clean_parts.internal)


def test_a_lock_held_by_counter_staff_is_waited_for(internal_url, backend, tmp_path):
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], SCENARIO["internal"])
    engine = wiring.engines(settings_stub(internal_url, tmp_path))[0]
    holding = threading.Event()

    def counter_clerk() -> None:  # takes XT_SEQ's row lock and types slowly
        with engine.begin() as conn:
            allocate(conn, "YWLSH", 1)
            holding.set()
            time.sleep(2.0)

    clerk = threading.Thread(target=counter_clerk)
    clerk.start()
    holding.wait(5)
    with sandbox(SCENARIO) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path, page_size=20), clock=CLOCK)
        result = nightly.run(parts)
    clerk.join()
    assert result.status == "completed" and verify(parts.internal, parts.state, "2").ok


def test_counter_staff_allocating_while_the_sync_runs(internal_url, tmp_path):
    seed(wiring.engines(settings_stub(internal_url, tmp_path))[0], SCENARIO["internal"])
    engine = wiring.engines(settings_stub(internal_url, tmp_path))[0]
    stop, taken = threading.Event(), []

    def counter_clerk() -> None:
        while not stop.is_set():
            with engine.begin() as conn:
                taken.append(allocate(conn, "YWLSH", 1))
            time.sleep(0.01)

    clerk = threading.Thread(target=counter_clerk)
    clerk.start()
    try:
        with sandbox(SCENARIO) as server:
            parts = wiring.build(settings(server, internal_url, tmp_path, page_size=20), clock=CLOCK)
            nightly.run(parts)
    finally:
        stop.set()
        clerk.join()
    with parts.internal.connect() as conn:
        ours = [int(y[10:]) for y in conn.execute(select(it.ae_ywjl.c.ywlsh).where(it.ae_ywjl.c.sjly == "2")).scalars()]
    assert len(taken) > 5 and not set(taken) & set(ours)
    assert len(set(ours)) == len(ours) and verify(parts.internal, parts.state, "2").ok


def test_two_syncs_started_together(sqlite_internal_url, tmp_path):
    seed(wiring.engines(settings_stub(sqlite_internal_url, tmp_path))[0], SCENARIO["internal"])
    with sandbox(SCENARIO) as server:
        env = env_for(server, sqlite_internal_url, tmp_path / "home")
        runs = [subprocess.Popen([sys.executable, "-m", "bridge", "sync", *flags], env=env, stdout=subprocess.PIPE,
                                 text=True) for flags in ([], [])]
        codes = sorted(r.wait(timeout=300) for r in runs)
        waited = subprocess.run([sys.executable, "-m", "bridge", "sync", "--wait"], env=env, timeout=300)
    assert codes in ([0, 3], [0, 0])  # one works, the other says so and exits (or came after it)
    assert waited.returncode == 0
    parts = wiring.build(settings_stub(sqlite_internal_url, tmp_path / "home"))
    assert verify(parts.internal, parts.state, "2").ok

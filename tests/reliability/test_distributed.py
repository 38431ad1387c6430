"""Beyond one machine: workers on procrastinate, partitioned by region, on one PostgreSQL.

Three ``pension-bridge worker`` processes and a ``sync --distributed`` coordinator against the
sandbox with six counties; one worker is killed with SIGKILL in the middle of a partition. The
internal database ends equal to a single-process run (identifiers compared by what they identify:
allocation order differs between processes), the platform holds the same results, ``verify``
passes, and ``status`` tells the story. The shared rate limit keeps many clients of one app key
under the platform's limit together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import wiring
from connectors.internal import schema as it
from connectors.internal.db import engine_for
from connectors.platform.pacing import RateLimiter
from sandbox.faults import Faults
from sandbox.generator import generate
from sandbox.seed import seed
from sync import nightly
from sync.distributed.pacing import SharedRateLimiter
from sync.ledger.migrate import upgrade
from sync.verify import verify
from tests.integration.sandbox_fixtures import KEY, SECRET, client, sandbox, settings
from tests.integration.test_sync import CLOCK
from tests.reliability.test_kill import FIXED_NOW

SCENARIO = generate(480, seed=47, existing=200, messy_share=0.1, double_share=0.1)


def _plain(value):
    return value.rstrip() if isinstance(value, str) else str(value) if value is not None else None


def canonical(db) -> dict[str, list]:
    """The internal tables with generated identifiers replaced by what they identify."""
    with db.connect() as conn:
        people = {r.aac001: r.aac002 for r in conn.execute(select(it.ac01.c.aac001, it.ac01.c.aac002))}
        business = {r.ywlsh: r.wblsh or r.ywlsh for r in conn.execute(select(it.ae_ywjl.c.ywlsh, it.ae_ywjl.c.wblsh))}
        out = {}
        for name, drop in (("ac01", ()), ("ac02", ("aaz159",)), ("ac_yhzh", ()), ("ae_ywjl", ()),
                           ("ac_jfjl", ("jfjl_id",)), ("ac_zyzr", ()), ("xt_seq", ())):
            rows = []
            for r in conn.execute(select(it.TABLES[name])):
                row = dict(r._mapping)
                for column in drop:
                    row.pop(column)
                if "aac001" in row:
                    row["aac001"] = people[row["aac001"]]
                if "ywlsh" in row:
                    row["ywlsh"] = business[row["ywlsh"]]
                rows.append(tuple(_plain(v) for v in row.values()))
            out[name] = sorted(rows, key=repr)
    return out


def fresh_pg(internal_url: str) -> str:
    seed(engine_for(internal_url), SCENARIO["internal"])
    upgrade(engine_for(internal_url))
    return internal_url


def env_for(server, url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PB_"))}
    env.update(BRIDGE_PLATFORM_URL=server.base_url, BRIDGE_APP_KEY=KEY, BRIDGE_APP_SECRET=SECRET,
               BRIDGE_INTERNAL_DB=url, BRIDGE_HOME=str(home), BRIDGE_REGIONS="5301", BRIDGE_RATE_LIMIT="0",
               BRIDGE_PAGE_SIZE="40", BRIDGE_WORKER_HEARTBEAT="0.5", BRIDGE_WORKER_STALLED_AFTER="3",
               PB_FIXED_NOW=FIXED_NOW, **extra)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_three_workers_one_killed_end_as_one_process(internal_url, tmp_path, request):
    # The single-process reference, on a database of its own.
    ref_url = f"sqlite:///{tmp_path / 'reference.db'}"
    from connectors.internal.schema import create_contract_schema
    create_contract_schema(engine_for(ref_url))
    seed(engine_for(ref_url), SCENARIO["internal"])
    with sandbox(SCENARIO) as server:
        reference = wiring.build(settings(server, ref_url, tmp_path / "ref", page_size=40), clock=CLOCK)
        nightly.run(reference)
        ref_results = sorted((r["txn_id"], r["outcome"]) for r in server.state.results)
    expected = canonical(reference.internal)

    url = fresh_pg(internal_url)
    with sandbox(SCENARIO) as server:
        server.faults = Faults(seed=3, slow=1.0, slow_seconds=0.03)  # every answer takes a little while
        workers = {}
        for n in range(3):
            env = env_for(server, url, tmp_path / f"worker{n}")
            process = subprocess.Popen([sys.executable, "-m", "bridge", "worker"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            workers[process.pid] = process
        try:
            coordinator = subprocess.Popen([sys.executable, "-m", "bridge", "sync", "--distributed"],
                                           env=env_for(server, url, tmp_path / "coordinator"),
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            state = engine_for(url)
            victim = None
            deadline = time.monotonic() + 120
            while victim is None and time.monotonic() < deadline:  # a worker in the middle of a partition
                time.sleep(0.2)
                assert coordinator.poll() is None, coordinator.communicate()[0]
                assert all(w.poll() is None for w in workers.values()), "a worker stopped by itself"
                with state.connect() as conn:
                    from sync.ledger import tables as lt
                    running = conn.execute(select(lt.partition.c.worker).where(lt.partition.c.status == "running")).all()
                for (worker,) in running:
                    pid = int(worker.rsplit(":", 1)[1])
                    if pid in workers:
                        time.sleep(0.4)
                        workers[pid].send_signal(signal.SIGKILL)
                        workers[pid].wait()
                        victim = pid
                        break
            assert victim is not None, "no partition was seen running"
            out, _ = coordinator.communicate(timeout=300)
            assert coordinator.returncode == 0, out
        finally:
            for process in workers.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in workers.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        internal = engine_for(url)
        assert canonical(internal) == expected
        assert sorted((r["txn_id"], r["outcome"]) for r in server.state.results) == ref_results
        assert verify(internal, internal, "2").ok
        env = env_for(server, url, tmp_path / "status")
        found = json.loads(subprocess.run([sys.executable, "-m", "bridge", "status", "--format", "json"], env=env,
                                          capture_output=True, text=True, check=True).stdout)
        assert found["run"]["kind"] == "distributed" and found["run"]["status"] == "completed"
        assert found["by_status"] == {"done": 6}
        assert any(p["attempts"] >= 2 for p in found["partitions"])  # the killed worker's partition, done again
        assert len({p["worker"] for p in found["partitions"]}) >= 2
        # the partitions did the work; the sweep only what is under no county (malformed codes)
        in_partitions = sum(p["new_versions"] for p in found["partitions"])
        assert 0.6 * len(SCENARIO["transactions"]) < in_partitions < len(SCENARIO["transactions"]), found
        metrics = subprocess.run([sys.executable, "-m", "bridge", "status", "--format", "prometheus"], env=env,
                                 capture_output=True, text=True, check=True).stdout
        assert 'pension_bridge_partitions{status="done"} 6' in metrics
        assert 'pension_bridge_runs_total{kind="distributed",status="completed"} 1' in metrics


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)
def test_shared_rate_limit_keeps_all_clients_under_the_platform_limit(internal_url):
    """Three clients of one app key, each in its own thread with its own database connection,
    against a platform allowing 10 requests/s with a burst of 4: sharing the limit, none is ever
    refused (42901); each pacing itself alone at 10/s, they are."""
    state = engine_for(internal_url)
    upgrade(state)

    def hammer(limiters) -> int:
        with sandbox(SCENARIO, rate=10.0, burst=4) as server:
            clients = [client(server, limiter=limiter) for limiter in limiters]
            threads = [threading.Thread(target=lambda c=c: [c.changes_page(limit=10) for _ in range(12)])
                       for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return sum(c.stats.retries for c in clients)

    started = time.monotonic()
    shared = [SharedRateLimiter(engine_for(internal_url), KEY, 10.0, 2) for _ in range(3)]
    assert hammer(shared) == 0
    assert time.monotonic() - started >= (36 - 2) / 10 * 0.9  # 36 requests at 10/s, less the burst
    assert hammer([RateLimiter(10.0, 2) for _ in range(3)]) > 0


def test_shared_rate_limit_many_first_users_race_without_error(internal_url):
    """Eight limiters, each on its own connection, take their first slot of a key no one has used
    at the same instant: the row is made once, no one deadlocks (InnoDB's gap locks did, on the
    row that did not exist yet)."""
    state = engine_for(internal_url)
    upgrade(state)
    key = f"race-{time.monotonic_ns()}"
    limiters = [SharedRateLimiter(engine_for(internal_url), key, 1000.0, 1, sleep=lambda s: None)
                for _ in range(8)]
    start, errors, waits = threading.Barrier(len(limiters)), [], []

    def first(limiter):
        with limiter.engine.connect():
            pass  # the connection is open before the race starts
        start.wait()
        try:
            for _ in range(5):
                waits.append(limiter._take())
        except Exception as err:  # noqa: BLE001 - the test reports what any thread raised
            errors.append(err)

    threads = [threading.Thread(target=first, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(waits) == 40
    from sync.ledger import tables as t
    with state.connect() as conn:
        rows = conn.execute(select(t.rate.c.tat).where(t.rate.c.app_key == key)).all()
    assert len(rows) == 1

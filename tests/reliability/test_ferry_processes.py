"""Collector and loader as separate processes with separate folders and databases, joined only
by a test gateway that delays, duplicates, reorders, half-writes, flips a byte and strips a
signature — and by kills at the ferry's named points. The internal database ends equal to a
direct ``sync`` of the same feed, nothing is imported from a bad batch, ``verify`` passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from bridge import wiring
from bridge.settings import Settings
from connectors.internal.db import engine_for
from devtools.demo import counter_staff_review
from sync.engine import INCOMPLETE, NEEDS_ATTENTION
from sync.ferry import batch as b
from sync.ledger import tables as lt
from sync.verify import verify
from tests.ferry_chaos import ChaosFerry, Mishaps
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_sync import CLOCK, snapshot
from tests.reliability.test_kill import FIXED_NOW, SCENARIO, fresh_db, reference

SECRET_KEY = "s" * 64
# Each side killed between writing and recording a batch, one kill at a time, each tried round
# after round until it lands.
KILLS = {"collect": ["after_batch_delivered:3", "after_batch_archived:1"],
         "load": ["after_batch_imported:2", "after_batch_archived:1"]}


def env_of(folder: Path, side: str, **values: str) -> dict[str, str]:
    out, into = ("a2b", "b2a") if side == "collect" else ("b2a", "a2b")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PB_"))}
    env.update(BRIDGE_HOME=str(folder / side / "home"), BRIDGE_FERRY_OUTBOX=str(folder / side / out),
               BRIDGE_FERRY_INBOX=str(folder / side / into), BRIDGE_FERRY_KEY=SECRET_KEY, BRIDGE_FERRY_SENDER=side,
               BRIDGE_REGIONS="5301", BRIDGE_RATE_LIMIT="0", BRIDGE_PAGE_SIZE="10", PB_FIXED_NOW=FIXED_NOW, **values)
    return env


def run(args: list[str], env: dict[str, str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**env, "PB_KILL_AT": kill_at} if kill_at else env
    done = subprocess.run([sys.executable, "-m", "bridge", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, INCOMPLETE, NEEDS_ATTENTION, -signal.SIGKILL), done.stdout + done.stderr
    return done


def count(url: str, table) -> int:
    engine = engine_for(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar()
    engine.dispose()
    return n


@pytest.mark.slow
def test_collector_and_loader_processes_end_where_sync_ends(tmp_path):
    expected = reference(True)
    url = fresh_db(tmp_path / "internal.db")
    inside_state = url
    outside_state = f"sqlite:///{tmp_path / 'collector.db'}"
    with sandbox(SCENARIO) as server:
        outside = env_of(tmp_path, "collect", BRIDGE_PLATFORM_URL=server.base_url, BRIDGE_APP_KEY=KEY,
                         BRIDGE_APP_SECRET=SECRET, BRIDGE_STATE_DB=outside_state)
        inside = env_of(tmp_path, "load", BRIDGE_INTERNAL_DB=url)
        feed = ChaosFerry(Path(outside["BRIDGE_FERRY_OUTBOX"]), Path(inside["BRIDGE_FERRY_INBOX"]),
                          Mishaps(delay={2: 2}, duplicate={3}, swap_with_next={5}, half_written={6}, flip={8},
                                  unsign={9}))
        results = ChaosFerry(Path(inside["BRIDGE_FERRY_OUTBOX"]), Path(outside["BRIDGE_FERRY_INBOX"]),
                             Mishaps(duplicate={1}, delay={2: 1}, flip={3}))
        run(["db", "upgrade"], outside)
        run(["db", "upgrade"], inside)
        reviewed, quiet, seen_bad, landed = False, 0, set(), []
        pending = {side: list(points) for side, points in KILLS.items()}
        for round_ in range(1, 41):  # noqa: B007 - named in the failure message
            before = (count(url, lt.txn_version), count(outside_state, lt.ferry_sent), len(server.state.results))
            for side, env in (("collect", outside), ("load", inside)):
                if run([side], env, pending[side][0] if pending[side] else None).returncode == -signal.SIGKILL:
                    landed.append(pending[side].pop(0))
                if side == "collect":
                    feed.carry()
            for side, env, kind in (("load", inside, "feed"), ("collect", outside, "results")):
                status = json.loads(run(["ferry", "status", "--format", "json"], env).stdout)
                for bad in status["quarantined"]:  # the operator asks the other side to send it again
                    if bad["file"] not in seen_bad:
                        seen_bad.add(bad["file"])
                        other = outside if side == "load" else inside
                        run(["ferry", "resend", str(b.parse_name(bad["file"])[2]), "--kind", kind], other)
            results.carry()
            after = (count(url, lt.txn_version), count(outside_state, lt.ferry_sent), len(server.state.results))
            held = any(info["held"] for info in status["received"].values())
            settled = before == after and not (feed.in_transit() or results.in_transit() or held or any(pending.values()))
            if settled and not reviewed:
                counter_staff_review(wiring.build_internal(Settings(internal_db=url, home=tmp_path / "review"),
                                                           clock=CLOCK), Console(quiet=True))
                reviewed = True
            elif settled:
                quiet += 1
                if quiet == 2:
                    break
        assert reviewed and quiet == 2 and len(landed) == 4, (round_, landed, feed.log, results.log)
        assert {"delay 2", "duplicate 3", "swap pb-feed-collect-00000005.zip", "half 6", "flip 8", "unsign 9"} \
            <= set(feed.log)
        assert len(seen_bad) == 3  # feed 8 and 9, results 3: quarantined, never imported, sent again
        internal, state = engine_for(url), engine_for(inside_state)
        assert snapshot(internal) == expected[0]
        assert sorted((r["txn_id"], r["outcome"]) for r in server.state.results) == expected[1]
        assert verify(internal, state, "2").ok
        assert subprocess.run([sys.executable, "-m", "bridge", "verify"], env=inside, capture_output=True).returncode == 0

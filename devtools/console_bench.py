"""The queue page under load: ``python -m devtools.console_bench --url STATE_DB [--open 150000] [--users 20]``.

Fills a state database (migrated to head; give it an empty one, or ``--reuse`` one an earlier run
filled) with open conflicts, their transactions and versions, serves the console with uvicorn in a
process of its own through ``engine_for`` (as deployed), signs in ``--users`` staff users, each
reading a first page, and once all have, opens the window: each reads the first page then the pages
after it by their keyset link, pausing ``--think`` seconds on each (on average; 0 for a stress
test), for ``--seconds``. Prints as JSON the latency percentiles, the console process's CPU per page
and the load average before and after. A benchmark, not a test: the target of issue 26 is the 95th
percentile under 300 ms with 150,000 open conflicts and 20 users."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import socket
import statistics
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import Engine

from connectors.internal.db import engine_for
from console.auth import add_user
from sync.engine import Parts
from sync.ledger import tables as t
from sync.ledger.migrate import upgrade

NOW = datetime(2026, 11, 26, 9, 0)
KINDS = ("materials_incomplete", "stale_change", "already_enrolled", "double_entry_mismatch", "year_already_paid")
PASSWORD = "bench password 1"
_NEXT = re.compile(r'href="/\?([^"]+)" rel="next"')


def fill(engine: Engine, n: int, chunk: int = 5000) -> None:
    """``n`` open conflicts over 30 villages, created over the last 60 days."""
    for start in range(0, n, chunk):
        txns: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        conflicts: list[dict[str, Any]] = []
        for i in range(start, min(n, start + chunk)):
            txn_id, region = f"RH{i:018d}", f"5301{i % 3 + 2:02d}00100{i % 10}"
            created = f"{NOW - timedelta(minutes=(i * 577) % 86400):%Y-%m-%d %H:%M:%S}"
            agent = {"agent_id": f"A{i % 40:04d}", "name": f"代办{i % 40}"}
            raw = {"txn_id": txn_id, "version": 1, "biz_type": "CBDJ", "region_code": region, "created_at": created,
                   "person": {"name": f"居民{i}", "id_number": "530102198001010111"}, "payload": {"grade": "300.00"},
                   "agent": agent, "attachments": []}
            txns.append(dict(txn_id=txn_id, version=1, state="conflict", biz_type="CBDJ", region_code=region,
                             agent_id=agent["agent_id"], agent_name=agent["name"], created_at=created,
                             updated_at=created, first_seen_at=NOW, state_at=NOW))
            versions.append(dict(txn_id=txn_id, version=1, updated_at=created, content_hash="0" * 64,
                                 raw=json.dumps(raw, ensure_ascii=False), received_at=NOW, run_id="bench"))
            conflicts.append(dict(txn_id=txn_id, version=1, kind=KINDS[i % len(KINDS)], detail="id_card",
                                  fields="[]", internal_rows="[]", region_code=region, agent_id=agent["agent_id"],
                                  status="open", opened_at=NOW - timedelta(hours=i % 48), updated_at=NOW))
        with engine.begin() as conn:
            conn.execute(insert(t.txn), txns)
            conn.execute(insert(t.txn_version), versions)
            conn.execute(insert(t.conflict), conflicts)
    if engine.dialect.name == "postgresql":  # what autovacuum does to a table that grew this much
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def reader(url: str, name: str, start: threading.Barrier, window: dict[str, float], think: float,
           out: list[float], errors: list[str]) -> None:
    """One user: sign in and read the first page (argon2, the pool's connections and the first
    count: a start, not the queue under load), wait for the others, then the queue's first page
    and the pages after it until the window closes, reading each for ``think`` seconds (0: at
    once, a stress test rather than people)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/login")
        client.post("/login", data={"csrf": client.cookies["pb_login"], "name": name, "password": PASSWORD})
        if client.get("/").status_code != 200:
            errors.append("sign-in")
        start.wait()
        query, read = "", 0
        while time.monotonic() < window["until"]:
            started = time.perf_counter()
            answer = client.get("/?" + query if query else "/")
            out.append(time.perf_counter() - started)
            if answer.status_code != 200:
                errors.append(str(answer.status_code))
            read += 1
            found = _NEXT.search(answer.text)
            query = found.group(1).replace("&amp;", "&") if found and read % 5 else ""  # 4 pages on, then back
            time.sleep(think * (0.5 + random.random()))


def serve(url: str, port: int) -> None:
    """The console over that database, in a process of its own (the readers' threads would
    otherwise share its interpreter lock)."""
    import uvicorn

    from console.app import Console

    # The engine as the console's own wiring makes it (bridge/wiring.py: engine_for, its pool and
    # its pre-ping), and the console served as ``pension-bridge console`` serves it.
    parts = cast(Parts, SimpleNamespace(state=engine_for(url)))
    uvicorn.run(Console(parts, lambda: NOW).app, host="127.0.0.1", port=port, log_level="warning")


def _cpu_seconds(pid: int | None) -> float:
    """User and system CPU of a process so far (Linux's /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(url: str, open_conflicts: int, users: int, seconds: float, think: float, reuse: bool = False) -> dict[str, Any]:
    engine = create_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with engine.connect() as conn:
        present = conn.execute(select(func.count()).select_from(t.conflict)).scalar_one()
    if not (reuse and present):
        fill(engine, open_conflicts)
    filled = time.perf_counter() - started
    names = [f"县级{i}" for i in range(users)]
    with engine.connect() as conn:
        known = set(conn.execute(select(t.user.c.name)).scalars())
    for name in names:
        if name not in known:
            add_user(engine, name, "staff", "5301", PASSWORD, NOW)
    engine.dispose()
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(url, port), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/login", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    latencies: list[float] = []
    errors: list[str] = []
    window: dict[str, float] = {}

    def opened() -> None:  # every user signed in: the window opens
        window.update(until=time.monotonic() + seconds, load=os.getloadavg()[0], cpu=_cpu_seconds(server.pid))
    start = threading.Barrier(len(names), action=opened)
    threads = [threading.Thread(target=reader, args=(base, n, start, window, think, latencies, errors))
               for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = _cpu_seconds(server.pid) - window["cpu"]
    server.terminate()
    cuts = statistics.quantiles(latencies, n=100)
    return {"backend": engine.dialect.name, "open_conflicts": open_conflicts, "users": users, "think_seconds": think,
            "seconds": seconds, "fill_seconds": round(filled, 1), "requests": len(latencies), "errors": len(errors),
            "p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
            # What the console's process spent a page (CPU, whatever else ran), and how busy the
            # machine was: the latencies of a shared machine mean little without them.
            "server_cpu_ms_per_request": round(served / max(1, len(latencies)) * 1000, 2),
            "load_before": round(window["load"], 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="an empty state database")
    parser.add_argument("--open", type=int, default=150_000, dest="open_conflicts")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=1.0, help="seconds a user reads a page (0: stress)")
    parser.add_argument("--reuse", action="store_true",
                        help="a database an earlier run filled: keep its conflicts and users (after a migration)")
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.open_conflicts, args.users, args.seconds, args.think, args.reuse),
                     ensure_ascii=False))


if __name__ == "__main__":
    main()

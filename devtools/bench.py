"""``pension-bridge bench``: the I/O floor and the full nightly sync, side by side in one run.

The sandbox platform runs in a process of its own without a rate limit; the sync runs as the
real command in a child process, so its CPU seconds and peak memory are its own (``wait4``).
"""

from __future__ import annotations

import gc
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, func, select, text

from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from connectors.platform import PlatformClient
from connectors.platform.feed import pages
from connectors.platform.pacing import RetryBudget, Unlimited
from sandbox.evaluation import link_quality
from sandbox.generator import generate
from sandbox.population import populate, scenario_ids
from sandbox.seed import seed
from sync.ledger import tables as t

if TYPE_CHECKING:
    from mapping.validate import Context

KEY, SECRET = "bench", "bench-secret"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _platform(data: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "bridge", "sandbox", "platform", "--data", str(data), "--port",
                                str(port), "--app-key", KEY, "--app-secret", SECRET],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(6000):  # a million transactions take minutes to load
        try:
            httpx.get(f"http://127.0.0.1:{port}/open/v1/pension/transactions", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the sandbox platform did not start")


def io_floor(base_url: str, workers: int) -> dict[str, Any]:
    """Read the whole feed and fetch and check every scan, doing nothing else."""
    client = PlatformClient(base_url, KEY, SECRET, limiter=Unlimited(), budget=RetryBudget(1000, 600),
                            max_connections=max(4, workers))
    started, cpu = time.perf_counter(), time.process_time()
    items, scans = 0, 0
    fetch = _fetch(client)
    # As the sync's scans are fetched (``sync.scans``): a window of futures, taken as they finish.
    finished: queue.SimpleQueue[Future[int]] = queue.SimpleQueue()
    running = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="floor") as pool:
        for page in pages(client, lambda: None):
            items += len(page.items)
            for item in page.items:
                for scan in (item.get("attachments") or []) if isinstance(item, dict) else []:
                    if isinstance(scan, dict) and scan.get("attachment_id"):
                        pool.submit(fetch, scan).add_done_callback(finished.put)
                        running += 1
                        if running >= 4 * workers:
                            scans += finished.get().result()
                            running -= 1
        for _ in range(running):
            scans += finished.get().result()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu  # this process does nothing else meanwhile
    client.close()
    return {"transactions": items, "scans": scans, "seconds": seconds, "per_second": items / seconds,
            "cpu_seconds": cpu, "cpu_ms_per_txn": 1000 * cpu / max(1, items)}


def _fetch(client: PlatformClient) -> Callable[[dict[str, Any]], int]:
    def fetch(a: dict[str, Any]) -> int:
        try:
            client.attachment(a["attachment_id"], a.get("sha256"))
            return 1
        except Exception:  # a scan that does not match its hash is part of the data, not of the floor
            return 0
    return fetch


def _database(kind: str, home: Path) -> str:
    if kind == "sqlite":
        path = home / "bench-internal.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(PG, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    return f"{PG}?options=-csearch_path%3D{schema}"


def _analyze(engine: Engine) -> None:
    """Planner statistics for the internal tables just filled, as a database in service has them:
    without, the first batches of a run over a million fresh rows were planned as if the tables
    were empty."""
    from connectors.internal import schema as it

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ANALYZE {', '.join(it.TABLES)}"))
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")


def _drop(url: str) -> None:
    schema = url.rsplit("%3D", 1)[-1]
    with create_engine(PG, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'drop schema if exists "{schema}" cascade'))


SYNCED = ("x.txn_id NOT LIKE '%~%' AND x.state IN ('applied', 'linked') AND EXISTS (SELECT 1 FROM pb_writeback s "
          "WHERE s.txn_id = x.txn_id AND s.status = 'sent')")


def grow_ledger(engine: Engine, target: int) -> int:
    """Copies of the run's synced transactions (ledger and write-back rows, under new ids) until
    the ledger holds ``target`` rows: a province's history — months of business, long since
    written back — under tonight's unsynced rows, which stay as the run left them. The unsynced
    report is then measured over the whole ledger without syncing a million transactions first.
    PostgreSQL only: one set-based INSERT … SELECT per table over ``generate_series`` (a statement
    a round re-read the growing ledger each time: quadratic, over 15 minutes to a million rows);
    statistics refreshed afterwards, as every night's sync does."""
    from sync.ledger import statistics

    txn_cols = [c.name for c in t.txn.c]
    wb_cols = [c.name for c in t.writeback.c]

    def copy(table: str, cols: list[str], renamed: dict[str, str], rounds: int) -> str:
        values = ", ".join(renamed.get(c, f"src.{c}") for c in cols)
        return (f"INSERT INTO {table} ({', '.join(cols)}) SELECT {values} FROM {table} src "
                f"CROSS JOIN generate_series(1, {rounds}) AS k(n) "
                f"WHERE src.txn_id IN (SELECT x.txn_id FROM pb_txn x WHERE {SYNCED})")

    with engine.begin() as conn:
        total = conn.execute(select(func.count()).select_from(t.txn)).scalar_one()
        synced = conn.execute(text(f"SELECT count(*) FROM pb_txn x WHERE {SYNCED}")).scalar_one()
        rounds = max(0, -(-(target - total) // max(1, synced)))
        if rounds:
            conn.execute(text(copy("pb_txn", txn_cols, {"txn_id": "src.txn_id || '~' || k.n"}, rounds)))
            conn.execute(text(copy("pb_writeback", wb_cols, {
                "txn_id": "src.txn_id || '~' || k.n",
                "idempotency_key": "left(src.idempotency_key, 56) || '~' || k.n"}, rounds)))
        total = conn.execute(select(func.count()).select_from(t.txn)).scalar_one()
    statistics.refresh(engine)
    return int(total)


REPORT_FORMATS = ("xlsx", "csv", "html", "json")  # issue 24: "in every format"
WAITING = "x.state IN ('pending', 'invalid', 'conflict')"


def grow_unsynced(engine: Engine, target: int) -> int:
    """Copies of the night's pending, invalid and held transactions (under new ids) until
    ``target`` wait in the ledger: the shape of a night of a million transactions (151,332
    unsynced at N = 1,000,000), for timing the report without syncing a million first. Each copy
    has its current version's payload (the report reads the resident's name from it) and, when
    held, its open conflict (the report names its number), so a copy costs the report what its
    original does. PostgreSQL only; returns how many wait."""
    from sync.ledger import statistics

    cols = [c.name for c in t.txn.c]
    version_cols = [c.name for c in t.txn_version.c]
    conflict_cols = [c.name for c in t.conflict.c if c.name != "id"]
    counted = text(f"SELECT count(*) FROM pb_txn x WHERE {WAITING}")
    copies = "x.txn_id LIKE '%~u%'"
    original = "split_part(x.txn_id, '~', 1)"
    with engine.begin() as conn:
        waiting = conn.execute(counted).scalar_one()
        originals = conn.execute(text(f"SELECT count(*) FROM pb_txn x WHERE {WAITING} "
                                      "AND x.txn_id NOT LIKE '%~%'")).scalar_one()
        if 0 < originals and waiting < target:
            rounds = -(-(target - waiting) // originals)
            values = ", ".join("x.txn_id || '~u' || k.n" if c == "txn_id" else f"x.{c}" for c in cols)
            conn.execute(text(f"INSERT INTO pb_txn ({', '.join(cols)}) SELECT {values} FROM pb_txn x "
                              f"CROSS JOIN generate_series(1, {rounds}) AS k(n) "
                              f"WHERE {WAITING} AND x.txn_id NOT LIKE '%~%' LIMIT {target - waiting}"))
            values = ", ".join("x.txn_id" if c == "txn_id" else f"v.{c}" for c in version_cols)
            conn.execute(text(f"INSERT INTO pb_txn_version ({', '.join(version_cols)}) SELECT {values} "
                              f"FROM pb_txn x JOIN pb_txn_version v ON v.txn_id = {original} "
                              f"AND v.version = x.version WHERE {copies}"))
            values = ", ".join("x.txn_id" if c == "txn_id" else f"c.{c}" for c in conflict_cols)
            conn.execute(text(f"INSERT INTO pb_conflict ({', '.join(conflict_cols)}) SELECT {values} "
                              f"FROM pb_txn x JOIN pb_conflict c ON c.txn_id = {original} "
                              f"AND c.status = 'open' WHERE {copies}"))
            waiting = conn.execute(counted).scalar_one()
    statistics.refresh(engine)
    return int(waiting)


# On ext4 without a journal (this machine's), creating a file scans past every inode freed in
# the last 30-300 s ("recently_deleted" in find_inode_bit, seen with perf): 24,000 scans took
# 3.5-9 s more system time when the previous run's 24,000 had just been deleted, 2 s five
# minutes later. So the sync never starts within that window of a large removal.
SETTLE_SECONDS, SETTLE_FILES = 300, 1000


def _remove(folder: Path, home: Path) -> None:
    files = sum(1 for _ in folder.rglob("*"))
    shutil.rmtree(folder, ignore_errors=True)
    if files >= SETTLE_FILES:
        (home / "bench-removed.json").write_text(json.dumps({"at": time.time(), "files": files}))


def _settle_after_removal(home: Path, console: Console) -> None:
    try:
        removed = json.loads((home / "bench-removed.json").read_text())
    except (OSError, ValueError):
        return
    wait = SETTLE_SECONDS - (time.time() - removed["at"])
    if wait > 0:
        console.print(f"waiting {wait:.0f} s: {removed['files']:,} files were removed {SETTLE_SECONDS - wait:.0f} s ago, "
                      "and new files cost more while their inodes are recent (ext4 without a journal)")
        time.sleep(wait)


def _peak_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), None)
    except OSError:
        return None


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces): field 4 is ``[1]``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (and of its children it has reaped, with ``children``)."""
    fields = _stat_fields(pid)
    return _cpu_of(fields, children) if fields else 0.0


def _cpu_of(fields: list[str], children: bool = False) -> float:
    """utime + stime (+ cutime + cstime) of a ``_stat_fields`` list, in seconds."""
    return (int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)) / _TICK


def _machine_busy() -> float | None:
    """CPU seconds all cores spent on anything but idling and waiting since boot (steal left out)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fh.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / _TICK


def _postmaster(url: str) -> int | None:
    """The local PostgreSQL server's main process: the parent of our backend, when /proc shows it."""
    if not url.startswith("postgresql"):
        return None
    engine = create_engine(url)
    with engine.connect() as conn:  # read while the backend lives: once closed, it may be gone
        fields = _stat_fields(int(conn.execute(text("select pg_backend_pid()")).scalar_one()))
    engine.dispose()
    return int(fields[1]) if fields else None


def _database_cpu(postmaster: int | None) -> float | None:
    """CPU seconds of the database server: its backends alive now, and those ended (reaped)."""
    if postmaster is None:
        return None
    total = _process_cpu(postmaster, children=True)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[1] == str(postmaster):
                total += _cpu_of(fields)
    return total


class CpuMeter:
    """Who spent the two cores while a step ran: the platform's process, the database server and
    the machine as a whole, read from /proc before and after (Linux; ``None`` where not read)."""

    def __init__(self, platform: int, postmaster: int | None) -> None:
        self.platform, self.postmaster = platform, postmaster

    def read(self) -> dict[str, float | None]:
        return {"platform": _process_cpu(self.platform), "database": _database_cpu(self.postmaster),
                "machine": _machine_busy()}

    @staticmethod
    def spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
        return {k: (a - b) if (a := after[k]) is not None and (b := before[k]) is not None else None
                for k in before}


def _per_txn(spent: dict[str, float | None], own_cpu: float, transactions: int, seconds: float) -> dict[str, Any]:
    """CPU ms per transaction by process, and the rate this machine's cores would allow if they
    did nothing but this step at its cost: cores / CPU per transaction."""
    ms = {"bridge": own_cpu, **spent}
    out: dict[str, Any] = {k: (1000 * v / max(1, transactions) if v is not None else None) for k, v in ms.items()}
    machine = out.get("machine")
    busy = spent.get("machine")
    out["cores_busy"] = (busy / seconds) if busy is not None and seconds else None
    out["ceiling_per_s"] = (1000 * (os.cpu_count() or 1) / machine) if machine else None
    # The same bound with the bridge costing nothing: what the platform and the database spend
    # alone. Where the database runs inside the bridge (SQLite), there is no such split.
    others = (out.get("platform") or 0) + out["database"] if out.get("database") is not None else None
    out["ceiling_without_bridge_per_s"] = (1000 * (os.cpu_count() or 1) / others) if others else None
    return out


def _timed(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run the command as a child; its wall time, CPU seconds and peak resident memory.

    The peak is the child's own high-water mark (``VmHWM``), read while it runs: the ``ru_maxrss``
    of a child starts at its parent's size at fork — this process, holding the whole generated
    scenario — which made the sync's memory look as if it grew with N.
    """
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bridge", *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _peak_kb(process.pid) or 0)
        time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)
    # The kernel's share apart: creating thousands of scan files costs system time that moves with
    # the file system's state (recently freed inodes) more than with the bridge's code.
    return {"seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
            "user": usage.ru_utime, "system": usage.ru_stime, "peak_mb": peak / 1024, "exit": process.returncode}


def machine_speed() -> float:
    """The CPU milliseconds this thread spends on a fixed piece of pure Python of the sync's own
    kind (JSON, dicts, strings). On a shared machine the same code's CPU per transaction moves
    with the machine's speed (on one, in one hour, the validate phase of the same 5,000 records
    took 0.54 to 0.97 s of CPU); taken just before and just after the sync, it says how fast the
    machine was, so runs are compared at the same speed or not at all."""
    doc = json.dumps([{"id": f"T{i:08d}", "name": "张三" * (i % 5), "n": i, "tags": list(range(i % 7))}
                      for i in range(2000)], ensure_ascii=False)
    collecting = gc.isenabled()
    gc.disable()  # not the collector walking this process's heap (the whole scenario is in it)
    try:
        started = time.thread_time()
        for _ in range(50):
            index = {item["id"]: item for item in json.loads(doc)}
            "".join(sorted(f"{key}:{item['n']}:{len(item['tags'])}" for key, item in index.items()))
        return 1000 * (time.thread_time() - started)
    finally:
        if collecting:
            gc.enable()


def default_people(n: int) -> int | None:
    """Enrolled people in the internal database before the run: a large county's million from
    N = 100,000 on (issue 9); below that, the scenario's own."""
    return 1_000_000 if n >= 100_000 else None


def run_bench(n: int, db: str, home: Path, workers: int, existing: int | None, console: Console,
              people: int | None = None, report_ledger: int | None = None, keep: bool = False,
              internal_indexes: bool = True, report_unsynced: int | None = None) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    # A home of its own per run, so no scan is kept from an earlier one; removed at the end.
    bench_home = home / f"bench-home-{uuid.uuid4().hex[:8]}"
    for stale in home.glob("bench-home*"):  # a run that was killed before its clean-up
        _remove(stale, home)
    started = time.perf_counter()
    scenario = generate(n, seed=9, existing=existing if existing is not None else min(50_000, max(1000, n // 2)),
                        days=max(30, n // 1500))
    data = home / "bench-scenario.json"
    with data.open("w", encoding="utf-8") as fh:  # what the platform serves; the internal rows stay here
        json.dump({k: v for k, v in scenario.items() if k != "internal"}, fh, ensure_ascii=False)
    url = _database(db, home)
    engine = engine_for(url)
    create_contract_schema(engine)
    seed(engine, scenario["internal"])
    people = people if people is not None else default_people(n)
    enrolled = len(scenario["internal"].get("ac01", []))
    if people and people > enrolled:
        console.print(f"enrolling {people - enrolled:,} more people in the internal database …")
        enrolled += populate(engine, people - enrolled, scenario_ids(scenario))
    if internal_indexes:
        from connectors.internal import indexes
        indexes.create(engine, indexes.missing(engine))  # as `pension-bridge db internal-indexes --create`
    _analyze(engine)
    setup = time.perf_counter() - started
    port = _port()
    platform = _platform(data, port)
    base = f"http://127.0.0.1:{port}/open/v1"
    meter = CpuMeter(platform.pid, _postmaster(url))
    try:
        before = meter.read()
        floor = io_floor(base, workers)
        floor["cpu_by_process"] = _per_txn(meter.spent(before, meter.read()), floor["cpu_seconds"],
                                           floor["transactions"], floor["seconds"])
        _settle_after_removal(home, console)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
               "BRIDGE_PLATFORM_URL": base, "BRIDGE_APP_KEY": KEY, "BRIDGE_APP_SECRET": SECRET,
               "BRIDGE_INTERNAL_DB": url, "BRIDGE_HOME": str(bench_home), "BRIDGE_RATE_LIMIT": "0",
               "BRIDGE_SCAN_WORKERS": str(workers), "BRIDGE_REPORT_FORMATS": ""}
        speed = [machine_speed()]
        before = meter.read()
        sync = _timed(["sync"], env)
        sync_spent = meter.spent(before, meter.read())
        speed.append(machine_speed())
        rerun = _timed(["sync"], env)  # the night after: the feed holds the echoes of the write-back
        quiet = _timed(["sync"], env)  # and the night after that: nothing new at all
        verify = _timed(["verify"], env)
        report = _timed(["report", "unsynced", "--format", "xlsx", "--output", str(home / "bench-report.xlsx")], env)
        with engine.connect() as conn:
            summaries = [json.loads(r[0]) for r in conn.execute(select(t.run.c.summary).where(t.run.c.kind == "sync")
                                                                .order_by(t.run.c.started_at))]
            ledger_rows = conn.execute(select(func.count()).select_from(t.txn)).scalar_one()
        quality = link_quality(engine, scenario["labels"], scenario["twins"])
        big_report = many_report = None
        if report_ledger and report_ledger > ledger_rows:
            console.print(f"growing the ledger to {report_ledger:,} rows for the report …")
            grown = grow_ledger(engine, report_ledger)
            big_report = {"ledger_rows": grown, **_timed(["report", "unsynced", "--format", "xlsx", "--output",
                                                          str(home / "bench-report-big.xlsx")], env)}
        if report_unsynced and big_report:
            console.print(f"copying the night's unsynced rows to {report_unsynced:,} for the report …")
            waiting = grow_unsynced(engine, report_unsynced)
            with engine.connect() as conn:
                rows = conn.execute(select(func.count()).select_from(t.txn)).scalar_one()
            timed = {kind: _timed(["report", "unsynced", "--format", kind, "--output",
                                   str(home / f"bench-report-many.{kind}")], env) for kind in REPORT_FORMATS}
            # the xlsx's figures where one format is shown, then each format's
            many_report = {"ledger_rows": rows, "waiting_rows": waiting, **timed["xlsx"], **timed}
    finally:
        platform.terminate()
        platform.wait()
        _remove(bench_home, home)
        if keep:
            console.print(f"kept for inspection: BRIDGE_INTERNAL_DB={url}")
        elif db != "sqlite":
            _drop(url)
    phases = summaries[0].get("seconds", {})
    pulled = summaries[0]["pulled"]
    to_apply = sum(v for k, v in phases.items() if k in ("fetch", "scans", "validate", "match", "apply"))
    result = {
        "n": n, "db": db, "workers": workers, "existing_people": enrolled, "internal_indexes": internal_indexes,
        "setup_seconds": round(setup, 1),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "io_floor": floor, "sync": sync, "rerun": rerun, "verify": verify, "report": report, "phases": phases,
        "phases_cpu": summaries[0].get("cpu_seconds", {}),
        "ledger_rows": ledger_rows, "report_over_grown_ledger": big_report, "report_many_unsynced": many_report,
        "rerun_feed_seconds": summaries[1].get("seconds", {}).get("fetch") if len(summaries) > 1 else None,
        "rerun_phases": summaries[1].get("seconds", {}) if len(summaries) > 1 else {},
        "rerun_phases_cpu": summaries[1].get("cpu_seconds", {}) if len(summaries) > 1 else {},
        "quiet_rerun": quiet,
        "quiet_feed_seconds": summaries[2].get("seconds", {}).get("fetch") if len(summaries) > 2 else None,
        "quiet_phases": summaries[2].get("seconds", {}) if len(summaries) > 2 else {},
        "new_versions": [summary.get("new_versions") for summary in summaries],
        "requests": summaries[0].get("requests"), "scans_fetched": summaries[0].get("scans_fetched"),
        "throughput": {"floor_per_s": floor["per_second"], "sync_to_apply_per_s": pulled / to_apply if to_apply else 0,
                       "sync_end_to_end_per_s": pulled / sync["seconds"]},
        "cpu_ms_per_txn": 1000 * sync["cpu"] / max(1, pulled),
        "user_ms_per_txn": 1000 * sync["user"] / max(1, pulled),
        "system_ms_per_txn": 1000 * sync["system"] / max(1, pulled),
        "machine_speed_ms": speed,
        "sync_cpu_by_process": _per_txn(sync_spent, sync["cpu"], pulled, sync["seconds"]),
        "linking": {"precision": quality.precision, "recall": quality.recall, "linked": quality.linked,
                    "labelled": quality.labelled},
    }
    result["throughput"]["ratio_to_floor"] = result["throughput"]["sync_to_apply_per_s"] / floor["per_second"]
    result["throughput"]["end_to_end_ratio_to_floor"] = result["throughput"]["sync_end_to_end_per_s"] / floor["per_second"]
    _print(result, console)
    return result


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _cpu_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, by in (("I/O floor", r["io_floor"].get("cpu_by_process")), ("sync", r.get("sync_cpu_by_process"))):
        if not by:
            continue
        rows.append((f"{name}: CPU ms per txn, bridge / platform / database / whole machine",
                     " / ".join(_ms(by.get(k)) for k in ("bridge", "platform", "database", "machine"))))
        if by.get("ceiling_per_s"):
            rows.append((f"  cores busy; the rate {r['machine']['cores']} cores allow at that cost, txn/s",
                         f"{by['cores_busy']:.2f}; {by['ceiling_per_s']:.0f}"))
        if name == "sync" and by.get("ceiling_without_bridge_per_s"):
            ceiling = by["ceiling_without_bridge_per_s"]
            rows.append(("  the same if the bridge cost nothing (platform and database only), txn/s; of the floor",
                         f"{ceiling:.0f}; {ceiling / r['throughput']['floor_per_s']:.0%}"))
    return rows


def _print(r: dict[str, Any], console: Console) -> None:
    table = Table(title=f"pension-bridge bench — N={r['n']:,}, {r['db']}, {r['existing_people']:,} people enrolled, "
                        f"{r['workers']} scan workers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [("I/O floor (feed + scans), txn/s", f"{r['throughput']['floor_per_s']:.0f}"),
            ("sync, feed to applied, txn/s", f"{r['throughput']['sync_to_apply_per_s']:.0f}"),
            ("  ratio to the floor", f"{r['throughput']['ratio_to_floor']:.0%}"),
            ("sync end to end (with write-back), txn/s", f"{r['throughput']['sync_end_to_end_per_s']:.0f}"),
            ("  ratio to the floor", f"{r['throughput']['end_to_end_ratio_to_floor']:.0%}"),
            ("sync CPU per transaction, ms", f"{r['cpu_ms_per_txn']:.2f}"),
            ("  of which user; system, ms", f"{r['user_ms_per_txn']:.2f}; {r['system_ms_per_txn']:.2f}"),
            ("  the machine's speed: a fixed piece of Python before; after, CPU ms",
             "; ".join(f"{ms:.0f}" for ms in r["machine_speed_ms"])),
            ("  the I/O floor's, ms", f"{r['io_floor']['cpu_ms_per_txn']:.2f}"),
            *_cpu_rows(r),
            ("sync peak memory, MB", f"{r['sync']['peak_mb']:.0f}"),
            *[(f"  phase {k}, s (CPU s)", f"{v:.2f} ({r['phases_cpu'].get(k, 0):.2f})")
              for k, v in sorted(r["phases"].items())],
            ("rerun the night after (the write-back's echoes), s", f"{r['rerun']['seconds']:.2f}"),
            ("  of which reading the feed, s", f"{r['rerun_feed_seconds'] or 0:.2f}"),
            ("rerun with nothing new, s", f"{r['quiet_rerun']['seconds']:.2f}"),
            ("  of which reading the feed, s", f"{r['quiet_feed_seconds'] or 0:.2f}"),
            ("verify, s", f"{r['verify']['seconds']:.2f}"), ("unsynced report (xlsx), s", f"{r['report']['seconds']:.2f}"),
            *([(f"unsynced report over {r['report_over_grown_ledger']['ledger_rows']:,} ledger rows, s",
                 f"{r['report_over_grown_ledger']['seconds']:.2f}")] if r.get("report_over_grown_ledger") else []),
            *([(f"  then with {r['report_many_unsynced']['waiting_rows']:,} waiting of "
                f"{r['report_many_unsynced']['ledger_rows']:,}, {kind}, s (CPU s, peak MB)",
                f"{r['report_many_unsynced'][kind]['seconds']:.2f} ({r['report_many_unsynced'][kind]['cpu']:.1f}, "
                f"{r['report_many_unsynced'][kind]['peak_mb']:.0f})") for kind in REPORT_FORMATS]
              if r.get("report_many_unsynced") else []),
            ("requests to the platform", str(r["requests"])), ("scans fetched", str(r["scans_fetched"])),
            ("linking precision / recall", f"{r['linking']['precision']:.3f} / {r['linking']['recall']:.3f}")]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


# --- paced: a night at the platform's real limit -------------------------------------------------

PLATFORM_RATE, PLATFORM_BURST = 10.0, 20  # platform-api.md §2, in production


def least_requests(items: list[Any], context: Context, page_size: int, results: int) -> dict[str, int]:
    """The fewest requests the API allows for a first night over ``items`` (the feed as served):
    its pages, one download per distinct attachment of the versions whose scans can change their
    outcome (``Processor.needs_scans``: not a withdrawal, not a record invalid whatever its scans
    hold) that the bridge cannot decide without it (a declared hash, not over the platform's
    10 MiB), and ``results``, one per state reached (the distinct Idempotency-Keys the platform
    was sent: each names one transaction's version and outcome)."""
    from mapping.types import PLATFORM_ID
    from sync.process import Processor, stage
    from sync.scans import MAX_SCAN_BYTES, _declared_size, declared

    judge = Processor.__new__(Processor)  # needs_scans consults the validation context only
    judge.context = context
    scans: set[str] = set()
    for item in items:
        staged = stage(item)
        if not Processor.needs_scans(judge, staged):
            continue
        for a in staged.raw["attachments"]:
            if (isinstance(a, dict) and isinstance(a.get("attachment_id"), str)
                    and PLATFORM_ID.fullmatch(a["attachment_id"]) and declared(a)
                    and _declared_size(a) <= MAX_SCAN_BYTES):
                scans.add(a["attachment_id"])
    pages = max(1, -(-len(items) // page_size))
    return {"pages": pages, "scans": len(scans), "results": results, "total": pages + len(scans) + results}


def _context(url: str) -> Context:
    from datetime import date

    from connectors.internal.reader import load_codes
    from mapping import regions
    from mapping.validate import Context

    engine = engine_for(url)
    with engine.connect() as conn:
        codes = load_codes(conn)
    return Context(codes, regions.load((), []), date.today())


def run_paced(n: int, db: str, home: Path, workers: int, console: Console, rate: float | None = None,
              burst: int | None = None, platform_rate: float = PLATFORM_RATE,
              platform_burst: int = PLATFORM_BURST) -> dict[str, Any]:
    """The nightly sync against a sandbox that enforces the platform's limit (a token bucket of
    ``platform_rate`` per second and ``platform_burst``, 42901 past it), paced by the bridge's own
    settings (its defaults unless ``rate``, ``burst``). The sandbox runs in this process, so that
    it can say what it was asked; the sync is the real command in a child process."""
    from sandbox.faults import Faults
    from sandbox.server import SandboxServer
    from sandbox.state import App, PlatformState

    home.mkdir(parents=True, exist_ok=True)
    bench_home = home / f"bench-home-{uuid.uuid4().hex[:8]}"
    scenario = generate(n, seed=9, existing=min(50_000, max(1000, n // 2)), days=max(30, n // 1500))
    url = _database(db, home)
    engine = engine_for(url)
    create_contract_schema(engine)
    seed(engine, scenario["internal"])
    _analyze(engine)
    state = PlatformState(apps={KEY: App(SECRET)}, rate=platform_rate, burst=platform_burst)
    state.load({k: v for k, v in scenario.items() if k != "internal"})
    served = list(state.txns.values())  # the feed serves each transaction once, at its current version
    server = SandboxServer(state, Faults()).start()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
           "BRIDGE_PLATFORM_URL": server.base_url, "BRIDGE_APP_KEY": KEY, "BRIDGE_APP_SECRET": SECRET,
           "BRIDGE_INTERNAL_DB": url, "BRIDGE_HOME": str(bench_home), "BRIDGE_SCAN_WORKERS": str(workers),
           "BRIDGE_REPORT_FORMATS": "",
           **({"BRIDGE_RATE_LIMIT": f"{rate:g}"} if rate is not None else {}),
           **({"BRIDGE_RATE_BURST": str(burst)} if burst is not None else {})}
    try:
        sync = _timed(["sync"], env)
        traffic = server.traffic.summary()
        with engine.connect() as conn:
            summary = json.loads(conn.execute(select(t.run.c.summary).where(t.run.c.kind == "sync")).scalar_one())
        least = least_requests(served, _context(url), 500, traffic["distinct_results"])
    finally:
        server.stop()
        _remove(bench_home, home)
        engine.dispose()
        if db != "sqlite":
            _drop(url)
    pulled = summary["pulled"]
    sent = traffic["requests"] + traffic["rate_limited"]
    allowed = least["total"] / platform_rate  # seconds the limit allows for what the night needs
    from bridge.settings import Settings

    defaults = Settings.model_fields
    result = {
        "n": n, "db": db, "workers": workers, "transactions": pulled,
        "pacing": {"rate": rate if rate is not None else defaults["rate_limit"].default,
                   "burst": burst if burst is not None else defaults["rate_burst"].default,
                   "platform_rate": platform_rate, "platform_burst": platform_burst},
        "sync": sync, "phases": summary.get("seconds", {}), "phases_cpu": summary.get("cpu_seconds", {}), "status": summary.get("problems") or "completed",
        "requests": sent, "requests_by_kind": traffic["by_kind"], "bridge_requests": summary.get("requests"),
        "bridge_retries": summary.get("retries"), "rate_limited": traffic["rate_limited"],
        "least": least, "requests_per_txn": sent / max(1, pulled), "least_per_txn": least["total"] / max(1, pulled),
        "excess_requests": sent - least["total"],
        "allowed_seconds": allowed, "budget_used": allowed / sync["seconds"],
        "cpu_share_of_core": sync["cpu"] / sync["seconds"], "cpu_ms_per_txn": 1000 * sync["cpu"] / max(1, pulled),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
    }
    _print_paced(result, console)
    return result


def _print_paced(r: dict[str, Any], console: Console) -> None:
    p, least = r["pacing"], r["least"]
    table = Table(title=f"pension-bridge bench --paced — N={r['n']:,}, {r['db']}, the platform's limit "
                        f"{p['platform_rate']:g}/s burst {p['platform_burst']}, the bridge paced at "
                        f"{p['rate']:g}/s burst {p['burst']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    by = r["requests_by_kind"]
    rows = [("transactions", f"{r['transactions']:,}"),
            ("wall time, s", f"{r['sync']['seconds']:.1f}"),
            ("the least time the limit allows for the requests needed, s", f"{r['allowed_seconds']:.1f}"),
            ("share of the budget used", f"{r['budget_used']:.3f}"),
            ("requests (feed / scans / results / transactions / 42901)",
             f"{r['requests']:,} ({by.get('feed', 0)} / {by.get('attachment', 0)} / {by.get('result', 0)} / "
             f"{by.get('transaction', 0)} / {r['rate_limited']})"),
            ("the least the API allows (pages / scans / results)",
             f"{least['total']:,} ({least['pages']} / {least['scans']} / {least['results']})"),
            ("requests per transaction; the least", f"{r['requests_per_txn']:.3f}; {r['least_per_txn']:.3f}"),
            ("42901 answers", str(r["rate_limited"])),
            ("CPU, s; share of one core", f"{r['sync']['cpu']:.2f}; {r['cpu_share_of_core']:.1%}"),
            ("peak memory, MB", f"{r['sync']['peak_mb']:.0f}"),
            *[(f"  phase {k}, s (CPU s)", f"{v:.2f} ({r['phases_cpu'].get(k, 0):.2f})")
              for k, v in sorted(r["phases"].items())]]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)

# --- scaling out: the same run with 1, 2 and 4 workers -----------------------------------------

def run_scaling(n: int, home: Path, counts: tuple[int, ...], scan_delay: float, scan_workers: int,
                console: Console) -> dict[str, Any]:
    """``sync --distributed`` with each number of worker processes, against a sandbox whose scans
    take ``scan_delay`` seconds each (I/O, not this machine's cores, is the limit); PostgreSQL."""
    home.mkdir(parents=True, exist_ok=True)
    scenario = generate(n, seed=9, existing=max(1000, n // 2), days=max(30, n // 1500))
    data = home / "scaling-scenario.json"
    data.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    rows = []
    for count in counts:
        url = _database("postgresql", home)
        engine = engine_for(url)
        create_contract_schema(engine)
        seed(engine, scenario["internal"])
        port = _port()
        platform = subprocess.Popen([sys.executable, "-m", "bridge", "sandbox", "platform", "--data", str(data),
                                     "--port", str(port), "--app-key", KEY, "--app-secret", SECRET,
                                     "--scan-delay", str(scan_delay)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(port)
        base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
                    "BRIDGE_PLATFORM_URL": f"http://127.0.0.1:{port}/open/v1", "BRIDGE_APP_KEY": KEY,
                    "BRIDGE_APP_SECRET": SECRET, "BRIDGE_INTERNAL_DB": url, "BRIDGE_RATE_LIMIT": "0",
                    "BRIDGE_SCAN_WORKERS": str(scan_workers), "BRIDGE_REPORT_FORMATS": "",
                    "BRIDGE_PARTITION_LEVEL": "township", "BRIDGE_WORKER_HEARTBEAT": "1"}
        shutil.rmtree(home / "scaling", ignore_errors=True)
        workers = [subprocess.Popen([sys.executable, "-m", "bridge", "worker"],
                                    env={**base_env, "BRIDGE_HOME": str(home / "scaling" / f"w{i}")},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(count)]
        try:
            time.sleep(3)  # the workers are up and listening before the clock starts
            timed = _timed(["sync", "--distributed"], {**base_env, "BRIDGE_HOME": str(home / "scaling" / "c")})
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait()
            platform.terminate()
            platform.wait()
        with engine.connect() as conn:
            applied = conn.execute(select(t.txn.c.txn_id)).all()
            first, last = conn.execute(select(func.min(t.partition.c.started_at),
                                              func.max(t.partition.c.finished_at))).one()
        partitions = (last - first).total_seconds()
        rows.append({"workers": count, "seconds": timed["seconds"], "exit": timed["exit"],
                     "transactions": len(applied), "per_second": len(applied) / timed["seconds"],
                     "partitions_seconds": partitions, "partitions_per_second": len(applied) / partitions})
    for row in rows:
        row["speedup"] = row["per_second"] / rows[0]["per_second"]
        row["partitions_speedup"] = row["partitions_per_second"] / rows[0]["partitions_per_second"]
    table = Table(title=f"pension-bridge bench --scaling — N={n}, scans {scan_delay * 1000:.0f} ms each, "
                        f"{scan_workers} scan downloads per worker, PostgreSQL")
    for column in ("workers", "partitions, s", "partitions, txn/s", "speedup", "whole run, s", "whole run, txn/s",
                   "speedup "):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["workers"]), f"{row['partitions_seconds']:.1f}", f"{row['partitions_per_second']:.0f}",
                      f"{row['partitions_speedup']:.2f}×", f"{row['seconds']:.1f}", f"{row['per_second']:.0f}",
                      f"{row['speedup']:.2f}×")
    console.print("whole run = partitions + the coordinator's sweep, seals, write-back of every result (serial)")
    console.print(table)
    return {"n": n, "scan_delay": scan_delay, "scan_workers": scan_workers,
            "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]}, "runs": rows}


def _wait_for(port: int) -> None:
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/open/v1/pension/transactions", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the sandbox platform did not start")

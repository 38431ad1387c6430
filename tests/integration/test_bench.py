"""`pension-bridge bench` end to end on a small N: it runs, and its figures add up."""

from __future__ import annotations

from rich.console import Console

from bridge.bench import run_bench


def test_bench_runs_the_floor_the_sync_and_both_reruns(tmp_path):
    result = run_bench(60, "sqlite", tmp_path, workers=2, existing=20, console=Console(file=open("/dev/null", "w")))
    served = result["io_floor"]["transactions"]  # the generator adds its repeats to the 60
    assert served >= 60 and result["io_floor"]["scans"] > 0
    for step in ("sync", "rerun", "quiet_rerun", "verify", "report"):
        assert result[step]["exit"] == 0, step
    assert result["ledger_rows"] == served
    assert result["requests"] >= 60 // 500 + result["scans_fetched"]
    assert result["cpu_ms_per_txn"] > 0 and result["sync"]["peak_mb"] > 0
    first, echoes, quiet = result["new_versions"]
    assert first == served and echoes > 0 and quiet == 0  # the night after holds the write-back's echoes only

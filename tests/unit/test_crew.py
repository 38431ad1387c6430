"""The crew that sends the scans' and the write-back's requests: every item comes back once."""

import threading

import pytest

from connectors.platform.crew import Crew


def test_every_item_comes_back_once_with_its_result_or_its_error():
    def fn(n: int) -> int:
        if n % 7 == 3:
            raise ValueError(f"bad {n}")
        return n * n

    with Crew(fn, 4) as crew:
        for n in range(100):
            crew.put(n)
        seen = [crew.get() for _ in range(100)]
        assert crew.pending == 0 and list(crew.ready()) == []
    assert sorted(item for item, _, _ in seen) == list(range(100))
    for item, result, error in seen:
        if item % 7 == 3:
            assert result is None and isinstance(error, ValueError) and str(error) == f"bad {item}"
        else:
            assert result == item * item and error is None


def test_results_come_in_the_order_the_calls_finish():
    first_may_finish = threading.Event()

    def fn(name: str) -> str:
        if name == "slow":
            assert first_may_finish.wait(5)
        return name

    with Crew(fn, 2) as crew:
        crew.put("slow")
        crew.put("fast")
        assert crew.get()[0] == "fast"
        first_may_finish.set()
        assert crew.get()[0] == "slow"


def test_ready_returns_what_finished_without_waiting():
    gate = threading.Event()
    with Crew(lambda n: gate.wait(5) and n, 1) as crew:
        crew.put(1)
        assert list(crew.ready()) == [] and crew.pending == 1
        gate.set()
        assert crew.get() == (1, 1, None)


def test_leaving_drops_what_no_worker_took_and_waits_for_the_calls_in_progress():
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def fn(n: int) -> int:
        started.set()
        assert release.wait(5)
        calls.append(n)
        return n

    crew = Crew(fn, 1)
    for n in range(50):
        crew.put(n)
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    crew.close()
    assert calls == [0]  # the call in progress finished; the 49 waiting were never sent
    assert not any(t.is_alive() for t in crew._threads)


def test_an_error_raised_by_the_fetcher_is_not_lost(tmp_path):
    from sync.scans import ScanFetcher, ScanStore

    class Broken:
        def attachment(self, attachment_id, sha256):
            raise RuntimeError(f"no transport for {attachment_id}")

    fetcher = ScanFetcher(Broken(), ScanStore(tmp_path), 4)
    with pytest.raises(RuntimeError, match="no transport for A"):
        fetcher.outcomes([{"attachment_id": "A", "sha256": "ab" * 32}], {})

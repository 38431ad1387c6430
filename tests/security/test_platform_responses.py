"""Issue 22, finding 9: a platform answer cannot take the run's memory or hold the night.

Before: a 300 MB item was read whole (1.3 GB of memory) and stored; a server sending one byte
every 3 s held ``sync`` as long as it liked. A real HTTP server on 127.0.0.1 answers a huge body
(announced, or streamed without a length) and trickles bytes, in the body and in the headers;
each request now ends fast, within the byte cap or the whole-request deadline.
"""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from connectors.platform import errors as e
from connectors.platform.client import (
    MAX_ATTACHMENT_BYTES,
    MAX_OBJECT_BYTES,
    MAX_PAGE_BYTES,
    PlatformClient,
    ScanRejected,
)
from connectors.platform.pacing import RetryBudget, Unlimited

HUGE = 300 * 1024 * 1024
Answer = Callable[[socket.socket, threading.Event], None]


@contextmanager
def raw_server(answer: Answer) -> Iterator[str]:
    """Reads each request's head, then lets ``answer`` write on the socket until it or the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                answer(conn, stop)
            except OSError:  # the client hung up: what the test wants
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/open/v1"
    finally:
        stop.set()
        listener.close()


def huge(content_type: bytes, announced: bool) -> Answer:
    """300 MB, written as fast as the client reads, never held in memory here either."""
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        length = b"Content-Length: %d\r\n" % HUGE if announced else b"Connection: close\r\n"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n" + length + b"\r\n")
        conn.sendall(b'{"code": 0, "data": {"items": ["' if content_type == b"application/json" else b"\xff\xd8\xff")
        block = b"A" * 65536
        for _ in range(HUGE // len(block)):
            if stop.is_set():
                return
            conn.sendall(block)
    return answer


def trickle(head: bytes, every: float) -> Answer:
    """``head`` at once, then one byte every ``every`` seconds: each in time for any read timeout."""
    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for _ in range(int(60 / every)):  # bounded: the server gives up after a minute by itself
            if stop.wait(every):
                return
            conn.sendall(b" " if head.endswith(b"\r\n\r\n") else b"X")
    return answer


def client(url: str, **kw) -> PlatformClient:
    return PlatformClient(url, "k", "s", limiter=Unlimited(), budget=kw.pop("budget", RetryBudget(0, 0)),
                          timeout=kw.pop("timeout", 5.0), **kw)


def peak_while(call: Callable[[], object]) -> tuple[BaseException, int, float]:
    """The error ``call`` ends with, the peak of Python memory meanwhile, and the seconds it took."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        call()
    except BaseException as err:  # noqa: BLE001 - handed to the test
        error = err
    else:
        raise AssertionError("the huge answer was accepted")
    finally:
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak, seconds


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "streamed"])
@pytest.mark.parametrize("endpoint,cap", [("page", MAX_PAGE_BYTES), ("transaction", MAX_OBJECT_BYTES),
                                          ("attachment", MAX_ATTACHMENT_BYTES)])
def test_a_300_mb_answer_ends_at_its_cap_with_bounded_memory(endpoint, cap, announced):
    kind = b"image/jpeg" if endpoint == "attachment" else b"application/json"
    with raw_server(huge(kind, announced)) as url:
        c = client(url)
        call = {"page": c.changes_page, "transaction": lambda: c.transaction("T1"),
                "attachment": lambda: c.attachment("F1", None)}[endpoint]
        error, peak, seconds = peak_while(call)
        c.close()
    if endpoint == "attachment":
        assert isinstance(error, ScanRejected) and error.reason == "too_large"
    else:
        assert isinstance(error, e.ResponseTooLarge)  # a FatalError: not retried as is
    assert peak < 3 * cap + 4 * 1024 * 1024, f"{peak} bytes held for a cap of {cap}"
    assert seconds < 10


@pytest.mark.parametrize("where,head", [
    ("body", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"),
    ("headers", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "),
])
def test_a_server_trickling_a_byte_a_second_is_cut_off_at_the_deadline(where, head):
    """Read timeout 5 s, never reached by a byte a second; the deadline of 2 s ends the request."""
    with raw_server(trickle(head, every=1.0)) as url:
        c = client(url, deadline=2.0)
        started = time.monotonic()
        with pytest.raises(e.RetryBudgetExhausted) as err:  # no retry left in this run's budget
            c.changes_page()
        seconds = time.monotonic() - started
        c.close()
    assert isinstance(err.value.__cause__, e.DeadlineExceeded)
    assert 1.5 < seconds < 4.0


def test_the_deadline_is_per_request_and_bounded_by_the_retry_budget():
    """Each attempt has its own 1 s; two retries allowed: three attempts, about 3 s, then the run stops."""
    with raw_server(trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", every=0.3)) as url:
        c = client(url, deadline=1.0, budget=RetryBudget(2, 30))
        c._backoff = lambda state: 0.0
        started = time.monotonic()
        with pytest.raises(e.RetryBudgetExhausted):
            c.changes_page()
        seconds = time.monotonic() - started
        c.close()
    assert c.stats.requests == 3 and c.stats.by_code == {"DeadlineExceeded": 2}
    assert 2.5 < seconds < 6.0

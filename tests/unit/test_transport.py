"""The keep-alive transport against a raw socket server that misbehaves on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from connectors.platform.transport import (
    HttpTransport,
    Request,
    TooLarge,
    TransportError,
)

Answer = Callable[[socket.socket, int], bool]
"""Writes one answer on the connection for request number n; False closes the connection."""


def reply(body: bytes, *, chunked: bool = False, close: bool = False) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    if close:
        head += b"Connection: close\r\n"
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, len(body), 1000))
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


@contextmanager
def raw_server(answer: Answer) -> Iterator[tuple[str, list[int]]]:
    """A server that reads each request's head and lets ``answer`` write; counts connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            n = 0
            while not stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                n += 1
                if not answer(conn, n):
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/open/v1", connections
    finally:
        stop.set()
        listener.close()


GET = Request("GET", "/open/v1/x", "a=1", {"X-Test": "1"})


def test_keeps_the_connection_alive_between_requests():
    def answer(conn, n):
        conn.sendall(reply(b'{"n": %d}' % n))
        return True
    with raw_server(answer) as (url, connections):
        transport = HttpTransport(url)
        assert [transport.send(GET).content for _ in range(3)] == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
        assert len(connections) == 1
        transport.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_once_silently():
    def answer(conn, n):
        conn.sendall(reply(b"{}"))
        return False  # closes after every answer without saying so
    with raw_server(answer) as (url, connections):
        transport = HttpTransport(url)
        for _ in range(3):
            assert transport.send(GET).status_code == 200
        assert len(connections) == 3


def test_an_answer_over_the_cap_is_refused_whether_announced_or_chunked():
    for chunked in (False, True):
        def answer(conn, n, chunked=chunked):
            conn.sendall(reply(b"x" * 5000, chunked=chunked))
            return True
        with raw_server(answer) as (url, _):
            transport = HttpTransport(url)
            with pytest.raises(TooLarge):
                transport.send(GET, max_bytes=4096)
            assert transport.send(GET, max_bytes=5000).content == b"x" * 5000


def test_a_silent_server_times_out_and_a_closed_port_is_refused():
    with raw_server(lambda conn, n: (threading.Event().wait(2), True)[1]) as (url, _):
        with pytest.raises(TransportError, match="timed out"):
            HttpTransport(url, timeout=0.3).send(GET)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="cannot connect"):
        HttpTransport(f"http://127.0.0.1:{port}/open/v1").send(GET)


def test_only_http_and_https_urls():
    with pytest.raises(ValueError):
        HttpTransport("ftp://example.org/open/v1")


def test_a_timeout_on_a_reused_connection_is_not_resent_behind_the_clients_back():
    """The slow request may still run on the server: the client's paced retries decide."""
    def answer(conn, n):
        if n == 2:
            threading.Event().wait(1.0)
        conn.sendall(reply(b"{}"))
        return True
    with raw_server(answer) as (url, connections):
        transport = HttpTransport(url, timeout=0.3)
        transport.send(GET)
        with pytest.raises(TransportError, match="timed out"):
            transport.send(GET)
        assert len(connections) == 1  # no second connection was opened to send it again


def test_answers_in_every_framing_http_allows():
    """Content-Length, chunked with extensions and trailers, to the end of the connection (HTTP/1.0),
    an interim 100 first; headers looked up in any case; Connection: close is honoured."""
    answers = {
        1: reply(b'{"a": 1}'),
        2: b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: chunked\r\nX-Content-SHA256: abc\r\n\r\n"
           b"3;ext=1\r\n{\"b\r\n5\r\n\": 2}\r\n0\r\nX-Trailer: t\r\n\r\n",
        3: b"HTTP/1.1 100 Continue\r\n\r\n" + reply(b'{"c": 3}', close=True),
        4: b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"d\": 4}",
    }

    def answer(conn, n):
        conn.sendall(answers[n])
        return n in (1, 2)  # the server hangs up after answers 3 and 4, as they announce
    counter = iter(range(1, 5))
    with raw_server(lambda conn, n: answer(conn, next(counter))) as (url, connections):
        transport = HttpTransport(url)
        first, second = transport.send(GET), transport.send(GET)
        assert first.content == b'{"a": 1}' and first.headers.get("content-type") == "application/json"
        assert second.content == b'{"b": 2}' and second.headers.get("x-content-sha256") == "abc"
        assert "X-CONTENT-SHA256" in second.headers and second.headers["X-Content-Sha256"] == "abc"
        assert transport.send(GET).content == b'{"c": 3}'
        assert transport.send(GET).content == b'{"d": 4}'
        assert len(connections) == 2  # a new connection after the one that said close; none resent


@pytest.mark.parametrize("garbage", [
    reply(b"x" * 100)[:-40],  # a body cut short
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_a_body_cut_short_or_what_is_not_http_is_a_transport_error(garbage):
    def answer(conn, n):
        conn.sendall(garbage)
        conn.shutdown(socket.SHUT_WR)
        return False
    with raw_server(answer) as (url, _):
        with pytest.raises(TransportError):
            HttpTransport(url).send(GET)


def test_a_header_that_would_split_the_request_is_refused():
    with pytest.raises(ValueError):
        HttpTransport("http://127.0.0.1:9/open/v1").send(Request("GET", "/open/v1/x", "", {"X-A": "1\r\nX-B: 2"}))

"""The HTTP layer under the platform client: httpx's transport with a whole-request deadline,
the county's TLS (a government CA bundle, a client certificate) and its proxy.

A whole-request deadline beneath httpx's per-phase timeouts:

httpx bounds each wait (connect, one read, one write, the pool), never their sum: a server that
sends a byte every few seconds, in its headers or its body, meets no timeout at all. Here every
socket operation of a request waits at most until the deadline its thread set for it, so a
trickling server is cut off in the status line and headers too, where the client's own loop over
body chunks cannot see it. The deadline is per thread because a synchronous httpx request runs
wholly in the thread that sent it, whichever pooled connection it is given.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpcore
import httpx


class Deadline(threading.local):
    """The ``time.monotonic()`` by which this thread's request must be over; None: no deadline."""

    def __init__(self) -> None:
        self.at: float | None = None

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def clamp(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` shortened to what is left; ``error`` once nothing is left."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise error("the request's deadline has passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._stream, self._deadline = stream, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options), self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options), self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (TLS, proxies, pool), its sockets bounded by ``deadline``."""

    def __init__(self, deadline: Deadline, **kw: Any) -> None:
        super().__init__(**kw)
        pool = self._pool
        if not hasattr(pool, "_network_backend"):  # an httpcore that moved it: fail here, not silently later
            raise RuntimeError("httpcore's connection pool has no network backend to bound")
        pool._network_backend = _Backend(pool._network_backend, deadline)


def tls_context(ca_bundle: str | Path | None = None, client_cert: str | Path | None = None,
                client_key: str | Path | None = None) -> ssl.SSLContext:
    """Certificates checked against ``ca_bundle`` (else httpx's default: certifi, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), and ``client_cert`` shown for mutual TLS.

    Raises:
        OSError, ssl.SSLError: a file that cannot be read or is not a certificate or key.
    """
    context = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else httpx.create_ssl_context()
    if client_cert:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


# CPython's matcher of a host against NO_PROXY (the rules curl and httpx follow): undocumented,
# so typeshed has no stub for it, but in urllib.request on every platform since Python 2.
_proxy_bypass: Callable[[str], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


def proxy_for(base_url: str, proxy: str | None, trust_env: bool = True) -> str | None:
    """The proxy to reach the platform through: ``proxy`` if given, else the standard
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` unless ``NO_PROXY`` names the platform's host.

    The client talks to one host only, so this is decided once. httpx reads the same variables
    itself only for a client without a transport of its own, which this one has (the deadline).
    """
    if proxy or not trust_env:
        return proxy or None
    url = httpx.URL(base_url)
    if _proxy_bypass(url.host):
        return None
    found = urllib.request.getproxies_environment()
    return found.get(url.scheme) or found.get("all")

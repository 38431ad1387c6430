"""The client's own HTTP behaviour over ``httpx.MockTransport``: caps, deadline, retries, redirects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from connectors.platform import errors as e
from connectors.platform.client import MAX_OBJECT_BYTES, MAX_PAGE_BYTES, PlatformClient
from connectors.platform.pacing import RetryBudget, Unlimited
from tests.fake_transport import FakeTransport, envelope, fake_client


class Trickle(httpx.SyncByteStream):
    """A body that comes one small chunk every ``every`` seconds, each in time for a read timeout."""

    def __init__(self, chunks: int, every: float) -> None:
        self.chunks, self.every, self.sent = chunks, every, 0

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"code": 0, "data": {"items": ['
        for _ in range(self.chunks):
            time.sleep(self.every)
            self.sent += 1
            yield b" "
        yield b"]}}"


def test_a_feed_page_over_its_cap_is_refused_and_not_retried():
    big = b'{"code": 0, "data": {"items": ["' + b"x" * MAX_PAGE_BYTES + b'"]}}'
    client, transport = fake_client(lambda request: httpx.Response(200, content=big))
    with pytest.raises(e.ResponseTooLarge):
        client.changes_page()
    assert len(transport.sent) == 1 and client.stats.retries == 0


def test_a_transaction_has_the_smaller_cap_counted_while_streaming_without_a_length():
    def chunks() -> Iterator[bytes]:
        yield b'{"code": 0, "data": "'
        for _ in range(MAX_OBJECT_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    client, _ = fake_client(lambda request: httpx.Response(200, content=chunks()))
    with pytest.raises(e.ResponseTooLarge):
        client.transaction("T1")
    small, _ = fake_client(lambda request: envelope({"txn_id": "T1"}))
    assert small.transaction("T1") == {"txn_id": "T1"}


def test_a_trickling_body_ends_at_the_deadline_as_a_retriable_fault_within_the_budget():
    streams: list[Trickle] = []

    def handler(request: httpx.Request) -> httpx.Response:
        streams.append(Trickle(chunks=100, every=0.05))
        return httpx.Response(200, stream=streams[-1])

    client, transport = fake_client(handler, deadline=0.3, max_attempts=2, budget=RetryBudget(1, 5))
    client._backoff = lambda state: 0.0
    started = time.monotonic()
    with pytest.raises(e.RetryBudgetExhausted) as err:
        client.changes_page()
    assert isinstance(err.value.__cause__, e.DeadlineExceeded)
    assert time.monotonic() - started < 2.0 and len(transport.sent) == 2
    assert all(stream.sent < 100 for stream in streams)


def test_a_body_that_is_slow_but_within_the_deadline_is_read():
    client, _ = fake_client(lambda request: httpx.Response(200, stream=Trickle(chunks=3, every=0.05)), deadline=5)
    assert client.changes_page().items == []


def test_retriable_codes_are_retried_and_fatal_ones_are_not():
    answers = iter([envelope(code=50001), envelope(code=42901, status=429, Retry_After="0"), envelope({"items": []})])
    client, transport = fake_client(lambda request: next(answers))
    client._backoff = lambda state: 0.0
    assert client.changes_page().items == []
    assert len(transport.sent) == 3 and client.stats.by_code == {"50001": 1, "42901": 1}

    client, transport = fake_client(lambda request: envelope(code=40101, status=401))
    with pytest.raises(e.FatalError):
        client.changes_page()
    assert len(transport.sent) == 1


def test_a_dropped_connection_is_retried_and_its_text_is_not_repeated():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("illegal status line: b'<script>x</script>'", request=request)
        return envelope({"items": []})

    client, _ = fake_client(handler)
    client._backoff = lambda state: 0.0
    messages = []
    client._before_sleep = lambda state: messages.append(str(state.outcome.exception()))
    assert client.changes_page().items == [] and len(calls) == 2
    assert messages == ["GET /pension/transactions: RemoteProtocolError"]


def test_a_redirect_is_not_followed():
    client, transport = fake_client(lambda request: httpx.Response(302, headers={"Location": "http://evil/x"}))
    with pytest.raises(e.FatalError, match="redirect"):
        client.transaction("T1")
    assert [str(r.url) for r in transport.sent] == ["http://p/open/v1/pension/transactions/T1"]


def test_cookies_from_the_platform_are_never_sent_back():
    client, transport = fake_client(lambda request: envelope({"items": []}, Set_Cookie="session=abc; Path=/"))
    client.changes_page()
    client.changes_page()
    assert "cookie" not in transport.sent[1].headers


@pytest.mark.parametrize("base", ["http://p/open/v1", "http://p/open/v1/", "http://p", "http://p/"])
def test_each_request_is_the_one_httpx_would_build_for_the_same_call(base):
    """The client builds its requests itself, once merged what httpx merges per call: the URL,
    the headers and the timeouts must be exactly those of ``build_request``."""
    transport = FakeTransport(lambda request: envelope({"items": []}))
    client = PlatformClient(base, "k", "s", limiter=Unlimited(), budget=RetryBudget(3, 3), transport=transport)
    client.changes_page(cursor="a/b c", region_prefix="5301", limit=7)
    client.transaction("T 1/é")
    client.post_result("T1", {"outcome": "completed"}, "key-1")
    reference = httpx.Client(base_url=base, headers={"Accept-Encoding": "identity", "User-Agent": "pension-bridge"},
                             timeout=httpx.Timeout(30.0, connect=10.0))
    expected = [reference.build_request("GET", "/pension/transactions?limit=7&cursor=a%2Fb%20c&region_prefix=5301"),
                reference.build_request("GET", "/pension/transactions/T%201%2F%C3%A9"),
                reference.build_request("POST", "/pension/transactions/T1/result",
                                        content=b'{"outcome":"completed"}',
                                        headers={"Idempotency-Key": "key-1",
                                                 "Content-Type": "application/json; charset=utf-8"})]
    root = base.rstrip("/")  # a URL without /open/v1 is sent as given: the platform's 40401 names it
    assert [str(r.url) for r in transport.sent] == [
        f"{root}/pension/transactions?limit=7&cursor=a%2Fb%20c&region_prefix=5301",
        f"{root}/pension/transactions/T%201%2F%C3%A9", f"{root}/pension/transactions/T1/result"]
    signed = {"x-app-key", "x-timestamp", "x-nonce", "x-signature"}
    for sent, built in zip(transport.sent, expected, strict=True):
        assert (sent.method, str(sent.url), sent.url.raw_path) == (built.method, str(built.url), built.url.raw_path)
        assert [(k, v) for k, v in sent.headers.multi_items() if k not in signed] == built.headers.multi_items()
        assert sent.content == built.content and sent.extensions["timeout"] == built.extensions["timeout"]
    assert signed <= set(transport.sent[2].headers)


def test_a_compressed_body_is_refused_rather_than_inflated():
    client, transport = fake_client(lambda request: httpx.Response(200, content=iter([b"\x1f\x8b..."]),
                                                                   headers={"Content-Encoding": "gzip"}))
    with pytest.raises(e.FatalError, match="encoded"):
        client.changes_page()
    assert transport.sent[0].headers["Accept-Encoding"] == "identity"


def test_only_http_and_https_urls():
    with pytest.raises(ValueError):
        PlatformClient("ftp://example.org/open/v1", "k", "s", limiter=None, budget=RetryBudget(1, 1))


def test_the_pool_is_sized_for_the_threads_and_the_timeouts_are_per_phase():
    client = PlatformClient("http://127.0.0.1:9/open/v1", "k", "s", limiter=None, budget=RetryBudget(1, 1),
                            timeout=30, max_connections=12)
    pool = client._http._transport._pool
    assert (pool._max_connections, pool._max_keepalive_connections) == (12, 12)
    assert client._http.timeout == httpx.Timeout(30, connect=10)
    client.close()


# --- the first request is the run's check of the settings (``first_check``) ------------------------

def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_a_first_request_the_check_names_ends_at_once_unretried():
    asked: list[e.PlatformError] = []

    def check(err: e.PlatformError) -> str | None:
        asked.append(err)
        return "平台地址不对" if "ConnectError" in str(err) else None

    client, transport = fake_client(_refused, first_check=check)
    with pytest.raises(e.Unconfigured, match="平台地址不对") as raised:
        client.changes_page()
    assert len(transport.sent) == 1 and client.stats.retries == 0
    assert isinstance(raised.value.__cause__, e.RetriableError) and len(asked) == 1
    # Only the first request is the check: the next one is retried within the budget as any other.
    with pytest.raises(e.RetryBudgetExhausted):
        client.changes_page()
    assert len(asked) == 1 and client.stats.retries > 0


def test_a_first_answer_the_check_passes_is_retried_and_costs_no_extra_request():
    answers = iter([envelope(code=42901, status=429, Retry_After="0"), envelope({"items": [], "has_more": False})])
    client, transport = fake_client(lambda request: next(answers), first_check=lambda err: None)
    assert client.changes_page().items == []
    assert len(transport.sent) == 2 and client.stats.retries == 1


def test_a_first_refusal_by_code_is_the_checks_too_and_a_success_ends_the_checking():
    wrong = fake_client(lambda request: envelope(code=40101, status=401), first_check=lambda err: f"密钥不对 {err.code}")[0]
    with pytest.raises(e.Unconfigured, match="40101"):
        wrong.changes_page()
    seen: list[e.PlatformError] = []
    answers = iter([envelope({"items": [], "has_more": False}), envelope(code=40101, status=401)])
    fine = fake_client(lambda request: next(answers), first_check=lambda err: seen.append(err) or "x")[0]
    fine.changes_page()
    with pytest.raises(e.FatalError) as later:
        fine.changes_page()
    assert not isinstance(later.value, e.Unconfigured) and seen == []

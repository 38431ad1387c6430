"""Request signing against the contract's worked examples, computed independently here."""

import hashlib
import hmac
from datetime import datetime

import httpx
import pytest

import connectors.platform.auth as auth_module
from connectors.platform.auth import PlatformAuth, canonical_string
from tests.fake_transport import envelope, fake_client


def independent_signature(secret: str, lines: list[str]) -> str:
    return hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).hexdigest()


def test_get_example_of_the_contract():
    lines = ["GET", "/open/v1/pension/transactions",
             "limit=100&region_prefix=5301&updated_after=2026-11-25%2008%3A00%3A00",
             "1764028800000", "a1b2c3d4e5f60718", hashlib.sha256(b"").hexdigest()]
    expected = "af47b2d0ebc0d5ceee18c6546adf882e65179cd54db43260b8e763287fa46eea"
    assert independent_signature("demo-secret", lines) == expected
    ours = canonical_string("GET", "/open/v1/pension/transactions",
                            "updated_after=2026-11-25+08%3A00%3A00&limit=100&region_prefix=5301",
                            "1764028800000", "a1b2c3d4e5f60718", b"")
    assert ours == "\n".join(lines)


def test_post_example_of_the_contract():
    body = ('{"version":1,"outcome":"accepted","internal_ref":"YW2026112500000001",'
            '"processed_at":"2026-11-25 18:03:11","handler":"王芳"}').encode()
    assert hashlib.sha256(body).hexdigest() == "146cbd15bfec48837a0500f6de723fee4fa6f165398589953bd64c187e2d8087"
    lines = ["POST", "/open/v1/pension/transactions/RH530102202611250001/result", "", "1764064991000",
             "0f1e2d3c4b5a6978", hashlib.sha256(body).hexdigest()]
    assert independent_signature("demo-secret", lines) == "92a6fc9a82b4b83dfb2e824f6d3ad36628721b25b8f8a2b8e3ed9abd2b54d2d9"
    ours = canonical_string("POST", "/open/v1/pension/transactions/RH530102202611250001/result", "",
                            "1764064991000", "0f1e2d3c4b5a6978", body)
    assert ours == "\n".join(lines)


def check(request: httpx.Request) -> str:
    """The request's signature checked over what reached the wire; its nonce."""
    h = request.headers
    path, _, query = request.url.raw_path.decode().partition("?")
    lines = canonical_string(request.method, path, query, h["X-Timestamp"], h["X-Nonce"], request.content).split("\n")
    assert h["X-Signature"] == independent_signature("demo-secret", lines)
    return h["X-Nonce"]


def test_client_signs_each_request_with_fresh_nonce():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(check(request))
        return envelope({"items": []})

    client, transport = fake_client(handler, key="demo", secret="demo-secret")
    client.changes_page(updated_after=datetime(2026, 11, 25, 8), region_prefix="5301")
    client.post_result("X", {"a": 1}, "key-1")
    first, second = transport.sent
    assert first.url.path == "/open/v1/pension/transactions"
    assert b"updated_after=2026-11-25%2008%3A00%3A00" in first.url.query
    assert second.url.path == "/open/v1/pension/transactions/X/result" and second.content == b'{"a":1}'
    assert second.headers["Idempotency-Key"] == "key-1"
    assert len(set(seen)) == 2 and all(16 <= len(n) <= 64 and n.isalnum() for n in seen)


POST_BODY = ('{"version":1,"outcome":"accepted","internal_ref":"YW2026112500000001",'
             '"processed_at":"2026-11-25 18:03:11","handler":"王芳"}').encode()


@pytest.mark.parametrize("method,url,body,clock,nonce,expected", [
    ("GET", "https://dzrh.example.gov.cn/open/v1/pension/transactions"
     "?updated_after=2026-11-25%2008%3A00%3A00&limit=100&region_prefix=5301", b"", 1764028800.0,
     "a1b2c3d4e5f60718", "af47b2d0ebc0d5ceee18c6546adf882e65179cd54db43260b8e763287fa46eea"),
    ("POST", "https://dzrh.example.gov.cn/open/v1/pension/transactions/RH530102202611250001/result", POST_BODY,
     1764064991.0, "0f1e2d3c4b5a6978", "92a6fc9a82b4b83dfb2e824f6d3ad36628721b25b8f8a2b8e3ed9abd2b54d2d9"),
])
def test_the_auth_flow_signs_the_contracts_examples_as_httpx_sends_them(monkeypatch, method, url, body, clock,
                                                                        nonce, expected):
    """``PlatformAuth`` as an ``httpx.Auth``: both worked examples of §1, over the request httpx builds."""
    monkeypatch.setattr(auth_module, "new_nonce", lambda: nonce)
    auth = PlatformAuth("demo", "demo-secret", clock=lambda: clock)
    signed = next(auth.sync_auth_flow(httpx.Request(method, url, content=body)))
    assert signed.headers["X-Timestamp"] == str(int(clock * 1000)) and signed.headers["X-Nonce"] == nonce
    assert signed.headers["X-App-Key"] == "demo" and signed.headers["X-Signature"] == expected


def test_every_attempt_is_signed_anew_after_a_40102_and_follows_the_platforms_clock():
    answers = iter([envelope(code=40102, status=401, Date="Tue, 25 Nov 2025 00:00:10 GMT"), envelope({"items": []})])
    nonces, stamps = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        nonces.append(check(request))
        stamps.append(int(request.headers["X-Timestamp"]))
        return next(answers)

    client, _ = fake_client(handler, key="demo", secret="demo-secret")
    client._auth._clock = lambda: 1764028000.0  # ours is 810 s behind the platform's
    client.changes_page()
    assert len(set(nonces)) == 2
    assert stamps == [1764028000000, 1764028810000]


def test_timestamp_follows_the_clock_and_the_learnt_offset():
    auth = PlatformAuth("demo", "demo-secret", clock=lambda: 1764028800.0)
    assert auth.headers("GET", "/x", "", b"")["X-Timestamp"] == "1764028800000"
    auth.adjust_clock("Tue, 25 Nov 2025 00:00:10 GMT")
    assert auth.headers("GET", "/x", "", b"")["X-Timestamp"] == "1764028810000"

"""Request signing against the contract's worked examples, computed independently here."""

import hashlib
import hmac
from datetime import datetime

from connectors.platform.auth import PlatformAuth, canonical_string
from connectors.platform.client import PlatformClient
from connectors.platform.pacing import RetryBudget, Unlimited
from connectors.platform.transport import Request, Response
from tests.fake_transport import FakeTransport, headers


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


def test_client_signs_each_request_with_fresh_nonce():
    seen = []

    def handler(request: Request) -> Response:
        h = request.headers
        lines = canonical_string(request.method, request.path, request.query, h["X-Timestamp"], h["X-Nonce"],
                                 request.body).split("\n")
        assert h["X-Signature"] == independent_signature("demo-secret", lines)
        seen.append(h["X-Nonce"])
        return Response(200, headers(Content_Type="application/json"), b'{"code": 0, "data": {"items": []}}')

    transport = FakeTransport(handler)
    client = PlatformClient("http://p/open/v1", "demo", "demo-secret", limiter=Unlimited(),
                            budget=RetryBudget(3, 3), transport=transport)
    client.changes_page(updated_after=datetime(2026, 11, 25, 8), region_prefix="5301")
    client.post_result("X", {"a": 1}, "key-1")
    first, second = transport.sent
    assert first.path == "/open/v1/pension/transactions" and "updated_after=2026-11-25%2008%3A00%3A00" in first.query
    assert second.path == "/open/v1/pension/transactions/X/result" and second.body == b'{"a":1}'
    assert second.headers["Idempotency-Key"] == "key-1"
    assert len(set(seen)) == 2 and all(16 <= len(n) <= 64 and n.isalnum() for n in seen)


def test_timestamp_follows_the_clock_and_the_learnt_offset():
    auth = PlatformAuth("demo", "demo-secret", clock=lambda: 1764028800.0)
    assert auth.headers("GET", "/x", "", b"")["X-Timestamp"] == "1764028800000"
    auth.adjust_clock("Tue, 25 Nov 2025 00:00:10 GMT")
    assert auth.headers("GET", "/x", "", b"")["X-Timestamp"] == "1764028810000"

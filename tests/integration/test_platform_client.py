"""The real client against the real sandbox server over 127.0.0.1, with each fault switch."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from connectors.platform import FatalError, RegionForbidden, RetryBudgetExhausted
from connectors.platform.client import ScanRejected
from connectors.platform.feed import pages
from sandbox.faults import Faults
from sandbox.generator import generate
from tests.integration.sandbox_fixtures import client, sandbox

SCENARIO = generate(400, seed=7, messy_share=0.0)
ALL = {t["txn_id"] for t in SCENARIO["transactions"]}


def read_all(c, committed=lambda: None, **kw) -> list[dict]:
    return [item for page in pages(c, committed, limit=50, **kw) for item in page.items]


@pytest.mark.parametrize("fault", ["error_200", "rate_limited", "http500", "http503", "drop", "truncate",
                                   "repeat_page"])
def test_feed_is_complete_under_each_fault(fault):
    with sandbox(SCENARIO, Faults(seed=3, **{fault: 0.3})) as server:
        c = client(server)
        items = read_all(c)
    assert {i["txn_id"] for i in items} == ALL
    assert c.stats.retries > 0 or fault == "repeat_page"


def test_slow_answers_past_the_timeout_are_retried():
    with sandbox(SCENARIO, Faults(seed=1, slow=0.2, slow_seconds=1.5)) as server:
        items = read_all(client(server, timeout=0.5))
    assert {i["txn_id"] for i in items} == ALL


def test_platform_that_stays_down_ends_within_the_budget():
    with sandbox(SCENARIO, Faults(http503=1.0)) as server:
        started = time.monotonic()
        with pytest.raises(RetryBudgetExhausted):
            read_all(client(server, retries=5, seconds=5))
    assert time.monotonic() - started < 10


def test_visibility_lag_is_caught_by_the_overlap():
    with sandbox(SCENARIO) as server:
        c = client(server)
        items = read_all(c)
        last = max(datetime.strptime(i["updated_at"], "%Y-%m-%d %H:%M:%S") for i in items)
        late = dict(SCENARIO["transactions"][0], txn_id="RH530102209901010001",
                    updated_at=(last - timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S"))
        server.state.put(late, lag=0.0)
        again = read_all(c, committed=lambda: last)
    assert "RH530102209901010001" in {i["txn_id"] for i in again}


def test_without_overlap_the_late_item_would_be_missed():
    with sandbox(SCENARIO) as server:
        c = client(server)
        last = max(datetime.strptime(t["updated_at"], "%Y-%m-%d %H:%M:%S") for t in SCENARIO["transactions"])
        late = dict(SCENARIO["transactions"][0], txn_id="RH530102209901010002",
                    updated_at=(last - timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S"))
        server.state.put(late, lag=0.0)
        page = c.changes_page(updated_after=last)
    assert "RH530102209901010002" not in {i["txn_id"] for i in page.items}


def test_expired_cursor_restarts_from_the_committed_checkpoint():
    with sandbox(SCENARIO) as server:
        c = client(server)
        seen, expired = [], False
        for page in pages(c, lambda: None, limit=50):
            seen.extend(page.items)
            if len(seen) >= 100 and not expired:
                server.state.expire_cursors()
                expired = True
    assert {i["txn_id"] for i in seen} == ALL and len(seen) > len(ALL)


def test_clock_skew_is_followed():
    with sandbox(SCENARIO, clock_skew=900) as server:
        items = read_all(client(server))
    assert len(items) == len(ALL)


def test_bad_secret_fails_at_once():
    with sandbox(SCENARIO) as server:
        c = client(server)
        c._auth._secret = "wrong"
        with pytest.raises(FatalError) as err:
            read_all(c)
    assert err.value.code == 40101 and c.stats.retries == 0


def test_region_not_permitted():
    with sandbox(SCENARIO, prefixes=("5301",)) as server:
        with pytest.raises(RegionForbidden):
            read_all(client(server), region_prefix="5302")


def test_attachment_is_verified():
    txn = next(t for t in SCENARIO["transactions"] if t["attachments"])
    a = txn["attachments"][0]
    with sandbox(SCENARIO, Faults(seed=2, truncate=0.5, drop=0.3)) as server:
        c = client(server)
        scan = c.attachment(a["attachment_id"], a["sha256"])
        with pytest.raises(ScanRejected):
            c.attachment(a["attachment_id"], "0" * 64)
    assert scan.sha256 == a["sha256"]


def test_write_back_is_idempotent_and_checks_versions():
    txn = SCENARIO["transactions"][0]
    body = {"version": txn["version"], "outcome": "accepted", "internal_ref": "YW1",
            "processed_at": "2026-11-25 18:03:11", "handler": "王芳"}
    with sandbox(SCENARIO) as server:
        c = client(server)
        first = c.post_result(txn["txn_id"], body, "k1")
        again = c.post_result(txn["txn_id"], body, "k1")
        with pytest.raises(FatalError):
            c.post_result(txn["txn_id"], dict(body, handler="x"), "k1")
        from connectors.platform import ConflictError
        with pytest.raises(ConflictError) as err:
            c.post_result(txn["txn_id"], body, "k2")
    assert first == again and first["version"] == txn["version"] + 1
    assert err.value.current_version == txn["version"] + 1
    assert len(server.state.results) == 1


def test_an_attachment_id_with_a_space_and_chinese_is_fetched_over_the_wire():
    """The id goes as one percent-encoded path segment, signed as sent; the server decodes it."""
    import hashlib as _hashlib

    from tests.integration.sandbox_fixtures import client as _client
    from tests.integration.sandbox_fixtures import sandbox as _sandbox

    jpeg = b"\xff\xd8\xff\xe0" + b"odd" * 40
    scenario = {"seed": 0, "transactions": [], "attachments": {"F 1/扫描": {"content": jpeg, "content_type": "image/jpeg"}}}
    with _sandbox(scenario) as server:
        scan = _client(server).attachment("F 1/扫描", _hashlib.sha256(jpeg).hexdigest())
    assert scan.content == jpeg


# --- the county's network: mutual TLS with a government CA, a proxy --------------------------------

def _pki(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def issue(name, issuer_name, issuer_key, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    def write(name, key, cert):
        (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return tmp_path / f"{name}.pem", tmp_path / f"{name}.key"

    ca_key, ca = issue("county test CA", "county test CA", None, ca=True)
    server = write("server", *issue("127.0.0.1", "county test CA", ca_key,
                                    san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]))
    client_pair = write("client", *issue("bridge", "county test CA", ca_key))
    ca_file, _ = write("ca", ca_key, ca)
    return ca_file, server, client_pair


def test_mutual_tls_with_a_government_ca_through_the_settings(tmp_path):
    """BRIDGE_CA_BUNDLE checks the gateway's certificate; BRIDGE_CLIENT_CERT/KEY answer its demand for ours."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bridge.settings import Settings
    from bridge.wiring import client_for
    from connectors.platform import RetryBudgetExhausted

    ca_file, (server_cert, server_key), (client_cert, client_key) = _pki(tmp_path)
    seen = []

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.connection.getpeercert()["subject"])
            body = b'{"code": 0, "message": "", "request_id": "r", "data": {"items": [], "has_more": false}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}/open/v1"
    base = dict(platform_url=url, app_key="k", app_secret="s", rate_limit=0, retry_budget=0, home=tmp_path)
    try:
        with client_for(Settings(**base, ca_bundle=ca_file, client_cert=client_cert, client_key=client_key)) as c:
            assert c.changes_page().items == []
        assert seen == [((("commonName", "bridge"),),)]
        with client_for(Settings(**base)) as c:  # the default CAs do not know the county's
            with pytest.raises(RetryBudgetExhausted):
                c.changes_page()
        with client_for(Settings(**base, ca_bundle=ca_file)) as c:  # no client certificate: the gateway refuses
            with pytest.raises(RetryBudgetExhausted):
                c.changes_page()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_key_without_its_certificate_and_a_missing_bundle_stop_at_the_settings(tmp_path):
    from bridge.settings import SettingsError, load

    (tmp_path / "k.pem").write_text("x")
    with pytest.raises(SettingsError, match="BRIDGE_CLIENT_KEY"):
        load(client_key=tmp_path / "k.pem")
    with pytest.raises(SettingsError, match="BRIDGE_CA_BUNDLE"):
        load(ca_bundle=tmp_path / "absent.pem")


def test_requests_go_through_the_configured_proxy_and_no_proxy_is_honoured(monkeypatch):
    """BRIDGE_PROXY wins; else HTTPS_PROXY/HTTP_PROXY, unless NO_PROXY names the platform's host."""
    import socket
    import threading

    from connectors.platform import PlatformClient
    from connectors.platform.network import proxy_for
    from connectors.platform.pacing import RetryBudget, Unlimited

    listener = socket.create_server(("127.0.0.1", 0))
    lines = []

    def proxy() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            lines.append(data.split(b"\r\n", 1)[0])
            body = b'{"code": 0, "message": "", "request_id": "r", "data": {"items": []}}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    threading.Thread(target=proxy, daemon=True).start()
    address = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with PlatformClient("http://platform.invalid/open/v1", "k", "s", limiter=Unlimited(), budget=RetryBudget(0, 0),
                        proxy=address) as c:
        c.changes_page(limit=5)
    listener.close()
    assert lines == [b"GET http://platform.invalid/open/v1/pension/transactions?limit=5 HTTP/1.1"]

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.county:3128")
    monkeypatch.setenv("NO_PROXY", "intranet.gov.cn")
    assert proxy_for("https://dzrh.example.gov.cn/open/v1", None) == "http://proxy.county:3128"
    assert proxy_for("https://dzrh.intranet.gov.cn/open/v1", None) is None
    assert proxy_for("https://dzrh.intranet.gov.cn/open/v1", "http://set:1") == "http://set:1"

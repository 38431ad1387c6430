"""Scans are untrusted: size-limited and type-checked before anything keeps them."""

import hashlib

import httpx
import pytest

from connectors.platform.client import MAX_ATTACHMENT_BYTES, PlatformClient, ScanRejected
from tests.fake_transport import fake_client


def client_serving(content: bytes, content_type: str = "image/jpeg") -> PlatformClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={
            "Content-Type": content_type, "X-Content-SHA256": hashlib.sha256(content).hexdigest()})
    return fake_client(handler)[0]


def test_a_scan_that_is_not_jpeg_png_or_pdf_is_refused():
    html = b"<html><script>alert(1)</script></html>"
    with pytest.raises(ScanRejected) as err:
        client_serving(html).attachment("F1", hashlib.sha256(html).hexdigest())
    assert err.value.reason == "type_not_allowed"


def test_a_scan_over_10_mib_is_refused_without_keeping_it():
    big = b"\xff\xd8\xff" + b"0" * MAX_ATTACHMENT_BYTES
    with pytest.raises(ScanRejected) as err:
        client_serving(big).attachment("F1", hashlib.sha256(big).hexdigest())
    assert err.value.reason == "too_large"


def test_a_real_pdf_passes():
    pdf = b"%PDF-1.4\n..."
    assert client_serving(pdf, "application/pdf").attachment("F1", hashlib.sha256(pdf).hexdigest()).content_type \
        == "application/pdf"


def test_an_id_from_messy_data_is_sent_as_one_encoded_segment():
    pdf = b"%PDF-1.4\n..."
    client, transport = fake_client(lambda request: httpx.Response(200, content=pdf, headers={
        "Content-Type": "application/pdf"}))
    client.attachment("F 1/扫描", hashlib.sha256(pdf).hexdigest())
    assert transport.sent[-1].url.raw_path == b"/open/v1/attachments/F%201%2F%E6%89%AB%E6%8F%8F"


def test_a_scan_announced_over_10_mib_is_refused_before_its_body_is_read():
    read = []

    def body():
        read.append(1)
        yield b"\xff\xd8\xff"

    client, _ = fake_client(lambda request: httpx.Response(200, content=body(), headers={
        "Content-Type": "image/jpeg", "Content-Length": str(MAX_ATTACHMENT_BYTES + 1)}))
    with pytest.raises(ScanRejected) as err:
        client.attachment("F1", None)
    assert err.value.reason == "too_large" and read == []


def test_bytes_damaged_on_the_way_are_fetched_again():
    jpeg = b"\xff\xd8\xff" + b"1" * 100
    answers = iter([jpeg[:-1] + b"2", jpeg])
    client, transport = fake_client(lambda request: httpx.Response(200, content=next(answers), headers={
        "Content-Type": "image/jpeg", "X-Content-SHA256": hashlib.sha256(jpeg).hexdigest()}))
    assert client.attachment("F1", hashlib.sha256(jpeg).hexdigest()).content == jpeg
    assert len(transport.sent) == 2 and client.stats.retries == 1

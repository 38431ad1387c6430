"""Scans are untrusted: size-limited and type-checked before anything keeps them."""

import hashlib

import pytest

from connectors.platform.client import (
    MAX_ATTACHMENT_BYTES,
    PlatformClient,
    ScanRejected,
)
from connectors.platform.pacing import RetryBudget, Unlimited
from connectors.platform.transport import Request, Response
from tests.fake_transport import FakeTransport, headers


def client_serving(content: bytes, content_type: str = "image/jpeg") -> PlatformClient:
    def handler(request: Request) -> Response:
        return Response(200, headers(Content_Type=content_type, X_Content_SHA256=hashlib.sha256(content).hexdigest()),
                        content)
    return PlatformClient("http://p/open/v1", "k", "s", limiter=Unlimited(), budget=RetryBudget(3, 3),
                          transport=FakeTransport(handler))


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
    client = client_serving(pdf, "application/pdf")
    client.attachment("F 1/扫描", hashlib.sha256(pdf).hexdigest())
    assert client._http.sent[-1].path == "/open/v1/attachments/F%201%2F%E6%89%AB%E6%8F%8F"

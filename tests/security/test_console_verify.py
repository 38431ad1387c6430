"""The console's receipt check, /verify (issue 26, finding 11): a QR text pasted or a receipt PDF
uploaded, checked offline against the configured seal key, answered in Chinese; signed-in users
only, CSRF-checked, escaped, with the console's headers; usable on a phone."""

from __future__ import annotations

import hashlib
import html
from contextlib import closing

import pytest

from config.catalogue import text
from sync.sealing.receipt import QrText, render, stamped
from tests.e2e.console_world import USERS
from tests.security.console_fixtures import bare_console, sign_in
from tests.security.test_console_pages import guarded
from tests.unit.test_receipt import facts


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    with bare_console(request.param, tmp_path_factory.mktemp(request.param)) as found:
        yield found


def receipt(signer, **over) -> tuple[bytes, str]:
    body = render(facts(**over))
    digest = hashlib.sha256(body).digest()
    qr = QrText(digest, signer.sign(digest), signer.fingerprint)
    return stamped(body, qr), str(qr)


def csrf(client) -> str:
    page = client.get("/verify")
    assert page.status_code == 200
    guarded(page)
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def verdict(page) -> str:
    return html.unescape(page.text.split('id="verdict">', 1)[1].split("</div>", 1)[0])


def test_only_signed_in_users_and_every_role(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        client.cookies.clear()
        answer = client.get("/verify", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
    for role in USERS:
        with closing(sign_in(console, USERS[role][0])) as client:
            assert "核验办结凭证" in client.get("/verify").text and '<a href="/verify">' in client.get("/").text


def test_a_post_without_the_sessions_token_is_refused(world):
    parts, console = world
    _, qr = receipt(parts.signer)
    with closing(sign_in(console, USERS["agent"][0])) as client:
        answer = client.post("/verify", data={"csrf": "forged", "qr": qr})
        assert answer.status_code == 403 and "核验通过" not in answer.text
        guarded(answer)


def test_a_pasted_qr_text_is_checked_against_the_seal_key(world):
    parts, console = world
    document, qr = receipt(parts.signer)
    head, digest, signature, fingerprint = qr.split(":")
    forged = f"{head}:{digest}:{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'AB'}:{fingerprint}"
    with closing(sign_in(console, USERS["agent"][0])) as client:
        token = csrf(client)
        good = client.post("/verify", data={"csrf": token, "qr": f"  {qr}\n"})
        assert good.status_code == 200 and "核验通过" in verdict(good)
        digest_hex = hashlib.sha256(document[:document.find(b"%%EOF\n") + 6]).hexdigest()
        assert text("receipt.qr_ok", digest=digest_hex, seal=parts.signer.seal_code) in verdict(good)
        guarded(good)
        bad = client.post("/verify", data={"csrf": token, "qr": forged})
        assert "核验未通过" in verdict(bad) and text("receipt.qr_bad_signature") in verdict(bad)
        nothing = client.post("/verify", data={"csrf": token, "qr": "  "})
        assert text("receipt.page_nothing") in verdict(nothing)


def test_an_uploaded_receipt_is_checked_alone_and_against_a_pasted_qr(world):
    parts, console = world
    document, qr = receipt(parts.signer)
    _, other_qr = receipt(parts.signer, person_name="李四")
    changed = document.replace(b"(YW2026112600000001 ", b"(YW2026112600000009 ", 1)
    with closing(sign_in(console, USERS["staff"][0])) as client:
        token = csrf(client)

        def post(data: bytes, value: str = ""):
            return client.post("/verify", data={"csrf": token, "qr": value},
                               files={"receipt": ("凭证.pdf", data, "application/pdf")})
        assert "核验通过" in verdict(post(document)) and "核验通过" in verdict(post(document, qr))
        assert text("receipt.qr_not_file") in verdict(post(document, other_qr))
        assert text("receipt.verify_bad_hash") in verdict(post(changed))
        assert text("receipt.stamp_changed") in verdict(post(document + b"\n% more\n"))
        too_big = post(b"%PDF-" + b"0" * (2 * 1024 * 1024))
        assert too_big.status_code == 200 and text("receipt.page_too_large", limit=2048) in verdict(too_big)


def test_an_upload_over_the_limit_is_refused_before_it_is_read(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        token = csrf(client)
        answer = client.post("/verify", data={"csrf": token},
                             files={"receipt": ("凭证.pdf", b"%PDF-" + b"0" * (3 * 1024 * 1024), "application/pdf")})
    assert answer.status_code == 413 and text("console.too_large") in answer.text
    guarded(answer)


def test_what_is_pasted_comes_back_escaped(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        token = csrf(client)
        answer = client.post("/verify", data={"csrf": token, "qr": '</textarea><script>alert(1)</script>'})
    assert "<script>alert(1)" not in answer.text and "&lt;script&gt;alert(1)" in answer.text
    assert text("receipt.qr_malformed") in verdict(answer)
    guarded(answer)


@pytest.mark.parametrize("size", [{"width": 390, "height": 844}, {"width": 1366, "height": 768}])
@pytest.mark.parametrize("role", ["agent", "staff"])
def test_the_page_in_a_browser_fits_passes_axe_and_answers(browser, world, role, size):
    from tests.e2e.test_console import signed_in
    from tests.e2e.test_console_phone import fits

    parts, console = world
    _, qr = receipt(parts.signer)
    page = signed_in(browser, console, role, size)
    try:
        page.goto(console.url + "/verify")
        fits(page, size)
        page.fill("#qr", qr)
        page.click("#verify-form button[type=submit]")
        page.wait_for_selector("#verdict")
        assert "核验通过" in page.inner_text("#verdict")
        fits(page, size)
    finally:
        page.close()

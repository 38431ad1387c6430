"""Finding 4: a scan whose first bytes pass the type check but which is a page and its script.

Served as the platform declared it, from the console's origin, the page ran its script in the
staff member's session and resolved a conflict. Scans are data now: the type their bytes show,
a download unless an image, in a CSP sandbox, never sniffed, never cached.
"""

from __future__ import annotations

import hashlib
from contextlib import closing

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from sync.ledger import tables as lt
from tests.e2e.console_world import HOSTILE_JS, USERS, hostile_page
from tests.e2e.test_console import signed_in
from tests.integration.test_sync import rows
from tests.security.console_fixtures import full_console, sign_in


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    with full_console(request.param, tmp_path_factory.mktemp(request.param), hostile=True) as found:
        yield found


def stale(parts) -> dict:
    return next(r for r in rows(parts.state, lt.conflict) if r["kind"] == "stale_change")


def scan_url(console, parts, suffix: str) -> str:
    c = stale(parts)
    return f"{console.url}/conflicts/{c['id']}/scan/{c['txn_id']}-{suffix}"


def test_the_payload_runs_when_served_as_declared(browser, world):
    """The control: the same bytes served with their declared types from the console's origin
    (as before the fix, with the console's old CSP) run the script."""
    parts, console = world
    page = browser.new_page()
    old_csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'"
    page.route(f"{console.url}/control/page", lambda route: route.fulfill(
        status=200, body=hostile_page("js"), headers={"Content-Type": "text/html", "Content-Security-Policy": old_csp}))
    page.route(f"{console.url}/control/js", lambda route: route.fulfill(
        status=200, body=HOSTILE_JS, headers={"Content-Type": "application/javascript"}))
    page.goto(f"{console.url}/control/page")
    page.wait_for_function("document.title === 'ran' || document.title === 'resolved'", timeout=5000)
    page.close()


def test_a_page_scan_opened_by_staff_runs_nothing(browser, world):
    parts, console = world
    page = signed_in(browser, console, "staff")
    url = scan_url(console, parts, "PAGE")
    with page.expect_download() as download:
        try:
            page.goto(url)
        except PlaywrightError as err:  # chromium: "Download is starting"
            assert "download" in str(err).lower()
    assert download.value.suggested_filename == "scan.pdf"
    page.wait_for_timeout(1000)
    assert page.title() not in ("ran", "resolved")
    assert stale(parts)["status"] == "open"
    assert not [a for a in rows(parts.state, lt.audit) if a["action"].startswith("resolve:")]


def test_a_script_scan_does_not_load_as_a_script_in_a_console_page(browser, world):
    """The console's own CSP allows its origin's scripts; the scan's type (image/jpeg, from its
    bytes) and nosniff keep it from running even when a console page asks for it as a script."""
    parts, console = world
    page = signed_in(browser, console, "staff")
    page.goto(f"{console.url}/conflicts/{stale(parts)['id']}")
    outcome = page.evaluate("""url => new Promise(done => {
        const s = document.createElement('script');
        s.src = url; s.onload = () => done('loaded'); s.onerror = () => done('blocked');
        document.head.appendChild(s);
    })""", scan_url(console, parts, "JS"))
    assert outcome == "blocked"
    page.wait_for_timeout(500)
    assert page.title() not in ("ran", "resolved") and stale(parts)["status"] == "open"


def test_scan_headers_come_from_the_bytes_never_from_the_platform(world):
    parts, console = world
    with closing(sign_in(console, USERS["staff"][0])) as client:
        page = client.get(scan_url(console, parts, "PAGE"))
        js = client.get(scan_url(console, parts, "JS"))
        listing = client.get(f"/conflicts/{stale(parts)['id']}")
        image_conflict = next(r for r in rows(parts.state, lt.conflict) if r["kind"] == "already_enrolled")
        image = client.get(f"/conflicts/{image_conflict['id']}/scan/{image_conflict['txn_id']}-F0")
    assert page.status_code == 200 and page.content == hostile_page(f"{stale(parts)['txn_id']}-JS")
    assert page.headers["content-type"] == "application/pdf"
    assert page.headers["content-disposition"].startswith("attachment")
    assert js.headers["content-type"] == "image/jpeg" and js.headers["content-disposition"].startswith("inline")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    for answer in (page, js, image):
        assert answer.headers["content-security-policy"].startswith("sandbox")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "text/html" not in answer.headers["content-type"]
    # The conflict page offers the declared text/html "scan" as a download link, not an image or a frame.
    assert 'download>' in listing.text and "<iframe" not in listing.text


def test_only_the_verified_file_of_an_attachment_of_this_conflict_is_served(world):
    parts, console = world
    c = stale(parts)
    other = next(r for r in rows(parts.state, lt.conflict) if r["kind"] == "already_enrolled")
    mismatch = next(r for r in rows(parts.state, lt.attachment) if r["status"] == "sha256_mismatch")
    with closing(sign_in(console, USERS["staff"][0])) as client:
        # another conflict's attachment through this conflict's address
        assert client.get(f"/conflicts/{c['id']}/scan/{other['txn_id']}-F0").status_code == 404
        # an attachment whose download did not verify
        owner = next(r for r in rows(parts.state, lt.conflict) if r["txn_id"] == mismatch["attachment_id"][:20])
        assert client.get(f"/conflicts/{owner['id']}/scan/{mismatch['attachment_id']}").status_code == 404
        # path tricks in the id
        for aid in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x" * 300):
            answer = client.get(f"/conflicts/{c['id']}/scan/{aid}")
            assert answer.status_code == 404 and answer.headers["cache-control"] == "no-store"


def test_a_file_changed_in_the_store_after_verification_is_not_served(world, tmp_path):
    parts, console = world
    c = stale(parts)
    a_id = f"{c['txn_id']}-PAGE"
    digest = rows(parts.state, lt.attachment, attachment_id=a_id)[0]["sha256"]
    path = parts.scan_dir / digest[:2] / digest
    original = path.read_bytes()
    assert hashlib.sha256(original).hexdigest() == digest
    try:
        path.write_bytes(b"%PDF- replaced")
        with closing(sign_in(console, USERS["staff"][0])) as client:
            assert client.get(f"/conflicts/{c['id']}/scan/{a_id}").status_code == 404
    finally:
        path.write_bytes(original)


def test_no_scan_without_a_session(world):
    parts, console = world
    with httpx.Client(base_url=console.url) as anonymous:
        assert anonymous.get(scan_url(console, parts, "PAGE")).status_code == 403

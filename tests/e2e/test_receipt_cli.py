"""``pension-bridge receipt verify`` with a file, a QR text, or both: one Chinese line, exit 0 when
the receipt is the configured key's, non-zero otherwise (issue 26, finding 11). Real processes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from config.catalogue import text
from sync.sealing import signer as s
from sync.sealing.receipt import QrText, render, stamped
from tests.e2e.test_cli_messages import CJK, clean_env, cli
from tests.unit.test_receipt import facts


@pytest.fixture
def sealed(tmp_path: Path):
    key = s.new_key("SM2-SM3", "5301020001", "某县社会保险事业管理局")
    s.write_key(tmp_path / "seal.json", key)
    signer = s.Sm2Signer(key)
    body = render(facts())
    digest = hashlib.sha256(body).digest()
    qr = QrText(digest, signer.sign(digest), signer.fingerprint)
    path = tmp_path / "YW2026112600000001.pdf"
    path.write_bytes(stamped(body, qr))
    env = clean_env(tmp_path, seal_key=str(tmp_path / "seal.json"), home=str(tmp_path / "home"))
    return path, str(qr), env, signer


def said(result) -> str:
    lines = [line for line in (result.stdout + result.stderr).strip().splitlines() if "BRIDGE_DATA_KEY" not in line]
    assert len(lines) == 1 and CJK.search(lines[0]) and "Traceback" not in result.stderr, (result.stdout, result.stderr)
    return lines[0]


def test_a_qr_text_a_file_and_both_verify(sealed):
    path, qr, env, signer = sealed
    alone = cli("receipt", "verify", "--qr", qr, env=env)
    assert alone.returncode == 0 and said(alone) == text("receipt.qr_ok", digest=qr_digest(qr), seal="5301020001")
    whole = cli("receipt", "verify", str(path), env=env)
    assert whole.returncode == 0 and "凭证完整，签章有效" in said(whole)
    both = cli("receipt", "verify", str(path), "--qr", qr, env=env)
    assert both.returncode == 0 and "凭证完整，签章有效" in said(both)


def qr_digest(qr: str) -> str:
    from sync.sealing.receipt import parse_qr

    return parse_qr(qr).digest.hex()


def test_tampered_or_foreign_qr_texts_and_files_are_refused(sealed, tmp_path):
    path, qr, env, _ = sealed
    head, digest, signature, fingerprint = qr.split(":")
    forged = f"{head}:{digest}:{signature[:10]}{'A' if signature[10] != 'A' else 'B'}{signature[11:]}:{fingerprint}"
    stranger = s.Sm2Signer(s.new_key("SM2-SM3", "X", "别处")).fingerprint
    cases = {
        forged: text("receipt.qr_bad_signature"),
        f"{head}:{digest}:{signature}:{stranger}": text("receipt.qr_other_key", fingerprint=stranger[:16],
                                                        seal="5301020001"),
        "https://example.invalid/not-a-receipt": text("receipt.qr_malformed"),
    }
    for value, message in cases.items():
        result = cli("receipt", "verify", "--qr", value, env=env)
        assert result.returncode == 1 and said(result) == message, (value, result.stdout, result.stderr)
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(path.read_bytes().replace(b"(YW2026112600000001 ", b"(YW2026112600000009 ", 1))
    result = cli("receipt", "verify", str(changed), env=env)
    assert result.returncode == 1 and said(result) == text("receipt.verify_bad_hash")
    result = cli("receipt", "verify", str(path), "--qr", forged, env=env)
    assert result.returncode == 1 and said(result) == text("receipt.qr_not_file")


def test_nothing_to_verify_is_a_usage_mistake(sealed):
    _, _, env, _ = sealed
    result = cli("receipt", "verify", env=env)
    assert result.returncode == 2 and said(result) == text("receipt.verify_nothing")
    assert not result.stdout.strip()


def test_a_receipt_made_before_qr_stamps_still_verifies_through_its_sidecar(sealed, tmp_path):
    _, _, env, signer = sealed

    body = render(facts())
    digest = hashlib.sha256(body).digest()
    old = tmp_path / "old.pdf"
    old.write_bytes(body)
    (tmp_path / "old.pdf.sig.json").write_text(json.dumps({
        "receipt_sha256": digest.hex(), "signature": base64.b64encode(signer.sign(digest)).decode(),
        "key_fingerprint": signer.fingerprint, "seal_code": signer.seal_code, "verify_code": "ABC"}))
    result = cli("receipt", "verify", str(old), env=env)
    assert result.returncode == 0 and said(result) == text("receipt.verify_ok", seal="5301020001", code="ABC")

"""Is a receipt intact and sealed by the configured key? (``pension-bridge receipt verify``, the
console's /verify page.)

A receipt with a QR stamp (``sync.sealing.receipt``) verifies from the file alone: its body's
hash is the one the QR text carries, the stamp is exactly the one that text makes, and the
signature is the configured key's over that hash. A QR text alone (scanned from a paper
receipt) verifies the same way, without the body. A receipt made before QR stamps needs its
``.sig.json`` beside it, as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.sealing.receipt import parse_qr, split, stamped
from sync.sealing.signer import Signer


@dataclass(frozen=True)
class Verdict:
    ok: bool
    key: str        # message catalogue key
    values: dict[str, Any] = field(default_factory=dict)


def verify_qr(value: str, signer: Signer) -> Verdict:
    """A QR text checked against the configured key: its form, its key, its signature."""
    qr = parse_qr(value)
    if qr is None:
        return Verdict(False, "receipt.qr_malformed")
    if qr.fingerprint != signer.fingerprint:
        return Verdict(False, "receipt.qr_other_key", {"fingerprint": qr.fingerprint[:16], "seal": signer.seal_code})
    if not signer.verify(qr.digest, qr.signature):
        return Verdict(False, "receipt.qr_bad_signature")
    return Verdict(True, "receipt.qr_ok", {"digest": qr.digest.hex(), "seal": signer.seal_code})


def verify_document(document: bytes, signer: Signer, sidecar: dict[str, Any] | None = None,
                    qr: str | None = None, sidecar_name: str = "") -> Verdict:
    """A receipt file's bytes checked; with ``qr``, also that it is that QR text's receipt.

    Args:
        sidecar: the ``.sig.json`` beside the file, if there is one (a receipt without a QR
            stamp needs it; with one, its hash must agree).
        qr: a QR text given apart from the file (scanned from the paper).
    """
    body, carried = split(document)
    if qr is not None and parse_qr(qr) is None:
        return Verdict(False, "receipt.qr_malformed")
    if carried is None:
        if qr is not None:
            return Verdict(False, "receipt.qr_not_file")
        return _with_sidecar(document, signer, sidecar, sidecar_name)
    own = parse_qr(carried)
    if own is None:
        return Verdict(False, "receipt.stamp_changed")
    if qr is not None and parse_qr(qr) != own:
        return Verdict(False, "receipt.qr_not_file")
    # The hash and the signature first: only a body the configured key signed is ever parsed
    # (rebuilding the stamp reads the PDF's structure with regular expressions).
    digest = hashlib.sha256(body).digest()
    if digest != own.digest or (sidecar is not None and sidecar.get("receipt_sha256") != digest.hex()):
        return Verdict(False, "receipt.verify_bad_hash")
    verdict = verify_qr(str(own), signer)
    if not verdict.ok:
        return verdict
    try:
        intact = stamped(body, own) == document
    except ValueError:
        intact = False
    if not intact:
        return Verdict(False, "receipt.stamp_changed")
    return Verdict(True, "receipt.verify_ok_qr", {"seal": signer.seal_code, "digest": digest.hex()})


def _with_sidecar(document: bytes, signer: Signer, seal: dict[str, Any] | None, name: str) -> Verdict:
    if seal is None:
        return Verdict(False, "receipt.qr_missing", {"value": name})
    digest = hashlib.sha256(document).digest()
    if digest.hex() != seal.get("receipt_sha256"):
        return Verdict(False, "receipt.verify_bad_hash")
    try:
        signature = base64.b64decode(str(seal.get("signature")), validate=True)
    except (binascii.Error, ValueError):
        return Verdict(False, "receipt.verify_bad_signature")
    if seal.get("key_fingerprint") != signer.fingerprint or not signer.verify(digest, signature):
        return Verdict(False, "receipt.verify_bad_signature")
    return Verdict(True, "receipt.verify_ok", {"seal": seal.get("seal_code"), "code": seal.get("verify_code")})


def verify_receipt(path: Path, signer: Signer, qr: str | None = None) -> Verdict:
    """The receipt file at ``path`` (and its ``.sig.json`` when there is one) checked."""
    sidecar_path = path.with_name(path.name + ".sig.json")
    sidecar = None
    if sidecar_path.exists():
        try:
            loaded = json.loads(sidecar_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            loaded = {}
        sidecar = loaded if isinstance(loaded, dict) else {}
    return verify_document(path.read_bytes(), signer, sidecar, qr, sidecar_path.name)

"""``pension-bridge receipt verify FILE``: is a receipt intact and sealed by the configured key?"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sync.sealing.signer import Signer


@dataclass(frozen=True)
class Verdict:
    ok: bool
    key: str        # message catalogue key
    values: dict


def verify_receipt(path: Path, signer: Signer) -> Verdict:
    sidecar = path.with_name(path.name + ".sig.json")
    if not sidecar.exists():
        return Verdict(False, "receipt.verify_no_sidecar", {"value": sidecar.name})
    seal = json.loads(sidecar.read_text(encoding="utf-8"))
    digest = hashlib.sha256(path.read_bytes()).digest()
    if digest.hex() != seal["receipt_sha256"]:
        return Verdict(False, "receipt.verify_bad_hash", {})
    signature = base64.b64decode(seal["signature"])
    if seal["key_fingerprint"] != signer.fingerprint or not signer.verify(digest, signature):
        return Verdict(False, "receipt.verify_bad_signature", {})
    return Verdict(True, "receipt.verify_ok", {"seal": seal["seal_code"], "code": seal["verify_code"]})

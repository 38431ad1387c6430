"""Seal keys, signatures and receipts, on plain values."""

import hashlib
import json

import pytest

from sync.sealing import signer as s
from sync.sealing.check import verify_receipt
from sync.sealing.receipt import ReceiptFacts, render

FACTS = ReceiptFacts("信息变更", "YW2026112600000001", "RH530102202611250001", "张三", "530102********123X",
                     "五华区华山街道东风社区", "审核通过，已办结", "2026-11-25 18:03:11", "2026-11-26 09:30:00",
                     "王芳", "某县社保局电子印章", "5301020001", "2026-11-26 10:00:00", "SM2-SM3", "ABCDEF123456")


@pytest.mark.parametrize("algorithm", ["SM2-SM3", "Ed25519"])
def test_signatures_verify_and_detect_tampering(algorithm):
    signer = s.SIGNERS[algorithm](s.new_key(algorithm, "C1", "印章"))
    digest = hashlib.sha256(b"receipt").digest()
    signature = signer.sign(digest)
    assert signer.verify(digest, signature)
    assert not signer.verify(hashlib.sha256(b"receipt!").digest(), signature)
    other = s.SIGNERS[algorithm](s.new_key(algorithm, "C2", "别的印章"))
    assert not other.verify(digest, signature)


def test_sm2_signing_is_deterministic_per_document():
    signer = s.Sm2Signer(s.new_key("SM2-SM3", "C1", "印章"))
    digest = hashlib.sha256(b"x").digest()
    assert signer.sign(digest) == signer.sign(digest)


def test_receipt_bytes_are_reproducible_pdf():
    first, second = render(FACTS), render(FACTS)
    assert first.startswith(b"%PDF-") and first == second
    assert render(FACTS.__class__(**{**FACTS.__dict__, "person_name": "李四"})) != first


def test_trial_key_made_once(tmp_path):
    one = s.load_signer(None, tmp_path)
    two = s.load_signer(None, tmp_path)
    assert one.fingerprint == two.fingerprint and one.seal_code == "TRIAL-0001"
    assert oct((tmp_path / "keys" / "trial-seal-SM2-SM3.json").stat().st_mode)[-3:] == "600"


def test_receipt_verification(tmp_path):
    signer = s.load_signer(None, tmp_path)
    path = tmp_path / "r.pdf"
    document = render(FACTS)
    path.write_bytes(document)
    digest = hashlib.sha256(document).digest()
    import base64
    sidecar = {"receipt_sha256": digest.hex(), "signature": base64.b64encode(signer.sign(digest)).decode(),
               "key_fingerprint": signer.fingerprint, "seal_code": signer.seal_code, "verify_code": "X"}
    (tmp_path / "r.pdf.sig.json").write_text(json.dumps(sidecar))
    assert verify_receipt(path, signer).ok
    path.write_bytes(document.replace(b"/Producer", b"/Producer "))
    assert verify_receipt(path, signer).key == "receipt.verify_bad_hash"
    path.write_bytes(document)
    stranger = s.Sm2Signer(s.new_key("SM2-SM3", "C9", "x"))
    assert verify_receipt(path, stranger).key == "receipt.verify_bad_signature"


def test_an_sm2_key_whose_x_starts_with_04_seals_and_verifies():
    """gmssl strips a leading "04" with lstrip("04"): this key lost its first digits, one in 256."""
    from gmssl import sm2

    from sync.sealing.signer import KeyFile, Sm2Signer

    private = f"{11:064x}"
    public = sm2.CryptSM2(private_key=private, public_key="")._kg(11, sm2.default_ecc_table["g"])
    assert public.startswith("04b3")
    digest = bytes(range(32))
    for given in (public, "04" + public, ("04" + public).upper()):  # as x || y, or with its prefix
        signer = Sm2Signer(KeyFile("SM2-SM3", given, private, "T-1", "试用"))
        signature = signer.sign(digest)
        assert signer.verify(digest, signature)
        assert not signer.verify(bytes(32), signature)
        assert not signer.verify(digest, bytes(64))  # a signature that is no point at all: False, no crash

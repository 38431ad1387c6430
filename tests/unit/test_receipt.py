"""The receipt (办结凭证) a resident holds: its font, metadata, layout, business details, and the QR
code that verifies it offline (issue 26, finding 11). On plain values: no database."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pytest

from config.catalogue import text
from sync.sealing import signer as s
from sync.sealing.check import verify_document, verify_qr
from sync.sealing.receipt import QR_BOX, QrText, ReceiptFacts, details, layout, parse_qr, render, split, stamped
from tests.unit.test_sealing import FACTS

AGENCY = "昆明市五华区社会保险事业管理局"
BJ = {"biz_type": "BJ", "payload": {"years": [2019, 2020, 2021], "grade": "500.00", "amount": "1500.00"}}
XXBG = {"biz_type": "XXBG", "payload": {"changes": [{"field": "grade", "old": None, "new": "200.00"},
                                                    {"field": "hukou_type", "old": "agricultural",
                                                     "new": "non_agricultural"}]}}


def facts(**over) -> ReceiptFacts:
    return replace(FACTS, **{"agency": AGENCY, "details": details(BJ), **over})


def objects(document: bytes) -> dict[int, bytes]:
    """Every object of a PDF by number, the last definition winning (as an incremental update reads)."""
    return {int(m[1]): m[2] for m in re.finditer(rb"(?<![0-9])(\d+) 0 obj\n(.*?)endobj\n", document, re.S)}


def pdf_string(raw: bytes) -> str:
    """A PDF literal string's value (reportlab writes UTF-16 with a BOM, octal escapes)."""
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\":
            nxt = raw[i + 1:i + 4]
            octal = re.match(rb"[0-7]{1,3}", nxt)
            if octal:
                out.append(int(octal[0], 8))
                i += 1 + len(octal[0])
                continue
            out.extend({b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(nxt[:1], nxt[:1]))
            i += 2
            continue
        out.append(raw[i])
        i += 1
    data = bytes(out)
    return data[2:].decode("utf-16-be") if data.startswith(b"\xfe\xff") else data.decode("latin-1")


def info(document: bytes) -> dict[str, str]:
    trailer = document[document.rfind(b"trailer"):]
    number = int(re.search(rb"/Info (\d+) 0 R", trailer)[1])
    found = {}
    for key, value in re.findall(rb"/(\w+) \(((?:\\.|[^\\)])*)\)", objects(document)[number], re.S):
        found[key.decode()] = pdf_string(value)
    return found


def sealed(f: ReceiptFacts, signer) -> tuple[bytes, bytes, QrText]:
    body = render(f)
    digest = hashlib.sha256(body).digest()
    qr = QrText(digest, signer.sign(digest), signer.fingerprint)
    return body, stamped(body, qr), qr


@pytest.fixture(scope="module")
def signer():
    return s.Sm2Signer(s.new_key("SM2-SM3", "5301020001", AGENCY))


def test_the_font_is_an_embedded_truetype_subset_and_no_font_is_left_out():
    document = render(facts())
    objs = objects(document)
    fonts = [o for o in objs.values() if re.search(rb"/Type /Font\b", o)]
    assert fonts, "no font at all"
    for font in fonts:
        assert b"/Subtype /TrueType" in font, font[:200]  # no Type0/CIDFontType0 (STSong-Light), no Type1
        assert re.search(rb"/BaseFont /[A-Z]{6}\+WenQuanYiMicroHei", font)  # a subset's tag
        descriptor = objs[int(re.search(rb"/FontDescriptor (\d+) 0 R", font)[1])]
        assert b"/FontFile2" in descriptor
    assert b"CIDFontType0" not in document and b"STSong" not in document and b"Helvetica" not in document


def test_real_metadata(signer):
    _, document, _ = sealed(facts(), signer)
    meta = info(document)
    assert meta["Title"] == text("receipt.title")
    assert meta["Author"] == AGENCY
    assert re.fullmatch(r"pension-bridge \S+", meta["Creator"])
    assert FACTS.ywlsh in meta["Subject"] and FACTS.business in meta["Subject"] and AGENCY in meta["Subject"]
    assert meta["CreationDate"] == "D:20261126100000+08'00'"  # the seal time, China time


def boxes_meet(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("many", [0, 6, 40])
def test_the_agency_and_every_line_stand_clear_of_the_seal_and_the_qr_code(many):
    lines = tuple((f"第{i}项", "很长的内容" * 12) for i in range(many))
    page = layout(facts(details=details(BJ) + lines))
    cx, cy, r = page.seal
    seal_box = (cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2)
    qx, qy, side = page.qr
    qr_box = (qx, qy, qx + side, qy + side)
    agency = [p for p in page.texts if p.role == "agency"]
    if many < 40:
        assert [p.text for p in agency] == [AGENCY] and agency[0].box[3] > seal_box[3]  # above the seal
    else:
        assert [p for p in page.texts if p.role == "more"]  # the rest said to be left out, not overprinted
    for p in page.texts:
        assert not boxes_meet(p.box, seal_box), p
        assert not boxes_meet(p.box, qr_box), p
        assert 0 <= p.box[0] and p.box[2] <= 420 and 0 <= p.box[1] and p.box[3] <= 595, p


def test_details_of_a_back_payment_a_change_and_a_cancellation():
    assert details(BJ) == ((text("field.payload.years"), "2019、2020、2021（共 3 年）"),
                           (text("field.payload.amount"), "1500元"))
    assert details(XXBG) == ((text("receipt.change"), "缴费档次：（未填） → 200元"),
                             (text("receipt.change"), "户口性质：农业户口 → 非农业户口"))
    enrol = dict(details({"biz_type": "CBDJ", "payload": {"grade": "300.00", "bank_account": {
        "bank_code": "102", "account_no": "6222020200112233", "holder_name": "张三"}}}))
    assert enrol[text("field.payload.grade")] == "300元"
    assert enrol[text("field.payload.bank_account.account_no")] == "************2233"  # the number masked
    cancel = dict(details({"biz_type": "ZXDJ", "payload": {"reason": "death", "effective_date": "2026-11-01"}}))
    assert cancel[text("field.payload.reason")] == text("value.payload.reason.death")
    assert details({"biz_type": "BJ", "payload": None}) == () and details(None) == ()


def test_platform_text_is_drawn_as_text_never_as_markup_or_controls():
    f = facts(person_name="<b>张三</b>\x1b[2J\u202e", details=(("备注", "<font color=red>x</font>"),))
    drawn = {p.text for p in layout(f).texts}
    assert "<b>张三</b>\\x1b[2J\\u202e" in drawn and "<font color=red>x</font>" in drawn
    render(f)  # drawString: nothing parsed


def qr_from_page(document: bytes) -> str:
    """Decode the QR code from what the page draws: the stamp's rectangles, rasterised, read by zxing-cpp."""
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image, ImageDraw

    body, _ = split(document)
    runs = re.findall(rb"([0-9.]+) ([0-9.]+) ([0-9.]+) ([0-9.]+) re", document[len(body):])
    assert runs
    scale, (qx, qy, side) = 4, QR_BOX
    image = Image.new("L", (int(side * scale) + 40, int(side * scale) + 40), 255)
    draw = ImageDraw.Draw(image)
    for x, y, w, h in ((float(v) for v in run) for run in runs):
        left, top = (x - qx) * scale + 20, (qy + side - y - h) * scale + 20
        draw.rectangle((left, top, left + w * scale - 1, top + h * scale - 1), fill=0)
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return found[0].text


def test_the_qr_code_decodes_to_the_receipt_hash_signature_and_fingerprint(signer):
    body, document, qr = sealed(facts(), signer)
    scanned = qr_from_page(document)
    assert scanned == str(qr) == split(document)[1]
    parsed = parse_qr(scanned)
    assert parsed.digest == hashlib.sha256(body).digest() and parsed.fingerprint == signer.fingerprint
    assert verify_qr(scanned, signer).ok
    verdict = verify_document(document, signer)
    assert verdict.ok and verdict.values["digest"] == hashlib.sha256(body).hexdigest()
    assert verify_document(document, signer, qr=scanned).ok


def flip(value: str, at: int) -> str:
    return value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1:]


def test_a_tampered_hash_signature_or_fingerprint_is_refused(signer):
    body, document, qr = sealed(facts(), signer)
    good = str(qr)
    head, digest, signature, fingerprint = good.split(":")
    other = hashlib.sha256(b"another receipt").digest()
    assert verify_qr(str(QrText(other, qr.signature, qr.fingerprint)), signer).key == "receipt.qr_bad_signature"
    assert verify_qr(f"{head}:{digest}:{flip(signature, 5)}:{fingerprint}", signer).key == "receipt.qr_bad_signature"
    stranger = s.Sm2Signer(s.new_key("SM2-SM3", "X", "别处"))
    assert verify_qr(f"{head}:{digest}:{signature}:{stranger.fingerprint}", signer).key == "receipt.qr_other_key"
    assert verify_qr(good, stranger).key == "receipt.qr_other_key"
    for bad in ("", "PB2" + good[3:], good[:-1], good + "0", good.replace(":", ";", 1), f"{good}:x"):
        assert verify_qr(bad, signer).key == "receipt.qr_malformed", bad
    # A text for this key over another hash is refused by the file: it is not this receipt's QR code.
    assert verify_document(document, signer, qr=flip(good, 6)).key in ("receipt.qr_not_file", "receipt.qr_malformed")


def test_a_changed_file_is_refused(signer):
    body, document, qr = sealed(facts(), signer)
    same_length = document.replace(b"(YW2026112600000001 ", b"(YW2026112600000009 ", 1)  # the keywords
    assert same_length != document
    assert verify_document(same_length, signer).key == "receipt.verify_bad_hash"
    longer = document.replace(b"YW2026112600000001", b"YW2026112600000002 ", 1)
    assert verify_document(longer, signer).key == "receipt.verify_bad_hash"  # the hash is checked first
    # Another update appended (it could draw over the page), a QR drawn for another text, none at all.
    assert verify_document(document + b"1 0 obj\n<< >>\nendobj\n", signer).key == "receipt.stamp_changed"
    _, other_doc, _ = sealed(facts(person_name="李四"), signer)
    swapped = body + other_doc[len(split(other_doc)[0]):]
    assert verify_document(swapped, signer).key == "receipt.verify_bad_hash"  # its QR names the other body
    assert verify_document(body, signer).key == "receipt.qr_missing"
    assert verify_document(body, signer, qr=str(qr)).key == "receipt.qr_not_file"
    # The QR text of one receipt does not pass for another's file.
    _, other_doc, other_qr = sealed(facts(person_name="王五"), signer)
    assert verify_document(document, signer, qr=str(other_qr)).key == "receipt.qr_not_file"
    # A stranger's key: the file is intact, its seal is not this agency's.
    stranger = s.Sm2Signer(s.new_key("SM2-SM3", "X", "别处"))
    assert verify_document(document, stranger).key == "receipt.qr_other_key"


def test_ed25519_receipts_carry_the_same_qr_format():
    signer = s.Ed25519Signer(s.new_key("Ed25519", "E1", AGENCY))
    _, document, qr = sealed(facts(), signer)
    assert parse_qr(str(qr)) == qr and verify_document(document, signer).ok


def test_platform_text_cannot_fake_the_end_of_the_body_or_another_page(signer):
    """What the platform sends reaches the file's metadata one line long: an ``%%EOF`` or a page
    object in a value neither ends the body early nor becomes the page the stamp draws on."""
    fake = "\n%%EOF\n3 0 obj\n<<\n/Contents 9 0 R /Type /Page\n>>\nendobj\n"
    body, document, qr = sealed(facts(txn_id="RH1" + fake, ywlsh="YW1" + fake, agency="某局" + fake,
                                      business="补缴" + fake), signer)
    assert body.count(b"%%EOF\n") == 1 and b"\n3 0 obj\n<<\n/Contents 9" not in body
    assert split(document) == (body, str(qr))
    assert verify_document(document, signer).ok and qr_from_page(document) == str(qr)


def test_an_unsigned_file_is_never_parsed_and_a_bomb_costs_nothing(signer, monkeypatch):
    """The stamp is rebuilt (regular expressions over the PDF) only for a body the key signed: a
    2 MB file of repeated "trailer<<" with a well-formed QR comment is refused by its hash."""
    from sync.sealing import check

    parsed = []
    monkeypatch.setattr(check, "stamped", lambda body, value: parsed.append(body) or b"")
    fake = f"PB1:{'A' * 43}:{'A' * 86}:{signer.fingerprint}"
    bomb = b"trailer<<" * 220_000 + b"%%EOF\n%" + fake.encode() + b"\n"
    assert verify_document(bomb, signer).key == "receipt.verify_bad_hash" and parsed == []
    body, document, qr = sealed(facts(), signer)
    forged = body + document[len(body):].replace(str(qr).encode(), str(QrText(hashlib.sha256(body).digest(),
                                                                                 bytes(64), qr.fingerprint)).encode())
    assert verify_document(forged, signer).key == "receipt.qr_bad_signature" and parsed == []


def test_one_text_per_receipt_a_longer_signature_is_refused(signer):
    """gmssl reads only a signature's first 128 hex digits: anything after them must not make
    another text (or another file) that verifies."""
    _, document, qr = sealed(facts(), signer)
    head, digest, signature, fingerprint = str(qr).split(":")
    assert len(signature) == 86 and verify_qr(str(qr), signer).ok
    for junk in ("AA", "AAAA", "A" * 300):
        assert verify_qr(f"{head}:{digest}:{signature}{junk}:{fingerprint}", signer).key == "receipt.qr_malformed"
    assert not signer.verify(qr.digest, qr.signature + b"\0" * 8)
    assert verify_document(stamped(split(document)[0], replace(qr, signature=qr.signature + b"junk")), signer).ok \
        is False


@pytest.mark.parametrize("text_", ["PB1:" + "A" * 43 + ":" + "A" * 17 + ":" + "0" * 64,
                                   "PB1:" + "A" * 43 + ":" + "A" * 85 + ":" + "0" * 64,
                                   "PB1:" + "A" * 43 + ":" + "\u00c4" * 86 + ":" + "0" * 64,
                                   "PB1:" + "A" * 100_000, "\x00" * 10, "PB1:::"])
def test_an_odd_qr_text_is_malformed_never_a_crash(signer, text_):
    assert parse_qr(text_) is None
    assert verify_qr(text_, signer).key == "receipt.qr_malformed"

"""The sealed receipt (办结凭证): a one-page PDF in Chinese, and the QR stamp that verifies it.

The text is set in WenQuanYi Micro Hei (TrueType outlines, from the ``paperang-p2-fonts-cjk``
wheel the project depends on), embedded as a subset (``FontFile2``): the receipt reads the same
on a machine without Chinese fonts. ``invariant=1`` leaves out random ids; the creation date is
the seal time; so the same facts give the same bytes, and the same hash.

A receipt file is two parts (see docs/security.md, "办结凭证的二维码"):

- the **body**, the document reportlab writes, ending at its first ``%%EOF``: its SHA-256 is
  the receipt hash (``receipt_sha256``) that the seal key signs;
- the **QR stamp**, a PDF incremental update appended to the body: a comment line carrying the
  QR text, then the page again with one more content stream that draws the QR code. The QR text
  is ``PB1:<receipt hash>:<signature>:<key fingerprint>`` (hash and signature base64url without
  padding, the fingerprint as the key's 64 hex digits). The stamp is made from the body and the
  text alone (:func:`stamp`), so a verifier makes it again and compares byte for byte.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from dataclasses import dataclass
from importlib import metadata, resources
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from config.catalogue import field_label, text
from mapping.printable import printable
from sync.comparison import PAYLOAD, change_lines, shown

FONT = "WenQuanYiMicroHei"
FONT_PACKAGE, FONT_FILE = "paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc"
QR_VERSION = "PB1"
QR_BOX = (40.0, 84.0, 100.0)  # x, y, side of the QR code on the page (points; A5 is 420 x 595)
SEAL = (316.0, 128.0, 46.0)   # centre x, centre y, radius of the seal picture
_EOF = b"%%EOF\n"
_B64 = r"[A-Za-z0-9_-]"
# The digest (32 bytes) and the signature (64: SM2's r and s, or Ed25519's) in base64url without
# padding, the key's fingerprint in hex: exactly one text for each receipt.
_QR = re.compile(rf"PB1:({_B64}{{43}}):({_B64}{{86}}):([0-9a-f]{{64}})")

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas


@functools.cache
def _pdf() -> SimpleNamespace:
    """reportlab, loaded with the font on the first receipt: a night with nothing to seal (most
    of them) starts without it."""
    from reportlab.lib.colors import HexColor, black
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen.canvas import Canvas

    with resources.as_file(resources.files(FONT_PACKAGE) / FONT_FILE) as path:
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return SimpleNamespace(Canvas=Canvas, A5=A5, black=black, red=HexColor("#D0021B"),
                           width=pdfmetrics.stringWidth)


@dataclass(frozen=True)
class ReceiptFacts:
    business: str
    ywlsh: str
    txn_id: str
    person_name: str
    id_masked: str
    region: str
    result: str
    accepted_at: str        # the platform's created_at: when the resident's business was taken in
    completed_at: str
    handler: str
    seal_name: str
    seal_code: str
    sealed_at: str
    algorithm: str
    verify_code: str
    agency: str = ""        # 经办机构; the seal's name when not given
    details: tuple[tuple[str, str], ...] = ()  # (label, value) of the business itself


def version() -> str:
    try:
        return metadata.version("pension-bridge")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- the business in words ---------------------------------------------------------------

def details(raw: Any, codes: Any = None) -> tuple[tuple[str, str], ...]:
    """What the resident's business was, from the platform's transaction: for 补缴 the years
    and the amount, for a change each field's before → after, for the others their payload's
    fields; labels and codes in words as the console shows them (``sync.comparison``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("payload"), dict):
        return ()
    biz, payload = str(raw.get("biz_type") or ""), raw["payload"]
    if biz == "XXBG":
        return tuple((text("receipt.change"), line) for line in change_lines(payload.get("changes")))
    out = []
    for path, _column, code_type in PAYLOAD.get(biz, ()):
        value: Any = payload
        for part in path.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        if path.endswith("account_no") and value:
            value = "*" * max(0, len(str(value)) - 4) + str(value)[-4:]
        if biz == "BJ" and path == "payload.years" and isinstance(value, list) and value:
            out.append((field_label(path), text("receipt.years", years=shown(value, path), count=len(value))))
            continue
        out.append((field_label(path), shown(value, path, codes, code_type)))
    return tuple(out)


# --- the page ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    """A line of text where it stands: its baseline's left end, width and size."""

    x: float
    y: float
    width: float
    size: float
    text: str
    role: str = ""

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y - 0.25 * self.size, self.x + self.width, self.y + 0.95 * self.size


@dataclass(frozen=True)
class Layout:
    texts: tuple[Placed, ...]
    seal: tuple[float, float, float]
    qr: tuple[float, float, float]


def _clean(value: Any) -> str:
    """Platform and database text as drawn: controls and bidi marks shown as escapes (never as
    they act), on one line. It is drawn with ``drawString``: nothing in it is markup."""
    return printable("" if value is None else str(value))


def _wrapped(value: str, room: float, size: float) -> list[str]:
    measure, lines, line = _pdf().width, [], ""
    for char in value:
        if line and measure(line + char, FONT, size) > room:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line or not lines else lines


def _cut(lines: list[str], most: int) -> list[str]:
    return lines if len(lines) <= most else [*lines[:most - 1], lines[most - 1][:-1] + "…"]


def _rows(f: ReceiptFacts) -> list[tuple[str, str, str]]:
    head = ("business", "ywlsh", "txn_id", "person_name", "id_masked", "region")
    tail = ("result", "accepted_at", "completed_at", "handler")
    rows = [(text(f"receipt.{k}"), getattr(f, k), k) for k in head]
    rows += [(label, value, "detail") for label, value in f.details]
    rows += [(text(f"receipt.{k}"), getattr(f, k), k) for k in tail]
    return [*rows, (text("receipt.agency"), f.agency or f.seal_name, "agency")]


def layout(f: ReceiptFacts) -> Layout:
    """Where each line goes: the rows above the seal and the QR code, never under them; a long
    value wraps, and many rows come closer together (down to 12 pt apart) to keep to the page.
    Business details that still do not fit are cut, and said to be: every other row, the agency
    among them, is always printed."""
    pdf = _pdf()
    width, height = pdf.A5
    top, bottom = height - 88, max(SEAL[1] + SEAL[2], QR_BOX[1] + QR_BOX[2]) + 6  # a descender clear of both
    label_x, value_x = 40.0, 128.0
    rows = [(label, _wrapped(_clean(value), width - 40 - value_x, 10), role) for label, value, role in _rows(f)]
    rows = [(label, lines if role == "detail" else _cut(lines, 2), role) for label, lines, role in rows]
    room = int((top - bottom) // 12) + 1  # 27 lines; the rows other than details take 22 at most
    budget = room - sum(len(lines) for _, lines, role in rows if role != "detail")
    kept = rows
    if sum(len(lines) for _, lines, role in rows if role == "detail") > budget:
        budget -= 1  # the line that says the rest is left out
        kept, full = [], False
        for label, lines, role in rows:
            if role == "detail":
                full = full or len(lines) > budget
                if full:
                    continue
                budget -= len(lines)
            if role == "result":
                kept.append(("", [text("receipt.more")], "more"))
            kept.append((label, lines, role))
    count = sum(len(lines) for _, lines, _ in kept)
    step = max(12.0, min(18.0, (top - bottom) / max(1, count - 1)))
    size = min(10.0, step * 0.62)
    placed = [Placed(width / 2 - pdf.width(text("receipt.title"), FONT, 15) / 2, height - 52,
                     pdf.width(text("receipt.title"), FONT, 15), 15, text("receipt.title"), "title")]
    y = top
    for label, lines, role in kept:
        if label:
            caption = f"{label}："
            placed.append(Placed(label_x, y, pdf.width(caption, FONT, size), size, caption, f"{role}.label"))
        for line in lines:
            placed.append(Placed(value_x if label else label_x, y, pdf.width(line, FONT, size), size, line, role))
            y -= step
    qx, qy, side = QR_BOX
    foot = [(qx, qy - 12, 7.5, text("receipt.qr_caption"), "qr_caption"),
            (40, 50, 8.5, text("receipt.sealed", at=_clean(f.sealed_at), algorithm=_clean(f.algorithm)), "sealed"),
            (40, 36, 8.5, text("receipt.verify", code=_clean(f.verify_code)), "verify")]
    placed += [Placed(x, y_, pdf.width(s, FONT, sz), sz, s, role) for x, y_, sz, s, role in foot]
    return Layout(tuple(placed), SEAL, QR_BOX)


def _seal(c: Canvas, x: float, y: float, r: float, name: str, code: str) -> None:
    """The seal picture: a red ring, a star, the agency's name and the seal code."""
    c.setStrokeColor(_pdf().red)
    c.setFillColor(_pdf().red)
    c.setLineWidth(2.5)
    c.circle(x, y, r)
    star = [(x + 16 * math.cos(math.radians(90 + i * 144)), y + 6 + 16 * math.sin(math.radians(90 + i * 144)))
            for i in range(5)]
    path = c.beginPath()
    path.moveTo(*star[0])
    for point in star[1:]:
        path.lineTo(*point)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    chord = 2 * math.sqrt(r ** 2 - 30 ** 2) - 6  # the ring's width at the name's height
    c.setFont(FONT, min(8.0, chord / max(1, len(name))))
    c.drawCentredString(x, y + 24, name[:16])
    c.setFont(FONT, 6)
    c.drawCentredString(x, y - 24, text("receipt.seal_label"))
    c.drawCentredString(x, y - 33, code)


def _pdf_date(sealed_at: str) -> str:
    digits = re.sub(r"[^0-9]", "", sealed_at)[:14]
    return f"D:{digits}+08'00'" if len(digits) == 14 else "D:20000101000000+00'00'"


def render(facts: ReceiptFacts) -> bytes:
    """The receipt's body: the document whose hash is sealed (the QR stamp comes after it)."""
    buffer = io.BytesIO()
    pdf = _pdf()
    c = pdf.Canvas(buffer, pagesize=pdf.A5, invariant=1, initialFontName=FONT)  # no Helvetica left unembedded
    agency = _clean(facts.agency or facts.seal_name)
    c.setTitle(text("receipt.title"))
    c.setAuthor(agency)
    c.setCreator(f"pension-bridge {version()}")
    c.setSubject(text("receipt.subject", business=_clean(facts.business), ywlsh=_clean(facts.ywlsh), agency=agency))
    c.setKeywords(f"{_clean(facts.ywlsh)} {_clean(facts.txn_id)}")  # one line: no newline reaches the file
    c.setDateFormatter(lambda *_: _pdf_date(facts.sealed_at))  # the seal time: creation and change
    page = layout(facts)
    for item in page.texts:
        c.setFillColor(pdf.black)
        c.setFont(FONT, item.size)
        c.drawString(item.x, item.y, item.text)
    _seal(c, *page.seal, _clean(facts.seal_name), _clean(facts.seal_code))
    c.showPage()
    c.save()
    return buffer.getvalue()


# --- the QR stamp ------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass(frozen=True)
class QrText:
    digest: bytes
    signature: bytes
    fingerprint: str

    def __str__(self) -> str:
        return f"{QR_VERSION}:{_b64(self.digest)}:{_b64(self.signature)}:{self.fingerprint}"


def parse_qr(value: str) -> QrText | None:
    """The QR text's parts, or None when it is not a receipt's (whitespace around it is allowed)."""
    found = _QR.fullmatch(value.strip())
    if found is None:
        return None
    try:
        digest, signature = _unb64(found[1]), _unb64(found[2])
    except ValueError:  # binascii.Error: not base64 after all
        return None
    if len(digest) != 32 or len(signature) != 64 or str(QrText(digest, signature, found[3])) != value.strip():
        return None  # not canonical base64url: one text per receipt
    return QrText(digest, signature, found[3])


def qr_runs(value: str, x: float, y: float, side: float) -> list[tuple[float, float, float, float]]:
    """The dark runs of the QR code of ``value`` (reportlab's QrCodeWidget, level M, a quiet
    zone of 4 modules), as (x, y, width, height) rectangles in a ``side`` square at (x, y)."""
    from reportlab.graphics.barcode.qr import QrCodeWidget

    widget = QrCodeWidget(value, barLevel="M", barBorder=4, barWidth=side, barHeight=side, x=x, y=y)
    group = widget.draw()
    return [(r.x, r.y, r.width, r.height) for r in group.contents[1:]]  # the first: the frame, unfilled


def _content(value: str) -> bytes:
    ops = ["Q", "q", "0 g"]
    ops += [f"{x:.3f} {y:.3f} {w:.3f} {h:.3f} re" for x, y, w, h in qr_runs(value, *QR_BOX)]
    return ("\n".join([*ops, "f", "Q"]) + "\n").encode()


_TRAILER = re.compile(rb"trailer\s*<<(.*?)>>\s*startxref\s*(\d+)\s*%%EOF\s*$", re.S)
_PAGE = re.compile(rb"\n(\d+) 0 obj\n<<\n(/Contents (\d+) 0 R .*?/Type /Page\n)>>\nendobj\n", re.S)


def stamp(body: bytes, value: str) -> bytes:
    """The incremental update that draws the QR code of ``value`` on ``body``'s page.

    Raises:
        ValueError: ``body`` is not a one-page receipt body as :func:`render` writes it.
    """
    trailer, page = _TRAILER.search(body), _PAGE.search(body)
    if not body.endswith(_EOF) or body.count(_EOF) != 1 or trailer is None or page is None:
        raise ValueError("not a receipt body")
    fields = dict(re.findall(rb"/(Root|Info|Size) (\d+(?: 0 R)?)", trailer[1]))
    ident = re.search(rb"/ID\s*(\[<[0-9a-f]+><[0-9a-f]+>\])", trailer[1])
    if set(fields) != {b"Root", b"Info", b"Size"} or ident is None:
        raise ValueError("not a receipt body")
    size = int(fields[b"Size"])
    opening, drawing, page_no = size, size + 1, int(page[1])
    contents = f"/Contents [ {opening} 0 R {page[3].decode()} 0 R {drawing} 0 R ]".encode()
    out, offsets = bytearray(f"%{value}\n".encode()), {}

    def obj(number: int, content: bytes) -> None:
        offsets[number] = len(body) + len(out)
        out.extend(f"{number} 0 obj\n".encode() + content + b"\nendobj\n")

    def stream(data: bytes) -> bytes:
        return f"<<\n/Length {len(data)}\n>>\nstream\n".encode() + data + b"endstream"

    obj(page_no, b"<<\n" + page[2].replace(f"/Contents {page[3].decode()} 0 R".encode(), contents, 1) + b">>")
    obj(opening, stream(b"q\n"))
    obj(drawing, stream(_content(value)))
    xref = len(body) + len(out)
    out.extend(f"xref\n{page_no} 1\n{offsets[page_no]:010d} 00000 n \n{opening} 2\n".encode())
    out.extend(f"{offsets[opening]:010d} 00000 n \n{offsets[drawing]:010d} 00000 n \n".encode())
    out.extend(b"trailer\n<<\n/ID " + ident[1] + f"\n/Info {fields[b'Info'].decode()}\n/Prev {trailer[2].decode()}"
               f"\n/Root {fields[b'Root'].decode()}\n/Size {size + 2}\n>>\nstartxref\n{xref}\n".encode() + _EOF)
    return bytes(out)


def split(document: bytes) -> tuple[bytes, str | None]:
    """(body, the QR text its stamp carries); a receipt made before QR stamps: (all, None)."""
    end = document.find(_EOF)
    if end < 0 or end + len(_EOF) == len(document):
        return document, None
    body, rest = document[:end + len(_EOF)], document[end + len(_EOF):]
    first = rest.split(b"\n", 1)[0]
    return body, first[1:].decode("ascii", "replace") if first.startswith(b"%") else ""


def stamped(body: bytes, value: QrText | str) -> bytes:
    """The receipt file: its body and the QR stamp of ``value``."""
    return body + stamp(body, str(value))

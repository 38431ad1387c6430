"""The sealed receipt (办结凭证): a one-page PDF in Chinese, byte-for-byte reproducible.

Rendered with reportlab and its built-in CID font STSong-Light, so no font file is needed;
``invariant=1`` leaves out creation dates and random ids, so the same facts give the same
bytes, and the same hash.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

from config.catalogue import text

FONT = "STSong-Light"

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas


@functools.cache
def _pdf() -> SimpleNamespace:
    """reportlab, loaded with its CID font on the first receipt: a night with nothing to seal
    (most of them) starts without it."""
    from reportlab.lib.colors import HexColor, black
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen.canvas import Canvas

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return SimpleNamespace(Canvas=Canvas, A5=A5, black=black, red=HexColor("#D0021B"))


@dataclass(frozen=True)
class ReceiptFacts:
    business: str
    ywlsh: str
    txn_id: str
    person_name: str
    id_masked: str
    region: str
    result: str
    accepted_at: str
    completed_at: str
    handler: str
    seal_name: str
    seal_code: str
    sealed_at: str
    algorithm: str
    verify_code: str


def _rows(f: ReceiptFacts) -> list[tuple[str, str]]:
    keys = ("business", "ywlsh", "txn_id", "person_name", "id_masked", "region", "result", "accepted_at",
            "completed_at", "handler")
    return [(text(f"receipt.{k}"), getattr(f, k)) for k in keys]


def _seal(c: Canvas, x: float, y: float, name: str, code: str) -> None:
    """The seal picture: a red ring, a star, the agency's name and the seal code."""
    c.setStrokeColor(_pdf().red)
    c.setFillColor(_pdf().red)
    c.setLineWidth(2.5)
    c.circle(x, y, 46)
    star = [(x + 16 * math.cos(math.radians(90 + i * 144)), y + 6 + 16 * math.sin(math.radians(90 + i * 144)))
            for i in range(5)]
    path = c.beginPath()
    path.moveTo(*star[0])
    for point in star[1:]:
        path.lineTo(*point)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    chord = 2 * math.sqrt(46 ** 2 - 30 ** 2) - 6  # the ring's width at the name's height
    c.setFont(FONT, min(8.0, chord / max(1, len(name))))
    c.drawCentredString(x, y + 24, name[:16])
    c.setFont(FONT, 6)
    c.drawCentredString(x, y - 24, text("receipt.seal_label"))
    c.drawCentredString(x, y - 33, code)


def render(facts: ReceiptFacts) -> bytes:
    buffer = io.BytesIO()
    pdf = _pdf()
    c = pdf.Canvas(buffer, pagesize=pdf.A5, invariant=1)
    width, height = pdf.A5
    c.setTitle(text("receipt.title"))
    c.setFont(FONT, 16)
    c.drawCentredString(width / 2, height - 60, text("receipt.title"))
    c.setFont(FONT, 10.5)
    y = height - 100
    for label, value in _rows(facts):
        c.setFillColor(pdf.black)
        c.drawString(40, y, f"{label}：")
        c.drawString(140, y, value)
        y -= 24
    _seal(c, width - 95, y + 20, facts.seal_name, facts.seal_code)
    c.setFillColor(pdf.black)
    c.setFont(FONT, 9)
    c.drawString(40, 70, text("receipt.sealed", at=facts.sealed_at, algorithm=facts.algorithm))
    c.drawString(40, 54, text("receipt.verify", code=facts.verify_code))
    c.showPage()
    c.save()
    return buffer.getvalue()

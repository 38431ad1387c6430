"""Deterministic scan bytes: a real file header and seeded filler, so hashes are stable."""

from __future__ import annotations

import hashlib
import random

_HEADERS = {"image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/png": b"\x89PNG\r\n\x1a\n",
            "application/pdf": b"%PDF-1.4\n"}
_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


def scan_bytes(attachment_id: str, content_type: str, size: int, seed: int) -> bytes:
    """The bytes the sandbox serves for an attachment."""
    header = _HEADERS[content_type]
    rng = random.Random(f"{seed}:{attachment_id}")
    return header + rng.randbytes(max(0, size - len(header)))


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def suffix(content_type: str) -> str:
    return _SUFFIX[content_type]

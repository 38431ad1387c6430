"""Checking an offline bundle (``packaging/build_bundle.py``) before it is installed.

``SHA256SUMS`` names every file of the bundle with its SHA-256; ``SHA256SUMS.sig`` is the ferry's
SM2-SM3 signature of those exact bytes (``sync.ferry.signing``), checked here with the sending
side's public key, as the loader checks the collector's batches.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sync.ferry.signing import Sm2BatchSigner
from sync.sealing.signer import read_key


def altered(bundle: Path) -> list[str]:
    """The files whose bytes differ from ``SHA256SUMS`` (or are missing), and unlisted files."""
    listed: dict[str, str] = {}
    for line in (bundle / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    bad = [name for name, digest in listed.items()
           if not (bundle / name).is_file() or hashlib.sha256((bundle / name).read_bytes()).hexdigest() != digest]
    present = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    return bad + sorted(present - set(listed) - {"SHA256SUMS", "SHA256SUMS.sig"})


def signed_by(bundle: Path, peer_key: Path) -> bool:
    """Whether ``SHA256SUMS.sig`` is the peer's signature of ``SHA256SUMS``."""
    sig = bundle / "SHA256SUMS.sig"
    if not sig.is_file():
        return False
    verifier = Sm2BatchSigner(None, read_key(peer_key))
    return verifier.verify((bundle / "SHA256SUMS").read_bytes(), sig.read_text(encoding="ascii").strip())

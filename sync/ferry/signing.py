"""Signing and verifying batch manifests: HMAC-SHA256 (one shared key), or SM2 with SM3.

With HMAC both sides hold the same secret (``BRIDGE_FERRY_KEY``). With SM2 each side signs with
its own private key (``BRIDGE_FERRY_KEY_FILE``) and checks the other side's batches with the
other side's public key (``BRIDGE_FERRY_PEER_KEY``); key files are the JSON of ``ferry keygen``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sync.sealing.signer import KeyFile, Sm2Signer, read_key

HMAC_SHA256, SM2_SM3 = "HMAC-SHA256", "SM2-SM3"
MIN_SECRET = 32  # characters of a shared secret: ``openssl rand -hex 32`` gives 64


class BatchSigner(Protocol):
    @property
    def algorithm(self) -> str: ...

    def sign(self, data: bytes) -> str: ...

    def verify(self, data: bytes, signature: str) -> bool: ...


@dataclass(frozen=True)
class HmacSigner:
    secret: bytes
    algorithm: str = HMAC_SHA256

    def sign(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(data), signature.strip().lower())


class Sm2BatchSigner:
    algorithm = SM2_SM3

    def __init__(self, own: KeyFile | None, peer: KeyFile | None) -> None:
        self._own = Sm2Signer(own) if own and own.private_key else None
        self._peer = Sm2Signer(peer) if peer else None

    def sign(self, data: bytes) -> str:
        if self._own is None:
            raise ValueError("BRIDGE_FERRY_KEY_FILE holds no private key: this side cannot sign")
        return self._own.sign(data).hex()

    def verify(self, data: bytes, signature: str) -> bool:
        if self._peer is None:
            raise ValueError("BRIDGE_FERRY_PEER_KEY is not set: batches of the other side cannot be checked")
        try:
            return self._peer.verify(data, bytes.fromhex(signature.strip()))
        except ValueError:
            return False


def make_signer(algorithm: str, secret: str | None, key_file: Path | None, peer_key: Path | None) -> BatchSigner:
    """The configured signer; ``ValueError`` naming the setting that is missing or too weak."""
    if algorithm == HMAC_SHA256:
        if not secret:
            raise ValueError("BRIDGE_FERRY_KEY is not set (the secret both sides share)")
        if len(secret) < MIN_SECRET:
            raise ValueError(f"BRIDGE_FERRY_KEY is too short: at least {MIN_SECRET} characters")
        return HmacSigner(secret.encode())
    if algorithm == SM2_SM3:
        if key_file is None:
            raise ValueError("BRIDGE_FERRY_KEY_FILE is not set (this side's SM2 key)")
        return Sm2BatchSigner(read_key(key_file), read_key(peer_key) if peer_key else None)
    raise ValueError(f"BRIDGE_FERRY_SIGNATURE: unknown algorithm {algorithm}")

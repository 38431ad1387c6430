"""Signing receipt hashes: SM2 with SM3 (GB/T 38540 style) by default, Ed25519 as an option.

``Signer`` is the small interface a real signing service (签章服务) can stand behind. Keys live
in a JSON file (``BRIDGE_SEAL_KEY``); without one, a trial key is made under ``BRIDGE_HOME`` on
first use, with a warning that it is not the agency's seal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from gmssl import sm2

log = structlog.get_logger(__name__)
SM2_N = int(sm2.default_ecc_table["n"], 16)


class Signer(Protocol):
    algorithm: str
    seal_code: str
    seal_name: str
    fingerprint: str

    def sign(self, digest: bytes) -> bytes: ...

    def verify(self, digest: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True)
class KeyFile:
    algorithm: str
    public_key: str
    private_key: str | None
    seal_code: str
    seal_name: str
    trial: bool = False

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(bytes.fromhex(self.public_key)).hexdigest()


def _private(key: KeyFile) -> str:
    """The private key, for signing.

    Raises:
        ValueError: the key file holds the public key only (it verifies, it does not seal).
    """
    if not key.private_key:
        raise ValueError("the seal key file holds no private key")
    return key.private_key


class Sm2Signer:
    """SM2 over the SM3 digest with the GB/T 32918 user id; deterministic nonce (as RFC 6979)."""

    algorithm = "SM2-SM3"

    def __init__(self, key: KeyFile) -> None:
        self.key, self.seal_code, self.seal_name, self.fingerprint = key, key.seal_code, key.seal_name, key.fingerprint
        self._crypt = _crypt(key.private_key, key.public_key)

    def sign(self, digest: bytes) -> bytes:
        # A nonce derived from key and message: signing the same receipt again gives the same seal.
        k = int.from_bytes(hmac.new(bytes.fromhex(_private(self.key)), digest, hashlib.sha256).digest(), "big")
        nonce = f"{k % (SM2_N - 1) + 1:064x}"
        return bytes.fromhex(self._crypt.sign_with_sm3(digest, nonce))

    def verify(self, digest: bytes, signature: bytes) -> bool:
        if len(signature) != 64:  # r and s, 32 bytes each: gmssl reads only the first 128 hex digits
            return False
        try:
            return bool(_crypt(None, self.key.public_key).verify_with_sm3(signature.hex(), digest))
        except (ValueError, IndexError, TypeError):  # gmssl's point arithmetic gives None for a bad point
            return False


def _crypt(private_key: str | None, public_key: str) -> sm2.CryptSM2:
    """gmssl's SM2 with the public key as given. Its constructor drops a leading "04" with
    ``lstrip("04")``, which strips every leading 0 and 4: one key in 256 has an x coordinate
    that starts with "04", and lost its first digits — its seals failed to verify (a test's
    random trial key hit it). The key is x || y, 128 hex digits, without the prefix."""
    crypt = sm2.CryptSM2(private_key=private_key, public_key="")
    key = public_key.lower()
    crypt.public_key = key[2:] if len(key) == 130 and key.startswith("04") else key
    return crypt


class Ed25519Signer:
    algorithm = "Ed25519"

    def __init__(self, key: KeyFile) -> None:
        self.key, self.seal_code, self.seal_name, self.fingerprint = key, key.seal_code, key.seal_name, key.fingerprint

    def sign(self, digest: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_private(self.key))).sign(digest)

    def verify(self, digest: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.key.public_key)).verify(signature, digest)
            return True
        except (InvalidSignature, ValueError):
            return False


SIGNERS: dict[str, type[Sm2Signer] | type[Ed25519Signer]] = {"SM2-SM3": Sm2Signer, "Ed25519": Ed25519Signer}


def new_key(algorithm: str, seal_code: str, seal_name: str, trial: bool = False) -> KeyFile:
    """A fresh key pair (for trials and tests; an agency's key comes from its CA)."""
    if algorithm == "Ed25519":
        private = Ed25519PrivateKey.generate()
        from cryptography.hazmat.primitives import serialization as s
        raw = private.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())
        public = private.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
        return KeyFile(algorithm, public.hex(), raw.hex(), seal_code, seal_name, trial)
    private_hex = f"{secrets.randbelow(SM2_N - 1) + 1:064x}"
    public_hex = sm2.CryptSM2(private_key=private_hex, public_key="")._kg(int(private_hex, 16),
                                                                            sm2.default_ecc_table["g"])
    return KeyFile("SM2-SM3", public_hex, private_hex, seal_code, seal_name, trial)


def read_key(path: Path) -> KeyFile:
    data = json.loads(path.read_text(encoding="utf-8"))
    return KeyFile(data["algorithm"], data["public_key"], data.get("private_key"), data["seal_code"],
                   data["seal_name"], bool(data.get("trial")))


def write_key(path: Path, key: KeyFile) -> None:
    """Write a key file its owner alone can read, from its first byte; never over another file.

    The file is created 0600 by ``open`` itself (a chmod after writing left the private key
    readable by every local user for a moment), written in full beside its destination, and
    linked into place: a reader never sees half a key, and two processes making the trial key at
    once keep one of them.

    Raises:
        FileExistsError: ``path`` exists (a key is never replaced).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(key.__dict__, ensure_ascii=False, indent=2).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_signer(key_path: Path | None, home: Path, algorithm: str = "SM2-SM3") -> Signer:
    """The configured seal key, or the trial key under ``home`` (made on first use)."""
    if key_path is None:
        key_path = home / "keys" / f"trial-seal-{algorithm}.json"
        if not key_path.exists():
            try:
                write_key(key_path, new_key(algorithm, "TRIAL-0001", "试用电子印章（非正式）", trial=True))
            except FileExistsError:
                pass  # another process made it first: its key is the one
        log.warning("seal_trial_key", path=str(key_path), note="not the agency's seal: configure BRIDGE_SEAL_KEY")
    key = read_key(key_path)
    return SIGNERS[key.algorithm](key)

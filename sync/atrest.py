"""Encryption at rest: SM4 in GCM mode under a data key, with the key's id beside each item.

The ``cryptography`` package's SM4 (OpenSSL's) in GCM mode: a 128-bit key, a random 96-bit
nonce per item, a 128-bit tag, and the item's name (a scan's SHA-256, a payload's transaction
and version) as associated data, so that an item moved under another name does not open. No
construction of our own: GCM is the standard AEAD mode (GB/T 36624 lists it for SM4), and the
nonce is never reused in practice (96 random bits per item).

Two forms, one for bytes and one for text columns:

- bytes (a scan file): ``MAGIC`` (8 bytes) | key id (8 bytes) | nonce (12) | ciphertext | tag (16)
- text (``pb_txn_version.raw``): ``pbe1:`` key id (16 hex) ``:`` base64(nonce | ciphertext | tag)

Clear items (written before a key was set, or without one) are read as they are: no clear scan
starts with ``MAGIC`` (a JPEG, PNG or PDF never does) and no clear payload with ``pbe1:`` (it is
JSON). So the reader takes both, and ``pension-bridge keys rotate`` moves each item, a batch at
a time, to the current key.

A key file is JSON ``{"algorithm": "SM4-GCM", "key_id", "key"}``, created 0600 from its first
byte (as the seal key, ``sync.sealing.signer.write_key``); every key made lives in the keys
folder, so an item under an older key still opens after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALGORITHM = "SM4-GCM"
MAGIC = b"\x00PBSM4\x01\x00"
TEXT_PREFIX = "pbe1:"
NONCE, TAG, KEY_ID = 12, 16, 8


class DataKeyError(Exception):
    """A data key that cannot be used, or an item under a key this side does not hold."""


class NotOpened(ValueError):
    """An encrypted item that does not open: another key, damaged, or moved under another name."""


@dataclass(frozen=True)
class DataKey:
    key_id: str  # 16 hex digits
    key: bytes   # 16 bytes

    @staticmethod
    def new() -> DataKey:
        key = secrets.token_bytes(16)
        return DataKey(_key_id(key), key)


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"pension-bridge data key id\0" + key).hexdigest()[:16]


def read_key(path: Path) -> DataKey:
    """Raises ``DataKeyError`` naming what is wrong with the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("algorithm") != ALGORITHM:
            raise DataKeyError(f"algorithm {data.get('algorithm')!r}, expected {ALGORITHM}")
        key = bytes.fromhex(data["key"])
    except FileNotFoundError:
        raise DataKeyError("no such file") from None
    except OSError as err:
        raise DataKeyError(type(err).__name__) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DataKeyError("not a data key file") from None
    if len(key) != 16 or data.get("key_id") != _key_id(key):
        raise DataKeyError("the key or its id is wrong")
    return DataKey(data["key_id"], key)


def write_key(path: Path, key: DataKey) -> None:
    """Created 0600 by ``open`` itself, written whole beside its place and linked in: never over
    another file (``FileExistsError``), never half a key."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps({"algorithm": ALGORITHM, "key_id": key.key_id, "key": key.key.hex()}).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@dataclass
class Keyring:
    """The current key (items are written under it) and every older one (items still open)."""

    current: DataKey | None = None
    keys: dict[str, DataKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.current is not None:
            self.keys.setdefault(self.current.key_id, self.current)

    @property
    def key_id(self) -> str | None:
        return self.current.key_id if self.current else None

    # --- bytes ------------------------------------------------------------------------------

    def seal(self, clear: bytes, name: str) -> bytes:
        """``clear`` encrypted under the current key, or as it is without one."""
        if self.current is None:
            return clear
        nonce = secrets.token_bytes(NONCE)
        enc = Cipher(algorithms.SM4(self.current.key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(name.encode())
        body = enc.update(clear) + enc.finalize()
        return MAGIC + bytes.fromhex(self.current.key_id) + nonce + body + enc.tag

    def open(self, stored: bytes, name: str) -> bytes:
        """The clear bytes of a stored item; a clear one as it is.

        Raises:
            NotOpened: encrypted under a key not held, damaged, or stored under another name.
        """
        if not is_sealed(stored):
            return stored
        key_id = stored[len(MAGIC):len(MAGIC) + KEY_ID].hex()
        key = self.keys.get(key_id)
        if key is None:
            raise NotOpened(f"encrypted under data key {key_id}, which this side does not hold")
        start = len(MAGIC) + KEY_ID
        if len(stored) < start + NONCE + TAG:
            raise NotOpened("too short")
        nonce, body, tag = stored[start:start + NONCE], stored[start + NONCE:-TAG], stored[-TAG:]
        dec = Cipher(algorithms.SM4(key.key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(name.encode())
        try:
            return dec.update(body) + dec.finalize()
        except Exception:  # cryptography's InvalidTag
            raise NotOpened("does not open: damaged, or not the item of this name") from None

    # --- text columns -----------------------------------------------------------------------

    def seal_text(self, clear: str, name: str) -> str:
        if self.current is None:
            return clear
        sealed = self.seal(clear.encode("utf-8"), name)
        return f"{TEXT_PREFIX}{self.current.key_id}:{base64.b64encode(sealed[len(MAGIC) + KEY_ID:]).decode()}"

    def open_text(self, stored: str, name: str) -> str:
        if not stored.startswith(TEXT_PREFIX):
            return stored
        try:
            key_id, body = stored[len(TEXT_PREFIX):].split(":", 1)
            raw = MAGIC + bytes.fromhex(key_id) + base64.b64decode(body, validate=True)
        except ValueError:
            raise NotOpened("not an encrypted payload") from None
        return self.open(raw, name).decode("utf-8")


def is_sealed(stored: bytes) -> bool:
    return stored[:len(MAGIC)] == MAGIC


def key_id_of(stored: bytes | str) -> str | None:
    """The id of the key an item is under; None for a clear one."""
    if isinstance(stored, str):
        return stored[len(TEXT_PREFIX):len(TEXT_PREFIX) + 16] if stored.startswith(TEXT_PREFIX) else None
    return stored[len(MAGIC):len(MAGIC) + KEY_ID].hex() if is_sealed(stored) else None


def keys_folder(home: Path) -> Path:
    return Path(home) / "keys" / "data"


def load(data_key: Path | None, home: Path) -> Keyring:
    """The keyring of a deployment: ``BRIDGE_DATA_KEY`` as the current key, every key file in
    ``$BRIDGE_HOME/keys/data/`` (where ``keys new`` writes them) to open older items.

    Raises:
        DataKeyError: ``data_key`` is set and cannot be used.
    """
    current = read_key(data_key) if data_key is not None else None
    ring = Keyring(current)
    folder = keys_folder(home)
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                key = read_key(path)
            except DataKeyError:
                continue
            ring.keys.setdefault(key.key_id, key)
    return ring


# The process's keyring, set once at wiring (``bridge.wiring``); readers below the bridge (the
# ledger, the scan store, conflicts, the console) take it from here. Empty: items kept clear.
_RING = Keyring()


def configure(ring: Keyring) -> None:
    global _RING
    _RING = ring


def ring() -> Keyring:
    return _RING

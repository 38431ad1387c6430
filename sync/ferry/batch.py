"""The batch file: one zip holding a manifest, its signature, and the members it lists.

Members are stored uncompressed (scans are JPEG and PDF already). ``manifest.json`` lists every
other member with its SHA-256 and the counts; ``manifest.sig`` signs the manifest's exact bytes.

A reader trusts nothing before the signature holds, and inflates nothing it has not bounded:
the central directory's size and that no name is there twice, the manifest's declared and real
size are checked before the manifest is read and its signature checked; every member's declared
size and compression ratio before it is read, in chunks. Then every member is checked against
the manifest. A batch damaged after it was signed (a flipped byte, a member missing, a count
that disagrees, a member added under a name like ``../x`` or ``/etc/x``) is refused whole with
the reason (``BadBatch``), never half-read: the sender's archive is intact and ``ferry resend``
heals it. What the signed manifest itself lists wrongly — a scan whose bytes are not the hash in
its name, a name that is no member of a batch — and a harmless member it does not list are set
aside unread (``dropped``); a scan set aside fails only the attachments that name it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.ferry.signing import BatchSigner

# Encryption of whole batch files (docs/privacy.md): when this side has the ferry data key
# (``BRIDGE_FERRY_DATA_KEY``, the same SM4 key file on both sides), the signed zip is written
# SM4-GCM encrypted — ``SEALED``, key id (8 bytes), nonce (12), ciphertext, tag (16), the file's
# name as associated data — and a reader holding the key decrypts it into an anonymous file under
# its own home before anything else is read. A clear batch (a peer without the key, a batch from
# before) is read as before; an encrypted one without the key, or that does not decrypt, is refused.
SEALED = b"\x00PBFERRY"
_CIPHER: dict[str, Any] = {"key": None, "scratch": None}


def configure_cipher(key: Any, scratch: Path | None = None) -> None:
    """This process's ferry data key (``sync.atrest.DataKey``) and where batches are decrypted."""
    _CIPHER.update(key=key, scratch=scratch)

FORMAT = "pension-bridge/ferry-batch"
FORMAT_VERSION = 1
KINDS = ("feed", "results")
SENDER = re.compile(r"^[A-Za-z0-9_.]{1,40}$")
NAME = re.compile(r"^pb-(feed|results)-([A-Za-z0-9_.]{1,40})-(\d{8})\.zip$")
TEMP_PREFIX = ".tmp-"
MEMBERS = {"transactions": "transactions.jsonl", "results": "results.jsonl", "acks": "acks.jsonl"}
SCAN_HASH = re.compile(r"^[0-9a-f]{64}$")  # the only form a scan's name takes, in a batch and in the store
# Bounds a reader checks before it inflates anything. A feed page is at most 500 transactions and
# a scan at most 10 MiB (``connectors.platform.client.MAX_ATTACHMENT_BYTES``): these leave room.
MAX_DIRECTORY = 4 << 20      # bytes of the zip's central directory (zipfile reads it whole)
MAX_ENTRIES = 50_000         # members
MAX_MANIFEST = 8 << 20       # manifest.json
MAX_SIGNATURE = 64 << 10     # manifest.sig
MAX_JSONL = 64 << 20         # transactions.jsonl, results.jsonl, acks.jsonl
MAX_SCAN = 16 << 20          # one scan
MAX_TOTAL = 4 << 30          # every member read
MAX_RATIO = 100              # inflated size per compressed byte, above 1 MiB
CHUNK = 1 << 20


def file_name(kind: str, sender: str, seq: int) -> str:
    return f"pb-{kind}-{sender}-{seq:08d}.zip"


def parse_name(name: str) -> tuple[str, str, int] | None:
    """(kind, sender, seq) of a complete batch's file name; None for anything else."""
    match = NAME.match(name)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer writer's additions are kept, not refused

    format: str
    format_version: int
    kind: str
    sender: str
    seq: int = Field(ge=1)
    created_at: str
    first_at: str | None = None       # updated_at range of the versions inside
    last_at: str | None = None
    positions: dict[str, str] = Field(default_factory=dict)   # feed scope -> committed updated_at
    counts: dict[str, int]
    files: dict[str, str]             # member -> SHA-256
    attachments: dict[str, dict[str, Any]] = Field(default_factory=dict)  # attachment id -> outcome
    # A results batch: the internal side's audit head signed by its seal key (``sync.audit``),
    # a second witness outside its database. Absent in batches written before it (and in feeds).
    audit_head: dict[str, Any] | None = None


class BadBatch(Exception):
    """A batch refused whole; ``reason`` is a code of the message catalogue (``ferry.bad.*``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class Contents:
    """What a batch carries, before it is written."""

    transactions: list[Any] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    # SHA-256 -> file holding the scan, or a function giving its clear bytes (read through the
    # store, which keeps it encrypted): called when the batch is written, one scan at a time
    scans: dict[str, Path | Callable[[], bytes]] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, str] = field(default_factory=dict)
    audit_head: dict[str, Any] | None = None

    def range(self) -> tuple[str | None, str | None]:
        stamps = sorted(str(t.get("updated_at"))[:19] for t in self.transactions
                        if isinstance(t, dict) and t.get("updated_at"))
        return (stamps[0], stamps[-1]) if stamps else (None, None)


def _jsonl(items: Iterable[Any]) -> bytes:
    # Keys keep the platform's order: the loader must see the very item ``sync`` would have seen.
    return b"".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for i in items)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_hash(value: object) -> str | None:
    """``value`` as a scan's name (64 lowercase hex digits), or None when it cannot be one."""
    if not isinstance(value, str):
        return None
    value = value.lower()
    return value if SCAN_HASH.match(value) else None


def write(folder: Path, kind: str, sender: str, seq: int, created_at: str, contents: Contents,
          signer: BatchSigner) -> Path:
    """Write the batch under a temporary name, flush it to disk, then rename it complete.

    A scan goes in only under a name of 64 lowercase hex digits, and only if the bytes copied
    hash to that name; anything else is a caller's error (``ValueError``) and no file is left.
    """
    if kind not in KINDS or not SENDER.match(sender):
        raise ValueError(f"batch kind {kind!r} or sender {sender!r} not allowed")
    for sha in contents.scans:
        if not isinstance(sha, str) or not SCAN_HASH.match(sha):
            raise ValueError(f"scan name {sha!r} is not a SHA-256")
    folder.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    for key, member in MEMBERS.items():
        items = getattr(contents, key)
        if items:
            members[member] = _jsonl(items)
    files = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    final = folder / file_name(kind, sender, seq)
    temp = folder / f"{TEMP_PREFIX}{final.name}.{os.getpid()}"
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
            for sha, path in sorted(contents.scans.items()):
                files[f"scans/{sha}"] = _copy_scan(archive, f"scans/{sha}", path)
            first, last = contents.range()
            manifest = Manifest(format=FORMAT, format_version=FORMAT_VERSION, kind=kind, sender=sender, seq=seq,
                                created_at=created_at, first_at=first, last_at=last, positions=contents.positions,
                                counts={"transactions": len(contents.transactions), "results": len(contents.results),
                                        "acks": len(contents.acks), "scans": len(contents.scans)},
                                files=dict(sorted(files.items())), attachments=contents.attachments)
            dumped = manifest.model_dump()
            if contents.audit_head is None:  # a batch without a head reads as before, to old readers too
                dumped.pop("audit_head", None)
            else:
                dumped["audit_head"] = contents.audit_head
            manifest_bytes = json.dumps(dumped, ensure_ascii=False, sort_keys=True, indent=1).encode()
            signature = json.dumps({"algorithm": signer.algorithm, "signature": signer.sign(manifest_bytes)}).encode()
            archive.writestr("manifest.json", manifest_bytes)
            archive.writestr("manifest.sig", signature)
        _fsync(temp)
        if _CIPHER["key"] is not None:
            sealed = temp.with_name(temp.name + ".sm4")
            try:
                _encrypt_file(temp, sealed, _CIPHER["key"], final.name)
                _fsync(sealed)
                os.replace(sealed, temp)
            finally:
                sealed.unlink(missing_ok=True)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, final)
    _fsync_dir(folder)
    return final


def _copy_scan(archive: zipfile.ZipFile, name: str, path: Path | Callable[[], bytes]) -> str:
    """Copy one scan into the archive, hashing as it goes: the hash must be the name's."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_STORED
    digest = hashlib.sha256()
    size = 0
    source = path.open("rb") if isinstance(path, Path) else io.BytesIO(path())
    with source as src, archive.open(info, "w") as dst:
        for block in iter(lambda: src.read(CHUNK), b""):
            size += len(block)
            if size > MAX_SCAN:
                raise ValueError(f"{name}: larger than {MAX_SCAN} bytes")
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != name[6:]:
        raise ValueError(f"{name}: the bytes of {path if isinstance(path, Path) else 'the scan read'} "
                         "do not hash to their name")
    return name[6:]


def _encrypt_file(src: Path, dst: Path, key: Any, name: str) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    nonce = os.urandom(12)
    enc = Cipher(algorithms.SM4(key.key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(name.encode())
    with src.open("rb") as fin, dst.open("wb") as out:
        out.write(SEALED + bytes.fromhex(key.key_id) + nonce)
        for block in iter(lambda: fin.read(CHUNK), b""):
            out.write(enc.update(block))
        out.write(enc.finalize() + enc.tag)


def _opened(path: Path) -> Any:
    """``path`` itself for a clear batch; for an encrypted one, an anonymous file (owner-only,
    gone when closed) holding the zip it decrypts to.

    Raises:
        BadBatch: encrypted under a key this side does not hold, or it does not decrypt.
    """
    import tempfile

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    with path.open("rb") as fh:
        head = fh.read(len(SEALED) + 8 + 12)
        if head[:len(SEALED)] != SEALED:
            return path
        key = _CIPHER["key"]
        key_id = head[len(SEALED):len(SEALED) + 8].hex()
        if key is None or key.key_id != key_id:
            raise BadBatch("not_decryptable", f"encrypted under ferry data key {key_id}")
        size = fh.seek(0, os.SEEK_END)
        if size < len(head) + 16 or size > MAX_TOTAL + MAX_DIRECTORY:
            raise BadBatch("unreadable", "encrypted batch of a size no writer makes")
        fh.seek(size - 16)
        tag = fh.read(16)
        dec = Cipher(algorithms.SM4(key.key), modes.GCM(head[-12:], tag)).decryptor()
        dec.authenticate_additional_data(path.name.encode())
        scratch = _CIPHER["scratch"]
        if scratch is not None:
            Path(scratch).mkdir(mode=0o700, parents=True, exist_ok=True)
        out = tempfile.TemporaryFile(dir=scratch)
        try:
            fh.seek(len(head))
            left = size - len(head) - 16
            while left > 0:
                block = fh.read(min(CHUNK, left))
                if not block:
                    raise BadBatch("unreadable", "encrypted batch cut short")
                left -= len(block)
                out.write(dec.update(block))
            try:
                out.write(dec.finalize())
            except InvalidTag:
                raise BadBatch("unreadable", "does not decrypt: damaged, or not the batch of this name") from None
            out.seek(0)
            return out
        except BaseException:
            out.close()
            raise


def copy_into(source: Path, folder: Path) -> Path:
    """Deliver a finished batch file into ``folder``: temporary name, flushed, renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f"{TEMP_PREFIX}{source.name}.{os.getpid()}"
    with source.open("rb") as src, temp.open("wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    _fsync(temp)
    final = folder / source.name
    os.replace(temp, final)
    _fsync_dir(folder)
    return final


def _fsync(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _directory(path: Path | Any) -> tuple[int, int]:
    """(members, bytes) of the zip's central directory, from its end record: read before zipfile
    reads the directory whole. Searched as zipfile searches it: the last 22 bytes, then the tail.
    ``path``: the file, or a file already open (a decrypted batch)."""
    import contextlib

    with (path.open("rb") if isinstance(path, Path) else contextlib.nullcontext(path)) as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        length = min(end, 22 + 0xFFFF)
        fh.seek(end - length)
        tail = fh.read(length)
        at = length - 22 if tail[-22:-18] == b"PK\x05\x06" and tail[-2:] == b"\0\0" else tail.rfind(b"PK\x05\x06")
        if at < 0 or length - at < 22:
            raise BadBatch("unreadable", "no end of central directory")
        entries, size, offset = struct.unpack("<HLL", tail[at + 10:at + 20])
        if entries == 0xFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:  # zip64: the locator before it
            locator = tail[at - 20:at] if at >= 20 else b""
            if locator[:4] != b"PK\x06\x07":
                raise BadBatch("unreadable", "no zip64 locator")
            (record_at,) = struct.unpack("<Q", locator[8:16])
            if record_at > end - 56:
                raise BadBatch("unreadable", "zip64 end record out of the file")
            fh.seek(record_at)
            record = fh.read(56)
            if record[:4] != b"PK\x06\x06":
                raise BadBatch("unreadable", "no zip64 end record")
            entries, size = struct.unpack("<QQ", record[32:48])
    return entries, size


def safe_name(name: str) -> bool:
    """A member name that names nothing outside the batch on any system: no absolute path, no
    ``..``, ``.`` or empty segment, no backslash, colon or NUL, not too long."""
    if not name or len(name) > 200 or name.startswith("/") or any(c in name for c in "\\:\0"):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _allowed(name: str) -> bool:
    """A name a batch member may have: a JSON Lines member, or a scan named by its SHA-256."""
    return name in MEMBERS.values() or (name.startswith("scans/") and bool(SCAN_HASH.match(name[6:])))


class Batch:
    """A batch file read and verified: bounds, names, signature, every member's hash, counts, name.

    ``dropped``: (member, why) set aside unread — listed wrongly by the signed manifest, or not
    listed by it. ``bad_scans``: the names (as the manifest gives them) of scans set aside; an
    attachment whose ``sha256`` is one of them, or is no SHA-256, has no scan in this batch.
    """

    def __init__(self, path: Path, signer: BatchSigner, own: bool = False) -> None:
        """``own``: a batch this side wrote (its archive): checked by hash, not by the peer's key;
        a scan of its own whose bytes went bad is set aside, not refused (``salvage`` rebuilds)."""
        self.path, self.own = path, own
        self.dropped: list[tuple[str, str]] = []
        self.bad_scans: set[str] = set()
        self._cache: dict[str, list[Any]] = {}
        self.file_sha256 = sha256_file(path)
        source = _opened(path)  # the file itself, or the zip an encrypted one decrypts to
        self._clear = None if source is path else source
        try:
            entries, size = _directory(source)
            if size > MAX_DIRECTORY or entries > MAX_ENTRIES:
                raise BadBatch("too_large", f"central directory: {entries} members, {size} bytes")
            try:
                self._zip = zipfile.ZipFile(source)
            except Exception as err:  # a damaged file can make zipfile raise almost anything
                raise BadBatch("unreadable", f"{type(err).__name__}: {err}") from None
        except BaseException:
            if self._clear is not None:
                self._clear.close()
            raise
        try:
            self._infos = self._names()
            self.manifest = self._verify(signer)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._zip.close()
        if self._clear is not None:
            self._clear.close()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _names(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BadBatch("too_large", f"{len(infos)} members")
        out: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in out:
                raise BadBatch("duplicate_member", info.filename)
            out[info.filename] = info
        return out

    def _info(self, name: str, limit: int) -> zipfile.ZipInfo:
        """The member's entry, its declared size and compression checked before anything is inflated."""
        info = self._infos.get(name)
        if info is None:
            raise BadBatch("missing_member", name)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadBatch("compression_method", f"{name}: method {info.compress_type}")
        if info.file_size > limit:
            raise BadBatch("too_large", f"{name}: {info.file_size} bytes, at most {limit}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise BadBatch("unreadable", f"{name}: stored, yet {info.compress_size} bytes hold {info.file_size}")
        if info.file_size > CHUNK and info.file_size > MAX_RATIO * info.compress_size:
            raise BadBatch("compression_ratio", f"{name}: {info.compress_size} bytes inflate to {info.file_size}")
        return info

    def _chunks(self, name: str, limit: int) -> Iterator[bytes]:
        """The member's bytes in chunks of at most 1 MiB, never more than it declared."""
        info = self._info(name, limit)
        read = 0
        try:
            with self._zip.open(info) as fh:
                while block := fh.read(CHUNK):
                    read += len(block)
                    if read > info.file_size:
                        raise BadBatch("too_large", f"{name}: more bytes than the {info.file_size} declared")
                    yield block
        except BadBatch:
            raise
        except Exception as err:  # CRC error, truncation, a flipped compression method or flag
            raise BadBatch("unreadable", f"{name}: {type(err).__name__}: {err}") from None

    def _read(self, name: str, limit: int) -> bytes:
        return b"".join(self._chunks(name, limit))

    def _sha256(self, name: str, limit: int) -> str:
        digest = hashlib.sha256()
        for block in self._chunks(name, limit):
            digest.update(block)
        return digest.hexdigest()

    def _verify(self, signer: BatchSigner) -> Manifest:
        names = set(self._infos)
        if "manifest.json" not in names:
            raise BadBatch("no_manifest")
        if "manifest.sig" not in names:
            raise BadBatch("unsigned")
        manifest_bytes = self._read("manifest.json", MAX_MANIFEST)
        try:
            sig = json.loads(self._read("manifest.sig", MAX_SIGNATURE))
            algorithm, signature = str(sig["algorithm"]), str(sig["signature"])
        except (ValueError, KeyError, TypeError):
            raise BadBatch("unsigned", "manifest.sig is not a signature") from None
        if not self.own:
            if algorithm != signer.algorithm:
                raise BadBatch("wrong_algorithm", f"{algorithm}, expected {signer.algorithm}")
            if not signer.verify(manifest_bytes, signature):
                raise BadBatch("bad_signature")
        try:
            manifest = Manifest.model_validate_json(manifest_bytes)
        except ValidationError as err:
            raise BadBatch("bad_manifest", str(err).splitlines()[0]) from None
        if manifest.format != FORMAT or manifest.format_version > FORMAT_VERSION:
            raise BadBatch("bad_manifest", f"format {manifest.format} {manifest.format_version}")
        if parse_name(self.path.name) != (manifest.kind, manifest.sender, manifest.seq):
            raise BadBatch("name_mismatch", self.path.name)
        # What the signed manifest lists wrongly is set aside unread; what it does not list, too.
        listed: dict[str, str] = {}
        for name, expected in manifest.files.items():
            if not _allowed(name):  # e.g. ``scans//etc/passwd``: signed, yet no member's name; never read
                self._drop(name, "not_a_member_name")
            elif name.startswith("scans/") and expected != name[6:]:
                self._drop(name, "scan_not_its_hash")
            else:
                listed[name] = expected
        for name in sorted(names - set(manifest.files) - {"manifest.json", "manifest.sig"}):
            if not safe_name(name):  # no writer of batches made it: someone on the way did
                raise BadBatch("unsafe_name", repr(name)[:200])
            self.dropped.append((name, "unlisted"))
        limits = {name: MAX_SCAN if name.startswith("scans/") else MAX_JSONL for name in listed}
        total = sum(self._info(name, limit).file_size for name, limit in limits.items())
        if total > MAX_TOTAL:
            raise BadBatch("too_large", f"members: {total} bytes, at most {MAX_TOTAL}")
        for name, expected in listed.items():
            if self._sha256(name, limits[name]) == expected:
                continue
            if self.own and name.startswith("scans/"):  # gone bad in this side's archive: rebuilt without it
                self._drop(name, "scan_damaged")
                continue
            raise BadBatch("hash_mismatch", name)
        self._listed = listed
        counts = {key: len(self._lines(member)) for key, member in MEMBERS.items()}
        counts["scans"] = sum(1 for n in manifest.files if n.startswith("scans/"))
        for key, value in counts.items():
            if manifest.counts.get(key, 0) != value:
                raise BadBatch("count_mismatch", f"{key}: {value} != {manifest.counts.get(key, 0)}")
        return manifest

    def _drop(self, name: str, why: str) -> None:
        self.dropped.append((name, why))
        if name.startswith("scans/"):
            self.bad_scans.add(name[6:].lower())

    def _lines(self, member: str) -> list[Any]:
        if member not in self._listed:
            return []
        if member not in self._cache:
            try:
                self._cache[member] = [json.loads(line) for line in self._read(member, MAX_JSONL).splitlines()
                                       if line.strip()]
            except ValueError as err:
                raise BadBatch("bad_member", f"{member}: {err}") from None
        return self._cache[member]

    def items(self, key: str) -> list[Any]:
        return self._lines(MEMBERS[key])

    def scan_names(self) -> list[str]:
        """The SHA-256s of the scans this batch carries, verified."""
        return [name[6:] for name in self._listed if name.startswith("scans/") and name[6:] not in self.bad_scans]

    def scan(self, sha: str) -> bytes:
        """One verified scan's bytes (at most ``MAX_SCAN``), read in chunks."""
        if f"scans/{sha}" not in self._listed or sha in self.bad_scans:
            raise KeyError(sha)
        return self._read(f"scans/{sha}", MAX_SCAN)

    def scans(self) -> Iterator[tuple[str, bytes]]:
        for sha in self.scan_names():
            yield sha, self._read(f"scans/{sha}", MAX_SCAN)

    def carries(self, sha256: object) -> bool | None:
        """For an attachment's ``sha256``: True if this batch carries its scan, False if its scan
        was set aside or it is no SHA-256 at all, None if this batch has nothing to say."""
        sha = scan_hash(sha256)
        if sha is None or sha in self.bad_scans:
            return False
        return True if f"scans/{sha}" in self._listed else None

    @property
    def clean(self) -> bool:
        """Nothing set aside: the batch is exactly what a sound writer writes."""
        return not self.dropped

    def contents(self) -> Contents:
        """The batch as it was written (scans left in the file)."""
        return Contents(transactions=self.items("transactions"), results=self.items("results"),
                        acks=self.items("acks"), attachments=dict(self.manifest.attachments),
                        positions=dict(self.manifest.positions), audit_head=self.manifest.audit_head)

    def salvage(self, folder: Path) -> Contents:
        """The batch as a sound writer writes it: the verified scans copied into ``folder``, what
        was set aside left out, and an attachment whose scan is not carried marked as failed."""
        contents = self.contents()
        for sha in self.scan_names():
            target = folder / sha
            with target.open("wb") as out:
                for block in self._chunks(f"scans/{sha}", MAX_SCAN):
                    out.write(block)
            contents.scans[sha] = target
        for aid, outcome in contents.attachments.items():
            if isinstance(outcome, dict) and outcome.get("status") == "ok" and not self.carries(outcome.get("sha256")):
                contents.attachments[aid] = {**outcome, "status": "sha256_mismatch"}
        return contents

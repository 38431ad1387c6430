"""The batch file: one zip holding a manifest, its signature, and the members it lists.

Members are stored uncompressed (scans are JPEG and PDF already). ``manifest.json`` lists every
other member with its SHA-256 and the counts; ``manifest.sig`` signs the manifest's exact bytes.
A reader trusts nothing before the signature holds, then checks every member against the
manifest: one flipped byte anywhere, a member missing or added, a count that disagrees, and the
whole batch is refused with the reason (``BadBatch``), never half-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.ferry.signing import BatchSigner

FORMAT = "pension-bridge/ferry-batch"
FORMAT_VERSION = 1
KINDS = ("feed", "results")
SENDER = re.compile(r"^[A-Za-z0-9_.]{1,40}$")
NAME = re.compile(r"^pb-(feed|results)-([A-Za-z0-9_.]{1,40})-(\d{8})\.zip$")
TEMP_PREFIX = ".tmp-"
MEMBERS = {"transactions": "transactions.jsonl", "results": "results.jsonl", "acks": "acks.jsonl"}


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
    scans: dict[str, Path] = field(default_factory=dict)     # SHA-256 -> file holding the scan
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: dict[str, str] = field(default_factory=dict)

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


def write(folder: Path, kind: str, sender: str, seq: int, created_at: str, contents: Contents,
          signer: BatchSigner) -> Path:
    """Write the batch under a temporary name, flush it to disk, then rename it complete."""
    if kind not in KINDS or not SENDER.match(sender):
        raise ValueError(f"batch kind {kind!r} or sender {sender!r} not allowed")
    folder.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes | Path] = {}
    for key, member in MEMBERS.items():
        items = getattr(contents, key)
        if items:
            members[member] = _jsonl(items)
    for sha, path in sorted(contents.scans.items()):
        members[f"scans/{sha}"] = path
    files = {name: hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else sha256_file(data)
             for name, data in members.items()}
    first, last = contents.range()
    manifest = Manifest(format=FORMAT, format_version=FORMAT_VERSION, kind=kind, sender=sender, seq=seq,
                        created_at=created_at, first_at=first, last_at=last, positions=contents.positions,
                        counts={"transactions": len(contents.transactions), "results": len(contents.results),
                                "acks": len(contents.acks), "scans": len(contents.scans)},
                        files=files, attachments=contents.attachments)
    manifest_bytes = json.dumps(manifest.model_dump(), ensure_ascii=False, sort_keys=True, indent=1).encode()
    signature = json.dumps({"algorithm": signer.algorithm, "signature": signer.sign(manifest_bytes)}).encode()
    final = folder / file_name(kind, sender, seq)
    temp = folder / f"{TEMP_PREFIX}{final.name}.{os.getpid()}"
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", manifest_bytes)
        archive.writestr("manifest.sig", signature)
        for name, data in members.items():
            if isinstance(data, bytes):
                archive.writestr(name, data)
            else:
                archive.write(data, name)
    _fsync(temp)
    os.replace(temp, final)
    _fsync_dir(folder)
    return final


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


class Batch:
    """A batch file read and verified: signature, every member's hash, counts, name."""

    def __init__(self, path: Path, signer: BatchSigner, own: bool = False) -> None:
        """``own``: a batch this side wrote (its archive): checked by hash, not by the peer's key."""
        self.path, self.own = path, own
        self.file_sha256 = sha256_file(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except Exception as err:  # a damaged file can make zipfile raise almost anything
            raise BadBatch("unreadable", f"{type(err).__name__}: {err}") from None
        try:
            self.manifest = self._verify(signer)
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, name: str) -> bytes:
        try:
            return self._zip.read(name)
        except KeyError:
            raise BadBatch("missing_member", name) from None
        except Exception as err:  # CRC error, truncation, a flipped compression method or flag
            raise BadBatch("unreadable", f"{name}: {type(err).__name__}: {err}") from None

    def _verify(self, signer: BatchSigner) -> Manifest:
        names = set(self._zip.namelist())
        if "manifest.json" not in names:
            raise BadBatch("no_manifest")
        if "manifest.sig" not in names:
            raise BadBatch("unsigned")
        manifest_bytes = self._read("manifest.json")
        try:
            sig = json.loads(self._read("manifest.sig"))
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
        listed = set(manifest.files)
        if names - listed - {"manifest.json", "manifest.sig"}:
            raise BadBatch("unlisted_member", ", ".join(sorted(names - listed))[:200])
        for name, expected in manifest.files.items():
            if hashlib.sha256(self._read(name)).hexdigest() != expected:
                raise BadBatch("hash_mismatch", name)
            if name.startswith("scans/") and name[6:] != expected:
                raise BadBatch("hash_mismatch", name)
        counts = {key: len(self._lines(member, manifest)) for key, member in MEMBERS.items()}
        counts["scans"] = sum(1 for n in manifest.files if n.startswith("scans/"))
        for key, value in counts.items():
            if manifest.counts.get(key, 0) != value:
                raise BadBatch("count_mismatch", f"{key}: {value} != {manifest.counts.get(key, 0)}")
        return manifest

    def _lines(self, member: str, manifest: Manifest) -> list[Any]:
        if member not in manifest.files:
            return []
        try:
            return [json.loads(line) for line in self._read(member).splitlines() if line.strip()]
        except ValueError as err:
            raise BadBatch("bad_member", f"{member}: {err}") from None

    def items(self, key: str) -> list[Any]:
        return self._lines(MEMBERS[key], self.manifest)

    def scans(self) -> Iterator[tuple[str, bytes]]:
        for name in self.manifest.files:
            if name.startswith("scans/"):
                yield name[6:], self._read(name)

    def contents(self) -> Contents:
        """The batch as it was written (scans left in the file)."""
        return Contents(transactions=self.items("transactions"), results=self.items("results"),
                        acks=self.items("acks"), attachments=dict(self.manifest.attachments),
                        positions=dict(self.manifest.positions))

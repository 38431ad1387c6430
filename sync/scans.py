"""Scans: fetched once, concurrently, verified, kept content-addressed under ``BRIDGE_HOME``.

A scan's file is named by the SHA-256 of its bytes and by nothing else: a name is accepted only
as 64 lower-case hex digits (``checked``), and a file is written only under the hash of what it
holds. A declared hash that is a path, a number or anything else never reaches the file system.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypeGuard

import structlog

from connectors.platform import NotFound, PlatformClient
from connectors.platform.client import ScanRejected
from mapping.types import PLATFORM_ID, SHA256_HEX
from sync import atrest

log = structlog.get_logger(__name__)


class ScanStore:
    """Files named by their SHA-256: a scan already kept is never fetched again.

    Each file holds the scan encrypted under the data key (``sync.atrest``, SM4-GCM, the hash as
    associated data) when the deployment has one, else the scan itself; it is named by the hash
    of the CLEAR bytes either way, and ``read`` takes both forms."""

    def __init__(self, root: Path, ring: atrest.Keyring | None = None) -> None:
        self.root = root
        self._base = str(root)
        self._folders: set[str] = set()  # fan-out folders known to exist
        self._ring = ring  # None: the process's keyring (``atrest.configure``)

    @property
    def ring(self) -> atrest.Keyring:
        return self._ring if self._ring is not None else atrest.ring()

    def path(self, sha256: str) -> Path:
        """The file of the scan whose bytes hash to ``sha256``.

        Raises:
            ValueError: ``sha256`` is not 64 lower-case hex digits.
        """
        sha256 = checked(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: object) -> bool:
        if not is_sha256(sha256):
            return False
        return os.path.isfile(os.path.join(self._base, sha256[:2], sha256))

    def read(self, sha256: str) -> bytes:
        """The bytes kept under ``sha256``, checked again against it (a file changed on disk is
        not served as the scan it claims to be).

        Raises:
            ValueError: not a hash; ``ScanUnreadable`` (an ``OSError``): the file no longer
                holds those bytes, or does not open.
            FileNotFoundError: no such scan is kept.
        """
        return self.open_file(self.path(sha256))

    def open_file(self, path: Path) -> bytes:
        """The clear bytes of a file of this store, found by ``path`` (its name is the hash they
        must have): decrypted when encrypted, checked against the name either way.

        Raises:
            ScanUnreadable: the name is not a hash, the file does not open under a key held, or
                its bytes are not those of its name (an ``OSError``: a caller serving files
                treats it as a file it cannot read).
            FileNotFoundError: no such file.
        """
        name = Path(path).name
        if not is_sha256(name):
            raise ScanUnreadable("not a scan file of the store")
        stored = Path(path).read_bytes()
        try:
            content = self.ring.open(stored, name)
        except atrest.NotOpened as err:
            raise ScanUnreadable(f"scan {name[:12]}: {err}") from None
        if hashlib.sha256(content).hexdigest() != name:
            raise ScanUnreadable("scan file does not match its name")
        return content

    def put(self, sha256: str, content: bytes) -> None:
        """Write atomically: a crash leaves no half file under the final name.

        Raises:
            ValueError: ``sha256`` is not a hash, or not the hash of ``content``.

        Plain ``os`` calls on purpose: ``tempfile.mkstemp`` and ``pathlib`` cost more CPU than the
        write itself. The temporary name is unique per process and thread; a leftover from a
        killed run is overwritten, never read.
        """
        sha256 = checked(sha256)
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ValueError("scan bytes do not match the hash they are to be kept under")
        self._write(sha256, self.ring.seal(content, sha256))

    def _write(self, sha256: str, stored: bytes) -> None:
        folder = os.path.join(self._base, sha256[:2])
        if folder not in self._folders:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            self._folders.add(folder)
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, stored)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(folder, sha256))

    def files(self) -> Iterable[Path]:
        """Every scan file of the store (named by a hash, in its fan-out folder)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for path in sorted(folder.iterdir()):
                    if is_sha256(path.name) and path.name[:2] == folder.name and path.is_file():
                        yield path

    def rotate(self) -> tuple[int, int]:
        """Re-encrypt every scan not yet under the current data key (clear ones too), one file
        at a time, each replaced whole; (moved, not opened). Resumable: a file already under the
        current key is only looked at (its first 16 bytes)."""
        ring = self.ring
        if ring.current is None:
            raise atrest.DataKeyError("no current data key (BRIDGE_DATA_KEY)")
        moved = failed = 0
        for path in self.files():
            with path.open("rb") as fh:
                if atrest.key_id_of(fh.read(16)) == ring.current.key_id:
                    continue
            try:
                content = self.open_file(path)
            except ScanUnreadable:
                failed += 1
                continue
            self._write(path.name, ring.seal(content, path.name))
            moved += 1
        return moved, failed

    def delete(self, sha256: str) -> bool:
        """Remove the scan kept under ``sha256`` (retention); whether there was one."""
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False


class ScanUnreadable(OSError, ValueError):
    """A kept scan that cannot be served as the scan it names: a ``ValueError`` as a file whose
    bytes changed always was, an ``OSError`` to whoever serves files."""


def is_sha256(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and SHA256_HEX.fullmatch(value) is not None


def checked(sha256: object) -> str:
    """``sha256`` when it is 64 lower-case hex digits: the only names the store knows.

    Raises:
        ValueError: anything else.
    """
    if not is_sha256(sha256):
        raise ValueError("not a SHA-256 hex digest")
    return sha256


def declared(a: dict[str, Any]) -> str | None:
    """The declared hash of an attachment, folded to lower case, when it has the shape of one."""
    value = a.get("sha256")
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if is_sha256(value) else None


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view):]


@dataclass(frozen=True)
class ScanOutcome:
    attachment_id: str
    status: str  # ok | missing | sha256_mismatch | type_not_allowed | too_large | no_hash | bad_declaration
    sha256: str | None
    kind: str | None
    content_type: str | None
    size: int | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ScanFetcher:
    """Fetches what the store lacks, with ``workers`` requests at once (paced by the client)."""

    def __init__(self, client: PlatformClient, store: ScanStore, workers: int) -> None:
        self.client, self.store, self.workers = client, store, workers
        self.fetched = 0

    def outcomes(self, attachments: Iterable[dict[str, Any]], verified: dict[str, str] | None = None
                 ) -> dict[str, ScanOutcome]:
        """Outcome per attachment id, from the store or a download.

        ``verified``: attachment id -> the hash its bytes were checked to have on an earlier fetch
        (``store.verified_scans``). A scan is taken from the store without a request only for that
        attachment and that hash: a declared hash that happens to name a kept file — another
        person's scan — proves nothing until the platform serves those bytes for this attachment.
        Any other outcome is fetched again, so a failure is never final.
        """
        verified = verified or {}
        todo, done = [], {}
        unique: dict[str, dict[str, Any]] = {}
        claims: dict[str, set[str]] = {}  # attachment id -> every well-formed hash declared for it
        for a in attachments:
            if isinstance(a, dict) and isinstance(a.get("attachment_id"), str) and PLATFORM_ID.fullmatch(a["attachment_id"]):
                unique.setdefault(a["attachment_id"], a)
                claims.setdefault(a["attachment_id"], set()).update(filter(None, [declared(a)]))
        order = list(unique)
        for a_id, a in unique.items():
            valid, known = claims[a_id], verified.get(a_id)
            if not valid:  # a path, a number: never a file name; or no hash at all
                done[a_id] = _outcome(a, "bad_declaration" if a.get("sha256") is not None else "no_hash")
            elif known in valid and self.store.has(known):
                done[a_id] = _outcome(a, "ok", known)
            elif _declared_size(a) > MAX_SCAN_BYTES:  # the platform's own limit: not worth a request
                done[a_id] = _outcome(a, "too_large")
            else:
                # Not kept: fetched, even when an earlier version's fetch failed (a 40401 that was
                # temporary, bytes the agent has since replaced). This is called for new versions
                # only, so a failed scan costs one request per version the agent sends, not per night.
                # Two records of the batch may name one id with different hashes: it is fetched once,
                # and its outcome carries the hash its bytes have, which only its true claimant matches.
                todo.append((a, frozenset(valid)))
        if todo:
            self._fetch(todo, done)
            done = {a_id: done[a_id] for a_id in order}  # the attachments' order, not the downloads'
        return done

    def _fetch(self, todo: list[tuple[dict[str, Any], frozenset[str]]], done: dict[str, ScanOutcome]) -> None:
        """Download with ``workers`` threads; this thread writes the files as they arrive.

        At most ``window`` downloads are asked for or wait in memory. A standard executor rather
        than a crew of our own: at the platform's 10 requests a second the CPU an executor's
        futures cost is invisible, and the code is the standard library's to keep correct.

        Each future puts itself on a queue when it is done, and this thread takes them from it one
        at a time: ``wait(FIRST_COMPLETED)`` over the window instead installed and removed a waiter
        on every running future for every download (about a tenth of the scans phase's CPU).
        """
        window = self.workers * 4
        waiting = iter(todo)
        finished: queue.SimpleQueue[Future[tuple[Any, str]]] = queue.SimpleQueue()
        running: dict[Future[tuple[Any, str]], tuple[dict[str, Any], frozenset[str]]] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="scans") as pool:
            def submit(claim: tuple[dict[str, Any], frozenset[str]]) -> None:
                future = pool.submit(self._download, claim)
                running[future] = claim
                future.add_done_callback(finished.put)

            for claim in islice(waiting, window):
                submit(claim)
            try:
                while running:
                    future = finished.get()
                    self._keep(running.pop(future), future.result(), done)
                    for claim in islice(waiting, 1):
                        submit(claim)
            finally:
                for future in running:  # a failure: what has not started is not sent
                    future.cancel()

    def _download(self, claim: tuple[dict[str, Any], frozenset[str]]) -> tuple[Any, str]:
        a, valid = claim
        expected = next(iter(valid)) if len(valid) == 1 else None  # contested: checked below instead
        try:
            scan = self.client.attachment(a["attachment_id"], expected)
        except NotFound:
            return None, "missing"
        except ScanRejected as err:
            return None, err.reason
        return (scan, "ok") if scan.sha256 in valid else (None, "sha256_mismatch")

    def _keep(self, claim: tuple[dict[str, Any], frozenset[str]], result: tuple[Any, str],
              done: dict[str, ScanOutcome]) -> None:
        a, _ = claim
        scan, status = result
        if scan is not None:
            self.store.put(scan.sha256, scan.content)
            self.fetched += 1
        done[a["attachment_id"]] = _outcome(a, status, scan.sha256 if scan is not None else None)


MAX_SCAN_BYTES = 10 * 1024 * 1024  # platform-api.md §5


def _declared_size(a: dict[str, Any]) -> int:
    size = a.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


def _short(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def recorded(attachments: Any, statuses: dict[str, tuple[str, str | None]]) -> dict[str, ScanOutcome]:
    """Outcomes as the ledger recorded them (attachment id -> (status, verified hash)), without
    fetching: ``ok`` only where the hash recorded is the one declared now."""
    out = {}
    for a in attachments if isinstance(attachments, list) else []:
        if not (isinstance(a, dict) and isinstance(a.get("attachment_id"), str)
                and PLATFORM_ID.fullmatch(a["attachment_id"])):
            continue
        status, sha256 = statuses.get(a["attachment_id"], ("missing", None))
        ok = status == "ok" and sha256 is not None and sha256 == declared(a)
        out[a["attachment_id"]] = _outcome(a, "ok" if ok else (status if status != "ok" else "missing"))
    return out


def _outcome(a: dict[str, Any], status: str, sha256: str | None = None) -> ScanOutcome:
    """What the ledger keeps of an attachment: the hash only in its checked form (for a scan kept,
    the hash of its bytes), the agent's words (kind, declared type) only as short text; nothing of
    it is used as a name or a type."""
    size = _declared_size(a)
    return ScanOutcome(a["attachment_id"], status, sha256 or declared(a), _short(a.get("kind"), 40),
                       _short(a.get("content_type"), 40), size if 0 < size < 2**31 else None)

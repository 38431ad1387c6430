"""Scans: fetched once, concurrently, verified, kept content-addressed under ``BRIDGE_HOME``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from connectors.platform import NotFound, PlatformClient
from connectors.platform.client import ScanRejected

log = structlog.get_logger(__name__)


class ScanStore:
    """Files named by their SHA-256: a scan already kept is never fetched again."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str | None) -> bool:
        return bool(sha256) and self.path(sha256.lower()).is_file()

    def put(self, sha256: str, content: bytes) -> None:
        """Write atomically: a crash leaves no half file under the final name."""
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, target)


@dataclass(frozen=True)
class ScanOutcome:
    attachment_id: str
    status: str  # ok | missing | sha256_mismatch | type_not_allowed | too_large | no_hash
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

    def outcomes(self, attachments: Iterable[dict[str, Any]], known: dict[str, str]) -> dict[str, ScanOutcome]:
        """Outcome per attachment id. ``known``: attachment id -> status recorded earlier."""
        todo, done = [], {}
        for a in {a["attachment_id"]: a for a in attachments}.values():
            status = "ok" if self.store.has(a.get("sha256")) else known.get(a["attachment_id"])
            if status in ("ok", "missing", "sha256_mismatch", "type_not_allowed", "too_large"):
                done[a["attachment_id"]] = _outcome(a, status)
            elif not a.get("sha256"):
                done[a["attachment_id"]] = _outcome(a, "no_hash")
            else:
                todo.append(a)
        if todo:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for outcome in pool.map(self._fetch, todo):
                    done[outcome.attachment_id] = outcome
        return done

    def _fetch(self, a: dict[str, Any]) -> ScanOutcome:
        try:
            scan = self.client.attachment(a["attachment_id"], a.get("sha256"))
        except NotFound:
            return _outcome(a, "missing")
        except ScanRejected as err:
            return _outcome(a, err.reason)
        self.store.put(scan.sha256, scan.content)
        self.fetched += 1
        return _outcome(a, "ok")


def _outcome(a: dict[str, Any], status: str) -> ScanOutcome:
    size = a.get("size") if isinstance(a.get("size"), int) else None
    return ScanOutcome(a["attachment_id"], status, a.get("sha256"), a.get("kind"), a.get("content_type"), size)

"""The sandbox platform's state and its behaviour per the contract, without HTTP.

Transactions are kept as current snapshots in feed order (``updated_at``, ``txn_id``);
a new version moves a transaction to its new place. A version becomes visible only at
its ``visible_at`` (the visibility lag of §4).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import math
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.scans import scan_bytes

FMT = "%Y-%m-%d %H:%M:%S"
TZ = ZoneInfo("Asia/Shanghai")


class ApiError(Exception):
    """An enveloped error answer: ``code``, HTTP status and optional ``data``."""

    def __init__(self, code: int, status: int, message: str, data: Any = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.data, self.retry_after = code, status, data, retry_after


@dataclass
class App:
    secret: str
    prefixes: tuple[str, ...] = ()  # regions the key may read; empty: all


NONCE_WINDOW = 600.0  # seconds a nonce may not be used again


@dataclass
class PlatformState:
    """Everything the sandbox platform knows; thread-safe."""

    apps: dict[str, App]
    seed: int = 0
    lag_seconds: float = 0.0          # each new version becomes visible up to this much later
    scan_delay: float = 0.0           # seconds every scan download takes (a slow scan store)
    cursor_ttl: float = 86400.0
    rate: float = 0.0                 # requests/s per key; 0: unlimited
    burst: int = 20
    limited: int = 0                  # 42901 answered by the limit above
    clock_skew: float = 0.0
    txns: dict[str, dict[str, Any]] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    _order: list[tuple[str, str]] = field(default_factory=list)
    _visible_at: dict[str, float] = field(default_factory=dict)
    _nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)  # arrival order: O(1) expiry
    _idem: dict[str, tuple[str, Any]] = field(default_factory=dict)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _cursor_key: bytes = b"sandbox-cursor-key"
    _cursor_epoch: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _rng: random.Random = field(default_factory=random.Random)

    # --- clock ---------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_skew

    def local_now(self) -> datetime:
        return datetime.fromtimestamp(self.now(), TZ).replace(tzinfo=None, microsecond=0)

    # --- loading and changing transactions -------------------------------------------

    def load(self, scenario: dict[str, Any]) -> None:
        self.seed = scenario.get("seed", 0)
        self.attachments.update(scenario.get("attachments", {}))
        for txn in scenario["transactions"]:
            self.put(txn, lag=0.0)

    def put(self, txn: dict[str, Any], lag: float | None = None) -> None:
        """Store a snapshot as the transaction's current version; visible after ``lag`` seconds."""
        with self._lock:
            old = self.txns.get(txn["txn_id"])
            key = (str(txn.get("updated_at")), txn["txn_id"])
            # An old place in the order is left behind and skipped when read (lazy deletion).
            if old is None or str(old.get("updated_at")) != key[0]:
                if not self._order or key > self._order[-1]:
                    self._order.append(key)
                else:
                    bisect.insort(self._order, key)
            self.txns[txn["txn_id"]] = txn
            delay = self._rng.uniform(0, self.lag_seconds) if lag is None else lag
            self._visible_at[txn["txn_id"]] = self.now() + delay

    def expire_cursors(self) -> None:
        """Every cursor handed out so far answers 41001 from now on."""
        with self._lock:
            self._cursor_epoch += 1

    # --- authentication and pacing ----------------------------------------------------

    def check_nonce(self, nonce: str) -> None:
        """A nonce seen in the last 600 s is refused. Nonces are kept in arrival order and the
        expired ones dropped from the front, O(1) per request: rebuilding the whole dict whenever
        it held 100,000 made every request past that O(n) — the 100,000-transaction benchmark
        crawled at a hundred requests a second."""
        now = self.now()
        with self._lock:
            while self._nonces:
                oldest, seen = next(iter(self._nonces.items()))
                if now - seen < NONCE_WINDOW:
                    break
                self._nonces.popitem(last=False)
            if nonce in self._nonces:
                raise ApiError(40103, 401, "nonce reused")
            self._nonces[nonce] = now

    def take_token(self, app_key: str) -> None:
        """The contract's limit (§2): a token bucket of ``rate`` per second and ``burst`` per key.

        Past it, 42901 as a conforming platform answers: ``data.retry_after`` the seconds until
        the bucket holds a token again, ``Retry-After`` the same in whole seconds (HTTP's form),
        and every other one with HTTP 200 rather than 429 (the platform does both). A refused
        request takes no token."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(app_key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            self._buckets[app_key] = (tokens, now)
            if tokens < 1:
                self.limited += 1
                wait = round((1 - tokens) / self.rate, 3)
                raise ApiError(42901, 429 if self.limited % 2 else 200, "rate limited", {"retry_after": wait},
                               retry_after=float(max(1, math.ceil(wait))))
            self._buckets[app_key] = (tokens - 1, now)

    # --- the feed ---------------------------------------------------------------------

    def _cursor(self, position: tuple[str, str], prefix: str | None) -> str:
        body = json.dumps([position[0], position[1], prefix, self.now(), self._cursor_epoch]).encode()
        mac = hmac.new(self._cursor_key, body, hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + mac

    def _uncursor(self, cursor: str) -> tuple[tuple[str, str], str | None]:
        try:
            encoded, mac = cursor.rsplit(".", 1)
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            ok = hmac.compare_digest(hmac.new(self._cursor_key, body, hashlib.sha256).hexdigest()[:16], mac)
            updated, txn_id, prefix, issued, epoch = json.loads(body)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ApiError(40001, 400, "invalid cursor")
        if self.now() - issued > self.cursor_ttl or epoch != self._cursor_epoch:
            raise ApiError(41001, 410, "cursor expired")
        return (updated, txn_id), prefix

    def feed(self, updated_after: str | None, cursor: str | None, limit: int, prefix: str | None) -> dict[str, Any]:
        if cursor:
            after, prefix = self._uncursor(cursor)
        else:
            after = (updated_after, "\uffff") if updated_after else ("", "")
        with self._lock:
            items, keys = self._collect(after, limit + 1, prefix)
        has_more = len(items) > limit
        next_cursor = self._cursor(keys[limit - 1], prefix) if has_more else None
        return {"items": items[:limit], "next_cursor": next_cursor, "has_more": has_more}

    def _collect(self, after: tuple[str, str], want: int, prefix: str | None) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        now = self.now()
        items: list[dict[str, Any]] = []
        keys: list[tuple[str, str]] = []
        order = self._order
        for i in range(bisect.bisect_right(order, after), len(order)):  # no copy of the rest for each page
            key = order[i]
            txn = self.txns[key[1]]
            if str(txn.get("updated_at")) != key[0]:
                continue  # an older place of a transaction that has moved on
            if prefix and not str(txn.get("region_code", "")).startswith(prefix):
                continue
            if self._visible_at.get(key[1], 0) > now:
                continue
            items.append(txn)
            keys.append(key)
            if len(items) >= want:
                break
        return items, keys

    # --- single objects ----------------------------------------------------------------

    def transaction(self, txn_id: str) -> dict[str, Any]:
        txn = self.txns.get(txn_id)
        if txn is None:
            raise ApiError(40401, 404, "transaction not found")
        return txn

    def attachment(self, attachment_id: str) -> tuple[bytes, str]:
        meta = self.attachments.get(attachment_id)
        if meta is None:
            raise ApiError(40401, 404, "attachment not found")
        if "content" in meta:
            return meta["content"], meta["content_type"]
        return scan_bytes(attachment_id, meta["content_type"], meta["size"], self.seed), meta["content_type"]

    # --- write-back ----------------------------------------------------------------------

    def write_result(self, txn_id: str, body: dict[str, Any], key: str, raw: bytes) -> Any:
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            if key in self._idem:
                first_digest, answer = self._idem[key]
                if first_digest != digest:
                    raise ApiError(40001, 400, "Idempotency-Key reused with a different body")
                return answer
            answer = self._apply_result(txn_id, body)
            self._idem[key] = (digest, answer)
            return answer

    def _apply_result(self, txn_id: str, body: dict[str, Any]) -> dict[str, Any]:
        check_result_body(body)
        txn = self.transaction(txn_id)
        if txn.get("version") != body["version"] or txn.get("status") == "withdrawn":
            raise ApiError(40901, 409, "transaction changed", {"current_version": txn.get("version"),
                                                               "status": txn.get("status")})
        updated = dict(txn, version=txn["version"] + 1, status=body["outcome"],
                       updated_at=max(self.local_now(), _parse(txn.get("updated_at")) + timedelta(seconds=1)).strftime(FMT))
        if body["outcome"] == "completed":
            updated["seal_status"] = "sealed"
        self.put(updated)
        self.results.append({"txn_id": txn_id, **body})
        return {"txn_id": txn_id, "version": updated["version"], "status": updated["status"],
                "seal_status": updated.get("seal_status", "unsealed")}


def _parse(text: object) -> datetime:
    try:
        return datetime.strptime(str(text), FMT)
    except (TypeError, ValueError):
        return datetime(1970, 1, 1)


_SEAL_FIELDS = ("seal_code", "sealed_at", "receipt_sha256", "signature", "algorithm")


def check_result_body(body: Any) -> None:
    """The write-back body rules of §6; 40001 naming the first broken one."""
    def bad(why: str) -> ApiError:
        return ApiError(40001, 400, f"invalid result: {why}")
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        raise bad("version")
    outcome = body.get("outcome")
    if outcome not in ("accepted", "completed", "rejected"):
        raise bad("outcome")
    if outcome == "rejected" and not body.get("reason"):
        raise bad("reason is required when rejected")
    if "processed_at" in body and _parse(body["processed_at"]) == datetime(1970, 1, 1):
        raise bad("processed_at")
    seal = body.get("seal")
    if (outcome == "completed") != (seal is not None):
        raise bad("seal is required when completed and forbidden otherwise")
    if seal is not None and (not isinstance(seal, dict) or any(not seal.get(f) for f in _SEAL_FIELDS)):
        raise bad("seal fields")
    if seal is not None and seal["algorithm"] not in ("SM2-SM3", "Ed25519"):
        raise bad("seal.algorithm")

"""A hostile platform on 127.0.0.1: it answers the bridge with whatever bytes a test gives it.

The sandbox serialises its own state and so can only send what ``json.dumps`` can write; an
attacker with an agent's account, or a broken platform release, can send anything. This server
answers the change feed with fixed bodies (one per page), attachments with fixed bytes, and every
write-back with success, and records what was asked of it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

BASE = "/open/v1"


def envelope(data: Any) -> bytes:
    return json.dumps({"code": 0, "message": "ok", "request_id": "r", "data": data}, ensure_ascii=False).encode()


def feed_page(items_json: list[bytes]) -> bytes:
    """A feed page whose items are raw JSON texts, spliced in as they are."""
    return (b'{"code":0,"message":"ok","request_id":"r","data":{"items":[' + b",".join(items_json)
            + b'],"next_cursor":null,"has_more":false}}')


class HostilePlatform(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, page: bytes, attachments: dict[str, tuple[bytes, str]] | None = None) -> None:
        self.page, self.attachments = page, attachments or {}
        self.asked: list[str] = []
        self.results: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{BASE}"

    def __enter__(self) -> HostilePlatform:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostilePlatform

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.asked.append(path)
        if path == f"{BASE}/pension/transactions":
            self._send(200, self.server.page)
        elif path.startswith(f"{BASE}/attachments/"):
            found = self.server.attachments.get(unquote(path.rsplit("/", 1)[1]))
            if found is None:
                self._send(404, json.dumps({"code": 40401, "message": "not found", "request_id": "r",
                                            "data": None}).encode())
            else:
                self._send(200, found[0], found[1])
        else:
            self._send(404, json.dumps({"code": 40401, "message": "no", "request_id": "r", "data": None}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.results.append(body)
        txn_id = unquote(urlsplit(self.path).path.split("/")[-2])
        self._send(200, envelope({"txn_id": txn_id, "version": int(body.get("version", 1)) + 1,
                                  "status": body.get("outcome"), "seal_status": "unsealed"}))

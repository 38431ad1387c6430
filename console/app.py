"""The console's routes: thin handlers over the conflict, report and run services."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.catalogue import field_label, has, text
from connectors.platform.client import sniff
from console import access
from console.auth import IDLE_MINUTES, SESSION_HOURS, LoginRefused, User, login, logout, session_user
from mapping.businesses import registry as business_types
from reports.render import bars, write
from reports.unsynced import BUCKETS, Summary, UnsyncedReport, collect
from reports.unsynced import Filters as ReportFilters
from sync import comparison, conflicts, services
from sync.engine import Parts
from sync.ledger import tables as t
from sync.resolutions import Refused
from sync.scans import ScanStore, declared
from sync.status import new_business, waited_days, waited_since

COOKIE, LOGIN_COOKIE = "pb_session", "pb_login"
NEEDS_REASON = frozenset({"reject", "return"})
MAX_ID = 2**31 - 1  # the conflict ids the ledger's INTEGER column can hold
_HEX64 = re.compile(r"[0-9a-f]{64}")
_AGE = re.compile(r"[0-9]{1,5}(\.[0-9]{1,3})?")
_REGION = re.compile(r"[0-9]{2,12}")
_AFTER = re.compile(r"([0-9: -]{0,19})~([0-9]{1,10})")  # a queue page's key: created_at ~ conflict id
PAGE_SIZE = 30
MAX_QR, MAX_RECEIPT = 2000, 2 * 1024 * 1024  # a receipt's QR text, a receipt's PDF: far above either
COUNTS_SECONDS = 30.0  # the queue's totals may be this old (a resolve here refreshes them at once)
_IMAGES = frozenset({"image/jpeg", "image/png"})
_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
Totals = tuple[dict[str, int], list[int]]  # the queue's counts by kind, and by wait (conflicts.counts)
# Templates compiled once and kept: no stat of the files on every page (a new release restarts the console).
_env = Environment(loader=PackageLoader("console"), autoescape=select_autoescape(["html", "j2"]), auto_reload=False)
_env.filters["segment"] = lambda value: quote(str(value), safe="")  # a platform id as one path segment


class BadQuery(Exception):
    """A query value the page does not know: answered 400, never 500."""


class Console:
    """The application and what it needs: the wired parts, a clock, cookie policy."""

    def __init__(self, parts: Parts, clock: Callable[[], datetime], secure_cookies: bool = False,
                 idle_minutes: float = IDLE_MINUTES) -> None:
        self.parts, self.clock, self.secure = parts, clock, secure_cookies
        self.idle = timedelta(minutes=idle_minutes)
        self._counts: dict[Any, tuple[float, Totals]] = {}
        self._counts_lock = threading.Lock()
        self._flights: dict[Any, threading.Lock] = {}
        self._recount: set[Any] = set()
        routes = [Route("/login", self.login_page, methods=["GET"]), Route("/login", self.login_post, methods=["POST"]),
                  Route("/logout", self.logout, methods=["POST"]), Route("/", self.queue),
                  Route("/conflicts/{cid:int}", self.conflict),
                  Route("/conflicts/{cid:int}/scan/{aid}", self.scan),
                  Route("/conflicts/{cid:int}/confirm", self.confirm, methods=["POST"]),
                  Route("/conflicts/{cid:int}/resolve", self.resolve, methods=["POST"]),
                  Route("/reports", self.reports), Route("/reports/unsynced.{fmt}", self.download),
                  Route("/runs", self.runs), Route("/verify", self.verify, methods=["GET", "POST"])]
        handlers: dict[Any, Callable[..., Any]] = {HTTPException: self.http_error, BadQuery: self.bad_query,
                                                   Exception: self.server_error}
        self.starlette = Starlette(routes=routes, exception_handlers=handlers, middleware=[Middleware(_BodyLimit)])
        # Outside Starlette's own error middleware, so that its 500 answers get the headers too.
        self.app = _SecurityHeaders(self.starlette)

    # --- helpers ----------------------------------------------------------------------

    def page(self, name: str, user: User | None, status: int = 200, **values: Any) -> HTMLResponse:
        body = _env.get_template(name).render(t=text, label=field_label, readable=conflicts.readable, user=user,
                                              has=has, button=access.button_label,
                                              readable_time=comparison.shown, new_business=new_business, **values)
        return HTMLResponse(body, status_code=status)

    @functools.cached_property
    def reads(self) -> Engine:
        """The state database for reads of one statement each (and the session's one-statement
        writes): in autocommit, so that no BEGIN and no ROLLBACK go to the server around them — two
        round trips of the three a queue page made for each connection it used."""
        return self.parts.state.execution_options(isolation_level="AUTOCOMMIT")

    def user(self, request: Request) -> User | None:
        return session_user(self.reads, request.cookies.get(COOKIE), self.clock(), self.idle)

    def refuse(self, user: User | None, status: int = 403) -> HTMLResponse:
        key = "console.forbidden" if status == 403 else "console.not_found"
        return self.page("error.html.j2", user, status=status, message=text(key))

    # --- errors: the console's own page and headers, never a trace -------------------------

    async def http_error(self, request: Request, exc: HTTPException) -> Response:
        key = {404: "console.page_not_found", 405: "console.method_not_allowed",
               413: "console.too_large"}.get(exc.status_code,
                                                                                     "console.bad_request")
        return self.page("error.html.j2", None, status=exc.status_code, message=text(key))

    async def bad_query(self, request: Request, exc: BadQuery) -> Response:
        return self.page("error.html.j2", None, status=400, message=text("console.bad_request"))

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return self.page("error.html.j2", None, status=500, message=text("console.server_error"))

    async def form(self, request: Request, user: User) -> dict[str, Any] | None:
        """The posted form when its CSRF token is the session's, else None."""
        data = await request.form(max_files=1, max_fields=MAX_FIELDS)
        token = data.get("csrf", "")
        return dict(data) if user.csrf and secrets.compare_digest(str(token), user.csrf) else None

    # --- login --------------------------------------------------------------------------

    async def login_page(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = self.page("login.html.j2", None, status=status, csrf=token, error=error)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=self.secure)
        return response

    async def login_post(self, request: Request) -> Response:
        data = await request.form()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not secrets.compare_digest(str(data.get("csrf", "")), expected):
            return await self.login_page(request, text("console.csrf_failed"), status=403)
        begun = anyio.current_time()
        try:  # argon2 and the database block: off the event loop, which keeps serving everyone else
            token = await run_in_threadpool(login, self.parts.state, str(data.get("name", ""))[:60],
                                            str(data.get("password", ""))[:1024], self.clock())
        except LoginRefused as refused:
            # Every refusal answers ``delay`` after the request came in, whatever work it took: a
            # known name (its counter written, its audit entry) is not slower than an unknown one.
            await anyio.sleep(max(0.0, refused.delay - (anyio.current_time() - begun)))
            return await self.login_page(request, text("console.login_failed"), status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=self.secure,
                            max_age=SESSION_HOURS * 3600)
        return response

    async def logout(self, request: Request) -> Response:
        user = self.user(request)
        if user is None or await self.form(request, user) is None:
            return self.refuse(user)
        logout(self.parts.state, request.cookies.get(COOKIE), self.clock())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # --- the queue ----------------------------------------------------------------------

    def _filters(self, user: User, request: Request) -> tuple[conflicts.Filters, dict[str, Any]]:
        """The queue's filters from the query, checked; what the page shows of them."""
        q = request.query_params
        region, kind, biz, age, mine = (q.get(k) or "" for k in ("region", "kind", "biz_type", "min_age", "mine"))
        if region and not _REGION.fullmatch(region) or kind and kind not in _all_kinds() \
                or biz and biz not in business_types.codes() or age and not _AGE.fullmatch(age) or mine not in ("", "0", "1"):
            raise BadQuery()
        outside = bool(region) and not region.startswith(user.region_prefix)
        if outside or not region:
            region = user.region_prefix
        min_age = float(age) if age else None
        if min_age is not None and not math.isfinite(min_age):
            raise BadQuery()
        mine_on = access.mine(user, mine)
        since = f"{self.clock() - timedelta(days=min_age):%Y-%m-%d %H:%M:%S}" if min_age is not None else None
        filters = conflicts.Filters(region=region, kind=kind or None, biz_type=biz or None,
                                    kinds=access.visible_kinds(user), agent_id=user.agent_id if mine_on else None,
                                    waiting_since=since)
        return filters, {"region": region, "kind": kind, "biz_type": biz, "min_age": age, "mine": mine_on,
                         "outside": outside}

    def _totals(self, filters: conflicts.Filters) -> Totals:
        """Counts by kind and by wait. At 150,000 open conflicts they cost far more than the page
        (one pass over them all), and every user reloads the queue: kept for ``COUNTS_SECONDS``,
        computed once however many ask at the same moment, and once old served as they are while
        one thread counts again. A resolution here drops them (``resolve``)."""
        now = self.clock()
        key = (filters, now.strftime("%Y%m%d%H"))
        with self._counts_lock:
            cached = self._counts.get(key)
            if cached is not None and time.monotonic() - cached[0] >= COUNTS_SECONDS and key not in self._recount:
                self._recount.add(key)
                threading.Thread(target=self._count, args=(key, filters, now), daemon=True).start()
            if cached is not None:
                return cached[1]
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:  # the first to ask counts; the others wait for its answer
            cached = self._counts.get(key)
            return cached[1] if cached is not None else self._count(key, filters, now)

    def _count(self, key: Any, filters: conflicts.Filters, now: datetime) -> Totals:
        thresholds = tuple(f"{now - timedelta(days=limit):%Y-%m-%d %H:%M:%S}" for limit, _ in BUCKETS if limit)
        try:
            found = conflicts.counts(self.reads, filters, thresholds)
        finally:
            with self._counts_lock:
                self._recount.discard(key)
        with self._counts_lock:
            if len(self._counts) > 500:
                self._counts.clear()
                self._flights.clear()
            self._counts[key] = (time.monotonic(), found)
        return found

    async def queue(self, request: Request) -> Response:
        # One trip to a worker thread for all of it (the session, the page, the counts, the HTML):
        # the event loop, which parses and answers every request, never waits on the database or
        # on Jinja, and one page costs one hand-off instead of three.
        return await run_in_threadpool(self._queue, request)

    def _queue(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        filters, shown = self._filters(user, request)
        after = _after(request.query_params.get("after") or "")
        rows, next_key = conflicts.page(self.reads, filters, after, PAGE_SIZE)
        by_kind, by_wait = self._totals(filters)
        now = self.clock()
        for r in rows:
            r["days"] = waited_days(waited_since(r["created_at"], r["first_seen_at"]), now)
            r["next_step"] = conflicts.next_step(r["kind"], user.role)
        rows = [access.line_for(user, r) for r in rows]
        total, older = by_wait[0], by_wait[1:]  # created after each threshold, newest first
        buckets = [n - (older[i - 1] if i else 0) for i, n in enumerate(older)] + [total - (older[-1] if older else 0)]
        next_query = None
        if next_key is not None:
            next_query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in (
                ("region", shown["region"]), ("kind", shown["kind"]), ("biz_type", shown["biz_type"]),
                ("min_age", shown["min_age"]), ("mine", "1" if shown["mine"] else "0"),
                ("after", f"{next_key[0]}~{next_key[1]}")) if v != "")
        return self.page("queue.html.j2", user, rows=rows, total=total,
                         by_kind=sorted(by_kind.items(), key=lambda kv: -kv[1]),
                         by_age=list(zip([name for _, name in BUCKETS], buckets)), query=shown,
                         kinds=sorted(access.visible_kinds(user) or _all_kinds()), next_query=next_query,
                         biz_types=business_types.codes(),
                         paged=after is not None)

    def _conflict_for(self, user: User, cid: int) -> dict[str, Any] | None:
        if not 0 < cid <= MAX_ID:
            return None
        try:
            found = conflicts.show(self.parts.state, cid)
        except conflicts.NotFound:
            return None
        return found

    async def conflict(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        found = self._conflict_for(user, request.path_params["cid"])
        if found is None:
            return self.refuse(user, 404)
        if not access.may_see(user, found):
            return self.refuse(user)
        done = request.query_params.get("done") or ""
        return self.conflict_page(user, found, done=done if has(f"state.{done}") else None)

    def conflict_page(self, user: User, found: dict[str, Any], status: int = 200, done: str | None = None,
                      refused: str | None = None) -> HTMLResponse:
        """The conflict as this user may read it; ``done`` a state key, ``refused`` a catalogue text."""
        shown = access.for_user(user, found)
        attachments = self._attachments(found)
        return self.page("conflict.html.j2", user, status=status, c=shown,
                         table=comparison.compare(shown, self.parts.codes), resident=comparison.resident(shown),
                         next_step=conflicts.next_step(found["kind"], user.role, _materials(found, attachments)),
                         actions=access.actions_for(user, found["kind"]), attachments=attachments,
                         done=done, refused=refused)

    def _store(self) -> ScanStore:
        return ScanStore(Path(self.parts.scan_dir or Path(self.parts.home) / "scans"))

    def _attachments(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        """The conflict's attachments, each with the file the bridge verified for it (or None) and
        the type its bytes show. Nothing the platform declared decides how a scan is served."""
        items = [a for a in found["platform"].get("attachments") or []
                 if isinstance(a, dict) and isinstance(a.get("attachment_id"), str)]
        with self.parts.state.connect() as conn:
            verified = {r.attachment_id: r.sha256 for r in conn.execute(select(t.attachment).where(
                t.attachment.c.attachment_id.in_([a["attachment_id"] for a in items]),
                t.attachment.c.status == "ok"))}
        store, out = self._store(), []
        for a in items:
            # The file verified for this id, and only if it is the one this snapshot declares: an
            # attachment id alone is another transaction's as easily as this one's.
            mine = verified.get(a["attachment_id"])
            path = _scan_path(store, mine if mine is not None and mine == declared(a) else None)
            kind = None
            if path is not None:
                try:
                    kind = sniff(store.open_file(path)[:16])  # decrypted and checked (sync.atrest)
                except OSError:
                    path = None
            out.append({"attachment_id": a["attachment_id"], "kind": str(a.get("kind") or ""),
                        "path": path if kind else None, "type": kind, "ok": kind is not None,
                        "image": kind in _IMAGES, "sha256": mine if kind else None})
        return out

    async def scan(self, request: Request) -> Response:
        """A scan as data, never as a page: the type its bytes show, a download unless an image, in a
        sandbox, never sniffed, never cached; read by the hash the bridge verified, nothing else."""
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        if user is None or found is None or not access.may_see(user, found):
            return self.refuse(user)
        wanted = next((a for a in self._attachments(found) if a["attachment_id"] == request.path_params["aid"]), None)
        if wanted is None or wanted["path"] is None:
            return self.refuse(user, 404)
        try:
            content = await anyio.to_thread.run_sync(self._store().open_file, wanted["path"])
        except OSError:
            return self.refuse(user, 404)
        kind = sniff(content)
        if kind is None or hashlib.sha256(content).hexdigest() != wanted["sha256"]:
            return self.refuse(user, 404)  # the file is no longer the one verified
        disposition = "inline" if kind in _IMAGES else "attachment"
        headers = {"Content-Disposition": f'{disposition}; filename="scan.{_SUFFIX[kind]}"',
                   "Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "no-store"}
        return Response(content, media_type=kind, headers=headers)

    async def confirm(self, request: Request) -> Response:
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        data = await self.form(request, user) if user else None
        if user is None or found is None or data is None or not access.may_do(user, found, data.get("action", "")):
            return self.refuse(user)
        action = data["action"]
        shown = access.for_user(user, found)
        table = comparison.compare(shown, self.parts.codes)
        candidates = [r for r in found["internal_rows"] if isinstance(r, dict) and r.get("ywlsh")]
        mergeable = [(d["field"], conflicts.readable(d["field"]), comparison.shown(d.get("internal"), d["field"]),
                      comparison.shown(d.get("platform"), d["field"])) for d in shown["fields"]]
        return self.page("confirm.html.j2", user, c=shown, action=action, needs_reason=action in NEEDS_REASON,
                         candidates=candidates, mergeable=mergeable, resident=comparison.resident(shown),
                         written=[line for line in table.lines if line.platform not in ("—", comparison.empty())],
                         kept=[line for line in table.lines if line.differs],
                         warnings=_warnings(action, found, table, self._attachments(found)))

    async def resolve(self, request: Request) -> Response:
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        data = await self.form(request, user) if user else None
        action = (data or {}).get("action", "")
        if user is None or found is None or data is None or not access.may_do(user, found, action):
            return self.refuse(user)
        form = await request.form()
        try:
            command = services.ResolveConflict(found["id"], action, user.name, reason=data.get("reason") or None,
                                               ywlsh=data.get("ywlsh") or None,
                                               fields=tuple(str(f) for f in form.getlist("field")))
            decision = services.resolve_conflict(command, self.parts)
        except Refused as refused:
            # Shown here, not through a link's query: a link must not be able to put words on the page.
            message = text(refused.key, value=refused.value) if has(refused.key) else text("console.refused")
            return self.conflict_page(user, self._conflict_for(user, found["id"]) or found, status=409,
                                      refused=message)
        with self._counts_lock:
            self._counts.clear()  # the queue's totals changed
        return RedirectResponse(f"/conflicts/{found['id']}?done={decision.state}", status_code=303)

    # --- reports and runs -----------------------------------------------------------------

    def _report(self, residents: bool = True) -> UnsyncedReport:
        p = self.parts
        return UnsyncedReport(p.internal, p.state, p.context.regions, p.codes, self.clock(), residents=residents)

    async def reports(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        summary = Summary()
        for _row, summary in collect(self._report(residents=False), ReportFilters(region=user.region_prefix)):  # noqa: B007 - the last summary is the whole one
            pass
        groups = [(title, bars(items)) for title, items in summary.groups()]
        return self.page("reports.html.j2", user, total=summary.total, groups=groups)

    async def download(self, request: Request) -> Response:
        user = self.user(request)
        fmt = request.path_params["fmt"]
        if user is None or fmt not in ("xlsx", "csv"):
            return self.refuse(user, 404 if user else 403)
        folder = Path(tempfile.mkdtemp(prefix="pb-report-"))
        path = folder / f"unsynced-{self.clock():%Y%m%d}.{fmt}"
        try:
            # An agent's download covers his whole prefix, other agents' residents too: without names.
            write(self._report(residents=user.role != "agent"), ReportFilters(region=user.region_prefix), fmt, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # Removed once sent: every download used to leave its file behind in the temp folder.
        return FileResponse(path, filename=path.name,
                            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))

    async def runs(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        with self.parts.state.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t.run).order_by(t.run.c.started_at.desc()).limit(200))]
            prefixes: dict[str, list[str]] = {}
            for run_id, prefix in conn.execute(select(t.partition.c.run_id, t.partition.c.prefix).where(
                    t.partition.c.run_id.in_([r["run_id"] for r in rows if r["kind"] == "distributed"]))):
                prefixes.setdefault(run_id, []).append(prefix)
        shown = []
        for r in rows:
            # pb_run records no scope: a run covers the scopes this deployment serves (BRIDGE_REGIONS,
            # read by the nightly job and the console alike), a distributed one its partitions as well.
            if not access.sees_run(user, [*self.parts.scopes, *prefixes.get(r["run_id"], [])]):
                continue
            r["summary"] = json.loads(r["summary"] or "{}")
            if not access.sees_numbers(user):
                r["summary"]["problems"] = [access.mask_text(str(p)) for p in r["summary"].get("problems") or []]
            shown.append(r)
        return self.page("runs.html.j2", user, runs=shown[:30])

    # --- receipts: checked offline against the seal key (issue 26, finding 11) ---------------

    async def verify(self, request: Request) -> Response:
        """A receipt's QR text pasted, its PDF uploaded, or both, checked against the configured
        seal key: for every signed-in role; nothing is stored, nothing leaves the machine."""
        from sync.sealing.check import Verdict, verify_document, verify_qr

        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        verdict, qr = None, ""
        if request.method == "POST":
            data = await self.form(request, user)
            if data is None:
                return self.refuse(user)
            qr = str(data.get("qr") or "").strip()[:MAX_QR]
            upload, document = data.get("receipt"), b""
            if upload is not None and hasattr(upload, "read"):
                document = await upload.read(MAX_RECEIPT + 1)
                await upload.close()
            signer = self.parts.signer
            if len(document) > MAX_RECEIPT:
                verdict = Verdict(False, "receipt.page_too_large", {"limit": MAX_RECEIPT // 1024})
            elif not qr and not document:
                verdict = Verdict(False, "receipt.page_nothing")
            elif signer is None:
                verdict = Verdict(False, "receipt.page_no_key")
            elif document:
                verdict = await run_in_threadpool(verify_document, document, signer, None, qr or None,
                                                  text("receipt.page_no_sidecar"))
            else:
                verdict = verify_qr(qr, signer)
        return self.page("verify.html.j2", user, verdict=verdict, qr=qr, max_qr=MAX_QR)


MAX_BODY, MAX_FIELDS = 64 * 1024, 200  # a form of the console's: far above any of them


class _BodyLimit:
    """Request bodies read only up to a limit — a receipt's PDF and its form on /verify, 64 KiB on
    every other page — before any form parser sees them: a declared length over it is refused at
    once, a chunked body that grows over it as soon as it does (413, the console's own page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_RECEIPT + MAX_BODY if scope.get("path") == "/verify" else MAX_BODY
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        refused = not declared.isdigit() or int(declared) > limit
        read = 0

        async def counted() -> Message:  # raised inside the page's handler: its 413 page answers
            nonlocal read
            if refused:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise HTTPException(413)
            return message
        await self.app(scope, counted, send)


class _SecurityHeaders:
    """Headers that keep the pages from being framed, sniffed or fed foreign scripts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    DEFAULTS = ((b"content-security-policy",
                 b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                 b"frame-ancestors 'none'"),
                (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"same-origin"),
                (b"cache-control", b"no-store"))  # every page and download holds personal data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.DEFAULTS if name not in present]
                message = {**message, "headers": headers}
            await send(message)
        await self.app(scope, receive, with_headers)


def _scan_path(store: ScanStore, sha256: str | None) -> Path | None:
    """Where the store keeps the scan of this verified hash; None for anything but 64 lowercase hex."""
    digest = (sha256 or "").lower()
    if not _HEX64.fullmatch(digest):
        return None
    try:
        return store.path(digest)
    except ValueError:  # the store refuses what is not a hash
        return None


def _materials(found: dict[str, Any], attachments: list[dict[str, Any]]) -> str:
    """For a conflict of materials: each scan named, missing or failing its check (which differ
    for the agent: one is to upload, the other to upload again)."""
    if found["kind"] != "materials_incomplete":
        return ""
    present = {a["kind"] for a in attachments}
    out = []
    for needed in (found.get("detail") or "").split("、"):
        if not needed:
            continue
        label = conflicts.readable(needed)
        failed = any(kind in present for kind in needed.split("|"))
        out.append(text("people.scan_failed_kind" if failed else "people.scan_missing_kind", kind=label))
    return "；".join(out)


def _warnings(action: str, found: dict[str, Any], table: comparison.Comparison,
              attachments: list[dict[str, Any]]) -> list[str]:
    """What the confirm page warns of before the choice is carried out."""
    out = []
    counter = [str(r["ywlsh"]) for r in found["internal_rows"] if isinstance(r, dict) and r.get("ywlsh")]
    if action == "apply" and found["kind"] in ("double_entry_mismatch", "multiple_candidates") and counter:
        out.append(text("people.warn_apply_typed", ywlsh="、".join(counter)))
    bad = [conflicts.readable(a["kind"]) for a in attachments if not a["ok"]]
    if action == "apply" and (bad or found["kind"] == "materials_incomplete"):
        out.append(text("people.warn_apply_materials",
                        kinds="、".join(bad) or _materials(found, attachments) or text("people.unknown")))
    if action == "link":
        for line in table.lines:
            if line.differs:
                out.append(text("people.warn_link_keeps", field=line.label, internal="／".join(line.internal),
                                platform=line.platform))
    return out


def _after(value: str) -> tuple[str, int] | None:
    """A queue page's key from its link; None for the first page. Anything else is a bad query."""
    if not value:
        return None
    match = _AFTER.fullmatch(value)
    if match is None or int(match.group(2)) > MAX_ID:
        raise BadQuery()
    return match.group(1), int(match.group(2))


@functools.cache
def _kinds() -> tuple[str, ...]:
    from config.catalogue import keys
    return tuple(sorted(k.split(".", 1)[1] for k in keys() if k.startswith("conflict_kind.")))


def _all_kinds() -> list[str]:
    """The conflict kinds the catalogue names (read once: the catalogue does not change while the
    console runs, and every queue page asked for them)."""
    return list(_kinds())

"""The console's routes: thin handlers over the conflict, report and run services."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from config.catalogue import field_label, has, text
from console import access
from console.auth import LoginRefused, User, login, logout, session_user
from reports.render import bars, write
from reports.unsynced import BUCKETS, Summary, UnsyncedReport, bucket, collect
from reports.unsynced import Filters as ReportFilters
from sync import conflicts
from sync.engine import Parts
from sync.ledger import tables as t
from sync.resolutions import Refused
from sync.scans import ScanStore

COOKIE, LOGIN_COOKIE = "pb_session", "pb_login"
NEEDS_REASON = frozenset({"reject", "return"})
_env = Environment(loader=PackageLoader("console"), autoescape=select_autoescape(["html", "j2"]))


class Console:
    """The application and what it needs: the wired parts, a clock, cookie policy."""

    def __init__(self, parts: Parts, clock: Callable[[], datetime], secure_cookies: bool = False) -> None:
        self.parts, self.clock, self.secure = parts, clock, secure_cookies
        routes = [Route("/login", self.login_page, methods=["GET"]), Route("/login", self.login_post, methods=["POST"]),
                  Route("/logout", self.logout, methods=["POST"]), Route("/", self.queue),
                  Route("/conflicts/{cid:int}", self.conflict),
                  Route("/conflicts/{cid:int}/scan/{aid}", self.scan),
                  Route("/conflicts/{cid:int}/confirm", self.confirm, methods=["POST"]),
                  Route("/conflicts/{cid:int}/resolve", self.resolve, methods=["POST"]),
                  Route("/reports", self.reports), Route("/reports/unsynced.{fmt}", self.download),
                  Route("/runs", self.runs)]
        self.app = Starlette(routes=routes)
        self.app.add_middleware(_SecurityHeaders)

    # --- helpers ----------------------------------------------------------------------

    def page(self, name: str, user: User | None, status: int = 200, **values: Any) -> HTMLResponse:
        body = _env.get_template(name).render(t=text, label=field_label, readable=conflicts.readable, user=user,
                                              has=has, **values)
        return HTMLResponse(body, status_code=status)

    def user(self, request: Request) -> User | None:
        return session_user(self.parts.state, request.cookies.get(COOKIE), self.clock())

    def refuse(self, user: User | None, status: int = 403) -> HTMLResponse:
        key = "console.forbidden" if status == 403 else "console.not_found"
        return self.page("error.html.j2", user, status=status, message=text(key))

    async def form(self, request: Request, user: User) -> dict[str, Any] | None:
        """The posted form when its CSRF token is the session's, else None."""
        data = await request.form()
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
        try:
            token = login(self.parts.state, str(data.get("name", ""))[:60], str(data.get("password", "")), self.clock())
        except LoginRefused as refused:
            return await self.login_page(request, text("console.locked" if refused.locked else "console.login_failed"),
                                         status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=self.secure,
                            max_age=8 * 3600)
        return response

    async def logout(self, request: Request) -> Response:
        user = self.user(request)
        if user is None or await self.form(request, user) is None:
            return self.refuse(user)
        logout(self.parts.state, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # --- the queue ----------------------------------------------------------------------

    def _visible(self, user: User, request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        region = q.get("region") or user.region_prefix
        if not region.startswith(user.region_prefix):
            region = user.region_prefix
        filters = conflicts.Filters(region=region, kind=q.get("kind") or None, biz_type=q.get("biz_type") or None,
                                    kinds=access.visible_kinds(user))
        now, rows = self.clock(), []
        for c in conflicts.list_conflicts(self.parts.state, filters):
            c["days"] = (now - c["opened_at"]).total_seconds() / 86400
            if not q.get("min_age") or c["days"] >= float(q["min_age"]):
                rows.append(c)
        return rows

    async def queue(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        rows = self._visible(user, request)
        by_kind = Counter(r["kind"] for r in rows)
        by_age = Counter(bucket(r["days"]) for r in rows)
        return self.page("queue.html.j2", user, rows=rows, by_kind=by_kind.most_common(),
                         by_age=[(name, by_age.get(name, 0)) for _, name in BUCKETS], query=request.query_params,
                         kinds=sorted(access.visible_kinds(user) or _all_kinds()))

    def _conflict_for(self, user: User, cid: int) -> dict[str, Any] | None:
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
        platform = _flatten(found["platform"])
        differing = {f for f, _ in platform for d in found["fields"]
                     if d["field"] == f or d["field"].startswith(f + ".") or f.endswith("." + d["field"])}
        return self.page("conflict.html.j2", user, c=found, platform=platform, differing=differing,
                         actions=access.actions_for(user, found["kind"]),
                         attachments=self._attachments(found), done=request.query_params.get("done"),
                         refused=request.query_params.get("refused"))

    def _attachments(self, found: dict[str, Any]) -> list[dict[str, Any]]:
        items = [a for a in found["platform"].get("attachments") or [] if isinstance(a, dict)]
        with self.parts.state.connect() as conn:
            status = {r.attachment_id: r.status for r in conn.execute(select(t.attachment).where(
                t.attachment.c.attachment_id.in_([a.get("attachment_id") for a in items])))}
        return [{**a, "ok": status.get(a.get("attachment_id")) == "ok"} for a in items]

    async def scan(self, request: Request) -> Response:
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        if user is None or found is None or not access.may_see(user, found):
            return self.refuse(user)
        wanted = next((a for a in self._attachments(found) if a.get("attachment_id") == request.path_params["aid"]), None)
        if wanted is None or not wanted["ok"]:
            return self.refuse(user, 404)
        store = ScanStore(Path(self.parts.scan_dir or Path(self.parts.home) / "scans"))
        path = store.path(str(wanted["sha256"]).lower())
        return FileResponse(path, media_type=wanted.get("content_type") or "application/octet-stream")

    async def confirm(self, request: Request) -> Response:
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        data = await self.form(request, user) if user else None
        if user is None or found is None or data is None or not access.may_do(user, found, data.get("action", "")):
            return self.refuse(user)
        candidates = [r for r in found["internal_rows"] if isinstance(r, dict) and r.get("ywlsh")]
        return self.page("confirm.html.j2", user, c=found, action=data["action"], needs_reason=data["action"] in NEEDS_REASON,
                         candidates=candidates, mergeable=[d["field"] for d in found["fields"]])

    async def resolve(self, request: Request) -> Response:
        user = self.user(request)
        found = self._conflict_for(user, request.path_params["cid"]) if user else None
        data = await self.form(request, user) if user else None
        action = (data or {}).get("action", "")
        if user is None or found is None or data is None or not access.may_do(user, found, action):
            return self.refuse(user)
        form = await request.form()
        try:
            decision = conflicts.resolve(self.parts, found["id"], action, user.name, reason=data.get("reason") or None,
                                         ywlsh=data.get("ywlsh") or None, fields=tuple(form.getlist("field")))
        except Refused as refused:
            return RedirectResponse(f"/conflicts/{found['id']}?refused={refused.key}:{refused.value}", status_code=303)
        return RedirectResponse(f"/conflicts/{found['id']}?done={decision.state}", status_code=303)

    # --- reports and runs -----------------------------------------------------------------

    def _report(self) -> UnsyncedReport:
        p = self.parts
        return UnsyncedReport(p.internal, p.state, p.context.regions, p.codes, self.clock())

    async def reports(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        summary = Summary()
        for _, summary in collect(self._report(), ReportFilters(region=user.region_prefix)):
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
            write(self._report(), ReportFilters(region=user.region_prefix), fmt, path)
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
            rows = [dict(r._mapping) for r in conn.execute(select(t.run).order_by(t.run.c.started_at.desc()).limit(30))]
        for r in rows:
            r["summary"] = json.loads(r["summary"] or "{}")
        return self.page("runs.html.j2", user, runs=rows)


class _SecurityHeaders:
    """Headers that keep the pages from being framed, sniffed or fed foreign scripts."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"content-security-policy",
                             b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                             b"frame-ancestors 'none'"),
                            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"same-origin")]
            await send(message)
        await self.app(scope, receive, with_headers)


def _all_kinds() -> list[str]:
    from config.catalogue import keys
    return sorted(k.split(".", 1)[1] for k in keys() if k.startswith("conflict_kind."))


def _flatten(raw: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A snapshot as (field, value) lines, for showing side by side."""
    if isinstance(raw, dict):
        return [line for k, v in raw.items() if k != "attachments" for line in _flatten(v, f"{prefix}{k}.")]
    if isinstance(raw, list):
        return [(prefix.rstrip("."), json.dumps(raw, ensure_ascii=False))]
    field = prefix.rstrip(".")
    value = "" if raw is None else str(raw)
    key = f"value.{field}.{value}"
    return [(field, text(key) if has(key) else value)]

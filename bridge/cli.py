"""``pension-bridge``: the command line. Thin: parse, wire, call the services, print."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bridge import logging as bridge_logging
from bridge import settings as settings_module
from bridge.terminal import SafeConsole
from config import load_toml
from config.catalogue import label, text

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

# No local variables in tracebacks: they hold platform records, ID numbers in clear among them.
app = typer.Typer(help="pension-bridge: platform business into the internal pension system, once.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="The bridge's own tables.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox platform and its data generator.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
conflicts_app = typer.Typer(help="The conflict queue: business waiting for an operator.", no_args_is_help=True)
app.add_typer(conflicts_app, name="conflicts")
users_app = typer.Typer(help="Console users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
report_app = typer.Typer(help="Reports for auditors and county staff.", no_args_is_help=True)
app.add_typer(report_app, name="report")
receipt_app = typer.Typer(help="Sealed receipts (办结凭证).", no_args_is_help=True)
app.add_typer(receipt_app, name="receipt")
ferry_app = typer.Typer(help="Across the network gap (网闸): batches between collector and loader.",
                        no_args_is_help=True)
app.add_typer(ferry_app, name="ferry")
bundle_app = typer.Typer(help="Offline install bundles (packaging/build_bundle.py).", no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")
class _Console(SafeConsole):
    """Platform text is printed as text: no markup, no escape sequences (``SafeConsole``). A line
    of text is not wrapped at the terminal's width (soft wrap): a command printed to be copied
    ("下一步") stays one line. Tables keep wrapping their cells to the width."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if "soft_wrap" not in kwargs and all(isinstance(o, str) for o in objects):
            kwargs["soft_wrap"] = True
        super().print(*objects, **kwargs)


console = _Console()
err_console = _Console(stderr=True)
_verbose = {"on": False, "said": False}


def _print_version(value: bool) -> None:
    if value:
        from bridge import version

        console.print(text("doctor.version_line", version=version.version(), commit=version.commit(),
                           schema=version.schema_head()), soft_wrap=True)
        raise typer.Exit(0)


@app.callback()
def _main_options(show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                                    help="print the version, its commit and schema head"),
                  verbose: bool = typer.Option(False, "-v", "--verbose",
                                               help="say which settings file and databases the command uses")) -> None:
    """pension-bridge: platform business into the internal pension system, once."""
    _verbose["on"] = verbose


@app.command()
def doctor(format: str = typer.Option("text", help="text|json"),
           role: str = typer.Option(None, help="direct|collector|loader; default: from the settings")) -> None:
    """Check this deployment: one line per check, what is right and what to fix (exit 1 if anything fails)."""
    from bridge import doctor as checks

    if role is not None and role not in checks.ROLES:
        raise typer.BadParameter(f"one of {', '.join(checks.ROLES)}", param_hint="--role")
    deployment = checks.load_deployment(role)
    results = checks.run(deployment)
    if format == "json":
        sys.stdout.write(_json(checks.as_json(deployment, results)) + "\n")
    else:
        for line in checks.lines(results):
            console.print(line, soft_wrap=True)
        counts = {s: sum(r.status == s for r in results) for s in (checks.OK, checks.WARN, checks.FAIL)}
        console.print(text("doctor.summary_ok" if checks.healthy(results) else "doctor.summary_fail",
                           count=counts["ok"], warnings=counts["warn"], failed=counts["fail"]), soft_wrap=True)
    raise typer.Exit(0 if checks.healthy(results) else 1)


@bundle_app.command("verify")
def bundle_verify(folder: Path = typer.Argument(..., exists=True, file_okay=False, help="the unpacked bundle"),
                  peer_key: Path = typer.Option(None, help="the sending side's SM2 public key (ferry keygen)")) -> None:
    """Check an offline bundle's SHA256SUMS, and its signature with --peer-key; exit 1 if either fails."""
    from bridge.bundle import altered, signed_by

    bad = altered(folder)
    if bad:
        console.print(text("doctor.bundle_altered", files="、".join(bad[:20])), soft_wrap=True)
        raise typer.Exit(1)
    if peer_key is not None and not signed_by(folder, peer_key):
        console.print(text("doctor.bundle_unsigned", key=peer_key), soft_wrap=True)
        raise typer.Exit(1)
    console.print(text("doctor.bundle_signed" if peer_key else "doctor.bundle_intact"), soft_wrap=True)


def _run_locked(start: Callable[[], Any], render: Callable[[Any, Any], None]) -> None:
    """Run ``start()``; another run holding the lock exits 3 with one line; else render and exit."""
    from sync.locks import LockBusy

    try:
        result = start()
    except LockBusy as busy:
        console.print(text("run.lock_busy", value=busy.scope))
        raise typer.Exit(3) from None
    render(result, console)
    raise typer.Exit(result.exit_code)


def _settings() -> settings_module.Settings:
    current = settings_module.load()
    settings_module.prepare_home(current.home)
    bridge_logging.configure(current.home / "logs" / "bridge.log")
    if _verbose["on"] and not _verbose["said"]:  # -v: which settings file and databases, once
        from bridge.wiring import safe_url, state_setting

        _verbose["said"] = True
        none = text("cli.using_none")
        err_console.print(text("cli.using", env=os.environ.get("BRIDGE_ENV_FILE") or none,
                               internal=safe_url(current.internal_db) if current.internal_db else none,
                               state_name=state_setting(current), state=safe_url(current.state_url),
                               platform=current.platform_url or none))
    return current


@app.command()
def sync(wait: bool = typer.Option(False, help="wait for another run's lock instead of exiting"),
         distributed: bool = typer.Option(False, help="one job per region partition, run by `pension-bridge worker`s"),
         enqueue_only: bool = typer.Option(False, help="with --distributed: enqueue the partitions and exit"),
         timeout_minutes: float = typer.Option(None, help="with --distributed: stop waiting for the workers after this")
         ) -> None:
    """Run the nightly sync: pull, validate, plan, apply, account."""
    from bridge import heap, summary, wiring
    from sync import nightly
    from sync.locks import LockBusy

    current = _settings()
    if distributed:  # the workers make the requests: one here, to name a setting's fault at once
        wiring.check_platform(current)
    # Otherwise the feed's first page is the check (``wiring.first_check``): a first request
    # refused or unreachable names its setting at once, and no request is spent on a probe.
    parts = wiring.build(current, shared_rate=distributed, check_first=not distributed)
    heap.freeze_wired()
    try:
        if distributed:
            from sync.distributed import coordinator
            result = coordinator.run(parts, current, wait=not enqueue_only,
                                     timeout=timeout_minutes * 60 if timeout_minutes else None)
            if enqueue_only:
                console.print(text("status.enqueued", run_id=result.run_id))
                raise typer.Exit(0)
        else:
            from bridge.progress import SyncProgress

            with SyncProgress(err_console, lambda: parts.scans.fetched) as progress:
                parts.progress = progress.on_page
                result = nightly.run(parts, wait=wait)
    except LockBusy as busy:
        console.print(text("run.lock_busy", value=busy.scope))
        raise typer.Exit(3) from None
    if unconfigured := getattr(result, "unconfigured", None):  # the first page named a setting's fault
        raise settings_module.SettingsError(unconfigured)
    summary.render(result, console, current.platform_url)
    raise typer.Exit(result.exit_code)


@app.command()
def writeback() -> None:
    """Seal approved business and write every due result back to the platform (no feed)."""
    from bridge import heap, summary, wiring
    from sync import nightly
    from sync.engine import RunResult
    from sync.process import Tally

    current = _settings()
    wiring.check_platform(current)
    parts = wiring.build(current)
    heap.freeze_wired()
    result = RunResult("writeback", "completed", Tally())
    nightly.seal_and_write_back(parts, result)
    summary.render_after(result, console)
    raise typer.Exit(result.exit_code)


@app.command()
def worker(concurrency: int = typer.Option(1, help="partitions worked at once by this process")) -> None:
    """Work partitions of distributed runs until stopped (SIGTERM finishes the job in hand)."""
    from bridge import heap, wiring
    from connectors.internal.db import engine_for
    from sync.distributed import tasks

    current = _settings()
    parts = wiring.build(current, shared_rate=True)  # fails early, naming a missing setting
    tasks.provide_parts(lambda: parts)  # the jobs run in this process, on these parts
    app = tasks.make_app(current.queue_url, current.worker_stalled_after)
    with app.open():
        tasks.ensure_schema(app, engine_for(current.state_url), current.home)
    heap.freeze_wired()
    console.print(text("status.worker_started", name=tasks.worker_name()))
    app.run_worker(queues=[tasks.QUEUE], concurrency=concurrency, name=tasks.worker_name(), wait=True,
                   update_heartbeat_interval=current.worker_heartbeat,
                   stalled_worker_timeout=current.worker_stalled_after, delete_jobs="never")


@app.command()
def status(format: str = typer.Option("table", help="table|json|prometheus"),
           run_id: str = typer.Option(None, help="a run; default: the current or last one")) -> None:
    """The current or last run: partitions done, running, failed, with their counts; or metrics."""
    from sync import status as run_status

    state = _state_engine()
    if format == "prometheus":
        sys.stdout.write(run_status.prometheus(state))  # now: Asia/Shanghai, as the ledger stores times
        return
    found = run_status.run_status(state, run_id)
    if format == "json":
        console.print_json(_json(found))
        return
    run_status.render(found, console)


@app.command()
def collect(wait: bool = typer.Option(False, help="wait for another collector's lock instead of exiting"),
            accept_gap: bool = typer.Option(False, help="post result batches past a batch that never came")) -> None:
    """External side: post the results the loader sent, then pull the feed and scans into batches."""
    from bridge import heap, summary, wiring
    from sync.ferry.collector import Collector

    current = _settings()
    wiring.check_platform(current)
    collector = Collector(wiring.build_collector(current))
    heap.freeze_wired()
    _run_locked(lambda: collector.run(wait=wait, accept_gap=accept_gap),
                lambda result, shown: summary.render_collect(result, shown, current.platform_url))


@app.command()
def load(wait: bool = typer.Option(False, help="wait for another loader's lock instead of exiting"),
         accept_gap: bool = typer.Option(False, help="import past a batch confirmed lost (it is imported if it comes)")
         ) -> None:
    """Internal side: import the collector's batches as sync would, seal, and batch the results."""
    from bridge import heap, summary, wiring

    loader = wiring.build_loader(_settings())
    heap.freeze_wired()
    _run_locked(lambda: loader.run(wait=wait, accept_gap=accept_gap), summary.render_load)


@ferry_app.command("status")
def ferry_status(format: str = typer.Option("table", help="table|json")) -> None:
    """Last batch sent and received, gaps in sequence, quarantined batches (either side)."""
    from sync.ferry.status import ferry_status as read_status

    current = _settings()
    found = read_status(_state_engine(), current.ferry_inbox, current.ferry_outbox)
    if format == "json":
        console.print_json(_json(found))
        return
    from rich.table import Table

    table = Table(title=text("ferry.status_title"))
    table.add_column("")
    table.add_column("")
    for kind, info in found["sent"].items():
        table.add_row(f"sent {kind}", f"#{info['last_seq']} {info['last_sent_at']} {info['last_counts']}"
                      + (f" unfinished={info['unfinished']}" if info["unfinished"] else ""))
    for key, info in found["received"].items():
        table.add_row(f"received {key}", f"#{info['last_seq']} {info['last_received_at']}; next #{info['next_expected']}"
                      + (f"; missing {info['missing']}" if info["missing"] else "")
                      + (f"; held {info['held']}" if info["held"] else ""))
    for item in found["quarantined"]:
        table.add_row("quarantined", f"{item['file']} {item['at']}: {text('ferry.bad.' + item['reason'])}")
    table.add_row("results unanswered", str(found["results_unanswered"]))
    table.add_row("results held (one-way)", str(found["results_held"]))
    table.add_row("answers owed", str(found["answers_owed"]))
    for name in ("inbox", "outbox"):
        if found[name]:
            table.add_row(name, f"{len(found[name]['complete'])} complete, {len(found[name]['arriving'])} arriving")
    console.print(table)


@ferry_app.command("resend")
def ferry_resend(seq: int = typer.Argument(...), kind: str = typer.Option("feed", help="feed (collector) | results (loader)"),
                 rebuild: bool = typer.Option(False, help="rebuild and sign again even a sound archive")) -> None:
    """Deliver an archived batch into the outbox again (it was lost or quarantined on the other side);
    an archive holding bad members is rebuilt without them."""
    from bridge import wiring
    from sync.ferry.batch import BadBatch
    from sync.ferry.outbox import Outbox

    current = _settings()
    folders = wiring.ferry_folders(current)
    side = "collector" if kind == "feed" else "loader"
    outbox = Outbox(_state_engine(), kind, wiring.ferry_sender(current, side), folders.outbox, folders.archive,
                    wiring.ferry_signer(current), datetime.now)
    try:
        path, rebuilt = outbox.resend(seq, rebuild)
    except FileNotFoundError as err:
        console.print(str(err))
        raise typer.Exit(1) from None
    except BadBatch as bad:
        console.print(text("ferry.resend_failed", reason=text(f"ferry.bad.{bad.reason}"), detail=bad.detail or "-"))
        raise typer.Exit(1) from None
    console.print(text("ferry.rebuilt" if rebuilt else "ferry.resent", value=path))


@ferry_app.command("keygen")
def ferry_keygen(out: Path = typer.Option(..., help="key file to write (private: keep on this side)"),
                 public_out: Path = typer.Option(..., help="public half, to give to the other side")) -> None:
    """Make an SM2 key pair for BRIDGE_FERRY_SIGNATURE=SM2-SM3."""
    import dataclasses

    from sync.sealing.signer import new_key, write_key

    for path in (out, public_out):  # neither half is written when either would replace a file
        if path.exists():
            console.print(text("ferry.key_exists", value=path))
            raise typer.Exit(1)
    key = new_key("SM2-SM3", "FERRY", "pension-bridge ferry")
    write_key(out, key)  # created 0600, never over a file
    write_key(public_out, dataclasses.replace(key, private_key=None))
    console.print(f"{out}\n{public_out}")


def _new_password() -> str:
    """A new password typed twice, asked and answered in Chinese (click's own confirmation is English)."""
    while True:
        first: str = typer.prompt(text("console.new_password"), hide_input=True)
        if first == typer.prompt(text("people.repeat_password"), hide_input=True):
            return first
        console.print(text("people.passwords_differ"), markup=False)


@users_app.command("add")
def users_add(name: str = typer.Argument(...), role: str = typer.Option(..., help="agent|staff|auditor"),
              region: str = typer.Option(..., help="region code prefix the user works"),
              password_stdin: bool = typer.Option(False, help="read the password from standard input"),
              agent_id: str = typer.Option(None, "--agent-id",
                                           help="the platform agent_id of an agent (their own items: \"mine\")")) -> None:
    """Create a console user; the password is asked for, never given on the command line."""
    from console.auth import UserError, add_user
    from mapping.types import now_local

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = _new_password()
    try:
        add_user(_state_engine(), name, role, region, password, now_local(), agent_id=agent_id)
    except UserError as err:
        console.print(text(err.key, value=err.value), markup=False, highlight=False)
        raise typer.Exit(2) from None
    console.print(text("console.user_added", name=name, role=role, region=region), markup=False)


def _user_command(action: Callable[..., Any], *args: Any) -> Any:
    """Run one of console.auth's user actions; a refusal is one Chinese line and exit 2."""
    from console.auth import UserError
    from mapping.types import now_local

    try:
        return action(_state_engine(), *args, now_local())
    except UserError as err:
        console.print(text(err.key, value=err.value), markup=False, highlight=False)
        raise typer.Exit(2) from None


@users_app.command("link-agent")
def users_link_agent(name: str = typer.Argument(...),
                     agent_id: str = typer.Option(None, "--agent-id", help="the platform agent_id; leave out to unlink")) -> None:
    """Link a console user to a platform agent_id: an agent then works their own items."""
    from console.auth import link_agent

    _user_command(link_agent, name, agent_id)
    console.print(text("people.user_agent_linked" if agent_id else "people.user_agent_unlinked",
                       name=name, agent_id=agent_id or ""), markup=False)


@users_app.command("disable")
def users_disable(name: str = typer.Argument(...)) -> None:
    """Stop a user signing in; every session of theirs ends."""
    from console.auth import disable_user

    ended = _user_command(disable_user, name)
    console.print(text("console.user_disabled", name=name, count=ended), markup=False)


@users_app.command("enable")
def users_enable(name: str = typer.Argument(...)) -> None:
    """Let a disabled (or locked) user sign in again."""
    from console.auth import enable_user

    _user_command(enable_user, name)
    console.print(text("console.user_enabled", name=name), markup=False)


@users_app.command("reset-password")
def users_reset_password(name: str = typer.Argument(...),
                         password_stdin: bool = typer.Option(False, help="read the password from standard input")
                         ) -> None:
    """Give a user a new password (asked for, never on the command line); every session ends."""
    from console.auth import reset_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = _new_password()
    ended = _user_command(reset_password, name, password)
    console.print(text("console.user_password_reset", name=name, count=ended), markup=False)


@users_app.command("sessions")
def users_sessions(name: str = typer.Argument(...),
                   revoke: bool = typer.Option(False, "--revoke", help="end every session of the user")) -> None:
    """List a user's live sessions, or end them all with --revoke."""
    from console.auth import revoke_sessions, sessions

    if revoke:
        ended = _user_command(revoke_sessions, name)
        console.print(text("console.user_sessions_revoked", name=name, count=ended), markup=False)
        return
    found = _user_command(sessions, name)
    if not found:
        console.print(text("console.user_no_sessions", name=name), markup=False)
    for s in found:
        console.print(text("console.user_session_line", began=f"{s['created_at']:%Y-%m-%d %H:%M}",
                           seen=f"{s['last_seen_at']:%Y-%m-%d %H:%M}", ends=f"{s['expires_at']:%Y-%m-%d %H:%M}"),
                      markup=False)


@app.command("console")
def serve_console(port: int = typer.Option(8080), host: str = typer.Option("127.0.0.1"),
                  secure_cookies: bool = typer.Option(False, help="when served over HTTPS")) -> None:
    """Serve the operator console."""
    import uvicorn

    from bridge import wiring
    from console.app import Console
    from mapping.types import now_local

    current = _settings()
    app_ = Console(wiring.build_internal(current), now_local, secure_cookies, current.console_idle_minutes).app
    console.print(text("console.serving", url=f"http://{host}:{port}/"))
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@report_app.command("unsynced")
def report_unsynced(format: str = typer.Option("xlsx", help="xlsx|html|csv|json"), output: Path = typer.Option(None),
                    region: str = typer.Option(None, help="region code prefix"),
                    since: datetime = typer.Option(None, formats=["%Y-%m-%d"]), kind: str = typer.Option(None),
                    min_age_days: float = typer.Option(None)) -> None:
    """What has not made it across, and why: one row per record, with summaries."""
    from bridge import wiring
    from connectors.internal.reader import load_codes
    from mapping import regions
    from mapping.types import now_local
    from reports.render import FORMATS, default_path, write
    from reports.unsynced import Filters, UnsyncedReport

    if format not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}", param_hint="--format")
    current = _settings()
    internal, state, _ = wiring.engines(current)
    wiring.prepare_state(state, current)
    with internal.connect() as conn:
        codes = load_codes(conn)
    report = UnsyncedReport(internal, state, regions.load(current.region_prefixes), codes, now_local())
    path = output or default_path(current.report_dir or current.home / "reports", format, report.now)
    count, _ = write(report, Filters(region, since.date() if since else None, kind, min_age_days), format, path)
    console.print(text("report.written", count=count, path=path))


@receipt_app.command("verify")
def receipt_verify(file: Path | None = typer.Argument(None, exists=True, dir_okay=False),
                   qr: str | None = typer.Option(None, "--qr", help="the text of the receipt's QR code")) -> None:
    """Whether a receipt (a file, the text of its QR code, or both: then they must be one receipt)
    is intact and sealed by the configured key; non-zero when it is not."""
    from bridge.wiring import signer_for
    from sync.sealing.check import verify_qr, verify_receipt

    if file is None and qr is None:
        err_console.print(text("receipt.verify_nothing"))
        raise typer.Exit(2)
    current = _settings()
    signer = signer_for(current, sign=False)
    verdict = verify_receipt(file, signer, qr) if file is not None else verify_qr(qr or "", signer)
    console.print(text(verdict.key, **verdict.values))
    raise typer.Exit(0 if verdict.ok else 1)


@app.command()
def verify() -> None:
    """Check the accounting: every transaction in exactly one state, nothing applied twice."""
    from bridge import wiring
    from sync.verify import verify as run_verify

    current = _settings()
    internal, state, _ = wiring.engines(current)
    wiring.prepare_state(state, current)
    from sync import audit

    report = run_verify(internal, state, load_toml("codes.toml")["source"]["platform"],
                        heads=audit.heads_path(current.home), signer=wiring.head_verifier(current))
    if not report.checked.get("audit_signed_entries"):
        console.print(text("atrest.no_signed_head", path=audit.heads_path(current.home)))
    if report.ok:
        console.print(text("run.verify_ok", transactions=report.checked.get("transactions", 0),
                           rows=report.checked.get("synced_business_rows", 0)))
        return
    console.print(text("run.verify_failed", count=len(report.problems)))
    for line in report.problems:
        console.print(f"  {line}")
    raise typer.Exit(1)


def _state_engine(create: bool = False) -> Engine:
    """The bridge's own tables. With no database set, the default file under the home is used
    only when it exists (or ``create``): a command reading an empty, fresh one would answer an
    empty queue for a settings file that was never read."""
    from bridge import wiring
    from connectors.internal.db import engine_for

    current = _settings()
    if not (create or current.state_db or current.internal_db):
        default = current.home / "state.db"
        if not default.exists():
            raise settings_module.SettingsError(text("cli.no_database", path=default))
    state = engine_for(current.state_url)
    wiring.prepare_state(state, current)
    return state


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)


@conflicts_app.command("list")
def conflicts_list(region: str = typer.Option(None), kind: str = typer.Option(None),
                   status: str = typer.Option("open"), format: str = typer.Option("table", help="table|json")) -> None:
    """Conflicts, oldest first."""
    from rich.table import Table

    from config.catalogue import keys
    from sync.conflicts import Filters, list_conflicts

    known = sorted(k.split(".", 1)[1] for k in keys() if k.startswith("conflict_kind."))
    if kind is not None and kind not in known:
        err_console.print(text("cli.unknown_kind", value=kind, known="、".join(known)))
        raise typer.Exit(2)
    if status not in ("open", "resolved"):
        err_console.print(text("cli.unknown_status", value=status, known="open、resolved"))
        raise typer.Exit(2)
    rows = list_conflicts(_state_engine(), Filters(region=region, kind=kind, status=status))
    if format == "json":
        console.print_json(_json(rows))
        return
    table = Table()
    for column in ("id", "txn_id", "biz_type", "region_code", "opened_at", "sentence"):
        table.add_column(text(f"console.column_{column}"))
    for r in rows:
        table.add_row(str(r["id"]), r["txn_id"], label("biz_type", r["biz_type"]),
                      r["region_code"] or "", f"{r['opened_at']:%Y-%m-%d %H:%M}", r["sentence"])
    console.print(table)


@conflicts_app.command("show")
def conflicts_show(conflict_id: int = typer.Argument(...)) -> None:
    """One conflict: the platform's version, the internal rows, the differences, the history."""
    from bridge.logging import mask_values
    from sync.conflicts import NotFound, show

    try:  # masked field by field, as log lines are: a region code stays readable, 12 digits elsewhere do not
        console.print(_json(mask_values(show(_state_engine(), conflict_id))))
    except NotFound:
        console.print(text("resolve.not_found", value=conflict_id))
        raise typer.Exit(1) from None


@conflicts_app.command("resolve")
def conflicts_resolve(conflict_id: int = typer.Argument(...),
                      action: str = typer.Option(..., help="apply|link|merge|reject|return|keep"),
                      operator: str = typer.Option(...), reason: str = typer.Option(None),
                      ywlsh: str = typer.Option(None, help="the hand-typed business to link"),
                      field: list[str] = typer.Option([], help="with merge: a field taken from the platform")) -> None:
    """Resolve a conflict through the same planner and applier as the nightly job."""
    from bridge import wiring
    from sync.conflicts import NotFound
    from sync.resolutions import Refused
    from sync.services import ResolveConflict, resolve_conflict

    parts = wiring.build_internal(_settings())
    try:
        decision = resolve_conflict(ResolveConflict(conflict_id, action, operator, reason, ywlsh, tuple(field)), parts)
    except NotFound:
        console.print(text("resolve.not_found", value=conflict_id))
        raise typer.Exit(1) from None
    except Refused as refused:
        console.print(text(refused.key, value=refused.value))
        raise typer.Exit(1) from None
    console.print(text("resolve.done", id=conflict_id, state=text(f"state.{decision.state}")))


# --- personal data at rest (issue 27): data keys and retention ------------------------------------

keys_app = typer.Typer(help="Data keys (SM4-GCM) that scans and raw payloads are kept under.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(out: Path = typer.Option(None, help="also write the key here (default: only under the home)")) -> None:
    """Make a data key, owner-only; set BRIDGE_DATA_KEY to it, then run keys rotate."""
    from sync import atrest

    current = _settings()
    key = atrest.DataKey.new()
    kept = atrest.keys_folder(current.home) / f"{key.key_id}.json"  # every key stays, so old items open
    for path in [kept] + ([out] if out else []):
        try:
            atrest.write_key(path, key)
        except FileExistsError:
            console.print(text("atrest.key_exists", path=path))
            raise typer.Exit(1) from None
    console.print(text("atrest.key_made", path=out or kept))


@keys_app.command("rotate")
def keys_rotate(batch: int = typer.Option(500, min=1, help="payloads re-encrypted per transaction")) -> None:
    """Re-encrypt every scan and payload not yet under BRIDGE_DATA_KEY (resumable)."""
    from bridge import wiring
    from sync.atrest import keys_folder
    from sync.ledger import payloads
    from sync.scans import ScanStore

    current = _settings()
    ring = wiring.data_keys(current)
    if ring.current is None:
        console.print(text("atrest.rotate_need_key", folder=keys_folder(current.home)))
        raise typer.Exit(2)
    moved, failed = payloads.rotate(_state_engine(), ring, batch)
    scans, scans_failed = ScanStore(current.scans_path, ring).rotate()
    console.print(text("atrest.rotated", key_id=ring.current.key_id, scans=scans, payloads=moved,
                       left=failed + scans_failed))
    if failed + scans_failed:
        raise typer.Exit(1)


@app.command()
def purge(dry_run: bool = typer.Option(False, "--dry-run", help="list what would go, delete nothing")) -> None:
    """Delete the scans and raw payloads of business done BRIDGE_RETENTION_DAYS ago (docs/privacy.md)."""
    from bridge import wiring
    from mapping.types import now_local
    from sync import retention
    from sync.scans import ScanStore

    current = _settings()
    ring = wiring.data_keys(current)
    state, days, now = _state_engine(), current.retention_days, wiring.fixed_clock() or now_local
    if dry_run:
        items = retention.due(state, now(), days)
        if not items:
            console.print(text("atrest.purge_none", days=days))
            return
        console.print(text("atrest.purge_would", days=days, count=len(items)))
        for d in items:
            console.print(text("atrest.purge_line", txn_id=d.txn_id, state=text(f"state.{d.state}"),
                               at=d.final_at.strftime("%Y-%m-%d"), scans=len(d.scans), payloads=len(d.versions)))
        return
    done = retention.purge(state, ScanStore(current.scans_path, ring), now(), days)
    console.print(text("atrest.purge_done", days=days, count=done.transactions, scans=done.scans,
                       payloads=done.payloads) if done.transactions else text("atrest.purge_none", days=days))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the bridge's own tables (never the internal ones)."""
    _state_engine(create=True)
    console.print("ok")


@db_app.command("internal-indexes")
def db_internal_indexes(create: bool = typer.Option(False, help="create the missing ones (with the DBA's consent)")
                        ) -> None:
    """Indexes the bridge's reads want on the internal database, beyond the contract's."""
    from bridge import wiring
    from connectors.internal import indexes
    from connectors.internal.db import engine_for

    current = _settings()
    current.need("internal_db")
    engine = engine_for(wiring.needed(current.internal_db))
    wanted = indexes.missing(engine)
    for want in wanted:
        console.print(f"{want.ddl};")
    if not wanted:
        console.print(text("db.indexes_present"))
    elif create:
        indexes.create(engine, wanted)
        console.print(text("db.indexes_created", value=len(wanted)))


@sandbox_app.command("generate")
def sandbox_generate(n: int = typer.Option(1000, "--n"), seed: int = typer.Option(1), out: Path = typer.Option(...),
                     messy: float = typer.Option(0.1), double: float = typer.Option(0.08),
                     existing: int = typer.Option(None), days: int = typer.Option(30)) -> None:
    """Write a realistic scenario (platform transactions, internal rows, labels) as JSON."""
    from sandbox.generator import generate

    scenario = generate(n, seed=seed, messy_share=messy, double_share=double, existing=existing, days=days)
    out.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    console.print(f"{len(scenario['transactions'])} transactions -> {out}")


@sandbox_app.command("platform")
def sandbox_platform(data: Path = typer.Option(...), port: int = typer.Option(8700), app_key: str = "sandbox",
                     app_secret: str = "sandbox-secret", faults: str = typer.Option("", help="e.g. error_200=0.05,drop=0.01"),
                     rate: float = typer.Option(0.0, help="requests/s per key; 0: unlimited"),
                     lag: float = typer.Option(0.0, help="visibility lag of new versions, seconds"),
                     scan_delay: float = typer.Option(0.0, help="seconds every scan download takes")) -> None:
    """Serve the sandbox platform on 127.0.0.1 until interrupted."""
    from sandbox.faults import Faults
    from sandbox.server import SandboxServer
    from sandbox.state import App, PlatformState

    state = PlatformState(apps={app_key: App(app_secret)}, rate=rate, lag_seconds=lag, scan_delay=scan_delay)
    state.load(json.loads(data.read_text(encoding="utf-8")))
    server = SandboxServer(state, Faults.parse(faults), port=port)
    console.print(f"sandbox platform on {server.base_url} (key {app_key}); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


@app.command()
def demo(n: int = typer.Option(3000, "--n"), home: Path = typer.Option(Path(".demo"), help="folder for the demo")) -> None:
    """The nightly job end to end on embedded defaults: sandbox platform, SQLite, summary."""
    from devtools.demo import run_demo

    raise typer.Exit(run_demo(n, home.resolve(), console))


@app.command()
def bench(n: int = typer.Option(5000, "--n"), db: str = typer.Option("sqlite", help="sqlite|postgresql"),
          workers: int = typer.Option(8, help="concurrent scan downloads"),
          existing: int = typer.Option(None, help="people of the scenario already enrolled (default N/2, at most 50,000)"),
          people: int = typer.Option(None, help="enrolled people in the internal database in all "
                                                "(default 1,000,000 for N >= 100,000)"),
          report_ledger: int = typer.Option(None, help="then time the unsynced report over a ledger grown to this "
                                                       "many rows (PostgreSQL; default 1,000,000 for N >= 100,000)"),
          report_unsynced: int = typer.Option(None, help="and then with the night's unsynced rows copied to this "
                                                         "many (N = 1,000,000's shape; default 150,000 for N >= 100,000)"),
          keep: bool = typer.Option(False, help="keep the benchmark's database for inspection"),
          internal_indexes: bool = typer.Option(True, help="create the indexes `db internal-indexes` recommends"),
          home: Path = typer.Option(Path(".bench")), output: Path = typer.Option(None),
          scaling: bool = typer.Option(False, help="sync --distributed with 1, 2 and 4 worker processes (PostgreSQL)"),
          scan_delay: float = typer.Option(0.05, help="with --scaling: seconds each scan download takes"),
          paced: bool = typer.Option(False, help="the sync against a sandbox enforcing the platform's limit "
                                                 "(10/s, burst 20), paced by the bridge's settings"),
          rate: float = typer.Option(None, help="with --paced: the bridge's requests/s (default its own)"),
          burst: int = typer.Option(None, help="with --paced: the bridge's burst (default its own)")) -> None:
    """Measure the I/O floor and the full nightly sync side by side; print a table, write JSON."""
    from devtools.bench import run_bench, run_paced, run_scaling

    if paced:
        result = run_paced(n, db, home.resolve(), workers, console, rate, burst)
        path = output or home / f"bench-paced-{n}-{db}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(str(path))
        return
    if scaling:
        result = run_scaling(n, home.resolve(), (1, 2, 4), scan_delay, 2, console)
        path = output or home / f"bench-scaling-{n}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(str(path))
        return
    large = n >= 100_000 and db != "sqlite"
    result = run_bench(n, db, home.resolve(), workers, existing, console, people,
                       report_ledger if report_ledger is not None else (1_000_000 if large else None), keep,
                       internal_indexes,
                       report_unsynced if report_unsynced is not None else (150_000 if large else None))
    path = output or home / f"bench-{n}-{db}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(str(path))


# Last, once every command is registered: --help in Chinese, English beside it (bridge/helptext.py).
from bridge import helptext as _helptext  # noqa: E402

_helptext.apply(app)


def main() -> None:
    # Everything this process creates is its owner's alone: the databases, scans, logs, reports,
    # receipts and keys under BRIDGE_HOME hold personal data and secrets.
    os.umask(0o077)
    from sqlalchemy.exc import DBAPIError

    try:
        app()
    except settings_module.SettingsError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    except DBAPIError as err:  # a database lost after its first connection: one line, not a traceback
        reason = (str(err.orig or err).strip().splitlines() or [type(err).__name__])[0][:200]
        print(text("cli.db_failed", reason=reason), file=sys.stderr)
        sys.exit(2)

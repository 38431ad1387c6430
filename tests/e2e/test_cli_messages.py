"""Each mistake an IT person makes setting up the bridge is one line in Chinese, naming the setting
(and the URL), with a non-zero exit (issue 26, findings 7-9). Real processes, real servers: the
sandbox platform, a closed port, a TLS server, PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import _fresh_url
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import KEY, SECRET, sandbox
from tests.integration.test_sync import with_scans

CJK = re.compile("[\u3400-\u9fff]")


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """No BRIDGE_* from the caller; the default home under tmp_path, not the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path), COLUMNS="80")
    env.update({f"BRIDGE_{k.upper()}": v for k, v in values.items()})
    return env


def one_line(result: subprocess.CompletedProcess) -> str:
    """The command's whole complaint: exactly one line on stderr, no traceback, nothing on stdout.
    (The at-rest notice of a missing BRIDGE_DATA_KEY, said before any command that opens the
    databases, and the one-time notice of a trial seal key made by the first that does, are not
    part of it: ``sync`` opens them before its first request, which is its check of the platform.)"""
    lines = [line for line in result.stderr.strip().splitlines()
             if "BRIDGE_DATA_KEY" not in line and not line.startswith("提醒：没有设置 BRIDGE_SEAL_KEY")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip(), (result.stdout, result.stderr)
    assert CJK.search(lines[0]), lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh internal database from the contract DDL, on SQLite and on PostgreSQL."""
    from connectors.internal.db import engine_for
    from connectors.internal.schema import create_contract_schema

    for url in _fresh_url(request.param, tmp_path):
        engine = engine_for(url)
        create_contract_schema(engine)
        engine.dispose()
        yield url


def platform_env(tmp_path: Path, url: str, internal: str, **over: str) -> dict[str, str]:
    values = dict(platform_url=url, app_key=KEY, app_secret=SECRET, internal_db=internal, home=str(tmp_path / "home"),
                  regions="5301", rate_limit="0")
    values.update(over)
    return clean_env(tmp_path, **values)


# --- finding 7: each platform failure its own first line, naming the setting and the URL ----------

def test_a_url_without_open_v1_says_so(db_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"))) as server:
        url = server.base_url.removesuffix("/open/v1")
        result = cli("sync", env=platform_env(tmp_path, url, db_url))
    line = one_line(result)
    assert result.returncode == 2
    assert "BRIDGE_PLATFORM_URL" in line and url in line and "/open/v1" in line and "40401" in line
    assert "平台持续无法访问" not in result.stdout + result.stderr


def test_a_wrong_secret_names_the_key_and_secret(db_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"))) as server:
        result = cli("sync", env=platform_env(tmp_path, server.base_url, db_url, app_secret="not-the-secret"))
    line = one_line(result)
    assert result.returncode == 2
    assert "BRIDGE_APP_KEY" in line and "BRIDGE_APP_SECRET" in line and "40101" in line and server.base_url in line
    assert "not-the-secret" not in result.stderr
    # The feed's first page was the check: the run it began is on record as stopped there,
    # naming why (``pension-bridge status`` shows it), with nothing after it.
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    engine = create_engine(db_url)
    with engine.connect() as conn:
        status, summary = conn.execute(sql("SELECT status, summary FROM pb_run WHERE kind = 'sync'")).one()
    engine.dispose()
    assert status == "incomplete" and "Unconfigured" in summary and "40101" in summary
    assert '"seal"' not in summary and '"writeback"' not in summary


def test_https_against_an_http_platform_names_the_scheme(sqlite_internal_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"))) as server:
        url = server.base_url.replace("http://", "https://")
        result = cli("sync", env=platform_env(tmp_path, url, sqlite_internal_url))
    line = one_line(result)
    assert result.returncode == 2
    assert "BRIDGE_PLATFORM_URL" in line and url in line and "https://" in line and "HTTPS" in line


def test_a_refused_connection_fails_at_once_not_after_the_retry_budget(db_url, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/open/v1"
    started = time.monotonic()
    result = cli("sync", env=platform_env(tmp_path, url, db_url))
    elapsed = time.monotonic() - started
    line = one_line(result)
    assert result.returncode == 2
    assert "BRIDGE_PLATFORM_URL" in line and url in line and "拒绝连接" in line
    assert elapsed < 15, elapsed  # the retry budget spent 27 s on it before


@contextmanager
def tls_platform(tmp_path: Path):
    """An HTTPS server with a certificate of a CA the default bundle does not know."""
    from tests.integration.test_platform_client import _pki

    ca_file, (server_cert, server_key), _ = _pki(tmp_path)

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(500)
            self.end_headers()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert, server_key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1], ca_file
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_against_an_https_platform_and_an_untrusted_certificate(sqlite_internal_url, tmp_path):
    with tls_platform(tmp_path) as (port, _ca):
        plain = f"http://127.0.0.1:{port}/open/v1"
        as_http = cli("sync", env=platform_env(tmp_path, plain, sqlite_internal_url))
        secure = f"https://127.0.0.1:{port}/open/v1"
        untrusted = cli("sync", env=platform_env(tmp_path, secure, sqlite_internal_url))
    line = one_line(as_http)
    assert as_http.returncode == 2 and "BRIDGE_PLATFORM_URL" in line and plain in line and "https" in line.lower()
    line = one_line(untrusted)
    assert untrusted.returncode == 2 and "BRIDGE_CA_BUNDLE" in line and secure in line


def test_a_busy_first_answer_is_left_to_the_retry_budget(sqlite_internal_url, tmp_path):
    """A platform that answers but is busy is no configuration problem: the run retries it."""
    from bridge.wiring import platform_cause
    from connectors.platform import errors as e

    busy = e.RetryBudgetExhausted("GET /pension/transactions: gave up after retries: 42901: slow down", 42901)
    busy.__cause__ = e.RetriableError("42901: slow down", 42901)
    assert platform_cause("http://p/open/v1", busy) is None
    down = e.RetryBudgetExhausted("gave up: 50301", 50301)
    assert platform_cause("http://p/open/v1", down) is None
    gateway = e.RetryBudgetExhausted("gave up after retries: unreadable answer, HTTP 503")
    assert platform_cause("http://p/open/v1", gateway) is None  # a gateway's page while the platform is down
    web_page = e.RetryBudgetExhausted("gave up after retries: unreadable answer, HTTP 404")
    assert "BRIDGE_PLATFORM_URL" in platform_cause("http://p/open/v1", web_page)


# --- finding 8: configuration mistakes, one line each --------------------------------------------

def test_missing_setting_is_one_chinese_line(tmp_path):
    result = cli("sync", env=clean_env(tmp_path))
    line = one_line(result)
    assert result.returncode == 2 and "BRIDGE_PLATFORM_URL" in line and "未设置" in line


def test_an_env_file_that_is_not_there_is_refused(tmp_path):
    missing = tmp_path / "etc" / "bridge.env"
    result = cli("conflicts", "list", env={**clean_env(tmp_path), "BRIDGE_ENV_FILE": str(missing)})
    line = one_line(result)
    assert result.returncode == 2 and "BRIDGE_ENV_FILE" in line and str(missing) in line


def test_no_settings_at_all_is_not_an_empty_queue(tmp_path):
    result = cli("conflicts", "list", env=clean_env(tmp_path))
    line = one_line(result)
    assert result.returncode == 2 and "BRIDGE_INTERNAL_DB" in line and "BRIDGE_ENV_FILE" in line
    assert not (tmp_path / "xdg" / "pension-bridge" / "state.db").exists()  # nothing made for nothing


def test_an_env_file_is_read(sqlite_internal_url, tmp_path):
    env_file = tmp_path / "bridge.env"
    env_file.write_text(f"BRIDGE_INTERNAL_DB={sqlite_internal_url}\nBRIDGE_HOME={tmp_path / 'home'}\n")
    result = cli("-v", "conflicts", "list", env={**clean_env(tmp_path), "BRIDGE_ENV_FILE": str(env_file)})
    assert result.returncode == 0, result.stderr
    assert str(env_file) in result.stderr and sqlite_internal_url in result.stderr


@pytest.mark.parametrize("url", ["/var/lib/pension/internal.db", "127.0.0.1:5432/test", "postgres//x@h/db"])
def test_a_database_url_without_a_scheme(url, tmp_path):
    result = cli("conflicts", "list", env=clean_env(tmp_path, internal_db=url, home=str(tmp_path / "h")))
    line = one_line(result)
    assert result.returncode == 2 and "BRIDGE_INTERNAL_DB" in line and "postgresql://" in line


def test_postgresql_down_is_one_line_naming_the_setting(tmp_path):
    url = f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/test"
    result = cli("conflicts", "list", env=clean_env(tmp_path, internal_db=url, home=str(tmp_path / "h")))
    line = one_line(result)
    assert result.returncode == 2 and "BRIDGE_INTERNAL_DB" in line and "127.0.0.1" in line
    assert "s3cret" not in result.stderr
    state = cli("status", env=clean_env(tmp_path, internal_db="sqlite:///" + str(tmp_path / "i.db"), state_db=url,
                                        home=str(tmp_path / "h")))
    assert state.returncode == 2 and "BRIDGE_STATE_DB" in one_line(state)


def _seal_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    from sync.sealing.signer import new_key

    key = new_key("Ed25519", "S-1", "seal")
    incomplete = {k: v for k, v in key.__dict__.items() if k != "seal_code"}
    public_only = {**key.__dict__, "private_key": None}
    cases = {"missing": (tmp_path / "absent.json", "不存在"), "empty": (tmp_path / "empty.json", "空"),
             "incomplete": (tmp_path / "part.json", "seal_code"), "public": (tmp_path / "pub.json", "公钥")}
    cases["empty"][0].write_text("")
    cases["incomplete"][0].write_text(json.dumps(incomplete))
    cases["public"][0].write_text(json.dumps(public_only))
    return cases


def test_a_bad_seal_key_file_is_one_line(db_url, tmp_path):
    for name, (path, words) in _seal_cases(tmp_path).items():
        env = clean_env(tmp_path, internal_db=db_url, home=str(tmp_path / "h"), seal_key=str(path))
        result = cli("conflicts", "resolve", "1", "--action", "keep", "--operator", "it", env=env)
        line = one_line(result)
        assert result.returncode == 2, name
        assert "BRIDGE_SEAL_KEY" in line and str(path) in line and words in line, (name, line)


def test_the_trial_key_is_announced_once_in_chinese(sqlite_internal_url, tmp_path):
    env = clean_env(tmp_path, internal_db=sqlite_internal_url, home=str(tmp_path / "h"))
    first = cli("conflicts", "resolve", "1", "--action", "keep", "--operator", "it", env=env)
    second = cli("conflicts", "resolve", "1", "--action", "keep", "--operator", "it", env=env)
    assert "BRIDGE_SEAL_KEY" in first.stderr and CJK.search(first.stderr)
    assert "seal_trial_key" not in first.stderr + second.stderr  # not the JSON warning on every run
    assert "BRIDGE_SEAL_KEY" not in second.stderr


def test_an_unknown_conflict_kind_or_status_is_refused_naming_the_known(sqlite_internal_url, tmp_path):
    env = clean_env(tmp_path, internal_db=sqlite_internal_url, home=str(tmp_path / "h"))
    cli("db", "upgrade", env=env)
    kind = cli("conflicts", "list", "--kind", "stale", env=env)
    line = one_line(kind)
    assert kind.returncode == 2 and "stale" in line and "stale_change" in line and "materials_incomplete" in line
    status = cli("conflicts", "list", "--status", "closed", env=env)
    assert status.returncode == 2 and "resolved" in one_line(status)
    known = cli("conflicts", "list", "--kind", "stale_change", env=env)
    assert known.returncode == 0, known.stderr


def test_users_add_of_an_existing_name_is_one_line(sqlite_internal_url, tmp_path):
    env = clean_env(tmp_path, internal_db=sqlite_internal_url, home=str(tmp_path / "h"))
    args = ("users", "add", "li", "--role", "staff", "--region", "5301", "--password-stdin")
    first = subprocess.run([sys.executable, "-m", "bridge", *args], input="a-long-password-1\n", capture_output=True,
                           text=True, env=env, timeout=60)
    again = subprocess.run([sys.executable, "-m", "bridge", *args], input="a-long-password-1\n", capture_output=True,
                           text=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    assert again.returncode != 0 and "Traceback" not in again.stderr and "argon2" not in again.stdout + again.stderr
    said = [line for line in (again.stdout + again.stderr).strip().splitlines() if "BRIDGE_DATA_KEY" not in line]
    assert len(said) == 1 and "li" in said[0]


def test_verbose_says_which_databases_without_passwords(tmp_path):
    url = f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/test"
    result = cli("-v", "status", env=clean_env(tmp_path, internal_db=url, home=str(tmp_path / "h")))
    first = result.stderr.splitlines()[0]
    assert "BRIDGE_INTERNAL_DB" in first and "127.0.0.1" in first and "s3cret" not in result.stderr


# --- finding 9: progress, help, copyable lines --------------------------------------------------

def test_sync_off_a_terminal_has_no_progress_display(sqlite_internal_url, tmp_path):
    with sandbox(with_scans(raw_txn("CBDJ"), raw_txn("BJ", updated_at="2026-11-25 10:00:00"))) as server:
        result = cli("sync", env=platform_env(tmp_path, server.base_url, sqlite_internal_url))
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr, repr(result.stderr)
    assert "━" not in result.stderr and "条/秒" not in result.stderr
    for line in result.stderr.splitlines():  # log lines, JSON, one each (and the trial key's notice)
        assert "BRIDGE_SEAL_KEY" in line or "BRIDGE_DATA_KEY" in line or json.loads(line)
    assert "参保登记" in result.stdout


def test_every_command_and_option_has_chinese_help():
    import typer.main
    from typer._click.core import Context

    from bridge.cli import app

    missing = []

    def walk(command, path):
        if not CJK.search(command.help or ""):
            missing.append(path or "pension-bridge")
        params = list(command.params) + [command.get_help_option(Context(command))]
        for param in params:
            if param is not None and not CJK.search(getattr(param, "help", None) or ""):
                missing.append(f"{path} --{param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    assert missing == []


def test_help_of_a_command_reads_in_chinese(tmp_path):
    result = cli("conflicts", "list", "--help", env=clean_env(tmp_path))
    assert result.returncode == 0
    assert "列出冲突" in result.stdout and "冲突类型" in result.stdout and "显示本帮助" in result.stdout


def test_next_step_lines_are_not_wrapped_at_80_columns():
    from bridge import cli as module
    from config.catalogue import text

    shown = text("demo.next", env="/home/county-it/pension-bridge/.demo/demo-environment-file.env")
    buffer = io.StringIO()
    module.console.file, module.console.width = buffer, 80
    try:
        module.console.print(shown)
    finally:
        module.console.file = sys.stdout
    assert buffer.getvalue().rstrip("\n").splitlines() == shown.splitlines()
    assert max(map(len, shown.splitlines())) > 80

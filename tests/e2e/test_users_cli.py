"""``pension-bridge users …`` as an administrator runs it: a real process on a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from sync.ledger import tables as lt
from tests.conftest import _fresh_url


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path):
    for url in _fresh_url(request.param, tmp_path):
        schema = engine_for(url)
        create_contract_schema(schema)
        schema.dispose()
        yield {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
               "BRIDGE_INTERNAL_DB": url, "BRIDGE_HOME": str(tmp_path)}
        engine = _ENGINES.pop(url, None)
        if engine is not None:
            engine.dispose()


def cli(env: dict[str, str], *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", "users", *args], capture_output=True, text=True, env=env,
                          input=password, timeout=120)


_ENGINES: dict[str, object] = {}


def state(env):
    """One engine per database (each test's database is dropped after it)."""
    url = env["BRIDGE_INTERNAL_DB"]
    if url not in _ENGINES:
        _ENGINES[url] = engine_for(url)
    return _ENGINES[url]


def session_count(env, name: str) -> int:
    with state(env).connect() as conn:
        return len(conn.execute(select(lt.session).where(lt.session.c.user_name == name)).all())


def sign_in(env, name: str, password: str) -> None:
    from console.auth import login
    from mapping.types import now_local
    login(state(env), name, password, now_local())


def test_add_twice_is_one_chinese_line_and_no_traceback(env):
    first = cli(env, "add", "李华", "--role", "staff", "--region", "5301", "--password-stdin", password="password 1\n")
    again = cli(env, "add", "李华", "--role", "agent", "--region", "5302", "--password-stdin", password="password 2\n")
    assert first.returncode == 0, first.stderr
    assert again.returncode == 2 and "Traceback" not in again.stdout + again.stderr
    assert again.stdout.strip().splitlines() == ["用户 李华 已经存在，未作改动。"]
    with state(env).connect() as conn:
        assert conn.execute(select(lt.user.c.role)).scalars().all() == ["staff"]
    short = cli(env, "add", "王五", "--role", "staff", "--region", "5301", "--password-stdin", password="short\n")
    assert short.returncode == 2 and short.stdout.strip() == "密码至少要8位。"


def test_disable_enable_reset_and_revoke(env):
    from console.auth import LoginRefused

    assert cli(env, "add", "李华", "--role", "staff", "--region", "5301", "--password-stdin",
               password="password 1\n").returncode == 0
    sign_in(env, "李华", "password 1")
    sign_in(env, "李华", "password 1")
    disabled = cli(env, "disable", "李华")
    assert disabled.returncode == 0 and "2" in disabled.stdout and session_count(env, "李华") == 0
    with pytest.raises(LoginRefused):
        sign_in(env, "李华", "password 1")
    assert cli(env, "enable", "李华").returncode == 0
    sign_in(env, "李华", "password 1")
    listed = cli(env, "sessions", "李华")
    assert listed.returncode == 0 and listed.stdout.count("登录于") == 1
    reset = cli(env, "reset-password", "李华", "--password-stdin", password="password 2\n")
    assert reset.returncode == 0 and session_count(env, "李华") == 0
    with pytest.raises(LoginRefused):
        sign_in(env, "李华", "password 1")
    sign_in(env, "李华", "password 2")
    revoked = cli(env, "sessions", "李华", "--revoke")
    assert revoked.returncode == 0 and session_count(env, "李华") == 0
    unknown = cli(env, "disable", "无此人")
    assert unknown.returncode == 2 and unknown.stdout.strip() == "没有名为 无此人 的用户。"
    with state(env).connect() as conn:
        trail = [(r.actor, r.action) for r in conn.execute(select(lt.audit).where(lt.audit.c.subject == "李华"))]
    assert [a for _, a in trail] == ["user:add", "user:disable", "user:enable", "user:reset_password",
                                     "user:revoke_sessions"]

"""``pension-bridge users add --agent-id`` and ``users link-agent``: the console user an agent
signs in as is the platform's agent, so that "mine" and what the agent may see follow it."""

from __future__ import annotations

from sqlalchemy import select

from sync.ledger import tables as lt
from tests.e2e.test_users_cli import cli, env, state  # noqa: F401 (the fixture)


def agent_of(env, name: str) -> str | None:
    with state(env).connect() as conn:
        return conn.execute(select(lt.user.c.agent_id).where(lt.user.c.name == name)).scalar_one()


def test_an_agent_user_is_linked_relinked_and_unlinked(env):
    added = cli(env, "add", "王代办", "--role", "agent", "--region", "530102", "--agent-id", "A0017",
                "--password-stdin", password="password 1\n")
    assert added.returncode == 0, added.stderr
    assert agent_of(env, "王代办") == "A0017"
    moved = cli(env, "link-agent", "王代办", "--agent-id", "A0020")
    assert moved.returncode == 0 and "A0020" in moved.stdout and agent_of(env, "王代办") == "A0020"
    cleared = cli(env, "link-agent", "王代办")
    assert cleared.returncode == 0 and "解除" in cleared.stdout and agent_of(env, "王代办") is None
    with state(env).connect() as conn:
        trail = [r.action for r in conn.execute(select(lt.audit).where(lt.audit.c.subject == "王代办"))]
    assert trail.count("user:link_agent") == 2


def test_a_bad_agent_id_or_unknown_user_is_one_chinese_line(env):
    bad = cli(env, "add", "赵六", "--role", "agent", "--region", "530102", "--agent-id", "A 0017;<x>",
              "--password-stdin", password="password 1\n")
    assert bad.returncode == 2 and "代办员编号只能由" in bad.stdout and "Traceback" not in bad.stderr
    unknown = cli(env, "link-agent", "没有这人", "--agent-id", "A0017")
    assert unknown.returncode == 2 and "没有名为 没有这人 的用户" in unknown.stdout


def test_the_password_is_confirmed_in_chinese(env):
    """Issue 26, finding 6: click's own confirmation prompt and its mismatch error are English."""
    added = cli(env, "add", "李华", "--role", "staff", "--region", "5301",
                password="password 1\npassword 2\npassword 1\npassword 1\n")
    shown = added.stdout + added.stderr
    assert added.returncode == 0, shown
    assert "请再输入一次密码" in shown and "两次输入的密码不一致" in shown
    assert "Repeat for confirmation" not in shown and "do not match" not in shown

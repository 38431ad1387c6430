"""Finding 6 and the login and session parts of finding 10, against a real uvicorn server."""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import closing

import httpx
import pytest

from console import auth
from sync.ledger import tables as lt
from tests.e2e.console_world import PASSWORD, USERS
from tests.integration.test_sync import rows
from tests.security.console_fixtures import Clock, attempt, bare_console, sign_in

STAFF = USERS["staff"][0]


@pytest.fixture(params=["sqlite", "postgresql"])
def bare(request, tmp_path):
    clock = Clock()
    with bare_console(request.param, tmp_path, clock) as (parts, console):
        yield parts, console, clock


def test_failed_logins_do_not_stall_other_requests(bare):
    """Six concurrent failed logins for unknown names made GET /login take 2.9 s."""
    parts, console, _ = bare
    took: list[float] = []

    def fail(n: int) -> None:
        begun = time.monotonic()
        answer = attempt(console, f"nobody-{n}", "wrong password")
        took.append(time.monotonic() - begun)
        assert answer.status_code == 401

    threads = [threading.Thread(target=fail, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the six are inside their slow-down now
    with httpx.Client(base_url=console.url) as client:
        begun = time.monotonic()
        assert client.get("/login").status_code == 200
        quick = time.monotonic() - begun
    for thread in threads:
        thread.join()
    assert quick < 1.0, f"GET /login took {quick:.2f} s beside six failed logins"
    assert len(took) == 6 and min(took) >= auth.FAILED_DELAY  # the slow-down itself is still there


def test_one_answer_for_unknown_wrong_locked_and_disabled(bare):
    parts, console, _ = bare
    unknown = attempt(console, "无此人", "wrong password")
    wrong = attempt(console, STAFF, "wrong password")
    for _ in range(auth.LOCK_AFTER):
        attempt(console, USERS["auditor"][0], "wrong password")
    locked = attempt(console, USERS["auditor"][0], PASSWORD)  # the right password, but locked
    auth.disable_user(parts.state, USERS["agent"][0], parts.clock())
    disabled = attempt(console, USERS["agent"][0], PASSWORD)
    answers = [unknown, wrong, locked, disabled]
    assert {a.status_code for a in answers} == {401}
    message = [a.text.split('role="alert">')[1].split("<")[0] for a in answers]
    assert len(set(message)) == 1, message
    assert rows(parts.state, lt.user, name=USERS["auditor"][0])[0]["locked_until"] is not None


def test_one_timing_for_unknown_and_known_names(bare):
    """Over the network: the slow-down is the same; in process: an unknown name costs an argon2
    verification too (it used to answer at once, which told which names exist)."""
    parts, console, clock = bare
    def timed(name: str) -> float:
        begun = time.monotonic()
        attempt(console, name, "wrong password")
        return time.monotonic() - begun
    over_http = {name: statistics.median(timed(name) for _ in range(3)) for name in ("无此人", STAFF)}
    assert abs(over_http["无此人"] - over_http[STAFF]) < 0.25, over_http

    def in_process(name: str) -> float:
        begun = time.perf_counter()
        with pytest.raises(auth.LoginRefused):
            auth.login(parts.state, name, "wrong password", clock())
        return time.perf_counter() - begun
    auth.enable_user(parts.state, STAFF, clock())  # not locked by the attempts above
    unknown = statistics.median(in_process("无此人") for _ in range(5))
    known = statistics.median(in_process(USERS["agent"][0]) for _ in range(5))
    assert 0.5 < unknown / known < 2.0, (unknown, known)


def test_idle_sessions_end_and_active_ones_last_until_eight_hours(tmp_path):
    clock = Clock()
    with bare_console("sqlite", tmp_path, clock, idle_minutes=30) as (parts, console):
        with closing(sign_in(console, STAFF)) as client:
            for _ in range(4):  # active: a request every 29 minutes keeps it
                clock.advance(minutes=29)
                assert client.get("/").status_code == 200
            [session] = rows(parts.state, lt.session, user_name=STAFF)
            assert session["last_seen_at"] == clock.now
            clock.advance(minutes=31)
            assert client.get("/", follow_redirects=False).headers["location"] == "/login"
            assert rows(parts.state, lt.session, user_name=STAFF) == []
        with closing(sign_in(console, STAFF)) as client:
            for _ in range(16):  # 8 h of requests every 29 minutes: 464 minutes
                clock.advance(minutes=29)
                assert client.get("/").status_code == 200
            clock.advance(minutes=17)  # 481 minutes since sign-in: past the absolute 8 h
            assert client.get("/", follow_redirects=False).status_code == 303


def test_the_idle_timeout_is_configurable(tmp_path):
    clock = Clock()
    with bare_console("sqlite", tmp_path, clock, idle_minutes=5) as (parts, console):
        with closing(sign_in(console, STAFF)) as client:
            clock.advance(minutes=6)
            assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_only_that_session(bare):
    parts, console, _ = bare
    with closing(sign_in(console, STAFF)) as one, closing(sign_in(console, STAFF)) as two:
        page = one.get("/")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        assert one.post("/logout", data={"csrf": csrf}).status_code == 303
        assert one.get("/", follow_redirects=False).status_code == 303
        assert two.get("/").status_code == 200
    assert [a["action"] for a in rows(parts.state, lt.audit, actor=STAFF)].count("logout") == 1


def test_disable_reset_and_revoke_end_sessions(bare):
    parts, console, clock = bare
    with closing(sign_in(console, STAFF)) as one, closing(sign_in(console, STAFF)) as two:
        assert auth.disable_user(parts.state, STAFF, clock()) == 2
        assert one.get("/", follow_redirects=False).status_code == 303
        assert two.get("/", follow_redirects=False).status_code == 303
    assert attempt(console, STAFF, PASSWORD).status_code == 401
    auth.enable_user(parts.state, STAFF, clock())
    with closing(sign_in(console, STAFF)) as three:
        assert auth.reset_password(parts.state, STAFF, "a new password 2", clock()) == 1
        assert three.get("/", follow_redirects=False).status_code == 303
    assert attempt(console, STAFF, PASSWORD).status_code == 401
    with closing(sign_in(console, STAFF, "a new password 2")) as four:
        assert len(auth.sessions(parts.state, STAFF, clock())) == 1
        assert auth.revoke_sessions(parts.state, STAFF, clock()) == 1
        assert four.get("/", follow_redirects=False).status_code == 303
    trail = [(a["actor"], a["action"]) for a in rows(parts.state, lt.audit, subject=STAFF)]
    for action in ("user:disable", "user:enable", "user:reset_password", "user:revoke_sessions"):
        assert ("pension-bridge", action) in trail
    with pytest.raises(auth.UserError):
        auth.disable_user(parts.state, "无此人", clock())

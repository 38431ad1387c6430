"""Users, passwords (argon2), sessions that expire, CSRF tokens, slow-down and lock-out.

Everything here is blocking (argon2 is meant to be slow, the database calls are synchronous):
the console calls it off its event loop and waits out the slow-down with ``anyio.sleep``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from sync import audit
from sync.ledger import tables as t

ROLES = ("agent", "staff", "auditor")
SESSION_HOURS = 8
IDLE_MINUTES = 30
LOCK_AFTER = 5
LOCK_MINUTES = 15
FAILED_DELAY = 1.0
"""Seconds every refused sign-in waits, whoever asked: the same for a wrong password, an unknown
name, a locked or a disabled account, so that neither the answer nor its time tells them apart."""
SEEN_EVERY = timedelta(seconds=60)  # last-seen time written at most this often per session
CLI = "pension-bridge"  # the actor of what the command line does to users
_hasher = PasswordHasher()  # argon2id: memory-hard
AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # as pb_conflict.agent_id holds it


@dataclass(frozen=True)
class User:
    name: str
    role: str
    region_prefix: str
    csrf: str = ""
    agent_id: str | None = None  # the platform agent this user is: "mine" in the queue


class LoginRefused(Exception):
    """Wrong name or password, locked or disabled: deliberately one kind of refusal.

    ``delay``: seconds the caller waits before answering (asynchronously, off the event loop).
    """

    def __init__(self, delay: float = FAILED_DELAY) -> None:
        super().__init__("refused")
        self.delay = delay


class UserError(ValueError):
    """A user command that cannot be carried out; ``key`` and ``value`` name why (message catalogue)."""

    def __init__(self, key: str, value: str = "") -> None:
        super().__init__(f"{key}: {value}")
        self.key, self.value = key, value


def _check_new(password: str) -> None:
    if len(password) < 8:
        raise UserError("console.user_password_short")


def _check_agent_id(agent_id: str | None) -> None:
    if agent_id is not None and not AGENT_ID.fullmatch(agent_id):
        raise UserError("people.user_agent_invalid", agent_id[:40])


def add_user(state: Engine, name: str, role: str, region: str, password: str, now: datetime,
             agent_id: str | None = None) -> None:
    if not name.strip() or len(name) > 60:
        raise UserError("console.user_name_invalid", name[:60])
    if role not in ROLES:
        raise UserError("console.user_role_invalid", ", ".join(ROLES))
    if not region.isdigit() or not 2 <= len(region) <= 12:
        raise UserError("console.user_region_invalid", region[:20])
    _check_new(password)
    _check_agent_id(agent_id)
    hashed = _hasher.hash(password)
    try:
        with state.begin() as conn:
            if conn.execute(select(t.user.c.name).where(t.user.c.name == name)).first() is not None:
                raise UserError("console.user_exists", name)
            conn.execute(t.user.insert().values(name=name, role=role, region_prefix=region, password_hash=hashed,
                                                failed_logins=0, created_at=now, agent_id=agent_id))
            audit.append(conn, now, CLI, "user:add", name, {"role": role, "region": region, "agent_id": agent_id})
    except IntegrityError:  # added by someone else between the look and the insert
        raise UserError("console.user_exists", name) from None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown names so that they cost what real ones do."""
    return _hasher.hash(secrets.token_urlsafe(24))


def _check_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login(state: Engine, name: str, password: str, now: datetime) -> str:
    """A new session token; ``LoginRefused`` otherwise (blocking: argon2 and the database).

    The password is verified in every case (against a dummy hash for an unknown name) and every
    refusal is the same, so that which names exist, and which are locked, cannot be learnt.
    """
    with state.connect() as conn:
        row = conn.execute(select(t.user).where(t.user.c.name == name)).first()
    right = _check_password(row.password_hash if row is not None else None, password)
    locked = row is not None and row.locked_until is not None and row.locked_until > now
    with state.begin() as conn:  # what a refusal records is committed before it is raised
        if row is None:
            audit.append(conn, now, name[:60] or "?", "login:failed")
        elif locked or row.disabled_at is not None:
            audit.append(conn, now, name, "login:disabled" if row.disabled_at is not None else "login:locked")
        elif not right:
            failures = row.failed_logins + 1
            until = now + timedelta(minutes=LOCK_MINUTES) if failures >= LOCK_AFTER else None
            conn.execute(update(t.user).where(t.user.c.name == name).values(failed_logins=failures,
                                                                            locked_until=until))
            audit.append(conn, now, name, "login:failed")
    if row is None or locked or row.disabled_at is not None or not right:
        raise LoginRefused()
    with state.begin() as conn:
        conn.execute(update(t.user).where(t.user.c.name == name).values(failed_logins=0, locked_until=None))
        token = secrets.token_urlsafe(32)
        conn.execute(t.session.insert().values(token_hash=_token_hash(token), user_name=name,
                                               csrf=secrets.token_urlsafe(32), created_at=now, last_seen_at=now,
                                               expires_at=now + timedelta(hours=SESSION_HOURS)))
        audit.append(conn, now, name, "login")
    return token


def session_user(state: Engine, token: str | None, now: datetime,
                 idle: timedelta = timedelta(minutes=IDLE_MINUTES)) -> User | None:
    """The user of a live session: not past its absolute end, not idle too long, its user enabled.

    A session found dead is removed; a live one has its last-seen time moved on.
    """
    if not token:
        return None
    s, u = t.session.c, t.user.c
    digest = _token_hash(token)
    query = (select(u.name, u.role, u.region_prefix, u.agent_id, u.disabled_at, s.csrf, s.expires_at, s.last_seen_at)
             .select_from(t.session.join(t.user, s.user_name == u.name)).where(s.token_hash == digest))
    with state.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at is None or row.last_seen_at + idle <= now or row.disabled_at:
        with state.begin() as conn:
            conn.execute(delete(t.session).where(s.token_hash == digest))
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        with state.begin() as conn:
            conn.execute(update(t.session).where(s.token_hash == digest).values(last_seen_at=now))
    return User(row.name, row.role, row.region_prefix, row.csrf, row.agent_id)


def logout(state: Engine, token: str | None, now: datetime) -> None:
    """End this one session (the user's others stay)."""
    if not token:
        return
    with state.begin() as conn:
        name = conn.execute(select(t.session.c.user_name).where(t.session.c.token_hash == _token_hash(token))).scalar()
        conn.execute(delete(t.session).where(t.session.c.token_hash == _token_hash(token)))
        if name is not None:
            audit.append(conn, now, name, "logout")


# --- what the command line does to users ----------------------------------------------------------

def _existing(conn: Connection, name: str) -> Any:
    row = conn.execute(select(t.user).where(t.user.c.name == name)).first()
    if row is None:
        raise UserError("console.user_unknown", name)
    return row


def _end_sessions(conn: Connection, name: str) -> int:
    return conn.execute(delete(t.session).where(t.session.c.user_name == name)).rowcount or 0


def disable_user(state: Engine, name: str, now: datetime) -> int:
    """The user can no longer sign in; every session of theirs ends. The number of sessions ended."""
    with state.begin() as conn:
        _existing(conn, name)
        conn.execute(update(t.user).where(t.user.c.name == name).values(disabled_at=now))
        ended = _end_sessions(conn, name)
        audit.append(conn, now, CLI, "user:disable", name, {"sessions_ended": ended})
    return ended


def enable_user(state: Engine, name: str, now: datetime) -> None:
    """The user may sign in again (and is no longer locked)."""
    with state.begin() as conn:
        _existing(conn, name)
        conn.execute(update(t.user).where(t.user.c.name == name).values(disabled_at=None, failed_logins=0,
                                                                        locked_until=None))
        audit.append(conn, now, CLI, "user:enable", name)


def reset_password(state: Engine, name: str, password: str, now: datetime) -> int:
    """A new password; every session of the user ends (and a lock-out is lifted). Sessions ended."""
    _check_new(password)
    hashed = _hasher.hash(password)
    with state.begin() as conn:
        _existing(conn, name)
        conn.execute(update(t.user).where(t.user.c.name == name).values(password_hash=hashed, failed_logins=0,
                                                                        locked_until=None))
        ended = _end_sessions(conn, name)
        audit.append(conn, now, CLI, "user:reset_password", name, {"sessions_ended": ended})
    return ended


def sessions(state: Engine, name: str, now: datetime) -> list[dict[str, Any]]:
    """The user's sessions that are still live: when each began, was last seen and ends."""
    with state.connect() as conn:
        _existing(conn, name)
        s = t.session.c
        found = conn.execute(select(s.created_at, s.last_seen_at, s.expires_at).where(s.user_name == name,
                                                                                      s.expires_at > now)
                             .order_by(s.created_at)).all()
    return [dict(r._mapping) for r in found]


def link_agent(state: Engine, name: str, agent_id: str | None, now: datetime) -> None:
    """Link the user to a platform agent_id (None: unlink). Their sessions stay: the link is read
    on every request."""
    _check_agent_id(agent_id)
    with state.begin() as conn:
        _existing(conn, name)
        conn.execute(update(t.user).where(t.user.c.name == name).values(agent_id=agent_id))
        audit.append(conn, now, CLI, "user:link_agent", name, {"agent_id": agent_id})


def revoke_sessions(state: Engine, name: str, now: datetime) -> int:
    """End every session of the user (they stay able to sign in). The number ended."""
    with state.begin() as conn:
        _existing(conn, name)
        ended = _end_sessions(conn, name)
        audit.append(conn, now, CLI, "user:revoke_sessions", name, {"sessions_ended": ended})
    return ended


"""Users, passwords (argon2), sessions that expire, CSRF tokens, slow-down and lock-out."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from sync import audit
from sync.ledger import tables as t

ROLES = ("agent", "staff", "auditor")
SESSION_HOURS = 8
LOCK_AFTER = 5
LOCK_MINUTES = 15
_hasher = PasswordHasher()  # argon2id: memory-hard


@dataclass(frozen=True)
class User:
    name: str
    role: str
    region_prefix: str
    csrf: str = ""


class LoginRefused(Exception):
    """Wrong name or password, or locked: ``locked`` says which (without saying which user exists)."""

    def __init__(self, locked: bool) -> None:
        super().__init__("locked" if locked else "refused")
        self.locked = locked


def add_user(state: Engine, name: str, role: str, region: str, password: str, now: datetime) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not region.isdigit() or not 2 <= len(region) <= 12:
        raise ValueError("region must be a prefix of 2-12 digits")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    with state.begin() as conn:
        conn.execute(t.user.insert().values(name=name, role=role, region_prefix=region,
                                            password_hash=_hasher.hash(password), failed_logins=0, created_at=now))
        audit.append(conn, now, "pension-bridge", "user:add", name, {"role": role, "region": region})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(stored: str | None, password: str) -> bool:
    try:
        return stored is not None and _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login(state: Engine, name: str, password: str, now: datetime, sleep=time.sleep) -> str:
    """A new session token; ``LoginRefused`` otherwise. Each failure slows the next answer down."""
    with state.begin() as conn:
        row = conn.execute(select(t.user).where(t.user.c.name == name)).first()
        if row is not None and row.locked_until is not None and row.locked_until > now:
            audit.append(conn, now, name, "login:locked")
            raise LoginRefused(locked=True)
        if not _check_password(row.password_hash if row else None, password):
            failures = (row.failed_logins if row else 0) + 1
            if row is not None:
                locked = now + timedelta(minutes=LOCK_MINUTES) if failures >= LOCK_AFTER else None
                conn.execute(update(t.user).where(t.user.c.name == name).values(failed_logins=failures,
                                                                                locked_until=locked))
            audit.append(conn, now, name[:60] or "?", "login:failed")
            refused = LoginRefused(locked=failures >= LOCK_AFTER and row is not None)
        else:
            refused = None
            conn.execute(update(t.user).where(t.user.c.name == name).values(failed_logins=0, locked_until=None))
            token = secrets.token_urlsafe(32)
            conn.execute(t.session.insert().values(token_hash=_token_hash(token), user_name=name,
                                                   csrf=secrets.token_urlsafe(32),
                                                   expires_at=now + timedelta(hours=SESSION_HOURS)))
            audit.append(conn, now, name, "login")
    if refused is not None:
        sleep(min(3.0, 0.5 * failures))
        raise refused
    return token


def session_user(state: Engine, token: str | None, now: datetime) -> User | None:
    if not token:
        return None
    s, u = t.session.c, t.user.c
    query = (select(u.name, u.role, u.region_prefix, s.csrf, s.expires_at)
             .select_from(t.session.join(t.user, s.user_name == u.name)).where(s.token_hash == _token_hash(token)))
    with state.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.expires_at <= now:
        return None
    return User(row.name, row.role, row.region_prefix, row.csrf)


def logout(state: Engine, token: str | None) -> None:
    if token:
        with state.begin() as conn:
            conn.execute(delete(t.session).where(t.session.c.token_hash == _token_hash(token)))

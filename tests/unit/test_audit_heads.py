"""The signed audit head: kept outside the database, it catches what the database alone cannot."""

from __future__ import annotations

import json
import stat
from datetime import datetime

import pytest
from sqlalchemy import create_engine, update

from sync import audit
from sync.ledger import tables as t
from sync.ledger.migrate import upgrade
from sync.sealing import signer as s

AT = datetime(2026, 5, 1, 22, 0, 0)


@pytest.fixture
def state(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def seal():
    return s.Sm2Signer(s.new_key("SM2-SM3", "T-1", "test seal"))


def _fill(engine, n: int, start: int = 0) -> None:
    with engine.begin() as conn:
        for i in range(start, start + n):
            audit.append(conn, AT, "pension-bridge", "writeback", f"TX{i:04d}", {"key": i})


def test_a_head_is_signed_and_appended_owner_only(state, seal, tmp_path):
    _fill(state, 3)
    record = audit.sign_head(state, seal, tmp_path, AT)
    path = audit.heads_path(tmp_path)
    assert record["entries"] == 3 and record["algorithm"] == "SM2-SM3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    _fill(state, 2, 3)
    audit.sign_head(state, seal, tmp_path, AT)
    assert len(path.read_text().splitlines()) == 2  # appended, never rewritten
    latest, problems, other = audit.latest_head(path, seal)
    assert latest["entries"] == 5 and problems == [] and other == 0
    with state.connect() as conn:
        assert audit.check(conn, latest) == []


def test_a_head_signed_by_another_key_or_edited_is_not_taken(state, seal, tmp_path):
    _fill(state, 2)
    audit.sign_head(state, seal, tmp_path, AT)
    path = audit.heads_path(tmp_path)
    other = s.Sm2Signer(s.new_key("SM2-SM3", "T-2", "someone else"))
    with state.connect() as conn:
        forged = audit.signed_head(conn, other, AT)
    good = json.loads(path.read_text())
    edited = {**good, "entries": 1}
    audit.append_head(path, forged)
    audit.append_head(path, edited)
    path.open("a").write("not a head\n")
    latest, problems, other = audit.latest_head(path, seal)
    assert latest == good  # neither the other key's head nor the edited one is taken
    assert other == 1  # under another key: not taken, not an alarm (a seal key replaced)
    assert len(problems) == 2 and all("not a head signed by the seal key" in p for p in problems)


def test_a_chain_rewritten_from_its_first_entry_fails_against_the_signed_head(state, seal, tmp_path):
    """Whoever can write the database rewrites every entry and the head row to match: the chain
    alone checks clean, the signed head outside does not."""
    _fill(state, 4)
    audit.sign_head(state, seal, tmp_path, AT)
    with state.begin() as conn:
        conn.execute(t.audit.delete())
        conn.execute(update(t.audit_head).values(entries=0, last_hash=audit.GENESIS))
        for i in range(4):  # the same actions, one subject changed: a history that never was
            audit.append(conn, AT, "pension-bridge", "writeback", "TX9999" if i == 1 else f"TX{i:04d}", {"key": i})
    latest, _, _ = audit.latest_head(audit.heads_path(tmp_path), seal)
    with state.connect() as conn:
        assert audit.check(conn) == []  # consistent in itself
        problems = audit.check(conn, latest)
    assert any("rewritten" in p for p in problems)


def test_entries_removed_at_the_end_with_the_head_row_rewound_are_found(state, seal, tmp_path):
    _fill(state, 4)
    audit.sign_head(state, seal, tmp_path, AT)
    with state.begin() as conn:
        kept = conn.execute(t.audit.select().order_by(t.audit.c.id)).all()[:2]
        conn.execute(t.audit.delete().where(t.audit.c.id > kept[-1].id))
        conn.execute(update(t.audit_head).values(entries=2, last_hash=kept[-1].hash))
    latest, _, _ = audit.latest_head(audit.heads_path(tmp_path), seal)
    with state.connect() as conn:
        assert audit.check(conn) == []
        assert any("entries were removed" in p for p in audit.check(conn, latest))


def test_entries_after_the_signed_head_still_check(state, seal, tmp_path):
    """The console appends (logins) between runs: a chain longer than its last head is sound."""
    _fill(state, 2)
    audit.sign_head(state, seal, tmp_path, AT)
    _fill(state, 3, 2)
    latest, _, _ = audit.latest_head(audit.heads_path(tmp_path), seal)
    with state.connect() as conn:
        assert audit.check(conn, latest) == []


def test_a_heads_file_that_is_a_symbolic_link_is_not_written_through(state, seal, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    path = audit.heads_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)
    _fill(state, 1)
    assert audit.sign_head(state, seal, tmp_path, AT) is None  # refused, logged; the run goes on
    assert target.read_text() == ""


def test_a_verifying_key_reads_heads_signed_by_its_private_half(state, tmp_path):
    key = s.new_key("SM2-SM3", "T-1", "test seal")
    _fill(state, 1)
    audit.sign_head(state, s.Sm2Signer(key), tmp_path, AT)
    public_only = s.Sm2Signer(s.KeyFile(key.algorithm, key.public_key, None, key.seal_code, key.seal_name))
    latest, problems, _ = audit.latest_head(audit.heads_path(tmp_path), public_only)
    assert latest is not None and latest["entries"] == 1 and problems == []


def test_heads_of_an_earlier_seal_key_do_not_fail_verify_after_a_key_change(state, seal, tmp_path):
    """The trial key replaced by the agency's: the old heads are not taken, the next run signs anew."""
    _fill(state, 2)
    audit.sign_head(state, seal, tmp_path, AT)
    agency = s.Sm2Signer(s.new_key("SM2-SM3", "530102-0001", "agency"))
    latest, problems, other = audit.latest_head(audit.heads_path(tmp_path), agency)
    assert latest is None and problems == [] and other == 1
    audit.sign_head(state, agency, tmp_path, AT)
    latest, problems, other = audit.latest_head(audit.heads_path(tmp_path), agency)
    assert latest["entries"] == 2 and problems == [] and other == 1

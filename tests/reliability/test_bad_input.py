"""Bad input of every kind: rejected or queued with a reason naming the field; never a crash,
never a stopped batch, never a dropped record."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bridge import wiring
from connectors.internal.db import engine_for
from connectors.internal.schema import create_contract_schema
from mapping import idcard, wire
from mapping.internal import InternalView
from mapping.validate import validate
from sandbox.state import PlatformState
from sync.ledger import tables as lt
from sync.planning.planner import Candidate, plan
from sync.process import stage
from sync.verify import verify
from tests.factories import codes, context, raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK

PATHS = [("txn_id",), ("version",), ("biz_type",), ("status",), ("created_at",), ("updated_at",), ("region_code",),
         ("agent",), ("agent", "agent_id"), ("agent", "name"), ("person",), ("person", "id_number"), ("person", "name"),
         ("person", "gender"), ("person", "ethnicity"), ("person", "birth_date"), ("person", "phone"),
         ("person", "hukou_type"), ("person", "address"), ("payload",), ("attachments",), ("remarks",)]
NASTY = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), st.text(max_size=40),
    st.text(min_size=3000, max_size=12000), st.sampled_from([
        "'; drop table ac01; --", "<script>alert(1)</script>", "2026-02-30", "2026-13-01 25:61:61", "\x00\x07\x1b",
        "11010519491231002Y", "１１０１０５１９４９１２３１００２x", "YLDY", "unknown", "530199001001", "-1", "1e309"]))


def mutate(raw: dict, path: tuple[str, ...], value, delete: bool) -> dict:
    out = copy.deepcopy(raw)
    target = out
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return out


@st.composite
def malformed(draw):
    raw = raw_txn(draw(st.sampled_from(["CBDJ", "BJ", "XXBG", "ZXDJ", "ZYZR"])))
    for _ in range(draw(st.integers(1, 4))):
        raw = mutate(raw, draw(st.sampled_from(PATHS)), draw(NASTY), draw(st.booleans()))
    if draw(st.booleans()):
        raw["payload"] = {k: draw(NASTY) for k in list((raw.get("payload") or {}) if isinstance(raw.get("payload"), dict) else {})}
    if draw(st.booleans()):
        raw[draw(st.text(min_size=1, max_size=8))] = draw(NASTY)  # a field from a newer platform release
    return raw


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_every_malformation_is_a_named_problem_never_a_crash(raw):
    staged = stage(raw)
    try:
        txn = wire.parse(raw)
    except wire.WireError as err:
        assert err.problems and all(p.field and p.message() for p in err.problems)
        return
    result = validate(txn, context(), {}, staged.content_hash)
    if result.record is None:
        assert result.problems and all(p.field and p.message() for p in result.problems)
    decision = plan(Candidate(staged.txn_id, staged.version, txn.status, staged.content_hash, result),
                    InternalView(), codes(), None)
    assert decision.state in ("applied", "withdrawn", "invalid", "conflict")


def bad_feed(n: int, seed: int) -> list[dict]:
    """A feed of broken items (built like the property above), with duplicate and older versions."""
    rng, items = random.Random(seed), []
    for i in range(n):
        raw = raw_txn(rng.choice(["CBDJ", "BJ", "XXBG", "ZXDJ", "ZYZR"]), txn_id=f"RH5301022026112590{i:02d}",
                      updated_at=f"2026-11-25 11:{i // 60:02d}:{i % 60:02d}")
        path = rng.choice(PATHS[2:])
        raw = mutate(raw, path, rng.choice([None, 12345, ["x"], "<b>x</b>", "x" * 5000, "\x00"]), rng.random() < 0.3)
        items.append(raw)
    items.append({"version": 2, "updated_at": "2026-11-25 12:00:00", "region_code": "530102001001"})  # no txn_id
    items.append("not even an object")
    return items


def test_a_feed_of_broken_items_is_accounted_for_item_by_item(sqlite_internal_url, tmp_path):
    items = bad_feed(80, seed=3)
    with sandbox({"seed": 0, "transactions": [], "attachments": {}}) as server:
        for i, raw in enumerate(items):
            key = raw["txn_id"] if isinstance(raw, dict) and isinstance(raw.get("txn_id"), str) else f"?{i}"
            server.state.txns[key] = raw if isinstance(raw, dict) else {"updated_at": "2026-11-25 12:00:01", "x": raw}
            server.state._order.append((str(server.state.txns[key].get("updated_at")), key))
        server.state._order.sort()
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path, regions="", page_size=25), clock=CLOCK)
        from sync import nightly
        result = nightly.run(parts)
        first = items[0]["txn_id"]

        def later(seconds: int) -> str:  # the platform stamps new versions with its own clock
            return (server.state.local_now() + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")

        server.state.put(dict(items[0], version=5, updated_at=later(1)))
        nightly.run(parts)
        server.state.put(dict(items[0], version=4, updated_at=later(2)))  # a decreasing version
        server.state.put(dict(items[1], updated_at=later(3)))  # the same version again
        again = nightly.run(parts)
    assert result.status == "completed" and again.status == "completed"
    with parts.state.connect() as conn:
        states = conn.execute(select(func.count()).select_from(lt.txn)).scalar()
        kept = conn.execute(select(lt.txn.c.version).where(lt.txn.c.txn_id == first)).scalar()
        older = conn.execute(select(lt.txn_version.c.outcome).where(lt.txn_version.c.txn_id == first,
                                                                   lt.txn_version.c.version == 4)).scalar()
    assert states == len(items)  # every item, even the unreadable ones, has exactly one state
    versions = rows_of(parts, first)
    assert (kept, older) == (5, "unchanged"), versions  # the older version is recorded, and changes nothing
    assert again.tally.new_versions == 1
    assert verify(parts.internal, parts.state, "2").ok


def rows_of(parts, txn_id: str) -> list[tuple]:
    with parts.state.connect() as conn:
        return [tuple(r) for r in conn.execute(select(lt.txn_version.c.version, lt.txn_version.c.outcome,
                                                      lt.txn_version.c.updated_at).where(
            lt.txn_version.c.txn_id == txn_id))]


# --- the whole path on PostgreSQL: poison records beside clean ones (issue 23) -----------------

FIELDS = PATHS + [("payload", "grade"), ("payload", "enroll_date"), ("payload", "bank_account"),
                  ("payload", "bank_account", "bank_code"), ("payload", "bank_account", "holder_name"),
                  ("payload", "bank_account", "account_no"), ("agent", "name"), ("agent", "agent_id")]
WILD = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=80), st.text(alphabet="0123456789", min_size=8, max_size=60), st.text(min_size=40, max_size=700),
    st.sampled_from(["102100099996", "张" * 54, "1e12", "99999999999999.99", "2026-02-30", "\x00", "<b>x</b>"]))
_SERIAL = iter(range(1, 10**6))


def _person_txn(updated_at: str) -> dict:
    n = next(_SERIAL)
    txn = raw_txn("CBDJ", txn_id=f"RH53010220261125P{n:05d}", updated_at=updated_at)
    txn["person"] = dict(txn["person"], id_number=idcard.make(f"530102{19500101 + n // 900 * 10000}{n % 900:03d}"))
    txn["person"].pop("gender")
    txn["person"].pop("birth_date")  # the number's own
    return txn


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    """One PostgreSQL schema for every example: each example's records are new people."""
    from tests.conftest import _fresh_url
    for url in _fresh_url("postgresql", tmp_path_factory.mktemp("pg")):
        engine = engine_for(url)
        create_contract_schema(engine)
        engine.dispose()
        yield url


@st.composite
def poisoned_batch(draw):
    """Clean enrolments, and among them one to three with hypothesis values in any fields."""
    poison = []
    for _ in range(draw(st.integers(1, 3))):
        mutations = draw(st.lists(st.tuples(st.sampled_from(FIELDS), WILD, st.booleans()), min_size=1, max_size=3))
        poison.append(mutations)
    return draw(st.integers(2, 4)), poison, draw(st.booleans())


@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(poisoned_batch())
def test_poison_records_never_stop_the_clean_ones_on_postgresql(pg_url, tmp_path_factory, example):
    """Feed, scans, validate, plan, apply, commit, seal, write-back: every clean record of the
    batch is applied and answered, the poison ones end with one state each, no body is refused,
    and the next night moves the checkpoint on. With ``check`` off the column limits are not
    looked at first (``sync.fits``), so what PostgreSQL refuses is isolated after the fact."""
    from unittest import mock

    from sync import checkpoint as cp
    from sync import fits, nightly
    from tests.integration.test_sync import with_scans

    clean_count, poison, check = example
    # The platform's clock stamps the echoes of each night's write-back: every example's feed
    # comes after the last one's, or the checkpoint would have passed it already.
    base = PlatformState(apps={}).local_now() + timedelta(seconds=2)
    stamp = lambda k: (base + timedelta(seconds=k)).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    clean = [_person_txn(stamp(2 * i)) for i in range(clean_count)]
    bad = []
    for j, mutations in enumerate(poison):
        raw = _person_txn(stamp(2 * j + 1))
        for path, value, delete in mutations:
            if path in (("txn_id",), ("version",), ("updated_at",)):
                continue  # its identity and place in the feed: their malformations are the tests above's
            raw = mutate(raw, path, value, delete)
        bad.append(raw)
    home = tmp_path_factory.mktemp("home")
    patched = mock.patch.object(fits, "problems", return_value=()) if not check else mock.patch.object(
        fits, "problems", fits.problems)
    with patched, sandbox(with_scans(*clean)) as server:
        for raw in bad:
            server.state.put(raw, lag=0)
        parts = wiring.build(settings(server, pg_url, home, page_size=500), clock=CLOCK)
        first = nightly.run(parts)
        results = {}
        for r in server.state.results:
            results.setdefault(r["txn_id"], r["outcome"])
        with parts.state.connect() as conn:
            position = cp.read(conn, cp.scope_of("5301")).updated_at
        later = max(server.state.local_now(), position) + timedelta(seconds=1)
        after = _person_txn(later.strftime("%Y-%m-%d %H:%M:%S"))
        scenario = with_scans(after)
        server.state.attachments.update(scenario["attachments"])
        server.state.put(scenario["transactions"][0], lag=0)
        second = nightly.run(parts)
        with parts.state.connect() as conn:
            moved = cp.read(conn, cp.scope_of("5301")).updated_at
            states = dict(conn.execute(select(lt.txn.c.txn_id, lt.txn.c.state).where(
                lt.txn.c.txn_id.in_([t["txn_id"] for t in clean + bad + [after]]))).all())
            refusals = conn.execute(select(lt.writeback.c.body, lt.writeback.c.last_error).where(
                lt.writeback.c.status != "sent")).all()
            reasons = dict(conn.execute(select(lt.txn.c.txn_id, lt.txn.c.reasons).where(
                lt.txn.c.txn_id.in_([t["txn_id"] for t in clean]))).all())
        parts.internal.dispose()
        parts.state.dispose()
    assert first.status == "completed" and second.status == "completed", (first.problems, second.problems)
    assert all(states[t["txn_id"]] == "applied" for t in clean), reasons
    assert all(results.get(t["txn_id"]) == "accepted" for t in clean), results
    listed = [t for t in bad if wire.identity(t) and str(t.get("region_code", "")).startswith("5301")]
    assert all(t["txn_id"] in states for t in listed), states  # each with its one state
    for night in (first, second):
        assert night.after["writeback"]["refused"] == 0 and night.after["writeback"]["failed"] == 0, refusals
    assert states[after["txn_id"]] == "applied" and moved > position, (position, moved, after["updated_at"])

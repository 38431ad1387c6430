"""Bad input of every kind: rejected or queued with a reason naming the field; never a crash,
never a stopped batch, never a dropped record."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bridge import wiring
from connectors.internal.view import InternalView
from mapping import wire
from mapping.validate import validate
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

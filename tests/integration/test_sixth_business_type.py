"""The worked example of docs/architecture.md, "How to add a business type".

A sixth type, 恢复缴费 (HFJF: a person whose payments were stopped pays again), exists only in this
file: one registry entry (its payload model, rules, YWLX and label) and one planner module's worth
of ``plan`` and ``compare``. Nothing else of the bridge names it, yet it flows through the real
sandbox platform — feed, validation, planning, commit, write-back, review and seal — and shows in
the run's summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from bridge import summary, wiring
from bridge.settings import SettingsError
from connectors.internal import schema as it
from connectors.internal.db import engine_for
from mapping.businesses import registry
from mapping.businesses.base import Business, Payload, RuleContext
from mapping.codes import CodeTables
from mapping.internal import BusinessRow, PersonState
from mapping.problems import Problem
from mapping.records import BusinessRecord, PersonRecord
from mapping.types import LocalDate
from sync import comparison, conflicts
from sync.planning import registry as planning
from sync.planning.common import differs, payload_of, require_active, ywlx
from sync.planning.decisions import Hold
from sync.planning.ops import NewBusinessLog, Op, UpdateEnrolment
from tests.e2e.console_world import USERS
from tests.factories import codes, raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_conflicts import ENROLMENT, PERSON, insert
from tests.integration.test_seal_writeback import Night
from tests.integration.test_sync import rows
from tests.security.console_fixtures import bare_console, sign_in

CODE = "HFJF"


# --- 1. the registry entry: payload model, rules, YWLX, label ---------------------------------

class ResumePayload(Payload):
    resume_date: LocalDate


class ResumePaying(Business):
    code = CODE
    payload_model = ResumePayload

    def rules(self, payload: Any, person: PersonRecord, ctx: RuleContext) -> list[Problem]:
        return [Problem("payload.resume_date", "future_date")] if payload.resume_date > ctx.today else []


ENTRY = registry.BusinessType(code=CODE, rules=ResumePaying(), ywlx="16", texts={"biz_type.HFJF": "恢复缴费"})


# --- 2. the planner module: plan and compare --------------------------------------------------

def plan(record: BusinessRecord, state: PersonState | None, codes: CodeTables, force: bool = False
         ) -> tuple[Op, ...] | Hold:
    active = require_active(record, state, codes, force)
    if isinstance(active, Hold):
        return active
    if active.enrolment is None or active.enrolment.aac031 == codes.setting("enrolment", "paying"):
        return Hold("already_paying", rows=(active.person._asdict(),))
    return (UpdateEnrolment(active.enrolment.aaz159, {"aac031": codes.setting("enrolment", "paying")}),
            NewBusinessLog(active.aac001, ywlx(record, codes), record.txn_id))


def compare(record: BusinessRecord, business: BusinessRow, state: PersonState, codes: CodeTables
            ) -> list[dict[str, Any]]:
    payload_of(record, ResumePayload)
    paying = state.enrolment.aac031 if state.enrolment else None
    return differs("payload.resume_date", codes.setting("enrolment", "paying"), paying)


PLANNER = planning.Planner(CODE, plan, compare)


@pytest.fixture
def sixth_type() -> Iterator[None]:
    """Registered for one test and taken back after, as a module registers a shipped type at import."""
    registry.register(ENTRY)
    planning.register(PLANNER)
    try:
        yield
    finally:
        planning.unregister(CODE)
        registry.unregister(CODE)


def resume_txn() -> dict[str, Any]:
    txn = raw_txn("BJ", txn_id="RH53010220261125HF01", biz_type=CODE, attachments=[])
    txn["payload"] = {"resume_date": "2026-11-20"}
    return txn


def test_a_sixth_type_flows_end_to_end_through_the_sandbox(sixth_type, internal_url, tmp_path):
    txn = resume_txn()
    internal = engine_for(internal_url)
    insert(internal, ac01=[PERSON], ac02=[dict(ENROLMENT, aac031="3")])  # enrolled, payments stopped
    internal.dispose()
    with sandbox({"seed": 0, "transactions": [txn], "attachments": {}}) as server:
        night = Night(server, internal_url, tmp_path)
        result = night.run()
        assert result.status == "completed" and result.tally.by_state == {"applied": 1}
        business = night.business(txn["txn_id"])
        assert (business["ywlx"], business["sjly"], business["aac001"]) == ("16", "2", PERSON["aac001"])
        assert rows(night.parts.internal, it.ac02)[0]["aac031"] == "1"
        assert [r["outcome"] for r in night.results(txn["txn_id"])] == ["accepted"]
        console = Console(record=True, width=200)
        summary.render(result, console)
        line = next(t for t in console.export_text().splitlines() if "恢复缴费" in t)
        assert line.split("│")[2].strip() == "1"  # the applied column of its own row
        night.review(txn["txn_id"], "1", qzzt="1")
        night.run()
        assert night.results(txn["txn_id"])[-1]["outcome"] == "completed"
        assert server.state.txns[txn["txn_id"]]["seal_status"] == "sealed"


def test_its_label_and_the_consoles_filter_come_from_the_registry(sixth_type, tmp_path):
    assert comparison.shown(CODE, "biz_type") == "恢复缴费" and conflicts.readable(CODE) == "恢复缴费"
    with bare_console("sqlite", tmp_path) as (_, console), closing(sign_in(console, USERS["staff"][0])) as client:
        page = client.get(f"/?biz_type={CODE}")
    assert page.status_code == 200
    assert re.search(rf'<option value="{CODE}" selected>恢复缴费</option>', page.text)


def test_a_type_not_registered_is_no_filter_and_no_label(tmp_path):
    assert comparison.shown(CODE, "biz_type") == CODE
    with bare_console("sqlite", tmp_path) as (_, console), closing(sign_in(console, USERS["staff"][0])) as client:
        assert client.get(f"/?biz_type={CODE}").status_code == 400


@pytest.mark.parametrize(("entry", "planner", "missing"), [
    (ENTRY, None, "入库规划"),
    (replace(ENTRY, texts={}), PLANNER, "中文名称"),
    (replace(ENTRY, ywlx=None), PLANNER, "YWLX"),
])
def test_an_incomplete_type_stops_the_start_naming_what_it_lacks(entry, planner, missing, internal_url, tmp_path):
    registry.register(entry)
    if planner is not None:
        planning.register(planner)
    try:
        with sandbox() as server, pytest.raises(SettingsError) as stop:
            wiring.build(settings(server, internal_url, tmp_path))
    finally:
        planning.unregister(CODE)
        registry.unregister(CODE)
    assert "HFJF" in str(stop.value) and missing in str(stop.value)


def test_every_shipped_type_is_complete():
    planning.check(codes())
    assert set(planning.PLANNERS) == set(registry.codes()) == {"CBDJ", "BJ", "XXBG", "ZXDJ", "ZYZR"}

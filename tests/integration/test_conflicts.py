"""Each conflict kind, and each resolution carried out end to end, on every backend."""

from __future__ import annotations

import copy

import pytest

from bridge import wiring
from connectors.internal import schema as it
from sync import conflicts
from sync.ledger import tables as lt
from sync.resolutions import Refused
from sync.verify import verify
from tests.factories import ID, raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK, rows, with_scans

PERSON = {"aac001": "5301020000000901", "aac002": ID, "aac003": "张三", "aac004": "1", "aac005": "01",
          "aac006": 19900307, "aac009": "20", "aab301": "530102001001", "aae005": "13800138000",
          "aae006": "五华区某某社区 12 号", "aae011": "柜面(G1)", "aae036": "20200101100000"}
ENROLMENT = {"aaz159": 901, "aac001": "5301020000000901", "aae140": "170", "aac008": "1", "aac031": "1",
             "aac049": 202001, "aac066": "011", "aaz289": 3, "aae160": None, "aic301": None,
             "aae011": "柜面(G1)", "aae036": "20200101100000"}


def by_hand(ywlsh: str, ywlx: str, when: str = "20261125150000") -> dict:
    return {"ywlsh": ywlsh, "aac001": PERSON["aac001"], "ywlx": ywlx, "sjly": "1", "wblsh": None, "bgnr": None,
            "aae011": "柜面(G1)", "aae036": when, "aae016": "0", "aae015": None, "aae013": None, "qzzt": "0"}


def insert(db, **tables) -> None:
    with db.begin() as conn:
        for name in ("ac01", "ac02", "ac_yhzh", "ae_ywjl", "ac_jfjl"):
            if name in tables:
                conn.execute(it.TABLES[name].insert(), tables[name])


class Desk:
    """A sandbox, a bridge and an internal database for one scenario."""

    def __init__(self, url, home, *txns, scans=True):
        self.scenario = with_scans(*txns) if scans else {"seed": 0, "transactions": list(txns), "attachments": {}}
        self.url, self.home = url, home
        self._server = sandbox(self.scenario)

    def __enter__(self):
        self.server = self._server.__enter__()
        self.parts = wiring.build(settings(self.server, self.url, self.home), clock=CLOCK)
        return self

    def __exit__(self, *exc):
        self._server.__exit__(*exc)

    def sync(self):
        from sync import engine
        self.parts = wiring.build(settings(self.server, self.url, self.home), clock=CLOCK)
        return engine.run(self.parts)

    def conflict(self, kind: str) -> dict:
        found = [c for c in conflicts.list_conflicts(self.parts.state) if c["kind"] == kind]
        assert len(found) == 1, conflicts.list_conflicts(self.parts.state)
        return found[0]

    def resolve(self, conflict: dict, action: str, **kw):
        return conflicts.resolve(self.parts, conflict["id"], action, "县局李华", **kw)

    def state_of(self, txn_id: str) -> str:
        return rows(self.parts.state, lt.txn, txn_id=txn_id)[0]["state"]

    def audited(self, conflict: dict) -> list[tuple[str, str]]:
        return [(h["action"], h["actor"]) for h in conflicts.show(self.parts.state, conflict["id"])["history"]]

    def verified(self) -> bool:
        return verify(self.parts.internal, self.parts.state, "2").ok


@pytest.fixture
def desk(internal_url, tmp_path):
    def make(*txns, scans=True):
        return Desk(internal_url, tmp_path, *txns, scans=scans)
    return make


def test_materials_incomplete_returned_to_agent(desk, internal_url):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        d.server.state.attachments[txn["attachments"][0]["attachment_id"]]["content"] = b"\xff\xd8\xff other bytes"
        d.sync()
        c = d.conflict("materials_incomplete")
        assert "id_card" in c["sentence"] or "身份证" in c["sentence"] or c["detail"] == "id_card"
        decision = d.resolve(c, "return", reason="身份证照片与登记信息不符，请重新拍摄上传")
        assert decision.state == "rejected" and d.state_of(txn["txn_id"]) == "rejected"
        assert rows(d.parts.internal, it.ac01) == []
        assert d.audited(c) == [("opened", "pension-bridge"), ("return", "县局李华")]
        assert d.verified()


def test_materials_incomplete_applied_by_staff(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        d.server.state.attachments[txn["attachments"][1]["attachment_id"]]["content"] = b"%PDF-other"
        d.sync()
        decision = d.resolve(d.conflict("materials_incomplete"), "apply")
        assert decision.state == "applied" and len(rows(d.parts.internal, it.ae_ywjl, wblsh=txn["txn_id"])) == 1
        event = rows(d.parts.state, lt.txn_event, txn_id=txn["txn_id"])[-1]
        assert (event["to_state"], event["actor"]) == ("applied", "县局李华")
        assert d.verified()


def test_already_enrolled_rejected(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[ENROLMENT])
        d.sync()
        c = d.conflict("already_enrolled")
        with pytest.raises(Refused) as refused:
            d.resolve(c, "apply")
        assert refused.value.key == "resolve.still_blocked"
        with pytest.raises(Refused):
            d.resolve(c, "reject")  # a reason is required
        assert d.resolve(c, "reject", reason="此人已在本县参保").state == "rejected"
        with pytest.raises(Refused) as again:
            d.resolve(c, "reject", reason="x")
        assert again.value.key == "resolve.not_open"
        assert d.verified()


def test_not_enrolled_and_year_already_paid(desk):
    unknown = raw_txn("BJ")
    unknown["person"] = dict(unknown["person"], id_number="11010519491231002X", birth_date="1949-12-31", gender="F")
    paid = raw_txn("BJ", txn_id="RH530102202611250777", updated_at="2026-11-25 10:00:00")
    with desk(unknown, paid) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[ENROLMENT], ae_ywjl=[by_hand("YW2020010100000001", "12",
                                                                                   "20200101100000")],
               ac_jfjl=[{"jfjl_id": 1, "aac001": PERSON["aac001"], "aae003": 2019, "aaa115": "10", "aae341": "1",
                         "aae022": 300, "ywlsh": "YW2020010100000001"}])
        d.sync()
        assert d.conflict("not_enrolled")["sentence"].endswith("不能办理补缴")
        held = d.conflict("year_already_paid")
        assert held["detail"] == "2019"
        assert d.resolve(held, "reject", reason="2019年已缴费").state == "rejected"
        assert d.verified()


def test_stale_change_applied_by_staff(desk):
    txn = raw_txn("XXBG")
    with desk(txn, scans=False) as d:
        insert(d.parts.internal, ac01=[dict(PERSON, aae005="13700000000")], ac02=[ENROLMENT])
        d.sync()
        c = d.conflict("stale_change")
        shown = conflicts.show(d.parts.state, c["id"])
        assert shown["fields"] == [{"field": "phone", "platform": "13800138000", "internal": "13700000000"}]
        assert shown["platform"]["txn_id"] == txn["txn_id"]
        assert d.resolve(c, "apply").state == "applied"
        assert rows(d.parts.internal, it.ac01)[0]["aae005"] == "13900139000"
        assert d.verified()


def test_double_entry_mismatch_merged_field_by_field(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        insert(d.parts.internal, ac01=[dict(PERSON, aac003="张叁")], ac02=[ENROLMENT],
               ae_ywjl=[by_hand("YW2026112500000009", "11")])
        d.sync()
        c = d.conflict("double_entry_mismatch")
        assert conflicts.show(d.parts.state, c["id"])["fields"][0]["field"] == "person.name"
        with pytest.raises(Refused):
            d.resolve(c, "merge", fields=("payload.years",))
        decision = d.resolve(c, "merge", fields=("person.name",))
        assert decision.state == "linked"
        assert rows(d.parts.internal, it.ac01)[0]["aac003"] == "张三"
        assert rows(d.parts.internal, it.ae_ywjl)[0]["wblsh"] == txn["txn_id"]
        assert len(rows(d.parts.internal, it.ae_ywjl)) == 1 and d.verified()


def test_exact_double_entry_links_without_an_operator(desk):
    txn = raw_txn("CBDJ")
    txn["person"]["name"] = "张 三 "
    # Exact: the counter typed everything the enrolment writes, the enrol month and bank account too.
    bank = {"aac001": PERSON["aac001"], "aae008": "102", "aae009": "张三", "aae010": "6217000012345678901",
            "aae011": "柜面(G1)", "aae036": "20261125150000"}
    with desk(txn) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[dict(ENROLMENT, aac049=202611)], ac_yhzh=[bank],
               ae_ywjl=[by_hand("YW2026112500000009", "11")])
        result = d.sync()
        assert result.tally.by_state == {"linked": 1}
        assert [r["wblsh"] for r in rows(d.parts.internal, it.ae_ywjl)] == [txn["txn_id"]]
        assert len(rows(d.parts.internal, it.ac01)) == 1 and d.verified()


def test_multiple_candidates_linked_to_the_chosen_one(desk):
    txn = raw_txn("BJ")
    with desk(txn) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[ENROLMENT],
               ae_ywjl=[by_hand("YW2026112500000001", "12"), by_hand("YW2026112500000002", "12", "20261126080000")])
        d.sync()
        c = d.conflict("multiple_candidates")
        assert d.resolve(c, "link", ywlsh="YW2026112500000002").state == "linked"
        linked = {r["ywlsh"]: r["wblsh"] for r in rows(d.parts.internal, it.ae_ywjl)}
        assert linked == {"YW2026112500000001": None, "YW2026112500000002": txn["txn_id"]}
        assert d.verified()


def test_same_business_entered_twice_on_the_platform(desk):
    first = raw_txn("XXBG")
    second = copy.deepcopy(first)
    second.update(txn_id="RH530102202611250999", updated_at="2026-11-25 09:20:00")
    with desk(first, second, scans=False) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[ENROLMENT])
        result = d.sync()
        assert result.tally.by_state == {"applied": 1, "conflict": 1}
        c = d.conflict("platform_duplicate")
        assert c["txn_id"] == second["txn_id"] and first["txn_id"] in c["sentence"]
        assert d.resolve(c, "reject", reason="重复提交").state == "rejected" and d.verified()


def test_withdrawn_after_apply_kept(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        d.sync()
        d.server.state.put(dict(txn, version=2, status="withdrawn", updated_at="2026-11-25 20:00:00"))
        d.sync()
        c = d.conflict("withdrawn_after_apply")
        with pytest.raises(Refused):
            d.resolve(c, "apply")
        assert d.resolve(c, "keep").state == "applied" and d.state_of(txn["txn_id"]) == "applied"
        assert d.verified()


def test_conflict_updated_not_duplicated_when_the_platform_changes_it(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        insert(d.parts.internal, ac01=[PERSON], ac02=[ENROLMENT])
        d.sync()
        changed = dict(copy.deepcopy(txn), version=2, updated_at="2026-11-25 21:00:00")
        changed["person"]["address"] = "五华区新地址 1 号"
        d.server.state.put(changed)
        d.sync()
        all_ = conflicts.list_conflicts(d.parts.state, conflicts.Filters(status=""))
        assert len(all_) == 1 and all_[0]["version"] == 2
        assert [h["action"] for h in conflicts.show(d.parts.state, all_[0]["id"])["history"]] == ["opened", "updated"]


def test_changed_after_apply_held_with_both_versions(desk):
    txn = raw_txn("CBDJ")
    with desk(txn) as d:
        d.sync()
        changed = dict(copy.deepcopy(txn), version=2, updated_at="2026-11-25 21:00:00")
        changed["payload"]["grade"] = "500.00"
        d.server.state.put(changed)
        d.sync()
        c = d.conflict("changed_after_apply")
        assert d.resolve(c, "keep").state == "applied" and d.verified()
        assert rows(d.parts.state, lt.conflict)[0]["resolved_by"] == "县局李华"

"""The column limits the bridge checks are the contract's, read from one place."""

from __future__ import annotations

from pathlib import Path

from connectors.internal import schema as it
from sync import fits
from sync.planning import ops as o
from sync.planning.decisions import Apply

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "internal-db.sql"  # ../shared beside the repo


def test_the_limits_are_those_of_the_contract_ddl():
    shipped = it.ddl_limits(it.contract_ddl())
    assert it.LIMITS == shipped
    assert shipped["ac_yhzh"]["aae008"] == ("chars", 10) and shipped["ae_ywjl"]["aae013"] == ("chars", 500)
    assert shipped["ac_zyzr"]["grzhye"] == ("digits", 10) and "bgnr" not in shipped["ae_ywjl"]
    if CONTRACT.exists():
        assert it.ddl_limits(CONTRACT.read_text(encoding="utf-8")) == shipped


def test_values_that_do_not_fit_are_named_by_their_platform_field():
    bank = o.PutBank("new:T", {"aae008": "102100099996", "aae009": "张" * 54, "aae010": "6217000012345678901"}, False)
    log = o.NewBusinessLog("new:T", "11", "T")
    found = fits.problems(Apply((bank, log)), "李" * 45 + "(A0017)")
    assert [(p.field, p.value) for p in found] == [
        ("payload.bank_account.bank_code", "10"), ("payload.bank_account.holder_name", "50"), ("agent.name", "50")]
    assert found[0].message() == "内部数据库无法保存：银行代码超过 10 位"
    money = o.NewTransfer("new:T", {"zcdq": "520102", "grzhye": "12345678901.00", "jfnx": 2**31, "zypzh": "Z"})
    assert {p.field: p.code for p in fits.problems(Apply((money,)), "李四(A0017)")} == {
        "payload.account_balance": "db_too_large", "payload.paid_years": "db_too_large"}
    assert fits.problems(Apply((o.PutBank("r", {"aae008": "102", "aae009": "张三", "aae010": "1" * 32}, True),)),
                         "李四(A0017)") == ()

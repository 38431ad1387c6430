"""Factories of plain values for unit tests: code tables, clean transactions, person states."""

from __future__ import annotations

import copy
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import create_engine

from connectors.internal.reader import load_codes
from connectors.internal.schema import create_contract_schema
from mapping import idcard, regions, wire
from mapping.codes import CodeTables
from mapping.internal import EnrolmentRow, PersonRow, PersonState
from mapping.validate import Context, validate

TODAY = date(2026, 11, 25)
ID = idcard.make("53010219900307123")


@cache
def codes() -> CodeTables:
    engine = create_engine("sqlite://")
    create_contract_schema(engine)
    with engine.connect() as conn:
        return load_codes(conn)


def context() -> Context:
    return Context(codes(), regions.load(("5301",)), TODAY)


PAYLOADS = {
    "CBDJ": {"grade": "300.00", "enroll_date": "2026-11-25",
             "bank_account": {"bank_code": "102", "account_no": "6217000012345678901", "holder_name": "张三"}},
    "BJ": {"years": [2019, 2020], "grade": "500.00", "amount": "1000.00"},
    "XXBG": {"changes": [{"field": "phone", "old": "13800138000", "new": "13900139000"}]},
    "ZXDJ": {"reason": "death", "effective_date": "2026-11-01"},
    "ZYZR": {"from_region_code": "520102", "account_balance": "12345.67", "paid_years": 5, "transfer_doc_no": "ZY1"},
}
KINDS = {"CBDJ": ["id_card", "household_register"], "BJ": ["application_form"], "XXBG": [],
         "ZXDJ": ["death_certificate"], "ZYZR": ["transfer_certificate"]}


def raw_txn(biz: str = "CBDJ", **over: Any) -> dict[str, Any]:
    txn = {
        "txn_id": f"RH53010220261125{biz[:2]}01", "version": 1, "biz_type": biz, "status": "submitted",
        "seal_status": "unsealed", "created_at": "2026-11-25 09:12:40", "updated_at": "2026-11-25 09:12:40",
        "region_code": "530102001001", "agent": {"agent_id": "A0017", "name": "李四"},
        "person": {"id_number": ID, "name": "张三", "gender": "M", "ethnicity": "汉族", "birth_date": "1990-03-07",
                   "phone": "13800138000", "hukou_type": "agricultural", "address": "五华区某某社区 12 号"},
        "payload": copy.deepcopy(PAYLOADS[biz]),
        "attachments": [{"attachment_id": f"F{i}", "kind": k, "file_name": "a.jpg", "content_type": "image/jpeg",
                         "size": 10, "sha256": "0" * 64} for i, k in enumerate(KINDS[biz])],
        "remarks": "",
    }
    for key, value in over.items():
        txn[key] = value
    return txn


def validated(raw: dict[str, Any], scans_ok: bool = True):
    ok = {a["attachment_id"]: scans_ok for a in raw.get("attachments", [])}
    return validate(wire.parse(raw), context(), ok, wire.content_hash(raw))


def enrolled(aac001: str = "5301020000000001", grade_id: int = 3, active: bool = True, **person: Any) -> PersonState:
    row = {"aac001": aac001, "aac002": ID, "aac003": "张三", "aac004": "1", "aac005": "01", "aac006": 19900307,
           "aac009": "20", "aab301": "530102001001", "aae005": "13800138000", "aae006": "五华区某某社区 12 号", **person}
    enrolment = {"aaz159": 7, "aac001": aac001, "aae140": "170", "aac008": "1" if active else "4", "aac031": "1",
                 "aac049": 202001, "aac066": "011", "aaz289": grade_id, "aae160": None, "aic301": None}
    return PersonState(person=PersonRow(**row), enrolment=EnrolmentRow(**enrolment), paid_years={2021})

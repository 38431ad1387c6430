"""The applier: new rows wait for one executemany; an update of one of them is never lost."""

from __future__ import annotations

from sqlalchemy import select

from connectors.internal import schema as it
from connectors.internal.db import engine_for
from sync.applier import Applier, Work
from sync.planning import ops as o
from sync.planning.decisions import Apply

STAMP = o.Stamp(operator="pension-bridge", at="20261127090000", business_date="20261127")


def person(ref: str, aac002: str) -> tuple[o.Op, ...]:
    return (o.NewPerson(ref=ref, region="530102001001", values={"aac002": aac002, "aac003": "张三", "aac004": "1", "aac005": "01",
                                                                  "aac006": 19900101, "aac009": "20"}),
            o.NewEnrolment(ref=ref, values={"aae140": "170", "aac008": "1", "aac031": "1", "aac049": 202611,
                                            "aac066": "001"}),
            o.PutBank(ref=ref, values={"aae008": "102", "aae009": "张三", "aae010": "6222000000000001"}, exists=False))


def test_updates_of_rows_inserted_in_the_same_batch_and_of_existing_rows(internal_url):
    engine = engine_for(internal_url)
    with engine.begin() as conn:  # someone enrolled before the batch
        Applier(conn, "platform").apply([Work("T0", Apply(person("P0", "530102199001010011")), STAMP)])
        aac001_old = conn.execute(select(it.ac01.c.aac001)).scalar_one()
    work = [
        Work("T1", Apply(person("P1", "530102199001010027")), STAMP),
        Work("T2", Apply((o.UpdatePerson(ref=aac001_old, values={"aac003": "李四"}),)), STAMP),
        Work("T3", Apply(person("P3", "530102199001010035")), STAMP),
        # enrolled above in this very batch, then changed: the rows are still waiting to be inserted
        Work("T4", Apply((o.UpdatePerson(ref="P1", values={"aac003": "王五"}),
                          o.UpdateEnrolment(aaz159="new:P1", values={"aac008": "2"}),
                          o.PutBank(ref="P1", values={"aae010": "6222000000000099"}, exists=True))), STAMP),
    ]
    with engine.begin() as conn:
        Applier(conn, "platform").apply(work)
    with engine.connect() as conn:
        names = {r.aac002: r.aac003 for r in conn.execute(select(it.ac01.c.aac002, it.ac01.c.aac003))}
        people = {r.aac002: r.aac001 for r in conn.execute(select(it.ac01.c.aac002, it.ac01.c.aac001))}
        enrolled = {r.aac001: r.aac008.strip() for r in conn.execute(select(it.ac02.c.aac001, it.ac02.c.aac008))}
        banks = {r.aac001: r.aae010.strip() for r in conn.execute(select(it.ac_yhzh.c.aac001, it.ac_yhzh.c.aae010))}
    assert names == {"530102199001010011": "李四", "530102199001010027": "王五", "530102199001010035": "张三"}
    assert enrolled[people["530102199001010027"]] == "2" and enrolled[people["530102199001010035"]] == "1"
    assert banks[people["530102199001010027"]] == "6222000000000099"
    assert banks[people["530102199001010035"]] == "6222000000000001"


def test_updates_wait_for_one_statement_yet_keep_their_order_per_row(internal_url):
    """Updates go together at the end of the batch, one statement per table and columns; still,
    the later of two updates of one row wins, whether their columns are the same or not."""
    engine = engine_for(internal_url)
    with engine.begin() as conn:
        Applier(conn, "platform").apply([Work("T0", Apply(person("P0", "530102199001010011")), STAMP),
                                         Work("T1", Apply(person("P1", "530102199001010027")), STAMP)])
        first, second = (r.aac001 for r in conn.execute(select(it.ac01.c.aac001).order_by(it.ac01.c.aac002)))
    work = [
        Work("T2", Apply((o.UpdatePerson(ref=first, values={"aae005": "13800000001"}),)), STAMP),
        Work("T3", Apply((o.UpdatePerson(ref=first, values={"aae005": "13800000002", "aae006": "新地址"}),)), STAMP),
        Work("T4", Apply((o.UpdatePerson(ref=first, values={"aae005": "13800000003"}),)), STAMP),
        Work("T5", Apply((o.UpdatePerson(ref=second, values={"aac003": "甲"}),)), STAMP),
        Work("T6", Apply((o.UpdatePerson(ref=second, values={"aac003": "乙"}),)), STAMP),
    ]
    with engine.begin() as conn:
        Applier(conn, "platform").apply(work)
    with engine.connect() as conn:
        rows = {r.aac001: r for r in conn.execute(select(it.ac01))}
    assert (rows[first].aae005, rows[first].aae006) == ("13800000003", "新地址")
    assert rows[second].aac003 == "乙"

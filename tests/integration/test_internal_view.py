"""The internal view is read once into typed rows, normalised where it is read, on every backend."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.internal.db import engine_for
from connectors.internal.reader import load_view
from mapping.internal import BusinessRow, EnrolmentRow, PaymentRow, PersonRow
from tests.factories import ID, codes
from tests.integration.test_conflicts import ENROLMENT, PERSON, by_hand, insert


def test_rows_are_typed_and_their_text_stripped_at_the_read(internal_url):
    internal = engine_for(internal_url)
    other = dict(ENROLMENT, aaz159=902, aae140="110")  # the employee pension
    written = dict(by_hand("YW2026112500000002", "12"), sjly="2", wblsh="RH1")
    insert(internal, ac01=[dict(PERSON, aac003="张三  ", aae006="五华区某某社区 12 号 ")],
           ac02=[ENROLMENT, other], ae_ywjl=[by_hand("YW2026112500000001", "11"), written],
           ac_jfjl=[{"jfjl_id": 1, "aac001": PERSON["aac001"], "aae003": 2019, "aaa115": "31", "aae341": "1",
                     "aae022": Decimal("500.00"), "ywlsh": "YW2026112500000002"}])
    with internal.connect() as conn:
        view = load_view(conn, [ID], ["RH1"], codes())
    internal.dispose()
    state = view.person(ID)
    assert state is not None and isinstance(state.person, PersonRow)
    assert (state.person.aac003, state.person.aae006) == ("张三", "五华区某某社区 12 号")
    assert isinstance(state.enrolment, EnrolmentRow) and state.enrolment.aaz159 == 901
    assert [r.aae140 for r in state.other_schemes] == ["110"] and state.covered_elsewhere("1")
    assert all(isinstance(r, BusinessRow) for r in state.business) and len(state.business) == 2
    assert state.payments_of("YW2026112500000002") == [state.payments[0]]
    assert isinstance(state.payments[0], PaymentRow) and state.payments[0].aae022 == Decimal("500.00")
    assert state.paid_years == state.back_paid_years == {2019}
    assert view.applied["RH1"].ywlsh == "YW2026112500000002"


def test_a_row_changed_is_a_new_row_and_an_unknown_column_is_refused():
    row = PersonRow(aac001="1", aac003="张三")
    changed = row._replace(**{"aae005": "13900139000"})
    assert (row.aae005, changed.aae005) == (None, "13900139000")
    with pytest.raises(ValueError):
        row._replace(**{"aae999": "x"})

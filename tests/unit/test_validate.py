"""Validation returns every problem of a record at once, each naming its field."""

import pytest

from mapping import wire
from tests.factories import ID, raw_txn, validated


@pytest.mark.parametrize("biz", ["CBDJ", "BJ", "XXBG", "ZXDJ", "ZYZR"])
def test_clean_records_validate(biz):
    result = validated(raw_txn(biz))
    assert result.problems == () and result.record.biz_type == biz


def test_messy_but_fixable_input_is_normalised():
    raw = raw_txn("CBDJ")
    raw["person"]["id_number"] = " " + ID[:6] + " " + ID[6:].replace("X", "x") + " "
    raw["person"]["name"] = "阿依古丽 • 买买提 "
    record = validated(raw).record
    assert record.person.id_number == ID and record.person.name == "阿依古丽·买买提"


def test_all_problems_at_once_each_naming_its_field():
    raw = raw_txn("BJ")
    raw["person"]["id_number"] = ID[:17] + ("0" if ID[17] != "0" else "1")
    raw["region_code"] = "110101001001"
    raw["agent"]["agent_id"] = None
    result = validated(raw)
    fields = {p.field for p in result.problems}
    assert {"person.id_number", "region_code", "agent.agent_id"} <= fields
    assert all(p.message() for p in result.problems)


def test_business_rules():
    raw = raw_txn("BJ")
    raw["payload"]["amount"] = "999.00"
    raw["payload"]["years"] = [2019, 2019, 1990]
    codes = {(p.field, p.code) for p in validated(raw).problems}
    assert ("payload.amount", "amount_mismatch") in codes
    assert ("payload.years", "years_duplicate") in codes
    assert ("payload.years[2]", "year_too_early") in codes


def test_unknown_grade_and_under_age():
    raw = raw_txn("CBDJ")
    raw["payload"]["grade"] = "350.00"
    raw["payload"]["enroll_date"] = "2005-01-01"
    codes = {(p.field, p.code) for p in validated(raw).problems}
    assert ("payload.grade", "unknown_grade") in codes and ("payload.enroll_date", "under_age") in codes


def test_birth_date_and_gender_must_agree_with_id():
    raw = raw_txn("CBDJ")
    raw["person"]["birth_date"] = "1991-03-07"
    raw["person"]["gender"] = "F"
    codes = {p.code for p in validated(raw).problems}
    assert {"birth_date_mismatch", "gender_mismatch"} <= codes


def test_wrong_types_and_money_as_float_are_named():
    raw = raw_txn("CBDJ")
    raw["payload"]["grade"] = 300.0
    raw["payload"]["enroll_date"] = "2026/11/25"
    codes = {(p.field, p.code) for p in validated(raw).problems}
    assert ("payload.grade", "bad_money") in codes and ("payload.enroll_date", "bad_date") in codes


def test_missing_materials_are_not_problems_but_recorded():
    result = validated(raw_txn("CBDJ"), scans_ok=False)
    assert result.problems == () and set(result.record.missing_materials) == {"id_card", "household_register"}


def test_unknown_fields_are_kept():
    raw = raw_txn("CBDJ", platform_release="2.3")
    assert wire.parse(raw).model_extra == {"platform_release": "2.3"}


def test_unparseable_item_reports_fields():
    with pytest.raises(wire.WireError) as err:
        wire.parse(raw_txn("CBDJ", version="two", updated_at="yesterday"))
    assert {p.field for p in err.value.problems} == {"version", "updated_at"}


def test_unknown_business_type():
    raw = raw_txn("CBDJ", biz_type="YLDY")
    assert [p.code for p in validated(raw).problems] == ["unknown_biz_type"]


def test_echo_has_same_content_hash():
    raw = raw_txn("CBDJ")
    echo = dict(raw, version=2, status="accepted", updated_at="2026-11-26 01:00:00")
    assert wire.content_hash(raw) == wire.content_hash(echo)
    assert wire.content_hash(raw) != wire.content_hash(dict(raw, remarks="x"))


@pytest.mark.parametrize("value, expected", [
    ("2026-11-25 08:00:00", "2026-11-25 08:00:00"),
    (" 2026-11-25 08:00:00 ", "2026-11-25 08:00:00"),
    ("２０２６-11-25 08:00:00", "2026-11-25 08:00:00"),  # full-width digits, as some agents type
    ("2026-1-5 8:00:00", "2026-01-05 08:00:00"),
    ("2026-02-30 08:00:00", None),
    ("2026-11-25 24:00:00", None),
    ("2026-11-25T08:00:00", None),  # not the contract's form
    ("2026-11-25 08:00:00+08:00", None),
])
def test_local_times_in_the_contracts_form_and_what_agents_type(value, expected):
    from pydantic_core import PydanticCustomError

    from mapping.types import parse_local_datetime

    if expected is None:
        with pytest.raises(PydanticCustomError):
            parse_local_datetime(value)
    else:
        assert str(parse_local_datetime(value)) == expected


# --- Domain rules (issue 23): what the pension database may receive ------------------------------

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_a_grade_change_to_a_grade_not_offered_is_invalid_naming_the_change():
    raw = raw_txn("XXBG")
    raw["payload"]["changes"] = [{"field": "phone", "old": "13800138000", "new": "13900139000"},
                                 {"field": "grade", "old": "300.00", "new": "350.00"}]
    result = validated(raw)
    assert result.record is None
    assert [(p.field, p.code) for p in result.problems] == [("payload.changes[1].new", "unknown_grade")]
    assert "350.00" in result.problems[0].message()


def test_only_ascii_digits_are_digits_in_id_numbers_phones_accounts_and_regions():
    raw = raw_txn("CBDJ")
    raw["person"]["id_number"] = ID.translate(ARABIC)  # digits to Python, not to the internal system
    assert [p.code for p in validated(raw).problems] == ["id_format"]
    raw = raw_txn("CBDJ")
    raw["payload"]["bank_account"]["account_no"] = "6217000012345678901".translate(ARABIC)
    assert [(p.field, p.code) for p in validated(raw).problems] == \
        [("payload.bank_account.account_no", "bank_account_format")]
    raw = raw_txn("CBDJ", region_code="530102001001".translate(ARABIC))
    assert [(p.field, p.code) for p in validated(raw).problems] == [("region_code", "region_format")]
    raw = raw_txn("XXBG")
    raw["payload"]["changes"][0]["new"] = "13900139000".translate(ARABIC)
    assert [(p.field, p.code) for p in validated(raw).problems] == [("payload.changes[0].new", "phone_format")]
    raw = raw_txn("CBDJ")  # full-width digits are folded, as before
    raw["person"]["id_number"] = ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert validated(raw).record.person.id_number == ID


def test_a_letter_inside_a_number_is_refused_not_dropped():
    raw = raw_txn("CBDJ")
    raw["payload"]["bank_account"]["account_no"] = "6217 0000 1234 5678 9O1"
    assert [p.code for p in validated(raw).problems] == ["bank_account_format"]
    raw = raw_txn("CBDJ")
    raw["payload"]["bank_account"]["account_no"] = "6217-0000-1234-5678-901"
    assert validated(raw).record.payload.bank_account.account_no == "6217000012345678901"


@pytest.mark.parametrize("typed, stored", [
    ("+86 138 0013 8000", "13800138000"), ("0086-138-0013-8000", "13800138000"), ("8613800138000", "13800138000"),
    ("138 0013 8000", "13800138000"), ("0871-65123456", "087165123456"), ("(0871)65123456", "087165123456"),
    ("+86 871 6512 3456", "087165123456"), ("０８７１－６５１２３４５６", "087165123456"),
])
def test_common_phone_forms_are_accepted_and_normalised(typed, stored):
    raw = raw_txn("CBDJ")
    raw["person"]["phone"] = typed
    result = validated(raw)
    assert result.problems == () and result.record.person.phone == stored and result.notes == ()


def test_an_unreadable_optional_phone_is_left_out_with_a_note_not_rejecting_the_enrolment():
    raw = raw_txn("CBDJ")
    raw["person"]["phone"] = "6512345"  # no area code: not a number anyone can call back
    result = validated(raw)
    assert result.problems == () and result.record.person.phone is None
    assert [(n.field, n.code) for n in result.notes] == [("person.phone", "phone_format")]
    assert result.record.notes == ("person.phone",)
    raw = raw_txn("XXBG")  # where the phone is the business itself, it stays invalid
    raw["payload"]["changes"][0]["new"] = "6512345"
    assert validated(raw).record is None


@pytest.mark.parametrize("kind", ["death_certificate", "other", "household_register"])
def test_death_is_proved_by_a_death_cremation_or_de_registration_certificate(kind):
    raw = raw_txn("ZXDJ")
    raw["attachments"][0]["kind"] = kind
    assert validated(raw).record.missing_materials == ()
    raw["attachments"][0]["kind"] = "id_card"
    assert validated(raw).record.missing_materials != ()


def test_back_payment_of_the_current_year_is_not_a_back_payment():
    raw = raw_txn("BJ")
    raw["payload"].update(years=[2020, 2026], amount="1000.00")
    result = validated(raw)
    assert [(p.field, p.code) for p in result.problems] == [("payload.years[1]", "year_current")]


def test_a_village_missing_from_the_table_of_a_served_county_is_flagged_not_rejected():
    record = validated(raw_txn("CBDJ", region_code="530102001999")).record
    assert record is not None and record.region_listed is False
    assert validated(raw_txn("CBDJ")).record.region_listed is True
    unknown_county = validated(raw_txn("CBDJ", region_code="530199001001"))
    assert [p.code for p in unknown_county.problems] == ["region_unknown"]


def test_a_transfer_from_a_region_code_in_other_digits_is_refused():
    raw = raw_txn("ZYZR")
    raw["payload"]["from_region_code"] = "5201O2"
    assert [(p.field, p.code) for p in validated(raw).problems] == [("payload.from_region_code", "region_format")]
    raw["payload"]["from_region_code"] = "520102".translate(ARABIC)
    assert [(p.field, p.code) for p in validated(raw).problems] == [("payload.from_region_code", "region_format")]

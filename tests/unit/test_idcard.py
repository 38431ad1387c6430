from datetime import date

import pytest

from mapping import idcard


@pytest.mark.parametrize("raw,value", [
    ("11010519491231002X", "11010519491231002X"),
    ("11010519491231002x", "11010519491231002X"),
    (" 110105 19491231002X ", "11010519491231002X"),
    ("４４０５２４１８８００１０１００１４", "440524188001010014"),
])
def test_normalises_and_accepts_valid_numbers(raw, value):
    assert idcard.parse(raw).value == value


def test_reads_birth_date_and_sex():
    number = idcard.parse("11010519491231002X")
    assert number.birth_date == date(1949, 12, 31) and number.male is False
    assert idcard.parse("440524188001010014").male is True


@pytest.mark.parametrize("raw,code", [
    ("110105194912310021", "id_checksum"), ("1101051949123100", "id_format"),
    ("11010519491331002X", "id_checksum"), ("abc", "id_format"),
])
def test_rejects_and_never_fixes(raw, code):
    with pytest.raises(idcard.IdNumberError) as err:
        idcard.parse(raw)
    assert err.value.code == code


def test_impossible_birth_date_is_named():
    number = idcard.make("11010519490230002")
    with pytest.raises(idcard.IdNumberError) as err:
        idcard.parse(number)
    assert err.value.code == "id_birth_date"

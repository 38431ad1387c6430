"""Citizen ID numbers (GB 11643-1999): normalisation, check digit, birth date and sex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from mapping import personal
from mapping.text import fold_width

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII only: \d also matches Arabic-Indic digits


class IdNumberError(ValueError):
    """An ID number that cannot be a valid citizen ID; ``code`` names why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class IdNumber:
    """A checked 18-character ID number with the facts it encodes."""

    value: str
    birth_date: date
    male: bool

    @property
    def address_code(self) -> str:
        return self.value[:6]


def normalise(raw: str) -> str:
    """Strip spaces, fold full-width digits, upper-case ``x``. Never fixes a check digit."""
    return "".join(fold_width(raw).split()).upper()


def check_character(first17: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def parse(raw: str) -> IdNumber:
    """Normalise and check an ID number.

    Raises:
        IdNumberError: ``id_format`` (not 17 digits and a check character),
            ``id_checksum`` (wrong check character) or ``id_birth_date`` (no such date).
    """
    value = normalise(raw)
    if not _SHAPE.match(value):
        raise IdNumberError("id_format")
    if check_character(value[:17]) != value[17]:
        raise IdNumberError("id_checksum")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError("id_birth_date") from None
    return IdNumber(value=value, birth_date=born, male=int(value[16]) % 2 == 1)


def make(first17: str) -> str:
    """A valid ID number from its first 17 digits (for generators and tests)."""
    return first17 + check_character(first17)


def masked(value: str) -> str:
    """An ID number as printed for people: ``530102********123X`` (also ``530102******123`` for the
    old 15 digits, however spaced or in full-width digits; phone and account numbers alike, see
    ``mapping.personal.masked``); a value of no such shape is hidden whole."""
    return personal.masked(value)

"""Personal numbers masked wherever they are shown or logged: ID, phone and bank account numbers.

People write these numbers in many forms, and the platform passes on whatever an agent typed:

- ID numbers of 18 characters (17 digits and a check digit or ``X``) and the old 15 digits,
  grouped with spaces (``530102 19900307 1234``), after letters (``ID530102…``), in full-width
  digits (``５３０１０２…``);
- phone numbers of 11 digits, after ``+86``, grouped with spaces or dashes (``138-0013-8000``);
- bank account numbers of 12 to 32 digits, grouped with spaces (``6217 0000 1234 5678 901``).

:func:`mask_text` finds every run of digits (with single spaces between groups) and masks it by
its length, digit by digit, keeping the separators: the birth date of an ID number, the middle
four digits of a phone, all but the first and last few digits of an account. A run whose length
fits none is left alone, as are the two serials of the contracts that look like numbers: the
platform's ``RH`` + 18 digits and the internal ``YW`` + 16, and the bridge's run id
(14 digits, a dash, 8 hex digits). An ID number typed after exactly ``RH`` is therefore shown;
the alternative, masking one transaction id in eleven (those whose digits pass the check digit),
would make the logs unreadable where they matter.
"""

from __future__ import annotations

import re

_DIGIT = "0-9\uff10-\uff19"  # ASCII and full-width
_X = "Xx\uff38\uff58"
_LETTER = "A-Za-z\uff21-\uff3a\uff41-\uff5a"
_SEP = " \u00a0\u3000"  # one space of any width between groups
# A run of digits in groups; an ID number's check character may close it.
_RUN = re.compile(f"(?<![{_DIGIT}])[{_DIGIT}](?:[{_SEP}]?[{_DIGIT}])*(?:[{_SEP}]?[{_X}])?(?![{_DIGIT}{_LETTER}])")
# A phone in dashed groups, with or without +86: 138-0013-8000, +86-138-0013-8000.
_DASHED_PHONE = re.compile(f"(?<![{_DIGIT}])(?:[+\uff0b]?[8\uff18][6\uff16][-{_SEP}]?)?[1\uff11][{_DIGIT}]{{2}}"
                           f"[-\u2010-\u2015{_SEP}]"
                           f"[{_DIGIT}]{{4}}[-\u2010-\u2015{_SEP}][{_DIGIT}]{{4}}(?![{_DIGIT}{_LETTER}])")
_SERIALS = {("RH", 18), ("YW", 16)}  # the platform's txn_id, the internal YWLSH
_RUN_ID_TAIL = re.compile("-[0-9a-f]{8}(?![0-9A-Za-z])")


def _hidden(n: int) -> range:
    """Which digits of an n-digit number are masked (0-based), by the kind its length says."""
    if n == 18:
        return range(6, 14)  # the birth date of an ID number
    if n == 15:
        return range(6, 12)  # the old ID number's yymmdd
    if n == 11:
        return range(3, 7)  # a phone's middle four
    if n >= 12:
        keep = min(4, n // 4)  # an account: its first and last few digits stay
        return range(keep, n - keep)
    return range(0)


def _mask_digits(value: str, hidden: range) -> str:
    """``value`` with its digits at the ``hidden`` positions as ``*``; separators kept."""
    out, index = [], 0
    for ch in value:
        if ch.isdigit() or ch in _X:
            out.append("*" if index in hidden else ch)
            index += 1
        else:
            out.append(ch)
    return "".join(out)


def _digits(value: str) -> int:
    return sum(1 for ch in value if ch.isdigit() or ch in _X)


def _is_serial(text: str, start: int, end: int, run: str) -> bool:
    """A contract serial, not a personal number: ``RH`` + 18 digits, ``YW`` + 16, a run id."""
    if not (run.isascii() and run.isdigit()):
        return False
    begin = start
    while begin > 0 and text[begin - 1].isascii() and text[begin - 1].isalpha():
        begin -= 1
    if (text[begin:start], len(run)) in _SERIALS:
        return begin == 0 or not text[begin - 1].isalnum()
    return begin == start and len(run) == 14 and _RUN_ID_TAIL.match(text, end) is not None


def mask_text(text: str) -> str:
    """``text`` with every ID, phone and bank account number in it masked (see the module)."""
    def phone(match: re.Match[str]) -> str:
        n = _digits(match.group())
        return _mask_digits(match.group(), range(n - 8, n - 4))  # the middle four of the last eleven

    def run(match: re.Match[str]) -> str:
        value = match.group()
        return value if _is_serial(text, match.start(), match.end(), value) else \
            _mask_digits(value, _hidden(_digits(value)))

    text = _DASHED_PHONE.sub(phone, text)
    return _RUN.sub(run, text)


_HALFWIDTH = {0xFF10 + i: 0x30 + i for i in range(10)} | {0xFF38: ord("X"), 0xFF58: ord("X"), ord("x"): ord("X")}


def masked(value: str) -> str:
    """One personal number as printed for people: ``530102********123X``, ``138****8000``,
    ``6217***********8901``; a value of no such shape is hidden whole."""
    if len(value) == 18 and value.isascii() and value[:17].isdigit() and value[17] in "0123456789X":
        return value[:6] + "********" + value[14:]  # as the internal database holds them: most of them
    compact = "".join(value.split()).replace("-", "").translate(_HALFWIDTH)
    n = len(compact)
    if _RUN.fullmatch(compact) and (n in (11, 15, 18) or 12 <= n <= 32):
        return _mask_digits(compact, _hidden(n))
    return "*" * len(value)

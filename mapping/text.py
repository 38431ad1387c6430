"""Normalisation of what agents type: full-width forms, spaces, middle dots."""

from __future__ import annotations

import re
import unicodedata

# Every form of the middle dot seen in minority names (·, •, ., ・, ‧, ･, ∙, ⋅, ·).
_MIDDLE_DOTS = "\u00b7\u2022.\u30fb\u2027\uff65\u2219\u22c5\u0387\uff0e"
_DOT_RE = re.compile(f"\\s*[{re.escape(_MIDDLE_DOTS)}]\\s*")
_SPACE_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What no platform value may carry into the bridge: C0 controls but tab and newline, DEL, C1
# controls (ESC sequences, the NUL PostgreSQL refuses), the bidirectional overrides and isolates
# that make text read otherwise than it is stored, and the invisible characters no script of a
# resident's record needs (the soft hyphen, the zero-width space, the word joiner and the invisible
# operators: "张\u200b三" looks like 张三 and is not).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_UNSAFE_RE = re.compile(f"[{_UNSAFE}]")
_UNSAFE_OR_SURROGATE_RE = re.compile(f"[{_UNSAFE}\ud800-\udfff]")


def halfwidth(text: str) -> str:
    """Compatibility forms folded (NFKC): full-width ASCII variants (０-９, Ａ-Ｚ, full-width space)
    to their ASCII forms, and Kangxi radicals and compatibility ideographs to the characters they
    look like. For text; a number is folded by :func:`fold_width` only."""
    return unicodedata.normalize("NFKC", text)


# U+FF01-FF5E are ASCII's printable characters at full width; U+3000 is the ideographic space.
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def fold_width(text: str) -> str:
    """Full-width forms (what Chinese input methods type: ５３０１, ｘ, the full-width space) to
    ASCII, and nothing else: NFKC would also read ① or ¹ or 𝟓 as a digit, and a number with
    no check digit (a region code, an account, an amount) would be stored as another spelling
    of what the agent saw; those stay as they are, for the caller's shape check to refuse."""
    return text.translate(_FULL_WIDTH) if not text.isascii() else text


def strip_controls(text: str) -> str:
    """Remove control characters, which no real field contains."""
    return _CONTROL_RE.sub("", text)


def strip_unsafe(text: str) -> str:
    """``text`` without the characters ``_UNSAFE_RE`` names (and no lone surrogates: they cannot
    be stored as UTF-8)."""
    cleaned = _UNSAFE_RE.sub("", text)
    if not cleaned.isascii():
        cleaned = cleaned.encode("utf-8", "ignore").decode("utf-8")
    return cleaned


def marked_unsafe(text: str) -> str:
    """``text`` with each character ``strip_unsafe`` removes (and each lone surrogate) replaced by
    U+FFFD instead: for a value whose exact form is its meaning, an identifier, where removing
    a character could make another value of it ("T1\x1b" is not "T1")."""
    return _UNSAFE_OR_SURROGATE_RE.sub("\ufffd", text)


# Unicode's default-ignorable code points that are not format characters (the combining grapheme
# joiner, the Hangul fillers, the Khmer inherent vowels, the Mongolian and other variation
# selectors, U+FFF0-FFF8 and the tags' plane), and the Braille blank: each shows as nothing.
_INVISIBLE_RE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
                           "\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")


def without_format_characters(text: str) -> str:
    """``text`` without what shows as nothing: Unicode's format characters (category Cf: the
    zero-width joiners, the directional marks, the soft hyphen ...) and its other
    default-ignorable code points (variation selectors, the Hangul fillers ...)."""
    if text.isascii():
        return text
    return _INVISIBLE_RE.sub("", "".join(ch for ch in text if unicodedata.category(ch) != "Cf"))


def normalise_name(name: str) -> str:
    """A person's name as the bridge stores and compares it.

    Full-width forms folded, all spaces removed, every middle-dot variant written as
    U+00B7 (the form GB 18030 names use), control and invisible format characters dropped
    (a name is what it looks like: the one stored is compared with the one typed by hand).
    """
    text = without_format_characters(strip_controls(halfwidth(name)))
    text = _DOT_RE.sub("\u00b7", text.strip())
    return _SPACE_RE.sub("", text)


def normalise_text(text: str) -> str:
    """Free text (addresses, remarks): folded, controls dropped, runs of spaces single."""
    return _SPACE_RE.sub(" ", strip_controls(halfwidth(text))).strip()


ASCII_DIGITS = frozenset("0123456789")
# What people type between the digits of a number: spaces and dashes of every width.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc]+")


def is_ascii_digits(text: str) -> bool:
    """Only 0-9 (``str.isdigit`` also accepts Arabic-Indic and other Unicode digits, which the
    internal system does not read as digits)."""
    return bool(text) and all(ch in ASCII_DIGITS for ch in text)


def digits_only(text: str) -> str:
    """A number typed with spaces, dashes or full-width digits, without them.

    Full-width forms are folded (:func:`fold_width`) and separators removed; anything else is
    kept, so that a character that is no ASCII digit (an Arabic-Indic ``٣``, a circled ①, a
    letter) makes the caller's shape check fail instead of being dropped silently or stored as a
    second spelling.
    """
    return _SEPARATORS.sub("", fold_width(text))

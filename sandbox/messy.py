"""The messy input of platform-api.md §8, applied to clean snapshots by a seeded chooser."""

from __future__ import annotations

import random
from typing import Any

from mapping import idcard
from sandbox import codes

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _lower_x_or_spaces(txn: dict[str, Any], rng: random.Random) -> str:
    number = txn["person"]["id_number"]
    if number.endswith("X"):
        number = number[:-1] + "x"
    txn["person"]["id_number"] = f" {number[:6]} {number[6:]} " if rng.random() < 0.5 else number.translate(_FULLWIDTH)
    return "id_format_fixable"


def _wrong_check_digit(txn: dict[str, Any], rng: random.Random) -> str:
    number = txn["person"]["id_number"]
    wrong = next(c for c in "0123456789X" if c != idcard.check_character(number[:17]))
    txn["person"]["id_number"] = number[:17] + wrong
    return "invalid_id"


def _name_variant(txn: dict[str, Any], rng: random.Random) -> str:
    name = txn["person"]["name"]
    txn["person"]["name"] = name.replace("·", rng.choice(["•", ".", "・"])) if "·" in name else name[0] + "\u3000" + name[1:] + " "
    return "name_fixable"


def _birth_mismatch(txn: dict[str, Any], rng: random.Random) -> str:
    txn["person"]["birth_date"] = "1901-01-01" if rng.random() < 0.5 else txn["person"]["birth_date"]
    txn["person"]["gender"] = {"M": "F", "F": "M"}[txn["person"]["gender"]]
    return "invalid_person"


def _short_region(txn: dict[str, Any], rng: random.Random) -> str:
    creates = codes.creates_person(txn["biz_type"])  # a new person's business needs a village: one not served
    txn["region_code"] = "530199001001" if creates else txn["region_code"][: rng.choice((6, 9))]
    return "region"


def _missing_field(txn: dict[str, Any], rng: random.Random) -> str:
    where = rng.choice(["person.name", "payload", "agent.agent_id", "created_at"])
    head, _, tail = where.partition(".")
    if tail:
        txn[head][tail] = None
    else:
        txn.pop(head, None)
    return "invalid_missing"


def _wrong_type(txn: dict[str, Any], rng: random.Random) -> str:
    payload = txn.get("payload") or {}
    key = next(iter(payload), None)
    if key:
        payload[key] = {"unexpected": [1, 2]}
    return "invalid_type"


def _extra_fields(txn: dict[str, Any], rng: random.Random) -> str:
    txn["platform_release"] = "2.3"
    txn["person"]["wechat_openid"] = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    return "extra"


def _drop_attachment(txn: dict[str, Any], rng: random.Random) -> str:
    if txn["attachments"]:
        txn["attachments"].pop(rng.randrange(len(txn["attachments"])))
    return "materials"


def _bad_hash(txn: dict[str, Any], rng: random.Random) -> str:
    if txn["attachments"]:
        txn["attachments"][0]["sha256"] = f"{rng.getrandbits(256):064x}"
    return "materials"


MESSES = [(_lower_x_or_spaces, 20), (_name_variant, 15), (_extra_fields, 10), (_drop_attachment, 15),
          (_bad_hash, 5), (_wrong_check_digit, 8), (_birth_mismatch, 6), (_short_region, 6),
          (_missing_field, 8), (_wrong_type, 7)]


def make_messy(txn: dict[str, Any], rng: random.Random) -> str:
    """Spoil one thing of a snapshot the way real agents do; returns what kind of mess."""
    mess = rng.choices([m for m, _ in MESSES], [w for _, w in MESSES])[0]
    return mess(txn, rng)

"""Cleaning platform text never makes one record, agent or scan into another.

``wire.sanitise`` removes control, bidi and invisible characters from what the platform sent. For
free text that is what the agent saw; for an identifier it would be a different value: a
transaction ``RH…01`` followed by an ESC is not ``RH…01``, and taking it for that record would
put its content into another resident's business and post a result for a transaction that never
sent it. An identifier holding such a character keeps a mark no shape admits, and the record is
invalid with the field named; a name is what it looks like, without invisible characters.
"""

from __future__ import annotations

import copy
import unicodedata

import pytest
from sqlalchemy import select

from bridge import wiring
from connectors.internal import schema
from mapping import wire
from mapping.printable import printable
from mapping.text import normalise_name
from sync import nightly
from sync.ledger import tables as lt
from sync.process import stage
from tests.factories import raw_txn, validated
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK, with_scans

HIDDEN = ["\x1b", "\x00", "\u202e", "\u2066", "\ufeff", "\u200b", "\u2060", "\x9b", "\ud800",
          # and what str.strip() takes for whitespace: an identifier is read as sent
          " ", "\t", "\n", "\x1c", "\x1f", "\x85", "\xa0", "\u3000", "\u2028"]


@pytest.mark.parametrize("hidden", HIDDEN)
def test_a_transaction_id_with_a_hidden_character_is_not_the_id_without_it(hidden):
    raw = raw_txn("CBDJ")
    clean_id = raw["txn_id"]
    for place in (len(clean_id), 4):
        hostile = dict(raw, txn_id=clean_id[:place] + hidden + clean_id[place:])
        staged = stage(hostile)
        assert not staged.identified and staged.txn_id != clean_id
        assert staged.txn_id.startswith("UNIDENTIFIED-")
        assert wire.identity(hostile) is None  # nor is the raw item taken for a version already seen
    assert stage(raw).txn_id == clean_id  # the clean one keeps its own


def test_items_that_differ_only_in_what_cleaning_marks_are_two_records():
    raw = raw_txn("CBDJ")
    one, two = (stage(dict(raw, txn_id=raw["txn_id"] + hidden)) for hidden in ("\x1b", "\u200b"))
    assert one.txn_id != two.txn_id
    assert stage(dict(raw, txn_id=raw["txn_id"] + "\x1b")).txn_id == one.txn_id  # the same item, the same name
    assert stage({"version": 1}).txn_id == stage({"version": 1}).txn_id


def test_a_key_cleaned_into_txn_id_does_not_replace_the_items_own():
    raw = raw_txn("CBDJ", txn_id="NOT AN ID!")
    raw["txn_id\x00"] = "RH530102202611250001"
    staged = stage(raw)
    assert not staged.identified and "RH530102202611250001" not in staged.txn_id


@pytest.mark.parametrize("hidden", ["\x1b", "\u202e", "\u200b"])
@pytest.mark.parametrize("where", ["agent_id", "attachment_id", "sha256", "version"])
def test_every_identifier_with_a_hidden_character_names_its_field(hidden, where):
    raw = raw_txn("CBDJ")
    if where == "agent_id":
        raw["agent"]["agent_id"] = "A00" + hidden + "17"
        field = "agent.agent_id"
    elif where == "attachment_id":
        raw["attachments"][0]["attachment_id"] = "F" + hidden + "0"
        field = "attachments[0].attachment_id"
    elif where == "sha256":
        raw["attachments"][0]["sha256"] = "0" * 32 + hidden + "0" * 32
        field = "attachments[0].sha256"
    else:
        raw["version"] = "2" + hidden
        staged = stage(raw)
        assert not staged.identified  # a version that is not digits leaves the item without an identity
        return
    with pytest.raises(wire.WireError) as err:
        wire.parse(wire.sanitise(raw))
    assert field in [p.field for p in err.value.problems]


@pytest.mark.parametrize("hidden", ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u202e", "\u3164",
                                    "\u034f", "\ufe0f", "\U000e0101", "\u180b", "\u2800", "\uffa0"])
def test_a_name_is_what_it_looks_like(hidden):
    assert normalise_name(f"张{hidden}三 ") == "张三"
    assert normalise_name(f"阿依{hidden}·古丽") == "阿依·古丽"
    raw = raw_txn("CBDJ")
    raw["person"]["name"] = f"张{hidden}三"
    raw["payload"]["bank_account"]["holder_name"] = f"{hidden}张三"
    record = validated(wire.sanitise(raw)).record
    assert record is not None and record.person.name == "张三"
    if unicodedata.category(hidden) == "Cf" and hidden != "\U000e0101" or hidden == "\u2060":  # shown escaped where printed
        escape = f"\\x{ord(hidden):02x}" if ord(hidden) < 0x100 else f"\\u{ord(hidden):04x}"
        assert printable(f"张{hidden}三") == f"张{escape}三"


@pytest.mark.parametrize("value", ["٣٠٠.٠٠", "३००.००", "1⁰⁰⁰.00", "¹²", "①00"])
def test_an_amount_is_in_ascii_or_full_width_digits_only(value):
    raw = raw_txn("CBDJ")
    raw["payload"]["grade"] = value
    result = validated(wire.sanitise(raw))
    assert result.record is None and "payload.grade" in [p.field for p in result.problems]


@pytest.mark.parametrize(("field", "value"), [("region_code", "530¹02001001"), ("region_code", "53０102００1001①"),
                                              ("created_at", "٢٠٢٦-11-25 09:30:00"),
                                              ("created_at", "2026-1¹-25 09:30:00")])
def test_a_code_or_a_time_in_other_digits_names_its_field(field, value):
    raw = raw_txn("CBDJ", **{field: value})
    try:
        result = validated(wire.sanitise(raw))
    except wire.WireError as err:
        assert field in [p.field for p in err.problems]
        return
    assert result.record is None and field in [p.field for p in result.problems]


def test_full_width_digits_are_still_read_as_the_agent_typed_them():
    raw = raw_txn("CBDJ", region_code="５３０１０２００１００１")
    raw["payload"]["grade"] = "３００.００"
    number = raw["person"]["id_number"]
    raw["person"]["id_number"] = "".join(chr(ord(c) + 0xFEE0) for c in number)  # ５３０１…, all full width
    record = validated(wire.sanitise(raw)).record
    assert record is not None
    assert (record.region_code, record.person.id_number, str(record.payload.grade)) == ("530102001001", number, "300.00")


@pytest.mark.parametrize("hidden", ["\x1b", "\u3000"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_twin_with_a_hidden_character_in_its_id_changes_nothing_of_the_record_it_mimics(internal_url, tmp_path,
                                                                                           hidden):
    """A clean enrolment, and a later "version" of it whose id carries an ESC and whose person is
    another: the clean one is applied as sent and answered once; the twin is one invalid record of
    its own, named by its txn_id, never written back, and the internal system holds one person."""
    clean = raw_txn("CBDJ", txn_id="RH530102202611250001")
    scenario = with_scans(clean)
    twin = copy.deepcopy(scenario["transactions"][0])
    twin.update(txn_id="RH530102202611250001" + hidden, version=2, updated_at="2026-11-25 09:30:00")
    twin["person"]["name"] = "王五"
    with sandbox(scenario) as server:
        server.state.put(twin, lag=0)
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        result = nightly.run(parts)
        posted = [(r["txn_id"], r.get("version")) for r in server.state.results]
    assert result.status == "completed", result.problems
    with parts.state.connect() as conn:
        states = {r.txn_id: (r.state, r.version, r.reason_kind, r.reasons) for r in conn.execute(
            select(lt.txn.c.txn_id, lt.txn.c.state, lt.txn.c.version, lt.txn.c.reason_kind, lt.txn.c.reasons))}
    with parts.internal.connect() as conn:
        names = [r[0].strip() for r in conn.execute(select(schema.ac01.c.aac003))]
    parts.internal.dispose()
    parts.state.dispose()
    assert states["RH530102202611250001"][0] == "applied", states  # its version 2 is the write-back's echo
    others = {k: v for k, v in states.items() if k != "RH530102202611250001"}
    assert len(others) == 1, states
    (twin_id, (state, _, _, reasons)), = others.items()
    assert twin_id.startswith("UNIDENTIFIED-") and state == "invalid" and '"field": "txn_id"' in (reasons or "")
    assert "看不见的字符" in reasons
    assert posted == [("RH530102202611250001", 1)]
    assert names == ["张三"]

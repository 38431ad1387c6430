import io
import json
import logging

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import logging as bridge_logging
from bridge import wiring
from bridge.settings import SettingsError, load
from mapping.idcard import make, masked


def test_mask_hides_id_phone_and_account():
    line = bridge_logging.mask("id 53010219900307123X phone 13800138000 card 6217000012345678901")
    assert "53010219900307123X" not in line and "530102********123X" in line
    assert "13800138000" not in line and "138****8000" in line
    assert "6217000012345678901" not in line


def test_every_log_line_is_masked():
    stream = io.StringIO()
    bridge_logging.configure(stream=stream)
    structlog.get_logger("t").info("person_seen", id_number="440524188001010014", nested={"phone": "13912345678"})
    logging.getLogger().handlers.clear()
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "440524188001010014" not in stream.getvalue() and "13912345678" not in stream.getvalue()
    assert record["event"] == "person_seen"


def test_missing_setting_is_named(monkeypatch):
    for name in ("BRIDGE_PLATFORM_URL", "BRIDGE_APP_KEY", "BRIDGE_APP_SECRET", "BRIDGE_INTERNAL_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_PLATFORM_URL", "http://x/open/v1")
    current = load()  # each side of a network gap has only half of the settings: a command names what it lacks
    with pytest.raises(SettingsError) as err:
        current.need("platform_url", "app_key", "app_secret", "internal_db")
    assert "BRIDGE_APP_KEY 未设置" in str(err.value)
    monkeypatch.setenv("BRIDGE_APP_KEY", "k")
    monkeypatch.setenv("BRIDGE_APP_SECRET", "s")
    with pytest.raises(SettingsError) as err:
        wiring.build(load())
    assert "BRIDGE_INTERNAL_DB 未设置" in str(err.value)


def test_malformed_setting_is_named_and_secret_never_shown(monkeypatch):
    monkeypatch.setenv("BRIDGE_PLATFORM_URL", "ftp://x")
    monkeypatch.setenv("BRIDGE_APP_KEY", "k")
    monkeypatch.setenv("BRIDGE_APP_SECRET", "very-secret-value")
    monkeypatch.setenv("BRIDGE_INTERNAL_DB", "sqlite://")
    with pytest.raises(SettingsError) as err:
        load()
    assert "BRIDGE_PLATFORM_URL" in str(err.value) and "very-secret-value" not in str(err.value)
    monkeypatch.setenv("BRIDGE_PLATFORM_URL", "http://x/open/v1")
    assert "very-secret-value" not in repr(load())


def test_platform_serials_stay_readable():
    assert bridge_logging.mask("txn RH530102202611250006 done") == "txn RH530102202611250006 done"


# --- personal numbers in every form people write them -------------------------------------

FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def groups(number: str, draw) -> str:
    """``number`` cut into groups joined by single spaces, as people space numbers out."""
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=max(0, len(number) // 3))))
    return " ".join(number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)]))


@st.composite
def id_numbers(draw) -> tuple[str, str, int]:
    """(as written, the digits, how many must be hidden)."""
    if draw(st.booleans()):
        first17 = draw(st.text("0123456789", min_size=17, max_size=17))
        number = make(first17) if draw(st.booleans()) else first17 + draw(st.sampled_from("0123456789Xx"))
        hidden = 8
    else:
        number, hidden = draw(st.text("0123456789", min_size=15, max_size=15)), 6
    written = groups(number, draw) if draw(st.booleans()) else number
    if draw(st.booleans()):
        written = written.translate(FULLWIDTH)
    prefix = draw(st.one_of(st.just(""), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1,
                                                 max_size=4)))
    if prefix.endswith(("RH", "YW")):  # RH + 18 digits is the platform's txn_id, documented as shown
        prefix = "ID"
    return prefix + written, number.upper(), hidden


@st.composite
def phones(draw) -> tuple[str, str, int]:
    number = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    sep = draw(st.sampled_from(["", " ", "-"]))
    written = sep.join((number[:3], number[3:7], number[7:]))
    country = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "＋86"]))
    if draw(st.booleans()):
        written = written.translate(FULLWIDTH)
    return country + written, number, 4


@st.composite
def accounts(draw) -> tuple[str, str, int]:
    number = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", min_size=11, max_size=31))
    if draw(st.booleans()):
        size = draw(st.integers(3, 6))
        written = " ".join(number[i:i + size] for i in range(0, len(number), size))
    else:
        written = groups(number, draw) if draw(st.booleans()) else number
    return written, number, 4


around = st.sampled_from(["", " ", "：", "，", "卡号", "身份证号 ", "phone=", "(", "\"", "开户行账号"])
after = st.sampled_from(["", " ", "。", "，", ")", "\"", " 已登记", ";"])


def visible_digits(text: str) -> str:
    return "".join(ch for ch in text.upper().translate(str.maketrans("０１２３４５６７８９Ｘ", "0123456789X"))
                   if ch.isdigit() or ch == "X")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(around, st.one_of(id_numbers(), phones(), accounts()), after), min_size=1, max_size=3))
def test_no_personal_number_survives_masking_in_a_log_line(parts):
    line = "事件 " + " ¦ ".join(before + written + end for before, (written, _, _), end in parts)
    event = bridge_logging.mask_processor(None, "info", {"event": line, "detail": {"remarks": [line]}})
    for shown in (event["event"], event["detail"]["remarks"][0]):
        for piece, (_, (_, number, hidden), _) in zip(shown.split("¦"), parts):
            assert number not in visible_digits(piece) and piece.count("*") >= hidden, (line, shown)


@pytest.mark.parametrize("value, shown", [
    ("53010219900307123X", "530102********123X"), ("530102 19900307 123x", "530102********123X"),
    ("５３０１０２１９９００３０７１２３４", "530102********1234"), ("530102900307123", "530102******123"),
    ("13800138000", "138****8000"), ("6217 0000 1234 5678 901", "6217***********8901"),
    ("not a number", "************"), ("5301021990030", "530*******030")])
def test_masked_shows_only_what_identifies_nobody(value, shown):
    assert masked(value) == shown


@pytest.mark.parametrize("line", [
    "txn RH530102202611250006 done", "ywlsh YW2026112500000001", "run 20261203145652-b008bd51 began",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "at 2026-11-25 09:12:40",
    "pulled 500 new 12 of 3000"])
def test_serials_hashes_and_times_stay_readable(line):
    assert bridge_logging.mask(line) == line


def test_region_fields_stay_readable_but_twelve_digits_elsewhere_are_masked():
    event = bridge_logging.mask_processor(None, "info", {"event": "e", "region": "530102001001",
                                                          "note": "账号 530102001001"})
    assert event["region"] == "530102001001" and "530102001001" not in event["note"]


def test_log_values_carry_no_terminal_escapes_or_fake_lines():
    stream = io.StringIO()
    bridge_logging.configure(stream=stream)
    structlog.get_logger("t").warning("remark_seen", remarks="ok\x1b[2J\n2026-11-25 [info] verify_ok\u202e")
    logging.getLogger().handlers.clear()
    line = stream.getvalue().strip().splitlines()[-1]
    assert "\x1b" not in line and "\u202e" not in line and len(stream.getvalue().strip().splitlines()) == 1
    assert json.loads(line)["remarks"] == "ok\\x1b[2J\\x0a2026-11-25 [info] verify_ok\\u202e"

import io
import json
import logging

import pytest
import structlog

from bridge import logging as bridge_logging
from bridge import wiring
from bridge.settings import SettingsError, load


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
    assert "BRIDGE_APP_KEY is not set" in str(err.value)
    monkeypatch.setenv("BRIDGE_APP_KEY", "k")
    monkeypatch.setenv("BRIDGE_APP_SECRET", "s")
    with pytest.raises(SettingsError) as err:
        wiring.build(load())
    assert "BRIDGE_INTERNAL_DB is not set" in str(err.value)


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

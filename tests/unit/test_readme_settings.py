"""The README's settings table names every setting the program reads, and none it does not."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
READ_BESIDE_THE_FIELDS = {"BRIDGE_ENV_FILE"}  # read by bridge.settings.load from the environment


def _table_names() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(BRIDGE_[A-Z_]+)`", row.split(" | ")[0])}


def test_the_readme_table_names_every_setting_and_no_other() -> None:
    fields = {f"BRIDGE_{name.upper()}" for name in Settings.model_fields}
    named = _table_names()
    assert fields - named == set(), "settings missing from the README's table"
    assert named - fields - READ_BESIDE_THE_FIELDS == set(), "the README names settings the program does not read"

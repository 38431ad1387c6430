"""The exit statuses the systemd units read: only an incomplete run (it resumes next night)
counts as success besides 0; a usage or setting mistake must fail the unit."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from typer.main import get_command

from bridge.cli import app
from sync.engine import INCOMPLETE, NEEDS_ATTENTION, RunResult
from sync.ferry.loader import LoadResult
from sync.process import Tally

UNITS = Path(__file__).resolve().parents[2] / "packaging" / "systemd"


def test_every_nightly_unit_counts_only_an_incomplete_run_as_success():
    services = sorted(p.with_suffix(".service") for p in UNITS.glob("*.timer"))  # the worker runs on, unscheduled
    statuses = {p.name: re.findall(r"^SuccessExitStatus=(.*)$", p.read_text(), re.M) for p in services}
    assert statuses and all(found for found in statuses.values()), statuses
    assert all(found == [str(INCOMPLETE)] for found in statuses.values()), statuses


def test_an_incomplete_run_is_not_the_status_of_a_mistake():
    assert RunResult("r", "completed", Tally()).exit_code == 0
    assert RunResult("r", "incomplete", Tally()).exit_code == INCOMPLETE
    mistyped = CliRunner().invoke(get_command(app), ["sync", "--no-such-option"])
    assert mistyped.exit_code not in (0, INCOMPLETE)


def test_what_a_person_must_look_at_fails_the_unit():
    """A database error under the run, a batch across the gap quarantined: resuming will not
    cure them, so they are not the incomplete status the units count as success."""
    assert RunResult("r", "incomplete", Tally(), attention=True).exit_code == NEEDS_ATTENTION
    assert NEEDS_ATTENTION not in (0, INCOMPLETE)
    assert LoadResult("r", "incomplete", attention=True).exit_code == NEEDS_ATTENTION
    assert LoadResult("r", "incomplete").exit_code == INCOMPLETE

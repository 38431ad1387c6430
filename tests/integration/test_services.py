"""The service layer (``sync.services``) as the entry points call it, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge import wiring
from sync import services
from sync.ledger import tables as lt
from sync.locks import LockBusy, run_lock
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import sandbox, settings
from tests.integration.test_sync import CLOCK


def versions(parts) -> int:
    with parts.state.connect() as conn:
        return conn.execute(select(func.count()).select_from(lt.txn_version)).scalar_one()


def test_a_ferried_batch_loaded_twice_is_new_only_once(internal_url, tmp_path):
    with sandbox() as server:
        parts = wiring.build(settings(server, internal_url, tmp_path), clock=CLOCK)
    processor = parts.processor("load-test")
    command = services.LoadBatch((raw_txn(), raw_txn("CBDJ", txn_id="RH53010220261125CB02")), {})
    assert services.load_batch(command, parts, processor) == 2
    assert services.load_batch(command, parts, processor) == 0  # the versions are in the ledger: dropped
    assert versions(parts) == 2
    assert (processor.tally.pulled, processor.tally.new_versions) == (4, 2)


def test_a_scope_another_process_holds_is_refused_unless_told_to_wait(sqlite_internal_url, tmp_path):
    with sandbox() as server:
        parts = wiring.build(settings(server, sqlite_internal_url, tmp_path), clock=CLOCK)
        with run_lock(parts.state, parts.home, "feed:5301"), pytest.raises(LockBusy):
            services.sync_scope(services.SyncScope("r", "5301"), parts)
        assert versions(parts) == 0

"""The service layer: what the entry points ask of the engine, as small commands and their handlers.

The CLI, the distributed workers, the ferry loader and the console parse their input into a
command and call the handler; none of them builds a ``Processor``, opens a transaction or takes a
lock itself. A handler is a function of ``(command, parts)``: the parts are the dependencies wired
once (``bridge.wiring``) — the unit of work over both databases (``Parts.uow``), the platform
client (``Parts.client``), the clock, the code tables. The planner, the applier, the ledger
writer and the error classifier below them are unchanged.

=====================  ==============================  =====================================
command                handler                         called by
=====================  ==============================  =====================================
``SyncScope``          ``sync_scope``                  a worker's partition, the coordinator's
                                                       sweep (the nightly run's loop calls the
                                                       same ``engine.locked_scope_run``)
``ResolveConflict``    ``resolve_conflict``            ``conflicts resolve``, the console
``Seal``               ``seal``                        the nightly job, the ferry loader
``WriteBack``          ``write_back``                  the nightly job, ``writeback``
``LoadBatch``          ``load_batch``                  the ferry loader, per verified batch
=====================  ==============================  =====================================
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sync import conflicts, engine, writeback
from sync.engine import Parts
from sync.ledger.store import seen_versions
from sync.planning.decisions import Decision
from sync.process import Processor, Staged, in_rounds, stage
from sync.scans import ScanOutcome
from sync.sealing.service import SealTally, seal_approved


@dataclass(frozen=True)
class SyncScope:
    """Pull one scope's feed (a region prefix, or None for all) from its checkpoint and process it."""

    run_id: str
    scope: str | None
    wait: bool = False  # wait for another run's lock on the scope instead of raising ``LockBusy``


@dataclass(frozen=True)
class ResolveConflict:
    """An operator's choice about one conflict (``sync.resolutions``)."""

    conflict_id: int
    action: str                      # apply | link | merge | reject | return | keep
    operator: str
    reason: str | None = None
    ywlsh: str | None = None         # link: the hand-typed business
    fields: tuple[str, ...] = ()     # merge: the fields taken from the platform


@dataclass(frozen=True)
class Seal:
    """Seal the approved business of the bridge's that has no seal yet."""

    only: Collection[str] | None = None  # among these txn_ids (a night's sweep), or all


@dataclass(frozen=True)
class WriteBack:
    """Send every due result back to the platform."""

    workers: int = 8
    only: Collection[str] | None = None  # among these txn_ids (a night's sweep), or all


@dataclass(frozen=True)
class LoadBatch:
    """The transactions of one verified ferry batch, with the scan outcomes the collector reported."""

    items: tuple[Any, ...]
    scans: Mapping[str, ScanOutcome]


def sync_scope(command: SyncScope, parts: Parts, processor: Processor | None = None) -> None:
    """Pull and process one scope under its lock.

    Args:
        command: the run and the scope.
        parts: the wired parts.
        processor: the run's processor when it spans several scopes (its statistics follow the run).

    Raises:
        LockBusy: another process holds the scope and ``command.wait`` is false.
    """
    engine.locked_scope_run(parts, processor or parts.processor(command.run_id), command.scope, command.wait)


def resolve_conflict(command: ResolveConflict, parts: Parts) -> Decision:
    """Carry out an operator's choice through the planner, the applier and the ledger, in one unit of work.

    Raises:
        NotFound: no such conflict. Refused: not open, or the choice cannot be carried out.
    """
    return conflicts.resolve(parts, command.conflict_id, command.action, command.operator, command.reason,
                             command.ywlsh, command.fields)


def seal(command: Seal, parts: Parts) -> SealTally:
    """Seal what was approved inside, with the parts' seal key, into their receipts folder."""
    return seal_approved(parts, parts.signer, parts.receipts, command.only)


def write_back(command: WriteBack, parts: Parts) -> writeback.WritebackTally:
    """Write every due result back to the platform through the parts' client.

    Raises:
        PlatformError: the platform stopped answering (what was sent and recorded stands).
    """
    return writeback.write_back(parts, command.workers, only=command.only)


def load_batch(command: LoadBatch, parts: Parts, processor: Processor) -> int:
    """Process a ferried batch's versions not seen before, exactly as ``sync`` processes a page.

    Returns:
        How many versions were new (the tally of ``processor`` counts them and the items).
    """
    staged = [stage(raw) for raw in command.items]
    with parts.state.connect() as conn:
        seen = seen_versions(conn, [s.txn_id for s in staged])
    fresh: dict[tuple[str, int], Staged] = {}
    for s in staged:
        if (s.txn_id, s.version) not in seen:
            fresh.setdefault((s.txn_id, s.version), s)
    processor.tally.pulled += len(command.items)
    processor.tally.new_versions += len(fresh)
    scans = dict(command.scans)
    for part in in_rounds(list(fresh.values())) if fresh else ():
        processor.process(part, scans, None, None)
    return len(fresh)

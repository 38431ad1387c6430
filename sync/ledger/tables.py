"""Table definitions of the bridge's state database, as the latest migration leaves them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    literal_column,
    or_,
)

metadata = MetaData()

# Every transaction version the bridge has seen, as the platform sent it.
txn_version = Table(
    "pb_txn_version", metadata,
    Column("txn_id", String(60), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("updated_at", String(19), nullable=False),
    Column("status", String(20)),
    Column("content_hash", String(64), nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("outcome", String(20)),
)

# Exactly one current state per transaction.
txn = Table(
    "pb_txn", metadata,
    Column("txn_id", String(60), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("biz_type", String(10)),
    Column("region_code", String(12), index=True),
    Column("agent_id", String(40)),
    Column("agent_name", String(60)),
    Column("id_number", String(18), index=True),
    Column("created_at", String(19)),
    Column("updated_at", String(19)),
    Column("ywlsh", String(20), index=True),
    Column("applied_version", Integer),
    Column("applied_hash", String(64)),
    Column("core_hash", String(64)),
    Column("reason_kind", String(40)),
    Column("reasons", Text),
    Column("first_seen_at", DateTime, nullable=False),
    Column("state_at", DateTime, nullable=False),
    Column("content_hash", String(64)),   # of the latest version decided: an echo has the same
    Column("status", String(20)),         # the platform's status of the latest version seen
    # The latest version a result went out for from the nightly write-back (or its echo's
    # predecessor): a hint that lets a quiet night skip what is answered (``sync.sweep``).
    Column("answered_version", Integer),
    Column("purged_at", DateTime),  # scans and raw payloads purged after retention (``sync.retention``)
)


OWING = ("applied", "linked", "rejected", "invalid")  # the states a result is written back for


def unanswered() -> ColumnElement[bool]:
    """Ledger rows in a state that owes a result, and no result has gone out for since their
    latest version but one: the few a night's write-back reads by a partial index, however long
    the ledger (``sync.sweep``). Conflicts and withdrawals, never answered, stay out of it."""
    x = txn.c
    return and_(x.state.in_([literal_column(f"'{s}'") for s in OWING]),
                or_(x.answered_version.is_(None), x.answered_version + literal_column("1") < x.version))


# Partial indexes (PostgreSQL, SQLite; MariaDB has none, and scans): the rows a night looks at.
Index("ix_pb_txn_unanswered", txn.c.txn_id, postgresql_where=unanswered(), sqlite_where=unanswered())

# The history of states: one row per transition, never updated.
txn_event = Table(
    "pb_txn_event", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("txn_id", String(60), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("detail", Text),
    Column("run_id", String(40), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(60)),
)

checkpoint = Table(
    "pb_checkpoint", metadata,
    Column("scope", String(40), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

run = Table(
    "pb_run", metadata,
    Column("run_id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(20), nullable=False),
    Column("summary", Text),
)

# Scans kept content-addressed, and what each attachment turned out to be.
attachment = Table(
    "pb_attachment", metadata,
    Column("attachment_id", String(60), primary_key=True),
    Column("sha256", String(64)),
    Column("status", String(20), nullable=False),
    Column("kind", String(40)),
    Column("content_type", String(40)),
    Column("size", Integer),
    Column("checked_at", DateTime, nullable=False),
)

conflict = Table(
    "pb_conflict", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("txn_id", String(60), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", Text),
    Column("fields", Text),
    Column("internal_rows", Text),
    Column("region_code", String(12), index=True),
    Column("agent_id", String(40)),
    Column("status", String(20), nullable=False, index=True),
    Column("opened_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("resolution", String(20)),
    Column("resolved_by", String(60)),
    Column("resolved_at", DateTime),
    UniqueConstraint("txn_id", "status", "opened_at", name="pb_conflict_txn_status"),
)

# Who did what to a conflict, when: opened, updated by a later version, resolved.
conflict_event = Table(
    "pb_conflict_event", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conflict_id", Integer, nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(60), nullable=False),
    Column("action", String(20), nullable=False),
    Column("reason", Text),
    Column("detail", Text),
)

# The seal of each approved business: its receipt, signature and outcome.
seal = Table(
    "pb_seal", metadata,
    Column("ywlsh", String(20), primary_key=True),
    Column("txn_id", String(60), nullable=False, index=True),
    Column("status", String(20), nullable=False),          # sealed | failed
    Column("seal_code", String(60)),
    Column("algorithm", String(20)),
    Column("key_fingerprint", String(64)),
    Column("sealed_at", String(19)),
    Column("receipt_sha256", String(64)),
    Column("signature", Text),
    Column("receipt_path", String(300)),
    Column("verify_code", String(20)),
    Column("failure", Text),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
# The console's queue: residents who waited longest first, one agent's conflicts (``sync.conflicts.page``).
Index("ix_pb_txn_created_at", txn.c.created_at, txn.c.txn_id)
Index("ix_pb_conflict_agent", conflict.c.agent_id, conflict.c.status)

_failed_seal = seal.c.status == "failed"
Index("ix_pb_seal_failed", seal.c.txn_id, postgresql_where=_failed_seal, sqlite_where=_failed_seal)

# Results written back to the platform: one row per idempotency key.
writeback = Table(
    "pb_writeback", metadata,
    Column("idempotency_key", String(64), primary_key=True),
    Column("txn_id", String(60), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False),          # sending | sent | failed | superseded
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    Column("response", Text),
)
_retried = writeback.c.status.in_(("sending", "failed"))
Index("ix_pb_writeback_retried", writeback.c.txn_id, postgresql_where=_retried, sqlite_where=_retried)

# The audit trail: append-only, each entry carrying the hash of the one before it.
audit = Table(
    "pb_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(60), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(80)),
    Column("detail", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# The head of the chain: one row, updated with each entry, so appenders take turns.
audit_head = Table(
    "pb_audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("last_hash", String(64), nullable=False),
    Column("entries", Integer, nullable=False),
)

# Console users and their sessions.
user = Table(
    "pb_user", metadata,
    Column("name", String(60), primary_key=True),
    Column("role", String(20), nullable=False),           # agent | staff | auditor
    Column("region_prefix", String(12), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("disabled_at", DateTime),                       # set: cannot sign in, no session lives
    Column("agent_id", String(40)),                        # the platform agent this user is (agents)
)

session = Table(
    "pb_session", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(60), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", DateTime, nullable=False),        # the absolute limit (8 h after sign-in)
    Column("created_at", DateTime),
    Column("last_seen_at", DateTime),                      # the idle limit counts from here
)

# Across the network gap (``sync.ferry``): batches written by this side, numbered per kind.
ferry_out = Table(
    "pb_ferry_out", metadata,
    Column("kind", String(10), primary_key=True),           # feed | results
    Column("seq", Integer, primary_key=True),
    Column("status", String(20), nullable=False),           # writing | sent
    Column("file_name", String(120), nullable=False),
    Column("file_sha256", String(64)),
    Column("counts", Text),
    Column("first_at", String(19)),                         # time range of the versions inside
    Column("last_at", String(19)),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
)

# Batches this side received: imported, quarantined, or dropped as a copy of one imported.
ferry_in = Table(
    "pb_ferry_in", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender", String(60)),
    Column("kind", String(10)),
    Column("seq", Integer),
    Column("file_name", String(200), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("status", String(20), nullable=False, index=True),  # imported | quarantined
    Column("detail", Text),
    Column("counts", Text),
    Column("received_at", DateTime, nullable=False),
)

# The collector's record of each transaction version it has sent, so none is sent twice.
ferry_sent = Table(
    "pb_ferry_sent", metadata,
    Column("txn_id", String(60), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
)

# The collector's answers to result batches, carried back to the loader in feed batches.
ferry_ack = Table(
    "pb_ferry_ack", metadata,
    Column("idempotency_key", String(64), primary_key=True),
    Column("txn_id", String(60), nullable=False),
    Column("status", String(20), nullable=False),           # sent | failed | superseded
    Column("answer", Text),
    Column("seq", Integer, index=True),                     # the feed batch that carried it, once sent
)

# Distributed runs (``sync.distributed``): one row per region partition of a run.
partition = Table(
    "pb_partition", metadata,
    Column("run_id", String(40), primary_key=True),
    Column("prefix", String(12), primary_key=True),
    Column("status", String(20), nullable=False),           # queued | running | done | failed
    Column("worker", String(80)),
    Column("attempts", Integer, nullable=False),
    Column("job_id", Integer),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("summary", Text),
    Column("error", Text),
)

# The platform's rate limit shared by every process of one app key (GCRA: theoretical arrival time).
rate = Table(
    "pb_rate", metadata,
    Column("app_key", String(80), primary_key=True),
    Column("tat", Float(precision=53), nullable=False),
)

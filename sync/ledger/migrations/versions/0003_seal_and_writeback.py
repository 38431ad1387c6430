"""seals, write-backs, and what an echo is compared with

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pb_txn") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=True))
    op.create_table(
        "pb_seal",
        sa.Column("ywlsh", sa.String(length=20), nullable=False),
        sa.Column("txn_id", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seal_code", sa.String(length=60), nullable=True),
        sa.Column("algorithm", sa.String(length=20), nullable=True),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("sealed_at", sa.String(length=19), nullable=True),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("receipt_path", sa.String(length=300), nullable=True),
        sa.Column("verify_code", sa.String(length=20), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ywlsh"),
    )
    op.create_index("ix_pb_seal_txn_id", "pb_seal", ["txn_id"])
    op.create_table(
        "pb_writeback",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("txn_id", sa.String(length=60), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index("ix_pb_writeback_txn_id", "pb_writeback", ["txn_id"])

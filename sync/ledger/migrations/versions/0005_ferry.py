"""batches across the network gap: written, received, versions sent, answers carried back

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pb_ferry_out",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=120), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("first_at", sa.String(length=19), nullable=True),
        sa.Column("last_at", sa.String(length=19), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kind", "seq"),
    )
    op.create_table(
        "pb_ferry_in",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=60), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pb_ferry_in_status", "pb_ferry_in", ["status"])
    op.create_table(
        "pb_ferry_sent",
        sa.Column("txn_id", sa.String(length=60), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("txn_id", "version"),
    )
    op.create_table(
        "pb_ferry_ack",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("txn_id", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index("ix_pb_ferry_ack_seq", "pb_ferry_ack", ["seq"])


def downgrade() -> None:
    for name in ("pb_ferry_ack", "pb_ferry_sent", "pb_ferry_in", "pb_ferry_out"):
        op.drop_table(name)

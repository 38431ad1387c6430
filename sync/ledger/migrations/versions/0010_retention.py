"""retention: when a transaction's scans and raw payloads were purged

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``sync.retention``: set when the transaction's scans were deleted and its payloads replaced
    # by their hash; a version received after it is purged in its turn.
    op.add_column("pb_txn", sa.Column("purged_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pb_txn") as batch:
        batch.drop_column("purged_at")

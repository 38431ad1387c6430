"""console users linked to a platform agent_id; the queue's order served by an index

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A village agent's console user is the platform's agent: the "mine" filter and what an
    # agent may see follow this link.
    op.add_column("pb_user", sa.Column("agent_id", sa.String(40), nullable=True))
    # The queue's keyset pagination: residents who waited longest first (pb_txn.created_at), and
    # the open conflicts of one agent.
    op.create_index("ix_pb_txn_created_at", "pb_txn", ["created_at", "txn_id"])
    op.create_index("ix_pb_conflict_agent", "pb_conflict", ["agent_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_pb_conflict_agent", table_name="pb_conflict")
    op.drop_index("ix_pb_txn_created_at", table_name="pb_txn")
    with op.batch_alter_table("pb_user") as batch:
        batch.drop_column("agent_id")

"""console users that can be disabled, sessions with a last-seen time (idle timeout)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sessions from before have no last-seen time, so no idle timeout could apply to them:
    # they end here and their users sign in again.
    op.execute("DELETE FROM pb_session")
    op.add_column("pb_session", sa.Column("created_at", sa.DateTime(), nullable=True))
    op.add_column("pb_session", sa.Column("last_seen_at", sa.DateTime(), nullable=True))
    op.add_column("pb_user", sa.Column("disabled_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pb_user") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("pb_session") as batch:
        batch.drop_column("last_seen_at")
        batch.drop_column("created_at")

"""initial state tables

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('pb_attachment',
    sa.Column('attachment_id', sa.String(length=60), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=True),
    sa.Column('content_type', sa.String(length=40), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('attachment_id')
    )
    op.create_table('pb_checkpoint',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scope')
    )
    op.create_table('pb_conflict',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('txn_id', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('fields', sa.Text(), nullable=True),
    sa.Column('internal_rows', sa.Text(), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('agent_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('txn_id', 'status', 'opened_at', name='pb_conflict_txn_status')
    )
    with op.batch_alter_table('pb_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pb_conflict_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_pb_conflict_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_pb_conflict_txn_id'), ['txn_id'], unique=False)

    op.create_table('pb_run',
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id')
    )
    op.create_table('pb_txn',
    sa.Column('txn_id', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('biz_type', sa.String(length=10), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('agent_id', sa.String(length=40), nullable=True),
    sa.Column('agent_name', sa.String(length=60), nullable=True),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('created_at', sa.String(length=19), nullable=True),
    sa.Column('updated_at', sa.String(length=19), nullable=True),
    sa.Column('ywlsh', sa.String(length=20), nullable=True),
    sa.Column('applied_version', sa.Integer(), nullable=True),
    sa.Column('applied_hash', sa.String(length=64), nullable=True),
    sa.Column('core_hash', sa.String(length=64), nullable=True),
    sa.Column('reason_kind', sa.String(length=40), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('state_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('txn_id')
    )
    with op.batch_alter_table('pb_txn', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pb_txn_id_number'), ['id_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_pb_txn_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_pb_txn_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_pb_txn_ywlsh'), ['ywlsh'], unique=False)

    op.create_table('pb_txn_event',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('txn_id', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pb_txn_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pb_txn_event_txn_id'), ['txn_id'], unique=False)

    op.create_table('pb_txn_version',
    sa.Column('txn_id', sa.String(length=60), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.String(length=19), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('txn_id', 'version')
    )


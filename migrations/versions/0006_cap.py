"""cap: CAP alerts received (sender and identifier to the warning they made or changed), and the
feed entries already taken

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'cap_alerts',
        sa.Column('sender', sa.String(length=255), nullable=False),
        sa.Column('identifier', sa.String(length=255), nullable=False),
        sa.Column('sent', sa.DateTime(timezone=True), nullable=False),
        sa.Column('msg_type', sa.String(length=10), nullable=False),
        sa.Column('warning_id', sa.String(length=26), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_by', sa.String(length=100), nullable=False),
        sa.Column('document', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['warning_id'], ['warnings.id'], name=op.f('fk_cap_alerts_warning_id_warnings')),
        sa.PrimaryKeyConstraint('sender', 'identifier', name=op.f('pk_cap_alerts')),
    )
    op.create_index(op.f('ix_cap_alerts_warning_id'), 'cap_alerts', ['warning_id'], unique=False)
    op.create_table(
        'cap_feed_entries',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('feed_url', sa.Text(), nullable=False),
        sa.Column('entry_id', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('warning_id', sa.String(length=26), nullable=True),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['warning_id'], ['warnings.id'], name=op.f('fk_cap_feed_entries_warning_id_warnings')
        ),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_cap_feed_entries')),
    )
    op.create_index(op.f('ix_cap_feed_entries_warning_id'), 'cap_feed_entries', ['warning_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_cap_feed_entries_warning_id'), table_name='cap_feed_entries')
    op.drop_table('cap_feed_entries')
    op.drop_index(op.f('ix_cap_alerts_warning_id'), table_name='cap_alerts')
    op.drop_table('cap_alerts')

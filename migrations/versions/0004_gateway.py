"""the gateway: tries and receipts on messages, replies from phones

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('messages', sa.Column('tries', sa.Integer(), server_default='0', nullable=False))
    op.add_column('messages', sa.Column('receipt_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'inbound_messages',
        sa.Column('inbound_id', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('digits', sa.String(length=20), nullable=True),
        sa.Column('result', sa.String(length=20), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('inbound_id', name=op.f('pk_inbound_messages')),
    )
    op.create_index(op.f('ix_inbound_messages_phone'), 'inbound_messages', ['phone'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inbound_messages_phone'), table_name='inbound_messages')
    op.drop_table('inbound_messages')
    op.drop_column('messages', 'receipt_at')
    op.drop_column('messages', 'tries')

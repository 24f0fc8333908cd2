"""timelines read a warning's chain: the warning_id index on events goes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_audit_events_warning_id_seq', table_name='audit_events')


def downgrade() -> None:
    op.create_index('ix_audit_events_warning_id_seq', 'audit_events', ['warning_id', 'seq'], unique=False)

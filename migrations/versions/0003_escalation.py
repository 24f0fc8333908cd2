"""escalation: regions escalated, one open escalation per supervisor, the SQLite scheduler lease;
timelines read a warning's chain, so the warning_id index on events goes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ESCALATION = "kind = 'escalation' AND status IN ('pending', 'notified')"


def upgrade() -> None:
    op.drop_index('ix_audit_events_warning_id_seq', table_name='audit_events')
    op.add_column('warning_regions', sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'uq_calls_open_escalation', 'calls', ['warning_id', 'contact_id'], unique=True,
        postgresql_where=sa.text(OPEN_ESCALATION), sqlite_where=sa.text(OPEN_ESCALATION),
    )  # fmt: skip
    op.create_table(
        'scheduler_leases',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('holder', sa.String(length=80), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_leases')),
    )


def downgrade() -> None:
    op.drop_table('scheduler_leases')
    op.drop_index('uq_calls_open_escalation', table_name='calls')
    op.drop_column('warning_regions', 'escalated_at')
    op.create_index('ix_audit_events_warning_id_seq', 'audit_events', ['warning_id', 'seq'], unique=False)

"""anchors: when each chain head last moved, so the heads that moved can be published outside

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: heads last moved before this revision have no time; they are published when next moved.
    op.add_column('audit_chain_heads', sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_audit_chain_heads_updated_at'), 'audit_chain_heads', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_chain_heads_updated_at'), table_name='audit_chain_heads')
    op.drop_column('audit_chain_heads', 'updated_at')

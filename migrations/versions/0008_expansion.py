"""expansion: a very large fan-out is stored in steps, its progress kept on the warning

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'warnings', sa.Column('expansion', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True)
    )


def downgrade() -> None:
    op.drop_column('warnings', 'expansion')

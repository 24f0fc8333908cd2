"""languages: a contact's language (null: its region's), a region's default language for its
contacts, and a warning's own texts in other languages (CAP info blocks per language, or the API's
`translations`)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("contacts", sa.Column("language", sa.String(length=12), nullable=True))
    op.add_column("regions", sa.Column("language", sa.String(length=12), nullable=True))
    op.add_column("warnings", sa.Column("translations", JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("warnings", "translations")
    op.drop_column("regions", "language")
    op.drop_column("contacts", "language")

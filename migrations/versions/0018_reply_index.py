"""audit events: a partial index of the replies that answered nothing, for the duty officer's board

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLIES = "type = 'reply.received'"


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_replies", "audit_events", ["chain", "seq"],
        postgresql_where=sa.text(REPLIES), sqlite_where=sa.text(REPLIES),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_audit_events_replies", table_name="audit_events")

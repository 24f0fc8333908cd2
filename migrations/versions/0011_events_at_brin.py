"""events' times by block range: on PostgreSQL the index on audit_events.at becomes a BRIN index

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 11:00:00

Events are appended in time order, so a block-range index answers a query by period as well as
the B-tree did, and costs next to nothing to keep: a fan-out writes one event per call. SQLite
keeps its B-tree.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.create_index("ix_audit_events_at", "audit_events", ["at"], postgresql_using="brin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.create_index("ix_audit_events_at", "audit_events", ["at"])

"""rollups: a warning's record is sealed a week after it ends, its figures rolled up by township

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 08:00:00

Warnings already past their week are sealed by the scheduler after the upgrade, one per
transaction (report.rollup.seal_due); until then the reports count their calls as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSEALED = sa.text("sealed_at IS NULL")


def upgrade() -> None:
    op.add_column("warnings", sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_warnings_to_seal", "warnings", ["closed_at"], postgresql_where=UNSEALED, sqlite_where=UNSEALED)
    op.create_table(
        "report_rollups",
        sa.Column("warning_id", sa.String(length=26), nullable=False),
        sa.Column(
            "township_digits",
            sa.String(length=9).with_variant(sa.String(length=9, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("acknowledged", sa.Integer(), nullable=False),
        sa.Column("in_time", sa.Integer(), nullable=False),
        sa.Column("with_feedback", sa.Integer(), nullable=False),
        sa.Column("ack_seconds", sa.JSON().with_variant(postgresql.ARRAY(sa.Float()), "postgresql"), nullable=True),
        sa.Column("targeted_regions", sa.Integer(), nullable=False),
        sa.Column("reached_regions", sa.Integer(), nullable=False),
        sa.Column("escalated_regions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"], name=op.f("fk_report_rollups_warning_id_warnings")),
        sa.PrimaryKeyConstraint("warning_id", "township_digits", name=op.f("pk_report_rollups")),
    )


def downgrade() -> None:
    op.drop_table("report_rollups")
    op.drop_index("ix_warnings_to_seal", table_name="warnings")
    op.drop_column("warnings", "sealed_at")

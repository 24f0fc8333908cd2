"""duty: the shifts of county and township offices (值班值守) and their handovers (交接班)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("officer_id", sa.String(length=26), nullable=False),
        sa.Column("leader_id", sa.String(length=26), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_duty_shifts_region_code_regions")),
        sa.ForeignKeyConstraint(["officer_id"], ["contacts.id"], name=op.f("fk_duty_shifts_officer_id_contacts")),
        sa.ForeignKeyConstraint(["leader_id"], ["contacts.id"], name=op.f("fk_duty_shifts_leader_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    op.create_index("ix_duty_shifts_region_code_ends_at", "duty_shifts", ["region_code", "ends_at"])
    op.create_index(op.f("ix_duty_shifts_officer_id"), "duty_shifts", ["officer_id"])
    op.create_index(op.f("ix_duty_shifts_leader_id"), "duty_shifts", ["leader_id"])
    op.create_table(
        "duty_handovers",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_shift_id", sa.String(length=26), nullable=True),
        sa.Column("from_officer", JSON, nullable=True),
        sa.Column("to_shift_id", sa.String(length=26), nullable=True),
        sa.Column("to_officer", JSON, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("open_calls", JSON, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_duty_handovers_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_handovers")),
    )
    op.create_index("ix_duty_handovers_region_code_at", "duty_handovers", ["region_code", "at"])


def downgrade() -> None:
    op.drop_table("duty_handovers")
    op.drop_table("duty_shifts")

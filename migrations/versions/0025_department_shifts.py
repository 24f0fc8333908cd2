"""department shifts: a county department (部门) may keep a duty roster of its own, whose officer on
shift reports in (报到) when a township blows the whistle

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 16:00:00

A shift is an office's (`region_code` set) or a department's (`department_id` set), never both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("duty_shifts") as batch_op:
        batch_op.alter_column("region_code", existing_type=sa.String(length=12), nullable=True)
        batch_op.add_column(sa.Column("department_id", sa.String(length=26), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_duty_shifts_department_id_departments"), "departments", ["department_id"], ["id"]
        )
        batch_op.create_index("ix_duty_shifts_department_id_ends_at", ["department_id", "ends_at"])
        batch_op.create_check_constraint(
            op.f("ck_duty_shifts_one_desk"), "(region_code IS NULL) <> (department_id IS NULL)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM duty_shifts WHERE department_id IS NOT NULL")
    with op.batch_alter_table("duty_shifts") as batch_op:
        batch_op.drop_constraint(op.f("ck_duty_shifts_one_desk"), type_="check")
        batch_op.drop_index("ix_duty_shifts_department_id_ends_at")
        batch_op.drop_constraint(op.f("fk_duty_shifts_department_id_departments"), type_="foreignkey")
        batch_op.drop_column("department_id")
        batch_op.alter_column("region_code", existing_type=sa.String(length=12), nullable=False)

"""departments: a county's departments (部门), whom a township's 吹哨 calls, and the contacts who answer
for them

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 12:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_departments_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("region_code", "name", name=op.f("uq_departments_region_code_name")),
    )
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.String(length=26), nullable=True))
        batch_op.create_index(batch_op.f("ix_contacts_department_id"), ["department_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_contacts_department_id_departments"), "departments", ["department_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_contacts_department_id_departments"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_contacts_department_id"))
        batch_op.drop_column("department_id")
    op.drop_table("departments")

"""loudspeakers: village and township broadcast points (大喇叭), the broadcasts warnings make them
play, and whether each level's policy broadcasts (red and orange by default) and how often

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)
WAITING = sa.text("status = 'pending' OR status = 'sending'")


def upgrade() -> None:
    op.create_table(
        "loudspeakers",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("languages", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("deactivated_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_loudspeakers_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loudspeakers")),
    )
    op.create_index("ix_loudspeakers_region_code_active", "loudspeakers", ["region_code", "active"])
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("warning_id", sa.String(length=26), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("texts", JSON, nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("receipt_at", TIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("confirmed_at", TIME, nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("warning_id", "region_code", "kind", name=op.f("uq_broadcasts_warning_id_region_code_kind")),
    )
    op.create_index(op.f("ix_broadcasts_warning_id"), "broadcasts", ["warning_id"])
    op.create_index(
        "ix_broadcasts_waiting", "broadcasts", ["status", "due_at"], postgresql_where=WAITING, sqlite_where=WAITING
    )
    with op.batch_alter_table("policies") as batch_op:
        batch_op.add_column(sa.Column("broadcast", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("broadcast_repeat", sa.Integer(), server_default="3", nullable=False))
    op.execute("UPDATE policies SET broadcast = TRUE WHERE level IN ('red', 'orange')")


def downgrade() -> None:
    with op.batch_alter_table("policies") as batch_op:
        batch_op.drop_column("broadcast_repeat")
        batch_op.drop_column("broadcast")
    op.drop_index("ix_broadcasts_waiting", table_name="broadcasts")
    op.drop_index(op.f("ix_broadcasts_warning_id"), table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_index("ix_loudspeakers_region_code_active", table_name="loudspeakers")
    op.drop_table("loudspeakers")

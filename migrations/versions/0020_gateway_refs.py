"""gateway refs: a gateway's own id for each message handed to it (Aliyun's BizId and number), so
its receipts find their message

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 06:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_refs",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("to", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("provider", "ref", "to", name=op.f("pk_gateway_refs")),
    )


def downgrade() -> None:
    op.drop_table("gateway_refs")

"""report rollups: unanswered calls (deadline passed without an answer) counted apart from calls
closed otherwise (a lifting, an update), counted for the warnings already sealed

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("report_rollups", sa.Column("unanswered", sa.Integer(), server_default="0", nullable=False))
    # The sealed warnings' calls are final: their unanswered ones are counted from them once.
    op.execute(
        """
        UPDATE report_rollups SET unanswered = (
            SELECT count(*) FROM calls
            WHERE calls.warning_id = report_rollups.warning_id AND calls.kind = 'alert'
              AND calls.status = 'unanswered'
              AND substr(calls.contact_region_code, 1, 9) = report_rollups.township_digits
        )
        """
    )


def downgrade() -> None:
    op.drop_column("report_rollups", "unanswered")

"""partial queue indexes: only calls with an attempt to come, and only messages waiting to go

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 15:00:00

The sender's two queues were indexed over every row ever written: closed calls (no next attempt)
and messages long sent. Each call's last attempt and each message's `sent` then wrote an entry
nobody reads, and the indexes grew with the history. Both now index only what is waiting.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_NEXT = sa.text("next_attempt_at IS NOT NULL")
WAITING = sa.text("status = 'pending' OR status = 'sending'")  # the form SQLite's planner matches


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_next_attempt_at")
        batch_op.create_index(
            "ix_calls_next_attempt_at", ["next_attempt_at"], postgresql_where=HAS_NEXT, sqlite_where=HAS_NEXT
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status_due_at")
        batch_op.create_index(
            "ix_messages_waiting", ["status", "due_at"], postgresql_where=WAITING, sqlite_where=WAITING
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_waiting")
        batch_op.create_index("ix_messages_status_due_at", ["status", "due_at"])
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_next_attempt_at")
        batch_op.create_index("ix_calls_next_attempt_at", ["next_attempt_at"])

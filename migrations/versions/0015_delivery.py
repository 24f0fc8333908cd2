"""delivery core: priorities for due work, the provider that carried each message, gateway states,
and the time of the last one-click call

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:00:00

Due attempts are claimed by priority (red before blue, supervisors before retries), so the calls'
queue index leads with it; waiting messages carry the priority of their call (notices that of a
retry). Calls and messages still waiting when this runs get their warning's priority here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_NEXT = sa.text("next_attempt_at IS NOT NULL")
WAITING = sa.text("status = 'pending' OR status = 'sending'")
# call.models.priority, in SQL: level * 3 + (0 anything but an alert, 1 first attempt, 2 retries).
LEVEL = "CASE w.level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 WHEN 'yellow' THEN 2 ELSE 3 END"
BACKFILL = (
    f"UPDATE calls SET priority = (SELECT {LEVEL} * 3 FROM warnings w WHERE w.id = calls.warning_id)"
    " + CASE WHEN kind <> 'alert' THEN 0 WHEN attempts = 0 THEN 1 ELSE 2 END"
    " WHERE next_attempt_at IS NOT NULL"
)
MESSAGES_BACKFILL = (
    f"UPDATE messages SET priority = (SELECT {LEVEL} * 3 FROM warnings w WHERE w.id = messages.warning_id)"
    " + CASE WHEN attempt = 0 THEN 2 WHEN kind <> 'alert' THEN 0 WHEN attempt = 1 THEN 1 ELSE 2 END"
    " WHERE status IN ('pending', 'sending')"
)


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False))
        batch_op.drop_index("ix_calls_next_attempt_at")
    op.execute(BACKFILL)
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calls_due", ["priority", "next_attempt_at"], postgresql_where=HAS_NEXT, sqlite_where=HAS_NEXT
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("provider", sa.String(length=40), nullable=True))
        batch_op.drop_index("ix_messages_waiting")
    op.execute(MESSAGES_BACKFILL)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_waiting", ["status", "priority", "due_at"], postgresql_where=WAITING, sqlite_where=WAITING
        )
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("called_now_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "gateway_states",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_gateway_states")),
    )


def downgrade() -> None:
    op.drop_table("gateway_states")
    with op.batch_alter_table("warnings", schema=None) as batch_op:
        batch_op.drop_column("called_now_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_waiting")
        batch_op.create_index("ix_messages_waiting", ["status", "due_at"], postgresql_where=WAITING, sqlite_where=WAITING)
        batch_op.drop_column("provider")
        batch_op.drop_column("priority")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_due")
        batch_op.create_index("ix_calls_next_attempt_at", ["next_attempt_at"], postgresql_where=HAS_NEXT, sqlite_where=HAS_NEXT)
        batch_op.drop_column("priority")

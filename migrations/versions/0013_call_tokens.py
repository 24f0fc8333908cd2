"""call tokens beside the calls: the token's hash moves from calls to call_tokens

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 14:00:00

A call is updated several times (claimed, notified, answered), and each update of an indexed
column writes a new entry in every index of the table: in the unique index of token hashes too,
random keys each checked for uniqueness, the dearest of them. The hash never changes after the
call is made, so it now lives in a table of its own that is written once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=26), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_call_tokens")),
    )
    op.execute("INSERT INTO call_tokens (token_hash, call_id) SELECT token_hash, id FROM calls")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint("uq_calls_token_hash", type_="unique")
        batch_op.drop_column("token_hash")


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
    op.execute("UPDATE calls SET token_hash = (SELECT token_hash FROM call_tokens WHERE call_id = calls.id)")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.alter_column("token_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_calls_token_hash", ["token_hash"])
    op.drop_table("call_tokens")

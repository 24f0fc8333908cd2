"""report links: a contact's standing report link (/r/{token}) is found by its hash, and the SMS
that sends it is a message to a person outside any call

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 15:00:00

`contacts.report_token_hash` is SHA-256 of the link's token, set with `report_nonce` (0023) when the
link is first needed and again on each rotation; both are cleared when the contact is deactivated.
A message is about a call, or (`call_id` null) names the contact it goes to in `contact_id`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(sa.Column("report_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_contacts_report_token_hash", ["report_token_hash"], unique=True)
    with op.batch_alter_table("messages") as batch_op:
        batch_op.alter_column("call_id", existing_type=sa.String(length=26), nullable=True)
        batch_op.add_column(sa.Column("contact_id", sa.String(length=26), nullable=True))
    with op.batch_alter_table("console_outbox") as batch_op:
        batch_op.alter_column("call_id", existing_type=sa.String(length=26), nullable=True)


def downgrade() -> None:
    # The links' messages go (they belong to no call); the links themselves are forgotten.
    op.execute("DELETE FROM messages WHERE call_id IS NULL")
    op.execute("DELETE FROM console_outbox WHERE call_id IS NULL")
    with op.batch_alter_table("console_outbox") as batch_op:
        batch_op.alter_column("call_id", existing_type=sa.String(length=26), nullable=False)
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("contact_id")
        batch_op.alter_column("call_id", existing_type=sa.String(length=26), nullable=False)
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_index("ix_contacts_report_token_hash")
        batch_op.drop_column("report_token_hash")

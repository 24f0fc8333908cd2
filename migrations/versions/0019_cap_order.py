"""cap: what each message did (outcome), the earlier messages each names (references), so that
messages arriving out of order are known as such, and every warning each made (one per level)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 05:20:00
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = re.compile(r"<(?:[\w.-]+:)?references>([^<]*)</(?:[\w.-]+:)?references>")


def upgrade() -> None:
    op.add_column("cap_alerts", sa.Column("outcome", sa.String(length=12), nullable=True))
    op.add_column("cap_alerts", sa.Column("received_within", sa.String(length=200), nullable=True))
    references = op.create_table(
        "cap_references",
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("ref_sender", sa.String(length=255), nullable=False),
        sa.Column("ref_identifier", sa.String(length=255), nullable=False),
        sa.Column("ref_sent", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint(
            "sender", "identifier", "ref_sender", "ref_identifier", name=op.f("pk_cap_references")
        ),
    )
    op.create_index("ix_cap_references_ref", "cap_references", ["ref_sender", "ref_identifier"])
    op.create_table(
        "cap_alert_warnings",
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("warning_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"], name=op.f("fk_cap_alert_warnings_warning_id_warnings")),
        sa.PrimaryKeyConstraint("sender", "identifier", "warning_id", name=op.f("pk_cap_alert_warnings")),
    )
    op.create_index(op.f("ix_cap_alert_warnings_warning_id"), "cap_alert_warnings", ["warning_id"])
    op.execute(
        "INSERT INTO cap_alert_warnings (sender, identifier, warning_id)"
        " SELECT sender, identifier, warning_id FROM cap_alerts WHERE warning_id IS NOT NULL"
    )
    connection = op.get_bind()
    document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    warnings = sa.table("warnings", sa.column("id", sa.String), sa.column("cap_source", document))
    op.add_column("warnings", sa.Column("cap_source", document, nullable=True))
    issued = connection.execute(
        sa.text("SELECT warning_id, sender, identifier, sent FROM cap_alerts WHERE warning_id IS NOT NULL"
                " AND msg_type IN ('Alert', 'Update')")
    )  # fmt: skip
    for warning_id, sender, identifier, sent in issued.all():
        # SQLite hands the stored time back as text in UTC, without its offset.
        moment = datetime.fromisoformat(sent) if isinstance(sent, str) else sent
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        source = {"sender": sender, "identifier": identifier, "sent": moment.isoformat()}
        connection.execute(sa.update(warnings).where(warnings.c.id == warning_id).values(cap_source=source))
    # The messages already received: what they did, and whom they named (read off the stored text).
    op.execute(
        "UPDATE cap_alerts SET outcome = CASE msg_type WHEN 'Update' THEN 'updated' WHEN 'Cancel' THEN 'cancelled'"
        " ELSE 'created' END"
    )
    rows = []
    for sender, identifier, document in connection.execute(
        sa.text("SELECT sender, identifier, document FROM cap_alerts WHERE msg_type IN ('Update', 'Cancel')")
    ):
        found = REFERENCES.search(document)
        named: dict[tuple[str, str], str] = {}  # one row per message named, as the service keeps them
        for triplet in found.group(1).split() if found else []:
            parts = triplet.split(",")
            if len(parts) == 3 and all(parts):
                named.setdefault((parts[0][:255], parts[1][:255]), parts[2][:40])
        rows += [{"sender": sender, "identifier": identifier, "ref_sender": ref_sender, "ref_identifier": ref_identifier,
                  "ref_sent": ref_sent} for (ref_sender, ref_identifier), ref_sent in named.items()]  # fmt: skip
    if rows:
        op.bulk_insert(references, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_cap_alert_warnings_warning_id"), table_name="cap_alert_warnings")
    op.drop_table("cap_alert_warnings")
    op.drop_index("ix_cap_references_ref", table_name="cap_references")
    op.drop_table("cap_references")
    op.drop_column("warnings", "cap_source")
    op.drop_column("cap_alerts", "received_within")
    op.drop_column("cap_alerts", "outcome")

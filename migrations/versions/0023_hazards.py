"""hazards: reports from villages (信息报告), the departments a whistle calls (吹哨报到), and calls and
messages about a report instead of a warning

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 12:25:00

A call is about a warning or about a hazard report: `calls.warning_id` may now be null, with
`hazard_id` set. The calls' tally (0009, 0012) counts a warning's calls only: its trigger function
is replaced by one that leaves the rows without a warning out.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _revision(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _calls_tally_function(warnings_only: bool) -> str:
    """The calls' tally function of 0012, counting only rows with a warning when `warnings_only`."""
    tallies, slots = _revision("0009_tallies"), _revision("0012_tally_slots")
    table, tally, keys, counted = tallies.TALLIES[0]
    assert table == "calls"
    function = tallies._statements(table, tally, (*keys, slots.SLOT), counted)[0]
    function = function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    if warnings_only:
        for rows in ("new_rows", "old_rows"):
            function = function.replace(f"FROM {rows}", f"FROM {rows} WHERE warning_id IS NOT NULL")
    return function


def upgrade() -> None:
    op.create_table(
        "hazards",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("office_code", sa.String(length=12), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("people_at_risk", sa.Integer(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=20), nullable=True),
        sa.Column("reporter_contact_id", sa.String(length=26), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("policy", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("received_at", TIME, nullable=True),
        sa.Column("dispatched_at", TIME, nullable=True),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("evaluated_at", TIME, nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("rating", sa.String(length=12), nullable=True),
        sa.Column("rating_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], name=op.f("fk_hazards_region_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazards")),
    )
    op.create_index("ix_hazards_region_code_created_at", "hazards", ["region_code", "created_at"])
    op.create_index("ix_hazards_office_code_status", "hazards", ["office_code", "status"])
    op.create_index(op.f("ix_hazards_reporter_contact_id"), "hazards", ["reporter_contact_id"])
    op.create_table(
        "hazard_dispatches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("hazard_id", sa.String(length=26), nullable=False),
        sa.Column("department_id", sa.String(length=26), nullable=False),
        sa.Column("department_name", sa.String(length=100), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("deadline_at", TIME, nullable=False),
        sa.Column("reported_in_at", TIME, nullable=True),
        sa.Column("escalated_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["hazard_id"], ["hazards.id"], name=op.f("fk_hazard_dispatches_hazard_id_hazards")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_hazard_dispatches_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_dispatches")),
    )
    op.create_index(op.f("ix_hazard_dispatches_hazard_id"), "hazard_dispatches", ["hazard_id"])
    with op.batch_alter_table("calls") as batch_op:
        batch_op.alter_column("warning_id", existing_type=sa.String(length=26), nullable=True)
        batch_op.add_column(sa.Column("hazard_id", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("hazard_step", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("department_id", sa.String(length=26), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_hazard_id"), ["hazard_id"])
        # The heartbeat's look for calls about reports past their deadline: only those open are indexed.
        batch_op.create_index(
            "ix_calls_open_hazard_deadline_at", ["deadline_at"],
            postgresql_where=sa.text("hazard_id IS NOT NULL AND status IN ('pending', 'notified')"),
            sqlite_where=sa.text("hazard_id IS NOT NULL AND status IN ('pending', 'notified')"),
        )
    for table in ("messages", "console_outbox"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("warning_id", existing_type=sa.String(length=26), nullable=True)
            batch_op.add_column(sa.Column("hazard_id", sa.String(length=26), nullable=True))
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("hazard_id", sa.String(length=26), nullable=True))
    with op.batch_alter_table("contacts") as batch_op:
        # The nonce a contact's standing report link (/r/{token}) is derived from; rotated to revoke it.
        batch_op.add_column(sa.Column("report_nonce", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_calls_tally_function(warnings_only=True))


def downgrade() -> None:
    # Reports go whole: their calls, messages and chains (whose events name them in a column that
    # goes too, and would no longer verify). Before the tally counts every call again.
    op.execute("DELETE FROM messages WHERE warning_id IS NULL")
    op.execute("DELETE FROM console_outbox WHERE warning_id IS NULL")
    op.execute("DELETE FROM call_tokens WHERE call_id IN (SELECT id FROM calls WHERE warning_id IS NULL)")
    op.execute("DELETE FROM calls WHERE warning_id IS NULL")
    op.execute("DELETE FROM audit_events WHERE chain LIKE 'hazard:%'")
    op.execute("DELETE FROM audit_chain_heads WHERE chain LIKE 'hazard:%'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_calls_tally_function(warnings_only=False))
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_column("report_nonce")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("hazard_id")
    for table in ("console_outbox", "messages"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("hazard_id")
            batch_op.alter_column("warning_id", existing_type=sa.String(length=26), nullable=False)
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_index("ix_calls_open_hazard_deadline_at")
        batch_op.drop_index(batch_op.f("ix_calls_hazard_id"))
        batch_op.drop_column("department_id")
        batch_op.drop_column("hazard_step")
        batch_op.drop_column("hazard_id")
        batch_op.alter_column("warning_id", existing_type=sa.String(length=26), nullable=False)
    op.drop_table("hazard_dispatches")
    op.drop_table("hazards")

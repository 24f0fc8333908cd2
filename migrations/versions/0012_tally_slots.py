"""tally slots: writers of one warning's tallies no longer queue behind each other's commits

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 13:00:00

The triggers of 0009 fold each statement into one row per group, and that row stays locked until
the writer commits. A large warning's writers all touch the same few groups (its pending and
notified alert calls): the sender lanes of every process, the expansion's slices and the
acknowledgements then took turns, each waiting for the one before to commit. Now each statement
is folded into its backend's slot (the process id modulo SLOTS), so writers on different
connections update different rows; readers sum the slots (see app.warning.tally).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 64
SLOT = f"pg_backend_pid() % {SLOTS} AS slot"


def _tallies_0009() -> ModuleType:
    """The triggers' generator of revision 0009 (its tables and statements), reused with a slot key."""
    spec = importlib.util.spec_from_file_location("tallies_0009", Path(__file__).with_name("0009_tallies.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drop_triggers(tallies: ModuleType) -> None:
    for table, _, _, _ in tallies.TALLIES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_tally_{event} ON {table}")
        op.execute(f"DROP FUNCTION tally_{table}()")


def _names(keys: Sequence[str]) -> list[str]:
    """A tally's key columns (its keys as computed from a row: `expression AS name`)."""
    return [key.split(" AS ")[-1] for key in keys]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    tallies = _tallies_0009()
    if postgresql:
        # No write may fall between the old triggers and the new ones.
        op.execute("LOCK TABLE calls, warning_regions IN SHARE ROW EXCLUSIVE MODE")
        _drop_triggers(tallies)
    for _, tally, keys, _ in tallies.TALLIES:
        with op.batch_alter_table(tally, schema=None) as batch_op:
            batch_op.add_column(sa.Column("slot", sa.SmallInteger(), server_default="0", nullable=False))
            batch_op.drop_constraint(f"pk_{tally}", type_="primary")
            batch_op.create_primary_key(f"pk_{tally}", [*_names(keys), "slot"])
    if postgresql:
        for table, tally, keys, counted in tallies.TALLIES:
            for statement in tallies._statements(table, tally, (*keys, SLOT), counted):
                op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    tallies = _tallies_0009()
    if postgresql:
        op.execute("LOCK TABLE calls, warning_regions IN SHARE ROW EXCLUSIVE MODE")
        _drop_triggers(tallies)
        for _, tally, keys, counted in tallies.TALLIES:  # the slots folded back into one row per group
            names = ", ".join(_names(keys))
            sums = ", ".join(f"sum({name}) AS {name}" for name in counted)
            op.execute(f"CREATE TEMPORARY TABLE folded AS SELECT {names}, {sums} FROM {tally} GROUP BY {names}")
            op.execute(f"DELETE FROM {tally}")
            op.execute(f"INSERT INTO {tally} ({names}, {', '.join(counted)}) SELECT * FROM folded")
            op.execute("DROP TABLE folded")
    for _, tally, keys, _ in tallies.TALLIES:
        with op.batch_alter_table(tally, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{tally}", type_="primary")
            batch_op.create_primary_key(f"pk_{tally}", _names(keys))
            batch_op.drop_column("slot")
    if postgresql:
        for table, tally, keys, counted in tallies.TALLIES:
            for statement in tallies._statements(table, tally, keys, counted):
                op.execute(statement)
